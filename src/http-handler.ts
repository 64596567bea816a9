/**
 * `serverless-mongodb/http-handler`: the HTTP way in for runtimes that cannot open TCP sockets (Vercel Edge,
 * browsers, some workers). A Lambda Function URL handler that runs an allow-listed set of operations on
 * allow-listed collections, with Extended JSON in and out, size and time limits, and signed requests.
 * Its client is `serverless-mongodb/http`.
 */
export { createHttpHandler, type HttpHandler } from './http/handler/create.js';
export { HTTP_HANDLER_DEFAULTS, HTTP_SECRET_ENV, type HttpHandlerOptions, type HttpSecret } from './http/handler/options.js';
export type { FunctionUrlEvent } from './http/handler/event.js';
export type { FunctionUrlResult } from './http/handler/rejection.js';
export type { LambdaContextLike as HandlerContextLike } from './shared/lambda-context.js';
export { HTTP_OPERATIONS, READ_OPERATIONS, HttpErrorCodes, operationPath, type HttpErrorBody, type HttpErrorCode, type HttpOperation } from './http/protocol/protocol.js';
export { MemoryReplayCache, SIGNATURE_HEADERS, SIGNING_DEFAULTS, SIGNING_SCHEME, type ReplayCache } from './http/protocol/signing.js';
