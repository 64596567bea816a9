// Lambda Managed Instances: with AWS_LAMBDA_MAX_CONCURRENCY set, the runtime client runs worker threads, each with
// its own client; each worker's pool gets its share of the concurrency, a bounded wait for a connection, and the
// first connect logs the most connections the environment may open. In-process against the wire server, then under
// the real runtime client's multi-concurrent mode in the Lambda emulator.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, getMongoClient } from '../src/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startLambdaContainer, stopAllLambdaContainers } from './support/lambda-emulator/index.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const ENV_KEYS = ['AWS_LAMBDA_MAX_CONCURRENCY', 'AWS_LAMBDA_NODEJS_WORKER_COUNT'] as const;

describe('under Lambda Managed Instances (multi-concurrent runtime client)', () => {
  let server: WireServer;
  const saved = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key]]));

  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await closeMongoClient();
    for (const key of ENV_KEYS) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    server.clearRecords();
  });
  afterAll(async () => {
    await server.stop();
  });

  function managedInstances(maxConcurrency: number, workers: number): void {
    process.env.AWS_LAMBDA_MAX_CONCURRENCY = String(maxConcurrency);
    process.env.AWS_LAMBDA_NODEJS_WORKER_COUNT = String(workers);
  }

  it.each([
    [64, 16, 2, 'a worker running 4 at once: the floor of 2'],
    [64, 8, 2, 'a worker running 8 at once: the floor of 2'],
    [64, 4, 2, 'a worker running 16 at once: one socket per eight'],
    [64, 2, 4, 'a worker running 32 at once'],
    [128, 2, 8, "a worker running 64 at once (AWS's default per vCPU, one worker per vCPU): more than the Lambda default"],
    [4, 4, 1, 'a worker running 1 at once: never more than its invocations'],
  ] as const)("sizes a worker's pool from its share of the concurrency (%i in flight over %i workers: %i, %s)", async (maxConcurrency, workers, pool, _why) => {
    // Prepare
    managedInstances(maxConcurrency, workers);
    const client = await getMongoClient({ uri: server.uri, logger: new CaptureLogger() });
    const before = server.connections.length;

    // Act: more operations at once than the pool has sockets
    await Promise.all(Array.from({ length: 20 }, (_, index) => client.db('shop').collection(`items-${maxConcurrency}-${workers}`).insertOne({ index })));

    // Assess: the server saw at most that many new sockets, and every write
    expect(client.options.maxPoolSize).toBe(pool);
    expect(client.options.waitQueueTimeoutMS).toBe(5_000);
    expect(server.connections.length - before).toBeLessThanOrEqual(pool);
    expect(server.documents('shop', `items-${maxConcurrency}-${workers}`)).toHaveLength(20);
    await closeMongoClient();
  });

  it('logs the mode and the worst case of connections per environment at the first connect', async () => {
    // Prepare
    managedInstances(64, 16);
    const logger = new CaptureLogger();

    // Act
    await getMongoClient({ uri: server.uri, logger });

    // Assess: 16 workers × 1 server × (2 pool sockets + 1 monitor)
    const [created] = logger.withEvent('client.created');
    expect((created?.attributes.mongodb as { managedInstances?: unknown }).managedInstances).toEqual({
      maxConcurrency: 64,
      workers: 16,
      perWorker: 4,
      maxPoolSize: 2,
      servers: 1,
      worstCaseConnections: 48,
    });
  });

  it('lets the caller and the URI win over the pool it derives', async () => {
    // Prepare: 64 in flight over 2 workers, 32 per worker
    managedInstances(64, 2);

    // Act
    const byDefault = await getMongoClient({ uri: server.uri, logger: new CaptureLogger() });
    const byCaller = await getMongoClient({ uri: server.uri, logger: new CaptureLogger(), clientOptions: { maxPoolSize: 32, waitQueueTimeoutMS: 1_000 } });
    const byUri = await getMongoClient({ uri: `${server.uri}${server.uri.includes('?') ? '&' : '?'}maxPoolSize=8`, logger: new CaptureLogger() });

    // Assess
    expect(byDefault.options.maxPoolSize).toBe(4);
    expect(byCaller.options).toMatchObject({ maxPoolSize: 32, waitQueueTimeoutMS: 1_000 });
    expect(byUri.options.maxPoolSize).toBe(8);
  });

  it('changes nothing outside that mode', async () => {
    // Prepare
    delete process.env.AWS_LAMBDA_MAX_CONCURRENCY;
    const logger = new CaptureLogger();

    // Act
    const client = await getMongoClient({ uri: server.uri, logger });

    // Assess
    expect(client.options.maxPoolSize).toBe(5);
    expect(client.options.waitQueueTimeoutMS).toBe(0);
    expect((logger.withEvent('client.created')[0]?.attributes.mongodb as Record<string, unknown>).managedInstances).toBeUndefined();
  });
});

