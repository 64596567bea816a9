/**
 * IAM authentication (authMechanism=MONGODB-AWS) with the real driver and @aws-sdk/credential-providers: the wire
 * server verifies the SigV4 signature of the STS GetCallerIdentity request against the fake credentials it accepts;
 * the credentials come from the environment variables, as Lambda sets them.
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { closeMongoClient, withMongo, type MongoInvocationOptions } from '../src/index.js';
import { cachedClientCount } from '../src/core/client/cache.js';
import { CaptureLogger, errorText } from './support/capture-logger.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const FIRST = { accessKeyId: 'ASIAFIRSTROLE000001', secretAccessKey: 'first-role-secret-key', sessionToken: 'first-session-token' };
const SECOND = { accessKeyId: 'ASIASECONDROLE00002', secretAccessKey: 'second-role-secret-key', sessionToken: 'second-session-token' };
const VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CREDENTIAL_EXPIRATION', 'AWS_EC2_METADATA_DISABLED', 'AWS_PROFILE'] as const;

function useCredentials(credentials: typeof FIRST, expiration?: string): void {
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  process.env.AWS_SESSION_TOKEN = credentials.sessionToken;
  if (expiration) process.env.AWS_CREDENTIAL_EXPIRATION = expiration;
  else delete process.env.AWS_CREDENTIAL_EXPIRATION;
}

describe('MONGODB-AWS', () => {
  let server: WireServer;
  const logger = new CaptureLogger();
  const saved: Partial<Record<(typeof VARIABLES)[number], string>> = {};
  const options = (extra: Partial<MongoInvocationOptions> = {}): MongoInvocationOptions => ({
    uri: `${server.uri}&authMechanism=MONGODB-AWS&authSource=%24external`,
    dbName: 'shop',
    logger,
    thaw: { settleAfterMs: 0, probeAfterMs: 0 },
    ...extra,
  });
  const handlerWith = (opts: MongoInvocationOptions) =>
    withMongo(async (event: { n: number }, context) => {
      await context.mongo.db.collection('items').insertOne({ n: event.n }, { session: context.mongo.session });
      return event.n;
    }, opts);
  const accepted = () => server.authentications.filter((attempt) => attempt.ok).map((attempt) => attempt.user);

  beforeAll(async () => {
    for (const name of VARIABLES) {
      const value = process.env[name];
      if (value !== undefined) saved[name] = value;
    }
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    delete process.env.AWS_PROFILE;
    server = await startWireServer({ topology: 'replicaSet' });
  });
  beforeEach(() => {
    useCredentials(FIRST);
    server.setAwsCredentials([FIRST]);
  });
  afterEach(async () => {
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
    logger.records.length = 0;
  });
  afterAll(async () => {
    await server.stop();
    for (const name of VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it('authenticates with the credentials of the environment; the server verified the signed STS request', async () => {
    // Act
    const result = await handlerWith(options())({ n: 1 }, lambdaContext());

    // Assess
    expect(result).toBe(1);
    expect(server.authentications.map(({ user, mechanism, ok }) => ({ user, mechanism, ok }))).toEqual([{ user: FIRST.accessKeyId, mechanism: 'MONGODB-AWS', ok: true }]);
    expect(server.documents('shop', 'items')).toMatchObject([{ n: 1 }]);
  });

  it('credentials the server does not accept: CONNECT_FAILED, not cached, and no secret key or token in the error or the logs', async () => {
    // Prepare: the role's credentials were revoked
    server.setAwsCredentials([SECOND]);

    // Act
    const failure = await handlerWith(options())({ n: 1 }, lambdaContext()).catch((error: unknown) => error);

    // Assess
    expect(failure).toMatchObject({ name: 'ConnectionError', code: 'CONNECT_FAILED' });
    expect((failure as Error).message).toContain('Authentication failed');
    expect(cachedClientCount()).toBe(0);
    expect(server.authentications.map((attempt) => attempt.ok)).toEqual([false]);
    const text = [errorText(failure), inspect(failure, { depth: 10 }), ...logger.lines()].join('\n');
    expect(text).not.toContain(FIRST.secretAccessKey);
    expect(text).not.toContain(FIRST.sessionToken);
  });

  it('rotated credentials (a new session token) are used at the next authentication: after a freeze the rebuilt client re-authenticates, no invocation fails', async () => {
    // Prepare
    const handler = handlerWith(options());
    await handler({ n: 1 }, lambdaContext());

    // Act: Lambda-style rotation (new key and token in the environment, the old ones revoked), connections lost in a freeze
    useCredentials(SECOND);
    server.setAwsCredentials([SECOND]);
    server.closeAll();
    await handler({ n: 2 }, lambdaContext());
    await handler({ n: 3 }, lambdaContext());

    // Assess
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 2, 3]);
    expect(accepted()).toEqual([FIRST.accessKeyId, SECOND.accessKeyId]);
    expect(logger.withEvent('client.rebuilt').length).toBeGreaterThanOrEqual(1);
  });

  it('credentials with an expiration (AWS_CREDENTIAL_EXPIRATION passed): the same client reads the new ones at its next authentication', async () => {
    // Prepare: credentials that count as expired, so the SDK's provider reads the environment at every authentication
    useCredentials(FIRST, new Date(0).toISOString());
    const handler = handlerWith(options({ thaw: false }));
    await handler({ n: 1 }, lambdaContext());

    // Act
    useCredentials(SECOND, new Date(0).toISOString());
    server.setAwsCredentials([SECOND]);
    await server.closeAllSeen();
    await handler({ n: 2 }, lambdaContext());

    // Assess: no rebuild, the pooled connection opened for the insert authenticated with the new credentials
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 2]);
    expect(accepted()).toEqual([FIRST.accessKeyId, SECOND.accessKeyId]);
    expect(logger.withEvent('client.rebuilt')).toEqual([]);
  });

  it('credentials without an expiration and no probe: the refused new connection fails that invocation only, the next rebuilds the client and reads the new ones', async () => {
    // Prepare: Lambda's variables carry no AWS_CREDENTIAL_EXPIRATION, so the SDK keeps what it read first
    const handler = handlerWith(options({ thaw: false }));
    await handler({ n: 1 }, lambdaContext());

    // Act
    useCredentials(SECOND);
    server.setAwsCredentials([SECOND]);
    await server.closeAllSeen();
    const failure = await handler({ n: 2 }, lambdaContext()).catch((error: unknown) => error);
    await handler({ n: 3 }, lambdaContext());

    // Assess
    expect(failure).toMatchObject({ code: 18 });
    expect(server.documents('shop', 'items').map((doc) => doc.n)).toEqual([1, 3]);
    expect(accepted()).toEqual([FIRST.accessKeyId, SECOND.accessKeyId]);
    expect(logger.withEvent('client.rebuilt')).toHaveLength(1);
  });
});
