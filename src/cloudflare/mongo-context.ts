/**
 * What a Worker handler gets: the client and, when a database name is configured, its `Db`.
 */
import type { Db, MongoClient } from 'mongodb';
import { DB_NAME_ENV } from '../defaults.js';
import { ConfigurationError, ErrorCodes } from '../errors.js';

/** The `mongo` argument of a handler wrapped by `withMongo`, and what `createDurableObjectMongo().get()` returns. */
export interface WorkerMongo {
  /** A connected client. From `withMongo`: this request's own, closed after the response. */
  client: MongoClient;
  /** `client.db(dbName)`. Reading it throws a `ConfigurationError` when no database name is configured. */
  db: Db;
}

export function createWorkerMongo(client: MongoClient, dbName: string | undefined): WorkerMongo {
  let db: Db | undefined;
  const mongo = { client } as WorkerMongo;
  Object.defineProperty(mongo, 'db', {
    enumerable: true,
    get(): Db {
      if (dbName === undefined) {
        throw new ConfigurationError(
          ErrorCodes.MISSING_DB_NAME,
          `No database name for mongo.db: add a ${DB_NAME_ENV} binding (vars in wrangler.toml), pass the \`dbName\` option, or put the database in the URI path; or use mongo.client.db(name)`,
          { option: DB_NAME_ENV },
        );
      }
      db ??= client.db(dbName);
      return db;
    },
  });
  return mongo;
}
