/**
 * Planning an invocation: the options of `mongo()`, `withMongo()` and the other Lambda entry points validated once,
 * where the middleware or wrapper is created (module scope), and the client configuration resolved from them.
 */
import type { ClientSessionOptions, TransactionOptions } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import { DB_NAME_ENV, FUNCTION_NAME_ENV, URI_ENV } from '../config/defaults.js';
import { CORE_PLATFORM, resolveValidated, type PlatformInputs, type ResolvedClientConfig } from '../config/resolve.js';
import { CLIENT_CONFIG_KEYS, driverOptionHint, validateClientConfig, type MongoClientConfig } from '../config/schema.js';
import { isConnectionSecret, secretSourceOf, type FetchedSecret, type SecretSource } from '../config/secret.js';
import { getDefaultLogger } from '../../shared/logging/emit.js';
import { DEADLINE_DEFAULTS } from './deadline.js';
import type { InvocationScope } from './scope.js';
import { THAW_DEFAULTS, type ThawOptions, type ThawPlan } from './thaw.js';

/** Options of `mongo()` and `withMongo()`. */
export interface MongoInvocationOptions extends MongoClientConfig {
  /**
   * Start one ClientSession per invocation (`true`, or ClientSessionOptions such as `{ causalConsistency: false }`),
   * or none (`false`).
   * @default true
   */
  session?: boolean | ClientSessionOptions;
  /**
   * Run the invocation in a transaction: started before the handler, committed after it returns, aborted
   * when it throws. `true` or TransactionOptions (read/write concern, read preference). Needs a replica set.
   * @default false
   */
  transaction?: boolean | TransactionOptions;
  /**
   * Freeze/thaw handling before the handler runs (see {@link ThawOptions}), or `false` to turn it off.
   * @default { settleAfterMs: 10, probeAfterMs: 1000, probeTimeoutMs: 500 }
   */
  thaw?: boolean | ThawOptions;
  /**
   * How long before the Lambda timeout `context.mongo.signal` fires (ms).
   * @default 500
   */
  deadlineMarginMs?: number;
  /**
   * Start connecting when the middleware is created (module scope, the init phase), so the connect overlaps the
   * rest of init and the first invocation finds a ready client. A failure is logged and retried by the first
   * invocation.
   * @default true on Lambda (`AWS_LAMBDA_RUNTIME_API` set), false elsewhere
   */
  prefetch?: boolean;
}

/** The options after validation. */
export interface InvocationPlan {
  client: MongoClientConfig;
  /** The adapter's platform: its client defaults, cache namespace and environment sources. */
  platform: PlatformInputs;
  session: ClientSessionOptions | false;
  transaction: TransactionOptions | false;
  thaw: ThawPlan;
  deadlineMarginMs: number;
  prefetch: boolean;
  /** Scopes of this middleware still open: swept when their time is up (see {@link sweepExpired}). */
  open: Set<InvocationScope>;
  /** The run-time secret `uri` names, if it names one. */
  secret: SecretSource | undefined;
  /** The client configuration once resolved, and the environment (and secret value) it was resolved from. */
  resolved?: { key: string; fetched: FetchedSecret | undefined; config: ResolvedClientConfig } | undefined;
}

export const INVOCATION_OPTION_KEYS = [...CLIENT_CONFIG_KEYS, 'session', 'transaction', 'thaw', 'deadlineMarginMs', 'prefetch'] as const;
const THAW_OPTION_KEYS = ['settleAfterMs', 'probeAfterMs', 'probeTimeoutMs'] as const;

/**
 * Validates invocation options once, where the middleware or wrapper is created (module scope).
 * The URI and environment are read later, at the first invocation.
 * @throws {ConfigurationError} unknown key or wrong type
 */
