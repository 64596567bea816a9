/**
 * Options of `createHttpHandler`: defaults, validation (unknown keys and wrong types are a
 * ConfigurationError naming the option, like the core's), and the resolved form the handler runs with.
 */
import { validateClientConfig, type MongoClientConfig } from '../../core/config/schema.js';
import { planWithoutSession, type InvocationPlan } from '../../core/invocation/plan.js';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { expectOption, expectOptionsObject, isPlainObject, rejectUnknownKeys } from '../../shared/validation.js';
import { MemoryReplayCache, SIGNING_DEFAULTS, type ReplayCache } from '../protocol/signing.js';
import { HTTP_OPERATIONS, isHttpOperation, type HttpOperation } from '../protocol/protocol.js';

export const HTTP_HANDLER_DEFAULTS = {
  /**
   * Largest request body accepted; larger ones get 413 before the signature is even checked. 1 MiB holds
   * thousands of small documents; a Function URL refuses more than 6 MB anyway.
   */
  maxBodyBytes: 1_048_576,
  /**
   * Time for one operation, bounded further by the function's remaining time. Every operation also gets it as
   * `maxTimeMS` (the server stops), reads as an abort `signal` too; a write that outlives it gets 504 and may or
   * may not have been applied.
   */
  timeoutMs: 10_000,
  /** Most documents a `find` or `aggregate` may return; more is a 400 asking for a `limit` (Lambda responses stop at 6 MB). */
  maxDocuments: 1_000,
  /** How far a request's timestamp may be from the function's clock; see {@link SIGNING_DEFAULTS}. */
  replayWindowMs: SIGNING_DEFAULTS.replayWindowMs,
  /** How requests are authenticated. */
  auth: 'hmac',
  /** MongoDB's messages for refusals (400 MONGO_ERROR, 409 DUPLICATE_KEY) are passed on: they name what to fix. */
  hideServerMessages: false,
} as const;

/** The environment variable read when the `secret` option is not given. */
export const HTTP_SECRET_ENV = 'MONGODB_HTTP_SECRET';

/** One secret, several (the current one first, then the one being rotated out), or a function returning them. */
export type HttpSecret = string | readonly string[] | (() => string | readonly string[] | Promise<string | readonly string[]>);

/** Options of `createHttpHandler`. */
export interface HttpHandlerOptions extends Omit<MongoClientConfig, 'dbName'> {
  /**
   * The databases and, for each, the collections requests may use: `{ shop: ['items', 'orders'] }`.
   * Anything else is refused with 403, including `$lookup`/`$unionWith`/`$graphLookup` into other collections.
   */
  allow: Readonly<Record<string, readonly string[]>>;
  /**
   * The operations requests may run (`READ_OPERATIONS` for a read-only endpoint).
   * @default all ten: find, findOne, insertOne, insertMany, updateOne, updateMany, deleteOne, deleteMany, aggregate, countDocuments
   */
  operations?: readonly HttpOperation[];
  /**
   * `'hmac'`: every request is signed with a shared secret (see `serverless-mongodb/http`).
   * `'aws-iam'`: the Function URL's AuthType is AWS_IAM and AWS checks a SigV4 signature; the handler refuses
   * events without an IAM identity, so a URL switched to AuthType NONE fails closed.
   * @default 'hmac'
   */
  auth?: 'hmac' | 'aws-iam';
  /**
   * The shared secret(s), at least 32 characters each (`openssl rand -hex 32`). Several are accepted during a
   * rotation. A function is called for every request: return a cached value (e.g. Powertools `getSecret`
   * from Secrets Manager, which caches for 5 s).
   * @default process.env.MONGODB_HTTP_SECRET
   */
  secret?: HttpSecret;
  /** @default 300_000 (5 minutes) */
  replayWindowMs?: number;
  /**
   * Remembers nonces inside the window (plus a minute), so a captured request cannot be sent again.
   * @default a {@link MemoryReplayCache}: per execution environment, 100 000 nonces (about 277 requests per second
   * sustained with the default window; past that 503 until nonces expire)
   */
  replayCache?: ReplayCache;
  /** @default 1_048_576 (1 MiB) */
  maxBodyBytes?: number;
  /** @default 10_000 */
  timeoutMs?: number;
  /** @default 1_000 */
  maxDocuments?: number;
  /**
   * Replace MongoDB's own messages in answers by generic ones (code and codeName stay). A server message can
   * quote a value of another document (a duplicate key) or a field of the request; the function's log keeps it.
   * Authentication and infrastructure errors (users, hosts, shards) never reach the caller, with or without it.
   * @default false
   */
  hideServerMessages?: boolean;
}

