// Several invocations that start together after a freeze (a Fluid instance resumed with a burst, a Managed
// Instances environment after an idle spell) share one thaw check: none of them sends a command before the
// check of the client is over, and a rebuild moves all of them to the new client. In-process: the gap is made by
// moving the clock (the fake Date advances from the moment it is set), the freeze by the fault proxy silencing
// every socket the client had. The invocations are given far more time than the test's timeout, so an answer
// before that timeout comes from the thaw check, never from the invocation deadline.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Context } from 'aws-lambda';
import { closeMongoClient, getMongoClient, withMongo, type MongoContext } from '../src/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const GAP_MS = 5_000;
const INVOCATION_REMAINING_MS = 120_000;

describe('invocations that start together after a freeze', () => {
  let server: WireServer;
  let proxy: FaultProxy;
  let logger: CaptureLogger;

  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await closeMongoClient();
    await proxy.stop();
    server.clearRecords();
    server.dropAll();
  });
  afterAll(async () => {
    await server.stop();
  });

  function handlerFor(uri: string) {
    return withMongo<{ name: string }, { name: string; requestId: string }, Context>(
      async (event, context: Context & { mongo: MongoContext }) => {
        await context.mongo.db.collection('items').insertOne({ name: event.name }, { session: context.mongo.session });
        return { name: event.name, requestId: context.awsRequestId };
      },
      { uri, dbName: 'shop', logger, clientOptions: { serverMonitoringMode: 'poll' } },
    );
  }

  /**
   * Warms the client with `warmConcurrency` invocations at once (that many pool sockets), then silences or keeps
   * every socket, moves the clock and sends `count` at once. `oldSocketsWrittenTo` counts the sockets the client
   * had before the gap that it wrote into afterwards, up to the moment it logged the rebuild (the proxy counts
   * the bytes it drops too; the stale client's close writes endSessions after that).
   */
  async function burstAfterGap(count: number, warmConcurrency: number, silence: boolean) {
    proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    // The replica set names its members by the proxy's address, or the driver would go around the proxy.
    server.setAdvertisedAddress(proxy.address);
    logger = new CaptureLogger();
    const handler = handlerFor(proxy.uriFor(server.uri));
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    await Promise.all(Array.from({ length: warmConcurrency }, (_, index) => handler({ name: `warm-${index}` }, lambdaContext(INVOCATION_REMAINING_MS))));
    if (silence) for (const connection of proxy.connections.filter((candidate) => candidate.open)) proxy.blackholeConnection(connection.id, true);
    server.clearRecords();
    logger.records.length = 0;
    const oldSockets = proxy.connections.filter((connection) => connection.open).map((connection) => ({ connection, bytesBefore: connection.bytesIn }));
    const writtenTo = () => oldSockets.filter(({ connection, bytesBefore }) => connection.bytesIn > bytesBefore).length;
    let oldSocketsWrittenTo: number | undefined;
    logger.onRecord = (record) => {
      if ((record.attributes.mongodb as { event?: string }).event === 'client.rebuilt') oldSocketsWrittenTo ??= writtenTo();
    };
    vi.setSystemTime(Date.now() + GAP_MS);
    const contexts = Array.from({ length: count }, () => lambdaContext(INVOCATION_REMAINING_MS));
    const results = await Promise.allSettled(contexts.map((context, index) => handler({ name: `burst-${index}` }, context)));
    return { results, requestIds: contexts.map((context) => context.awsRequestId), oldSocketsWrittenTo };
  }

  it.each([2, 8])('every socket went silent: all %i invocations succeed on one rebuilt client, each session ended', { timeout: 20_000 }, async (count) => {
    // Act
    const { results, requestIds, oldSocketsWrittenTo } = await burstAfterGap(count, 2, true);

    // Assess
    expect(results.map((result) => result.status)).toEqual(Array(count).fill('fulfilled'));
    expect(server.documents('shop', 'items').map((document) => document.name).filter((name) => String(name).startsWith('burst')).sort()).toEqual(Array.from({ length: count }, (_, index) => `burst-${index}`).sort());
    // one check for the burst: one probe that failed, one rebuild
    expect(logger.withEvent('thaw.probe.failed')).toHaveLength(1);
    expect(logger.withEvent('client.rebuilt')).toHaveLength(1);
    // of the sockets that lived through the freeze, only the probe's got a command before the rebuild
    expect(oldSocketsWrittenTo).toBe(1);
    expect(new Set(logger.withEvent('session.ended').map((record) => (record.attributes.mongodb as { requestId?: string }).requestId))).toEqual(new Set(requestIds));
  });

  it.each([2, 8])('a healthy client: one ping for all %i invocations, answered before any of them sends its command, no rebuild', { timeout: 20_000 }, async (count) => {
    // Act
    const { results } = await burstAfterGap(count, 2, false);

    // Assess
    expect(results.map((result) => result.status)).toEqual(Array(count).fill('fulfilled'));
    expect(server.commands.map((command) => command.name)).toEqual(['ping', ...Array(count).fill('insert')]);
    expect(logger.withEvent('client.rebuilt')).toHaveLength(0);
  });

  it('a slow healthy link (250 ms round trips), every socket closed during the gap: the probe fits the link, no rebuild', { timeout: 20_000 }, async () => {
    // Prepare: the round trips are slow from the start, so the driver's monitor measures them
    proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    server.setAdvertisedAddress(proxy.address);
    proxy.setLatency(125);
    logger = new CaptureLogger();
    const handler = handlerFor(proxy.uriFor(server.uri));
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    await handler({ name: 'warm' }, lambdaContext(INVOCATION_REMAINING_MS));
    // The FIN reaches the process during the freeze, as on Lambda (here it takes the link's 125 ms)
    proxy.closeAll();
    await vi.waitFor(() => expect(proxy.openConnectionCount()).toBe(0));
    logger.records.length = 0;
    vi.setSystemTime(Date.now() + GAP_MS);

    // Act
    const result = await handler({ name: 'after' }, lambdaContext(INVOCATION_REMAINING_MS));

    // Assess: the ping needed a new connection (TCP, hello, ping: 750 ms) and was given the time for it
    expect(result).toMatchObject({ name: 'after' });
    expect(logger.events()).not.toContain('client.rebuilt');
    const [probe] = logger.withEvent('thaw.probe');
    expect((probe?.attributes.mongodb as { probeTimeoutMs?: number }).probeTimeoutMs).toBeGreaterThanOrEqual(500 + 3 * 250);
  });
});

