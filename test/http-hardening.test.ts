// The HTTP handler called in-process with Function URL events, against the wire test server: what the server
// is asked to do and what the caller is told, for the findings of issue 15.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeMongoClient } from '../src/index.js';
import { createHttpHandler } from '../src/http-handler.js';
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
});
