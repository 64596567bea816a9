/**
 * `serverless-mongodb/http-handler`: the HTTP way in for runtimes that cannot open TCP sockets (Vercel Edge,
 * browsers, some workers). A Lambda Function URL handler that runs an allow-listed set of operations on
 * allow-listed collections, with Extended JSON in and out, size and time limits, and signed requests.
 * Its client is `serverless-mongodb/http`.
 */
import type { LambdaContextLike } from '../../shared/lambda-context.js';
import { handleRequest } from './handle-request.js';
import { resolveHttpHandlerOptions, type HttpHandlerOptions } from './options.js';
import type { FunctionUrlEvent } from './event.js';
import type { FunctionUrlResult } from './rejection.js';

/** A Lambda handler for a Function URL (or an API Gateway HTTP API, payload 2.0). */
export type HttpHandler = (event: FunctionUrlEvent, context?: LambdaContextLike) => Promise<FunctionUrlResult>;

/**
 * Creates the Function URL handler. Options are checked here (call it at module scope: a mistake fails the
 * init phase); the MongoDB client is the core's cached one, connected at the first admitted request and checked
 * after a freeze like `mongo()`'s (the same invocation lifecycle, without a session).
 *
 * Every request is refused before any database work unless it is a POST, within `maxBodyBytes`, signed with
 * one of the secrets inside the replay window and never seen before, for an allow-listed operation,
 * database and collection, with valid Extended JSON arguments and no server-side JavaScript.
 *
 * @throws {ConfigurationError} unknown option, wrong type, empty allow-list, missing or short secret
 *
 * @example
 * ```ts
 * import { createHttpHandler } from 'serverless-mongodb/http-handler';
 *
 * // MONGODB_URI and MONGODB_HTTP_SECRET from the environment (the secret from Secrets Manager)
 * export const handler = createHttpHandler({
 *   allow: { shop: ['items', 'orders'] },
 *   maxBodyBytes: 256 * 1024,
 *   timeoutMs: 5_000,
 * });
 * ```
 */
export function createHttpHandler(options: HttpHandlerOptions): HttpHandler {
  const resolved = resolveHttpHandlerOptions(options);
  return function httpHandler(event, context) {
    return handleRequest(resolved, event, context);
  };
}
