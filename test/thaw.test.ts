// The freeze/thaw decisions of src/core/invocation/thaw.ts, each on its own and deterministic: a fake lease says how
// long the client sat idle (the clock is the lease's `idleMs`, set by the test), a fake client answers each probe
// `ping` as the test says (at once, with a fast failure, or never, until its signal aborts), and the invocation
// deadline is an AbortController the test fires. Nothing waits on the wall clock: where a probe must time out, the
// fake never answers, so the probe's own deadline is the only way the test can end before its timeout.
import v8 from 'node:v8';
import vm from 'node:vm';
import { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient, withMongo } from '../src/index.js';
import type { ClientLease } from '../src/core/client/lease.js';
import { CheckoutsInFlight } from '../src/core/client/in-flight.js';
import type { LinkWatch } from '../src/core/client/link.js';
import { SideChannel } from '../src/core/client/side-channel.js';
import { resolveClientConfig, type ResolvedClientConfig } from '../src/core/config/resolve.js';
import { startDeadline, type InvocationDeadline } from '../src/core/invocation/deadline.js';
import { checkAfterThaw, probeConnection, thawCheckDue, THAW_DEFAULTS } from '../src/core/invocation/thaw.js';
import type { LoggerLike } from '../src/shared/logging/emit.js';
import { CaptureLogger } from './support/capture-logger.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/** How the fake server answers one `ping`. */
type Answer = 'ok' | 'fail' | 'hang';

interface FakeClient {
  client: MongoClient;
  /** Every ping received, with the signal it came with. */
  pings: Array<{ signal: AbortSignal | undefined }>;
}

/**
 * A MongoClient stand-in for the probe: `answers[i]` is how the i-th ping goes ('hang' once they run out). A hanging
 * ping is held, as the driver holds an operation in flight, and fails with the signal's reason when it aborts.
 */
