/**
 * The connection secret fetched at run time with the real AWS SDK clients, pointed at a local Secrets Manager /
 * SSM endpoint on 127.0.0.1 that checks their SigV4 signatures; the MongoDB side is the wire server with SCRAM
 * users whose password the tests change. Assertions are on what the endpoint and the server saw.
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeMongoClient, ConfigurationError, getMongoClient, withMongo, type MongoInvocationOptions } from '../src/index.js';
import { cachedClientCount } from '../src/core/client/cache.js';
import { getMongoClient as getVercelClient } from '../src/vercel.js';
import { CaptureLogger, errorText } from './support/capture-logger.js';
import { lambdaContext } from './support/lambda-context.js';
import { startSecretsEndpoint, type SecretsEndpoint } from './support/secrets-endpoint.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const CREDENTIALS = { accessKeyId: 'AKIDSECRETSTEST0001', secretAccessKey: 'fake-secret-access-key-for-tests', sessionToken: 'fake-session-token-1' };
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  AWS_REGION: 'us-east-1',
  // Never the instance metadata service: the credentials come from the variables above.
  AWS_EC2_METADATA_DISABLED: 'true',
};
const PW1 = 'first-Pa55word-2f9c';
const PW2 = 'second-Pa55word-7d1e';
const WRONG = 'wrong-Pa55word-0b3a';
const SECRET_ID = 'prod/shop/mongodb';

describe('connection secret fetched at run time (Secrets Manager, SSM) and rotated', () => {
  let server: WireServer;
  let endpoint: SecretsEndpoint;
  const logger = new CaptureLogger();
  const saved: Record<string, string | undefined> = {};

  const uriWith = (password: string) => server.uri.replace('mongodb://', `mongodb://app:${encodeURIComponent(password)}@`);
  const options = (extra: Partial<MongoInvocationOptions> = {}, secret: Record<string, unknown> = {}): MongoInvocationOptions => ({
    uri: { secretId: SECRET_ID, clientConfig: { endpoint: endpoint.url }, ...secret },
    dbName: 'shop',
    logger,
    // Every invocation after the first gets the freeze/thaw check with a probe, as after a long freeze.
    thaw: { settleAfterMs: 0, probeAfterMs: 0 },
    ...extra,
  });
  const insertHandler = (opts: MongoInvocationOptions) =>
    withMongo(async (event: { n: number }, context) => {
      await context.mongo.db.collection('items').insertOne({ n: event.n }, { session: context.mongo.session });
      return context.mongo.session.id?.id.toString('hex');
    }, opts);
  /** Every text a secret could leak into: log lines (as JSON), and the error's message, stack, causes and inspection. */
  const leaks = (error: unknown, values: string[]) => {
    const text = [...logger.lines(), error === undefined ? '' : errorText(error), error === undefined ? '' : inspect(error, { depth: 10 })].join('\n');
    return values.filter((value) => text.includes(value) || text.includes(encodeURIComponent(value)));
  };

  beforeAll(async () => {
    for (const [name, value] of Object.entries(AWS_ENV)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    server = await startWireServer({ topology: 'replicaSet', users: [{ username: 'app', password: PW1 }] });
    endpoint = await startSecretsEndpoint(CREDENTIALS);
  });
  beforeEach(() => {
    server.setPassword('app', PW1);
    endpoint.put(SECRET_ID, uriWith(PW1));
  });
  afterEach(async () => {
    await closeMongoClient();
    endpoint.hang(false);
    await endpoint.start();
    server.clearRecords();
    server.dropAll();
    endpoint.requests.length = 0;
    logger.records.length = 0;
  });
  afterAll(async () => {
    await server.stop();
    await endpoint.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('rotation between invocations: no invocation fails, the secret is fetched again exactly once, every session is ended', async () => {
    // Prepare: fetched at init (prefetch), the first invocation uses the fetched value
    const handler = insertHandler(options({ prefetch: true }));
    const first = await handler({ n: 1 }, lambdaContext());
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(1);

    // Act: the password changes on the server and in the secret; the connections die during a freeze
    server.setPassword('app', PW2);
    endpoint.put(SECRET_ID, uriWith(PW2));
    server.closeAll();
    const results = [];
    for (let n = 2; n <= 4; n++) results.push(await handler({ n }, lambdaContext()));
    await closeMongoClient();

    // Assess: every invocation wrote its document; one fetch at init and one after the refusal
    expect(results).toHaveLength(3);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 2, 3, 4]);
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(2);
    expect(endpoint.requests.every((request) => request.refused === undefined)).toBe(true);
    const auth = server.authentications.map((attempt) => `${attempt.ok ? 'ok' : 'refused'}`);
    expect(auth[0]).toBe('ok');
    expect(auth).toContain('refused');
    expect(auth.at(-1)).toBe('ok');
    expect(logger.withEvent('secret.rotated')).toHaveLength(1);
    expect(logger.withEvent('session.ended')).toHaveLength(4);
    // The sessions of the rotated client reached the server's endSessions when it closed.
    await expect.poll(() => server.commandsNamed('endSessions').flatMap((command) => (command.body.endSessions as Array<{ id: { toString(encoding: string): string } }>).map((lsid) => lsid.id.toString('hex')))).toEqual(expect.arrayContaining([results[2]]));
    expect(first).toMatch(/^[0-9a-f]{32}$/);
    expect(leaks(undefined, [PW1, PW2])).toEqual([]);
  });

  it('without the freeze/thaw probe, a refusal inside the handler fails that invocation only: the next one fetches the secret again', async () => {
    // Prepare
    const handler = insertHandler(options({ thaw: false }));
    await handler({ n: 1 }, lambdaContext());
    server.setPassword('app', PW2);
    endpoint.put(SECRET_ID, uriWith(PW2));
    await server.closeAllSeen();

    // Act
    const failure = await handler({ n: 2 }, lambdaContext()).catch((error: unknown) => error);
    await handler({ n: 3 }, lambdaContext());

    // Assess: the handler's own insert met the refusal (the driver's error); the next invocation rotated
    expect(failure).toMatchObject({ code: 18 });
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 3]);
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(2);
    expect(logger.withEvent('secret.rotated')).toHaveLength(1);
  });

  it('the endpoint down at cold start: a clear error naming the secret, nothing cached, the next invocation recovers', async () => {
    // Prepare
    await endpoint.stop();
    const handler = insertHandler(options({ prefetch: true }, { clientConfig: { endpoint: endpoint.url, maxAttempts: 1 } }));

    // Act
    const failure = await handler({ n: 1 }, lambdaContext()).catch((error: unknown) => error);
    const cachedAfterFailure = cachedClientCount();
    await endpoint.start();
    await handler({ n: 2 }, lambdaContext());

    // Assess
    expect(failure).toMatchObject({ name: 'ConnectionError', code: 'SECRET_FETCH_FAILED' });
    expect((failure as Error).message).toContain(`the Secrets Manager secret "${SECRET_ID}"`);
    expect((failure as Error).message).toContain('secretsmanager:GetSecretValue');
    expect(cachedAfterFailure).toBe(0);
    expect(logger.withEvent('secret.fetch.failed').length).toBeGreaterThanOrEqual(1);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([2]);
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(1);
    expect(server.authentications.filter((attempt) => !attempt.ok)).toEqual([]);
  });

  it('a silent endpoint: the fetch is abandoned at the invocation deadline (DEADLINE_EXCEEDED naming the secret), the next invocation fetches again', async () => {
    // Prepare
    endpoint.hang();
    const handler = insertHandler(options({}, { clientConfig: { endpoint: endpoint.url, maxAttempts: 1 } }));

    // Act: 1 s left with the default 500 ms margin: the deadline comes while the endpoint is silent
    const failure = await handler({ n: 1 }, lambdaContext(1000)).catch((error: unknown) => error);
    endpoint.hang(false);
    await handler({ n: 2 }, lambdaContext());

    // Assess
    expect(failure).toMatchObject({ name: 'ConnectionError', code: 'DEADLINE_EXCEEDED' });
    expect((failure as Error).message).toContain(`the Secrets Manager secret "${SECRET_ID}"`);
    expect(endpoint.requests.filter((request) => request.id === SECRET_ID)).toHaveLength(2);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([2]);
  });

  it('a wrong secret after rotation: SECRET_REJECTED naming the secret and no value anywhere, nothing cached, no retry storm', async () => {
    // Prepare
    const handler = insertHandler(options());
    await handler({ n: 1 }, lambdaContext());
    server.setPassword('app', PW2);
    endpoint.put(SECRET_ID, uriWith(WRONG));
    server.closeAll();

    // Act: two invocations while the secret is wrong
    const failure = await handler({ n: 2 }, lambdaContext()).catch((error: unknown) => error);
    const cachedAfterFailure = cachedClientCount();
    const again = await handler({ n: 3 }, lambdaContext()).catch((error: unknown) => error);

    // Assess
    expect(failure).toMatchObject({ name: 'ConnectionError', code: 'SECRET_REJECTED' });
    expect((failure as Error).message).toContain(`the Secrets Manager secret "${SECRET_ID}"`);
    expect((failure as Error).message).toContain('also after fetching it again');
    expect(cachedAfterFailure).toBe(0);
    expect(again).toMatchObject({ code: 'SECRET_REJECTED' });
    expect((again as Error).message).toContain('not fetched again');
    // One fetch at the first invocation, one after the refusal, none for the second failing invocation.
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(2);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1]);
    expect(leaks(failure, [PW1, PW2, WRONG])).toEqual([]);
    expect(leaks(again, [PW1, PW2, WRONG])).toEqual([]);
  });

  it('a wrong secret fixed later: the next invocation after minRefetchIntervalMs fetches it and connects', async () => {
    // Prepare
    const handler = insertHandler(options({}, { minRefetchIntervalMs: 0 }));
    await handler({ n: 1 }, lambdaContext());
    server.setPassword('app', PW2);
    endpoint.put(SECRET_ID, uriWith(WRONG));
    server.closeAll();
    const failure = await handler({ n: 2 }, lambdaContext()).catch((error: unknown) => error);

    // Act
    endpoint.put(SECRET_ID, uriWith(PW2));
    await handler({ n: 3 }, lambdaContext());

    // Assess
    expect(failure).toMatchObject({ code: 'SECRET_REJECTED' });
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 3]);
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(3);
  });

  it('a value older than maxAgeMs is fetched again before the invocation; a changed value gets a new client and the old one is closed', async () => {
    // Prepare
    const handler = insertHandler(options({ thaw: false }, { maxAgeMs: 0 }));
    await handler({ n: 1 }, lambdaContext());
    server.setPassword('app', PW2);
    endpoint.put(SECRET_ID, uriWith(PW2));

    // Act
    await handler({ n: 2 }, lambdaContext());

    // Assess: no refused authentication (the new value was used from the start), the old client closed
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(2);
    expect(server.authentications.filter((attempt) => !attempt.ok)).toEqual([]);
    expect(logger.withEvent('client.retired')).toHaveLength(1);
    await expect.poll(() => logger.withEvent('client.closed').length).toBe(1);
    expect(cachedClientCount()).toBe(1);
  });

  it('closeMongoClient() forgets the fetched value too: the same wrapper fetches it again at its next invocation', async () => {
    // Prepare
    const handler = insertHandler(options({ thaw: false }));
    await handler({ n: 1 }, lambdaContext());

    // Act
    await closeMongoClient();
    await handler({ n: 2 }, lambdaContext());

    // Assess
    expect(endpoint.count('GetSecretValue', SECRET_ID)).toBe(2);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 2]);
  });

  it('SSM SecureString holding only the password (JSON field): it goes into the connection string of MONGODB_URI', async () => {
    // Prepare
    const parameter = '/prod/shop/mongodb';
    endpoint.put(parameter, JSON.stringify({ password: PW1, note: 'rotated by hand' }));
    const before = process.env.MONGODB_URI;
    process.env.MONGODB_URI = server.uri.replace('mongodb://', 'mongodb://app@');
    try {
      const ssmHandler = insertHandler({ ...options(), uri: { parameterName: parameter, field: 'password', clientConfig: { endpoint: endpoint.url } } });

      // Act
      await ssmHandler({ n: 1 }, lambdaContext());
    } finally {
      if (before === undefined) delete process.env.MONGODB_URI;
      else process.env.MONGODB_URI = before;
    }

    // Assess
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1]);
    expect(endpoint.count('GetParameter', parameter)).toBe(1);
    expect(server.authentications).toMatchObject([{ user: 'app', ok: true }]);
    const fetched = logger.withEvent('secret.fetched')[0];
    expect(fetched?.attributes).toMatchObject({ mongodb: { secret: `the SSM parameter "${parameter}"`, version: '1' } });
    expect(leaks(undefined, [PW1])).toEqual([]);
  });

  it('getMongoClient() with a JSON secret field: fetched once for every call with the same reference', async () => {
    // Prepare
    endpoint.put('prod/json', JSON.stringify({ uri: uriWith(PW1) }));
    const config = { uri: { secretId: 'prod/json', field: 'uri', clientConfig: { endpoint: endpoint.url } }, logger };

    // Act
    const client = await getMongoClient(config);
    await client.db('shop').collection('items').insertOne({ n: 1 });
    const again = await getMongoClient({ ...config, uri: { ...config.uri } });

    // Assess
    expect(again).toBe(client);
    expect(endpoint.count('GetSecretValue', 'prod/json')).toBe(1);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1]);
    expect(leaks(undefined, [PW1])).toEqual([]);
  });

  it('getMongoClient() meets a refusal: fetches once more; a corrected secret is picked up by the next call', async () => {
    // Prepare: the secret is wrong from the start
    endpoint.put('prod/get', uriWith(WRONG));
    const config = { uri: { secretId: 'prod/get', minRefetchIntervalMs: 0, clientConfig: { endpoint: endpoint.url } }, logger };

    // Act
    const failure = await getMongoClient(config).catch((error: unknown) => error);
    endpoint.put('prod/get', uriWith(PW1));
    const client = await getMongoClient(config);
    await client.db('shop').collection('items').insertOne({ n: 1 });

    // Assess: fetch, fetch after the refusal (same wrong value), then at the next call the refusal of the cached value and the fetch that fixed it
    expect(failure).toMatchObject({ code: 'SECRET_REJECTED' });
    expect((failure as Error).message).toContain('fetched again it holds the same value');
    expect(endpoint.count('GetSecretValue', 'prod/get')).toBe(3);
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1]);
    expect(leaks(failure, [WRONG, PW1])).toEqual([]);
  });

  it('a secret value that is not JSON while `field` is set: INVALID_SECRET without the value, and no cause quoting it', async () => {
    // Prepare
    endpoint.put('prod/plain', `not-json-${PW1}`);
    const handler = insertHandler(options({}, { secretId: 'prod/plain', field: 'uri' }));

    // Act
    const failure = await handler({ n: 1 }, lambdaContext()).catch((error: unknown) => error);

    // Assess
    expect(failure).toBeInstanceOf(ConfigurationError);
    expect(failure).toMatchObject({ code: 'INVALID_SECRET', option: 'uri' });
    expect((failure as Error).message).toContain('the Secrets Manager secret "prod/plain"');
    expect(leaks(failure, [PW1, 'not-json'])).toEqual([]);
  });

  it('validates the reference where the wrapper is made, and entry points without run-time secrets refuse one', async () => {
    expect(() => withMongo(async () => 1, { uri: { secretId: 'a', parameterName: 'b' } as never })).toThrow(/exactly one of `secretId`/);
    expect(() => withMongo(async () => 1, { uri: { secretId: 'a', maxAge: 5 } as never })).toThrow(/Unknown option `maxAge` passed to withMongo\(\) uri: did you mean `maxAgeMs`/);
    expect(() => withMongo(async () => 1, { uri: { secretId: 'a', maxAgeMs: -1 } })).toThrow(ConfigurationError);
    await expect(getVercelClient({ uri: { secretId: 'a' } })).rejects.toThrow(/must be a connection string: a run-time secret/);
    expect(endpoint.requests).toEqual([]);
  });
});

