// Freeze/thaw costs nothing on a hot container, the invocation deadline signal, and graceful shutdown,
// under the real Lambda runtime client.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLambdaContainer, stopAllLambdaContainers } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

describe('under the Lambda runtime: hot path, deadline, shutdown', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await stopAllLambdaContainers();
    server.blackhole(false);
    server.clearRecords();
    server.dropAll();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('sends no extra command per invocation on a hot container: the server sees only the handler’s commands', async () => {
    // Prepare: the probe is due only after a minute idle, so a stalled machine cannot turn a back-to-back gap into one
    // (a library that pinged on every warm invocation would still show)
    const fn = await startLambdaContainer({ entry: 'test/fixtures/freeze/library.ts', env: { MONGODB_URI: server.uri, FIXTURE_PROBE_AFTER_MS: '60000' } });
    await fn.invoke({ op: 'insertOne', name: 'cold' });
    server.clearRecords();

    // Act: back to back, as a busy function is invoked
    for (let i = 0; i < 20; i++) {
      const result = await fn.invoke({ op: i % 2 ? 'find' : 'insertOne', name: `hot-${i}` });
      expect(result.ok).toBe(true);
    }

    // Assess
    expect(server.commands.map((command) => command.name)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'find' : 'insert')));
  });

  it('pings once after a gap, and not on the invocations that follow it', async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: 'test/fixtures/freeze/library.ts', env: { MONGODB_URI: server.uri } });
    await fn.invoke({ op: 'insertOne', name: 'cold' });
    server.clearRecords();

    // Act
    await fn.freeze();
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    await fn.invoke({ op: 'find' });
    await fn.invoke({ op: 'find' });

    // Assess
    expect(server.commands.map((command) => command.name)).toEqual(['ping', 'find', 'find']);
  });

  it('fires context.mongo.signal a margin before the Lambda timeout, so a hanging query fails cleanly', async () => {
    // Prepare: the server stops answering after a warm-up
    // The handler's answer waits for the deadline's killSessions (which the silent server never answers) for half the
    // margin: a 1.5 s margin leaves the other 750 ms for the answer to get out on a loaded machine
    const fn = await startLambdaContainer({ entry: 'test/fixtures/lambda/deadline.ts', env: { MONGODB_URI: server.uri, FIXTURE_MARGIN_MS: '1500' }, timeoutMs: 3_000 });
    expect((await fn.invoke({})).result).toEqual({ aborted: false, found: false });
    server.blackhole(true);

    // Act
    const result = await fn.invoke({});

    // Assess: the handler got control back and answered (the emulator kills a function at its timeout, as Lambda
    // does: the result would be Sandbox.Timedout), and what aborted the query was the deadline, 1500 ms early
    expect(result.ok).toBe(true);
    expect(result.result).toMatchObject({ aborted: true, errorName: 'MongoOperationTimeoutError', reason: { name: 'TimeoutError', message: 'The invocation is 1500 ms from its Lambda timeout' } });
  });

  it('closes the client on SIGTERM within the shutdown window when the internal extension is registered', async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: 'test/fixtures/lambda/graceful.ts', env: { MONGODB_URI: server.uri, POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
    await fn.invoke({ name: 'a' });
    await fn.invoke({ name: 'b' });
    const lsid = server.commandsNamed('insert')[0]?.lsid;

    // Act: Lambda retires the environment
    const retired = await fn.retire(500);

    // Assess
    expect(fn.extensionNames).toEqual(['serverless-mongodb']);
    expect(retired).toMatchObject({ sigterm: true, signal: 'SIGTERM' });
    expect(server.lsidsSentIn('endSessions')).toContain(lsid);
    await expect.poll(() => server.openConnectionCount()).toBe(0);
    const events = fn.jsonLogs().map((line) => (line.mongodb as { event?: string } | undefined)?.event);
    expect(events).toEqual(expect.arrayContaining(['extension.registered', 'shutdown.started', 'shutdown.finished']));
  });

  it('without the extension Lambda sends no SIGTERM, and the server is left with open connections (the control)', async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: 'test/fixtures/lambda/graceful.ts', env: { MONGODB_URI: server.uri, FIXTURE_REGISTER_EXTENSION: 'false' } });
    await fn.invoke({ name: 'a' });

    // Act
    const retired = await fn.retire(500);

    // Assess
    expect(retired).toMatchObject({ sigterm: false, signal: 'SIGKILL' });
    expect(server.commandsNamed('endSessions')).toHaveLength(0);
  });
});
