/**
 * A local stand-in for a Lambda Function URL: an HTTP server on 127.0.0.1 that turns each request into a
 * Function URL event (payload format 2.0, as AWS builds it), invokes the function (e.g. a Lambda emulator
 * container) and maps the result back to an HTTP response, like the real URL does:
 *
 * - text bodies (text/*, JSON, XML, form) arrive as strings, others base64 with `isBase64Encoded: true`;
 * - a result with `statusCode` is used as the response; any other result becomes a 200 JSON body;
 * - a failed invocation becomes 502 Internal Server Error.
 *
 *   const fn = await startLambdaContainer({ entry: 'test/fixtures/edge/http-handler.ts', env });
 *   const url = await startFunctionUrl((event) => fn.invoke(event));
 *   await fetch(`${url.url}/shop/items/find`, { method: 'POST', body: '{}' });
 *   await url.stop();
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What an invocation returned; `InvokeResult` of the Lambda emulator fits. */
export interface InvocationOutcome {
  ok: boolean;
  result?: unknown;
  error?: unknown;
}

export interface FunctionUrlOptions {
  /** `AWS_IAM` adds `requestContext.authorizer.iam` (as if AWS had checked a SigV4 signature). @default 'NONE' */
  authType?: 'NONE' | 'AWS_IAM';
  /** Function URLs refuse larger request payloads before invoking the function. @default 6 MB */
  maxPayloadBytes?: number;
}

export interface FunctionUrl {
  /** e.g. `http://127.0.0.1:41234` (no trailing slash) */
  readonly url: string;
  /** Every event sent to the function, in order. */
  readonly events: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

export async function startFunctionUrl(invoke: (event: Record<string, unknown>) => Promise<InvocationOutcome>, options: FunctionUrlOptions = {}): Promise<FunctionUrl> {
  const events: Array<Record<string, unknown>> = [];
  const maxPayloadBytes = options.maxPayloadBytes ?? 6 * 1024 * 1024;

  const server = createServer((req, res) => {
    void serve(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`function-url adapter failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (body.length > maxPayloadBytes) {
      res.writeHead(413, { 'content-type': 'application/json' }).end(JSON.stringify({ Message: 'Request must be smaller than 6291456 bytes for the InvokeFunction operation' }));
      return;
    }
    const event = toEvent(req, body, options.authType ?? 'NONE');
    events.push(event);
    const outcome = await invoke(event);
    writeResult(res, outcome);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function toEvent(req: IncomingMessage, body: Buffer, authType: 'NONE' | 'AWS_IAM'): Record<string, unknown> {
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const contentType = headers['content-type'] ?? '';
  const isText = body.length === 0 || TEXT_TYPES.test(contentType);
  const now = new Date();
  const requestContext: Record<string, unknown> = {
    accountId: authType === 'AWS_IAM' ? '123456789012' : 'anonymous',
    apiId: 'local0function0url',
    domainName: headers.host ?? '127.0.0.1',
    domainPrefix: 'local0function0url',
    http: { method: req.method ?? 'GET', path: decodeURIComponent(rawPath), protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
    requestId: randomUUID(),
    routeKey: '$default',
    stage: '$default',
    time: now.toUTCString(),
    timeEpoch: now.getTime(),
  };
  if (authType === 'AWS_IAM') {
    requestContext.authorizer = { iam: { accessKey: 'AKIALOCALTEST', accountId: '123456789012', callerId: 'AIDALOCALTEST', userArn: 'arn:aws:iam::123456789012:user/local-test', userId: 'AIDALOCALTEST' } };
  }
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext,
    isBase64Encoded: !isText,
  };
  if (rawQueryString !== '') event.queryStringParameters = Object.fromEntries(new URLSearchParams(rawQueryString));
  if (body.length > 0) event.body = isText ? body.toString('utf8') : body.toString('base64');
  return event;
}

function writeResult(res: ServerResponse, outcome: InvocationOutcome): void {
  if (!outcome.ok) {
    res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ Message: 'Internal Server Error' }));
    return;
  }
  const result = outcome.result;
  if (result !== null && typeof result === 'object' && 'statusCode' in result) {
    const structured = result as { statusCode: number; headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean };
    const payload = structured.body === undefined ? Buffer.alloc(0) : Buffer.from(structured.body, structured.isBase64Encoded ? 'base64' : 'utf8');
    res.writeHead(structured.statusCode, structured.headers ?? {}).end(payload);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result ?? null));
}
