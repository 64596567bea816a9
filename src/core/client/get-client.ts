/**
 * `getMongoClient()`: the cached client for a set of options, without an invocation around it. A run-time
 * connection secret is fetched (and cached) first, and fetched again once when MongoDB refuses it at connect.
 */
import type { MongoClient } from 'mongodb';
import { getDefaultLogger } from '../../shared/logging/emit.js';
import { CORE_PLATFORM, resolveClientConfig, resolveValidated, validateClientOptions, type ResolvedClientConfig } from '../config/resolve.js';
import type { MongoClientConfig } from '../config/schema.js';
import { isConnectionSecret, secretSourceOf, type SecretSource } from '../config/secret.js';
import { acquireClient, retireClient } from './cache.js';
import type { ClientLease } from './lease.js';
import { connectAfterRejection, isAuthenticationFailure } from './rotation.js';

/**
 * Returns the connected, cached MongoClient for these options, creating and connecting it on first use.
 *
 * Call it at module scope (to start connecting during the init phase) or in the handler: every call
 * with the same options returns the same client. Options that differ (another URI, other client
 * options) get a client of their own.
 *
 * @throws {ConfigurationError} missing or malformed URI, unknown option, wrong type
 * @throws {ConnectionError} the server could not be reached within `serverSelectionTimeoutMS`; not cached
 *
 * @example
 * ```ts
 * import { getMongoClient } from 'serverless-mongodb';
 *
 * export const handler = async (event: { id: string }) => {
 *   const client = await getMongoClient(); // MONGODB_URI from the environment
 *   return client.db('shop').collection<{ _id: string; total: number }>('orders').findOne({ _id: event.id });
 * };
 * ```
 */
export async function getMongoClient(options?: MongoClientConfig): Promise<MongoClient> {
  const lease = options && isConnectionSecret(options.uri) ? await acquireWithSecret(options) : await acquireClient(resolveClientConfig(options));
  lease.release();
  return lease.client;
}

/** The configuration each secret was last used with, so that the client of a replaced value is retired. */
const lastUsed = new WeakMap<SecretSource, ResolvedClientConfig>();

async function acquireWithSecret(options: MongoClientConfig): Promise<ClientLease> {
  validateClientOptions(options, 'getMongoClient()');
  const source = secretSourceOf(options.uri as Parameters<typeof secretSourceOf>[0]);
  const fetched = await source.get(options.logger ?? getDefaultLogger());
  let config = resolveValidated(options, CORE_PLATFORM, fetched);
  const before = lastUsed.get(source);
  if (before && before.cacheKey !== config.cacheKey) retireClient(before);
  lastUsed.set(source, config);
  try {
    return await acquireClient(config);
  } catch (error) {
    if (!isAuthenticationFailure(error)) throw error;
    const rotated = await connectAfterRejection(config, error, source, (again) => resolveValidated(options, CORE_PLATFORM, again), undefined);
    config = rotated.config;
    lastUsed.set(source, config);
    return rotated.lease;
  }
}
