/**
 * `httpErrors()`: the middy middleware that turns any error into a JSON response. An {@link HttpError}
 * answers with its status and code; a database that is unreachable, or a transaction that could not be
 * committed, answers 503; anything else answers 500 with a body that names nothing but the request id.
 * No response ever carries a stack trace or an internal message: those go to the log.
 *
 * Place it before `mongo()` in the `.use()` chain: `onError` hooks run in reverse order, so `mongo()` aborts
 * the transaction and ends the session first, then this renders the response.
 */
import type { MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { MongoError, MongoNetworkError, MongoOperationTimeoutError, MongoServerSelectionError } from 'mongodb';
import { isServerlessMongoError, type LoggerLike } from 'serverless-mongodb';
import { HttpErrorCodes, isHttpError } from './http-error.js';
import { errorResponse, type HttpResponse } from './responses.js';

/** Options of {@link httpErrors}. */
export interface HttpErrorsOptions {
  /** Where 5xx errors (with their stack) and 4xx summaries are logged. */
  logger: LoggerLike;
}

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = '1';

/**
 * The error-to-response middleware of the HTTP handlers.
 *
 * @example
 * ```ts
 * export const handler = middy(createItem)
 *   .use(injectLambdaContext(logger))
 *   .use(httpErrors({ logger }))
 *   .use(mongo({ logger }));
 * ```
 */
export function httpErrors(options: HttpErrorsOptions): MiddlewareObj<unknown, HttpResponse, Error, Context> {
  const { logger } = options;
  const httpErrorsMiddlewareOnError = (request: { error: unknown; response: HttpResponse | undefined; context: Context }): void => {
    if (request.response !== undefined) return;
    request.response = toResponse(request.error, request.context?.awsRequestId, logger);
  };
  return { onError: httpErrorsMiddlewareOnError } as MiddlewareObj<unknown, HttpResponse, Error, Context>;
}

/** The response for any thrown value; logs it. */
export function toResponse(error: unknown, requestId: string | undefined, logger: LoggerLike): HttpResponse {
  if (isHttpError(error)) {
    logger.info('Request rejected', { http: { statusCode: error.statusCode, code: error.code, field: error.field, message: error.message } });
    return errorResponse(error.statusCode, error.code, error.message, error.field);
  }
  if (isDatabaseUnavailable(error)) {
    logger.error('Database unavailable', { error });
    return errorResponse(503, HttpErrorCodes.DATABASE_UNAVAILABLE, 'The database is unavailable; retry later', undefined, {
      'retry-after': RETRY_AFTER_SECONDS,
    });
  }
  logger.error('Unexpected error', { error });
  return errorResponse(500, HttpErrorCodes.INTERNAL, `Internal error${requestId ? ` (request ${requestId})` : ''}`);
}

/**
 * A failure the client can retry: no connection (in time), a network error or timeout, a commit that did not go
 * through. Of the library's errors, all but a ConfigurationError (a deployment to fix, not to retry).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isServerlessMongoError(error)) return error.name !== 'ConfigurationError';
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError || error instanceof MongoOperationTimeoutError) return true;
  if (error instanceof MongoError) return error.hasErrorLabel('TransientTransactionError') || error.hasErrorLabel('RetryableWriteError');
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}
