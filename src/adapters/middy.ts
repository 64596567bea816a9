/**
 * `serverless-mongodb/middy`: the middy middleware. Each invocation gets `request.context.mongo =
 * { client, db, session }`; the session (and transaction) is committed in `after`, aborted in
 * `onError`, and ended in both. Use it last in the `.use()` chain, so its `after` and `onError` run first.
 */
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { openInvocation, prefetchClient } from '../core/invocation/open.js';
import { planInvocation, type MongoInvocationOptions } from '../core/invocation/plan.js';
import type { InvocationScope } from '../core/invocation/scope.js';
import type { MongoContextFor } from './with-mongo.js';

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
 * import type { Context } from 'aws-lambda';
 * import { mongo, type MongoContext } from 'serverless-mongodb/middy';
 *
 * const logger = new Logger();
 *
 * export const handler = middy(async (event: { id: string }, context: Context & { mongo: MongoContext }) => {
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
  // The scope rides on middy's per-invocation request object (concurrent invocations never share one), under a
  // key of this middleware's own. The hooks return a promise only when they have to wait (a connect, the
  // freeze/thaw turn, a transaction): middy awaits only a returned promise, so the warm path takes no trip
  // through the microtask queue.
  const scopeKey = Symbol('serverless-mongodb scope');
  type ScopedRequest = { event: unknown; context: Context; [scopeKey]?: InvocationScope | undefined };

  const attach = (request: ScopedRequest, scope: InvocationScope): void => {
    request[scopeKey] = scope;
    (request.context as Context & { mongo?: unknown }).mongo = scope.context;
  };

  const mongoMiddlewareBefore = (request: ScopedRequest): Promise<void> | undefined => {
    const opened = openInvocation(plan, request.context, request.event);
    if (opened instanceof Promise) return opened.then((scope) => attach(request, scope));
    attach(request, opened);
    return undefined;
  };

  const finish = (request: ScopedRequest, outcome: 'success' | 'error'): Promise<void> | undefined => {
    const scope = request[scopeKey];
    if (!scope) return undefined;
    request[scopeKey] = undefined;
    return scope.finish(outcome);
  };
  const mongoMiddlewareAfter = (request: ScopedRequest) => finish(request, 'success');
  const mongoMiddlewareOnError = (request: ScopedRequest) => finish(request, 'error');

  return {
    name: 'serverless-mongodb',
    before: mongoMiddlewareBefore,
    after: mongoMiddlewareAfter,
    onError: mongoMiddlewareOnError,
  } as MiddlewareObj<unknown, unknown, Error, Context & { mongo: MongoContextFor<TOptions> }>;
}
