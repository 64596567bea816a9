/**
 * `serverless-mongodb/vercel`: the core's cached client for Vercel Functions (Node.js runtime, Fluid compute),
 * with a short `maxIdleTimeMS`, the freeze/thaw check, and the pool registered with `attachDatabasePool`.
 */
export { getMongoClient, VERCEL_CLIENT_DEFAULTS, VERCEL_ENV } from './adapters/vercel.js';
export { closeMongoClient } from './core/client/cache.js';
export type { MongoClientConfig } from './core/config/schema.js';
