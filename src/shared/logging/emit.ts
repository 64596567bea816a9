/**
 * Structured lifecycle records. Every record goes through {@link emit}, which redacts connection
 * strings and known secrets from every string it carries, so no log line can leak a password.
 */
import { createConsoleLogger } from './console-logger.js';
import { redactText } from './redact.js';

/**
 * What the library needs of a logger. A Powertools `Logger` fits; so does any object with these methods.
 */
export interface LoggerLike {
  debug(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The lifecycle events the library records, under `mongodb.event`. */
export type LifecycleEvent =
  | 'client.created'
  | 'client.reused'
  | 'client.connect.failed'
  | 'client.closed'
  | 'client.rebuilt'
  | 'client.evicted'
  | 'client.retired'
  | 'secret.fetched'
  | 'secret.fetch.failed'
  | 'secret.rotated'
  | 'secret.rejected'
  | 'thaw.probe'
  | 'thaw.probe.failed'
  | 'session.started'
  | 'session.ended'
  | 'transaction.committed'
  | 'transaction.aborted'
  | 'transaction.commit.failed'
  | 'cleanup.failed'
  | 'invocation.interrupted'
  | 'invocation.connectionsClosed'
  | 'invocation.connectionsNotClosed'
  | 'option.ignored'
  | 'shutdown.started'
  | 'shutdown.finished'
  | 'extension.registered'
  | 'extension.register.failed'
  | 'http.request'
  | 'http.rejected'
  | 'http.failed'
  | 'pool.attached'
  | 'pool.attach.failed'
  | 'mongoose.connected'
  | 'mongoose.disconnected'
  | 'mongoose.reconnected'
  | 'mongoose.error'
  | 'mongoose.rebound'
  | 'guard.session'
  | 'guard.transaction';

let defaultLogger: LoggerLike | undefined;

/** The part of `@aws-lambda-powertools/logger` the default logger uses. */
interface PowertoolsLoggerModule {
  Logger: new (options: { serviceName: string }) => LoggerLike;
}

/**
 * The logger used when none is passed: a Powertools Logger (level from `POWERTOOLS_LOG_LEVEL`, default INFO) when
 * `@aws-lambda-powertools/logger` (an optional peer dependency) can be loaded, else JSON lines on `console`
 * ({@link createConsoleLogger}, the same level variables): where it is not installed, where the runtime cannot load
 * it (workerd has no `Console` constructor), and in a bundle that left it out.
 */
export function getDefaultLogger(): LoggerLike {
  if (!defaultLogger) {
    const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'serverless-mongodb';
    try {
      const powertools = loadPowertools();
      defaultLogger = powertools ? new powertools.Logger({ serviceName }) : createConsoleLogger({ service: serviceName });
    } catch {
      defaultLogger = createConsoleLogger({ service: serviceName });
    }
  }
  return defaultLogger;
}

/**
 * Loads Powertools on first use, synchronously and only then, so that no entry point imports it: not the
 * Workers adapter or the HTTP client (their bundles hold no Powertools), and not a Lambda function that passes its
 * own `logger`. The `require` is made through `process.getBuiltinModule` (Node.js >= 22.3), not a static
 * `node:module` import, so runtimes without it (workerd, browsers) load this module as well. The package is
 * resolved like a `require` from this file: the function's node_modules, then `NODE_PATH` (a Lambda layer's
 * /opt/nodejs/node_modules). `undefined` where there is no `require` to make.
 */
function loadPowertools(): PowertoolsLoggerModule | undefined {
  const getBuiltinModule = (globalThis.process as { getBuiltinModule?: (id: string) => unknown } | undefined)?.getBuiltinModule;
  if (typeof getBuiltinModule !== 'function') return undefined;
  const nodeModule = getBuiltinModule.call(process, 'node:module') as { createRequire?: (path: string | URL) => NodeJS.Require } | undefined;
  if (typeof nodeModule?.createRequire !== 'function') return undefined;
  // Throws MODULE_NOT_FOUND when it is not installed: the caller falls back to the console logger.
  return nodeModule.createRequire(import.meta.url)('@aws-lambda-powertools/logger') as PowertoolsLoggerModule;
}

/**
 * Writes one record: `logger[level](message, { mongodb: { event, ...details } })`, redacted.
 * Never throws: a failing logger must not fail an invocation.
 */
export function emit(
  logger: LoggerLike,
  level: LogLevel,
  event: LifecycleEvent,
  message: string,
  details: Record<string, unknown> = {},
  secrets: readonly string[] = [],
): void {
  try {
    const attributes = { mongodb: redactValue({ event, ...details }, secrets, 0) as Record<string, unknown> };
    logger[level](redactText(message, secrets), attributes);
  } catch {
    // Logging is best effort.
  }
}

/**
 * The hot-path variant of {@link emit} for records built only from values that cannot hold a secret (ids,
 * flags, counts, an already redacted URI): no redaction pass, and a DEBUG record a Powertools Logger would
 * drop is not built at all. Never throws.
 */
export function emitSafe(logger: LoggerLike, level: LogLevel, event: LifecycleEvent, message: string, details: Record<string, unknown>): void {
  try {
    if (level === 'debug' && !wouldKeepDebug(logger)) return;
    logger[level](message, { mongodb: { event, ...details } });
  } catch {
    // Logging is best effort.
  }
}

/**
 * Whether `logger` would keep a DEBUG record now (print or buffer it): asked once per invocation, so that records
 * nobody will see are not built. Only a Powertools Logger can say no; any other logger gets every record.
 */
export function debugWanted(logger: LoggerLike): boolean {
  try {
    return wouldKeepDebug(logger);
  } catch {
    return true;
  }
}

/** Powertools' numeric DEBUG level. */
const POWERTOOLS_DEBUG = 8;

interface PowertoolsLevels {
  readonly level: number;
  shouldBufferLog(traceId: string, level: number): boolean;
}

/**
 * Whether a DEBUG record would be printed or buffered. Only a Powertools Logger can say no: below DEBUG it
 * drops the record unless log buffering keeps it (`shouldBufferLog`, asked with a stand-in trace id). Any other
 * logger, or a Powertools version without these members, gets every record.
 */
function wouldKeepDebug(logger: LoggerLike): boolean {
  const candidate = logger as Partial<PowertoolsLevels>;
  if (typeof candidate.level !== 'number' || typeof candidate.shouldBufferLog !== 'function') return true;
  return candidate.level <= POWERTOOLS_DEBUG || candidate.shouldBufferLog('serverless-mongodb', POWERTOOLS_DEBUG);
}

/** A plain, redacted description of an error for a log record (name, message, code, cause). */
export function describeError(error: unknown, secrets: readonly string[] = []): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactText(String(error), secrets) };
  const description: Record<string, unknown> = { name: error.name, message: redactText(error.message, secrets) };
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) description.code = code;
  if (error.cause !== undefined) description.cause = describeError(error.cause, secrets);
  return description;
}

function redactValue(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (value instanceof Error) return describeError(value, secrets);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1));
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) result[key] = redactValue(item, secrets, depth + 1);
  return result;
}
