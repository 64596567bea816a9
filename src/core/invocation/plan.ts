/**
 * Planning an invocation: the options of `mongo()`, `withMongo()` and the other Lambda entry points validated once,
 * where the middleware or wrapper is created (module scope), and the client configuration resolved from them.
 */
import type { ClientSessionOptions, TransactionOptions } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import { DB_NAME_ENV, FUNCTION_NAME_ENV, URI_ENV } from '../config/defaults.js';
import { CORE_PLATFORM, resolveValidated, type PlatformInputs, type ResolvedClientConfig } from '../config/resolve.js';
import { CLIENT_CONFIG_KEYS, driverOptionHint, validateClientConfig, validateDbName, type MongoClientConfig } from '../config/schema.js';
import type { LambdaContextLike } from '../../shared/lambda-context.js';
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
   * At the deadline (`deadlineMarginMs` before the Lambda timeout), with the invocation still running, ask the
   * server to interrupt the operations of its session (`killSessions`): an operation given no `signal`, a write
   * included, then fails with MongoDB error 11601 (Interrupted), a transaction is aborted, and the handler can
   * still answer. Covers what runs with `context.mongo.session`. A few round trips later, a connection still
   * waiting for a command only invocations over their deadline could have sent (a socket that died unseen, a
   * command given no session) is closed: see docs/deadline-and-shutdown.md.
   * @default true
   */
  interruptAtDeadline?: boolean;
  /**
   * Start connecting when the middleware is created (module scope, the init phase), so the connect overlaps the
   * rest of init and the first invocation finds a ready client. A failure is logged and retried by the first
   * invocation.
   * @default true on Lambda (`AWS_LAMBDA_RUNTIME_API` set), false elsewhere
   */
  prefetch?: boolean;
  /**
   * A pool per tenant: the connection string (and database) of this invocation, chosen from its event. Each
   * distinct URI gets a cached client of its own; bound how many stay open with `configureClientCache({ maxClients })`.
   * For a database per tenant on one pool, use `context.mongo.dbFor(name)` instead.
   * @example
   * ```ts
   * import { configureClientCache, withMongo } from 'serverless-mongodb';
   *
   * configureClientCache({ maxClients: 20 });
   * export const handler = withMongo(async (event: { tenantId: string }, context) => context.mongo.db.collection('orders').countDocuments({}, { session: context.mongo.session }), {
   *   tenant: (event: { tenantId: string }) => ({ uri: process.env[`MONGODB_URI_${event.tenantId}`]!, dbName: event.tenantId }),
   * });
   * ```
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the handler's event type is the caller's
  tenant?: (event: any, context: LambdaContextLike | undefined) => TenantTarget;
  /**
   * The session guard: watches every command an invocation issues (the driver's command monitoring) and warns,
   * naming the command, the collection and the invocation, when one carries another session or none; a write that
   * escapes the invocation's transaction is refused. Costs one monitoring event per command and a client of its
   * own (`monitorCommands: true`), which is why it is off in production.
   * @default true when NODE_ENV is `test` or `development`, false otherwise
   */
  sessionGuard?: boolean;
}

/** What {@link MongoInvocationOptions.tenant} returns: the tenant's connection string, and its database. */
export interface TenantTarget {
  uri: string;
  /** The tenant's database (`context.mongo.db`), else the plan's `dbName`, else the URI's. */
  dbName?: string;
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
  interruptAtDeadline: boolean;
  prefetch: boolean;
  tenant: MongoInvocationOptions['tenant'];
  sessionGuard: boolean;
  /** Resolved configurations by tenant (bounded), when `tenant` is set. */
  tenants?: Map<string, ResolvedClientConfig> | undefined;
  /** Scopes of this middleware still open: swept when their time is up (see {@link sweepExpired}). */
  open: Set<InvocationScope>;
  /** The run-time secret `uri` names, if it names one. */
  secret: SecretSource | undefined;
  /** The client configuration once resolved, and the environment (and secret value) it was resolved from. */
  resolved?: { key: string; fetched: FetchedSecret | undefined; config: ResolvedClientConfig } | undefined;
}

export const INVOCATION_OPTION_KEYS = [...CLIENT_CONFIG_KEYS, 'session', 'transaction', 'thaw', 'deadlineMarginMs', 'interruptAtDeadline', 'prefetch', 'tenant', 'sessionGuard'] as const;

