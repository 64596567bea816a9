/**
 * The module-scope client cache. One MongoClient per configuration, connected once per container:
 * concurrent callers during a cold start share one connect attempt (the promise is the lock), and a
 * failed attempt is forgotten so the next call builds a fresh client.
 */
import type { MongoClient } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { emit, emitSafe } from '../../shared/logging/emit.js';
import { describeType, expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { forgetSecrets } from '../config/secret.js';
import { connectFailure, createClient } from './connect.js';
import { isAuthenticationFailure } from '../config/driver-errors.js';
import { Lease, type CacheEntry, type ClientLease } from './lease.js';
import { CheckoutsInFlight, CommandsInFlight } from './in-flight.js';
import { LinkWatch } from './link.js';
import { SideChannel } from './side-channel.js';
import { worstCaseConnections } from '../config/managed-instances.js';

/** The cached clients, least recently used first (an entry is moved to the end when leased, under a bound). */
const entries = new Map<string, CacheEntry>();
/** Clients evicted by the bound whose in-flight invocations have not all finished yet. */
const retiring = new Set<CacheEntry>();
/** What else closes with the cache (an adapter's connections over the cached clients). */
const closeHooks = new Set<() => Promise<void> | void>();

let maxClients = Number.POSITIVE_INFINITY;

/** Options of {@link configureClientCache}. */
export interface ClientCacheOptions {
  /**
   * The most clients the cache keeps (one per configuration: a tenant's URI with a pool per tenant). When a new one
   * would exceed it, the least recently used is evicted: closed as soon as the invocations using it finish, never
   * under them. Each client costs its pool's sockets plus the monitor's on every server.
   * @default Infinity
   */
  maxClients?: number;
}

/**
 * Bounds the client cache of this process (see {@link ClientCacheOptions.maxClients}). Lowering the bound evicts
 * the least recently used clients at once (each closed when its in-flight invocations finish).
 * @throws {ConfigurationError} `maxClients` not a positive integer or Infinity
 *
 * @example
 * ```ts
 * import { configureClientCache } from 'serverless-mongodb';
 *
 * configureClientCache({ maxClients: 20 }); // module scope: at most 20 tenants' pools at once
 * ```
 */
export function configureClientCache(options: ClientCacheOptions): void {
  expectOptionsObject('configureClientCache()', options);
  rejectUnknownKeys('configureClientCache()', options as Record<string, unknown>, ['maxClients']);
  const limit = options.maxClients;
  if (limit !== undefined && !(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit >= 1))) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`maxClients\` of configureClientCache() must be a positive integer or Infinity (got ${describeType(limit)})`, { option: 'maxClients' });
  }
  maxClients = limit ?? Number.POSITIVE_INFINITY;
  evictBeyondLimit(undefined);
}

/**
 * Runs `hook` whenever the cache closes every client ({@link closeMongoClient}, graceful shutdown), before the
 * clients close. For adapters that wrap the cached clients (mongoose connections). Returns the unregister function.
 */
export function addCacheCloseHook(hook: () => Promise<void> | void): () => void {
  closeHooks.add(hook);
  return () => closeHooks.delete(hook);
}

/**
 * The cache lookup behind `getMongoClient()`, for invocations: it also leases the client, so the
 * next invocation knows how long it sat idle (how long the process may have been frozen).
 */
export async function acquireClient(config: ResolvedClientConfig): Promise<ClientLease> {
  let existing = entries.get(config.cacheKey);
  if (existing?.authFailed) {
    dropRefused(existing);
    existing = undefined;
  }
  if (existing) {
    touch(config.cacheKey, existing);
    const client = existing.connected ? existing.client : await existing.ready;
    logReuse(config);
    return new Lease(existing, client, false);
  }
  const entry = startEntry(config);
  entries.set(config.cacheKey, entry);
  evictBeyondLimit(entry);
  return new Lease(entry, await entry.ready, true);
}

/** Under a bound, marks the entry as the most recently used (the end of the map's order). */
function touch(key: string, entry: CacheEntry): void {
  if (maxClients === Number.POSITIVE_INFINITY || entries.size < 2) return;
  entries.delete(key);
  entries.set(key, entry);
}

