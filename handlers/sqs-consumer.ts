/**
 * The SQS consumer: applies stock-level snapshots from a warehouse feed, one message per SKU change:
 * `{ "sku": "A-1", "quantity": 12, "version": 7 }` (`version` grows with each change of that SKU).
 *
 * Safe to redeliver: a write applies a snapshot only when it is newer than the stored one
 * (`{ _id: sku, version: { $lt: version } }` with `upsert`). A redelivered or out-of-order older snapshot
 * matches nothing, the upsert then collides with the existing `_id` (E11000), and that collision means
 * "already applied": the record succeeds without writing. No idempotency table, no transaction.
 *
 * Partial batch failures: each record that fails is reported in `batchItemFailures` (the event source
 * mapping has `functionResponseType: ReportBatchItemFailures`), so SQS redelivers only those; after
 * `maxReceiveCount` receives a record moves to the dead-letter queue (infra/queue.yml). A record that can
 * never succeed (not JSON, invalid fields) is reported too: it belongs in the dead-letter queue, not in
 * the bin. When the database cannot be reached at all, `mongo()` throws before the handler and the whole
 * batch is retried.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { MongoServerError, type ClientSession, type Collection, type MongoClientOptions } from 'mongodb';
import { mongo, type MongoContext } from 'serverless-mongodb/middy';
import { closeClientOnLocalInvoke } from './lib/local-invoke.js';

const logger = new Logger({ serviceName: 'stock-consumer' });

/** This function's MongoClient options: records are written one at a time, 2 sockets are plenty (`npm run budget` reads them). */
export const mongoClientOptions: MongoClientOptions = { maxPoolSize: 2 };

export const STOCK_COLLECTION = 'stock';

/** One message. */
export interface StockUpdate {
  sku: string;
  quantity: number;
  version: number;
}

/** The stored stock level of a SKU. */
export interface StockDocument {
  _id: string;
  quantity: number;
  version: number;
  updatedAt: Date;
}

/** What happened to one record. */
export type StockOutcome = 'applied' | 'already-applied';

/** A message that can never be applied (it goes to the dead-letter queue after its retries). */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
}

/** @throws {InvalidMessageError} not JSON, or a field missing or of the wrong type */
export function parseStockUpdate(body: string): StockUpdate {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidMessageError('The message body is not valid JSON');
  }
  const message = (value ?? {}) as Record<string, unknown>;
  const { sku, quantity, version } = message;
  if (typeof sku !== 'string' || sku.trim() === '' || sku.length > 64) throw new InvalidMessageError('"sku" must be a non-empty string of at most 64 characters');
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 0) throw new InvalidMessageError('"quantity" must be an integer ≥ 0');
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw new InvalidMessageError('"version" must be an integer ≥ 1');
  return { sku: sku.trim(), quantity, version };
}

/** Writes one snapshot unless a newer or equal one is stored. Idempotent. */
export async function applyStockUpdate(stock: Collection<StockDocument>, update: StockUpdate, session?: ClientSession): Promise<StockOutcome> {
  try {
    await stock.updateOne(
      { _id: update.sku, version: { $lt: update.version } },
      { $set: { quantity: update.quantity, version: update.version, updatedAt: new Date() } },
      { upsert: true, ...(session ? { session } : {}) },
    );
    return 'applied';
  } catch (error) {
    // The SKU exists with this version or a newer one: the filter matched nothing and the upsert hit its _id.
    if (error instanceof MongoServerError && error.code === 11000) return 'already-applied';
    throw error;
  }
}

const consume = async (event: SQSEvent, context: Context & { mongo: MongoContext }): Promise<SQSBatchResponse> => {
  const stock = context.mongo.db.collection<StockDocument>(STOCK_COLLECTION);
  const batchItemFailures: SQSBatchItemFailure[] = [];
  // One record at a time: the invocation's session is not shared by concurrent operations, and a batch is
  // at most `batchSize` (10) small writes. On a FIFO queue, stop at the first failure and report the rest too.
  for (const record of event.Records) {
    try {
      const outcome = await applyStockUpdate(stock, parseStockUpdate(record.body), context.mongo.session);
      logger.debug('Stock update', { messageId: record.messageId, outcome });
    } catch (error) {
      logger.error('Stock update failed; SQS will redeliver it', { messageId: record.messageId, error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
};

export const handler = middy(consume)
  .use(injectLambdaContext(logger))
  .use(closeClientOnLocalInvoke())
  .use(mongo({ logger, clientOptions: mongoClientOptions }));
