/**
 * `db` as a lazy property: `client.db(dbName)` on first read, or a ConfigurationError that says how to name
 * the database. Shared by `context.mongo` (Lambda) and the Workers adapter's `mongo` argument.
 */
import type { Db, MongoClient } from 'mongodb';
import { DB_NAME_ENV } from './defaults.js';
import { ConfigurationError, ErrorCodes } from './errors.js';

/**
 * Defines `target.db`. `where` names the property in the error (`context.mongo.db`), `howToSet` the ways to
 * configure the name on that platform.
 */
export function defineLazyDb<T extends object>(target: T, client: MongoClient, dbName: string | undefined, where: string, howToSet: string): T & { db: Db } {
  let db: Db | undefined;
  Object.defineProperty(target, 'db', {
    enumerable: true,
    get(): Db {
      if (dbName === undefined) {
        throw new ConfigurationError(ErrorCodes.MISSING_DB_NAME, `No database name for ${where}: ${howToSet}; or use the client's db(name)`, { option: DB_NAME_ENV });
      }
      db ??= client.db(dbName);
      return db;
    },
  });
  return target as T & { db: Db };
}
