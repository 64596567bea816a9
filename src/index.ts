/**
 * serverless-mongodb: a Lambda-tuned cached MongoClient and a per-invocation session lifecycle.
 * The middy middleware lives on the `serverless-mongodb/middy` subpath.
 */
export { getMongoClient, closeMongoClient } from './client-cache.js';
export { enableGracefulShutdown, SHUTDOWN_DEFAULTS, type GracefulShutdownOptions } from './shutdown.js';
export { THAW_DEFAULTS, type ThawOptions } from './thaw.js';
export { DEADLINE_DEFAULTS } from './deadline.js';
export { withMongo, type MongoContextFor } from './with-mongo.js';
export type { MongoContext, MongoContextWithoutSession, MongoInvocationOptions, InvocationContextLike } from './invocation.js';
export type { MongoClientConfig } from './config.js';
export { LAMBDA_CLIENT_DEFAULTS, URI_ENV, DB_NAME_ENV } from './defaults.js';
export {
  ServerlessMongoError,
  ConfigurationError,
  ConnectionError,
  TransactionError,
  ErrorCodes,
  isServerlessMongoError,
  type ErrorCode,
} from './errors.js';
export type { LoggerLike, LifecycleEvent } from './logging.js';
export { redactUri } from './redact.js';
