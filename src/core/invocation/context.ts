/**
 * `context.mongo`: what a handler gets for one invocation (the client, its database, the session, the deadline
 * signal). `db` and `signal` are made on first read.
 */
import type { ClientSession, Db, MongoClient } from 'mongodb';
import { MongoHandle, type DbNaming } from '../client/db.js';
import { DB_NAME_ENV } from '../config/defaults.js';
import type { InvocationDeadline } from './deadline.js';

/** What a handler gets as `context.mongo`. */
export interface MongoContext {
  /** The cached, connected client. */
  client: MongoClient;
  /** `client.db(dbName)`. Reading it throws a `ConfigurationError` when no database name is configured. */
  db: Db;
  /** This invocation's session: pass it to every operation (`{ session }`) so they share its `lsid` and transaction. */
  session: ClientSession;
  /**
   * Fires `deadlineMarginMs` before the Lambda timeout: pass it to driver calls (`{ session, signal }`) so a slow
   * or hanging operation fails cleanly while the function can still answer.
   */
  signal: AbortSignal;
  /**
   * One pool, a database per tenant: `client.db(name)`, cached per name for the client's life. Pass the session
   * as usual (`{ session }`): the session belongs to the client, so it spans every tenant database.
   * @throws {ConfigurationError} an invalid database name
   */
  dbFor(name: string): Db;
}

/** `context.mongo` when the `session: false` option is set. */
export interface MongoContextWithoutSession extends Omit<MongoContext, 'session'> {
  session: undefined;
}

const LAMBDA_DB_NAMING: DbNaming = {
  where: 'context.mongo.db',
  howToSet: `set ${DB_NAME_ENV}, pass the \`dbName\` option, or put the database in the URI path (mongodb://host/database)`,
};

/** `context.mongo`: `db` and `signal` are made on first read. */
export class InvocationMongo extends MongoHandle {
  readonly #deadline: InvocationDeadline;

  constructor(
    client: MongoClient,
    readonly session: ClientSession | undefined,
    deadline: InvocationDeadline,
    dbName: string | undefined,
  ) {
    super(client, dbName, LAMBDA_DB_NAMING);
    this.#deadline = deadline;
  }

  get signal(): AbortSignal {
    return this.#deadline.signal;
  }
}

