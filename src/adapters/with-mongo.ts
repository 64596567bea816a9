/**
 * `withMongo`: the middleware's lifecycle for plain async handlers, without middy.
 */
import type { Context } from 'aws-lambda';
import type { LambdaContextLike } from '../shared/lambda-context.js';
import type { MongoContext, MongoContextWithoutSession } from '../core/invocation/context.js';
import { openInvocation, prefetchClient } from '../core/invocation/open.js';
import { planInvocation, type MongoInvocationOptions } from '../core/invocation/plan.js';

/** `context.mongo`'s type for the given options: without a session when `session: false`. */
export type MongoContextFor<TOptions> = TOptions extends { session: false } ? MongoContextWithoutSession : MongoContext;

/**
 * The context the handler returned by `withMongo` takes: the caller's context type without the `mongo` member
 * that `withMongo` adds (a handler annotated `context: Context & { mongo: MongoContext }` returns a handler taking
 * Lambda's `Context`).
 */
export type ContextWithoutMongo<TContext> = TContext extends { mongo: unknown } ? Omit<TContext, 'mongo'> : TContext;

/**
 * Wraps an async Lambda handler so that each invocation gets `context.mongo = { client, db, session }`:
 * the cached client, its database and a session of its own (in a transaction with `transaction: true`),
 * committed when the handler returns, aborted when it throws, and always ended. A cleanup failure never
 * replaces the handler's error.
 *
 * The returned handler takes `(event, context)`: the Node.js 24 runtime rejects callback-style handlers.
 *
 * The context keeps the caller's type: Lambda's `Context` (from `@types/aws-lambda`) unless the handler
 * annotates another, so `context.functionName` type-checks next to `context.mongo`. A context of your own (a
 * test harness's) is given as the third type argument: `withMongo<MyEvent, MyResult, MyContext>(...)`.
 *
 * @example
 * ```ts
 * import { withMongo } from 'serverless-mongodb';
 *
 * export const handler = withMongo(async (event: { id: string }, context) => {
 *   const { db, session } = context.mongo;
 *   return db.collection('items').findOne({ id: event.id }, { session });
 * });
 * ```
 */
export function withMongo<TEvent, TResult, TContext extends object = Context, const TOptions extends MongoInvocationOptions = MongoInvocationOptions>(
  handler: (event: TEvent, context: TContext & { mongo: MongoContextFor<TOptions> }) => Promise<TResult>,
  options?: TOptions,
): (event: TEvent, context: ContextWithoutMongo<TContext>) => Promise<TResult> {
  const plan = planInvocation(options, 'withMongo()');
  prefetchClient(plan);
  return async function withMongoHandler(event: TEvent, context: ContextWithoutMongo<TContext>): Promise<TResult> {
    // Awaits only what is pending: the warm path opens and finishes synchronously.
    const opened = openInvocation(plan, context as LambdaContextLike, event);
    const scope = opened instanceof Promise ? await opened : opened;
    const extended = Object.assign(context ?? {}, { mongo: scope.context }) as TContext & { mongo: MongoContextFor<TOptions> };
    return scope.settle(() => scope.run(() => handler(event, extended)));
  };
}
