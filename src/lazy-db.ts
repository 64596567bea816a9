/**
 * `db` as a lazy property: `client.db(dbName)` on first read, or a ConfigurationError that says how to name
 * the database. The base of `context.mongo` (Lambda) and of the Workers adapter's `mongo` argument.
 */
import type { Db, MongoClient } from 'mongodb';
import { DB_NAME_ENV } from './defaults.js';
import { ConfigurationError, ErrorCodes } from './errors.js';

export class MongoHandle {
  #db: Db | undefined;
  readonly #dbName: string | undefined;
  readonly #where: string;
  readonly #howToSet: string;

  /**
   * @param client the connected client
   * @param dbName the configured database name, if any
   * @param where how the property is spelled on this platform (`context.mongo.db`), for the error
   * @param howToSet the ways to configure the database name on this platform, for the error
   */
  constructor(
    readonly client: MongoClient,
    dbName: string | undefined,
    where: string,
    howToSet: string,
  ) {
    this.#dbName = dbName;
    this.#where = where;
    this.#howToSet = howToSet;
  }

  /** `client.db(dbName)`; throws a ConfigurationError when no database name is configured. */
  get db(): Db {
    if (this.#dbName === undefined) {
      throw new ConfigurationError(ErrorCodes.MISSING_DB_NAME, `No database name for ${this.#where}: ${this.#howToSet}; or use the client's db(name)`, { option: DB_NAME_ENV });
    }
    this.#db ??= this.client.db(this.#dbName);
    return this.#db;
  }
}