const HANDLER_KEYS = [
  'uri',
  'clientOptions',
  'logger',
  'allow',
  'operations',
  'auth',
  'secret',
  'replayWindowMs',
  'replayCache',
  'maxBodyBytes',
  'timeoutMs',
  'maxDocuments',
  'hideServerMessages',
] as const;

/** The options after validation. */
export interface ResolvedHttpHandlerOptions {
  /** The invocation lifecycle's plan: no session, the freeze/thaw check and the deadline with their defaults. */
  plan: InvocationPlan;
  allow: ReadonlyMap<string, ReadonlySet<string>>;
  operations: ReadonlySet<HttpOperation>;
  auth: 'hmac' | 'aws-iam';
  /** Resolves the secrets for one request (validated each time when they come from a function). */
  secrets: () => Promise<readonly string[]>;
  /** Secrets known up front, for redaction. */
  knownSecrets: readonly string[];
  replayWindowMs: number;
  replayCache: ReplayCache;
  maxBodyBytes: number;
  timeoutMs: number;
  maxDocuments: number;
  hideServerMessages: boolean;
}

const WHERE = 'createHttpHandler()';

/**
 * Validates the options once, where the handler is created (module scope: a mistake fails the init phase).
 * @throws {ConfigurationError} unknown key, wrong type, empty allow-list, missing or short secret
 */
export function resolveHttpHandlerOptions(options: HttpHandlerOptions): ResolvedHttpHandlerOptions {
  expectOptionsObject(WHERE, options);
  if (options === undefined) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `${WHERE} needs options with at least \`allow\`, e.g. { allow: { shop: ['items'] } }`, { option: 'allow' });
  }
  const input = options as unknown as Record<string, unknown>;
  rejectUnknownKeys(WHERE, input, HANDLER_KEYS, (key) =>
    key === 'dbName' ? 'the database comes from the request path and must be in `allow`' : undefined,
  );
  validateClientConfig(WHERE, input);
  for (const key of ['replayWindowMs', 'maxBodyBytes', 'timeoutMs', 'maxDocuments'] as const) expectPositiveInteger(key, input[key]);
  expectOption(WHERE, 'hideServerMessages', input.hideServerMessages, 'boolean');
  const replayCache = input.replayCache as { remember?: unknown } | null | undefined;
  if (replayCache !== undefined && (replayCache === null || typeof replayCache !== 'object' || typeof replayCache.remember !== 'function')) {
    throw invalid('replayCache', 'Option `replayCache` of createHttpHandler() must have a `remember(nonce, expiresAtMs, nowMs)` method');
  }
  const auth = options.auth ?? HTTP_HANDLER_DEFAULTS.auth;
  if (auth !== 'hmac' && auth !== 'aws-iam') throw invalid('auth', `Option \`auth\` of ${WHERE} must be 'hmac' or 'aws-iam'`);

  const { secrets, knownSecrets } = resolveSecrets(auth, options.secret);
  const client: MongoClientConfig = {};
  if (options.uri !== undefined) client.uri = options.uri;
  if (options.clientOptions !== undefined) client.clientOptions = options.clientOptions;
  if (options.logger !== undefined) client.logger = options.logger;
  return {
    plan: planWithoutSession(client),
    allow: resolveAllow(options.allow),
    operations: resolveOperations(options.operations),
    auth,
    secrets,
    knownSecrets,
    replayWindowMs: options.replayWindowMs ?? HTTP_HANDLER_DEFAULTS.replayWindowMs,
    replayCache: options.replayCache ?? new MemoryReplayCache(),
    maxBodyBytes: options.maxBodyBytes ?? HTTP_HANDLER_DEFAULTS.maxBodyBytes,
    timeoutMs: options.timeoutMs ?? HTTP_HANDLER_DEFAULTS.timeoutMs,
    maxDocuments: options.maxDocuments ?? HTTP_HANDLER_DEFAULTS.maxDocuments,
    hideServerMessages: options.hideServerMessages ?? HTTP_HANDLER_DEFAULTS.hideServerMessages,
  };
}

