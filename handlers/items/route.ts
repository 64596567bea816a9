/**
 * What every items route is: a function of the request and this invocation's MongoDB context.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Collection } from 'mongodb';
import type { MongoContext } from 'serverless-mongodb';
import type { HttpResponse } from '../lib/responses.js';
import { ITEMS_COLLECTION, type ItemDocument } from './item.js';

/**
 * One route of the items function. Routes pass the invocation's session to every operation, and its deadline
 * signal to the reads (the driver takes `signal` on reads and commands, not on writes): it fires shortly before
 * the Lambda timeout, so a hanging query fails with a 503 instead of the function being killed.
 */
export type ItemsRoute = (event: APIGatewayProxyEventV2, mongo: MongoContext) => Promise<HttpResponse>;

/** The items collection of this invocation's database. */
export function itemsOf(mongo: MongoContext): Collection<ItemDocument> {
  return mongo.db.collection<ItemDocument>(ITEMS_COLLECTION);
}
