// The library under the real Lambda Runtime Interface Client (Node 22, FaaS detected by the driver),
// asserting what the MongoDB server saw and what the function logged.
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startLambdaContainer, stopAllLambdaContainers } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const MIDDY_FIXTURE = 'test/fixtures/lambda/middy-items.ts';
const WITH_MONGO_FIXTURE = 'test/fixtures/lambda/with-mongo-items.ts';

/** Every log line's `mongodb.event`, in order. */
function lifecycle(logs: Array<Record<string, unknown>>): string[] {
  return logs.map((line) => (line.mongodb as { event?: string } | undefined)?.event).filter((event): event is string => event !== undefined);
}

describe('under the Lambda runtime', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await stopAllLambdaContainers();
    server.clearRecords();
    server.dropAll();
  });
  afterAll(async () => {
    await server.stop();
  });

  function container(entry = MIDDY_FIXTURE, env: Record<string, string> = {}) {
    return startLambdaContainer({
      entry,
      env: { MONGODB_URI: server.uri, MONGODB_DB_NAME: 'shop', POWERTOOLS_LOG_LEVEL: 'DEBUG', ...env },
    });
  }

  it('connects once per container, during init, reused while warm, 2 sockets (monitor + pool)', async () => {
    // Prepare
    const fn = await container();
    // init is over: mongo() started connecting at module scope (prefetch), before any invocation
    await expect.poll(() => lifecycle(fn.jsonLogs())).toContain('client.created');
    expect(server.connections.length).toBeGreaterThan(0);
    expect(server.commands).toEqual([]);

    // Act
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await fn.invoke({ action: 'insert', name: `item-${i}` }));

    // Assess
    expect(results.every((result) => result.ok)).toBe(true);
    expect(results[0]?.result).toMatchObject({ inserted: 'item-0', node: expect.stringMatching(/^v22\./) });
    const events = lifecycle(fn.jsonLogs());
    expect(events.filter((event) => event === 'client.created')).toHaveLength(1);
    expect(events.filter((event) => event === 'client.reused')).toHaveLength(5);
    expect(fn.events('client.created')[0]).toMatchObject({
      level: 'INFO',
      mongodb: { cold: true, appName: 'test-function' },
    });
    expect(fn.events('client.reused')[0]).toMatchObject({
      function_name: 'test-function',
      mongodb: { cold: false },
    });
    expect(server.connections).toHaveLength(2);
    expect(server.documents('shop', 'items')).toHaveLength(5);
  });

  it('sends one lsid per invocation and ends the session after success and after an error', async () => {
    // Prepare
    const fn = await container();

    // Act
    const first = await fn.invoke({ action: 'insert', name: 'a' });
    const failed = await fn.invoke({ action: 'insert-then-fail', name: 'b' });
    const third = await fn.invoke({ action: 'find' });

    // Assess
    expect(first.ok).toBe(true);
    expect(failed).toMatchObject({ ok: false, error: { errorType: 'Error', errorMessage: 'failed after inserting b' } });
    expect(third).toMatchObject({ ok: true, result: { names: ['a', 'b'] } });
    const lsids = [...server.commandsNamed('insert'), ...server.commandsNamed('find')].map((command) => command.lsid);
    expect(lsids).toHaveLength(3);
    // ended sessions go back to the driver's pool: a leaked one would force a new lsid
    expect(new Set(lsids).size).toBe(1);
    expect(lifecycle(fn.jsonLogs()).filter((event) => event === 'session.ended')).toHaveLength(3);
  });

  it('commits on success and aborts on error in transaction mode', async () => {
    // Prepare
    const fn = await container(MIDDY_FIXTURE, { FIXTURE_TRANSACTION: 'true' });

    // Act
    await fn.invoke({ action: 'insert', name: 'committed' });
    const failed = await fn.invoke({ action: 'insert-then-fail', name: 'aborted' });

    const found = await fn.invoke({ action: 'find' });

    // Assess: the server committed the first invocation's transaction and was told to abort the second's; a later
    // invocation reads only the committed document
    expect(failed.ok).toBe(false);
    const [committedInsert, abortedInsert] = server.commandsNamed('insert');
    expect(server.commandsNamed('commitTransaction').slice(0, 1)).toEqual([expect.objectContaining({ lsid: committedInsert?.lsid, txnNumber: committedInsert?.txnNumber })]);
    expect(server.commandsNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: abortedInsert?.lsid, txnNumber: abortedInsert?.txnNumber })]);
    expect(found).toMatchObject({ ok: true, result: { names: ['committed'] } });
  });

  it('fails a cold start cleanly while the server is down, and the next invocation connects once it is back', async () => {
    // Prepare
    await server.stop();
    const fn = await container(MIDDY_FIXTURE, { MONGODB_URI: `${server.uri}${server.uri.includes('?') ? '&' : '?'}serverSelectionTimeoutMS=1000` });

    // Act
    const down = await fn.invoke({ action: 'insert', name: 'lost' });
    await server.start();
    const back = await fn.invoke({ action: 'insert', name: 'kept' });

    // Assess
    expect(down).toMatchObject({ ok: false, error: { errorType: 'ConnectionError' } });
    expect(down.error?.errorMessage).toMatch(/Could not connect to MongoDB at mongodb:\/\/127\.0\.0\.1:\d+\/.* within serverSelectionTimeoutMS=1000/);
    expect(back).toMatchObject({ ok: true, result: { inserted: 'kept' } });
    expect(lifecycle(fn.jsonLogs())).toEqual(expect.arrayContaining(['client.connect.failed', 'client.created']));
  });

  it('with prefetch: false connects at the first invocation instead of during init', async () => {
    // Prepare: the fixture's init ends with a ping to a second server on a client made after mongo() (same driver);
    // once init is over, a connect that mongo() had started would have reached this server first
    const marker = await startWireServer();
    onTestFinished(() => marker.stop());
    const fn = await container(MIDDY_FIXTURE, { FIXTURE_PREFETCH: 'false', FIXTURE_INIT_MARKER_URI: marker.uri });
    const duringInit = [...server.connections];

    // Act
    const first = await fn.invoke({ action: 'insert', name: 'a' });

    // Assess: nothing reached the server before the first invocation; it connected then
    expect(marker.commandsNamed('ping')).toHaveLength(1);
    expect(duringInit).toEqual([]);
    expect(first.ok).toBe(true);
    expect(server.connections.length).toBeGreaterThan(0);
    expect(fn.events('client.created')[0]).toMatchObject({ function_request_id: first.requestId });
  });

  it('runs withMongo handlers the same way', async () => {
    const fn = await container(WITH_MONGO_FIXTURE);
    const results = [await fn.invoke({ name: 'x' }), await fn.invoke({ name: 'y' })];
    expect(results.map((result) => result.result)).toEqual([{ inserted: 'x' }, { inserted: 'y' }]);
    expect(new Set(server.commandsNamed('insert').map((command) => command.lsid)).size).toBe(1);
  });
});

