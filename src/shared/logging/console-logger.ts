/**
 * Structured records as one JSON object per line through `console`: the default logger in Workers, and the
 * core's default wherever a Powertools Logger cannot be built (it creates a `node:console` Console, which
 * workerd does not implement). Workers Logs and `wrangler tail` index the fields.
 */
import type { LoggerLike, LogLevel } from './emit.js';

const LEVELS: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 50 };

/** The variables that set the lowest level written (a binding, with `nodejs_compat`, is in `process.env`). */
export const LOG_LEVEL_ENV = ['POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL'] as const;

/**
 * A {@link LoggerLike} writing `{ level, message, timestamp, service?, ...attributes }` lines; `debug` is dropped
 * unless `POWERTOOLS_LOG_LEVEL` or `LOG_LEVEL` says `DEBUG`, everything with `SILENT`. It is the default of the
 * Workers adapter's `withMongo` and `createDurableObjectMongo`; pass your own `logger` to send the records
 * elsewhere.
 *
 * @example
 * ```ts
 * import { createConsoleLogger } from 'serverless-mongodb/cloudflare';
 *
 * const logger = createConsoleLogger();
 * logger.info('Created and connected a MongoDB client', { mongodb: { event: 'client.created' } });
 * // {"level":"INFO","message":"Created and connected a MongoDB client","timestamp":"...","mongodb":{"event":"client.created"}}
 * ```
 */
export function createConsoleLogger(options: { service?: string } = {}): LoggerLike {
  const service = options.service === undefined ? {} : { service: options.service };
  const write = (level: LogLevel) => (message: string, attributes: Record<string, unknown>) => {
    if (LEVELS[level] < LEVELS[threshold()]) return;
    const line = JSON.stringify({ level: level.toUpperCase(), message, timestamp: new Date().toISOString(), ...service, ...attributes });
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else console.log(line);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function threshold(): LogLevel | 'silent' {
  const env = typeof process === 'undefined' ? {} : process.env;
  for (const name of LOG_LEVEL_ENV) {
    const value = env[name]?.trim().toLowerCase();
    if (value === 'debug' || value === 'info' || value === 'error' || value === 'silent') return value;
    if (value === 'warn' || value === 'warning') return 'warn';
  }
  return 'info';
}
