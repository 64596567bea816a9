/**
 * `serverless-mongodb/middy`: the middy middleware. Each invocation gets `request.context.mongo =
 * { client, db, session, signal }`; the session (and transaction) is committed in `after`, aborted in
 * `onError`, and ended in both. Use it last in the `.use()` chain, so its `after` and `onError` run first.
 */
export { mongo, type MongoMiddlewareOptions } from './adapters/middy.js';
export type { MongoContextFor } from './adapters/with-mongo.js';
export type { MongoContext, MongoContextWithoutSession } from './core/invocation/context.js';
export type { MongoInvocationOptions } from './core/invocation/plan.js';
