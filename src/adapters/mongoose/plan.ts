/**
 * The options of `mongooseMiddleware()` and `withMongoose()`, validated once where they are created: the core's
 * invocation options, plus the connection (or the models callback) and mongoose's own settings.
 */
import mongoose, { type Connection, type Mongoose } from 'mongoose';
import type { TransactionOptions } from 'mongodb';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import { INVOCATION_OPTION_KEYS, planInvocation, type InvocationPlan, type MongoInvocationOptions } from '../../core/invocation/plan.js';
import type { MongoClientClass, PlatformInputs } from '../../core/config/resolve.js';

/** Options of `mongooseMiddleware()` and `withMongoose()`: those of `mongo()` / `withMongo()`, and these. */
export interface MongooseInvocationOptions extends MongoInvocationOptions {
  /**
   * The connection to run on: made with `mongoose.createConnection()` (no URI: the adapter binds it to the cached
   * client) at module scope, with the models registered on it (`connection.model('Item', schema)`). Models keep
   * working when the client is rebuilt after a freeze: the same connection is bound to the new client.
   * Not with `tenant` (a connection per tenant): use `models` then.
   * @default a connection the adapter makes with `mongoose.createConnection()`, one per client
   */
  connection?: Connection;
  /**
   * Registers the models on each connection the adapter makes (once per connection: one per tenant with `tenant`).
   * With `connection`, called once on it.
   */
  models?: (connection: Connection) => void;
  /**
   * Build the schemas' indexes when a model is bound. Off: every cold start would send `createIndexes` for
   * every model (and rebuild them after a rebuilt client), index builds load the cluster, and a function is the
   * wrong place for a migration. Build them at deploy time (`Model.syncIndexes()`).
   * @default false
   */
  autoIndex?: boolean;
  /**
   * Create each model's collection when it is bound. Off for the same reason as `autoIndex` (a `create` per
   * model and cold start), and because mongoose advises it off without command buffering.
   * @default false
   */
  autoCreate?: boolean;
  /**
   * Turn on mongoose's `transactionAsyncLocalStorage` for the connection's Mongoose instance (a global setting
   * of that instance) so that, with `withMongoose()`, model operations without a `session` option use the
   * invocation's session (and join its transaction). The middy middleware cannot run the handler inside an
   * AsyncLocalStorage context: there, pass `{ session }`.
   * @default true
   */
  asyncLocalStorage?: boolean;
}

const MONGOOSE_OPTION_KEYS = ['connection', 'models', 'autoIndex', 'autoCreate', 'asyncLocalStorage'] as const;

/** The options after validation. */
export interface MongoosePlan {
  /** The core's plan. With `withMongoose()` and a transaction it runs no session: mongoose's `transaction()` does. */
  readonly core: InvocationPlan;
  readonly base: Mongoose;
  readonly connection: Connection | undefined;
  readonly models: ((connection: Connection) => void) | undefined;
  readonly autoIndex: boolean;
  readonly autoCreate: boolean;
  readonly asyncLocalStorage: boolean;
  /** The transaction the caller asked for (the core's plan carries it too, for the middleware). */
  readonly transaction: TransactionOptions | false;
  /** The adapter's own connections, by client configuration (one per tenant). */
  readonly connections: Map<string, Connection>;
}

/**
 * Validates the options. The Mongoose instance is the connection's (`connection.base`) or the default one; its
 * copy of the driver builds the cached client, so mongoose accepts it (`setClient` checks the class) even when it
 * pins another driver version than this library's.
 * @throws {ConfigurationError} unknown key, wrong type, `connection` with `tenant`
 */
export function planMongoose(options: MongooseInvocationOptions | undefined, where: string): MongoosePlan {
  expectOptionsObject(where, options);
  const input = (options ?? {}) as Record<string, unknown>;
  rejectUnknownKeys(where, input, [...INVOCATION_OPTION_KEYS, ...MONGOOSE_OPTION_KEYS]);
  expectOption(where, 'models', input.models, 'function');
  expectOption(where, 'autoIndex', input.autoIndex, 'boolean');
  expectOption(where, 'autoCreate', input.autoCreate, 'boolean');
  expectOption(where, 'asyncLocalStorage', input.asyncLocalStorage, 'boolean');
  const { connection, models, autoIndex, autoCreate, asyncLocalStorage, ...core }: MongooseInvocationOptions = options ?? {};
  if (connection !== undefined && (connection === null || typeof (connection as { setClient?: unknown }).setClient !== 'function')) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Option \`connection\` of ${where} must be a mongoose Connection (mongoose.createConnection(), mongoose 9)`, { option: 'connection' });
  }
  if (connection !== undefined && core.tenant !== undefined) {
    throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `Options \`connection\` and \`tenant\` of ${where} do not go together: a pool per tenant needs a connection per tenant; register the models with \`models: (connection) => ...\` instead`, { option: 'connection' });
  }
  const base = (connection?.base as Mongoose | undefined) ?? mongoose;
  const platform: PlatformInputs = { namespace: 'mongoose', MongoClient: base.mongo.MongoClient as unknown as MongoClientClass };
  const plan = planInvocation(core, where, platform);
  const wantsAls = asyncLocalStorage ?? true;
  if (wantsAls) base.set('transactionAsyncLocalStorage', true);
  return {
    core: plan,
    base,
    connection,
    models,
    autoIndex: autoIndex ?? false,
    autoCreate: autoCreate ?? false,
    asyncLocalStorage: wantsAls,
    transaction: plan.transaction,
    connections: new Map(),
  };
}
