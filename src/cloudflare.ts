/**
 * `serverless-mongodb/cloudflare`: MongoDB in Cloudflare Workers (with `nodejs_compat`, over `node:net`).
 *
 * - `withMongo(handler)`: a fetch handler whose every request gets a client of its own, closed through
 *   `ctx.waitUntil` (a client kept at module scope hangs the next request that uses it).
 * - `createDurableObjectMongo()`: one reused client per Durable Object, for connection reuse.
 */
export { withMongo, type ExecutionContextLike, type FetchHandler, type MongoFetchHandler } from './adapters/cloudflare/fetch-handler.js';
export { createDurableObjectMongo, type DurableObjectMongo } from './adapters/cloudflare/durable-object.js';
export type { WorkerMongo } from './adapters/cloudflare/mongo-context.js';
export { WORKER_CLIENT_DEFAULTS, type WorkerMongoOptions } from './adapters/cloudflare/worker-config.js';
export { createConsoleLogger } from './shared/logging/console-logger.js';
export { ConfigurationError, ConnectionError, ServerlessMongoError, ErrorCodes, isServerlessMongoError } from './shared/errors.js';
