/**
 * The default logger in Workers. The core's default, a Powertools Logger, cannot be built in workerd (it
 * creates a `node:console` Console, which workerd does not implement); this one writes the same records as
 * one JSON object per line through `console`, which Workers Logs and `wrangler tail` index as fields.
 */
import type { LoggerLike, LogLevel } from '../logging.js';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** The variables that set the lowest level written (a binding, with `nodejs_compat`, is in `process.env`). */
export const LOG_LEVEL_ENV = ['POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL'] as const;

/**
 * A {@link LoggerLike} writing `{ level, message, timestamp, ...attributes }` lines; `debug` is dropped
 * unless `POWERTOOLS_LOG_LEVEL` or `LOG_LEVEL` says `DEBUG`. It is the default of `withMongo` and
 * `createDurableObjectMongo`; pass your own `logger` to send the records elsewhere.
 *
 * @example
 * ```ts
 * const logger = createConsoleLogger();
 * logger.info('Created and connected a MongoDB client', { mongodb: { event: 'client.created' } });
 * // {"level":"INFO","message":"Created and connected a MongoDB client","timestamp":"...","mongodb":{"event":"client.created"}}
 * ```
 */
export function createConsoleLogger(): LoggerLike {
  const write = (level: LogLevel) => (message: string, attributes: Record<string, unknown>) => {
    if (LEVELS[level] < LEVELS[threshold()]) return;
    const line = JSON.stringify({ level: level.toUpperCase(), message, timestamp: new Date().toISOString(), ...attributes });
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else console.log(line);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function threshold(): LogLevel {
  const env = typeof process === 'undefined' ? {} : process.env;
  for (const name of LOG_LEVEL_ENV) {
    const value = env[name]?.trim().toLowerCase();
    if (value === 'debug' || value === 'info' || value === 'error') return value;
    if (value === 'warn' || value === 'warning') return 'warn';
  }
  return 'info';
}
