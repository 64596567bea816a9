/**
 * The connection secret fetched at run time: `uri: { secretId }` (AWS Secrets Manager) or `uri: { parameterName }`
 * (SSM Parameter Store, a SecureString), instead of a connection string in the function's configuration.
 *
 * - Fetched once per process (at init when `prefetch` is on) and kept for `maxAgeMs`; after that the next
 *   invocation fetches it again before it connects. Should that fetch fail, the value it has is used on, and the
 *   next attempt waits `minRefetchIntervalMs`.
 * - On an authentication failure at connect (a rotated password), the invocation fetches it once more, bypassing
 *   the cache ({@link SecretSource.refetchAfterRejection}), at most once per `minRefetchIntervalMs` per secret and
 *   process: that bounds the calls a wrong secret can cause, whatever the invocation rate.
 * - The value is never logged nor put in an error: resolution adds it to the configuration's `secrets`.
 */
import { ConfigurationError, ConnectionError, ErrorCodes } from '../../shared/errors.js';
import { emit, type LoggerLike } from '../../shared/logging/emit.js';
import { addSecret } from '../../shared/logging/redact.js';
import { expectOption, isPlainObject, rejectUnknownKeys } from '../../shared/validation.js';
import { stableKey } from './cache-key.js';
import { fetchSecretValue, type SecretKind } from './secret-fetch.js';

/** What the secret holds: a connection string, or (in a JSON secret, under `field`) one or the password. */
interface SecretReferenceBase {
  /**
   * The secret is JSON and this field holds the value (`"password"` in the JSON that Secrets Manager's rotation
   * templates keep). Without it, the whole secret is the value.
   */
  field?: string;
  /**
   * How long a fetched value is used before the next invocation fetches it again (ms).
   * @default 300000 (5 minutes)
   */
  maxAgeMs?: number;
  /**
   * The least time between two fetches that bypass the cache after MongoDB refused the credentials, and between
   * attempts while the endpoint fails (ms), per secret and process.
   * @default 30000
   */
  minRefetchIntervalMs?: number;
  /**
   * Options of the AWS SDK client (`region`, `endpoint`, `maxAttempts`, ...), as its constructor takes them.
   * @default {} (the region and credentials of the function's environment)
   */
  clientConfig?: Record<string, unknown>;
}

/** A connection string (or its password) kept in AWS Secrets Manager. Needs `@aws-sdk/client-secrets-manager`. */
export interface SecretsManagerSecret extends SecretReferenceBase {
  /** The secret's name or ARN. */
  secretId: string;
}

/** A connection string (or its password) kept in SSM Parameter Store as a SecureString. Needs `@aws-sdk/client-ssm`. */
export interface ParameterStoreSecret extends SecretReferenceBase {
  /** The parameter's name (`/prod/mongodb/uri`) or ARN. */
  parameterName: string;
}

/** Where `uri` comes from when it is fetched at run time. */
export type ConnectionSecret = SecretsManagerSecret | ParameterStoreSecret;

export const SECRET_DEFAULTS = {
  maxAgeMs: 300_000,
  minRefetchIntervalMs: 30_000,
} as const;

const COMMON_KEYS = ['field', 'maxAgeMs', 'minRefetchIntervalMs', 'clientConfig'] as const;
const SECRETS_MANAGER_KEYS = ['secretId', ...COMMON_KEYS] as const;
const PARAMETER_KEYS = ['parameterName', ...COMMON_KEYS] as const;

/** One value as fetched. */
export interface FetchedSecret {
  /** The string the secret holds (the whole secret; `field` is applied at resolution). */
  readonly value: string;
  /** Secrets Manager's `VersionId`, or the parameter's version. */
  readonly version: string | undefined;
  /** `Date.now()` when the fetch started. */
  readonly fetchedAt: number;
  /** The value fetched before it, when this one replaced another. */
  readonly previousVersion?: string | undefined;
}

/** Whether `uri` is a run-time secret reference (an object) rather than a connection string. */
export function isConnectionSecret(uri: unknown): uri is ConnectionSecret {
  return isPlainObject(uri);
}

/**
 * Checks `uri: { secretId | parameterName, ... }`.
 * @throws {ConfigurationError} an unknown key, both or neither of `secretId` and `parameterName`, a wrong type
 */
export function validateConnectionSecret(where: string, reference: Record<string, unknown>): void {
  const inWhere = `${where} uri`;
  const hasSecret = reference.secretId !== undefined;
  const hasParameter = reference.parameterName !== undefined;
  if (hasSecret === hasParameter) {
    throw new ConfigurationError(
      ErrorCodes.INVALID_OPTION,
      `Option \`uri\` of ${where} is an object: it needs exactly one of \`secretId\` (Secrets Manager) or \`parameterName\` (SSM Parameter Store), e.g. { secretId: 'prod/mongodb' }`,
      { option: 'uri' },
    );
  }
  rejectUnknownKeys(inWhere, reference, hasSecret ? SECRETS_MANAGER_KEYS : PARAMETER_KEYS);
  for (const key of ['secretId', 'parameterName', 'field'] as const) {
    expectOption(inWhere, key, reference[key], 'string');
    if (typeof reference[key] === 'string' && (reference[key] as string).trim() === '') {
      throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`uri.${key}\` of ${where} is an empty string`, { option: `uri.${key}` });
    }
  }
  expectOption(inWhere, 'maxAgeMs', reference.maxAgeMs, 'non-negative integer');
  expectOption(inWhere, 'minRefetchIntervalMs', reference.minRefetchIntervalMs, 'non-negative integer');
  expectOption(inWhere, 'clientConfig', reference.clientConfig, 'object');
}

