/**
 * `GET /health`: whether the database answers, within a short deadline. 200
 * `{ status: 'ok', database: { ok: true, latencyMs } }`, else 503 `{ status: 'unavailable', database: { ok: false, error } }`.
 *
 * A health check that hangs is worse than one that fails, so both waits are bounded: the connect by this
 * function's own `serverSelectionTimeoutMS` (the library's default, 5 s, suits handlers that must not give up
 * early; a probe should), and the `ping` by an AbortSignal. No session: a ping needs none.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { MongoOperationTimeoutError, type MongoClientOptions } from 'mongodb';
import { isServerlessMongoError } from 'serverless-mongodb';
import { mongo, type MongoContextWithoutSession } from 'serverless-mongodb/middy';
import { closeClientOnLocalInvoke } from './lib/local-invoke.js';
import { json, type HttpResponse } from './lib/responses.js';

const logger = new Logger({ serviceName: 'health' });

/** The deadlines of one check: at most about `connectMs + pingMs` in all. */
export const HEALTH_DEADLINES = {
  /** Server selection of a cold start (or after the cached client failed). */
  connectMs: 1_500,
  /** The `ping` round trip on a connected client. */
  pingMs: 1_000,
} as const;

/**
 * This function's MongoClient options: a probe gives up on server selection early, and one socket is all a
 * ping needs (`npm run budget` reads them).
 */
export const mongoClientOptions: MongoClientOptions = { serverSelectionTimeoutMS: HEALTH_DEADLINES.connectMs, maxPoolSize: 1 };

/** A health answer is never cached. */
const NO_STORE = { 'cache-control': 'no-store' };

const health = async (_event: APIGatewayProxyEventV2, context: Context & { mongo: MongoContextWithoutSession }): Promise<HttpResponse> => {
  const started = performance.now();
  // The ping's own deadline, or the invocation's if that comes first. The timer holds the controller: on
  // Node.js 20, an AbortSignal.timeout() that only AbortSignal.any() refers to can be garbage-collected and
  // never fire.
  const pingDeadline = new AbortController();
  const timer = setTimeout(() => pingDeadline.abort(new DOMException('The ping took too long', 'TimeoutError')), HEALTH_DEADLINES.pingMs);
  try {
    const signal = AbortSignal.any([pingDeadline.signal, context.mongo.signal]);
    await context.mongo.client.db('admin').command({ ping: 1 }, { signal });
  } finally {
    clearTimeout(timer);
  }
  return json(200, { status: 'ok', database: { ok: true, latencyMs: Math.round(performance.now() - started) } }, NO_STORE);
};

/** The ping's signal fired: the driver reports a timed-out socket read as MongoOperationTimeoutError. */
function isTimeout(error: unknown): boolean {
  return error instanceof MongoOperationTimeoutError || (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'));
}

/** Any failure, from the connect in `mongo()`'s `before` or from the ping, answers 503 with a reason code only. */
function unavailable(): MiddlewareObj<unknown, HttpResponse> {
  const unavailableMiddlewareOnError = (request: { error: unknown; response: HttpResponse | undefined }): void => {
    const { error } = request;
    const reason = isServerlessMongoError(error) ? error.code : isTimeout(error) ? 'TIMEOUT' : 'UNAVAILABLE';
    logger.warn('Health check failed', { reason, error });
    request.response = json(503, { status: 'unavailable', database: { ok: false, error: reason } }, NO_STORE);
  };
  return { onError: unavailableMiddlewareOnError } as MiddlewareObj<unknown, HttpResponse>;
}

export const handler = middy(health)
  .use(injectLambdaContext(logger))
  .use(closeClientOnLocalInvoke())
  .use(unavailable())
  .use(mongo({ logger, session: false, clientOptions: mongoClientOptions }));
