/**
 * Responses of the HTTP handler: a refusal is thrown as an {@link HttpRejection} anywhere in the request's
 * path and turned into one error response at the top; a success is canonical Extended JSON.
 */
import { EJSON, type Document } from 'bson';
import { CONTENT_TYPE, type HttpErrorBody, type HttpErrorCode } from '../protocol/protocol.js';

/**
 * Lambda's limit for the response payload of a synchronous invocation, in bytes: the result object as JSON,
 * so a body counts as its JSON-escaped UTF-8 bytes (a `"` in an Extended JSON body costs 4 bytes, a `€` 3).
 */
export const LAMBDA_PAYLOAD_LIMIT_BYTES = 6_291_556;

/** The Lambda Function URL (payload 2.0) result shape. */
export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

/** A request the handler refuses, with the status and code of its response. Internal: never escapes the handler. */
export class HttpRejection extends Error {
  override name = 'HttpRejection';

  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly details: { mongoCode?: number; codeName?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

const COMMON_HEADERS = { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' } as const;

/** The error response for a rejection. */
export function errorResponse(rejection: HttpRejection): FunctionUrlResult {
  const body: HttpErrorBody = { error: { code: rejection.code, message: rejection.message } };
  if (rejection.details.mongoCode !== undefined) body.error.mongoCode = rejection.details.mongoCode;
  if (rejection.details.codeName !== undefined) body.error.codeName = rejection.details.codeName;
  return { statusCode: rejection.status, headers: { ...COMMON_HEADERS, ...rejection.details.headers }, body: JSON.stringify(body) };
}

/** A 200 with `result` as canonical Extended JSON (types kept: Int32 vs Double, Long, Decimal128, dates). */
export function successResponse(body: string): FunctionUrlResult {
  return { statusCode: 200, headers: { ...COMMON_HEADERS }, body };
}

/** Serializes a result as canonical Extended JSON v2. */
export function toExtendedJson(result: Document): string {
  return EJSON.stringify(result, { relaxed: false });
}

/** The bytes Lambda sends for `result`: its JSON, UTF-8 encoded. */
export function payloadBytesOf(result: FunctionUrlResult): number {
  return Buffer.byteLength(JSON.stringify(result), 'utf8');
}

/** The bytes `text` adds to a payload as (part of) a JSON string value: its escaped UTF-8 bytes. */
export function escapedBytesOf(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

/** What the bytes of a 200's body may be: the payload limit less the rest of the envelope. */
export const SUCCESS_BODY_LIMIT_BYTES = LAMBDA_PAYLOAD_LIMIT_BYTES - payloadBytesOf(successResponse(''));
