/**
 * One invocation's resources and their cleanup: the lease on the client, the session (and transaction), the
 * deadline. Finishing commits or aborts, then always ends the session and releases the lease.
 */
import type { ClientSession } from 'mongodb';
import { ErrorCodes, TransactionError } from '../../shared/errors.js';
import { emit, emitSafe } from '../../shared/logging/emit.js';
import { closeConnectionsOf, retireServerSessions, runAsNoOwner, runAsOwner, type CommandInFlight, type ConnectionRef, type OpenInvocation } from '../client/in-flight.js';
import type { ClientLease } from '../client/lease.js';
import { MAX_CONCURRENCY_ENV } from '../config/managed-instances.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { InvocationMongo, type MongoContext, type MongoContextWithoutSession } from './context.js';
import type { InvocationDeadline } from './deadline.js';
import { hexOf, runInInvocation, watchInvocation, type GuardedInvocation } from './guard.js';
import { unwatchDeadline, watchDeadline, type Interruptible } from './interrupt.js';

type Outcome = 'success' | 'error';

/** One invocation's resources and their cleanup. Create with {@link openInvocation}. */
export class InvocationScope implements Interruptible, OpenInvocation {
  readonly context: MongoContext | MongoContextWithoutSession;
  /** What the session guard knows of this invocation, when the guard is on. */
  readonly guard: GuardedInvocation | undefined;
  readonly #unwatch: (() => void) | undefined;
  #state: 'open' | 'finishing' | 'closed' = 'open';
  /** The killSessions sent at the deadline, while it is pending: finishing waits for it. */
  #interrupting: Promise<void> | undefined;
  readonly #interruptAtDeadline: boolean;
  /** The session an adapter started itself (mongoose's `connection.transaction()`), interrupted in its place. */
  #adopted: ClientSession | undefined;
  /** Its place in the order of invocations opened and connections checked out on the client. */
  readonly openedAt: number;
  /** Past its deadline, interrupted, and given a few round trips to answer: see {@link CheckoutsInFlight}. */
  overDeadline = false;

  /**
   * @param debug whether this invocation's DEBUG records are wanted (asked of the logger once, at its start)
   * @param interruptAtDeadline whether the session's operations are interrupted (killSessions) at the deadline
   * @param guardTransaction with the session guard on: whether the invocation runs in a transaction; undefined: guard off
   */
  constructor(
    readonly config: ResolvedClientConfig,
    readonly lease: ClientLease,
    readonly session: ClientSession | undefined,
    readonly deadline: InvocationDeadline,
    readonly requestId: string | undefined,
    private readonly registry: Set<InvocationScope>,
    private readonly debug: boolean,
    interruptAtDeadline: boolean,
    guardTransaction?: boolean,
  ) {
    registry.add(this);
    this.#interruptAtDeadline = interruptAtDeadline;
    const left = deadline.remainingMs();
    // Lambda's function timeouts are whole seconds: this invocation's, unless it started more than a second late.
    this.openedAt = lease.checkouts.open(this, left === Number.POSITIVE_INFINITY ? undefined : Math.ceil((left + deadline.marginMs) / 1_000) * 1_000);
    if (interruptAtDeadline) watchDeadline(this);
    this.context = new InvocationMongo(lease.client, session, deadline, config.dbName) as unknown as MongoContext;
    if (guardTransaction !== undefined) {
      this.guard = { requestId, config, session, transaction: guardTransaction, escaped: undefined };
      this.#unwatch = watchInvocation(lease.client, this.guard);
    }
  }

  /** Whether the session guard watches this invocation. */
  get guarded(): boolean {
    return this.guard !== undefined;
  }

  /**
   * Tells the guard and the deadline which session is the invocation's, for an adapter that starts its own
   * (mongoose's `connection.transaction()` does), and whether it runs a transaction.
   */
  adoptSession(session: ClientSession, transaction: boolean): void {
    if (this.#interruptAtDeadline && this.#state === 'open') {
      watchDeadline(this); // a no-op when the constructor already watches it
      this.#adopted = session;
    }
    if (!this.guard) return;
    this.guard.session = session;
    this.guard.transaction = transaction;
  }

  /** Milliseconds until the invocation's deadline (the deadline timer asks). */
  remainingMs(): number {
    return this.deadline.remainingMs();
  }

  /**
   * Runs the handler (`fn`) as this invocation's: the session guard and the commands in flight then know which
   * invocation a command given no `{ session }` belongs to. The wrappers call it; the middy middleware cannot (it
   * does not call the handler), so there only commands carrying the invocation's session are known as its own.
   */
  run<T>(fn: () => T): T {
    const owned = this.lease.inFlight ? () => runAsOwner(this, fn) : fn;
    return this.guard ? runInInvocation(this, owned) : owned();
  }

