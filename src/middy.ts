/**
 * `serverless-mongodb/middy`: the middy middleware. Each invocation gets `request.context.mongo =
 * { client, db, session }`; the session (and transaction) is committed in `after`, aborted in
 * `onError`, and ended in both. Use it last in the `.use()` chain, so its `after` and `onError` run first.
 */
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { openInvocation, planInvocation, prefetchClient, type InvocationScope, type MongoInvocationOptions } from './invocation.js';
import type { MongoContextFor } from './with-mongo.js';

export type { MongoContext, MongoContextWithoutSession, MongoInvocationOptions } from './invocation.js';
export type { MongoContextFor } from './with-mongo.js';

/** Options of {@link mongo}: those of `withMongo`. */
export type MongoMiddlewareOptions = MongoInvocationOptions;

/**
 * The middy middleware.
 *
 * @example
 * ```ts
 * import middy from '@middy/core';
 * import { Logger } from '@aws-lambda-powertools/logger';
 * import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
 * import { mongo } from 'serverless-mongodb/middy';
 *
 * const logger = new Logger();
 *
 * export const handler = middy(async (event: { id: string }, context) => {
 *   const { db, session } = context.mongo;
 *   return db.collection('items').findOne({ id: event.id }, { session });
 * })
 *   .use(injectLambdaContext(logger))
 *   .use(mongo({ logger, transaction: false }));
 * ```
 */
export function mongo<const TOptions extends MongoMiddlewareOptions = MongoMiddlewareOptions>(
  options?: TOptions,
): MiddlewareObj<unknown, unknown, Error, Context & { mongo: MongoContextFor<TOptions> }> {
  const plan = planInvocation(options, 'mongo()');
  prefetchClient(plan);
  // Keyed by middy's per-invocation request object: concurrent invocations never share a scope.
  const scopes = new WeakMap<object, InvocationScope>();

  const mongoMiddlewareBefore = async (request: { context: Context; internal: object }): Promise<void> => {
    const scope = await openInvocation(plan, request.context);
    scopes.set(request, scope);
    Object.assign(request.context, { mongo: scope.context });
  };

  const mongoMiddlewareAfter = async (request: object): Promise<void> => {
    const scope = scopes.get(request);
    if (!scope) return;
    scopes.delete(request);
    await scope.finish('success');
  };

  const mongoMiddlewareOnError = async (request: object): Promise<void> => {
    const scope = scopes.get(request);
    if (!scope) return;
    scopes.delete(request);
    await scope.finish('error');
  };

  return {
    name: 'serverless-mongodb',
    before: mongoMiddlewareBefore,
    after: mongoMiddlewareAfter,
    onError: mongoMiddlewareOnError,
  } as MiddlewareObj<unknown, unknown, Error, Context & { mongo: MongoContextFor<TOptions> }>;
}
