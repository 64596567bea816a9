/**
 * How a Worker gets its MongoClient: options checked once (where the handler is created), the connection
 * string and database read per request from the Worker's bindings (`env.MONGODB_URI`, `env.MONGODB_DB_NAME`,
 * e.g. set with `wrangler secret put MONGODB_URI`), the core's defaults applied, and polling monitoring forced.
 */
import type { MongoClient } from 'mongodb';
import { PROCESS_ENV, resolveValidated, type ResolvedClientConfig } from '../../core/config/resolve.js';
import { CLIENT_CONFIG_KEYS, driverOptionHint, validateClientConfig, type MongoClientConfig } from '../../core/config/schema.js';
import { connectFailure, createClient } from '../../core/client/connect.js';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { emit } from '../../shared/logging/emit.js';
import { expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import { createConsoleLogger } from '../../shared/logging/console-logger.js';

/**
 * Applied over the core's defaults, whatever `clientOptions` say.
 */
export const WORKER_CLIENT_DEFAULTS = {
  /**
   * The driver detects FaaS platforms (Lambda, Vercel, ...) to choose polling over streaming monitoring,
   * but not Workers. A streaming monitor holds an awaitable `hello` open for 10 s on a socket of its own;
   * polling sends one `hello` per heartbeat and nothing in between.
   */
  serverMonitoringMode: 'poll',
} as const;

/**
 * Options of the Workers adapter: the core's (`uri`, `dbName`, `clientOptions`, `logger`). The default
 * logger writes JSON lines through `console` (level from a `LOG_LEVEL` or `POWERTOOLS_LOG_LEVEL` binding).
 */
export type WorkerMongoOptions = MongoClientConfig;

/** Options checked once; the bindings are read per request. */
export interface WorkerPlan {
  readonly where: string;
  readonly options: MongoClientConfig;
}

/**
 * Checks options like the core does (unknown key or wrong type: a ConfigurationError naming it).
 * @throws {ConfigurationError}
 */
export function planWorkerMongo(options: WorkerMongoOptions | undefined, where: string): WorkerPlan {
  expectOptionsObject(where, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(where, input, CLIENT_CONFIG_KEYS, driverOptionHint);
  validateClientConfig(where, input);
  const mode = (input.clientOptions as { serverMonitoringMode?: unknown } | undefined)?.serverMonitoringMode;
  if (mode !== undefined && mode !== WORKER_CLIENT_DEFAULTS.serverMonitoringMode) {
    throw new ConfigurationError(
      ErrorCodes.INVALID_OPTION,
      `Option \`clientOptions.serverMonitoringMode\` of ${where} must be 'poll' (or left out): Workers are not detected by the driver, so 'auto' would stream, and a streaming monitor needs a socket held open between requests`,
      { option: 'serverMonitoringMode' },
    );
  }
  const checked = (options ?? {}) as MongoClientConfig;
  // The core's default (a Powertools Logger) cannot be built in workerd.
  return { where, options: { ...checked, logger: checked.logger ?? createConsoleLogger() } };
}

/**
 * The client configuration for one request: the options, else the Worker's bindings, else `process.env`
 * (which `nodejs_compat` fills from the bindings since compatibility date 2025-04-01).
 * @throws {ConfigurationError} no connection string, or a malformed database name
 */
export function resolveWorkerConfig(plan: WorkerPlan, env: unknown): ResolvedClientConfig {
  const bindings = env !== null && typeof env === 'object' ? (env as Record<string, unknown>) : {};
  return resolveValidated(plan.options, {
    namespace: 'workers',
    requiredClientOptions: WORKER_CLIENT_DEFAULTS,
    environment: [{ read: (name) => bindings[name], describe: (name) => `the ${name} binding` }, PROCESS_ENV],
  });
}

/**
 * Creates and connects a client.
 * @throws {ConfigurationError} malformed URI or option
 * @throws {ConnectionError} not reachable within `serverSelectionTimeoutMS`; the client is closed (in the background)
 */
export async function connectWorkerClient(config: ResolvedClientConfig, background: (promise: Promise<unknown>) => void): Promise<MongoClient> {
  const client = createClient(config);
  const startedAt = performance.now();
  try {
    await client.connect();
  } catch (error) {
    background(closeWorkerClient(client, config));
    throw connectFailure(config, client, error, startedAt, "the server accepts connections from Cloudflare's network (Atlas IP access list) and that the credentials are right");
  }
  emit(config.logger, 'debug', 'client.created', 'Created and connected a MongoDB client', { cold: true, connectDurationMs: elapsed(startedAt), uri: config.redactedUri }, config.secrets);
  return client;
}

/** Closes a client (`endSessions`, sockets closed). Never throws: a failure is logged. */
export async function closeWorkerClient(client: MongoClient, config: ResolvedClientConfig): Promise<void> {
  try {
    await client.close();
    emit(config.logger, 'debug', 'client.closed', 'Closed the MongoDB client', { uri: config.redactedUri }, config.secrets);
  } catch (error) {
    emit(config.logger, 'warn', 'cleanup.failed', 'Closing the MongoDB client failed', { uri: config.redactedUri, error }, config.secrets);
  }
}

function elapsed(startedAt: number): number {
  return Math.round(performance.now() - startedAt);
}