function fakeClient(answers: Answer[], onPing: (signal: AbortSignal | undefined) => void = () => undefined): FakeClient {
  const pings: FakeClient['pings'] = [];
  const inFlight: Array<Promise<unknown>> = [];
  const command = (_command: unknown, options?: { signal?: AbortSignal }): Promise<unknown> => {
    const signal = options?.signal;
    pings.push({ signal });
    const answer = answers[pings.length - 1] ?? 'hang';
    onPing(signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (answer === 'ok') return Promise.resolve({ ok: 1 });
    if (answer === 'fail') return Promise.reject(Object.assign(new Error('connection 3 to 127.0.0.1:27017 closed'), { name: 'MongoNetworkError' }));
    const pending = new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
    inFlight.push(pending);
    return pending;
  };
  // `on`/`off`: the probe listens for a new connection (which moves its deadline); the fake never makes one.
  return { client: { db: () => ({ command }), on: () => undefined, off: () => undefined } as unknown as MongoClient, pings };
}

/**
 * The link as the probe sees it: no round-trip time measured (loopback), so the probe's deadline is its
 * `probeTimeoutMs` alone, as on the loopback the tests use.
 */
const LINK = { roundTripMs: 0, newConnectionRoundTrips: 3, servers: 1, sample: () => undefined } as unknown as LinkWatch;

/** A lease on `client` that sat idle `idleMs` (the injected clock), and whether it was given back. */
function fakeLease(client: MongoClient, idleMs: number, cold = false): ClientLease & { released: boolean } {
  return {
    client,
    cold,
    idleMs,
    link: LINK,
    inFlight: undefined,
    checkouts: new CheckoutsInFlight(client),
    // the thaw check never interrupts: a side channel that would throw if it were asked to build a client
    side: new SideChannel({} as ResolvedClientConfig),
    pendingCheck: undefined,
    shareCheck: (check) => check(),
    released: false,
    release() {
      this.released = true;
    },
  };
}

/** A logger whose every method throws, and whose level cannot even be read. */
function throwingLogger(): LoggerLike {
  const fail = (): never => {
    throw new Error('the log sink is down');
  };
  return Object.defineProperty({ debug: fail, info: fail, warn: fail, error: fail }, 'level', { get: fail }) as LoggerLike;
}

const THAW = { ...THAW_DEFAULTS };
/** The probe attributes of each record, in order. */
const probeRecords = (logger: CaptureLogger) =>
  logger.records.map((record) => record.attributes.mongodb as { event: string; attempt?: number; timedOut?: boolean; gapMs?: number });

describe('thawCheckDue: when an invocation checks its client', () => {
  const { client } = fakeClient([]);

  it.each<[string, number, boolean, boolean]>([
    ['a warm client idle for settleAfterMs: due', THAW.settleAfterMs, false, true],
    ['a warm client idle for hours: due', 6 * 3_600_000, false, true],
    ['a warm client idle for less than settleAfterMs (back to back): not due', THAW.settleAfterMs - 1, false, false],
    ['a client this invocation just connected, however long the idle: not due', 6 * 3_600_000, true, false],
  ])('%s', (_what, idleMs, cold, due) => {
    expect(thawCheckDue(THAW, fakeLease(client, idleMs, cold))).toBe(due);
  });

  it('never with thaw handling off', () => {
    expect(thawCheckDue(false, fakeLease(client, 6 * 3_600_000))).toBe(false);
  });
});

describe('probeConnection: the verdict of the ping after a gap', () => {
  const config = (logger: LoggerLike = new CaptureLogger()) => ({ logger, secrets: [] }) as unknown as ResolvedClientConfig;

  it('keeps a client that answers: one ping', async () => {
    // Prepare
    const logger = new CaptureLogger();
    const fake = fakeClient(['ok']);

    // Act
    const verdict = await probeConnection(fake.client, config(logger), 60_000, undefined, 5_000, LINK);

    // Assess
    expect(verdict).toBe('healthy');
    expect(fake.pings).toHaveLength(1);
    expect(probeRecords(logger)).toEqual([expect.objectContaining({ event: 'thaw.probe', attempt: 1, gapMs: 5_000 })]);
  });

  it('tries once more after a fast failure (a socket closed during the freeze), and keeps a client that answers then', async () => {
    // Prepare
    const logger = new CaptureLogger();
    const fake = fakeClient(['fail', 'ok']);

    // Act
    const verdict = await probeConnection(fake.client, config(logger), 60_000, undefined, 5_000, LINK);

    // Assess
    expect(verdict).toBe('healthy');
    expect(fake.pings).toHaveLength(2);
    expect(probeRecords(logger)).toEqual([
      expect.objectContaining({ event: 'thaw.probe.failed', attempt: 1, timedOut: false }),
      expect.objectContaining({ event: 'thaw.probe', attempt: 2 }),
    ]);
  });

  it('rebuilds after two fast failures', async () => {
    // Prepare
    const fake = fakeClient(['fail', 'fail', 'ok']);

    // Act
    const verdict = await probeConnection(fake.client, config(), 60_000, undefined, 5_000, LINK);

    // Assess
    expect(verdict).toBe('rebuild');
    expect(fake.pings).toHaveLength(2);
  });

  it('rebuilds when the ping does not answer within its deadline, without a second ping', { timeout: 10_000 }, async () => {
    // Prepare: the ping never answers; only the probe's own 50 ms deadline can end it
    const logger = new CaptureLogger();
    const fake = fakeClient(['hang', 'ok']);

    // Act
    const verdict = await probeConnection(fake.client, config(logger), 50, undefined, 5_000, LINK);

    // Assess
    expect(verdict).toBe('rebuild');
    expect(fake.pings).toHaveLength(1);
    expect(probeRecords(logger)).toEqual([expect.objectContaining({ event: 'thaw.probe.failed', attempt: 1, timedOut: true })]);
  });

  it('lets the handler run when the invocation deadline comes during the ping: no rebuild, no second ping', async () => {
    // Prepare: the probe's own deadline is a minute away; the invocation's fires once the ping is on its way
    const invocation = new AbortController();
    const fake = fakeClient(['hang', 'ok'], () => queueMicrotask(() => invocation.abort(new DOMException('deadline', 'TimeoutError'))));

    // Act
    const verdict = await probeConnection(fake.client, config(), 60_000, invocation.signal, 5_000, LINK);

    // Assess
    expect(verdict).toBe('healthy');
    expect(fake.pings).toHaveLength(1);
    expect(fake.pings[0]?.signal?.aborted).toBe(true);
  });

  it('lets the handler run when the deadline has passed before a fast failure: no second ping', async () => {
    // Prepare
    const invocation = new AbortController();
    const fake = fakeClient(['fail', 'ok'], () => invocation.abort(new DOMException('deadline', 'TimeoutError')));

    // Act
    const verdict = await probeConnection(fake.client, config(), 60_000, invocation.signal, 5_000, LINK);

    // Assess
    expect(verdict).toBe('healthy');
    expect(fake.pings).toHaveLength(1);
  });

  it('reaches the same verdicts when the logger throws', { timeout: 10_000 }, async () => {
    // Act
    const verdicts = [
      await probeConnection(fakeClient(['ok']).client, config(throwingLogger()), 60_000, undefined, 5_000, LINK),
      await probeConnection(fakeClient(['fail', 'ok']).client, config(throwingLogger()), 60_000, undefined, 5_000, LINK),
      await probeConnection(fakeClient(['hang']).client, config(throwingLogger()), 50, undefined, 5_000, LINK),
    ];

    // Assess
    expect(verdicts).toEqual(['healthy', 'healthy', 'rebuild']);
  });
});

describe('probeConnection against a server that went silent (the real driver)', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('rebuilds on its own deadline while garbage is collected, with the invocation deadline pending', { timeout: 20_000 }, async () => {
    // Prepare: on Node.js 20 an AbortSignal.timeout() that only AbortSignal.any() refers to is collected and never
    // fires; the invocation's deadline is a minute away, so only the probe's 200 ms deadline can end the ping in time
    const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 60_000, socketTimeoutMS: 0 });
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    server.blackhole(true);
    const invocation = startDeadline({ getRemainingTimeInMillis: () => 60_000 }, 500);
    const collecting = setInterval(collectGarbage, 20);

    // Act
    const verdict = await probeConnection(client, { logger: new CaptureLogger(), secrets: [] } as unknown as ResolvedClientConfig, 200, invocation.signal, 5_000, LINK).finally(() => {
      clearInterval(collecting);
      invocation.dispose();
    });

    // Assess
    expect(verdict).toBe('rebuild');
    server.blackhole(false);
    await client.close(true);
  });
});

