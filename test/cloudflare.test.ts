// serverless-mongodb/cloudflare in workerd: Workers built with esbuild (as wrangler does for nodejs_compat),
// run by Miniflare, talking over node:net to the wire test server.
import type { Readable } from 'node:stream';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withMongo } from '../src/cloudflare.js';
import { ConfigurationError } from '../src/shared/errors.js';
import { buildWorker } from './fixtures/edge/build-worker.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const FIXTURE = 'test/fixtures/edge/cloudflare-worker.ts';
const EXAMPLE = 'examples/cloudflare/src/index.ts';
const PASSWORD = 's3cret-pass-for-workers';
const WORKERD = { modules: true, compatibilityDate: '2026-04-01', compatibilityFlags: ['nodejs_compat'], cf: false } as const;

/** Resolves once `check` holds (the client closes in ctx.waitUntil, after the response). */
async function eventually(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function startWorkerd(scriptPath: string, server: WireServer, lines: string[], extra: { durableObjects: Record<string, string> }): Miniflare {
  return new Miniflare({
    ...WORKERD,
    scriptPath,
    // Heartbeats every 500 ms (the driver's minimum), so a long-lived client's monitor checks are seen in a test.
    bindings: { MONGODB_URI: `mongodb://app:${PASSWORD}@127.0.0.1:${server.port}/?heartbeatFrequencyMS=500`, MONGODB_DB_NAME: 'shop', POWERTOOLS_LOG_LEVEL: 'DEBUG' },
    durableObjects: extra.durableObjects,
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      for (const stream of [stdout, stderr]) {
        let partial = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          const parts = (partial + chunk).split('\n');
          partial = parts.pop() ?? '';
          lines.push(...parts);
        });
      }
    },
  });
}

function events(lines: string[], event: string): Array<Record<string, unknown>> {
  return lines
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => (record.mongodb as { event?: string } | undefined)?.event === event);
}

describe('Cloudflare Workers adapter in workerd', () => {
  let server: WireServer;
  let worker: Miniflare;
  const lines: string[] = [];

  beforeAll(async () => {
    server = await startWireServer({ users: [{ username: 'app', password: PASSWORD }] });
    worker = startWorkerd(await buildWorker(FIXTURE), server, lines, { durableObjects: { MONGO_POOL: 'MongoPool' } });
    await worker.ready;
  });
  afterAll(async () => {
    await worker?.dispose();
    await server?.stop();
  });

  it('gives each sequential request a client of its own and closes its sockets after the response', async () => {
    // Prepare
    server.dropAll();
    server.clearRecords();
    const since = Date.now();

    // Act
    const statuses: number[] = [];
    for (const sku of ['a', 'b', 'c']) {
      const response = await worker.dispatchFetch('http://worker/items', { method: 'POST', body: JSON.stringify({ sku }) });
      statuses.push(response.status);
      await response.text();
    }
    const listed = await worker.dispatchFetch('http://worker/items');
    const items = (await listed.json()) as Array<{ sku: string }>;

    // Assess
    expect(statuses).toEqual([201, 201, 201]);
    expect(items.map((item) => item.sku)).toEqual(['a', 'b', 'c']);
    const opened = () => server.connections.filter((connection) => connection.openedAt >= since);
    await eventually(() => opened().every((connection) => connection.closedAt !== undefined));
    // a monitor and a pool socket per request, each closed; each client ended its session
    expect(opened()).toHaveLength(8);
    expect(server.commandsNamed('endSessions')).toHaveLength(4);
    expect(server.commandsNamed('saslStart').length + server.commandsNamed('saslContinue').length).toBeGreaterThan(0);
  });

  it('serves concurrent requests without hanging, and leaves no socket open', async () => {
    // Prepare
    server.dropAll();
    const since = Date.now();

    // Act
    const responses = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        index % 3 === 0
          ? worker.dispatchFetch('http://worker/items')
          : worker.dispatchFetch('http://worker/items', { method: 'POST', body: JSON.stringify({ sku: `c${index}` }) }),
      ),
    );
    const statuses = await Promise.all(responses.map(async (response) => (await response.text(), response.status)));

    // Assess
    expect(statuses.filter((status) => status === 201)).toHaveLength(8);
    expect(statuses.filter((status) => status === 200)).toHaveLength(4);
    expect(server.documents('shop', 'items')).toHaveLength(8);
    await eventually(() => server.connections.filter((c) => c.openedAt >= since).every((c) => c.closedAt !== undefined));
  });

  it('closes the client when the handler throws, and the error stays the response', async () => {
    // Prepare
    server.dropAll();
    const since = Date.now();

    // Act
    const response = await worker.dispatchFetch('http://worker/fail');
    const text = await response.text();

    // Assess
    expect(response.status).toBe(500);
    expect(text).toContain('the handler failed after a write');
    expect(server.documents('shop', 'items')).toMatchObject([{ sku: 'before-the-error' }]);
    await eventually(() => server.connections.filter((c) => c.openedAt >= since).every((c) => c.closedAt !== undefined));
  });

  it('monitors by polling (no awaitable hello), as the driver would on a platform it detects', async () => {
    // Prepare: only this test's heartbeats count, whatever ran before
    const since = Date.now();
    const heartbeats = () => server.heartbeats.filter((hello) => hello.at >= since);
    /** A monitor's checks after its handshake: the connections that sent more than one hello. */
    const checked = () => {
      const perConnection = new Map<number, number>();
      for (const hello of heartbeats()) perConnection.set(hello.connectionId, (perConnection.get(hello.connectionId) ?? 0) + 1);
      return [...perConnection.values()].some((count) => count >= 2);
    };

    // Act: the Durable Object's client lives on between requests, long enough for a heartbeat after the handshake
    const response = await worker.dispatchFetch('http://worker/pool/items');
    await response.text();
    await eventually(checked);

    // Assess: a streaming monitor's check after the handshake would be an awaitable hello (maxAwaitTimeMS)
    expect(response.status).toBe(200);
    expect(heartbeats().filter((hello) => hello.body.maxAwaitTimeMS !== undefined)).toEqual([]);
  });

  it('logs JSON lines with the password redacted', async () => {
    // Prepare: only this test's records count, whatever ran before
    const from = lines.length;

    // Act: a per-request client, created and closed
    const response = await worker.dispatchFetch('http://worker/items');
    await response.text();
    await eventually(() => events(lines.slice(from), 'client.closed').length >= 1);

    // Assess
    const mine = lines.slice(from);
    expect(response.status).toBe(200);
    expect(events(mine, 'client.created')).toHaveLength(1);
    expect(events(mine, 'client.created')[0]).toMatchObject({ level: 'DEBUG', mongodb: { uri: expect.stringContaining('app:****@127.0.0.1') } });
    expect(events(mine, 'client.closed')).toHaveLength(1);
    expect(lines.join('\n')).not.toContain(PASSWORD);
  });

  it('reuses one client in a Durable Object across requests', async () => {
    // Prepare
    server.dropAll();
    // The Durable Object's client exists after this request, whether or not an earlier test made it
    const first = await worker.dispatchFetch('http://worker/pool/items', { method: 'POST' });
    await first.text();
    const connectionsAfterFirst = server.connections.length;
    const createdAfterFirst = events(lines, 'client.created').length;

    // Act
    const sequential: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await worker.dispatchFetch(`http://worker/pool/items?sku=s${i}`, { method: 'POST' });
      sequential.push(response.status);
      await response.text();
    }
    const counted = await worker.dispatchFetch('http://worker/pool/items');

    // Assess
    expect(first.status).toBe(200);
    expect(sequential).toEqual([200, 200, 200, 200]);
    expect(await counted.json()).toEqual({ count: 5 });
    expect(server.connections.length).toBe(connectionsAfterFirst);
    expect(server.openConnectionCount()).toBeGreaterThanOrEqual(2);
    expect(events(lines, 'client.created').length).toBe(createdAfterFirst);
  });

  it('shows the hang it avoids: a module-scope client used by a later request is cancelled by workerd', async () => {
    // Act
    const first = await worker.dispatchFetch('http://worker/module-scope');
    const second = await worker.dispatchFetch('http://worker/module-scope');

    // Assess
    expect(first.status).toBe(200);
    expect(second.status).toBe(500);
    expect(await second.text()).toContain('hung');
  });
});

