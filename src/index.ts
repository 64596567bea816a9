/**
 * serverless-mongodb: a Lambda-tuned cached MongoClient and a per-invocation session lifecycle.
 * The middy middleware lives on the `serverless-mongodb/middy` subpath.
 */
export { closeMongoClient, configureClientCache, type ClientCacheOptions } from './core/client/cache.js';
export { getMongoClient } from './core/client/get-client.js';
export { SECRET_DEFAULTS, type ConnectionSecret, type SecretsManagerSecret, type ParameterStoreSecret } from './core/config/secret.js';
export { enableGracefulShutdown, SHUTDOWN_DEFAULTS, type GracefulShutdownOptions } from './core/shutdown.js';
export { THAW_DEFAULTS, type ThawOptions } from './core/invocation/thaw.js';
export { DEADLINE_DEFAULTS } from './core/invocation/deadline.js';
export { withMongo, type ContextWithoutMongo, type MongoContextFor } from './adapters/with-mongo.js';
export type { MongoContext, MongoContextWithoutSession } from './core/invocation/context.js';
export type { MongoInvocationOptions, TenantTarget } from './core/invocation/plan.js';
export type { LambdaContextLike as InvocationContextLike } from './shared/lambda-context.js';
export type { MongoClientConfig } from './core/config/schema.js';
export { LAMBDA_CLIENT_DEFAULTS, URI_ENV, DB_NAME_ENV } from './core/config/defaults.js';
export {
  ServerlessMongoError,
  ConfigurationError,
  ConnectionError,
  TransactionError,
  ErrorCodes,
  isServerlessMongoError,
  type ErrorCode,
} from './shared/errors.js';
export type { LoggerLike, LifecycleEvent } from './shared/logging/emit.js';
export { redactUri } from './shared/logging/redact.js';