  /**
   * The deadline came with the invocation still open: asks the server to interrupt whatever runs in the
   * invocation's session, and in the implicit sessions of commands its handler issued without `{ session }` when
   * they are known ({@link run}) (`killSessions`), so an operation given no signal fails (11601 Interrupted) and
   * the handler can still answer; a transaction in progress is aborted by the server. The session is ended as
   * always, when the invocation finishes, which waits for the command: it has half the deadline margin to get
   * through (the other half is the handler's, to answer before the timeout), and never throws. A few round trips
   * later, connections still waiting on a command that can only be this invocation's, or another's over its
   * deadline, are closed ({@link #closeAbandoned}).
   */
  interrupt(): void {
    const { config } = this;
    const session = this.#adopted ?? this.session;
    if (this.#state !== 'open' || session?.hasEnded) return;
    // Past its Lambda timeout a classic invocation runs no more (Lambda stopped it, or froze the environment with
    // this scope left open: sweep.ts ends it), and after a thaw the client is not checked yet: nothing to send.
    // Managed Instances does not stop an invocation at its timeout, and never freezes.
    if (this.#stopped()) return;
    // Interrupted a few ms early with its burst (interrupt.ts): the handler's signal first, then the server's 11601.
    this.deadline.fireNow();
    // What is in flight as the server is asked to interrupt it: what must have ended a few round trips later.
    const inFlight = this.lease.inFlight;
    const pending = inFlight?.of(this, session?.id?.id.buffer) ?? [];
    const lsids = new Map<string, NonNullable<CommandInFlight['lsid']>>();
    const own = lsidOf(session);
    if (own !== undefined) lsids.set(own, session!.id as NonNullable<CommandInFlight['lsid']>);
    // An implicit session goes back to the driver's pool when its operation ends, and the next operation (maybe
    // another invocation's) takes it: it is named only once the driver will not reuse it.
    const implicit = pending.flatMap((command) => (command.lsid && hexOf(command.lsid.id) !== own ? [command.lsid] : []));
    for (const lsid of retireServerSessions(this.lease.client, implicit)) lsids.set(hexOf(lsid.id)!, lsid);
    const details = { requestId: this.requestId, lsid: own, ...(lsids.size > 1 || (!session && lsids.size > 0) ? { lsids: [...lsids.keys()] } : {}) };
    if (lsids.size === 0) {
      void this.#closeAbandoned(pending, details);
      return;
    }
    // Every connection of the pool checked out (their operations maybe the ones to interrupt): a command sent
    // through the client would wait in the pool's wait queue, so it goes on a connection of its own.
    const { maxPoolSize } = this.lease.client.options;
    const poolFull = maxPoolSize > 0 && this.lease.checkouts.mostFromOneServer() >= maxPoolSize;
    emitSafe(config.logger, 'warn', 'invocation.interrupted', 'The invocation reached its deadline with its session open: interrupting its operations on the server (killSessions)', poolFull ? { ...details, poolFull } : details);
    const budgetMs = this.#halfMarginMs();
    const controller = new AbortController();
    // AbortSignal.timeout() is not used: Node 20 may collect its timer while the command is pending.
    const timer = setTimeout(() => controller.abort(new DOMException('killSessions took longer than half the deadline margin', 'TimeoutError')), budgetMs);
    timer.unref();
    const named = [...lsids.values()];
    const killing = runAsNoOwner(() => (poolFull ? this.lease.side.killSessions(named, controller.signal, budgetMs) : this.lease.client.db('admin').command({ killSessions: named }, { signal: controller.signal })))
      .then(
        () => undefined,
        (error: unknown) => {
          // Not known to be applied: it may still reach the server after the session went back to the driver's
          // pool and on to another invocation, so the pool drops it instead (as after a network error)
          if (session && !session.hasEnded) session.serverSession.isDirty = true;
          emit(config.logger, 'warn', 'cleanup.failed', "Interrupting the invocation's operations at its deadline failed (killSessions)", { ...details, error }, config.secrets);
        },
      )
      .finally(() => clearTimeout(timer));
    this.#interrupting = killing.finally(() => {
      this.#interrupting = undefined;
    });
    void killing.then(() => this.#closeAbandoned(pending, details));
  }

  /** What the deadline's work may take at most: half the margin (the other half is the handler's), at least 100 ms. */
  #halfMarginMs(): number {
    return Math.max(100, this.deadline.marginMs / 2);
  }