describe('under the runtime client in Managed Instances mode (the Lambda emulator)', () => {
  afterAll(async () => {
    await stopAllLambdaContainers();
  });

  it('runs 256 events at concurrency 64 with the default workers: no failure, every session ended, sockets within the logged worst case', { timeout: 120_000 }, async () => {
    // Prepare
    const server = await startWireServer({ topology: 'replicaSet' });
    try {
      const fn = await startLambdaContainer({
        entry: 'test/fixtures/lmi/library.ts',
        maxConcurrency: 64,
        env: { MONGODB_URI: server.uri, POWERTOOLS_LOG_LEVEL: 'DEBUG', NODE_ENV: 'production' },
      });

      // Act
      const results = await fn.invokeMany(Array.from({ length: 256 }, (_, id) => ({ id })));

      // Assess
      expect(results.filter((result) => !result.ok).map((result) => result.error)).toEqual([]);
      expect(server.documents('shop', 'items')).toHaveLength(256);
      expect(fn.runtimeStats().maxInFlight).toBe(64);
      const threads = new Set(results.map((result) => (result.result as { threadId: number }).threadId));
      expect(threads.size).toBe(fn.workerCount);
      // every invocation ended its session (the record names its requestId)
      await vi.waitFor(() => {
        const ended = new Set(fn.events('session.ended').map((line) => (line.mongodb as { requestId?: string }).requestId));
        expect(results.filter((result) => !ended.has(result.requestId)).map((result) => result.requestId)).toEqual([]);
      });
      // each worker logged the worst case, and the server never saw more sockets than that
      const created = fn.events('client.created');
      expect(created).toHaveLength(fn.workerCount);
      const worstCase = (created[0]?.mongodb as { managedInstances: { worstCaseConnections: number; workers: number } }).managedInstances;
      expect(worstCase.workers).toBe(fn.workerCount);
      expect(server.connections.length).toBeLessThanOrEqual(worstCase.worstCaseConnections);
    } finally {
      await server.stop();
    }
  });

  /** The library's LMI fixture under a 2 s function timeout (reported, not enforced), 4 in flight at most. */
  const shortTimeoutContainer = (uri: string, workerCount: number, env: Record<string, string> = {}) =>
    startLambdaContainer({ entry: 'test/fixtures/lmi/library.ts', maxConcurrency: 4, workerCount, timeoutMs: 2_000, env: { MONGODB_URI: uri, POWERTOOLS_LOG_LEVEL: 'DEBUG', NODE_ENV: 'production', ...env } });

  it('ends a hung write by the deadline: the invocation fails with 11601 and frees its slot, the worker serves the next ones', { timeout: 60_000 }, async () => {
    // Prepare: Managed Instances reports the 2 s timeout but does not enforce it; the insert of event 1 never gets an answer
    const server = await startWireServer({ topology: 'replicaSet' });
    try {
      const fn = await shortTimeoutContainer(server.uri, 2);
      expect((await fn.invoke({ id: 0 })).ok).toBe(true);
      server.failNext({ command: 'insert', hang: true, code: 0 });

      // Act
      const hung = await fn.invoke({ id: 1 });
      const afterHung = fn.runtimeStats();
      const next = await fn.invokeMany([2, 3, 4, 5].map((id) => ({ id })));

      // Assess: the runtime answered the invocation itself (no "Task timed out"), with the server's interruption
      expect(hung).toMatchObject({ ok: false, error: { errorType: 'MongoServerError', errorMessage: 'operation was interrupted' } });
      expect(afterHung).toMatchObject({ inFlight: 0, answered: 2 });
      const insert = server.commandsNamed('insert').find((command) => (command.body.documents as Array<{ _id: number }>)[0]?._id === 1);
      expect(server.lsidsSentIn('killSessions')).toEqual([insert?.lsid]);
      expect(next.filter((result) => !result.ok)).toEqual([]);
      expect(server.documents('shop', 'items').map((item) => item._id).sort()).toEqual([0, 2, 3, 4, 5]);
      const interrupted = fn.events('invocation.interrupted');
      expect(interrupted).toMatchObject([{ level: 'WARN', mongodb: { requestId: hung.requestId, lsid: insert?.lsid } }]);
      await vi.waitFor(() => {
        const ended = fn.events('session.ended').map((line) => (line.mongodb as { requestId?: string }).requestId);
        expect(ended).toContain(hung.requestId);
      });
    } finally {
      await server.stop();
    }
  });

  it.each([
    ['by default (the pool\'s check-outs)', {}],
    ['with monitorCommands on (the command events)', { monitorCommands: true }],
  ] as const)('%s, ends an operation whose socket died unseen: after killSessions its connection is closed, the retry succeeds', { timeout: 60_000 }, async (_how, clientOptions) => {
    // Prepare: one worker, one pooled socket after a warm invocation; then that socket drops every byte (no FIN, no
    // RST), so the server never sees event 1's find and killSessions has nothing to interrupt
    const server = await startWireServer({ topology: 'replicaSet' });
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    server.setAdvertisedAddress(proxy.address);
    try {
      const fn = await shortTimeoutContainer(proxy.uriFor(server.uri), 1, { LMI_CLIENT_OPTIONS: JSON.stringify(clientOptions) });
      expect((await fn.invoke({ id: 0 })).ok).toBe(true);
      const ports = new Set(server.commands.map((command) => server.connections.find((connection) => connection.id === command.connectionId)?.remotePort));
      const pool = proxy.connections.filter((connection) => connection.open && ports.has(connection.upstreamPort));
      for (const connection of pool) proxy.blackholeConnection(connection.id, true);

      // Act
      const cut = await fn.invoke({ id: 1 });
      const afterCut = fn.runtimeStats();

      // Assess: the find was retried on a new connection, the invocation succeeded and freed its slot
      expect(pool).toHaveLength(1);
      expect(cut).toMatchObject({ ok: true });
      expect(afterCut).toMatchObject({ inFlight: 0 });
      const find = server.commandsNamed('find').find((command) => (command.body.filter as { _id?: number })._id === 1);
      expect(server.lsidsSentIn('killSessions')).toEqual([find?.lsid]);
      expect(server.documents('shop', 'items').map((item) => item._id).sort()).toEqual([0, 1]);
      const closed = fn.events('invocation.connectionsClosed');
      expect(closed).toMatchObject([{ level: 'WARN', mongodb: { requestId: cut.requestId, lsid: find?.lsid, connections: 1 } }]);
      // the command events name the command; the check-outs only know the connection
      expect((closed[0]?.mongodb as { commands?: string[] } | undefined)?.commands).toEqual('monitorCommands' in clientOptions ? ['find'] : undefined);
    } finally {
      await proxy.stop();
      await server.stop();
    }
  });
});
