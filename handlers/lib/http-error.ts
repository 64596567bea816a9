/**
 * Errors a handler throws to answer with a 4xx (or 503): a status, a stable code and a message written for the
 * API's caller. `httpErrors()` renders them as `{ error: { code, message, field? } }`; anything else becomes a
 * 500 whose body says nothing about the cause.
 */

/** The codes of the error bodies. */
export const HttpErrorCodes = {
  /** The body is not valid JSON. */
  MALFORMED_JSON: 'MALFORMED_JSON',
  /** The body (or a query parameter) is valid JSON but not what the endpoint takes; `field` names the culprit. */
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  /** A path id is not a MongoDB ObjectId (24 hex digits). */
  INVALID_ID: 'INVALID_ID',
  /** The body is larger than the endpoint accepts. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The body is not `application/json`. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** No such resource, or no such route. */
  NOT_FOUND: 'NOT_FOUND',
  /** The request conflicts with the current state (e.g. insufficient funds). */
  CONFLICT: 'CONFLICT',
  /** The database did not answer in time, or a transaction could not be committed: retry later. */
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  /** Anything unexpected. The body never says more; the logs do. */
  INTERNAL: 'INTERNAL',
} as const;

export type HttpErrorCode = (typeof HttpErrorCodes)[keyof typeof HttpErrorCodes];

/** An error that answers the request with `statusCode` and `{ error: { code, message, field? } }`. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly statusCode: number;
  readonly code: HttpErrorCode;
  /** The body field or parameter at fault, when there is one. */
  readonly field: string | undefined;

  constructor(statusCode: number, code: HttpErrorCode, message: string, field?: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
    this.field = field;
  }
}

/** True for an {@link HttpError}, also one from another copy of this module (checks the brand, not only `instanceof`). */
export function isHttpError(error: unknown): error is HttpError {
  return error instanceof HttpError || (error instanceof Error && error.name === 'HttpError' && typeof (error as HttpError).statusCode === 'number');
}

/** 400 `VALIDATION_FAILED` naming the field: `"price" must be a number ≥ 0`. */
export function validationFailed(field: string, message: string): HttpError {
  return new HttpError(400, HttpErrorCodes.VALIDATION_FAILED, `"${field}" ${message}`, field);
}

/** 404 `NOT_FOUND`. */
export function notFound(message: string, field?: string): HttpError {
  return new HttpError(404, HttpErrorCodes.NOT_FOUND, message, field);
}
