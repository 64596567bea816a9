/**
 * Reads the JSON body of an HTTP API request, rejecting what a handler should never see: a body that is
 * too large, not JSON, or not an object.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { HttpError, HttpErrorCodes, validationFailed } from './http-error.js';

/** The default body limit: items are small; API Gateway itself accepts up to 10 MB. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

/**
 * The body parsed as a JSON object.
 * @throws {HttpError} 413 over `maxBytes`, 415 not `application/json`, 400 missing, malformed or not an object
 */
export function parseJsonObject(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'headers'>, maxBytes = DEFAULT_MAX_BODY_BYTES): Record<string, unknown> {
  const contentType = headerOf(event.headers, 'content-type');
  if (contentType !== undefined && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(contentType)) {
    throw new HttpError(415, HttpErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'The body must be application/json');
  }
  const raw = event.body ?? '';
  // Check the size before decoding anything: base64 is 4/3 of the bytes it carries.
  const bytes = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw, 'utf8');
  if (bytes > maxBytes) {
    throw new HttpError(413, HttpErrorCodes.PAYLOAD_TOO_LARGE, `The body is ${bytes} bytes; the limit is ${maxBytes}`);
  }
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (text.trim() === '') throw validationFailed('body', 'is required: send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, HttpErrorCodes.MALFORMED_JSON, 'The body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw validationFailed('body', 'must be a JSON object');
  return value as Record<string, unknown>;
}

/** A header by name, case-insensitively (HTTP API lower-cases them; local tools may not). */
export function headerOf(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}
