/**
 * API Gateway (HTTP API, payload 2.0) responses with JSON bodies.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** What the HTTP handlers return. */
export type HttpResponse = APIGatewayProxyStructuredResultV2 & { statusCode: number };

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/** A JSON response. */
export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** 204 with no body. */
export function noContent(): HttpResponse {
  return { statusCode: 204, headers: {}, body: '' };
}

/** The error body every endpoint uses: `{ error: { code, message, field? } }`. */
export function errorResponse(statusCode: number, code: string, message: string, field?: string, headers: Record<string, string> = {}): HttpResponse {
  return json(statusCode, { error: field === undefined ? { code, message } : { code, message, field } }, headers);
}
