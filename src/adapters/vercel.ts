/**
 * `serverless-mongodb/vercel`: the core's cached client for Vercel Functions (Node.js runtime, Fluid compute).
 *
 * Fluid compute runs many invocations in one instance and suspends it when idle. A suspended instance keeps
 * its sockets open on the server's side until they time out, so idle pool connections should close first:
 * the pool gets a short `maxIdleTimeMS` (the driver's default, 0, never closes them), and on Vercel it is
 * registered with `attachDatabasePool` from `@vercel/functions`, which keeps the instance alive with
 * `waitUntil` while connections may still be idle. That wait is counted from a connection's check-out
 * while the driver counts idleness from its check-in and prunes every 100 ms, so it often ends just before
 * the connection closes (measured: 7 times in 10); the adapter also passes `waitUntil` a promise that
 * settles once the pool's connections are actually closed.
 */
import type { MongoClient } from 'mongodb';
import type { PlatformInputs, ResolvedClientConfig } from '../core/config/resolve.js';
import { CLIENT_CONFIG_KEYS, driverOptionHint, validateClientConfig, type MongoClientConfig } from '../core/config/schema.js';
import { uriOption } from '../core/config/uri.js';
import { openInvocation } from '../core/invocation/open.js';
import { planWithoutSession, resolvedConfigOf } from '../core/invocation/plan.js';
import { ConfigurationError, ErrorCodes } from '../shared/errors.js';
import { emit } from '../shared/logging/emit.js';
import { expectOptionsObject, rejectUnknownKeys } from '../shared/validation.js';

/** Applied over the core's Lambda defaults unless `clientOptions` or the URI set the option. */
export const VERCEL_CLIENT_DEFAULTS = {
  /**
   * Core default 60 000, driver default 0 (never). An idle connection closes after 5 s, so the instance can
   * be suspended soon after its last invocation without leaving sockets open on the server.
   */
  maxIdleTimeMS: 5_000,
} as const;

/** Vercel sets `VERCEL=1` in Functions (and builds); `@vercel/functions` also needs `VERCEL_URL` and `VERCEL_REGION`. */
export const VERCEL_ENV = 'VERCEL';

/** The driver checks for idle connections every 100 ms; wait this much past `maxIdleTimeMS` at most. */
const IDLE_CLOSE_SLACK_MS = 1_000;

const WHERE = 'getMongoClient() from serverless-mongodb/vercel';

/** Lifecycle records of this adapter (the core's event list does not name them yet). */
type VercelEvent = 'pool.attached' | 'pool.attach.failed';

/**
 * Returns the connected, cached MongoClient (the core's cache: same options, same client), with
 * `maxIdleTimeMS: 5000` unless set. On Vercel the new client's pool is registered with `attachDatabasePool`
 * (install `@vercel/functions`), so an instance is not suspended while idle connections are still open.
 *
 * @throws {ConfigurationError} missing or malformed URI, unknown option, wrong type, `maxIdleTimeMS: 0`
 * @throws {ConnectionError} the server could not be reached within `serverSelectionTimeoutMS`; not cached
 *
 * @example
 * ```ts
 * // app/api/items/route.ts (Node.js runtime)
 * import { getMongoClient } from 'serverless-mongodb/vercel';
 *
 * export async function GET(): Promise<Response> {
 *   const client = await getMongoClient(); // MONGODB_URI from the project's environment variables
 *   const items = await client.db('shop').collection('items').find({}, { limit: 20 }).toArray();
 *   return Response.json(items);
 * }
 * ```
 */
export async function getMongoClient(options?: MongoClientConfig): Promise<MongoClient> {
  const plan = planWithoutSession(checkedOptions(options), VERCEL_PLATFORM);
  rejectNeverIdle(resolvedConfigOf(plan));
  // The invocation lifecycle without a session: the freeze/thaw check after a suspension, then the lease is
  // given back at once (a route handler has no end the adapter could wait for).
  const opened = openInvocation(plan, undefined);
  const scope = opened instanceof Promise ? await opened : opened;
  const { lease } = scope;
  void scope.finish('success');
  if (lease.cold && process.env[VERCEL_ENV]) await attachPool(lease.client, scope.config);
  return lease.client;
}

