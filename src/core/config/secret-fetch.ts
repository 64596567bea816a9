/**
 * Fetching a secret's value with the AWS SDK v3 clients, optional peers loaded at the first fetch: a function that
 * never names a run-time secret never loads them. Serialisation, signing, retries and credentials are the SDK's.
 * In a Lambda Node.js runtime both clients are provided (`serverless-mongodb/esbuild` leaves `@aws-sdk/*` out of
 * the bundle).
 */
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';

export type SecretKind = 'secretsManager' | 'parameterStore';

const PACKAGES: Record<SecretKind, string> = {
  secretsManager: '@aws-sdk/client-secrets-manager',
  parameterStore: '@aws-sdk/client-ssm',
};

interface SdkClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<Record<string, unknown>>;
}

type SdkModule = Record<string, new (input: Record<string, unknown>) => unknown>;

/**
 * Loads an optional peer: `import()` from where this module is, then, for a bundle whose folder has no
 * node_modules, the CommonJS resolver, which also searches NODE_PATH (how the Lambda Node.js runtimes expose the
 * SDK they ship, /var/runtime/node_modules; ES module resolution does not search NODE_PATH).
 * @throws {ConfigurationError} MISSING_DEPENDENCY naming the package
 */
async function loadPeer(kind: SecretKind): Promise<SdkModule> {
  const name = PACKAGES[kind];
  let missing: unknown;
  try {
    return (kind === 'secretsManager' ? await import('@aws-sdk/client-secrets-manager') : await import('@aws-sdk/client-ssm')) as unknown as SdkModule;
  } catch (error) {
    if (!isNotFound(error, name)) throw error;
    missing = error;
  }
  const fromPaths = requireFromNodePath(name);
  if (fromPaths) return fromPaths;
  throw new ConfigurationError(
    ErrorCodes.MISSING_DEPENDENCY,
    `A connection secret in ${kind === 'secretsManager' ? 'Secrets Manager' : 'SSM Parameter Store'} needs the package ${name}: install it (npm i ${name}), or, in a Lambda bundle, leave it external (the Lambda Node.js runtimes provide it; serverless-mongodb/esbuild leaves @aws-sdk/* out)`,
    { option: 'uri', cause: missing },
  );
}

function isNotFound(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(name);
}

/** `require(name)` resolved from the working directory and NODE_PATH, or undefined when it is not there. */
function requireFromNodePath(name: string): SdkModule | undefined {
  const nodeModule = process.getBuiltinModule?.('node:module') as typeof import('node:module') | undefined;
  if (!nodeModule) return undefined;
  try {
    return nodeModule.createRequire(`${process.cwd()}/`)(name) as SdkModule;
  } catch (error) {
    if (isNotFound(error, name)) return undefined;
    throw error;
  }
}

/**
 * The string a secret holds now, and its version.
 * @param sdk where the SDK client is kept between fetches (made at the first)
 * @throws {ConfigurationError} MISSING_DEPENDENCY, or INVALID_SECRET for a binary secret
 * @throws the SDK's error for a failed call
 */
export async function fetchSecretValue(
  kind: SecretKind,
  id: string,
  clientConfig: Record<string, unknown>,
  sdk: { client?: unknown },
  signal: AbortSignal | undefined,
): Promise<{ value: string; version: string | undefined }> {
  const module = await loadPeer(kind);
  const clientClass = kind === 'secretsManager' ? 'SecretsManagerClient' : 'SSMClient';
  const commandClass = kind === 'secretsManager' ? 'GetSecretValueCommand' : 'GetParameterCommand';
  const Client = module[clientClass];
  const Command = module[commandClass];
  if (!Client || !Command) throw new Error(`${PACKAGES[kind]} has no ${clientClass} or ${commandClass}: install a current version of it`);
  sdk.client ??= new Client({ ...clientConfig });
  const client = sdk.client as SdkClient;
  const options = signal ? { abortSignal: signal } : undefined;
  if (kind === 'secretsManager') {
    const output = await client.send(new Command({ SecretId: id }), options);
    if (typeof output.SecretString !== 'string') {
      throw new ConfigurationError(ErrorCodes.INVALID_SECRET, `The Secrets Manager secret "${id}" holds no SecretString (a binary secret?): store the connection string, or a JSON object with it, as text`, { option: 'uri' });
    }
    return { value: output.SecretString, version: typeof output.VersionId === 'string' ? output.VersionId : undefined };
  }
  const output = await client.send(new Command({ Name: id, WithDecryption: true }), options);
  const parameter = output.Parameter as { Value?: unknown; Version?: unknown } | undefined;
  if (typeof parameter?.Value !== 'string') {
    throw new ConfigurationError(ErrorCodes.INVALID_SECRET, `The SSM parameter "${id}" has no value`, { option: 'uri' });
  }
  return { value: parameter.Value, version: parameter.Version === undefined ? undefined : String(parameter.Version) };
}
