/**
 * Mongoose connections over the cached clients. A connection is bound to the client the cache gives the
 * invocation (`connection.setClient(client)`); when that client changes (rebuilt after a freeze, evicted and made
 * again, another environment) the same connection is bound to the new one, so models defined on it, and the
 * references the handler's module keeps to them, go on working. Its `useDb()` connections move with it.
 */
import type { Connection } from 'mongoose';
import type { MongoClient } from 'mongodb';
import { addCacheCloseHook } from '../../core/client/cache.js';
import type { ResolvedClientConfig } from '../../core/config/resolve.js';
import { emit, type LoggerLike } from '../../shared/logging/emit.js';
import type { MongoosePlan } from './plan.js';

/** What the adapter keeps of a connection it prepared. */
interface Binding {
  client: MongoClient | undefined;
  /** The listeners mongoose put on the client at `setClient`, removed when the connection moves. */
  listeners: Array<[string | symbol, (...args: unknown[]) => void]>;
  /** Where the connection's event records go (the configuration it was last bound with). */
  logger: LoggerLike;
  secrets: readonly string[];
  redactedUri: string;
}

/** Mongoose's internals the adapter touches: the collections, the `useDb()` connections. Stable in mongoose 8-9. */
interface ConnectionInternals {
  config: Record<string, unknown>;
  collections: Record<string, { onOpen(): void }>;
  otherDbs: ConnectionInternals[];
  db: unknown;
  client: unknown;
  name: string;
  readyState: number;
}

const bindings = new WeakMap<Connection, Binding>();
const prepared = new Set<Connection>();
let closeHookInstalled = false;

/** Mongoose's readyState for a connection without a client. */
const DISCONNECTED = 0;

/** The connection of this invocation's client configuration, bound to `client`. */
export function connectionFor(plan: MongoosePlan, config: ResolvedClientConfig, client: MongoClient): Connection {
  let connection = plan.connection ?? plan.connections.get(config.cacheKey);
  if (!connection) {
    connection = plan.base.createConnection();
    plan.connections.set(config.cacheKey, connection);
  }
  const binding = bindings.get(connection);
  if (binding?.client === client) return connection;
  bind(connection, binding ?? prepare(plan, connection, config), config, client);
  return connection;
}

/** Once per connection: mongoose's settings, the event records, the models. */
function prepare(plan: MongoosePlan, connection: Connection, config: ResolvedClientConfig): Binding {
  const internals = connection as unknown as ConnectionInternals;
  // No buffering: the adapter hands the handler a connected client, and a buffered operation on a connection
  // mongoose believes down (after a freeze its heartbeat looks stale) would wait instead of failing.
  internals.config.bufferCommands = false;
  internals.config.autoIndex = plan.autoIndex;
  internals.config.autoCreate = plan.autoCreate;
  const binding: Binding = { client: undefined, listeners: [], logger: config.logger, secrets: config.secrets, redactedUri: config.redactedUri };
  bindings.set(connection, binding);
  const record = (event: 'mongoose.connected' | 'mongoose.disconnected' | 'mongoose.reconnected', level: 'info' | 'warn', message: string) => () =>
    emit(binding.logger, level, event, message, { uri: binding.redactedUri, db: connection.name }, binding.secrets);
  connection.on('connected', record('mongoose.connected', 'info', 'The mongoose connection is connected'));
  connection.on('disconnected', record('mongoose.disconnected', 'warn', 'The mongoose connection is disconnected'));
  connection.on('reconnected', record('mongoose.reconnected', 'info', 'The mongoose connection reconnected'));
  connection.on('error', (error: unknown) => emit(binding.logger, 'error', 'mongoose.error', 'The mongoose connection reported an error', { uri: binding.redactedUri, db: connection.name, error }, binding.secrets));
  plan.models?.(connection);
  prepared.add(connection);
  if (!closeHookInstalled) {
    closeHookInstalled = true;
    addCacheCloseHook(closeConnections);
  }
  return binding;
}

function bind(connection: Connection, binding: Binding, config: ResolvedClientConfig, client: MongoClient): void {
  const internals = connection as unknown as ConnectionInternals;
  const previous = binding.client;
  if (previous) {
    for (const [event, listener] of binding.listeners) previous.off(event, listener);
    binding.listeners = [];
    // setClient accepts only a disconnected connection; the records say it moved.
    internals.readyState = DISCONNECTED;
  }
  binding.logger = config.logger;
  binding.secrets = config.secrets;
  binding.redactedUri = config.redactedUri;
  const dbName = config.dbName ?? connection.name;
  // The useDb() connections first: setClient marks them connected, their collections must find the new client.
  for (const other of internals.otherDbs) {
    other.client = client;
    other.db = client.db(other.name);
  }
  const before = listenersOf(client);
  connection.setClient(client as unknown as Parameters<Connection['setClient']>[0]);
  binding.listeners = listenersOf(client).filter(([event, listener]) => !before.some(([e, l]) => e === event && l === listener));
  binding.client = client;
  // setClient names the database after the URI; the invocation's may be another (dbName, MONGODB_DB_NAME).
  if (dbName && internals.name !== dbName) {
    internals.db = client.db(dbName);
    internals.name = dbName;
    for (const collection of Object.values(internals.collections)) collection.onOpen();
  }
  for (const other of internals.otherDbs) for (const collection of Object.values(other.collections)) collection.onOpen();
  if (previous) {
    emit(config.logger, 'info', 'mongoose.rebound', 'Bound the mongoose connection to the new MongoDB client: its models run on it', {
      uri: config.redactedUri,
      db: internals.name,
      models: Object.keys(connection.models).length,
      useDb: internals.otherDbs.length,
    }, config.secrets);
  }
}

function listenersOf(client: MongoClient): Array<[string | symbol, (...args: unknown[]) => void]> {
  return client.eventNames().flatMap((event) => client.listeners(event).map((listener) => [event, listener as (...args: unknown[]) => void] as [string | symbol, (...args: unknown[]) => void]));
}

/**
 * With the cache (closeMongoClient, graceful shutdown): each connection closed as mongoose closes it (its
 * `close` and `disconnected` events, the client closed), and forgotten as bound, so the next invocation binds it
 * to the new client.
 */
async function closeConnections(): Promise<void> {
  await Promise.all([...prepared].map(async (connection) => {
    const binding = bindings.get(connection);
    if (!binding?.client) return;
    const client = binding.client;
    for (const [event, listener] of binding.listeners) client.off(event, listener);
    binding.listeners = [];
    binding.client = undefined;
    try {
      await connection.close();
    } catch (error) {
      emit(binding.logger, 'warn', 'cleanup.failed', 'Closing the mongoose connection failed', { uri: binding.redactedUri, error }, binding.secrets);
    }
  }));
}
