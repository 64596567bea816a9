/**
 * `mongooseMiddleware()`: the middy middleware, the mongoose twin of `mongo()`. Each invocation gets
 * `request.context.mongoose = { connection, session, signal, useDb }` on the cached client (checked after a
 * freeze, rebuilt when dead, the connection moved to the new client). The session (and transaction) is
 * committed in `after`, aborted in `onError`, ended in both. Use it last in the `.use()` chain.
 */
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { openInvocation, prefetchClient } from '../../core/invocation/open.js';
import type { InvocationScope } from '../../core/invocation/scope.js';
import { connectionFor } from './connection.js';
import { InvocationMongoose, type MongooseContext, type MongooseContextWithoutSession } from './context.js';
import { planMongoose, type MongooseInvocationOptions } from './plan.js';

/** Options of {@link mongooseMiddleware}: those of `withMongoose`. */
export type MongooseMiddlewareOptions = MongooseInvocationOptions;

/** `context.mongoose`'s type for the given options: without a session when `session: false`. */
export type MongooseContextFor<TOptions> = TOptions extends { session: false } ? MongooseContextWithoutSession : MongooseContext;

/**
 * The middy middleware. With `transaction: true` the handler runs in the invocation's transaction as with `mongo()`:
 * committed after it returns, aborted when it throws, not retried; pass `{ session }` to every model operation
 * (a middleware cannot run the handler inside mongoose's AsyncLocalStorage context; `withMongoose()` can).
 *
 * @example
 * ```ts
 * import middy from '@middy/core';
 * import mongoose from 'mongoose';
 * import type { Context } from 'aws-lambda';
 * import { mongooseMiddleware, type MongooseContext } from 'serverless-mongodb/mongoose';
 *
 * const connection = mongoose.createConnection();
 * const Item = connection.model('Item', new mongoose.Schema({ name: String }));
 *
 * export const handler = middy(async (event: { name: string }, context: Context & { mongoose: MongooseContext }) => {
 *   const { session } = context.mongoose;
 *   return Item.findOne({ name: event.name }, null, { session }).lean();
 * }).use(mongooseMiddleware({ connection, dbName: 'shop' }));
 * ```
 */
export function mongooseMiddleware<const TOptions extends MongooseMiddlewareOptions = MongooseMiddlewareOptions>(
  options?: TOptions,
): MiddlewareObj<unknown, unknown, Error, Context & { mongoose: MongooseContextFor<TOptions> }> {
  const plan = planMongoose(options, 'mongooseMiddleware()');
  prefetchClient(plan.core);
  const scopeKey = Symbol('serverless-mongodb mongoose scope');
  type ScopedRequest = { event: unknown; context: Context; [scopeKey]?: InvocationScope | undefined };

  /** Binds the connection; should that fail, the scope is finished before the error goes up. */
  const attach = (request: ScopedRequest, scope: InvocationScope): Promise<void> | undefined => {
    let connection;
    try {
      connection = connectionFor(plan, scope.config, scope.lease.client);
    } catch (error) {
      const finishing = scope.finish('error');
      if (finishing) return finishing.then(() => Promise.reject(error));
      throw error;
    }
    request[scopeKey] = scope;
    (request.context as Context & { mongoose?: unknown }).mongoose = new InvocationMongoose(connection, scope.session as never, scope.deadline);
    return undefined;
  };

  const before = (request: ScopedRequest): Promise<void> | undefined => {
    const opened = openInvocation(plan.core, request.context, request.event);
    if (opened instanceof Promise) return opened.then((scope) => attach(request, scope));
    return attach(request, opened);
  };

  const finish = (request: ScopedRequest, outcome: 'success' | 'error'): Promise<void> | undefined => {
    const scope = request[scopeKey];
    if (!scope) return undefined;
    request[scopeKey] = undefined;
    return scope.finish(outcome);
  };

  return {
    name: 'serverless-mongodb/mongoose',
    before,
    after: (request: ScopedRequest) => finish(request, 'success'),
    onError: (request: ScopedRequest) => finish(request, 'error'),
  } as MiddlewareObj<unknown, unknown, Error, Context & { mongoose: MongooseContextFor<TOptions> }>;
}