describe('checkAfterThaw: what an invocation gets after the check', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    server.blackhole(false);
    await closeMongoClient();
    server.clearRecords();
  });
  afterAll(async () => {
    await server.stop();
  });

  const never = () => startDeadline(undefined, 0);

  it('lets pending I/O events run first, then pings nothing below probeAfterMs and keeps the lease', async () => {
    // Prepare: an event-loop callback queued before the check (as a FIN read during the freeze would be)
    const fake = fakeClient(['ok']);
    const lease = fakeLease(fake.client, THAW.probeAfterMs - 1);
    const order: string[] = [];
    setImmediate(() => order.push('pending event'));

    // Act
    const checked = await checkAfterThaw(lease, resolveClientConfig({ uri: server.uri, logger: new CaptureLogger() }), THAW, never());
    order.push('checked');

    // Assess
    expect(checked).toBe(lease);
    expect(fake.pings).toEqual([]);
    expect(order).toEqual(['pending event', 'checked']);
  });

  it('keeps a lease whose client answers the ping after probeAfterMs', async () => {
    // Prepare
    const fake = fakeClient(['ok']);
    const lease = fakeLease(fake.client, THAW.probeAfterMs);

    // Act
    const checked = await checkAfterThaw(lease, resolveClientConfig({ uri: server.uri, logger: new CaptureLogger() }), THAW, never());

    // Assess
    expect(checked).toBe(lease);
    expect(fake.pings).toHaveLength(1);
    expect(lease.released).toBe(false);
  });

  it('gives back a silent client and leases a new one, connected to the server', { timeout: 10_000 }, async () => {
    // Prepare: the stale client's ping never answers (probe deadline 50 ms)
    const logger = new CaptureLogger();
    const stale = fakeLease(fakeClient(['hang']).client, 3_600_000);
    const config = resolveClientConfig({ uri: server.uri, logger });

    // Act
    const checked = await checkAfterThaw(stale, config, { ...THAW, probeTimeoutMs: 50 }, never());

    // Assess
    expect(stale.released).toBe(true);
    expect(checked.client).not.toBe(stale.client);
    expect(checked.cold).toBe(true);
    expect(server.connections.length).toBeGreaterThan(0);
    expect(await checked.client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
    expect(logger.events()).toEqual(['thaw.probe.failed', 'client.created']);
    checked.release();
  });

  it('fails with DEADLINE_EXCEEDED when the rebuild cannot connect before the invocation deadline', { timeout: 10_000 }, async () => {
    // Prepare: the new client's server never answers and would be waited for a minute; the invocation's deadline
    // fires during the rebuild
    server.blackhole(true);
    const stale = fakeLease(fakeClient(['hang']).client, 3_600_000);
    const config = resolveClientConfig({ uri: server.uri, logger: new CaptureLogger(), clientOptions: { serverSelectionTimeoutMS: 60_000 } });
    const fired = new AbortController();
    const deadline = { signal: fired.signal } as InvocationDeadline;
    const probing = checkAfterThaw(stale, config, { ...THAW, probeTimeoutMs: 50 }, deadline);
    // the probe's ping timed out (50 ms): the rebuild is connecting now
    await expect.poll(() => stale.released).toBe(true);

    // Act
    fired.abort(new DOMException('The invocation is 500 ms from its Lambda timeout', 'TimeoutError'));
    const error = await probing.catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toMatchObject({ name: 'ConnectionError', code: 'DEADLINE_EXCEEDED' });
  });
});

