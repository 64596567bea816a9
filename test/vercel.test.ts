// serverless-mongodb/vercel with the real @vercel/functions: Vercel's environment variables set, and an
// invocation's waitUntil installed where the Vercel runtime puts it (globalThis[Symbol.for('@vercel/request-context')]).
import type { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { getMongoClient as getCoreClient } from '../src/index.js';
import { closeMongoClient, getMongoClient, VERCEL_CLIENT_DEFAULTS } from '../src/vercel.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const REQUEST_CONTEXT = Symbol.for('@vercel/request-context');
const VERCEL_VARIABLES = { VERCEL: '1', VERCEL_ENV: 'production', VERCEL_URL: 'shop-abc123.vercel.app', VERCEL_REGION: 'iad1' };

/** What the Vercel runtime gives an invocation: a waitUntil that keeps the instance alive. */
function startInvocation(): Array<Promise<unknown>> {
  const kept: Array<Promise<unknown>> = [];
  (globalThis as Record<symbol, unknown>)[REQUEST_CONTEXT] = { get: () => ({ waitUntil: (promise: Promise<unknown>) => kept.push(promise) }) };
  return kept;
}

function setVercelEnvironment(on: boolean): void {
  for (const [name, value] of Object.entries(VERCEL_VARIABLES)) {
    if (on) process.env[name] = value;
    else delete process.env[name];
  }
}

describe('serverless-mongodb/vercel', () => {
  let server: WireServer;

  beforeAll(async () => {
    server = await startWireServer();
  });
  afterEach(async () => {
    await closeMongoClient();
    setVercelEnvironment(false);
    delete (globalThis as Record<symbol, unknown>)[REQUEST_CONTEXT];
    server.clearRecords();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('on Vercel: attaches the pool and keeps the invocation alive until its idle connection is closed', async () => {
    // Prepare
    setVercelEnvironment(true);
    const logger = new CaptureLogger();
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    onTestFinished(() => proxy.stop());
    const client = await getMongoClient({ uri: proxy.uriFor(server.uri), logger, clientOptions: { maxIdleTimeMS: 300 } });
    const closedByPool: string[] = [];
    client.on('connectionClosed', (event) => closedByPool.push(event.reason));
    const kept = startInvocation();
    // A 200 ms round trip holds the connection from check-out to check-in: attachDatabasePool's own wait, counted
    // from the check-out, then ends before the idle connection closes, counted from the check-in
    proxy.setLatency(100);

    // Act
    await client.db('shop').collection('items').insertOne({ sku: 'A1' });
    const poolConnection = server.commandsNamed('insert')[0]?.connectionId;
    const handedToWaitUntil = kept.length;
    // what had closed when the last promise given to waitUntil settled (the moment Vercel may suspend the instance)
    const closedWhenReleased = await Promise.all(kept).then(() => [...closedByPool]);

    // Assess
    expect(logger.withEvent('pool.attached')).toHaveLength(1);
    expect(logger.withEvent('pool.attached')[0]?.attributes).toMatchObject({ mongodb: { maxIdleTimeMS: 300 } });
    expect(handedToWaitUntil).toBeGreaterThan(0);
    expect(closedWhenReleased).toContain('idle');
    await expect.poll(() => server.connections.find((connection) => connection.id === poolConnection)?.closedAt).toBeDefined();
    // the driver knows it runs on Vercel: it polls and reports the platform in its handshake
    expect(server.connections[0]?.clientMetadata).toMatchObject({ env: { name: 'vercel' } });
  });

  it('attaches once per client: warm invocations reuse it', async () => {
    // Prepare
    setVercelEnvironment(true);
    const logger = new CaptureLogger();
    startInvocation();

    // Act
    const first = await getMongoClient({ uri: server.uri, logger });
    const second = await getMongoClient({ uri: server.uri, logger });

    // Assess
    expect(second).toBe(first);
    expect(logger.withEvent('pool.attached')).toHaveLength(1);
    expect(logger.withEvent('client.reused')).toHaveLength(1);
  });

  it('elsewhere: no attachDatabasePool, the same short maxIdleTimeMS', async () => {
    // Prepare
    const logger = new CaptureLogger();

    const kept = startInvocation();

    // Act: a request context is there, but this is not Vercel
    const client = await getMongoClient({ uri: server.uri, logger });
    await client.db('shop').collection('items').insertOne({ sku: 'elsewhere' });

    // Assess: nothing asked to keep the invocation alive
    expect(client.options.maxIdleTimeMS).toBe(VERCEL_CLIENT_DEFAULTS.maxIdleTimeMS);
    expect(kept).toEqual([]);
    expect(logger.withEvent('pool.attached')).toHaveLength(0);
  });

  it('has a client of its own: the core getMongoClient with the same options keeps the Lambda defaults', async () => {
    // Prepare
    const logger = new CaptureLogger();

    // Act
    const vercel = await getMongoClient({ uri: server.uri, logger });
    const core: MongoClient = await getCoreClient({ uri: server.uri, logger });

    // Assess
    expect(core).not.toBe(vercel);
    expect(core.options.maxIdleTimeMS).toBe(60_000);
    expect(vercel.options.maxIdleTimeMS).toBe(5_000);
  });

  it('keeps maxIdleTimeMS from clientOptions or the connection string', async () => {
    // Prepare
    const logger = new CaptureLogger();

    // Act
    const fromOptions = await getMongoClient({ uri: server.uri, logger, clientOptions: { maxIdleTimeMS: 1_500 } });
    const fromUri = await getMongoClient({ uri: `${server.uri}?maxIdleTimeMS=2500`, logger });

    // Assess
    expect(fromOptions.options.maxIdleTimeMS).toBe(1_500);
    expect(fromUri.options.maxIdleTimeMS).toBe(2_500);
  });

  it.each<[string, Parameters<typeof getMongoClient>[0], string]>([
    ['maxIdleTimeMS: 0 in clientOptions', { uri: 'mongodb://127.0.0.1:1/', clientOptions: { maxIdleTimeMS: 0 } }, 'maxIdleTimeMS'],
    ['maxIdleTimeMS=0 in the connection string', { uri: 'mongodb://127.0.0.1:1/?maxIdleTimeMS=0' }, 'maxIdleTimeMS'],
    ['an unknown key', { uri: 'mongodb://127.0.0.1:1/', maxIdleTime: 5 } as never, 'maxIdleTime'],
    ['a driver option at the top level', { uri: 'mongodb://127.0.0.1:1/', maxIdleTimeMS: 5 } as never, 'maxIdleTimeMS'],
  ])('refuses %s with a ConfigurationError naming it', async (_what, options, option) => {
    // Act
    const connecting = getMongoClient(options);

    // Assess
    await expect(connecting).rejects.toMatchObject({ name: 'ConfigurationError', option });
  });

  describe('after an idle gap (a suspended Fluid instance): the invocation lifecycle checks the connection', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** The cached client, a gap the lease sees as `gapMs` long (the clock is moved, not waited for), then the call again. */
    async function callAfterGap(gapMs: number, duringGap: (proxy: Awaited<ReturnType<typeof startFaultProxy>>) => void) {
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
      const logger = new CaptureLogger();
      const options = { uri: proxy.uriFor(server.uri), logger, clientOptions: { serverMonitoringMode: 'poll' as const } };
      vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
      const first = await getMongoClient(options);
      await first.db('shop').collection('items').insertOne({ sku: 'before' });
      duringGap(proxy);
      vi.setSystemTime(Date.now() + gapMs);
      const second = await getMongoClient(options);
      const found = await second.db('shop').collection('items').findOne({ sku: 'before' });
      return { proxy, logger, first, second, found };
    }

    it('pings after a long gap and keeps a healthy client', async () => {
      // Act
      const { proxy, logger, first, second, found } = await callAfterGap(5_000, () => undefined);

      // Assess
      expect(second).toBe(first);
      expect(found).toMatchObject({ sku: 'before' });
      expect(server.commandsNamed('ping')).toHaveLength(1);
      expect(logger.events()).toContain('thaw.probe');
      await proxy.stop();
    });

    it('rebuilds a client whose sockets went silent during the gap, and the call succeeds on the new one', async () => {
      // Act: every socket of the first client stops answering
      const { proxy, logger, first, second, found } = await callAfterGap(5_000, (faults) => {
        for (const connection of faults.connections.filter((candidate) => candidate.open)) faults.blackholeConnection(connection.id, true);
      });

      // Assess
      expect(second).not.toBe(first);
      expect(found).toMatchObject({ sku: 'before' });
      expect(logger.events()).toEqual(expect.arrayContaining(['thaw.probe.failed', 'client.rebuilt']));
      expect(logger.withEvent('client.created')).toHaveLength(2);
      await proxy.stop();
    });

    it('sends nothing extra on back-to-back calls', async () => {
      // Act
      const { proxy, second, first } = await callAfterGap(0, () => undefined);

      // Assess
      expect(second).toBe(first);
      expect(server.commandsNamed('ping')).toHaveLength(0);
      await proxy.stop();
    });
  });
});