describe('secrets under the Lambda runtime', () => {
  const PASSWORD = 'Lambda:p@ss/w0rd';
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet', users: [{ username: 'app', password: PASSWORD }] });
  });
  afterAll(async () => {
    await stopAllLambdaContainers();
    await server.stop();
  });

  it('never prints the password, in success and failure, at DEBUG level', async () => {
    // Prepare
    const withPassword = (password: string) => server.uri.replace('mongodb://', `mongodb://app:${encodeURIComponent(password)}@`);
    const good = await startLambdaContainer({ entry: MIDDY_FIXTURE, env: { MONGODB_URI: withPassword(PASSWORD), MONGODB_DB_NAME: 'shop', POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
    const bad = await startLambdaContainer({ entry: MIDDY_FIXTURE, env: { MONGODB_URI: withPassword(`${PASSWORD}x`), MONGODB_DB_NAME: 'shop', POWERTOOLS_LOG_LEVEL: 'DEBUG' } });

    // Act
    const ok = await good.invoke({ action: 'insert', name: 'a' });
    const failed = await bad.invoke({ action: 'insert', name: 'b' });

    // Assess
    expect(ok.ok).toBe(true);
    expect(failed).toMatchObject({ ok: false, error: { errorType: 'ConnectionError' } });
    const output = [...good.logs, ...bad.logs, JSON.stringify(failed)].join('\n');
    expect(output).toContain('mongodb://app:****@127.0.0.1');
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 'p@ss/w0rd', encodeURIComponent('p@ss/w0rd')]) {
      expect(output).not.toContain(secret);
    }
  });
});