function resolveAllow(allow: unknown): ReadonlyMap<string, ReadonlySet<string>> {
  if (!isPlainObject(allow) || Object.keys(allow).length === 0) {
    throw invalid('allow', `Option \`allow\` of ${WHERE} must list the databases and collections requests may use, e.g. { allow: { shop: ['items'] } }`);
  }
  const resolved = new Map<string, ReadonlySet<string>>();
  for (const [database, collections] of Object.entries(allow)) {
    if (!Array.isArray(collections) || collections.length === 0 || !collections.every((name) => typeof name === 'string' && name !== '')) {
      throw invalid('allow', `Option \`allow\` of ${WHERE}: \`${database}\` must map to a non-empty array of collection names`);
    }
    resolved.set(database, new Set(collections as string[]));
  }
  return resolved;
}

function resolveOperations(operations: unknown): ReadonlySet<HttpOperation> {
  if (operations === undefined) return new Set(HTTP_OPERATIONS);
  if (!Array.isArray(operations) || operations.length === 0) {
    throw invalid('operations', `Option \`operations\` of ${WHERE} must be a non-empty array of ${HTTP_OPERATIONS.join(', ')}`);
  }
  for (const operation of operations) {
    if (typeof operation !== 'string' || !isHttpOperation(operation)) {
      throw invalid('operations', `Option \`operations\` of ${WHERE} names an unknown operation (${typeof operation === 'string' ? operation : typeof operation}): known are ${HTTP_OPERATIONS.join(', ')}`);
    }
  }
  return new Set(operations as HttpOperation[]);
}

function resolveSecrets(auth: 'hmac' | 'aws-iam', secret: HttpSecret | undefined): Pick<ResolvedHttpHandlerOptions, 'secrets' | 'knownSecrets'> {
  if (auth === 'aws-iam') {
    if (secret !== undefined) throw invalid('secret', `Option \`secret\` of ${WHERE} is not used with auth: 'aws-iam' (AWS checks the SigV4 signature): remove one of them`);
    return { secrets: async () => [], knownSecrets: [] };
  }
  if (typeof secret === 'function') {
    return { secrets: async () => checkSecrets(await secret(), 'the `secret` function'), knownSecrets: [] };
  }
  if (secret === undefined) {
    const fromEnv = process.env[HTTP_SECRET_ENV];
    if (fromEnv === undefined || fromEnv.trim() === '') {
      throw invalid('secret', `No secret for request signatures: set ${HTTP_SECRET_ENV} (from Secrets Manager) or pass the \`secret\` option; or use auth: 'aws-iam'`, HTTP_SECRET_ENV);
    }
    const secrets = checkSecrets(fromEnv.trim(), HTTP_SECRET_ENV);
    return { secrets: async () => secrets, knownSecrets: secrets };
  }
  const secrets = checkSecrets(secret, 'the `secret` option');
  return { secrets: async () => secrets, knownSecrets: secrets };
}

/** @throws {ConfigurationError} unless every secret is a string of at least 32 characters */
export function checkSecrets(value: unknown, source: string): readonly string[] {
  const secrets = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(secrets) || secrets.length === 0 || !secrets.every((item) => typeof item === 'string')) {
    throw invalid('secret', `The request-signing secret from ${source} must be a string or a non-empty array of strings`);
  }
  if (secrets.some((item: string) => item.length < SIGNING_DEFAULTS.minSecretLength)) {
    throw invalid('secret', `The request-signing secret from ${source} is shorter than ${SIGNING_DEFAULTS.minSecretLength} characters: generate one with \`openssl rand -hex 32\``);
  }
  return secrets as string[];
}

function expectPositiveInteger(option: string, value: unknown): void {
  expectOption(WHERE, option, value, 'non-negative integer');
  if (value === 0) throw invalid(option, `Option \`${option}\` of ${WHERE} must be greater than 0`);
}

function invalid(option: string, message: string, reported = option): ConfigurationError {
  return new ConfigurationError(ErrorCodes.INVALID_OPTION, message, { option: reported });
}
