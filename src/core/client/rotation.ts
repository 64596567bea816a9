/**
 * Rotation of a run-time connection secret: when MongoDB refuses the credentials at connect, the secret is fetched
 * once more (bypassing its cache), the client is rebuilt with the new value and the connect is tried again, inside
 * the same invocation and its deadline. When the new value is refused too, or is the same, or the last such fetch
 * was too recent (`minRefetchIntervalMs`), the caller gets a {@link ConnectionError} SECRET_REJECTED naming the
 * secret (never its value); nothing of the failed attempt is cached.
 */
import { ConnectionError, ErrorCodes } from '../../shared/errors.js';
import { emit } from '../../shared/logging/emit.js';
import { isAuthenticationFailure } from '../config/driver-errors.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import type { FetchedSecret, SecretSource } from '../config/secret.js';
import { raceDeadline } from '../invocation/deadline.js';
import { acquireClient, retireClient } from './cache.js';
import type { ClientLease } from './lease.js';

export { isAuthenticationFailure };

/**
 * After the connect with `config` failed with `error`, an authentication failure: fetches the secret again and
 * connects with its new value.
 * @param resolveWith the configuration for another value of the same secret
 * @param signal the invocation's deadline (none for `getMongoClient()`)
 * @throws {ConnectionError} SECRET_REJECTED, SECRET_FETCH_FAILED, DEADLINE_EXCEEDED, or the second connect's failure
 */
export async function connectAfterRejection(
  config: ResolvedClientConfig,
  error: unknown,
  source: SecretSource,
  resolveWith: (fetched: FetchedSecret) => ResolvedClientConfig,
  signal: AbortSignal | undefined,
): Promise<{ config: ResolvedClientConfig; lease: ClientLease }> {
  const rejected = config.secret?.fetched;
  if (!rejected) throw error;
  const { logger } = config;
  emit(logger, 'warn', 'secret.rejected', 'MongoDB refused the credentials of the connection secret', { secret: source.description, version: rejected.version, error }, config.secrets);
  const fresh = await within(source.refetchAfterRejection(rejected, logger, signal), signal, config, 'fetching the secret again');
  if (!fresh) {
    throw rejection(config, source, rejected, `and it was not fetched again: the last fetch after a refusal was less than the minimum interval ago (uri.minRefetchIntervalMs; next allowed in ${source.refetchAllowedInMs()} ms)`, error);
  }
  const next = resolveWith(fresh);
  if (next.cacheKey === config.cacheKey) {
    throw rejection(config, source, fresh, 'and fetched again it holds the same value', error);
  }
  retireClient(config);
  let lease: ClientLease;
  try {
    lease = await within(acquireClient(next), signal, next, 'connecting with the secret fetched again', (late) => late.release());
  } catch (second) {
    if (!(second instanceof Error) || !isAuthenticationFailure(second)) throw second;
    throw rejection(next, source, fresh, `, also after fetching it again (the version before: ${rejected.version ?? 'unknown'})`, second);
  }
  emit(logger, 'warn', 'secret.rotated', 'Connected with the connection secret fetched again after MongoDB refused the one before', {
    secret: source.description,
    version: fresh.version,
    previousVersion: rejected.version,
    uri: next.redactedUri,
  }, next.secrets);
  return { config: next, lease };
}

function rejection(config: ResolvedClientConfig, source: SecretSource, fetched: FetchedSecret, detail: string, cause: unknown): ConnectionError {
  const version = fetched.version ? ` (version ${fetched.version})` : '';
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ConnectionError(
    ErrorCodes.SECRET_REJECTED,
    `MongoDB refused the credentials from ${source.description}${version} ${detail}: ${reason}. Check that the secret holds the database user's current password (Atlas: Database Access) for the connection string at ${config.redactedUri}; the next invocation tries again`,
    { cause, secrets: config.secrets },
  );
}

/** The work, unless the deadline comes first. */
async function within<T>(work: Promise<T>, signal: AbortSignal | undefined, config: ResolvedClientConfig, doing: string, late?: (value: T) => void): Promise<T> {
  if (!signal) return work;
  const won = await raceDeadline(work, signal);
  if (won) return won.value;
  work.then((value) => late?.(value), () => undefined);
  throw new ConnectionError(
    ErrorCodes.DEADLINE_EXCEEDED,
    `The invocation deadline came while ${doing} after MongoDB refused the credentials of the connection secret (${config.redactedUri}); the next invocation tries again (raise the function timeout)`,
    { cause: signal.reason, secrets: config.secrets },
  );
}
