/**
 * A local implementation of the AWS Lambda Runtime API (the HTTP server the RIC long-polls).
 * One instance serves one emulated container, so several containers can run at once.
 *
 * Endpoints (as on Lambda, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
 *   GET  /2018-06-01/runtime/invocation/next          long-poll, answered when an event is delivered
 *   POST /2018-06-01/runtime/invocation/{id}/response  -> 202
 *   POST /2018-06-01/runtime/invocation/{id}/error     -> 202
 *   POST /2018-06-01/runtime/init/error                -> 202
 *
 * and the part of the Extensions API an in-process (internal) extension uses
 * (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html):
 *   POST /2020-01-01/extension/register   `Lambda-Extension-Name` header, body `{ events }`; 200 with a
 *                                         `Lambda-Extension-Identifier` header. Only during init (before the
 *                                         runtime's first /next); internal extensions cannot take SHUTDOWN.
 *   GET  /2020-01-01/extension/event/next long-poll; answered with INVOKE events to extensions that asked for them.
 * While an extension is registered, invocations wait for it to be parked on event/next (as Lambda waits for
 * every extension), and the container's Lambda-style shutdown sends SIGTERM (see `LambdaContainer.retire`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const PREFIX = '/2018-06-01/runtime';

export interface RuntimeErrorBody {
  errorType: string;
  errorMessage: string;
  stackTrace?: string[];
}

export interface DeliveredInvocation {
  requestId: string;
  deliveredAt: number;
  deadlineMs: number;
}

export interface RuntimeApiEvents {
  /** the runtime is parked on GET /next (no event was waiting for it) */
  parked: [];
  response: [requestId: string, result: unknown];
  invocationError: [requestId: string, error: RuntimeErrorBody];
  initError: [error: RuntimeErrorBody];
}

interface Pending {
  requestId: string;
  body: string;
  deadlineMs: number;
  arn: string;
  onWritten: (inv: DeliveredInvocation) => void;
}

export class RuntimeApiServer extends EventEmitter<RuntimeApiEvents> {
  private readonly server: Server;
  private parkedNext: ServerResponse | undefined;
  private readonly queue: Pending[] = [];
  /** number of GET /next requests received so far */
  nextCount = 0;
  /** registered extensions by identifier */
  readonly extensions = new Map<string, { name: string; events: string[]; parked: ServerResponse | undefined }>();