/**
 * The fetched value of one secret, shared by every plan and call that names the same secret the same way, with
 * its cache and the rules of when to fetch again.
 */
export class SecretSource {
  /** How messages and records name the secret: `the Secrets Manager secret "prod/mongodb"` (never its value). */
  readonly description: string;
  /** The secret's id or parameter name, for records. */
  readonly id: string;
  readonly kind: SecretKind;
  readonly field: string | undefined;
  readonly #maxAgeMs: number;
  readonly #minRefetchIntervalMs: number;
  readonly #clientConfig: Record<string, unknown>;
  #current: FetchedSecret | undefined;
  #fetching: SharedFetch | undefined;
  /** No fetch before this moment (`Date.now()`): set after a failed refresh, while the old value is used on. */
  #nextAttemptAt = 0;
  /** When the last fetch that bypassed the cache after a refusal started. */
  #lastForcedAt = Number.NEGATIVE_INFINITY;
  /** The kept client of the AWS SDK, made at the first fetch. */
  readonly #sdk: { client?: unknown } = {};

  constructor(reference: ConnectionSecret) {
    if ('secretId' in reference && reference.secretId !== undefined) {
      this.kind = 'secretsManager';
      this.id = reference.secretId;
      this.description = `the Secrets Manager secret "${reference.secretId}"`;
    } else {
      this.kind = 'parameterStore';
      this.id = (reference as ParameterStoreSecret).parameterName;
      this.description = `the SSM parameter "${this.id}"`;
    }
    this.field = reference.field;
    this.#maxAgeMs = reference.maxAgeMs ?? SECRET_DEFAULTS.maxAgeMs;
    this.#minRefetchIntervalMs = reference.minRefetchIntervalMs ?? SECRET_DEFAULTS.minRefetchIntervalMs;
    this.#clientConfig = reference.clientConfig ?? {};
  }

  /** The value to use now without fetching: within its maximum age (or while a failed refresh waits), else undefined. */
  fresh(): FetchedSecret | undefined {
    const current = this.#current;
    if (!current) return undefined;
    const now = Date.now();
    return now - current.fetchedAt < this.#maxAgeMs || now < this.#nextAttemptAt ? current : undefined;
  }

  /**
   * The value to use: the cached one while fresh, else a new fetch (one at a time, shared by concurrent callers).
   * A failed refresh with a value at hand logs `secret.fetch.failed` and returns the old value.
   * @throws {ConnectionError} SECRET_FETCH_FAILED: nothing cached and the fetch failed (nothing is kept)
   * @throws {ConfigurationError} MISSING_DEPENDENCY: the AWS SDK client package is not installed
   */
  async get(logger: LoggerLike, signal?: AbortSignal): Promise<FetchedSecret> {
    const fresh = this.fresh();
    if (fresh) return fresh;
    const stale = this.#current;
    try {
      return await this.#fetch(logger, 'expired', signal);
    } catch (error) {
      if (!stale || error instanceof ConfigurationError) throw error;
      this.#nextAttemptAt = Date.now() + this.#minRefetchIntervalMs;
      return stale;
    }
  }