export function planInvocation(options: MongoInvocationOptions | undefined, where: string, platform: PlatformInputs = CORE_PLATFORM): InvocationPlan {
  expectOptionsObject(where, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(where, input, INVOCATION_OPTION_KEYS, driverOptionHint);
  validateClientConfig(where, input, true);
  expectOption(where, 'session', input.session, ['boolean', 'object']);
  expectOption(where, 'transaction', input.transaction, ['boolean', 'object']);
  expectOption(where, 'thaw', input.thaw, ['boolean', 'object']);
  expectOption(where, 'deadlineMarginMs', input.deadlineMarginMs, 'non-negative integer');
  expectOption(where, 'prefetch', input.prefetch, 'boolean');
  const { session: sessionOption, transaction: transactionOption, thaw: thawOption, deadlineMarginMs, prefetch, ...client }: MongoInvocationOptions = options ?? {};
  const session: boolean | ClientSessionOptions = sessionOption ?? true;
  const transaction: boolean | TransactionOptions = transactionOption ?? false;
  if (session === false && transaction !== false) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`transaction\` of ${where} needs a session: remove \`session: false\` or \`transaction\``, { option: 'transaction' });
  }
  return {
    client,
    platform,
    session: session === true ? {} : session,
    transaction: transaction === true ? {} : transaction,
    thaw: planThaw(thawOption ?? true, where),
    deadlineMarginMs: deadlineMarginMs ?? DEADLINE_DEFAULTS.deadlineMarginMs,
    prefetch: prefetch ?? process.env.AWS_LAMBDA_RUNTIME_API !== undefined,
    open: new Set(),
    secret: isConnectionSecret(client.uri) ? secretSourceOf(client.uri) : undefined,
  };
}

/**
 * The plan of an entry point that validated its own options and runs no session (the HTTP handler, the Vercel
 * adapter): the freeze/thaw check and the deadline with their defaults, no prefetch.
 */
export function planWithoutSession(client: MongoClientConfig, platform: PlatformInputs = CORE_PLATFORM): InvocationPlan {
  return {
    client,
    platform,
    session: false,
    transaction: false,
    thaw: { ...THAW_DEFAULTS },
    deadlineMarginMs: DEADLINE_DEFAULTS.deadlineMarginMs,
    prefetch: false,
    open: new Set(),
    secret: isConnectionSecret(client.uri) ? secretSourceOf(client.uri) : undefined,
  };
}

function planThaw(thaw: boolean | ThawOptions, where: string): ThawPlan {
  if (thaw === false) return false;
  if (thaw === true) return { ...THAW_DEFAULTS };
  rejectUnknownKeys(`${where} thaw`, thaw as Record<string, unknown>, THAW_OPTION_KEYS);
  for (const key of THAW_OPTION_KEYS) {
    const value = thaw[key];
    if (value !== undefined && !(typeof value === 'number' && value >= 0)) {
      throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`thaw.${key}\` of ${where} must be a non-negative number of milliseconds (Infinity allowed)`, { option: `thaw.${key}` });
    }
  }
  return { ...THAW_DEFAULTS, ...thaw };
}

/**
 * The plan's client configuration, resolved once and reused while the environment it read stays the same
 * (it reads `MONGODB_URI`, `MONGODB_DB_NAME` and the function name; tests and local runs may change them).
 */
export function resolvedConfigOf(plan: InvocationPlan, fetched?: FetchedSecret): ResolvedClientConfig {
  const env = process.env;
  const key = `${env[URI_ENV]}\u0000${env[DB_NAME_ENV]}\u0000${env[FUNCTION_NAME_ENV]}`;
  const { resolved } = plan;
  if (resolved?.key === key && resolved.fetched === fetched) return resolved.config;
  const config = resolveValidated(plan.client, plan.platform, fetched);
  plan.resolved = { key, fetched, config };
  return config;
}

/**
 * The configuration to use now without waiting: undefined when the plan's run-time secret has to be fetched first
 * (never fetched, or older than its `maxAgeMs`).
 */
export function currentConfigOf(plan: InvocationPlan): ResolvedClientConfig | undefined {
  if (!plan.secret) return resolvedConfigOf(plan);
  const fetched = plan.secret.fresh();
  return fetched && resolvedConfigOf(plan, fetched);
}

/**
 * The configuration with the plan's run-time secret fetched (or its fresh cached value), and the configuration
 * it replaces when the value changed (its client is to be retired).
 * @throws {ConnectionError} SECRET_FETCH_FAILED @throws {ConfigurationError} MISSING_DEPENDENCY, INVALID_SECRET
 */
export async function fetchConfigOf(plan: InvocationPlan, signal?: AbortSignal): Promise<{ config: ResolvedClientConfig; replaced: ResolvedClientConfig | undefined }> {
  const source = plan.secret;
  if (!source) return { config: resolvedConfigOf(plan), replaced: undefined };
  const before = plan.resolved?.config;
  const fetched = await source.get(plan.client.logger ?? getDefaultLogger(), signal);
  const config = resolvedConfigOf(plan, fetched);
  return { config, replaced: before && before.cacheKey !== config.cacheKey ? before : undefined };
}