  constructor(private readonly functionArn: string) {
    super();
    // requestTimeout/keepAliveTimeout off: /next is a long poll over a keep-alive connection (curl in the native client).
    this.server = createServer({ requestTimeout: 0, keepAliveTimeout: 0 }, (req, res) => this.route(req, res));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** true while the runtime waits on GET /next with nothing to receive */
  get isParked(): boolean {
    return this.parkedNext !== undefined;
  }

  /** Queue an event; it is written to the pending (or next) GET /next. `onWritten` fires once the bytes are handed to the OS. */
  deliver(event: unknown, timeoutMs: number, onWritten: (inv: DeliveredInvocation) => void): string {
    const requestId = randomUUID();
    this.queue.push({ requestId, body: JSON.stringify(event ?? null), deadlineMs: timeoutMs, arn: this.functionArn, onWritten });
    this.flush();
    return requestId;
  }

  async close(): Promise<void> {
    this.parkedNext?.socket?.destroy();
    this.parkedNext = undefined;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private flush(): void {
    const res = this.parkedNext;
    const item = this.queue[0];
    if (!res || !item) return;
    // Lambda starts an invocation only once every extension is ready (parked on event/next).
    for (const extension of this.extensions.values()) if (!extension.parked) return;
    for (const extension of this.extensions.values()) {
      if (!extension.events.includes('INVOKE') || !extension.parked) continue;
      const parked = extension.parked;
      extension.parked = undefined;
      reply(parked, 200, { eventType: 'INVOKE', requestId: item.requestId, deadlineMs: Date.now() + item.deadlineMs, invokedFunctionArn: item.arn });
    }
    this.queue.shift();
    this.parkedNext = undefined;
    const deliveredAt = Date.now();
    const deadlineMs = deliveredAt + item.deadlineMs;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': item.requestId,
      'Lambda-Runtime-Deadline-Ms': String(deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': item.arn,
      'Lambda-Runtime-Trace-Id': traceId(),
    });
    res.end(item.body, () => item.onWritten({ requestId: item.requestId, deliveredAt, deadlineMs }));
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      this.nextCount++;
      if (this.parkedNext) reply(this.parkedNext, 500, { errorMessage: 'concurrent /next', errorType: 'InvalidState' });
      this.parkedNext = res;
      res.on('close', () => {
        if (this.parkedNext === res) this.parkedNext = undefined;
      });
      if (this.queue.length > 0) this.flush();
      else this.emit('parked');
      return;
    }
    if (req.method === 'GET' && url === '/2020-01-01/extension/event/next') {
      const id = String(req.headers['lambda-extension-identifier'] ?? '');
      const extension = this.extensions.get(id);
      if (!extension) {
        reply(res, 403, { errorMessage: 'unknown Lambda-Extension-Identifier', errorType: 'Extension.Unknown' });
        return;
      }
      extension.parked = res;
      res.on('close', () => {
        if (extension.parked === res) extension.parked = undefined;
      });
      if (this.queue.length > 0) this.flush();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
      if (req.method === 'POST' && m) {
        const requestId = decodeURIComponent(m[1] ?? '');
        reply(res, 202, { status: 'OK' });
        // Streaming responses report failures in trailers.
        const trailerType = req.trailers['lambda-runtime-function-error-type'];
        if (m[2] === 'error' || trailerType) {
          const body = trailerType ? decodeTrailerBody(req.trailers['lambda-runtime-function-error-body']) : parse(text);
          this.emit('invocationError', requestId, toErrorBody(body, req.headers['lambda-runtime-function-error-type'] ?? trailerType));
        } else {
          this.emit('response', requestId, parse(text));
        }
        return;
      }
      if (req.method === 'POST' && url === `${PREFIX}/init/error`) {
        reply(res, 202, { status: 'OK' });
        this.emit('initError', toErrorBody(parse(text), req.headers['lambda-runtime-function-error-type']));
        return;
      }
      if (req.method === 'POST' && url === '/2020-01-01/extension/register') {
        this.register(req, res, text);
        return;
      }
      reply(res, 404, { errorMessage: `unknown path ${req.method} ${url}`, errorType: 'InvalidRequest' });
    });
  }

  private register(req: IncomingMessage, res: ServerResponse, text: string): void {
    const name = req.headers['lambda-extension-name'];
    const body = parse(text) as { events?: unknown };
    const events = Array.isArray(body?.events) ? body.events.map(String) : undefined;
    if (typeof name !== 'string' || name === '' || !events) {
      reply(res, 400, { errorMessage: 'Lambda-Extension-Name header and { events: [] } body required', errorType: 'InvalidRequest' });
      return;
    }
    if (this.nextCount > 0) {
      reply(res, 403, { errorMessage: 'extensions register during the init phase only', errorType: 'Extension.InvalidRegistration' });
      return;
    }
    if (events.some((event) => event !== 'INVOKE')) {
      reply(res, 403, { errorMessage: 'an internal extension can only register for INVOKE', errorType: 'Extension.InvalidEventType' });
      return;
    }
    const id = randomUUID();
    this.extensions.set(id, { name, events, parked: undefined });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Lambda-Extension-Identifier': id });
    res.end(JSON.stringify({ functionName: this.functionArn.split(':').pop(), functionVersion: '$LATEST', handler: process.env._HANDLER ?? '' }));
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function decodeTrailerBody(value: string | undefined): unknown {
  return value ? parse(Buffer.from(value, 'base64').toString('utf8')) : undefined;
}

/** The RIC posts `{errorType, errorMessage, trace}`; normalise to `{errorType, errorMessage, stackTrace}`. */
function toErrorBody(body: unknown, headerType: string | string[] | undefined): RuntimeErrorBody {
  const o = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const fallbackType = Array.isArray(headerType) ? headerType[0] : headerType;
  const trace = o['stackTrace'] ?? o['trace'];
  const out: RuntimeErrorBody = {
    errorType: typeof o['errorType'] === 'string' ? o['errorType'] : (fallbackType ?? 'Unknown'),
    errorMessage: typeof o['errorMessage'] === 'string' ? o['errorMessage'] : typeof body === 'string' ? body : '',
  };
  if (Array.isArray(trace)) out.stackTrace = trace.map(String);
  return out;
}

function traceId(): string {
  const epoch = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=0`;
}
