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
 *
 * Two modes:
 *   classic (no `maxConcurrency`): one GET /next at a time. A second GET /next while one is parked fails the
 *     older one with 500 InvalidState (the classic RIC never does that).
 *   multi-concurrent (Lambda Managed Instances, `maxConcurrency` set): any number of parked GET /next (the RIC
 *     keeps one per worker thread). At most `maxConcurrency` invocations are in flight (written to a /next and
 *     not yet answered through /response or /error); the rest wait in the queue, as the Lambda service holds them.
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

export interface RuntimeApiOptions {
  /** multi-concurrent mode (LMI): cap on invocations in flight. Unset: classic mode, one /next at a time. */
  maxConcurrency?: number;
}

/** What the Runtime API saw, for tests of concurrency. */
export interface RuntimeApiStats {
  /** GET /next requests received so far */
  nextRequests: number;
  /** GET /next requests parked now, with nothing to receive */
  parked: number;
  /** invocations written to a /next and not yet answered */
  inFlight: number;
  /** the most invocations in flight at once since start (or since `resetMaxInFlight()`) */
  maxInFlight: number;
  /** invocations waiting for a /next (or for a free slot under `maxConcurrency`) */
  queued: number;
  /** invocations written to a /next so far */
  delivered: number;
  /** invocations answered through /response or /error so far */
  answered: number;
}

export interface RuntimeApiEvents {
  /** a GET /next is parked (no event was waiting for it) */
  parked: [];
  /** an invocation was written to a GET /next (emitted synchronously, before the bytes are flushed) */
  delivered: [requestId: string];
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
  /** parked GET /next responses, oldest first (at most one in classic mode) */
  private readonly parkedNext: ServerResponse[] = [];
  private readonly queue: Pending[] = [];
  /** request ids written to a /next and not yet answered */
  private readonly inFlight = new Set<string>();
  private maxInFlightSeen = 0;
  private deliveredCount = 0;
  private answeredCount = 0;
  /** number of GET /next requests received so far */
  nextCount = 0;
  /** registered extensions by identifier */
  readonly extensions = new Map<string, { name: string; events: string[]; parked: ServerResponse | undefined }>();
  /** multi-concurrent mode's cap on invocations in flight; undefined in classic mode */
  readonly maxConcurrency: number | undefined;

  constructor(
    private readonly functionArn: string,
    options: RuntimeApiOptions = {},
  ) {
    super();
    const max = options.maxConcurrency;
    if (max !== undefined && !(Number.isInteger(max) && max >= 1)) {
      throw new RangeError(`RuntimeApiServer: maxConcurrency must be an integer >= 1 (got ${String(max)}); leave it unset for classic mode`);
    }
    this.maxConcurrency = max;
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

  /** true while the runtime waits on GET /next with nothing to receive (in LMI mode: at least one worker does) */
  get isParked(): boolean {
    return this.parkedNext.length > 0;
  }

  /** number of GET /next parked now */
  get parkedCount(): number {
    return this.parkedNext.length;
  }

  /** number of invocations written to a /next and not yet answered */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** true while `requestId` was delivered and is not answered yet */
  isInFlight(requestId: string): boolean {
    return this.inFlight.has(requestId);
  }

  stats(): RuntimeApiStats {
    return {
      nextRequests: this.nextCount,
      parked: this.parkedNext.length,
      inFlight: this.inFlight.size,
      maxInFlight: this.maxInFlightSeen,
      queued: this.queue.length,
      delivered: this.deliveredCount,
      answered: this.answeredCount,
    };
  }

  /** start a new high-water mark for `stats().maxInFlight` (from the current in-flight count) */
  resetMaxInFlight(): void {
    this.maxInFlightSeen = this.inFlight.size;
  }

  /** Queue an event; it is written to the pending (or next) GET /next. `onWritten` fires once the bytes are handed to the OS. */
  deliver(event: unknown, timeoutMs: number, onWritten: (inv: DeliveredInvocation) => void): string {
    const requestId = randomUUID();
    this.queue.push({ requestId, body: JSON.stringify(event ?? null), deadlineMs: timeoutMs, arn: this.functionArn, onWritten });
    this.flush();
    return requestId;
  }

  async close(): Promise<void> {
    for (const res of this.parkedNext.splice(0)) res.socket?.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Write queued events to parked GET /next requests, oldest first, while a slot is free. */
  private flush(): void {
    while (this.deliverOne()) {
      // next one
    }
  }

  private deliverOne(): boolean {
    const res = this.parkedNext[0];
    const item = this.queue[0];
    if (!res || !item) return false;
    if (this.maxConcurrency !== undefined && this.inFlight.size >= this.maxConcurrency) return false;
    // Lambda starts an invocation only once every extension is ready (parked on event/next).
    for (const extension of this.extensions.values()) if (!extension.parked) return false;
    for (const extension of this.extensions.values()) {
      if (!extension.events.includes('INVOKE') || !extension.parked) continue;
      const parked = extension.parked;
      extension.parked = undefined;
      reply(parked, 200, { eventType: 'INVOKE', requestId: item.requestId, deadlineMs: Date.now() + item.deadlineMs, invokedFunctionArn: item.arn });
    }
    this.queue.shift();
    this.parkedNext.shift();
    this.inFlight.add(item.requestId);
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlight.size);
    this.deliveredCount++;
    this.emit('delivered', item.requestId);
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
    return true;
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      this.nextCount++;
      if (this.maxConcurrency === undefined) {
        // classic: one runtime thread, one /next; a second one while another is parked is a protocol error
        const older = this.parkedNext.shift();
        if (older) reply(older, 500, { errorMessage: 'concurrent /next', errorType: 'InvalidState' });
      }
      this.parkedNext.push(res);
      res.on('close', () => {
        const i = this.parkedNext.indexOf(res);
        if (i >= 0) this.parkedNext.splice(i, 1);
      });
      this.flush();
      if (this.parkedNext.includes(res)) this.emit('parked');
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
        if (this.inFlight.delete(requestId)) this.answeredCount++;
        // Streaming responses report failures in trailers.
        const trailerType = req.trailers['lambda-runtime-function-error-type'];
        if (m[2] === 'error' || trailerType) {
          const body = trailerType ? decodeTrailerBody(req.trailers['lambda-runtime-function-error-body']) : parse(text);
          this.emit('invocationError', requestId, toErrorBody(body, req.headers['lambda-runtime-function-error-type'] ?? trailerType));
        } else {
          this.emit('response', requestId, parse(text));
        }
        this.flush(); // a slot is free
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
