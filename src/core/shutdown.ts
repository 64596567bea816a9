/**
 * Graceful shutdown: when Lambda retires an execution environment it sends the runtime SIGTERM (only when an
 * extension is registered) and SIGKILLs it a moment later. Closing the cached clients in between ends their
 * server sessions (`endSessions`) and closes their sockets, instead of leaving them for the server to time out.
 */
import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { closeMongoClient } from './client/cache.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from '../shared/validation.js';
import { emit, getDefaultLogger, type LoggerLike } from '../shared/logging/emit.js';

export const SHUTDOWN_DEFAULTS = {
  /**
   * Time given to closing the clients after SIGTERM. Lambda allows the runtime 500 ms with an internal extension
   * (300 ms with external ones) before SIGKILL; 250 ms leaves room for the log record.
   */
  timeoutMs: 250,
  /** The name the internal extension registers with. */
  extensionName: 'serverless-mongodb',
} as const;

/** Options of {@link enableGracefulShutdown}. */
export interface GracefulShutdownOptions {
  /**
   * Register an internal Lambda extension (Extensions API) so that Lambda sends SIGTERM at shutdown; without
   * any registered extension it does not. Must happen during the init phase (module scope, awaited).
   * @default true when running on Lambda (`AWS_LAMBDA_RUNTIME_API` is set)
   */
  registerExtension?: boolean;
  /**
   * Time budget for closing the clients after SIGTERM (ms).
   * @default 250
   */
  timeoutMs?: number;
  /**
   * Name of the internal extension.
   * @default 'serverless-mongodb'
   */
  extensionName?: string;
  /**
   * Where the shutdown records go.
   * @default a Powertools Logger with serviceName `serverless-mongodb`
   */
  logger?: LoggerLike;
}

const OPTION_KEYS = ['registerExtension', 'timeoutMs', 'extensionName', 'logger'] as const;

let enabled: Promise<void> | undefined;

/**
 * On SIGTERM, closes every cached client within `timeoutMs`, then lets the signal end the process as it would
 * have (unless the application has SIGTERM listeners of its own). On Lambda it also registers an internal
 * extension, which is what makes Lambda send SIGTERM. Call it once at module scope and await it, so the
 * registration lands in the init phase. Calling it again is a no-op.
 *
 * @example
 * ```ts
 * import middy from '@middy/core';
 * import type { Context } from 'aws-lambda';
 * import { enableGracefulShutdown } from 'serverless-mongodb';
 * import { mongo, type MongoContext } from 'serverless-mongodb/middy';
 *
 * await enableGracefulShutdown(); // module scope, ESM top-level await: the handler must be an ES module
 * const countItems = async (_event: unknown, context: Context & { mongo: MongoContext }) =>
 *   context.mongo.db.collection('items').countDocuments({}, { session: context.mongo.session });
 * export const handler = middy(countItems).use(mongo());
 * ```
 */
export function enableGracefulShutdown(options?: GracefulShutdownOptions): Promise<void> {
  expectOptionsObject('enableGracefulShutdown()', options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys('enableGracefulShutdown()', input, OPTION_KEYS);
  expectOption('enableGracefulShutdown()', 'registerExtension', input.registerExtension, 'boolean');
  expectOption('enableGracefulShutdown()', 'timeoutMs', input.timeoutMs, 'non-negative integer');
  expectOption('enableGracefulShutdown()', 'extensionName', input.extensionName, 'string');
  expectOption('enableGracefulShutdown()', 'logger', input.logger, 'logger');
  enabled ??= enable(options ?? {});
  return enabled;
}

async function enable(options: GracefulShutdownOptions): Promise<void> {
  const logger = options.logger ?? getDefaultLogger();
  const timeoutMs = options.timeoutMs ?? SHUTDOWN_DEFAULTS.timeoutMs;
  const onSigterm = (): void => {
    void shutDown(logger, timeoutMs, onSigterm);
  };
  process.on('SIGTERM', onSigterm);
  const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API;
  if ((options.registerExtension ?? runtimeApi !== undefined) && runtimeApi) {
    await registerInternalExtension(runtimeApi, options.extensionName ?? SHUTDOWN_DEFAULTS.extensionName, logger);
  }
}

async function shutDown(logger: LoggerLike, timeoutMs: number, listener: () => void): Promise<void> {
  const startedAt = performance.now();
  emit(logger, 'info', 'shutdown.started', 'SIGTERM: closing the MongoDB clients', { timeoutMs });
  const closed = await Promise.race([closeMongoClient().then(() => true), delay(timeoutMs, false, { ref: false })]);
  emit(logger, closed ? 'info' : 'warn', 'shutdown.finished', closed ? 'Closed the MongoDB clients' : 'Closing the MongoDB clients took longer than the shutdown budget', {
    durationMs: Math.round(performance.now() - startedAt),
    closed,
  });
  process.removeListener('SIGTERM', listener);
  // Let SIGTERM do what it would have done without us. `process.exit()` is no option: under the Lambda runtime
  // client a thread blocked on the Runtime API keeps it from returning.
  if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
}

/**
 * Registers an internal extension with no events and parks it on `event/next` (which Lambda expects before the
 * init phase ends). Its socket is unref'd: it never keeps the process alive. Failures are logged, not thrown:
 * without the extension the function works, only without SIGTERM.
 */
async function registerInternalExtension(runtimeApi: string, name: string, logger: LoggerLike): Promise<void> {
  try {
    const { headers } = await call(runtimeApi, 'POST', '/2020-01-01/extension/register', { 'Lambda-Extension-Name': name }, JSON.stringify({ events: [] }));
    const id = headers['lambda-extension-identifier'];
    if (typeof id !== 'string') throw new Error('the Extensions API returned no Lambda-Extension-Identifier');
    const next = request({ host: hostOf(runtimeApi), port: portOf(runtimeApi), method: 'GET', path: '/2020-01-01/extension/event/next', headers: { 'Lambda-Extension-Identifier': id }, agent: false });
    next.on('socket', (socket) => socket.unref());
    next.on('response', (response) => response.resume());
    next.on('error', () => undefined);
    next.end();
    emit(logger, 'info', 'extension.registered', 'Registered an internal Lambda extension: Lambda sends SIGTERM at shutdown', { name });
  } catch (error) {
    emit(logger, 'warn', 'extension.register.failed', 'Could not register the internal Lambda extension: no SIGTERM at shutdown', { name, error });
  }
}

function call(runtimeApi: string, method: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: hostOf(runtimeApi), port: portOf(runtimeApi), method, path, headers: { ...headers, 'Content-Type': 'application/json' }, agent: false }, (response) => {
      response.resume();
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve({ status, headers: response.headers });
        else reject(new Error(`${method} ${path} answered ${status}`));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function hostOf(hostPort: string): string {
  return hostPort.slice(0, hostPort.lastIndexOf(':'));
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}