/**
 * Evicts the least recently used entries (never `keep`, the one just added) while the cache exceeds its bound. An
 * idle one starts closing at once, before the new client's connect has gone far: the server sees its sockets
 * close within milliseconds of the new ones opening.
 */
function evictBeyondLimit(keep: CacheEntry | undefined): void {
  if (entries.size <= maxClients) return;
  for (const [key, entry] of entries) {
    if (entries.size <= maxClients) return;
    if (entry === keep) continue;
    entries.delete(key);
    retire(entry);
  }
}

/** An evicted client (`maxClients`): closed once no invocation holds it. */
function retire(entry: CacheEntry): void {
  const { config } = entry;
  emit(config.logger, 'info', 'client.evicted', 'Evicting the least recently used MongoDB client (maxClients): it closes when its invocations finish', {
    uri: config.redactedUri,
    inFlight: entry.active,
    maxClients,
  }, config.secrets);
  closeWhenIdle(entry);
}

/**
 * A client out of the cache (evicted, its secret replaced, its credentials refused): closed once no invocation
 * holds it, after its connect settled (an invocation waiting for that connect registered first and leases it
 * before the close is decided). Invocations that hold it finish on it.
 */
function closeWhenIdle(entry: CacheEntry): void {
  retiring.add(entry);
  let closing: Promise<void> | undefined;
  const closeIfIdle = (): Promise<void> | undefined => {
    if (closing || entry.active > 0) return undefined;
    retiring.delete(entry);
    entry.retire = undefined;
    closing = closeEntry(entry);
    return closing;
  };
  entry.retire = closeIfIdle;
  if (entry.connected) closeIfIdle();
  else entry.ready.then(closeIfIdle, () => retiring.delete(entry));
}

/**
 * The warm path of {@link acquireClient}, synchronous and silent (the caller records `client.reused` if it
 * wants the record): a lease on the cached client if it is connected.
 */
export function acquireConnectedClient(config: ResolvedClientConfig): ClientLease | undefined {
  const existing = entries.get(config.cacheKey);
  if (!existing?.connected || existing.authFailed) return undefined;
  touch(config.cacheKey, existing);
  return new Lease(existing, existing.client, false);
}

/** Forgets a client whose credentials MongoDB refused on a pooled connection; it closes once no invocation holds it. */
function dropRefused(entry: CacheEntry): void {
  const { config } = entry;
  entries.delete(config.cacheKey);
  emit(config.logger, 'warn', 'client.rebuilt', 'Rebuilding the MongoDB client: the server refused its credentials on a new connection', { uri: config.redactedUri }, config.secrets);
  closeWhenIdle(entry);
}

/** Records `client.reused` (DEBUG). */
export function logReuse(config: ResolvedClientConfig): void {
  emitSafe(config.logger, 'debug', 'client.reused', 'Reusing the cached MongoDB client', { cold: false, uri: config.redactedUri });
}

/**
 * Replaces a client found dead after a thaw: the cached entry is dropped (only if it still holds `stale`, so
 * concurrent invocations rebuild once), the stale client is closed in the background, and a new one connects.
 */
export async function rebuildClient(config: ResolvedClientConfig, stale: ClientLease): Promise<ClientLease> {
  stale.release();
  const entry = entries.get(config.cacheKey);
  if (entry?.client === stale.client) {
    entries.delete(config.cacheKey);
    entry.retire = undefined;
    emit(config.logger, 'warn', 'client.rebuilt', 'Rebuilding the MongoDB client: its connection did not survive the freeze', { uri: config.redactedUri }, config.secrets);
    // Never awaited: closing may wait on sockets that no longer answer.
    stale.client.close().catch(() => undefined);
  }
  return acquireClient(config);
}

/**
 * Drops the cached client of `config` (its run-time secret was replaced): it is closed, ending its server sessions,
 * once no invocation holds it. Does nothing when no client of `config` is cached.
 */
export function retireClient(config: ResolvedClientConfig): void {
  const entry = entries.get(config.cacheKey);
  if (!entry) return;
  entries.delete(config.cacheKey);
  emit(config.logger, 'info', 'client.retired', 'Retiring the MongoDB client of the connection secret replaced', { uri: config.redactedUri }, config.secrets);
  closeWhenIdle(entry);
}