  /**
   * After MongoDB refused the credentials of `rejected`: fetches the secret again, bypassing the cache, unless
   * another caller already did since `rejected` was fetched (its value is returned) or the last such fetch
   * was less than `minRefetchIntervalMs` ago (undefined: no fetch).
   */
  async refetchAfterRejection(rejected: FetchedSecret, logger: LoggerLike, signal?: AbortSignal): Promise<FetchedSecret | undefined> {
    const current = this.#current;
    if (current && current !== rejected && current.fetchedAt >= rejected.fetchedAt) return current;
    if (this.#fetching) return this.#join(this.#fetching, signal);
    const now = Date.now();
    if (now - this.#lastForcedAt < this.#minRefetchIntervalMs) return undefined;
    this.#lastForcedAt = now;
    return this.#fetch(logger, 'rejected', signal);
  }

  /** Drops the fetched value and the fetch history: the next use fetches again. */
  forget(): void {
    this.#current = undefined;
    this.#fetching = undefined;
    this.#nextAttemptAt = 0;
    this.#lastForcedAt = Number.NEGATIVE_INFINITY;
  }

  /** Milliseconds until a fetch bypassing the cache is allowed again (0: now). */
  refetchAllowedInMs(): number {
    return Math.max(0, Math.ceil(this.#lastForcedAt + this.#minRefetchIntervalMs - Date.now()));
  }

  /**
   * The fetch under way, or a new one. One fetch is shared by every caller; it has an AbortController of its own,
   * aborted once every caller that brought a deadline has given up on it (its deadline came), so that a silent
   * endpoint does not hold it forever and the next caller starts afresh. Callers without a deadline (prefetch,
   * `getMongoClient()`) wait without holding it open.
   */
  #fetch(logger: LoggerLike, reason: 'expired' | 'rejected', signal: AbortSignal | undefined): Promise<FetchedSecret> {
    if (this.#fetching) return this.#join(this.#fetching, signal);
    const controller = new AbortController();
    const shared: SharedFetch = { promise: this.#fetchOnce(logger, reason, controller.signal), controller, waiting: 0 };
    this.#fetching = shared;
    const clear = () => {
      if (this.#fetching === shared) this.#fetching = undefined;
    };
    shared.promise.then(clear, clear);
    return this.#join(shared, signal);
  }

  #join(shared: SharedFetch, signal: AbortSignal | undefined): Promise<FetchedSecret> {
    if (!signal) return shared.promise;
    shared.waiting++;
    const onAbort = () => {
      if (--shared.waiting > 0) return;
      if (this.#fetching === shared) this.#fetching = undefined;
      shared.controller.abort(signal.reason);
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      shared.promise.then(done, done);
    }
    return shared.promise;
  }

  async #fetchOnce(logger: LoggerLike, reason: 'expired' | 'rejected', signal: AbortSignal | undefined): Promise<FetchedSecret> {
    const fetchedAt = Date.now();
    const startedAt = performance.now();
    const previous = this.#current;
    let fetched: { value: string; version: string | undefined };
    try {
      fetched = await fetchSecretValue(this.kind, this.id, this.#clientConfig, this.#sdk, signal);
    } catch (error) {
      if (error instanceof ConfigurationError) throw error;
      const failure = new ConnectionError(
        ErrorCodes.SECRET_FETCH_FAILED,
        `Could not fetch the MongoDB connection secret from ${this.description}: ${error instanceof Error ? error.message : String(error)}. ${fetchAdvice(this.kind)}${fetchOutcome(reason, previous !== undefined)}`,
        { cause: error },
      );
      emit(logger, previous ? 'warn' : 'error', 'secret.fetch.failed', 'Could not fetch the MongoDB connection secret', {
        secret: this.description,
        reason,
        durationMs: Math.round(performance.now() - startedAt),
        error: failure,
      });
      throw failure;
    }
    const result: FetchedSecret = { value: fetched.value, version: fetched.version, fetchedAt, previousVersion: previous?.version };
    this.#current = result;
    this.#nextAttemptAt = 0;
    const secrets: string[] = [];
    addSecret(secrets, fetched.value);
    emit(logger, 'info', 'secret.fetched', 'Fetched the MongoDB connection secret', {
      secret: this.description,
      version: fetched.version,
      reason: previous ? reason : 'first',
      changed: previous ? previous.value !== fetched.value : undefined,
      durationMs: Math.round(performance.now() - startedAt),
    }, secrets);
    return result;
  }
}

function fetchOutcome(reason: 'expired' | 'rejected', hadValue: boolean): string {
  if (reason === 'rejected') return '; it was fetched again because MongoDB refused the value before, so the invocation fails and the next one tries again';
  return hadValue ? '; the value fetched before is used on' : '; nothing was kept, the next invocation fetches it again';
}

function fetchAdvice(kind: SecretKind): string {
  return kind === 'secretsManager'
    ? 'Check that the function\'s role may call secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its key when it is a customer managed key) and that Secrets Manager is reachable (from a VPC: a NAT gateway or an interface endpoint)'
    : 'Check that the function\'s role may call ssm:GetParameter on the parameter (and kms:Decrypt on its key) and that SSM is reachable (from a VPC: a NAT gateway or an interface endpoint)';
}

/** One fetch shared by its callers, and how many of them (with a deadline) still wait for it. */
interface SharedFetch {
  readonly promise: Promise<FetchedSecret>;
  readonly controller: AbortController;
  waiting: number;
}

const sources = new Map<string, SecretSource>();

/** The shared source of a secret reference: equal references (by value) share one cache. */
export function secretSourceOf(reference: ConnectionSecret): SecretSource {
  const key = stableKey({ ...reference, maxAgeMs: reference.maxAgeMs ?? SECRET_DEFAULTS.maxAgeMs, minRefetchIntervalMs: reference.minRefetchIntervalMs ?? SECRET_DEFAULTS.minRefetchIntervalMs });
  let source = sources.get(key);
  if (!source) {
    source = new SecretSource(reference);
    sources.set(key, source);
  }
  return source;
}

/**
 * Forgets every fetched secret (`closeMongoClient()`): the next use fetches again. The sources stay, so a plan made
 * before and one made after share one cache.
 */
export function forgetSecrets(): void {
  for (const source of sources.values()) source.forget();
}
