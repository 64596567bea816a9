// The HTTP handler's result caps, called in-process with Function URL events: memory stays bounded while a
// result is read (the cursor is left as soon as a cap is passed), and the cap is the Lambda payload in bytes.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient } from '../src/index.js';
import { createHttpHandler } from '../src/http-handler.js';
import { call, payloadBytes } from './support/http-events.js';
import { startWireServerThread, type WireServerThread } from './support/wire-server-thread/index.js';

const SECRET = 'limits-test-secret-0123456789abcdefghij';
/** Lambda's limit for a synchronous invocation's response payload. */
const LAMBDA_PAYLOAD_LIMIT = 6_291_556;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Runs `work` while sampling the live heap (after a full collection) every few milliseconds; returns the largest
 * growth over the heap before it started.
 */
async function peakHeapGrowth<T>(work: () => Promise<T>): Promise<{ value: T; growth: number }> {
  const before = heapUsed();
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, heapUsed() - before);
  };
  const timer = setInterval(sample, 5);
  try {
    const value = await work();
    sample();
    return { value, growth: peak };
  } finally {
    clearInterval(timer);
  }
}

describe('HTTP handler memory while reading a result', () => {
  let server: WireServerThread;
  let handler: ReturnType<typeof createHttpHandler>;

  beforeAll(async () => {
    // The server runs in a worker thread: its own heap holds the result it computes, ours only the handler's work.
    server = await startWireServerThread();
    handler = createHttpHandler({ uri: server.uri, secret: SECRET, allow: { shop: ['items'] }, timeoutMs: 50_000 });
    expect((await call(handler, '/shop/items/insertOne', { document: { _id: 1 } }, { secret: SECRET })).status).toBe(200);
  });
  afterAll(async () => {
    await closeMongoClient();
    await server?.stop();
  });

  // The finding's request: 124 bytes of pipeline on a one-document collection, each document 3000 numbers
  // (about 60 kB of canonical Extended JSON; promoteValues: false makes every number a heap object).
  it.each([
    ['1001 documents (more than maxDocuments)', 1001],
    ['1000 documents (within maxDocuments, ten times the payload limit)', 1000],
  ])('stops reading %s once past the payload cap: heap growth under 4 x the cap', async (_what, count) => {
    // Prepare
    const pipeline = [{ $project: { n: { $range: [0, count] } } }, { $unwind: '$n' }, { $addFields: { v: { $range: [0, 3000] } } }];
    await server.clearRecords();

    // Act
    const { value: response, growth } = await peakHeapGrowth(() => call(handler, '/shop/items/aggregate', { pipeline }, { secret: SECRET }));

    // Assess
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'RESULT_TOO_LARGE' } } });
    expect(growth).toBeLessThan(4 * LAMBDA_PAYLOAD_LIMIT);
    const names = (await server.commands()).map((command) => command.name);
    // The server's cursor is closed, not left to time out.
    expect(names).toContain('killCursors');
    expect(names.filter((name) => name === 'getMore').length).toBeLessThan(5);
  });

  // Strings whose bytes outgrow their UTF-16 length: '€' is 1 unit but 3 bytes; '"' is 1 character but 4 bytes of
  // payload (escaped once in the Extended JSON body, again in Lambda's JSON envelope).
  it.each([
    ["1000 strings of 5000 '€' (5 M characters, 15 MB)", '€', 5_000, 1_000],
    ["1000 strings of 2900 quotes (5.8 M characters of body, 11.6 MB of payload)", '"', 2_900, 1_000],
  ])('refuses a result of %s instead of a response Lambda cannot send', async (_what, character, length, count) => {
    // Prepare
    const pipeline = [{ $project: { n: { $range: [0, count] } } }, { $unwind: '$n' }, { $addFields: { s: { $literal: character.repeat(length) } } }];

    // Act
    const response = await call(handler, '/shop/items/aggregate', { pipeline }, { secret: SECRET });

    // Assess
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'RESULT_TOO_LARGE' } } });
  });

  it('answers a result that fits the payload limit, measured as Lambda sends it', async () => {
    // Prepare: 350 x 5000 x 3 bytes = 5.25 MB
    const pipeline = [{ $project: { n: { $range: [0, 350] } } }, { $unwind: '$n' }, { $addFields: { s: { $literal: '€'.repeat(5_000) } } }];

    // Act
    const response = await call(handler, '/shop/items/aggregate', { pipeline }, { secret: SECRET });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body.documents).toHaveLength(350);
    expect(payloadBytes(response.result)).toBeGreaterThan(5_000_000);
    expect(payloadBytes(response.result)).toBeLessThanOrEqual(LAMBDA_PAYLOAD_LIMIT);
  });
});
