/**
 * One invocation's MongoDB scope: the cached client, its database, a ClientSession (optionally in a
 * transaction) that is always ended, and the invocation's deadline signal. Shared by the middy middleware and
 * `withMongo`, so both have the same lifecycle. All state lives in the scope object, never in module globals:
 * concurrent invocations in one process each get their own session.
 */
import type { ClientSession, ClientSessionOptions, Db, MongoClient, TransactionOptions } from 'mongodb';
import { MongoHandle, type DbNaming } from './lazy-db.js';
import { acquireClient, acquireConnectedClient, logReuse, rebuildClient, type ClientLease } from './client-cache.js';
import { CLIENT_CONFIG_KEYS, driverOptionHint, resolveValidated, validateClientConfig, type MongoClientConfig, type ResolvedClientConfig } from './config.js';
import { DEADLINE_DEFAULTS, startDeadline, type InvocationDeadline } from './deadline.js';
import { DB_NAME_ENV, FUNCTION_NAME_ENV, URI_ENV } from './defaults.js';
import { ConfigurationError, ConnectionError, ErrorCodes, TransactionError } from './errors.js';
import { debugWanted, emit, emitSafe } from './logging.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from './options.js';
import { probeConnection, settleAfterThaw, THAW_DEFAULTS, type ThawOptions, type ThawPlan } from './thaw.js';

/** What a handler gets as `context.mongo`. */
export interface MongoContext {
  /** The cached, connected client. */
  client: MongoClient;
  /** `client.db(dbName)`. Reading it throws a `ConfigurationError` when no database name is configured. */
  db: Db;
  /** This invocation's session: pass it to every operation (`{ session }`) so they share its `lsid` and transaction. */
  session: ClientSession;
  /**
   * Fires `deadlineMarginMs` before the Lambda timeout: pass it to driver calls (`{ session, signal }`) so a slow
   * or hanging operation fails cleanly while the function can still answer.
   */
  signal: AbortSignal;
}

/** `context.mongo` when the `session: false` option is set. */
export interface MongoContextWithoutSession extends Omit<MongoContext, 'session'> {
  session: undefined;
}

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
  session: ClientSessionOptions | false;
  transaction: TransactionOptions | false;
  thaw: ThawPlan;
  deadlineMarginMs: number;
  prefetch: boolean;
  /** Scopes of this middleware still open: swept when their time is up (see {@link sweepExpired}). */
  open: Set<InvocationScope>;
  /** The client configuration once resolved, and the environment it was resolved from. */
  resolved?: { key: string; config: ResolvedClientConfig } | undefined;
}

export const INVOCATION_OPTION_KEYS = [...CLIENT_CONFIG_KEYS, 'session', 'transaction', 'thaw', 'deadlineMarginMs', 'prefetch'] as const;
const THAW_OPTION_KEYS = ['settleAfterMs', 'probeAfterMs', 'probeTimeoutMs'] as const;

/**
 * Validates invocation options once, where the middleware or wrapper is created (module scope).
 * The URI and environment are read later, at the first invocation.
 * @throws {ConfigurationError} unknown key or wrong type
 */
export function planInvocation(options: MongoInvocationOptions | undefined, where: string): InvocationPlan {
  expectOptionsObject(where, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(where, input, INVOCATION_OPTION_KEYS, driverOptionHint);
  validateClientConfig(where, input);
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
    session: session === true ? {} : session,
    transaction: transaction === true ? {} : transaction,
    thaw: planThaw(thawOption ?? true, where),
    deadlineMarginMs: deadlineMarginMs ?? DEADLINE_DEFAULTS.deadlineMarginMs,
    prefetch: prefetch ?? process.env.AWS_LAMBDA_RUNTIME_API !== undefined,
    open: new Set(),
  };
}

/**
 * Starts connecting the plan's client now (the init phase) when `prefetch` is on. Never throws: a configuration
 * error surfaces at the first invocation, a connect failure is logged and not cached.
 */
