/**
 * The items service: one function for every `/items` route of the HTTP API.
 *
 * One function rather than one per route: each warm container holds its own connection pool, so fewer
 * functions means fewer containers holding sockets for the same traffic (the connection budget, see
 * `npm run budget`), and fewer cold starts.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { MongoClientOptions } from 'mongodb';
import { mongo, type MongoContext } from 'serverless-mongodb/middy';
import { notFound } from '../lib/http-error.js';
import { httpErrors } from '../lib/http-errors.js';
import { closeClientOnLocalInvoke } from '../lib/local-invoke.js';
import type { HttpResponse } from '../lib/responses.js';
import { createItem } from './create.js';
import { getItem } from './get.js';
import { listItems } from './list.js';
import { removeItem } from './remove.js';
import type { ItemsRoute } from './route.js';
import { updateItem } from './update.js';

// Module scope: created once per container, shared by its warm invocations.
const logger = new Logger({ serviceName: 'items' });

/** This function's MongoClient options: the library's Lambda defaults (maxPoolSize 5). `npm run budget` reads them. */
export const mongoClientOptions: MongoClientOptions = {};

/** The HTTP API route keys this function serves (serverless.yml declares the same). */
export const ITEMS_ROUTES: Readonly<Record<string, ItemsRoute>> = {
  'POST /items': createItem,
  'GET /items': listItems,
  'GET /items/{id}': getItem,
  'PATCH /items/{id}': updateItem,
  'DELETE /items/{id}': removeItem,
};

const items = async (event: APIGatewayProxyEventV2, context: Context & { mongo: MongoContext }): Promise<HttpResponse> => {
  const route = ITEMS_ROUTES[event.routeKey];
  if (!route) throw notFound(`No route ${event.routeKey}`);
  return route(event, context.mongo);
};

export const handler = middy(items)
  .use(injectLambdaContext(logger))
  .use(closeClientOnLocalInvoke())
  .use(httpErrors({ logger }))
  .use(mongo({ logger, clientOptions: mongoClientOptions }));