/** The session guard's default: on under tests and in development, off otherwise (production). */
export function sessionGuardDefault(): boolean {
  const mode = process.env.NODE_ENV;
  return mode === 'test' || mode === 'development';
}
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
  expectOption(where, 'interruptAtDeadline', input.interruptAtDeadline, 'boolean');
  expectOption(where, 'prefetch', input.prefetch, 'boolean');
  expectOption(where, 'tenant', input.tenant, 'function');
  expectOption(where, 'sessionGuard', input.sessionGuard, 'boolean');
  if (input.tenant !== undefined && input.uri !== undefined) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Options \`uri\` and \`tenant\` of ${where} both name the connection string: keep one (\`tenant\` returns each invocation's \`{ uri }\`)`, { option: 'tenant' });
  }
  const { session: sessionOption, transaction: transactionOption, thaw: thawOption, deadlineMarginMs, interruptAtDeadline, prefetch, tenant, sessionGuard, ...client }: MongoInvocationOptions = options ?? {};
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
    interruptAtDeadline: interruptAtDeadline ?? true,
    prefetch: tenant === undefined && (prefetch ?? process.env.AWS_LAMBDA_RUNTIME_API !== undefined),
    tenant,
    sessionGuard: session !== false && (sessionGuard ?? sessionGuardDefault()),
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
    interruptAtDeadline: false,
    prefetch: false,
    tenant: undefined,
    sessionGuard: false,
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
  const key = environmentKey();
  const { resolved } = plan;
  if (resolved?.key === key && resolved.fetched === fetched) return resolved.config;
  const config = resolveValidated(clientConfigOf(plan, plan.client), plan.platform, fetched);
  plan.resolved = { key, fetched, config };
  return config;
}

/** The environment a resolved configuration depends on (tests and local runs may change it). */
function environmentKey(): string {
  const env = process.env;
  return `${env[URI_ENV]}\u0000${env[DB_NAME_ENV]}\u0000${env[FUNCTION_NAME_ENV]}`;
}

/**
 * The configuration to use now without waiting: the tenant's (`tenant`, from the event and context), else the
 * plan's; undefined when the plan's run-time secret has to be fetched first (never fetched, or older than its
 * `maxAgeMs`).
 */
export function currentConfigOf(plan: InvocationPlan, event?: unknown, lambdaContext?: LambdaContextLike): ResolvedClientConfig | undefined {
  if (plan.tenant) return tenantConfigOf(plan, environmentKey(), event, lambdaContext);
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

/** How many tenants' resolved configurations a plan keeps (resolving is cheap; this only spares the warm path). */
const TENANT_CONFIGS = 256;

function tenantConfigOf(plan: InvocationPlan, envKey: string, event: unknown, lambdaContext: LambdaContextLike | undefined): ResolvedClientConfig {
  let target: TenantTarget;
  try {
    target = plan.tenant!(event, lambdaContext);
  } catch (error) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `The \`tenant\` function threw: ${error instanceof Error ? error.message : String(error)}`, { option: 'tenant', cause: error });
  }
  if (target === null || typeof target !== 'object' || typeof target.uri !== 'string' || target.uri.trim() === '' || (target.dbName !== undefined && typeof target.dbName !== 'string')) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, 'The `tenant` function must return `{ uri: string, dbName?: string }` (a non-empty connection string)', { option: 'tenant' });
  }
  const key = `${target.uri}\u0000${target.dbName}\u0000${envKey}`;
  const tenants = (plan.tenants ??= new Map());
  let config = tenants.get(key);
  if (!config) {
    if (target.dbName !== undefined) validateDbName(target.dbName, 'the `tenant` function', 'tenant');
    config = resolveValidated(clientConfigOf(plan, { ...plan.client, uri: target.uri, ...(target.dbName !== undefined ? { dbName: target.dbName } : {}) }), plan.platform);
    if (tenants.size >= TENANT_CONFIGS) tenants.delete(tenants.keys().next().value!);
    tenants.set(key, config);
  }
  return config;
}

/** The client configuration a plan resolves: with the session guard, a client that reports its commands. */
function clientConfigOf(plan: InvocationPlan, client: MongoClientConfig): MongoClientConfig {
  return plan.sessionGuard ? { ...client, clientOptions: { ...client.clientOptions, monitorCommands: true } } : client;
}