describe('an operation in flight on a client that another invocation rebuilds', () => {
  let server: WireServer;
  let proxy: FaultProxy;

  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
    proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    server.setAdvertisedAddress(proxy.address);
  });
  afterAll(async () => {
    vi.useRealTimers();
    await closeMongoClient();
    await proxy.stop();
    await server.stop();
  });

  it('fails fast once the stale client is closed, instead of hanging on its silent socket', { timeout: 20_000 }, async () => {
    // Prepare: the cached client with two pool sockets, used outside any invocation too (getMongoClient), then
    // every socket goes silent: one operation hangs on one of them, the probe will take the other
    const logger = new CaptureLogger();
    const uri = proxy.uriFor(server.uri);
    const options = { uri, dbName: 'shop', logger, clientOptions: { serverMonitoringMode: 'poll' as const } };
    const handler = withMongo<{ name: string }, string, Context>(async (event, context: Context & { mongo: MongoContext }) => {
      await context.mongo.db.collection('items').insertOne({ name: event.name }, { session: context.mongo.session });
      return event.name;
    }, { ...options, sessionGuard: false }); // the guard's client (monitorCommands) would not be getMongoClient's
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    await Promise.all(['warm', 'warm-2'].map((name) => handler({ name }, lambdaContext(INVOCATION_REMAINING_MS))));
    const stale = await getMongoClient(options);
    for (const connection of proxy.connections.filter((candidate) => candidate.open)) proxy.blackholeConnection(connection.id, true);
    const inFlight = stale.db('shop').collection('items').findOne({ name: 'warm' });
    const outcome = inFlight.then(() => 'answered', (error: unknown) => (error instanceof Error ? error.name : String(error)));
    vi.setSystemTime(Date.now() + GAP_MS);

    // Act: an invocation after the gap finds the client silent and rebuilds it
    const result = await handler({ name: 'after' }, lambdaContext(INVOCATION_REMAINING_MS));

    // Assess
    expect(result).toBe('after');
    expect(logger.withEvent('client.rebuilt')).toHaveLength(1);
    // the stale client, closed in the background, fails what it still had in flight
    await expect(outcome).resolves.toBe('MongoClientClosedError');
  });
});