describe('a logger that throws never fails an invocation', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('cold start, warm reuse with the thaw probe, commit and abort: the server sees all of it', async () => {
    // Prepare: a probe on every warm invocation, so every record the library writes is attempted
    const handler = withMongo(
      async (event: { name: string; fail?: boolean }, context) => {
        await context.mongo.db.collection('items').insertOne({ name: event.name }, { session: context.mongo.session });
        if (event.fail) throw new Error(`handler failed after ${event.name}`);
        return event.name;
      },
      { uri: server.uri, dbName: 'shop', transaction: true, logger: throwingLogger(), thaw: { settleAfterMs: 0, probeAfterMs: 0 } },
    );

    // Act
    const cold = await handler({ name: 'a' }, lambdaContext());
    const warm = await handler({ name: 'b' }, lambdaContext());
    const failed = await handler({ name: 'c', fail: true }, lambdaContext()).catch((error: unknown) => error);

    // Assess
    expect([cold, warm]).toEqual(['a', 'b']);
    expect(failed).toMatchObject({ message: 'handler failed after c' });
    expect(server.documents('shop', 'items').map((item) => item.name)).toEqual(['a', 'b']);
    expect(server.commandsNamed('ping')).toHaveLength(2);
    const [, , aborted] = server.commandsNamed('insert');
    expect(server.commandsNamed('commitTransaction')).toHaveLength(2);
    expect(server.commandsNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: aborted?.lsid, txnNumber: aborted?.txnNumber })]);
  });

  it('a failed connect still fails with its ConnectionError, not the logger\'s', async () => {
    // Act
    const handler = withMongo(async () => 'never', { uri: 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200', dbName: 'shop', logger: throwingLogger() });
    const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toMatchObject({ name: 'ConnectionError', code: 'CONNECT_FAILED' });
  });
});
