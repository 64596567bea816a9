/**
 * `db` as a lazy property: `client.db(dbName)` on first read (made once per client, see {@link cachedDb}), or a
 * ConfigurationError that says how to name the database. The base of `context.mongo` (Lambda) and of the Workers
 * adapter's `mongo` argument.
 */
import type { Db, MongoClient } from 'mongodb';
import { DB_NAME_ENV } from '../config/defaults.js';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { validateDbName } from '../config/schema.js';

/** How one platform names the property and the ways to configure a database name, for the error. */
export interface DbNaming {
  /** How the property is spelled on this platform (`context.mongo.db`). */
  readonly where: string;
  /** The ways to configure the database name on this platform. */
  readonly howToSet: string;
}

/**
 * `Db` objects by client and name, kept for the client's life: `client.db(name)` copies the client's ~80 resolved
 * options into a new object and resolves read/write concerns each time (the largest single cost of a warm
 * invocation's own code, measured under the Lambda runtime client). A `Db` holds no state of its own beyond them.
 */
const dbsByClient = new WeakMap<MongoClient, Map<string, Db>>();

/** `client.db(name)`, made once per client and name. */
export function cachedDb(client: MongoClient, name: string): Db {
  let byName = dbsByClient.get(client);
  if (!byName) {
    byName = new Map();
    dbsByClient.set(client, byName);
  }
  let db = byName.get(name);
  if (!db) {
    db = client.db(name);
    byName.set(name, db);
  }
  return db;
}

export class MongoHandle {
  readonly #dbName: string | undefined;
  readonly #naming: DbNaming;

  /**
   * @param client the connected client
   * @param dbName the configured database name, if any
   * @param naming the platform's wording for the missing-name error (a module constant: this is made per invocation)
   */
  constructor(
    readonly client: MongoClient,
    dbName: string | undefined,
    naming: DbNaming,
  ) {
    this.#dbName = dbName;
    this.#naming = naming;
  }

  /** `client.db(dbName)`, the one per client ({@link cachedDb}); throws a ConfigurationError when no database name is configured. */
  get db(): Db {
    if (this.#dbName === undefined) {
      throw new ConfigurationError(ErrorCodes.MISSING_DB_NAME, `No database name for ${this.#naming.where}: ${this.#naming.howToSet}; or use the client's db(name)`, { option: DB_NAME_ENV });
    }
    return cachedDb(this.client, this.#dbName);
  }

  /**
   * A database per tenant on this one pool: `client.db(name)`, made once per client and name (as `db`). The name is
   * checked as MongoDB does (no `/\\. "$*<>:|?`, at most 63 bytes).
   * @throws {ConfigurationError} an invalid database name
   */
  dbFor(name: string): Db {
    if (typeof name !== 'string') throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `dbFor() takes a database name (a string), got ${typeof name}`, { option: 'dbFor' });
    validateDbName(name, 'dbFor()', 'dbFor');
    return cachedDb(this.client, name);
  }
}
