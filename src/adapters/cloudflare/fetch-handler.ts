/**
 * `withMongo` for Cloudflare Workers: a client per request, closed through `ctx.waitUntil`.
 *
 * Why per request: workerd ties a socket to the request that opened it. A client kept at module scope and
 * used by a later request waits forever on its sockets, until workerd cancels the request ("code had hung").
 * A client of its own costs each request a connect (2 sockets: monitor and pool); for reuse, put the client
 * in a Durable Object (`createDurableObjectMongo`).
 */
import { closeWorkerClient, connectWorkerClient, planWorkerMongo, resolveWorkerConfig, type WorkerMongoOptions } from './worker-config.js';
import { createWorkerMongo, type WorkerMongo } from './mongo-context.js';

/** The part of a Worker's `ExecutionContext` the adapter uses. */
export interface ExecutionContextLike {
  waitUntil(promise: Promise<unknown>): void;
}

/** A fetch handler that also receives this request's `mongo`. */
export type MongoFetchHandler<Env = unknown, Ctx extends ExecutionContextLike = ExecutionContextLike> = (
  request: Request,
  env: Env,
  ctx: Ctx,
  mongo: WorkerMongo,
) => Response | Promise<Response>;

/** The Worker's `fetch`. */
export type FetchHandler<Env = unknown, Ctx extends ExecutionContextLike = ExecutionContextLike> = (request: Request, env: Env, ctx: Ctx) => Promise<Response>;

/**
 * Wraps a Worker's fetch handler: each request gets a connected client of its own as `mongo.client` (and
 * `mongo.db`), which is closed after the handler returns or throws, through `ctx.waitUntil` so the response
 * is not delayed. Monitoring is forced to polling (the driver does not detect Workers).
 *
 * The connection string comes from the `uri` option, else the `MONGODB_URI` binding (a secret:
 * `wrangler secret put MONGODB_URI`); the database from `dbName`, else `MONGODB_DB_NAME`, else the URI path.
 * Needs `compatibility_flags = ["nodejs_compat"]`. Read everything you need from the database before
 * returning: a Response body streamed from a cursor would outlive the client.
 *
 * @throws {ConfigurationError} (when wrapping) unknown option or wrong type
 *
 * @example
 * ```ts
 * import { withMongo } from 'serverless-mongodb/cloudflare';
 *
 * export default {
 *   fetch: withMongo(async (request, env, ctx, { db }) => {
 *     const items = await db.collection('items').find({}, { limit: 20 }).toArray();
 *     return Response.json(items);
 *   }),
 * };
 * ```
 */
export function withMongo<Env = unknown, Ctx extends ExecutionContextLike = ExecutionContextLike>(
  handler: MongoFetchHandler<Env, Ctx>,
  options?: WorkerMongoOptions,
): FetchHandler<Env, Ctx> {
  const plan = planWorkerMongo(options, 'withMongo() from serverless-mongodb/cloudflare');
  return async function withMongoFetch(request: Request, env: Env, ctx: Ctx): Promise<Response> {
    const config = resolveWorkerConfig(plan, env);
    const background = (promise: Promise<unknown>): void => ctx.waitUntil(promise);
    const client = await connectWorkerClient(config, background);
    try {
      return await handler(request, env, ctx, createWorkerMongo(client, config.dbName));
    } finally {
      background(closeWorkerClient(client, config));
    }
  };
}
