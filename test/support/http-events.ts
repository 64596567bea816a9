/**
 * Function URL events (payload 2.0) for calling an HTTP handler in-process, signed as `serverless-mongodb/http`
 * signs them, and the handler's answer read back.
 *
 *   const response = await call(handler, '/shop/items/find', { filter: {} }, { secret });
 *   expect(response).toMatchObject({ status: 200 });
 */
import { signRequest } from '../../src/http/protocol/signing.js';
import type { FunctionUrlEvent } from '../../src/http/handler/event.js';
import type { FunctionUrlResult } from '../../src/http/handler/rejection.js';

export interface EventOptions {
  secret: string;
  /** The signer's clock. @default Date.now() */
  nowMs?: number;
  nonce?: string;
}

/** A signed POST event for `path` with `body` (a string is sent as it is, anything else as JSON). */
export async function signedEvent(path: string, body: unknown, options: EventOptions): Promise<FunctionUrlEvent> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers = await signRequest({ method: 'POST', pathWithQuery: path, body: text }, options.secret, {
    nowMs: options.nowMs ?? Date.now(),
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
  });
  return {
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...headers },
    body: text,
    isBase64Encoded: false,
    requestContext: { requestId: 'test', http: { method: 'POST', sourceIp: '127.0.0.1' } },
  };
}

export interface Answer {
  status: number;
  /** The parsed body (an error answer is `{ error: { code, message } }`). */
  body: { error?: { code: string; message: string; mongoCode?: number; codeName?: string }; [key: string]: unknown };
  result: FunctionUrlResult;
}

type Handler = (event: FunctionUrlEvent) => Promise<FunctionUrlResult>;

/** Signs and sends one request to the handler; parses the answer (which must be JSON). */
export async function call(handler: Handler, path: string, body: unknown, options: EventOptions): Promise<Answer> {
  const result = await handler(await signedEvent(path, body, options));
  return { status: result.statusCode, body: JSON.parse(result.body) as Answer['body'], result };
}

/** The bytes of the invocation payload Lambda sends back for `result` (its JSON), limited to 6,291,556. */
export function payloadBytes(result: FunctionUrlResult): number {
  return Buffer.byteLength(JSON.stringify(result), 'utf8');
}