describe('the Cloudflare example Worker in workerd', () => {
  it('serves per-request and Durable Object routes', async () => {
    // Prepare
    const server = await startWireServer({ users: [{ username: 'app', password: PASSWORD }] });
    const lines: string[] = [];
    const worker = startWorkerd(await buildWorker(EXAMPLE), server, lines, { durableObjects: { ITEMS_STORE: 'ItemsStore' } });
    try {
      // Act
      const created = await worker.dispatchFetch('http://worker/items', { method: 'POST', body: JSON.stringify({ sku: 'A1', name: 'anvil' }) });
      const cached = await worker.dispatchFetch('http://worker/cached/items', { method: 'POST', body: JSON.stringify({ sku: 'B2', name: 'bolt' }) });
      const perRequest = await worker.dispatchFetch('http://worker/items');
      const fromStore = await worker.dispatchFetch('http://worker/cached/items');

      // Assess
      expect([created.status, cached.status]).toEqual([201, 201]);
      expect(await perRequest.json()).toEqual([{ sku: 'A1', name: 'anvil' }, { sku: 'B2', name: 'bolt' }]);
      expect(await fromStore.json()).toEqual([{ sku: 'A1', name: 'anvil' }, { sku: 'B2', name: 'bolt' }]);
    } finally {
      await worker.dispose();
      await server.stop();
    }
  });
});

describe('withMongo options (checked in Node)', () => {
  const handler = async () => new Response('ok');

  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown key', { urii: 'mongodb://h/' }, 'urii'],
    ['a driver option at the top level', { maxPoolSize: 3 }, 'maxPoolSize'],
    ['streaming monitoring', { clientOptions: { serverMonitoringMode: 'stream' } }, 'serverMonitoringMode'],
  ])('refuses %s with a ConfigurationError naming it', (_what, options, option) => {
    // Act
    const wrap = () => withMongo(handler, options as never);

    // Assess
    expect(wrap).toThrow(ConfigurationError);
    expect(wrap).toThrow(expect.objectContaining({ option }));
  });

  it('names the MONGODB_URI binding when there is no connection string', async () => {
    // Prepare
    const previous = process.env.MONGODB_URI;
    delete process.env.MONGODB_URI;
    const fetch = withMongo(handler, { logger: { debug() {}, info() {}, warn() {}, error() {} } });
    try {
      // Act
      const served = fetch(new Request('http://worker/'), {}, { waitUntil() {} });

      // Assess
      await expect(served).rejects.toMatchObject({ name: 'ConfigurationError', code: 'MISSING_URI', message: expect.stringContaining('MONGODB_URI') });
    } finally {
      if (previous !== undefined) process.env.MONGODB_URI = previous;
    }
  });
});
