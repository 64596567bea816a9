/**
 * Run-time secrets and IAM authentication from a bundle built with serverless-mongodb/esbuild, run by the Lambda
 * emulator (the real runtime interface client on Node.js 22) from a folder outside the project: what the bundle
 * left out resolves only through NODE_PATH, as the runtime's SDK does in Lambda, or not at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCredentialHandler, type CredentialBundle } from './support/credential-bundle.js';
import { startLambdaContainer, stopAllLambdaContainers } from './support/lambda-emulator/index.js';
import { startSecretsEndpoint, type SecretsEndpoint } from './support/secrets-endpoint.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const TIMEOUT = 60_000;
const CREDENTIALS = { accessKeyId: 'AKIDBUNDLETEST00001', secretAccessKey: 'bundle-secret-access-key', sessionToken: 'bundle-session-token-1' };
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  AWS_EC2_METADATA_DISABLED: 'true',
};
const PASSWORD = 'bundle-Pa55word-91ab';

describe('a serverless-mongodb/esbuild bundle in the Lambda emulator', () => {
  let server: WireServer;
  let iamServer: WireServer;
  let endpoint: SecretsEndpoint;
  let bundle: CredentialBundle;

  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet', users: [{ username: 'app', password: PASSWORD }] });
    endpoint = await startSecretsEndpoint(CREDENTIALS);
    endpoint.put('prod/bundle', server.uri.replace('mongodb://', `mongodb://app:${PASSWORD}@`));
    iamServer = await startWireServer({ awsCredentials: [CREDENTIALS] });
    bundle = await bundleCredentialHandler();
  }, TIMEOUT);
  afterAll(async () => {
    await stopAllLambdaContainers();
    await bundle?.dispose();
    await server?.stop();
    await iamServer?.stop();
    await endpoint?.stop();
  });

  const start = (env: Record<string, string>) =>
    startLambdaContainer({ entry: bundle.moduleName, taskRoot: bundle.dir, env: { ...AWS_ENV, ...env }, timeoutMs: 10_000 });

  it('fetches the secret with the runtime-provided @aws-sdk/client-secrets-manager (NODE_PATH) and connects', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await start({ MONGODB_SECRET_ID: 'prod/bundle', SECRETS_ENDPOINT: endpoint.url });

    // Act
    const first = await fn.invoke({ n: 1 });
    const second = await fn.invoke({ n: 2 });

    // Assess
    expect(first.error).toBeUndefined();
    expect(second.result).toMatchObject({ n: 2, users: [{ user: 'app', db: 'admin' }] });
    expect(endpoint.count('GetSecretValue', 'prod/bundle')).toBe(1);
    expect(fn.logs.join('\n')).not.toContain(PASSWORD);
    await fn.shutdown();
  });

  it('without the SDK package: ConfigurationError MISSING_DEPENDENCY naming @aws-sdk/client-secrets-manager, no request made', { timeout: TIMEOUT }, async () => {
    // Prepare: nothing on NODE_PATH, so the package the bundle left out is nowhere
    const before = endpoint.requests.length;
    const fn = await start({ MONGODB_SECRET_ID: 'prod/bundle', SECRETS_ENDPOINT: endpoint.url, NODE_PATH: '' });

    // Act
    const result = await fn.invoke({ n: 3 });

    // Assess
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ errorType: 'ConfigurationError' });
    expect(result.error?.errorMessage).toContain('needs the package @aws-sdk/client-secrets-manager');
    expect(result.error?.errorMessage).toContain('npm i @aws-sdk/client-secrets-manager');
    expect(endpoint.requests.length).toBe(before);
    await fn.shutdown();
  });

  const iamUri = () => `${iamServer.uri}?authMechanism=MONGODB-AWS&authSource=%24external`;

  it('authenticates with MONGODB-AWS: the deferred driver module and the runtime-provided @aws-sdk/credential-providers resolve', { timeout: TIMEOUT }, async () => {
    // Prepare
    iamServer.clearRecords();
    const fn = await start({ MONGODB_URI: iamUri() });

    // Act
    const result = await fn.invoke({ n: 1 });

    // Assess: the server checked the STS request's signature against the credentials of the environment
    expect(result.error).toBeUndefined();
    expect(result.result).toMatchObject({ n: 1, users: [{ user: CREDENTIALS.accessKeyId, db: '$external' }] });
    expect(iamServer.authentications.map(({ user, mechanism, ok }) => ({ user, mechanism, ok }))).toEqual([
      { user: CREDENTIALS.accessKeyId, mechanism: 'MONGODB-AWS', ok: true },
    ]);
    expect(iamServer.documents('shop', 'items').map((doc) => doc.n)).toEqual([1]);
    expect(fn.logs.join('\n')).not.toContain(CREDENTIALS.secretAccessKey);
    await fn.shutdown();
  });

  it('without @aws-sdk/credential-providers: ConfigurationError MISSING_DEPENDENCY naming the package, no authentication tried', { timeout: TIMEOUT }, async () => {
    // Prepare
    iamServer.clearRecords();
    const fn = await start({ MONGODB_URI: iamUri(), NODE_PATH: '' });

    // Act
    const result = await fn.invoke({ n: 2 });

    // Assess
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ errorType: 'ConfigurationError' });
    expect(result.error?.errorMessage).toContain('needs the package @aws-sdk/credential-providers');
    expect(result.error?.errorMessage).toContain('npm i @aws-sdk/credential-providers');
    expect(iamServer.commandsNamed('saslStart')).toEqual([]);
    await fn.shutdown();
  });

  it('the example service\'s CommonJS bundle (esbuild.config.cjs) authenticates with MONGODB-AWS as well', { timeout: TIMEOUT }, async () => {
    // Prepare
    iamServer.clearRecords();
    const exampleBundle = await bundleCredentialHandler('example-service');
    try {
      const fn = await startLambdaContainer({ entry: exampleBundle.moduleName, taskRoot: exampleBundle.dir, env: { ...AWS_ENV, MONGODB_URI: iamUri() } });

      // Act
      const result = await fn.invoke({ n: 3 });

      // Assess
      expect(result.error).toBeUndefined();
      expect(result.result).toMatchObject({ n: 3, users: [{ user: CREDENTIALS.accessKeyId, db: '$external' }] });
      expect(iamServer.authentications.filter((attempt) => attempt.ok).map((attempt) => attempt.mechanism)).toEqual(['MONGODB-AWS']);
      await fn.shutdown();
    } finally {
      await exampleBundle.dispose();
    }
  });
});
