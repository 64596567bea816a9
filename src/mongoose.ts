/**
 * `serverless-mongodb/mongoose`: mongoose on the same invocation lifecycle as `mongo()` and `withMongo()`: a
 * cached client checked after a freeze, a mongoose connection bound to it (and moved to a rebuilt one), a session
 * per invocation, transactions, multi-tenant databases and pools. mongoose (9.x) is an optional peer dependency.
 */
export { mongooseMiddleware, type MongooseMiddlewareOptions, type MongooseContextFor } from './adapters/mongoose/middleware.js';
export { withMongoose } from './adapters/mongoose/wrapper.js';
export type { MongooseContext, MongooseContextWithoutSession } from './adapters/mongoose/context.js';
export type { MongooseInvocationOptions } from './adapters/mongoose/plan.js';
export { configureClientCache, closeMongoClient, type ClientCacheOptions } from './core/client/cache.js';
export type { TenantTarget } from './core/invocation/plan.js';
