/**
 * `withMongoose()`: the mongoose twin of `withMongo()`, for plain async handlers. Unlike the middleware it runs
 * the handler itself, so it can run it inside mongoose's AsyncLocalStorage context (operations without `session`
 * use the invocation's) and, with `transaction: true`, inside `connection.transaction()`.
 */
import type { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';
import type { ClientSession } from 'mongoose';
import { openInvocation, prefetchClient } from '../../core/invocation/open.js';
import type { InvocationScope } from '../../core/invocation/scope.js';
import { ConnectionError, ErrorCodes, TransactionError } from '../../shared/errors.js';
import { emit, emitSafe } from '../../shared/logging/emit.js';
import type { LambdaContextLike } from '../../shared/lambda-context.js';
import { connectionFor } from './connection.js';
import { InvocationMongoose } from './context.js';
import type { MongooseContextFor } from './middleware.js';
import { planMongoose, type MongooseInvocationOptions, type MongoosePlan } from './plan.js';

/**
 * Wraps an async Lambda handler: each invocation gets `context.mongoose = { connection, session, signal, useDb }`.
 *
 * - Without a transaction: one session per invocation, ended when the handler is done; model operations without
 *   a `session` option use it (mongoose's `transactionAsyncLocalStorage`, turned on by the adapter).
 * - `transaction: true` (or TransactionOptions): the handler runs inside `connection.transaction()`; every model
 *   operation of the handler joins the transaction, passed `session` or not. Mongoose (the driver's
 *   `withTransaction`) runs the handler again when the transaction fails with a transient error (a write
 *   conflict, a failover) and retries a commit whose outcome is unknown: the handler must be safe to run more than
 *   once: no side effect outside MongoDB before it returns (send the email after), and `context.mongoose.attempt`
 *   says which run it is. No retry starts once the invocation's deadline (`signal`) fired.
 *
 * @example
 * ```ts
 * import mongoose from 'mongoose';
 * import { withMongoose } from 'serverless-mongodb/mongoose';
 *
 * const connection = mongoose.createConnection();
 * const Account = connection.model('Account', new mongoose.Schema({ name: String, balance: Number }));
 *
 * export const handler = withMongoose(async (event: { from: string; to: string; amount: number }) => {
 *   await Account.updateOne({ name: event.from }, { $inc: { balance: -event.amount } });
 *   await Account.updateOne({ name: event.to }, { $inc: { balance: event.amount } });
 *   return { moved: event.amount };
 * }, { connection, dbName: 'bank', transaction: true });
 * ```
 */
export function withMongoose<TEvent, TResult, TContext extends object = Context, const TOptions extends MongooseInvocationOptions = MongooseInvocationOptions>(
  handler: (event: TEvent, context: TContext & { mongoose: MongooseContextFor<TOptions> }) => Promise<TResult>,
  options?: TOptions,
): (event: TEvent, context: ContextWithoutMongoose<TContext>) => Promise<TResult> {
  const plan = planMongoose(options, 'withMongoose()');
  // mongoose's transaction() starts the session itself: the core runs the lifecycle without one.
  if (plan.transaction !== false) {
    plan.core.session = false;
    plan.core.transaction = false;
  }
  prefetchClient(plan.core);
  return async function withMongooseHandler(event: TEvent, context: ContextWithoutMongoose<TContext>): Promise<TResult> {
    const opened = openInvocation(plan.core, context as LambdaContextLike, event);
    const scope = opened instanceof Promise ? await opened : opened;
    let connection;
    try {
      connection = connectionFor(plan, scope.config, scope.lease.client);
    } catch (error) {
      await scope.finish('error');
      throw error;
    }
    const target = (context ?? {}) as TContext & { mongoose: MongooseContextFor<TOptions> };
    const run = (session: ClientSession | undefined, attempt: number): Promise<TResult> => {
      (target as { mongoose: unknown }).mongoose = new InvocationMongoose(connection, session as ClientSession, scope.deadline, attempt);
      const call = () => handler(event, target);
      const als = plan.asyncLocalStorage && session && plan.transaction === false ? (plan.base as { transactionAsyncLocalStorage?: SessionStorage }).transactionAsyncLocalStorage : undefined;
      return scope.run(als ? () => als.run({ session }, call) : call);
    };
    if (plan.transaction !== false) return runTransaction(plan, scope, connection, run);
    return scope.settle(() => run(scope.session as ClientSession | undefined, 1));
  };
}

/** The context the wrapped handler takes: the caller's, without the `mongoose` the wrapper adds. */
export type ContextWithoutMongoose<TContext> = TContext extends { mongoose: unknown } ? Omit<TContext, 'mongoose'> : TContext;

/** Mongoose's `transactionAsyncLocalStorage`: model operations read their session from its store. */
type SessionStorage = AsyncLocalStorage<{ session: ClientSession | undefined }>;

/** The handler inside `connection.transaction()`: retried on transient errors, stopped by the deadline. */
async function runTransaction<TResult>(
  plan: MongoosePlan,
  scope: InvocationScope,
  connection: import('mongoose').Connection,
  run: (session: ClientSession, attempt: number) => Promise<TResult>,
): Promise<TResult> {
  const { config, requestId } = scope;
  let attempt = 0;
  let returned = false;
  let session: ClientSession | undefined;
  try {
    const result = await connection.transaction<TResult>(async (transactionSession) => {
      attempt++;
      returned = false;
      session = transactionSession;
      if (attempt > 1 && scope.deadline.signal.aborted) {
        throw new ConnectionError(ErrorCodes.DEADLINE_EXCEEDED, `The invocation deadline came before mongoose could run the transaction again (attempt ${attempt}): raise the function timeout`, { cause: scope.deadline.signal.reason });
      }
      scope.adoptSession(transactionSession as never, true);
      const value = await run(transactionSession, attempt);
      returned = true;
      return value;
    }, plan.transaction === false ? undefined : (plan.transaction as never));
    emitSafe(config.logger, 'debug', 'transaction.committed', 'Committed the invocation transaction', { requestId, attempts: attempt });
    return result;
  } catch (error) {
    if (!returned) {
      emitSafe(config.logger, 'debug', 'transaction.aborted', 'Aborted the invocation transaction', { requestId, attempts: attempt });
      throw error;
    }
    const failure = new TransactionError(
      ErrorCodes.COMMIT_FAILED,
      `Committing the invocation's transaction failed, its writes were not applied: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, secrets: config.secrets },
    );
    emit(config.logger, 'error', 'transaction.commit.failed', 'Committing the invocation transaction failed', { requestId, error: failure }, config.secrets);
    throw failure;
  } finally {
    // mongoose ends the session (without waiting); the record says so, then the lease is released.
    if (session) {
      if (!session.hasEnded) await session.endSession().catch(() => undefined);
      emitSafe(config.logger, 'debug', 'session.ended', 'Ended the invocation session', { requestId });
    }
    const escaped = scope.guard?.escaped;
    await scope.finish('error');
    if (escaped && returned) throw escaped;
  }
}
