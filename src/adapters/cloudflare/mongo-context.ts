/**
 * What a Worker handler gets: the client and, when a database name is configured, its `Db`.
 */
import type { Db, MongoClient } from 'mongodb';
import { DB_NAME_ENV } from '../../core/config/defaults.js';
import { MongoHandle } from '../../core/client/db.js';

/** The `mongo` argument of a handler wrapped by `withMongo`, and what `createDurableObjectMongo().get()` returns. */
export interface WorkerMongo {
  /** A connected client. From `withMongo`: this request's own, closed after the response. */
  client: MongoClient;
  /** `client.db(dbName)`. Reading it throws a `ConfigurationError` when no database name is configured. */
  db: Db;
}

const WORKER_DB_NAMING = {
  where: 'mongo.db',
  howToSet: `add a ${DB_NAME_ENV} binding (vars in wrangler.toml), pass the \`dbName\` option, or put the database in the URI path`,
};

export function createWorkerMongo(client: MongoClient, dbName: string | undefined): WorkerMongo {
  return new MongoHandle(client, dbName, WORKER_DB_NAMING);
}
