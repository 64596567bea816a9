/**
 * `POST /transfers`: moves `amount` (integer cents) from one account to another, all or nothing.
 *
 * The middleware runs the invocation in a transaction (`mongo({ transaction: true })`): it starts it before
 * the handler, commits when the handler returns, and aborts when it throws. So the handler writes the debit,
 * the credit and the transfer record one after the other and simply throws when something is wrong midway
 * (the receiving account does not exist, a write fails): the abort undoes the debit, no partial transfer is
 * ever visible. Needs a replica set (Atlas always is).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { ObjectId, type MongoClientOptions } from 'mongodb';
import { mongo, type MongoContext } from 'serverless-mongodb/middy';
import { HttpError, HttpErrorCodes, notFound, validationFailed } from './lib/http-error.js';
import { httpErrors } from './lib/http-errors.js';
import { parseJsonObject } from './lib/json-body.js';
import { closeClientOnLocalInvoke } from './lib/local-invoke.js';
import { json, type HttpResponse } from './lib/responses.js';
import { rejectUnknownFields, requiredInteger, requiredString } from './lib/validation.js';

const logger = new Logger({ serviceName: 'transfers' });

/**
 * This function's MongoClient options. A transaction runs its operations one after the other on one socket, so
 * a pool of 2 is plenty, and it lowers the connection budget of every container (`npm run budget` reads it).
 */
export const mongoClientOptions: MongoClientOptions = { maxPoolSize: 2 };

/** An account: its id is its `_id`; the balance is in integer cents (no floating-point money). */
export interface AccountDocument {
  _id: string;
  balance: number;
}

/** The record of a completed transfer. */
export interface TransferDocument {
  _id: ObjectId;
  from: string;
  to: string;
  amount: number;
  createdAt: Date;
}

/** A transfer request. */
export interface TransferRequest {
  from: string;
  to: string;
  amount: number;
}

export const ACCOUNTS_COLLECTION = 'accounts';
export const TRANSFERS_COLLECTION = 'transfers';

/** Largest amount of one transfer, in cents. */
const MAX_AMOUNT = 100_000_000;

/** @throws {HttpError} 400 naming the first invalid field */
export function parseTransferRequest(body: Record<string, unknown>): TransferRequest {
  rejectUnknownFields(body, ['from', 'to', 'amount']);
  const from = requiredString(body, 'from', 64);
  const to = requiredString(body, 'to', 64);
  const amount = requiredInteger(body, 'amount', 1, MAX_AMOUNT);
  if (from === to) throw validationFailed('to', 'must differ from "from"');
  return { from, to, amount };
}

const transfer = async (event: APIGatewayProxyEventV2, context: Context & { mongo: MongoContext }): Promise<HttpResponse> => {
  const { from, to, amount } = parseTransferRequest(parseJsonObject(event));
  const { db, session, signal } = context.mongo;
  const accounts = db.collection<AccountDocument>(ACCOUNTS_COLLECTION);

  // 1. Debit, only if the balance covers it.
  const debited = await accounts.findOneAndUpdate(
    { _id: from, balance: { $gte: amount } },
    { $inc: { balance: -amount } },
    { session, returnDocument: 'after' },
  );
  if (!debited) {
    const account = await accounts.findOne({ _id: from }, { session, signal, projection: { _id: 1 } });
    if (!account) throw notFound(`No account ${from}`, 'from');
    throw new HttpError(409, HttpErrorCodes.CONFLICT, `Account ${from} has insufficient funds`, 'amount');
  }

  // 2. Credit. Throwing here aborts the transaction, which undoes the debit.
  const credited = await accounts.findOneAndUpdate({ _id: to }, { $inc: { balance: amount } }, { session, returnDocument: 'after' });
  if (!credited) throw notFound(`No account ${to}`, 'to');

  // 3. The record of the transfer, in the same transaction.
  const record: TransferDocument = { _id: new ObjectId(), from, to, amount, createdAt: new Date() };
  await db.collection<TransferDocument>(TRANSFERS_COLLECTION).insertOne(record, { session });

  return json(201, {
    id: record._id.toHexString(),
    amount,
    from: { id: from, balance: debited.balance },
    to: { id: to, balance: credited.balance },
    createdAt: record.createdAt.toISOString(),
  });
};

export const handler = middy(transfer)
  .use(injectLambdaContext(logger))
  .use(closeClientOnLocalInvoke())
  .use(httpErrors({ logger }))
  .use(mongo({ logger, transaction: true, clientOptions: mongoClientOptions }));