  /** Past the Lambda timeout of a classic invocation (see {@link interrupt}). */
  #stopped(): boolean {
    return this.deadline.expired() && process.env[MAX_CONCURRENCY_ENV] === undefined;
  }

  /**
   * After `killSessions` (or at the deadline, with no session to interrupt): an operation still without an answer
   * a few round trips later waits on a socket that died without a FIN or an RST (the server never saw it, so there
   * was nothing to interrupt), or is one the server could not be asked to interrupt (a command given no session,
   * under the middy middleware). Its connection is closed, as `socketTimeoutMS` would: the driver retries a
   * retryable operation once on a new connection, and fails the others with `MongoNetworkTimeoutError`.
   *
   * Closed are the connections of this invocation's commands (known with `monitorCommands`), and every connection
   * checked out since no invocation but ones over their deadline could have used it ({@link CheckoutsInFlight}),
   * whoever's it is. Then again while the invocation stays open (a retry may meet the same), leaving alone a
   * connection checked out during the wait before the look: the driver retries an operation once, and its retry
   * (on a connection that was idle, or a new one) is closed at the second look after it was sent at the soonest.
   * Each wait is twice the one before, up to the deadline margin ({@link #nextWaitMs}).
   */
  async #closeAbandoned(pending: readonly CommandInFlight[], details: { requestId: string | undefined; lsid: string | undefined }): Promise<void> {
    const { config, lease } = this;
    const firstMs = Math.min(this.#halfMarginMs(), Math.max(100, 4 * lease.link.roundTripMs));
    const longestMs = Math.max(firstMs, this.deadline.marginMs);
    let own: readonly CommandInFlight[] = pending;
    for (let waitMs = firstMs; this.#state === 'open' && !this.#stopped(); waitMs = this.#nextWaitMs(waitMs, firstMs, longestMs)) {
      const mark = lease.checkouts.mark();
      await new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref());
      if (this.#state !== 'open') return;
      this.overDeadline = true;
      const stuck = own.length > 0 && lease.inFlight ? lease.inFlight.stillInFlight(own) : [];
      own = [];
      const connections: ConnectionRef[] = [...stuck, ...lease.checkouts.abandoned(mark)];
      if (connections.length === 0) continue;
      const closed = closeConnectionsOf(lease.client, connections, "No answer on this connection by the deadline of the invocation that sent the command, after the server was asked to interrupt its operations (killSessions): the socket is taken for dead");
      const commands = stuck.length > 0 ? { commands: stuck.map((command) => command.commandName) } : {};
      if (closed === undefined) {
        emitSafe(config.logger, 'warn', 'invocation.connectionsNotClosed', "Operations still wait on their connections past the invocation's deadline, and this driver version's internals do not let the layer close them; set clientOptions.socketTimeoutMS to bound them", { ...details, ...commands });
        return;
      }
      if (closed > 0) emitSafe(config.logger, 'warn', 'invocation.connectionsClosed', "Operations still waited on their connections past the invocation's deadline, after killSessions: closed those connections as dead", { ...details, ...commands, connections: closed });
    }
  }

  /**
   * The wait before the closing pass's next look: twice the last, up to `longestMs`. While the Lambda timeout is
   * ahead, the look comes at least `firstMs` before it: a retry that meets a dead socket too is then closed, and its
   * invocation fails, while the handler can still answer (a classic invocation is stopped at its timeout).
   */
  #nextWaitMs(lastMs: number, firstMs: number, longestMs: number): number {
    const doubled = Math.min(longestMs, 2 * lastMs);
    const untilTimeoutMs = this.deadline.untilTimeoutMs();
    return untilTimeoutMs > 0 ? Math.min(doubled, Math.max(firstMs, untilTimeoutMs - firstMs)) : doubled;
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
  /**
   * Runs the invocation's work in this scope and finishes it: `finish('success')` after it resolves (a failed
   * commit then throws), `finish('error')` after it rejects, and its error rethrown.
   */
  async settle<T>(work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      await this.finish('error');
      throw error;
    }
    const finishing = this.finish('success');
    if (finishing) await finishing;
    return result;
  }

  finish(outcome: Outcome): Promise<void> | undefined {
    if (this.#state !== 'open') return undefined;
    this.#state = 'finishing';
    this.deadline.dispose();
    const interrupting = this.#interrupting;
    if (interrupting) return interrupting.then(() => this.#finishNow(outcome));
    return this.#finishNow(outcome);
  }

  #finishNow(outcome: Outcome): Promise<void> | undefined {
    const { session } = this;
    const escaped = this.guard?.escaped;
    if (escaped && outcome === 'success') return this.#failEscaped(session, escaped);
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

  /** A write the guard refused fails the invocation even if the handler caught the error: abort, end, throw. */
  async #failEscaped(session: ClientSession | undefined, escaped: TransactionError): Promise<void> {
    if (session?.inTransaction()) await this.#finishTransaction(session, 'error');
    else {
      if (session) await this.#endSession(session);
      this.#close();
    }
    throw escaped;
  }

  #close(): void {
    unwatchDeadline(this);
    this.lease.checkouts.close(this);
    this.#unwatch?.();
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

/** The hex `lsid` of a session once the driver assigned one (it does at the first command). */
function lsidOf(session: ClientSession | undefined): string | undefined {
  return hexOf(session?.id?.id);
}
