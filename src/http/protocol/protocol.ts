/**
 * The wire contract between `serverless-mongodb/http` (the fetch client) and `serverless-mongodb/http-handler`
 * (the Lambda Function URL handler). Shared by both, so it must never import `mongodb`.
 *
 * A request is `POST <base>/<database>/<collection>/<operation>` (names percent-encoded) with the operation's
 * arguments as canonical Extended JSON v2 in the body, signed per `signing.ts`. A success is `200` with the
 * result as canonical Extended JSON; a failure is a 4xx/5xx with `{ "error": { "code", "message", ... } }`.
 */

/** The operations the handler can run, named like the driver's `Collection` methods. */
export const HTTP_OPERATIONS = [
  'find',
  'findOne',
  'insertOne',
  'insertMany',
  'updateOne',
  'updateMany',
  'deleteOne',
  'deleteMany',
  'aggregate',
  'countDocuments',
] as const;

export type HttpOperation = (typeof HTTP_OPERATIONS)[number];

/** The operations that only read: handy for `operations: READ_OPERATIONS` in a read-only handler. */
export const READ_OPERATIONS = ['find', 'findOne', 'aggregate', 'countDocuments'] as const satisfies readonly HttpOperation[];

export function isHttpOperation(value: string): value is HttpOperation {
  return (HTTP_OPERATIONS as readonly string[]).includes(value);
}

/** The `code` of an error response (and of `MongoHttpError` on the client), one per way a request can fail. */
export const HttpErrorCodes = {
  /** 401: no signature headers. */
  UNSIGNED: 'UNSIGNED',
  /** 401: signature headers incomplete or malformed. */
  MALFORMED_SIGNATURE: 'MALFORMED_SIGNATURE',
  /** 401: timestamp outside the replay window. */
  EXPIRED: 'EXPIRED',
  /** 401: the HMAC does not match. */
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  /** 401: the nonce was already used. */
  REPLAYED: 'REPLAYED',
  /** 401: `auth: 'aws-iam'` and the event carries no IAM identity (the Function URL's AuthType is not AWS_IAM). */
  NO_IAM_IDENTITY: 'NO_IAM_IDENTITY',
  /** 403: database, collection or operation not in the allow-list, or a forbidden operator or stage. */
  NOT_ALLOWED: 'NOT_ALLOWED',
  /** 404: the path is not `/<database>/<collection>/<operation>`. */
  NOT_FOUND: 'NOT_FOUND',
  /** 405: not a POST. */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** 413: the body is larger than `maxBodyBytes`. */
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  /** 400: the body is not Extended JSON, or the arguments do not fit the operation. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** 400: the result has more than `maxDocuments` documents or would not fit a Lambda response. */
  RESULT_TOO_LARGE: 'RESULT_TOO_LARGE',
  /** 409: a unique index refused the write (MongoDB error 11000). */
  DUPLICATE_KEY: 'DUPLICATE_KEY',
  /** 400: MongoDB refused the operation (bad operator, validation failure...); `mongoCode` and `codeName` say which. */
  MONGO_ERROR: 'MONGO_ERROR',
  /** 503: MongoDB could not be reached, or answered with an infrastructure error (stepping down, shutting down, host unreachable). */
  UNAVAILABLE: 'UNAVAILABLE',
  /** 504: the operation did not finish within the handler's `timeoutMs`; a write may or may not have been applied. */
  TIMEOUT: 'TIMEOUT',
  /** 500: anything else, MongoDB refusing the function's credentials included (details are in the function's logs, not in the response). */
  INTERNAL: 'INTERNAL',
  /** Client side: the request did not complete (network error, or the client's own `timeoutMs`). */
  NETWORK: 'NETWORK',
  /** Client side: the response was not the handler's (a proxy's error page, a Lambda 502...). */
  BAD_RESPONSE: 'BAD_RESPONSE',
} as const;

export type HttpErrorCode = (typeof HttpErrorCodes)[keyof typeof HttpErrorCodes];

/** The body of an error response. */
export interface HttpErrorBody {
  error: {
    code: HttpErrorCode;
    message: string;
    /** MongoDB's numeric error code, for `MONGO_ERROR` and `DUPLICATE_KEY`. */
    mongoCode?: number;
    codeName?: string;
  };
}

/** The media type of both directions: Extended JSON v2 is JSON. */
export const CONTENT_TYPE = 'application/json';

/** The path of an operation, under the handler's base URL. */
export function operationPath(database: string, collection: string, operation: HttpOperation): string {
  return `/${encodeURIComponent(database)}/${encodeURIComponent(collection)}/${operation}`;
}
