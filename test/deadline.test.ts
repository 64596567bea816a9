import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoError, MongoNetworkTimeoutError, MongoServerError, type MongoClient } from 'mongodb';
import { EventEmitter } from 'node:events';
import { CheckoutsInFlight, closeConnectionsOf } from '../src/core/client/in-flight.js';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { closeMongoClient, ConnectionError, withMongo, type MongoContext } from '../src/index.js';
import { mongo } from '../src/middy.js';
import { startDeadline } from '../src/core/invocation/deadline.js';
import { DUE_WITHIN_MS, unwatchDeadline, watchDeadline } from '../src/core/invocation/interrupt.js';
import { PROJECT_ROOT } from './support/lambda-emulator/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { lambdaContext } from './support/lambda-context.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

/** A Lambda context's clock: the time left until a fixed deadline `ms` from now (Date.now(), faked in these tests). */
function timeoutIn(ms: number): { getRemainingTimeInMillis: () => number } {
  const at = Date.now() + ms;
  return { getRemainingTimeInMillis: () => at - Date.now() };
}

/** Timers that keep this process's event loop alive (an unref'd timer is not listed). */
function refedTimers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

describe('invocation deadline', () => {
  // The clock is injected: fake timers move Date.now() (the context's remaining time) and fire timers on demand.
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires the margin before the remaining time runs out, with a TimeoutError reason', () => {
    // Prepare
    vi.useFakeTimers();
    const deadline = startDeadline(timeoutIn(150), 100);
    const { signal } = deadline;

    // Act
    vi.advanceTimersByTime(49);
    const before = signal.aborted;
    vi.advanceTimersByTime(1);

    // Assess
    expect(before).toBe(false);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toMatchObject({ name: 'TimeoutError' });
    expect(deadline.remainingMs()).toBe(0);
    expect(deadline.expired()).toBe(false);
  });

  it('never fires without a Lambda context', () => {
    vi.useFakeTimers();
    const deadline = startDeadline(undefined, 100);
    vi.advanceTimersByTime(24 * 3_600_000);
    expect(deadline.remainingMs()).toBe(Number.POSITIVE_INFINITY);
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not fire once disposed', () => {
    // Prepare
    vi.useFakeTimers();
    const deadline = startDeadline(timeoutIn(30), 0);
    const { signal } = deadline;

    // Act
    deadline.dispose();
    vi.advanceTimersByTime(60_000);

    // Assess
    expect(signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('schedules its timer only when the signal is read, and one however often it is read', () => {
    // Prepare
    vi.useFakeTimers();

    // Act
    const deadline = startDeadline(timeoutIn(60_000), 500);
    const untouched = vi.getTimerCount();
    const first = deadline.signal;
    const second = deadline.signal;
    const read = vi.getTimerCount();
    deadline.dispose();

    // Assess
    expect(untouched).toBe(0);
    expect(read).toBe(1);
    expect(second).toBe(first);
  });

  it('reads as aborted when first read after its moment', () => {
    // Prepare
    vi.useFakeTimers();
    const deadline = startDeadline(timeoutIn(20), 0);

    // Act: the invocation's time passes before anyone reads the signal
    vi.advanceTimersByTime(40);

    // Assess
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toMatchObject({ name: 'TimeoutError' });
    expect(deadline.expired()).toBe(true);
  });

  it('keeps no event loop alive: its pending timer is unref\'d', () => {
    // Prepare
    const before = refedTimers();

    // Act
    const deadline = startDeadline(timeoutIn(60_000), 500);
    void deadline.signal;
    const pending = refedTimers();
    deadline.dispose();

    // Assess
    expect(pending).toBe(before);
  });

  it('lets a process exit while a deadline a minute away is pending', { timeout: 20_000 }, async () => {
    // Act: the child reads the signal of a deadline 59.5 s away and never disposes it; it ends only if nothing keeps its loop alive
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'scripts', 'run-ts.mjs'), 'test/fixtures/unref/pending-deadline.ts'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

    // Assess: exited by itself, before the test's timeout and long before the deadline
    expect(code).toBe(0);
    expect(output).toBe('pending: 59500 ms\n');
  });

  it('fires its signal at once when fireNow() is called before the deadline (an interrupt with its burst), once', () => {
    // Prepare
    vi.useFakeTimers();
    const deadline = startDeadline(timeoutIn(1_000), 100);
    const unread = startDeadline(timeoutIn(1_000), 100);
    const { signal } = deadline;
    const reasons: unknown[] = [];
    signal.addEventListener('abort', () => reasons.push(signal.reason));
    const timers = vi.getTimerCount();

    // Act
    vi.advanceTimersByTime(896);
    deadline.fireNow();
    deadline.fireNow();
    unread.fireNow();
    vi.advanceTimersByTime(1_000);

    // Assess: fired 4 ms early, with the deadline's reason; its timer cleared; nothing made for the unread one
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatchObject({ name: 'TimeoutError' });
    expect(timers).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('the deadline timer (interruptAtDeadline)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** An open invocation whose deadline is `ms` from now; `log` gets its name when it is interrupted. */
  function invocation(name: string, ms: number, log: string[]) {
    const clock = timeoutIn(ms);
    return { remainingMs: () => Math.max(0, clock.getRemainingTimeInMillis()), interrupt: () => log.push(name) };
  }

  it('keeps one timer for all open invocations and interrupts each at its own deadline, earliest first', () => {
    // Prepare
    vi.useFakeTimers();
    const log: string[] = [];
    const late = invocation('late', 300, log);
    const early = invocation('early', 100, log);
    const middle = invocation('middle', 200, log);

    // Act
    for (const each of [late, early, middle]) watchDeadline(each);
    const timers = vi.getTimerCount();
    vi.advanceTimersByTime(99);
    const before = [...log];
    vi.advanceTimersByTime(1);
    const atFirst = [...log];
    vi.advanceTimersByTime(200);

    // Assess
    expect(timers).toBe(1);
    expect(before).toEqual([]);
    expect(atFirst).toEqual(['early']);
    expect(log).toEqual(['early', 'middle', 'late']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('interrupts together the invocations whose deadlines are less than DUE_WITHIN_MS apart, and no later one', () => {
    // Prepare
    vi.useFakeTimers();
    const log: string[] = [];
    const first = invocation('first', 100, log);
    const close = invocation('close behind', 100 + DUE_WITHIN_MS - 1, log);
    const later = invocation('later', 100 + DUE_WITHIN_MS, log);

    // Act
    for (const each of [later, close, first]) watchDeadline(each);
    vi.advanceTimersByTime(100);
    const atFirst = [...log];
    vi.advanceTimersByTime(DUE_WITHIN_MS);

    // Assess
    expect(atFirst).toEqual(['close behind', 'first']);
    expect(log).toEqual(['close behind', 'first', 'later']);
  });

  it('interrupts no invocation that ended first, and arms nothing for one without a deadline', () => {
    // Prepare
    vi.useFakeTimers();
    const log: string[] = [];
    const ended = invocation('ended', 100, log);
    const open = invocation('open', 150, log);
    watchDeadline(ended);
    watchDeadline(open);
    watchDeadline({ remainingMs: () => Number.POSITIVE_INFINITY, interrupt: () => log.push('no deadline') });

    // Act
    unwatchDeadline(ended);
    vi.advanceTimersByTime(24 * 3_600_000);

    // Assess
    expect(log).toEqual(['open']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('the layer obeys the deadline', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    server.blackhole(false);
    await closeMongoClient();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('gives up waiting for a connect at the deadline, and the next invocation connects', async () => {
    // Prepare: the server accepts sockets but answers nothing, so a connect waits for serverSelectionTimeoutMS (5 s)
    server.blackhole(true);
    const handler = withMongo(async (_event: unknown, context) => context.mongo.signal.aborted, { uri: server.uri, dbName: 'shop' });

    // Act
    const error = await handler({}, lambdaContext(800)).catch((thrown: unknown) => thrown);
    server.blackhole(false);
    const next = await handler({}, lambdaContext(10_000));

    // Assess
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: 'DEADLINE_EXCEEDED', cause: { name: 'TimeoutError' } });
    expect((error as Error).message).toMatch(/deadline came before the MongoDB client at mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=rs0 was connected/);
    expect(next).toBe(false);
  });

  it('still serves an invocation that starts past its deadline margin when the client is connected already', async () => {
    // Prepare
    const handler = withMongo(async (_event: unknown, context) => {
      await context.mongo.db.collection('items').findOne({}, { session: context.mongo.session });
      return context.mongo.signal.aborted;
    }, { uri: server.uri, dbName: 'shop' });
    await handler({}, lambdaContext(10_000));

    // Act: 100 ms left, 500 ms margin
    const aborted = await handler({}, lambdaContext(100));

    // Assess
    expect(aborted).toBe(true);
  });

  describe('interrupts at the deadline what runs without a signal (killSessions)', () => {
    afterEach(() => {
      server.clearFailPoints();
      server.clearRecords();
    });

    const killed = () => server.lsidsSentIn('killSessions');

    it.each([
      ['a write outside a transaction', false],
      ['a write in the invocation transaction', true],
    ] as const)('%s: the operation fails with 11601, the handler answers, nothing is written, the session ends', async (_what, transaction) => {
      // Prepare: the insert never gets an answer unless its session is killed; 1 s left, the deadline 500 ms before
      const logger = new CaptureLogger();
      const handler = withMongo(async (_event: unknown, context) => {
        await context.mongo.db.collection('hung').insertOne({ sku: 'never' }, { session: context.mongo.session });
        return 'inserted';
      }, { uri: server.uri, dbName: 'shop', logger, transaction });
      await handler({}, lambdaContext(10_000));
      server.dropAll();
      server.clearRecords();
      server.failNext({ command: 'insert', hang: true, code: 0 });
      const context = lambdaContext(1_000);

      // Act
      const error = await handler({}, context).catch((thrown: unknown) => thrown);
      await closeMongoClient();

      // Assess
      expect(error).toBeInstanceOf(MongoServerError);
      expect(error).toMatchObject({ code: 11601, codeName: 'Interrupted' });
      const [insert] = server.commandsNamed('insert');
      expect(insert?.lsid).toMatch(/^[0-9a-f]{32}$/);
      expect(killed()).toEqual([insert!.lsid]);
      expect(server.documents('shop', 'hung')).toEqual([]);
      expect(server.commandsNamed('commitTransaction')).toEqual([]);
      // the session went back to the driver's pool: its lsid reaches the server in endSessions (w: 0) when the client closes
      await vi.waitFor(() => expect(server.lsidsSentIn('endSessions')).toContain(insert!.lsid));
      expect(logger.withEvent('invocation.interrupted')).toMatchObject([{ level: 'warn', attributes: { mongodb: { requestId: context.awsRequestId, lsid: insert!.lsid } } }]);
    });

    /**
     * A server of the test's own whose next `times` inserts hang until a killSessions names them, and a warmed-up
     * withMongo handler inserting `{ sku }` with the invocation's session on a pool of `maxPoolSize`.
     */
    async function heldInserts(times: number, maxPoolSize: number, extra: { deadlineMarginMs?: number; user?: { username: string; password: string } } = {}) {
      const { user, deadlineMarginMs } = extra;
      const server = await startWireServer({ topology: 'replicaSet', ...(user ? { users: [user] } : {}) });
      onTestFinished(() => server.stop());
      const logger = new CaptureLogger();
      const uri = user ? server.uri.replace('mongodb://', `mongodb://${user.username}:${user.password}@`) : server.uri;
      const options = { uri, dbName: 'shop', logger, sessionGuard: false, ...(deadlineMarginMs === undefined ? {} : { deadlineMarginMs }), clientOptions: { maxPoolSize } };
      const handler = withMongo(async (event: { sku: string }, context) => {
        await context.mongo.db.collection('hung').insertOne({ sku: event.sku }, { session: context.mongo.session });
        return 'inserted';
      }, options);
      await withMongo(async (_event: unknown, context) => context.mongo.db.collection('items').findOne({}), options)({}, lambdaContext(10_000));
      server.dropAll();
      server.clearRecords();
      server.failNext({ command: 'insert', hang: true, code: 0, times });
      return { server, logger, handler };
    }

    it('interrupts when every connection of the pool is held: killSessions goes on a connection of its own, not to the wait queue', async () => {
      // Prepare: a pool of 2 (the Managed Instances default at 8 invocations per worker), two invocations whose
      // inserts the server holds (one connection each); the first reaches its deadline with no connection free.
      // The server knows a user: the connection of its own authenticates as the client does.
      const password = 'side-channel-pw-4471';
      const { server, logger, handler } = await heldInserts(2, 2, { user: { username: 'app', password } });
      const order: string[] = [];
      const settle = (name: string) => [
        (value: unknown) => (order.push(`${name} answered`), value),
        (error: unknown) => (order.push(`${name} failed`), error),
      ] as const;

      // Act: the second invocation's deadline comes after the first one's has passed
      const first = handler({ sku: 'first' }, lambdaContext(1_000)).then(...settle('first'));
      await expect.poll(() => server.commandsNamed('insert').length, { timeout: 5_000 }).toBe(1);
      const second = handler({ sku: 'second' }, lambdaContext(3_000)).then(...settle('second'));
      await expect.poll(() => server.commandsNamed('insert').length, { timeout: 5_000 }).toBe(2);
      const errors = [await first, await second];
      const inserts = server.commandsNamed('insert');
      const kills = server.commandsNamed('killSessions');
      const sideConnection = () => server.connections.find((connection) => connection.id === kills[0]?.connectionId);
      // the connection of its own is closed once killSessions answered, with the client still open
      await vi.waitFor(() => expect(sideConnection()?.closedAt).toBeDefined());
      await closeMongoClient();

      // Assess: each insert interrupted by the killSessions naming its session, the first before the second's deadline,
      // on a connection that carried neither insert; nothing written, nothing retried
      expect(errors).toMatchObject([{ code: 11601 }, { code: 11601 }]);
      expect(order).toEqual(['first failed', 'second failed']);
      expect(server.lsidsSentInEach('killSessions')).toEqual([[inserts[0]!.lsid], [inserts[1]!.lsid]]);
      expect(inserts.map((insert) => insert.connectionId)).not.toContain(kills[0]!.connectionId);
      expect(inserts).toHaveLength(2);
      expect(server.documents('shop', 'hung')).toEqual([]);
      expect(logger.withEvent('cleanup.failed')).toEqual([]);
      expect(logger.withEvent('invocation.connectionsClosed')).toEqual([]);
      expect(server.authentications.filter((auth) => auth.connectionId === kills[0]!.connectionId)).toMatchObject([{ user: 'app', ok: true }]);
      expect(JSON.stringify(logger.records)).not.toContain(password);
      // the first found the pool full and said so; the second had the first one's connection back
      expect(logger.withEvent('invocation.interrupted').map((record) => (record.attributes.mongodb as { poolFull?: boolean }).poolFull)).toEqual([true, undefined]);
    });

    it('interrupts invocations whose deadlines come together, with every connection held, in one killSessions on the connection of its own', async () => {
      // Prepare: a pool of 4, four invocations sharing one deadline (a burst under Managed Instances), each insert held
      // by the server on one of the pool's connections, so each interrupt finds the pool full
      const { server, logger, handler } = await heldInserts(4, 4);
      const shared = lambdaContext(1_500);

      // Act
      const invocations = ['a', 'b', 'c', 'd'].map((sku) => handler({ sku }, { ...shared, awsRequestId: `burst-${sku}` }).catch((error: unknown) => error));
      const errors = await Promise.all(invocations);
      const inserts = server.commandsNamed('insert');
      const kills = server.commandsNamed('killSessions');
      await vi.waitFor(() => expect(server.connections.find((connection) => connection.id === kills[0]?.connectionId)?.closedAt).toBeDefined());
      await closeMongoClient();

      // Assess: one killSessions naming the four sessions, on a connection that carried no insert; every insert
      // interrupted, nothing written, every interrupt saying the pool was full
      expect(errors).toMatchObject([{ code: 11601 }, { code: 11601 }, { code: 11601 }, { code: 11601 }]);
      expect(inserts).toHaveLength(4);
      expect(server.lsidsSentInEach('killSessions').map((lsids) => [...lsids].sort())).toEqual([inserts.map((insert) => insert.lsid).sort()]);
      expect(inserts.map((insert) => insert.connectionId)).not.toContain(kills[0]!.connectionId);
      expect(server.documents('shop', 'hung')).toEqual([]);
      expect(logger.withEvent('cleanup.failed')).toEqual([]);
      expect(logger.withEvent('invocation.interrupted').map((record) => (record.attributes.mongodb as { poolFull?: boolean }).poolFull)).toEqual([true, true, true, true]);
    });

    it('sends the interrupts asked for while a killSessions is on the wire together in the next one', async () => {
      // Prepare: a pool of 3, each connection holding an insert; the first invocation's deadline comes first, the
      // other two's together a little later, while the server holds the first killSessions
      // deadlines 200 ms and 1 s away, each killSessions with 2 s (half the margin): the second pair's interrupts come
      // while the first is held, however late the timers fire
      const { server, logger, handler } = await heldInserts(3, 3, { deadlineMarginMs: 4_000 });
      let release!: () => void;
      server.failNext({ command: 'killSessions', hold: new Promise<void>((resolve) => (release = resolve)), code: 0, times: 1 });
      const later = lambdaContext(5_000);

      // Act: the first interrupt is held by the server until the other two have been asked for
      const first = handler({ sku: 'first' }, lambdaContext(4_200)).catch((error: unknown) => error);
      const others = ['b', 'c'].map((sku) => handler({ sku }, { ...later, awsRequestId: `later-${sku}` }).catch((error: unknown) => error));
      await expect.poll(() => logger.withEvent('invocation.interrupted').length, { timeout: 5_000 }).toBe(3);
      release();
      const errors = await Promise.all([first, ...others]);
      const inserts = server.commandsNamed('insert');
      await closeMongoClient();

      // Assess: two killSessions, the second naming both later sessions; every insert interrupted
      expect(errors).toMatchObject([{ code: 11601 }, { code: 11601 }, { code: 11601 }]);
      const lsidOf = (sku: string) => inserts.find((insert) => (insert.body.documents as Array<{ sku: string }>)[0]?.sku === sku)?.lsid;
      expect(server.lsidsSentInEach('killSessions').map((lsids) => [...lsids].sort())).toEqual([[lsidOf('first')], [lsidOf('b'), lsidOf('c')].sort()]);
      expect(logger.withEvent('cleanup.failed')).toEqual([]);
    });

    it('sends nothing for an invocation that ends before its deadline, nor with interruptAtDeadline: false', async () => {
      // Prepare: both handlers outlive their deadline (100 ms away) doing other work, with the session open
      const work = async (_event: unknown, context: { mongo: { db: import('mongodb').Db; session: import('mongodb').ClientSession } }) => {
        await context.mongo.db.collection('items').findOne({}, { session: context.mongo.session });
        await sleep(300);
        return 'done';
      };
      const interrupting = withMongo(work, { uri: server.uri, dbName: 'shop' });
      const quiet = withMongo(work, { uri: server.uri, dbName: 'shop', interruptAtDeadline: false });
      const quick = withMongo(async () => 'quick', { uri: server.uri, dbName: 'shop' });

      // Act
      const answers = [await quick({}, lambdaContext(600)), await quiet({}, lambdaContext(600))];
      const sentBefore = killed();
      answers.push(await interrupting({}, lambdaContext(600)));

      // Assess: the same work, killSessions only where the option is on (and nothing ran: the handler still answers)
      expect(answers).toEqual(['quick', 'done', 'done']);
      expect(sentBefore).toEqual([]);
      expect(killed()).toHaveLength(1);
    });

    it('refuses an interruptAtDeadline that is not a boolean', () => {
      expect(() => withMongo(async () => 1, { interruptAtDeadline: 'yes' as unknown as boolean })).toThrow(/`interruptAtDeadline` .*must be a boolean/);
    });
  });

  describe('under Managed Instances: what killSessions alone cannot end', () => {
    // The socket of the invocation's insert dies without a FIN or an RST (the proxy drops its bytes): the server never
    // sees the insert, so killSessions interrupts nothing; the layer then closes that connection, knowing it from the
    // pool's check-outs (by default) or from the command events (monitorCommands). And a command given no session
    // carries an implicit one, which only the command events attribute to the invocation.
    const monitorCommands = true;
    let rs: WireServer;
    let proxy: FaultProxy;
    const saved = { concurrency: process.env.AWS_LAMBDA_MAX_CONCURRENCY, workers: process.env.AWS_LAMBDA_NODEJS_WORKER_COUNT };
    beforeAll(async () => {
      rs = await startWireServer({ topology: 'replicaSet' });
      proxy = await startFaultProxy({ host: '127.0.0.1', port: rs.port });
      rs.setAdvertisedAddress(proxy.address);
      process.env.AWS_LAMBDA_MAX_CONCURRENCY = '8';
      process.env.AWS_LAMBDA_NODEJS_WORKER_COUNT = '1';
    });
    afterEach(() => {
      rs.clearRecords();
    });
    afterAll(async () => {
      for (const [name, value] of [['AWS_LAMBDA_MAX_CONCURRENCY', saved.concurrency], ['AWS_LAMBDA_NODEJS_WORKER_COUNT', saved.workers]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await proxy.stop();
      await rs.stop();
    });

    /** Holds the next command of that name on the server until the returned function lets it run and answer. */
    const holdNext = (command: string): (() => void) => {
      let release!: () => void;
      rs.failNext({ command, code: 0, hold: new Promise<void>((resolve) => (release = resolve)) });
      return () => release();
    };

    /** The proxy's open connections whose server side carried a command other than hello: the pool's sockets. */
    const poolSockets = () => {
      const ports = new Set(rs.commands.map((command) => rs.connections.find((connection) => connection.id === command.connectionId)?.remotePort));
      return proxy.connections.filter((connection) => connection.open && connection.upstreamPort !== undefined && ports.has(connection.upstreamPort));
    };

    it.each([
      ['a retryable write is retried on a new connection and succeeds', true, false],
      ['a write that may not be retried fails with MongoNetworkTimeoutError', false, false],
      ['with command events: a retryable write is retried on a new connection and succeeds', true, true],
      ['with command events: a write that may not be retried fails with MongoNetworkTimeoutError', false, true],
    ] as const)('%s', async (_what, retryWrites, monitorCommands) => {
      // Prepare: one warm invocation leaves one pooled socket; the next cuts it between its find and its insert
      const logger = new CaptureLogger();
      const cut: number[] = [];
      const collection = `unseen-${retryWrites}-${monitorCommands}`;
      const handler = withMongo(async (event: { cut?: boolean }, context) => {
        const items = context.mongo.db.collection(collection);
        await items.findOne({}, { session: context.mongo.session });
        if (event.cut) for (const socket of poolSockets()) (cut.push(socket.id), proxy.blackholeConnection(socket.id, true));
        await items.insertOne({ sku: event.cut ? 'late' : 'warm' }, { session: context.mongo.session });
        return 'inserted';
      }, { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { retryWrites, monitorCommands }, sessionGuard: false });
      await handler({}, lambdaContext(10_000));
      rs.clearRecords();
      const context = lambdaContext(1_000);

      // Act
      const outcome = await handler({ cut: true }, context).catch((thrown: unknown) => thrown);
      await closeMongoClient();

      // Assess
      const [find] = rs.commandsNamed('find');
      expect(cut).toHaveLength(1);
      expect(rs.lsidsSentIn('killSessions')).toEqual([find!.lsid]);
      // the command events name the command; the check-outs only know the connection
      expect(logger.withEvent('invocation.connectionsClosed')).toMatchObject([{ level: 'warn', attributes: { mongodb: { requestId: context.awsRequestId, lsid: find!.lsid, connections: 1 } } }]);
      expect((logger.withEvent('invocation.connectionsClosed')[0]!.attributes.mongodb as { commands?: string[] }).commands).toEqual(monitorCommands ? ['insert'] : undefined);
      if (retryWrites) {
        expect(outcome).toBe('inserted');
        // the retry, on another connection than the find's (the cut one); the same session
        expect(rs.commandsNamed('insert').map((insert) => insert.lsid)).toEqual([find!.lsid]);
        expect(rs.commandsNamed('insert')[0]!.connectionId).not.toBe(find!.connectionId);
        expect(rs.documents('shop', collection).map((document) => document.sku)).toEqual(['warm', 'late']);
      } else {
        expect(outcome).toBeInstanceOf(MongoNetworkTimeoutError);
        expect((outcome as Error).message).toMatch(/by the deadline of the invocation that sent the command/);
        expect(rs.commandsNamed('insert')).toEqual([]);
        expect(rs.documents('shop', collection).map((document) => document.sku)).toEqual(['warm']);
      }
    });

    /** As above: a retryable insert whose pooled socket is cut between find and insert; the retry is held by the server. */
    const cutBeforeInsert = (collection: string, logger: CaptureLogger, deadlineMarginMs?: number) =>
      withMongo(async (event: { cut?: boolean }, context) => {
        const items = context.mongo.db.collection(collection);
        await items.findOne({}, { session: context.mongo.session });
        if (event.cut) for (const socket of poolSockets()) proxy.blackholeConnection(socket.id, true);
        await items.insertOne({ sku: event.cut ? 'late' : 'warm' }, { session: context.mongo.session });
        return 'inserted';
      }, { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { retryWrites: true }, sessionGuard: false, ...(deadlineMarginMs === undefined ? {} : { deadlineMarginMs }) });

    it('gives the retry of an operation it closed a longer wait than that operation had: each later look waits twice as long', async () => {
      // Prepare: a margin of 2 s, so the looks after the deadline come 100, 200 and 400 ms apart; the retry, on a
      // live connection, is held by the server for 350 ms: past the second look of looks 100 ms apart
      const logger = new CaptureLogger();
      const handler = cutBeforeInsert('slow-retry', logger, 2_000);
      await handler({}, lambdaContext(10_000));
      rs.clearRecords();
      const release = holdNext('insert');

      // Act: the retry reaches the server (the first insert never does), and is let go 350 ms later
      const outcome = handler({ cut: true }, lambdaContext(3_000)).catch((thrown: unknown) => thrown);
      await vi.waitFor(() => expect(rs.commandsNamed('insert')).toHaveLength(1), { timeout: 5_000 });
      await sleep(350);
      release();
      const answered = await outcome;
      await closeMongoClient();

      // Assess: one connection closed (the cut one), the retry answered, its document written once
      expect(logger.withEvent('invocation.connectionsClosed')).toMatchObject([{ attributes: { mongodb: { connections: 1 } } }]);
      expect(answered).toBe('inserted');
      expect(rs.documents('shop', 'slow-retry').map((document) => document.sku)).toEqual(['warm', 'late']);
    });

    it('closes a retry that gets no answer either before the function times out, so the handler still answers', async () => {
      // Prepare: the default margin (500 ms); the retry, on a live connection, is never answered
      const logger = new CaptureLogger();
      const handler = cutBeforeInsert('dead-retry', logger);
      await handler({}, lambdaContext(10_000));
      rs.clearRecords();
      const release = holdNext('insert');
      const context = lambdaContext(1_000);

      // Act
      const outcome = await handler({ cut: true }, context).catch((thrown: unknown) => thrown);
      const leftWhenAnswered = context.getRemainingTimeInMillis();
      release();
      await closeMongoClient();

      // Assess: both connections closed, one look each; the invocation failed with its time not yet up
      expect(logger.withEvent('invocation.connectionsClosed')).toMatchObject([{ attributes: { mongodb: { connections: 1 } } }, { attributes: { mongodb: { connections: 1 } } }]);
      expect(outcome).toBeInstanceOf(MongoNetworkTimeoutError);
      expect(leftWhenAnswered).toBeGreaterThan(0);
      // the first insert never reached the server, the retry did (and waits there)
      expect(rs.commandsNamed('insert')).toHaveLength(1);
    });

    it('without command events, a link down entirely is still bounded: the driver\'s monitor interrupts the connection in use', async () => {
      // Prepare: the deadline is far; every socket, the monitor's included, stops answering between the find and the insert
      const handler = withMongo(async (event: { cut?: boolean }, context) => {
        const items = context.mongo.db.collection('link-down');
        await items.findOne({}, { session: context.mongo.session });
        if (event.cut) proxy.blackhole(true);
        await items.insertOne({ sku: event.cut ? 'late' : 'warm' }, { session: context.mongo.session });
        return 'inserted';
      }, { uri: proxy.uriFor(rs.uri), dbName: 'shop', clientOptions: { heartbeatFrequencyMS: 500, connectTimeoutMS: 500, serverSelectionTimeoutMS: 1_000 } });
      await handler({}, lambdaContext(10_000));

      // Act
      const outcome = await handler({ cut: true }, lambdaContext(60_000)).catch((thrown: unknown) => thrown);
      proxy.blackhole(false);
      await closeMongoClient();

      // Assess: the insert failed (its connection interrupted, the retry found no server) instead of waiting for ever
      expect(outcome).toBeInstanceOf(MongoError);
      expect((outcome as MongoError).name).toMatch(/^Mongo(ServerSelection|PoolCleared|Network)/);
      expect(rs.documents('shop', 'link-down').map((document) => document.sku)).toEqual(['warm']);
      expect(rs.lsidsSentIn('killSessions')).toEqual([]);
    });

    it("closes nothing, and says so, where the driver's internals are not the known ones", () => {
      // Prepare: a command in flight on connection 7, and clients whose insides do not look like driver 7's
      const command = { requestId: 1, commandName: 'insert', address: '127.0.0.1:1', connectionId: 7, lsid: undefined, owner: undefined };
      const noTopology = {} as MongoClient;
      const noPool = { topology: { s: { servers: new Map([['127.0.0.1:1', {}]]) } } } as unknown as MongoClient;
      let failed: Error | undefined;
      const known = { topology: { s: { servers: new Map([['127.0.0.1:1', { pool: { checkedOutConnections: new Set([{ id: 7, address: '127.0.0.1:1', onError: (error: Error) => (failed = error) }]) } }]]) } } } as unknown as MongoClient;

      // Act
      const results = [closeConnectionsOf(noTopology, [command], 'why'), closeConnectionsOf(noPool, [command], 'why'), closeConnectionsOf(known, [command], 'why')];

      // Assess
      expect(results).toEqual([undefined, undefined, 1]);
      expect(failed).toBeInstanceOf(MongoNetworkTimeoutError);
      expect(failed?.message).toBe('why');
    });

    it('takes a check-out for abandoned once every invocation opened before it is over its deadline, or, with none open, once older than the longest timeout, and never one checked out after the mark given', () => {
      // Prepare: the pool's check-out events, from an emitter; two invocations, the second opened after the first check-out
      const pool = new EventEmitter();
      const clock = 1_000_000;
      const checkouts = new CheckoutsInFlight(pool as unknown as MongoClient, () => clock);
      const checkOut = (connectionId: number) => pool.emit('connectionCheckedOut', { address: 'db:27017', connectionId });
      const first = { openedAt: 0, overDeadline: false };
      const second = { openedAt: 0, overDeadline: false };
      first.openedAt = checkouts.open(first, 3_000);
      checkOut(1);
      const afterOne = checkouts.mark();
      second.openedAt = checkouts.open(second, 6_000);
      const beforeTwo = checkouts.mark();
      checkOut(2);
      checkOut(3);
      pool.emit('connectionCheckedIn', { address: 'db:27017', connectionId: 3 });
      const ids = () => checkouts.abandoned().map((connection) => connection.connectionId);

      // Act + Assess: connection 1 can only be the first's; 2 could be either's; 3 went back to the pool
      const atStart = ids();
      first.overDeadline = true;
      const firstOver = ids();
      second.overDeadline = true;
      const bothOver = ids();
      const byMark = [checkouts.abandoned(afterOne), checkouts.abandoned(beforeTwo)].map((found) => found.map((connection) => connection.connectionId));
      checkouts.close(first);
      checkouts.close(second);
      const noneOpen = [checkouts.abandoned(undefined, clock + 5_999).length, checkouts.abandoned(undefined, clock + 6_000).length];

      expect(atStart).toEqual([]);
      expect(firstOver).toEqual([1]);
      expect(bothOver).toEqual([1, 2]);
      // a check-out after the mark (a command sent since the last look) is not taken yet
      expect(byMark).toEqual([[1], [1]]);
      expect(noneOpen).toEqual([0, 2]);
    });

    it('interrupts a write given no session: killSessions names the implicit session its handler gave it', async () => {
      // Prepare: withMongo runs the handler as the invocation's, so the insert is known as its own without { session }
      const logger = new CaptureLogger();
      const handler = withMongo(async (_event: unknown, context) => context.mongo.db.collection('hung').insertOne({ sku: 'never' }), { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { monitorCommands } });
      const warm = withMongo(async (_event: unknown, context) => context.mongo.db.collection('items').findOne({}, { session: context.mongo.session }), { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { monitorCommands } });
      await warm({}, lambdaContext(10_000));
      rs.clearRecords();
      rs.failNext({ command: 'insert', hang: true, code: 0 });
      const context = lambdaContext(1_000);

      // Act
      const error = await handler({}, context).catch((thrown: unknown) => thrown);
      await closeMongoClient();

      // Assess: the insert carried an implicit session, not the invocation's; both were named in killSessions
      expect(error).toMatchObject({ code: 11601, codeName: 'Interrupted' });
      const [insert] = rs.commandsNamed('insert');
      const [interrupted] = logger.withEvent('invocation.interrupted');
      const own = (interrupted?.attributes.mongodb as { lsid?: string }).lsid;
      expect(insert!.lsid).toMatch(/^[0-9a-f]{32}$/);
      expect(insert!.lsid).not.toBe(own);
      expect(rs.lsidsSentIn('killSessions').sort()).toEqual([own, insert!.lsid].sort());
      expect(rs.documents('shop', 'hung')).toEqual([]);
    });

    it("never names a session another invocation may get: an implicit one whose operation answers before killSessions applies is not handed on by the driver", async () => {
      // Prepare: the server holds the session-less find of the first invocation and then killSessions, so that the
      // find answers (its implicit session going back to the driver's pool) while killSessions is on its way; the
      // driver hands the last session released to the next one started: the second invocation's, whose find hangs
      const logger = new CaptureLogger();
      let found = (): void => undefined;
      const options = { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { monitorCommands } };
      const first = withMongo(async (_event: unknown, context) => {
        const item = await context.mongo.db.collection('items').findOne({});
        found();
        return item;
      }, options);
      const second = withMongo(async (_event: unknown, context) => context.mongo.db.collection('items').findOne({}, { session: context.mongo.session }), options);
      await first({}, lambdaContext(10_000));
      rs.clearRecords();
      const [releaseFind, releaseKill] = [holdNext('find'), holdNext('killSessions')];

      // Act
      const firstFound = new Promise<void>((resolve) => (found = resolve));
      const firstAnswer = first({}, lambdaContext(1_000));
      await expect.poll(() => rs.commandsNamed('killSessions').length, { timeout: 5_000 }).toBe(1);
      releaseFind();
      await firstFound;
      rs.failNext({ command: 'find', code: 0, hang: true });
      const secondAnswer = second({}, lambdaContext(1_500)).catch((thrown: unknown) => thrown);
      await expect.poll(() => rs.commandsNamed('find').length, { timeout: 5_000 }).toBe(2);
      releaseKill();
      const answers = [await firstAnswer, await secondAnswer];
      await closeMongoClient();

      // Assess: the first invocation's find answered and its implicit session was named in the first killSessions;
      // the second invocation's session was another, which only its own deadline named
      const [firstFind, secondFind] = rs.commandsNamed('find');
      const [kill, secondKill] = rs.lsidsSentInEach('killSessions');
      expect(answers[0]).toBeNull();
      expect(firstFind!.lsid).toMatch(/^[0-9a-f]{32}$/);
      expect(secondFind!.lsid).not.toBe(firstFind!.lsid);
      expect(kill).toContain(firstFind!.lsid);
      expect(kill).not.toContain(secondFind!.lsid);
      expect(secondKill).toContain(secondFind!.lsid);
      expect(answers[1]).toMatchObject({ code: 11601 });
    });

    it("leaves the invocation's session out of the driver's pool when killSessions was not answered in time: it may still be applied", async () => {
      // Prepare: the server holds killSessions past the deadline margin, the time the layer gives it, and the
      // invocation's find answers meanwhile; the second invocation's find hangs
      const logger = new CaptureLogger();
      const options = { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { monitorCommands } };
      const finder = withMongo(async (_event: unknown, context) => context.mongo.db.collection('items').findOne({}, { session: context.mongo.session }), options);
      await finder({}, lambdaContext(10_000));
      rs.clearRecords();
      const [releaseFind, releaseKill] = [holdNext('find'), holdNext('killSessions')];

      // Act: the first invocation ends once the layer gave up on killSessions; then the second starts
      const firstAnswer = finder({}, lambdaContext(1_000));
      await expect.poll(() => rs.commandsNamed('killSessions').length, { timeout: 5_000 }).toBe(1);
      releaseFind();
      const first = await firstAnswer;
      rs.failNext({ command: 'find', code: 0, hang: true });
      const secondAnswer = finder({}, lambdaContext(1_500)).catch((thrown: unknown) => thrown);
      await expect.poll(() => rs.commandsNamed('find').length, { timeout: 5_000 }).toBe(2);
      releaseKill();
      const second = await secondAnswer;
      await closeMongoClient();

      // Assess: the layer reported the failed interrupt; the late killSessions named the first session only, which
      // the second invocation did not get: its find ended by its own deadline
      const [firstFind, secondFind] = rs.commandsNamed('find');
      const [kill, secondKill] = rs.lsidsSentInEach('killSessions');
      expect(first).toBeNull();
      expect(logger.withEvent('cleanup.failed').map((record) => record.message)).toEqual(["Interrupting the invocation's operations at its deadline failed (killSessions)"]);
      expect(kill).toEqual([firstFind!.lsid]);
      expect(secondFind!.lsid).not.toBe(firstFind!.lsid);
      expect(secondKill).toEqual([secondFind!.lsid]);
      expect(second).toMatchObject({ code: 11601 });
    });

    it('closes nothing when the operation answers the interrupt, nor for a handler busy with other work', async () => {
      // Prepare
      const logger = new CaptureLogger();
      const hung = withMongo(async (_event: unknown, context) => context.mongo.db.collection('hung').insertOne({ sku: 'never' }, { session: context.mongo.session }), { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { monitorCommands } });
      const busy = withMongo(async (_event: unknown, context) => {
        await context.mongo.db.collection('items').findOne({}, { session: context.mongo.session });
        await sleep(900);
        return 'done';
      }, { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, clientOptions: { monitorCommands } });
      await busy({}, lambdaContext(10_000));
      rs.failNext({ command: 'insert', hang: true, code: 0 });

      // Act
      const answers = await Promise.all([hung({}, lambdaContext(1_000)).catch((thrown: unknown) => thrown), busy({}, lambdaContext(1_000))]);
      await closeMongoClient();

      // Assess: both were interrupted at their deadline, no connection was closed
      expect(answers[0]).toMatchObject({ code: 11601 });
      expect(answers[1]).toBe('done');
      expect(rs.lsidsSentIn('killSessions')).toHaveLength(2);
      expect(logger.withEvent('invocation.interrupted')).toHaveLength(2);
      expect(logger.withEvent('invocation.connectionsClosed')).toEqual([]);
    });

    it('under the middy middleware, without command events: a write given no session, which the server is not asked to interrupt, ends past the deadline', async () => {
      // Prepare: the insert carries an implicit session, which nothing attributes to the invocation; the server holds it
      const logger = new CaptureLogger();
      const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
        await context.mongo.db.collection('items').findOne({}, { session: context.mongo.session });
        await context.mongo.db.collection('hung').insertOne({ sku: 'never' });
        return 'inserted';
      }).use(mongo({ uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, sessionGuard: false, clientOptions: { retryWrites: false } }));
      rs.failNext({ command: 'insert', hang: true, code: 0 });
      const context = lambdaContext(1_000) as Context & { mongo: MongoContext };

      // Act
      const outcome = await handler({}, context).catch((thrown: unknown) => thrown);
      await closeMongoClient();

      // Assess: killSessions named the invocation's session, not the insert's; the insert's connection was closed
      const [find] = rs.commandsNamed('find');
      const [insert] = rs.commandsNamed('insert');
      expect(insert!.lsid).toMatch(/^[0-9a-f]{32}$/);
      expect(insert!.lsid).not.toBe(find!.lsid);
      expect(rs.lsidsSentIn('killSessions')).toEqual([find!.lsid]);
      expect(outcome).toBeInstanceOf(MongoNetworkTimeoutError);
      expect(logger.withEvent('invocation.connectionsClosed')).toMatchObject([{ level: 'warn', attributes: { mongodb: { requestId: context.awsRequestId, connections: 1 } } }]);
      expect(rs.documents('shop', 'hung')).toEqual([]);
    });

    it("never closes the connection of an invocation whose deadline has not come: another's dead socket waits for it", async () => {
      // Prepare: the first invocation (deadline far) waits on a find the server holds; the second, opened after it,
      // writes into a socket that died unseen and reaches its deadline first. Its insert could be the first
      // invocation's as far as the pool's check-outs tell, so it is closed only once the first one has finished.
      const logger = new CaptureLogger();
      const options = { uri: proxy.uriFor(rs.uri), dbName: 'shop', logger, sessionGuard: false, clientOptions: { retryWrites: false } };
      const order: string[] = [];
      let held: number | undefined;
      const slow = withMongo(async (_event: unknown, context) => {
        const item = await context.mongo.db.collection('items').findOne({}, { session: context.mongo.session });
        order.push('slow answered');
        return item;
      }, options);
      const cut = withMongo(async (_event: unknown, context) => {
        await context.mongo.db.collection('items').findOne({}, { session: context.mongo.session });
        for (const socket of poolSockets()) if (socket.id !== held) proxy.blackholeConnection(socket.id, true);
        await context.mongo.db.collection('unseen-wait').insertOne({ sku: 'late' }, { session: context.mongo.session });
        return 'inserted';
      }, options);
      const release = holdNext('find');

      // Act
      const slowAnswer = slow({}, lambdaContext(30_000));
      await expect.poll(() => rs.commandsNamed('find').length, { timeout: 5_000 }).toBe(1);
      held = poolSockets()[0]?.id;
      const cutAnswer = cut({}, lambdaContext(1_000)).then(
        (value) => (order.push('cut answered'), value),
        (error: unknown) => (order.push('cut failed'), error),
      );
      await expect.poll(() => rs.commandsNamed('killSessions').length, { timeout: 5_000 }).toBe(1);
      await sleep(600); // longer than the few round trips the layer waits after killSessions
      const cutPendingAtRelease = order.length === 0;
      release();
      const answers = [await slowAnswer, await cutAnswer];
      await closeMongoClient();

      // Assess: the held find answered on its own connection (one find, not retried) before the cut insert failed
      expect(cutPendingAtRelease).toBe(true);
      expect(answers[0]).toBeNull();
      expect(answers[1]).toBeInstanceOf(MongoNetworkTimeoutError);
      expect(order).toEqual(['slow answered', 'cut failed']);
      expect(rs.commandsNamed('find')).toHaveLength(2);
      expect(rs.commandsNamed('insert')).toEqual([]);
    });
  });

  it('exposes the signal to the handler, not yet aborted while time is left', async () => {
    const handler = withMongo(async (_event: unknown, context) => ({ aborted: context.mongo.signal.aborted, isSignal: context.mongo.signal instanceof AbortSignal }), { uri: server.uri, dbName: 'shop' });
    expect(await handler({}, lambdaContext(5_000))).toEqual({ aborted: false, isSignal: true });
  });
});
