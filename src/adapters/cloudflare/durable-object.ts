/**
 * The Durable Object variant: one client per Durable Object instance, reused by every request and RPC call
 * the object serves. Unlike a Worker's module scope, a Durable Object keeps its sockets between requests,
 * so its connection pool stays warm (measured in Miniflare: a warm request takes a few milliseconds instead
 * of a connect). Route the Worker's database work to the object with a stub.
 */
import type { MongoClient } from 'mongodb';
import type { ResolvedClientConfig } from '../../core/config/resolve.js';
import { createWorkerMongo, type WorkerMongo } from './mongo-context.js';
import { closeWorkerClient, connectWorkerClient, planWorkerMongo, resolveWorkerConfig, type WorkerMongoOptions } from './worker-config.js';

/** The client holder of one Durable Object. */
export interface DurableObjectMongo {
  /**
   * The connected client (and `db`) of this object: created at the first call, shared by concurrent callers
   * while it connects, reused after. A failed connect is not kept: the next call tries again.
   * @throws {ConfigurationError} no or malformed connection string
   * @throws {ConnectionError} not reachable within `serverSelectionTimeoutMS`
   */
  get(env: unknown): Promise<WorkerMongo>;
  /** Closes the client (if any) and forgets it. Never throws. */
  close(): Promise<void>;
}

/**
 * Creates the holder; keep it in a field of the Durable Object.
 *
 * @throws {ConfigurationError} unknown option or wrong type
 *
 * @example
 * ```ts
 * import { DurableObject } from 'cloudflare:workers';
 * import { createDurableObjectMongo } from 'serverless-mongodb/cloudflare';
 *
 * interface Env {
 *   MONGODB_URI: string;
 * }
 *
 * export class MongoPool extends DurableObject<Env> {
 *   readonly #mongo = createDurableObjectMongo({ dbName: 'shop' });
 *
 *   async findItem(sku: string) {
 *     const { db } = await this.#mongo.get(this.env);
 *     return db.collection('items').findOne({ sku }, { projection: { _id: 0 } });
 *   }
 * }
 * // In the Worker: await env.MONGO_POOL.get(env.MONGO_POOL.idFromName('default')).findItem('A1')
 * ```
 */
export function createDurableObjectMongo(options?: WorkerMongoOptions): DurableObjectMongo {
  const plan = planWorkerMongo(options, 'createDurableObjectMongo()');
  let current: { config: ResolvedClientConfig; ready: Promise<MongoClient> } | undefined;

  return {
    async get(env: unknown): Promise<WorkerMongo> {
      if (!current) {
        const config = resolveWorkerConfig(plan, env);
        const entry = {
          config,
          ready: connectWorkerClient(config, (promise) => void promise).catch((error: unknown) => {
            if (current === entry) current = undefined;
            throw error;
          }),
        };
        current = entry;
      }
      const { config, ready } = current;
      return createWorkerMongo(await ready, config.dbName);
    },
    async close(): Promise<void> {
      const closing = current;
      current = undefined;
      if (!closing) return;
      const client = await closing.ready.catch(() => undefined);
      if (client) await closeWorkerClient(client, closing.config);
    },
  };
}
