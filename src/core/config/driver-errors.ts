/**
 * What the driver's constructor throws (a malformed URI, an unknown or invalid option), turned into a
 * {@link ConfigurationError} that names the option in the caller's spelling and keeps the driver's error as `cause`.
 */
import { MongoClient } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { URI_ENV } from './defaults.js';
import type { ResolvedClientConfig } from './resolve.js';
import { queryKeysOf } from './uri.js';

export function classifyDriverError(error: unknown, config: ResolvedClientConfig): ConfigurationError {
  const secrets = config.secrets;
  // The driver lower-cases option names in its messages; give them back the caller's spelling.
  const userKeys = [...Object.keys(config.clientOptions), ...queryKeysOf(config.uri)];
  const reason = (error instanceof Error ? error.message : String(error)).replace(
    /option (\S+) is not supported/i,
    (_match, key: string) => `option ${spellingOf(key, userKeys)} is not supported`,
  );
  let uriIsValid = true;
  try {
    new MongoClient(config.uri);
  } catch {
    uriIsValid = false;
  }
  if (!uriIsValid) {
    return new ConfigurationError(
      ErrorCodes.INVALID_URI,
      `The MongoDB connection string from ${config.uriSource} is malformed: ${reason}. Expected mongodb:// or mongodb+srv:// followed by user:password@host[:port]/database?options, with special characters in the user name and password percent-encoded (e.g. "@" as %40)`,
      { option: config.uriSource === URI_ENV ? URI_ENV : 'uri', cause: error, secrets },
    );
  }
  const unknown = /option (\S+) is not supported/i.exec(reason)?.[1];
  if (unknown) {
    return new ConfigurationError(
      ErrorCodes.UNKNOWN_OPTION,
      `Unknown MongoClient option \`${unknown}\` in clientOptions: the mongodb driver does not support it; check its spelling against MongoClientOptions`,
      { option: unknown, cause: error, secrets },
    );
  }
  const option = /Expected (\w+) to be|Option '(\w+)'|^(\w+) must/i.exec(reason)?.slice(1).find(Boolean);
  return new ConfigurationError(ErrorCodes.INVALID_OPTION, `Invalid MongoClient option${option ? ` \`${option}\`` : ''} in clientOptions: ${reason}`, {
    ...(option ? { option } : {}),
    cause: error,
    secrets,
  });
}

function spellingOf(key: string, candidates: readonly string[]): string {
  return candidates.find((candidate) => candidate.toLowerCase() === key.toLowerCase()) ?? key;
}

/** Whether the error (or one of its causes) is MongoDB's AuthenticationFailed (code 18). */
export function isAuthenticationFailure(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const { code, codeName } = current as { code?: unknown; codeName?: unknown };
    if (code === 18 || codeName === 'AuthenticationFailed') return true;
    current = current.cause;
  }
  return false;
}

/**
 * The driver's MongoMissingDependencyError (an optional package it `require()`s is not there), as a
 * {@link ConfigurationError} MISSING_DEPENDENCY naming the package and where it comes from; undefined for any other error.
 */
export function missingDependencyError(error: unknown, config: ResolvedClientConfig): ConfigurationError | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current.name === 'MongoMissingDependencyError') {
      const name = (current as { dependencyName?: unknown }).dependencyName;
      const pkg = typeof name === 'string' ? name : (/`([^`]+)`/.exec(current.message)?.[1] ?? 'an optional package');
      const lambda = pkg.startsWith('@aws-sdk/')
        ? ' The Lambda Node.js runtimes provide it: leave it external in the bundle (serverless-mongodb/esbuild leaves @aws-sdk/* out) rather than pruning it; elsewhere'
        : '';
      return new ConfigurationError(
        ErrorCodes.MISSING_DEPENDENCY,
        `The MongoDB connection at ${config.redactedUri} needs the package ${pkg}${pkg === '@aws-sdk/credential-providers' ? ' (authMechanism=MONGODB-AWS gets the function\'s AWS credentials with it)' : ''}, and it could not be loaded.${lambda} install it: npm i ${pkg}`,
        { option: 'clientOptions', cause: current, secrets: config.secrets },
      );
    }
    current = current.cause;
  }
  return undefined;
}