/** The Vercel platform: its defaults over the core's, and clients of their own in the cache. */
const VERCEL_PLATFORM: PlatformInputs = { namespace: 'vercel', clientDefaults: VERCEL_CLIENT_DEFAULTS };

/** Checks the options like the core's `getMongoClient()`, and `maxIdleTimeMS` in them. @throws {ConfigurationError} */
function checkedOptions(options: MongoClientConfig | undefined): MongoClientConfig {
  expectOptionsObject(WHERE, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(WHERE, input, CLIENT_CONFIG_KEYS, driverOptionHint);
  validateClientConfig(WHERE, input);
  if ((input.clientOptions as { maxIdleTimeMS?: unknown } | undefined)?.maxIdleTimeMS === 0) neverIdleError('clientOptions', []);
  return input as MongoClientConfig;
}

/** `maxIdleTimeMS=0` in the connection string. @throws {ConfigurationError} */
function rejectNeverIdle(config: ResolvedClientConfig): void {
  if (uriOption(config.uri, 'maxIdleTimeMS') === '0') neverIdleError('the connection string', config.secrets);
}

function neverIdleError(where: string, secrets: readonly string[]): never {
  throw new ConfigurationError(
    ErrorCodes.INVALID_OPTION,
    `maxIdleTimeMS of ${WHERE} must not be 0 (${where}): idle connections would never close, and a suspended Fluid instance would keep them open on the server; leave it out for ${VERCEL_CLIENT_DEFAULTS.maxIdleTimeMS} ms`,
    { option: 'maxIdleTimeMS', secrets },
  );
}

async function attachPool(client: MongoClient, config: ResolvedClientConfig): Promise<void> {
  let functions: typeof import('@vercel/functions');
  try {
    functions = await import('@vercel/functions');
    functions.attachDatabasePool(client);
  } catch (error) {
    record(config, 'warn', 'pool.attach.failed', 'Could not register the MongoDB pool with attachDatabasePool (is @vercel/functions installed?): idle connections may stay open while the instance is suspended', { error });
    return;
  }
  waitUntilPoolClosed(client, client.options.maxIdleTimeMS, functions.waitUntil);
  record(config, 'info', 'pool.attached', 'Registered the MongoDB pool with attachDatabasePool', { maxIdleTimeMS: client.options.maxIdleTimeMS, uri: config.redactedUri });
}

/**
 * After each check-in, keeps the current invocation alive (`waitUntil`) until the pool has no connection
 * left, or `maxIdleTimeMS` (+ slack) after the last check-in, whichever comes first.
 */
function waitUntilPoolClosed(client: MongoClient, maxIdleTimeMS: number, waitUntil: (promise: Promise<unknown>) => void): void {
  let open = 0;
  let idle: { promise: Promise<void>; resolve: () => void; timer?: ReturnType<typeof setTimeout> } | undefined;
  const settle = (): void => {
    if (!idle) return;
    clearTimeout(idle.timer);
    idle.resolve();
    idle = undefined;
  };
  client.on('connectionCreated', () => {
    open += 1;
  });
  client.on('connectionClosed', () => {
    open = Math.max(0, open - 1);
    if (open === 0) settle();
  });
  client.on('connectionCheckedIn', () => {
    if (!idle) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      idle = { promise, resolve };
    }
    clearTimeout(idle.timer);
    idle.timer = setTimeout(settle, maxIdleTimeMS + IDLE_CLOSE_SLACK_MS);
    idle.timer.unref();
    try {
      waitUntil(idle.promise);
    } catch {
      // Outside a request context there is nothing to keep alive.
    }
  });
}

function record(config: ResolvedClientConfig, level: 'info' | 'warn', event: VercelEvent, message: string, details: Record<string, unknown>): void {
  emit(config.logger, level, event, message, details, config.secrets);
}