export function prefetchClient(plan: InvocationPlan): void {
  if (!plan.prefetch) return;
  let config: ResolvedClientConfig;
  try {
    config = resolvedConfigOf(plan);
  } catch {
    return;
  }
  acquireClient(config).then(
    (lease) => lease.release(),
    () => undefined,
  );
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

/** The minimal shape of a Lambda context this module uses. */
export interface InvocationContextLike {
  awsRequestId?: string;
  getRemainingTimeInMillis?: () => number;
}

type Outcome = 'success' | 'error';

const LAMBDA_DB_NAMING: DbNaming = {
  where: 'context.mongo.db',
  howToSet: `set ${DB_NAME_ENV}, pass the \`dbName\` option, or put the database in the URI path (mongodb://host/database)`,
};

/** `context.mongo`: `db` and `signal` are made on first read. */
class InvocationMongo extends MongoHandle {
  readonly #deadline: InvocationDeadline;

  constructor(
    client: MongoClient,
    readonly session: ClientSession | undefined,
    deadline: InvocationDeadline,
    dbName: string | undefined,
  ) {
    super(client, dbName, LAMBDA_DB_NAMING);
    this.#deadline = deadline;
  }

  get signal(): AbortSignal {
    return this.#deadline.signal;
  }
}

/** One invocation's resources and their cleanup. Create with {@link openInvocation}. */
export class InvocationScope {
  readonly context: MongoContext | MongoContextWithoutSession;
  #state: 'open' | 'finishing' | 'closed' = 'open';

  /**
   * @param debug whether this invocation's DEBUG records are wanted (asked of the logger once, at its start)
   */
  constructor(
    readonly config: ResolvedClientConfig,
    readonly lease: ClientLease,
    readonly session: ClientSession | undefined,
    readonly deadline: InvocationDeadline,
    readonly requestId: string | undefined,
    private readonly registry: Set<InvocationScope>,
    private readonly debug: boolean,
  ) {
    registry.add(this);
    this.context = new InvocationMongo(lease.client, session, deadline, config.dbName) as unknown as MongoContext;
  }

  /**
   * Commits (on success) or aborts (on error) the transaction, then ends the session.
   * On success a failed commit throws a {@link TransactionError} after the session was ended.
   * On error it never throws: cleanup failures are logged, the handler's error stays the one reported.
   * Calling it again is a no-op.
   *
   * Returns nothing when all of it is done synchronously (no transaction, and the driver ended the session before
   * returning, as driver 7 does): the warm path then takes no trip through the microtask queue.
   */
  finish(outcome: Outcome): Promise<void> | undefined {
    if (this.#state !== 'open') return undefined;
    this.#state = 'finishing';
    this.deadline.dispose();
    const { session } = this;
    if (session?.inTransaction()) return this.#finishTransaction(session, outcome);
    const ending = session && this.#endSession(session);
    if (ending) return ending.then(() => this.#close());
    this.#close();
    return undefined;
  }

  async #finishTransaction(session: ClientSession, outcome: Outcome): Promise<void> {
    let commitError: TransactionError | undefined;
    try {
      if (outcome === 'success') commitError = await this.#commit(session);
      else await this.#abort(session);
    } finally {
      await this.#endSession(session);
      this.#close();
    }
    if (commitError) throw commitError;
  }

  #close(): void {
    this.lease.release();
    this.registry.delete(this);
    this.#state = 'closed';
  }

  async #commit(session: ClientSession): Promise<TransactionError | undefined> {
    const { config } = this;
    try {
      await session.commitTransaction();
      emitSafe(config.logger, 'debug', 'transaction.committed', 'Committed the invocation transaction', { requestId: this.requestId });
      return undefined;
    } catch (error) {
      const failure = new TransactionError(
        ErrorCodes.COMMIT_FAILED,
        `Committing the invocation's transaction failed, its writes were not applied: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, secrets: config.secrets },
      );
      emit(config.logger, 'error', 'transaction.commit.failed', 'Committing the invocation transaction failed', { requestId: this.requestId, error: failure }, config.secrets);
      return failure;
    }
  }

  async #abort(session: ClientSession): Promise<void> {
    const { config } = this;
    try {
      await session.abortTransaction();
      emitSafe(config.logger, 'debug', 'transaction.aborted', 'Aborted the invocation transaction', { requestId: this.requestId });
    } catch (error) {
      emit(config.logger, 'warn', 'cleanup.failed', 'Aborting the invocation transaction failed (the server aborts it when the session ends or times out)', { requestId: this.requestId, error }, config.secrets);
    }
  }

  /** Ends the session; returns a promise only when the driver did not end it synchronously. Never rejects. */
  #endSession(session: ClientSession): Promise<void> | undefined {
    let ending: Promise<void>;
    try {
      ending = session.endSession();
    } catch (error) {
      this.#endFailed(error);
      return undefined;
    }
    if (!session.hasEnded) return ending.then(() => this.#ended(session), (error: unknown) => this.#endFailed(error));
    ending.catch((error: unknown) => this.#endFailed(error));
    this.#ended(session);
    return undefined;
  }

  #ended(session: ClientSession): void {
    if (this.debug) emitSafe(this.config.logger, 'debug', 'session.ended', 'Ended the invocation session', { requestId: this.requestId, lsid: lsidOf(session) });
  }

  #endFailed(error: unknown): void {
    const { config } = this;
    emit(config.logger, 'warn', 'cleanup.failed', 'Ending the invocation session failed', { requestId: this.requestId, error }, config.secrets);
  }
}

/**
 * Gets the cached client (checked after a freeze), starts the session (and transaction) of one invocation.
 * Synchronous on the warm path (a connected client, no freeze/thaw turn due); a promise otherwise.
 * @throws {ConfigurationError} missing or malformed URI
 * @throws {ConnectionError} the client could not connect
 */
export function openInvocation(plan: InvocationPlan, lambdaContext: InvocationContextLike | undefined): InvocationScope | Promise<InvocationScope> {
  if (plan.open.size > 0) sweepExpired(plan.open);
  const config = resolvedConfigOf(plan);
  const deadline = startDeadline(lambdaContext, plan.deadlineMarginMs);
  const lease = acquireConnectedClient(config);
  if (lease && !thawCheckDue(plan.thaw, lease)) {
    const debug = debugWanted(config.logger);
    if (debug) logReuse(config);
    return startScope(plan, config, lease, deadline, lambdaContext, debug);
  }
  return openAfterWaiting(plan, config, lease, deadline, lambdaContext);
}

/** {@link openInvocation} when it has to wait: for a connect, or for the freeze/thaw check. */
async function openAfterWaiting(
  plan: InvocationPlan,
  config: ResolvedClientConfig,
  connected: ClientLease | undefined,
  deadline: InvocationDeadline,
  lambdaContext: InvocationContextLike | undefined,
): Promise<InvocationScope> {
  let lease: ClientLease;
  try {
    if (connected) logReuse(config);
    lease = connected ?? (await beforeDeadline(acquireClient(config), deadline.signal, config));
    if (thawCheckDue(plan.thaw, lease)) lease = await checkAfterThaw(lease, config, plan.thaw, deadline);
  } catch (error) {
    deadline.dispose();
    throw error;
  }
  return startScope(plan, config, lease, deadline, lambdaContext, debugWanted(config.logger));
}

/**
 * Starts the session (and transaction) and makes the scope. Should the driver refuse the session options, the
 * lease is released before the error goes up: a lease left held would hide every later gap from the thaw check.
 */
function startScope(
  plan: InvocationPlan,
  config: ResolvedClientConfig,
  lease: ClientLease,
  deadline: InvocationDeadline,
  lambdaContext: InvocationContextLike | undefined,
  debug: boolean,
): InvocationScope {
  const requestId = lambdaContext?.awsRequestId;
  let session: ClientSession | undefined;
  if (plan.session !== false) {
    try {
      session = lease.client.startSession(plan.session);
      if (plan.transaction !== false) session.startTransaction(plan.transaction);
    } catch (error) {
      session?.endSession().catch(() => undefined);
      lease.release();
      deadline.dispose();
      throw error;
    }
    if (debug) emitSafe(config.logger, 'debug', 'session.started', 'Started the invocation session', { requestId, transaction: plan.transaction !== false });
  }
  return new InvocationScope(config, lease, session, deadline, requestId, plan.open, debug);
}

/**
 * Safety net for scopes whose `after`/`onError` never ran (a middleware placed after `mongo()` answered early,
 * so middy skipped every `after`): the next invocation ends the sessions of those whose time is up. No timer:
 * the warm path stays free of one.
 */
function sweepExpired(open: Set<InvocationScope>): void {
  for (const scope of open) {
    if (!scope.deadline.expired()) continue;
    emit(scope.config.logger, 'warn', 'cleanup.failed', 'An invocation ended without after/onError running: ending its MongoDB session now (is a middleware after mongo() returning early?)', { requestId: scope.requestId }, scope.config.secrets);
    void scope.finish('error');
  }
}

/**
 * The plan's client configuration, resolved once and reused while the environment it read stays the same
 * (it reads `MONGODB_URI`, `MONGODB_DB_NAME` and the function name; tests and local runs may change them).
 */
function resolvedConfigOf(plan: InvocationPlan): ResolvedClientConfig {
  const env = process.env;
  const key = `${env[URI_ENV]}\u0000${env[DB_NAME_ENV]}\u0000${env[FUNCTION_NAME_ENV]}`;
  const { resolved } = plan;
  if (resolved?.key === key) return resolved.config;
  const config = resolveValidated(plan.client);
  plan.resolved = { key, config };
  return config;
}

/**
 * Whether the freeze/thaw check is due: thaw handling on, a client this invocation did not just create, idle for
 * `thaw.settleAfterMs` or more. The one place that decides it, for the warm path and after a wait alike.
 */
function thawCheckDue(thaw: ThawPlan, lease: ClientLease): thaw is Required<ThawOptions> {
  return thaw !== false && !lease.cold && lease.idleMs >= thaw.settleAfterMs;
}

/**
 * Settles socket events from the freeze, then probes after a long gap; returns the lease to use. The deadline's
 * signal (an AbortController and a timer) is made only for a probe.
 */
async function checkAfterThaw(lease: ClientLease, config: ResolvedClientConfig, thaw: Required<ThawOptions>, deadline: InvocationDeadline): Promise<ClientLease> {
  await settleAfterThaw();
  if (lease.idleMs < thaw.probeAfterMs) return lease;
  const verdict = await probeConnection(lease.client, config, thaw.probeTimeoutMs, deadline.signal, lease.idleMs);
  return verdict === 'healthy' ? lease : beforeDeadline(rebuildClient(config, lease), deadline.signal, config);
}

/**
 * Waits for a connect, but not past the invocation deadline: then the invocation fails with time left to
 * answer, while the connect goes on for the next invocation (a lease obtained late is released).
 */
async function beforeDeadline(connecting: Promise<ClientLease>, signal: AbortSignal, config: ResolvedClientConfig): Promise<ClientLease> {
  let onAbort: (() => void) | undefined;
  const deadlinePassed = new Promise<typeof signal>((resolve) => {
    // Only a pending connect gets here: a connected client was leased synchronously before.
    if (signal.aborted) resolve(signal);
    else {
      onAbort = () => resolve(signal);
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    const winner = await Promise.race([connecting, deadlinePassed]);
    if (winner !== signal) return winner as ClientLease;
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
  connecting.then((late) => late.release(), () => undefined);
  throw new ConnectionError(
    ErrorCodes.DEADLINE_EXCEEDED,
    `The invocation deadline came before the MongoDB client at ${config.redactedUri} was connected; the connect goes on for the next invocation (raise the function timeout or lower serverSelectionTimeoutMS)`,
    { cause: signal.reason, secrets: config.secrets },
  );
}

/** The hex `lsid` of a session once the driver assigned one (it does at the first command). */
function lsidOf(session: ClientSession): string | undefined {
  const id = session.id?.id;
  return id ? Buffer.from(id.buffer).toString('hex') : undefined;
}
