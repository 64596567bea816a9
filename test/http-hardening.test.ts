// The HTTP handler called in-process with Function URL events, against the wire test server: what the server
// is asked to do and what the caller is told, for the findings of issue 15.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeMongoClient } from '../src/index.js';
import { createHttpHandler } from '../src/http-handler.js';
import { MemoryReplayCache } from '../src/http/protocol/signing.js';
import { MongoClient } from 'mongodb';
import { createHttpClient } from '../src/http.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startFunctionUrl } from './support/function-url.js';
import { call } from './support/http-events.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const SECRET = 'hardening-test-secret-0123456789abcdefgh';
const send = (handler: ReturnType<typeof createHttpHandler>, path: string, body: unknown) => call(handler, path, body, { secret: SECRET });

describe('HTTP handler hardening', () => {
  let server: WireServer;
  let handler: ReturnType<typeof createHttpHandler>;

  beforeAll(async () => {
    server = await startWireServer();
    handler = createHttpHandler({ uri: server.uri, secret: SECRET, allow: { shop: ['items'] }, timeoutMs: 4_000 });
  });
  beforeEach(() => {
    server.dropAll();
    server.clearRecords();
  });
  afterAll(async () => {
    await closeMongoClient();
    await server?.stop();
  });

  it('gives writes the same server-side time budget as reads (maxTimeMS on the command)', async () => {
    // Act
    const answers = [
      await send(handler, '/shop/items/insertOne', { document: { sku: 'a' } }),
      await send(handler, '/shop/items/insertMany', { documents: [{ sku: 'b' }] }),
      await send(handler, '/shop/items/updateOne', { filter: { sku: { $regex: '^(a+)+$' } }, update: { $set: { seen: true } } }),
      await send(handler, '/shop/items/updateMany', { filter: { $expr: { $gt: ['$qty', 0] } }, update: { $set: { seen: true } } }),
      await send(handler, '/shop/items/deleteOne', { filter: { sku: 'a' } }),
      await send(handler, '/shop/items/deleteMany', { filter: { sku: 'b' } }),
      await send(handler, '/shop/items/find', { filter: {} }),
    ];

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200, 200]);
    const sent = ['insert', 'update', 'delete', 'find'].flatMap((name) => server.commandsNamed(name));
    expect(sent.map((command) => command.name)).toEqual(['insert', 'insert', 'update', 'update', 'delete', 'delete', 'find']);
    for (const command of sent) {
      expect(Number(command.body.maxTimeMS), `${command.name} maxTimeMS`).toBeGreaterThan(0);
      expect(Number(command.body.maxTimeMS), `${command.name} maxTimeMS`).toBeLessThanOrEqual(4_000);
    }
  });

  // What a server error can say about the deployment: a user, a host, a value of somebody else's document.
  const REVEALING = 'Authentication failed for user app@admin, host shard-01.internal.example:27018';

  it.each([
    [18, 'AuthenticationFailed', 500],
    [13, 'Unauthorized', 500],
    [6, 'HostUnreachable', 503],
    [7, 'HostNotFound', 503],
    [89, 'NetworkTimeout', 503],
    [91, 'ShutdownInProgress', 503],
    [189, 'PrimarySteppedDown', 503],
    [10107, 'NotWritablePrimary', 503],
    [13435, 'NotPrimaryNoSecondaryOk', 503],
  ])('answers MongoDB error %i (%s) with %i and a generic message; the log keeps the server message', async (code, codeName, status) => {
    // Prepare
    const logger = new CaptureLogger();
    const logged = createHttpHandler({ uri: server.uri, secret: SECRET, allow: { shop: ['items'] }, logger, timeoutMs: 4_000 });
    server.failNext({ command: 'find', code, codeName, errmsg: REVEALING, times: 3 });

    // Act
    const answer = await send(logged, '/shop/items/find', { filter: {} });

    // Assess
    server.clearFailPoints();
    expect(answer.status).toBe(status);
    expect(answer.body.error?.code).toBe(status === 500 ? 'INTERNAL' : 'UNAVAILABLE');
    expect(answer.result.body).not.toContain('shard-01');
    expect(answer.result.body).not.toContain('app@admin');
    expect(logger.withEvent('http.failed').map((record) => JSON.stringify(record.attributes))).toEqual([expect.stringContaining('shard-01.internal.example')]);
  });

  it('with hideServerMessages, answers MongoDB refusals with their code and no server text', async () => {
    // Prepare
    const quiet = createHttpHandler({ uri: server.uri, secret: SECRET, allow: { shop: ['items'] }, hideServerMessages: true });
    await send(quiet, '/shop/items/insertOne', { document: { _id: 'alice@example.com' } });
    server.failNext({ command: 'find', code: 2, codeName: 'BadValue', errmsg: `bad value near ${REVEALING}` });

    // Act
    const refused = await send(quiet, '/shop/items/find', { filter: {} });
    const duplicate = await send(quiet, '/shop/items/insertOne', { document: { _id: 'alice@example.com' } });
    const shown = await send(handler, '/shop/items/insertOne', { document: { _id: 'alice@example.com' } });

    // Assess
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'MONGO_ERROR', mongoCode: 2, codeName: 'BadValue' } } });
    expect(refused.result.body).not.toContain('shard-01');
    expect(duplicate).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_KEY', mongoCode: 11000 } } });
    expect(duplicate.result.body).not.toContain('alice@example.com');
    // Without the option the server's message is passed on (the default, for debugging).
    expect(shown.result.body).toContain('alice@example.com');
  });

  it('the HTTP client keeps a stored __proto__ field as an own property, never as the prototype', async () => {
    // Prepare: a document with a field named __proto__, stored through the driver
    const driver = new MongoClient(server.uri, { serverSelectionTimeoutMS: 2_000 });
    const url = await startFunctionUrl(async (event) => ({ ok: true, result: await handler(event as never) }));
    try {
      await driver.db('shop').collection('items').insertOne(JSON.parse('{"_id": "p", "__proto__": {"isAdmin": true}, "nested": {"__proto__": {"isAdmin": true}}}'));
      const items = createHttpClient({ url: url.url, secret: SECRET }).db('shop').collection('items');

      // Act
      const one = (await items.findOne({ _id: 'p' })) as Record<string, unknown>;
      const [listed] = (await items.find({ _id: 'p' }).toArray()) as Array<Record<string, unknown>>;

      // Assess
      for (const document of [one, listed] as Array<Record<string, unknown>>) {
        expect(Object.getPrototypeOf(document)).toBe(Object.prototype);
        expect(document.isAdmin).toBeUndefined();
        expect(Object.getOwnPropertyDescriptor(document, '__proto__')?.value).toEqual({ isAdmin: true });
        const nested = document.nested as Record<string, unknown>;
        expect(Object.getPrototypeOf(nested)).toBe(Object.prototype);
        expect(nested.isAdmin).toBeUndefined();
      }
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    } finally {
      await url.stop();
      await driver.close();
    }
  });

  it('answers 503 when its replay cache is full of live nonces, and the refused request never reaches MongoDB', async () => {
    // Prepare
    const small = createHttpHandler({ uri: server.uri, secret: SECRET, allow: { shop: ['items'] }, replayCache: new MemoryReplayCache({ maxEntries: 2 }) });

    // Act
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await send(small, '/shop/items/countDocuments', {}));

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 503]);
    expect(answers[2]).toMatchObject({ body: { error: { code: 'UNAVAILABLE', message: expect.stringContaining('replay cache is full') } } });
    expect(answers[2]?.result.headers['retry-after']).toBe('1');
    expect(server.commandsNamed('aggregate')).toHaveLength(2);
  });

  it.each([
    ['a DBRef with $function in an extra field', { filter: { link: { $ref: 'items', $id: 1, extra: { $function: { body: 'return 1', args: [], lang: 'js' } } } } }],
    ['a DBRef whose $id holds $where', { filter: { link: { $ref: 'items', $id: { $where: 'sleep(100) || true' } } } }],
    ['Code with a $scope holding $where', { filter: { code: { $code: 'return 1', $scope: { $where: 'sleep(100) || true' } } } }],
    ['a DBRef inside a pipeline stage', { pipeline: [{ $match: { link: { $ref: 'items', $id: 1, nested: [{ $accumulator: {} }] } } }] }],
    // Found by test/http-fuzz.test.ts: keys of $facet and of a $unionWith document were not walked.
    ['a $facet named $where (pipeline)', { pipeline: [{ $facet: { $where: [] } }] }],
    ['$where beside the coll of a $unionWith (pipeline)', { pipeline: [{ $unionWith: { coll: 'items', $where: 'sleep(100) || true' } }] }],
  ])('refuses server-side JavaScript inside BSON values: %s', async (what, body) => {
    // Act
    const answer = await send(handler, what.includes('pipeline') ? '/shop/items/aggregate' : '/shop/items/find', body);

    // Assess
    expect(answer).toMatchObject({ status: 403, body: { error: { code: 'NOT_ALLOWED' } } });
    expect(server.commands).toEqual([]);
  });
});
