import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, ConnectionError, withMongo } from '../src/index.js';
import { startDeadline } from '../src/core/invocation/deadline.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

/** A Lambda context's clock: the time left until a fixed deadline `ms` from now. */
function timeoutIn(ms: number): { getRemainingTimeInMillis: () => number } {
  const at = Date.now() + ms;
  return { getRemainingTimeInMillis: () => at - Date.now() };
}

describe('invocation deadline', () => {
  it('fires the margin before the remaining time runs out, with a TimeoutError reason', async () => {
    // Prepare
    const deadline = startDeadline(timeoutIn(150), 100);

    // Act
    await new Promise((resolve) => deadline.signal.addEventListener('abort', resolve, { once: true }));

    // Assess
    expect(deadline.signal.reason).toMatchObject({ name: 'TimeoutError' });
    expect(deadline.remainingMs()).toBe(0);
  });

  it('never fires without a Lambda context', () => {
    const deadline = startDeadline(undefined, 100);
    expect(deadline.remainingMs()).toBe(Number.POSITIVE_INFINITY);
    expect(deadline.signal.aborted).toBe(false);
  });

  it('does not fire once disposed', async () => {
    const deadline = startDeadline(timeoutIn(30), 0);
    const { signal } = deadline;
    deadline.dispose();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(signal.aborted).toBe(false);
  });

  it('makes its timer only when the signal is read', () => {
    // Prepare
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');

    // Act
    const deadline = startDeadline(timeoutIn(60_000), 500);
    const untouched = setTimeoutSpy.mock.calls.length;
    void deadline.signal;
    void deadline.signal;
    const read = setTimeoutSpy.mock.calls.length;
    deadline.dispose();
    setTimeoutSpy.mockRestore();

    // Assess
    expect(untouched).toBe(0);
    expect(read).toBe(1);
  });

  it('reads as aborted when first read after its moment', async () => {
    const deadline = startDeadline(timeoutIn(20), 0);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toMatchObject({ name: 'TimeoutError' });
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

  it('exposes the signal to the handler, not yet aborted while time is left', async () => {
    const handler = withMongo(async (_event: unknown, context) => ({ aborted: context.mongo.signal.aborted, isSignal: context.mongo.signal instanceof AbortSignal }), { uri: server.uri, dbName: 'shop' });
    expect(await handler({}, lambdaContext(5_000))).toEqual({ aborted: false, isSignal: true });
  });
});