function startEntry(config: ResolvedClientConfig): CacheEntry {
  const client = createClient(config);
  // A pooled connection refused at authentication (the password rotated since the connect): marked for a rebuild.
  client.on('connectionCheckOutFailed', (event: { error?: unknown }) => {
    if (entry.connected && isAuthenticationFailure(event.error)) entry.authFailed = true;
  });
  if (client.options.timeoutMS !== undefined) {
    emit(config.logger, 'warn', 'option.ignored', 'timeoutMS has no effect since mongodb driver 7.8; use socketTimeoutMS, connectTimeoutMS, maxIdleTimeMS or a per-operation { signal }', { option: 'timeoutMS' }, config.secrets);
  }
  const startedAt = performance.now();
  const entry: CacheEntry = {
    config,
    client,
    connected: false,
    active: 0,
    idleSince: Date.now(),
    link: new LinkWatch(client),
    inFlight: client.options.monitorCommands ? new CommandsInFlight(client) : undefined,
    checkouts: new CheckoutsInFlight(client),
    side: new SideChannel(config),
    check: undefined,
    ready: client.connect().then(
      () => {
        entry.connected = true;
        emit(config.logger, 'info', 'client.created', 'Created and connected the MongoDB client', {
          cold: true,
          connectDurationMs: Math.round(performance.now() - startedAt),
          uri: config.redactedUri,
          appName: client.options.appName,
          ...managedInstancesRecord(config, client, entry.link.servers),
        }, config.secrets);
        return client;
      },
      (error: unknown) => {
        if (entries.get(config.cacheKey) === entry) entries.delete(config.cacheKey);
        client.close().catch(() => undefined);
        throw connectFailure(config, client, error, startedAt, 'the server is reachable from the function (VPC, security groups, Atlas IP access list) and that the credentials are right; the next call tries again');
      },
    ),
  };
  return entry;
}

/**
 * Under Lambda Managed Instances, what `client.created` adds (once per worker, at its first connect): the mode and
 * the most connections the environment may open, workers × servers × (maxPoolSize + the monitor's socket).
 */
function managedInstancesRecord(config: ResolvedClientConfig, client: MongoClient, servers: number): Record<string, unknown> {
  const mode = config.managedInstances;
  if (!mode) return {};
  const { maxPoolSize } = client.options;
  return {
    managedInstances: { ...mode, maxPoolSize, servers, worstCaseConnections: worstCaseConnections(mode, maxPoolSize, Math.max(1, servers)) },
  };
}

/**
 * Closes every cached client (ending their server sessions with `endSessions` and closing sockets) and
 * forgets them and the fetched connection secrets: the next `getMongoClient()` fetches and connects anew. Never throws; failures are logged.
 *
 * @example
 * ```ts
 * import { closeMongoClient } from 'serverless-mongodb';
 *
 * // A long-running process (Deno, a container, a script); on Lambda use enableGracefulShutdown().
 * process.on('SIGTERM', async () => { await closeMongoClient(); process.exit(0); });
 * ```
 */
export async function closeMongoClient(): Promise<void> {
  await Promise.all([...closeHooks].map(async (hook) => {
    try {
      await hook();
    } catch {
      // A hook logs its own failures; the clients close regardless.
    }
  }));
  const closing = [...entries.values(), ...retiring];
  entries.clear();
  for (const entry of retiring) entry.retire = undefined;
  retiring.clear();
  forgetSecrets();
  await Promise.all(closing.map(closeEntry));
}

async function closeEntry(entry: CacheEntry): Promise<void> {
  const { config, client } = entry;
  try {
    await entry.ready.catch(() => undefined);
    await Promise.all([client.close(), entry.side.close()]);
    emit(config.logger, 'info', 'client.closed', 'Closed the MongoDB client', { uri: config.redactedUri }, config.secrets);
  } catch (error) {
    emit(config.logger, 'warn', 'cleanup.failed', 'Closing the MongoDB client failed', { uri: config.redactedUri, error }, config.secrets);
  }
}

/** How many clients are cached (for diagnostics and tests). */
export function cachedClientCount(): number {
  return entries.size;
}
