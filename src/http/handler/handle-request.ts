/**
 * One request through the HTTP handler. Everything that can refuse it runs before any database work, in
 * this order: method (405), size (413), authentication (401), path (404), allow-list (403), Extended JSON and
 * arguments (400/403). Only then does the request open an invocation (the cached client, checked after a freeze,
 * as for every Lambda entry point; no session) and run the operation, within the time limit.
 */
import { EJSON } from 'bson';
import { MongoAPIError, MongoNetworkError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { cachedDb } from '../../core/client/db.js';
import { startDeadline } from '../../core/invocation/deadline.js';
import { openInvocation } from '../../core/invocation/open.js';
import type { InvocationScope } from '../../core/invocation/scope.js';
import { ErrorCodes, isServerlessMongoError } from '../../shared/errors.js';
import { emit, getDefaultLogger, type LoggerLike, type LogLevel } from '../../shared/logging/emit.js';
import { redactText } from '../../shared/logging/redact.js';
import type { LambdaContextLike } from '../../shared/lambda-context.js';
import { SIGNING_SCHEME, verifyRequest } from '../protocol/signing.js';
import { readEvent, routeOf, type FunctionUrlEvent, type IncomingRequest } from './event.js';
import { isRead, parseArguments, runOperation } from './operations.js';
import type { ResolvedHttpHandlerOptions } from './options.js';
import { HttpErrorCodes, isHttpOperation, type HttpOperation } from '../protocol/protocol.js';
import { errorResponse, HttpRejection, LAMBDA_PAYLOAD_LIMIT_BYTES, payloadBytesOf, successResponse, type FunctionUrlResult } from './rejection.js';

/** The records of the HTTP handler, under `mongodb.event` like the core's. */
type HttpEvent = 'http.request' | 'http.rejected' | 'http.failed';

interface RequestLog {
  requestId: string | undefined;
  database?: string;
  collection?: string;
  operation?: string;
}

export async function handleRequest(
  options: ResolvedHttpHandlerOptions,
  event: FunctionUrlEvent | undefined,
  context: LambdaContextLike | undefined,
): Promise<FunctionUrlResult> {
  const startedAt = performance.now();
  const logger = options.plan.client.logger ?? getDefaultLogger();
  const request = readEvent(event);
  const log: RequestLog = { requestId: context?.awsRequestId ?? request.requestId };
  try {
    const body = await admit(options, request, log);
    const result = await execute(options, body, log, context);
    record(logger, 'debug', 'http.request', 'Ran an operation for an HTTP request', { ...log, status: 200, durationMs: elapsed(startedAt) }, options.knownSecrets);
    return result;
  } catch (error) {
    const rejection = toRejection(error, options.hideServerMessages);
    // The log keeps what the answer may leave out: MongoDB's own message.
    const details = { ...log, status: rejection.status, code: rejection.code, durationMs: elapsed(startedAt), sourceIp: request.sourceIp, ...(error instanceof MongoServerError ? { error } : {}) };
    if (rejection.status >= 500) {
      record(logger, 'error', 'http.failed', 'An HTTP request failed', { ...details, error }, options.knownSecrets);
    } else {
      record(logger, 'warn', 'http.rejected', `Refused an HTTP request: ${rejection.message}`, details, options.knownSecrets);
    }
    return errorResponse(redacted(rejection, options.knownSecrets));
  }
}

interface AdmittedRequest {
  database: string;
  collection: string;
  operation: HttpOperation;
  args: ReturnType<typeof parseArguments>;
}

/** Every check that needs no database. @throws {HttpRejection} */
async function admit(options: ResolvedHttpHandlerOptions, request: IncomingRequest, log: RequestLog): Promise<AdmittedRequest> {
  if (request.method !== 'POST') {
    throw new HttpRejection(405, HttpErrorCodes.METHOD_NOT_ALLOWED, `Only POST is accepted, got ${request.method}`, { headers: { allow: 'POST' } });
  }
  if (request.bodyBytes > options.maxBodyBytes) {
    throw new HttpRejection(413, HttpErrorCodes.BODY_TOO_LARGE, `The body (${request.bodyBytes} bytes) is larger than this endpoint's maxBodyBytes (${options.maxBodyBytes})`);
  }
  const bytes = request.body();
  await authenticate(options, request, bytes);

  const route = routeOf(request.rawPath);
  if (!route) throw new HttpRejection(404, HttpErrorCodes.NOT_FOUND, 'The path must be /<database>/<collection>/<operation>');
  Object.assign(log, route);
  const { database, collection, operation } = route;
  if (!isHttpOperation(operation) || !options.operations.has(operation)) {
    throw new HttpRejection(403, HttpErrorCodes.NOT_ALLOWED, `The operation ${operation} is not allowed: allowed are ${[...options.operations].join(', ')}`);
  }
  const collections = options.allow.get(database);
  if (!collections?.has(collection)) {
    throw new HttpRejection(403, HttpErrorCodes.NOT_ALLOWED, `The collection ${database}.${collection} is not in the allow-list`);
  }
  const args = parseArguments(operation, parseBody(bytes), { database, collections, maxDocuments: options.maxDocuments });
  return { database, collection, operation, args };
}

async function authenticate(options: ResolvedHttpHandlerOptions, request: IncomingRequest, bytes: Uint8Array): Promise<void> {
  if (options.auth === 'aws-iam') {
    if (request.iamUserArn === undefined) {
      throw new HttpRejection(401, HttpErrorCodes.NO_IAM_IDENTITY, 'The request carries no IAM identity: the Function URL must use AuthType AWS_IAM (requests signed with SigV4)');
    }
    return;
  }
  const verification = await verifyRequest(
    { method: request.method, pathWithQuery: request.pathWithQuery, body: bytes, headers: request.headers },
    { secrets: await options.secrets(), replayWindowMs: options.replayWindowMs, replayCache: options.replayCache },
  );
  if (!verification.ok) {
    if (verification.reason === 'REPLAY_CACHE_FULL') {
      throw new HttpRejection(503, HttpErrorCodes.UNAVAILABLE, verification.message, { headers: { 'retry-after': '1' } });
    }
    throw new HttpRejection(401, verification.reason, verification.message, { headers: { 'www-authenticate': SIGNING_SCHEME } });
  }
}

function parseBody(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return {};
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpRejection(400, HttpErrorCodes.BAD_REQUEST, 'The body is not UTF-8 text');
  }
  try {
    // Canonical mode keeps the types a client meant: Int32 vs Double vs Long, Decimal128, dates.
    return EJSON.parse(text, { relaxed: false });
  } catch (error) {
    throw new HttpRejection(400, HttpErrorCodes.BAD_REQUEST, `The body is not valid Extended JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function execute(options: ResolvedHttpHandlerOptions, request: AdmittedRequest, log: RequestLog, context: LambdaContextLike | undefined): Promise<FunctionUrlResult> {
  const { plan } = options;
  // The invocation's deadline (deadlineMarginMs before the Lambda timeout), as for mongo() and withMongo().
  const budgetMs = Math.max(1, Math.min(options.timeoutMs, startDeadline(context, plan.deadlineMarginMs).remainingMs()));
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const rejection = new HttpRejection(504, HttpErrorCodes.TIMEOUT, `${request.operation} did not finish within ${budgetMs} ms${isRead(request.operation) ? '' : '; the write may or may not have been applied'}`);
      controller.abort(rejection);
      reject(rejection);
    }, budgetMs);
    (timer as { unref?: () => void }).unref?.();
  });
  let scope: InvocationScope | undefined;
  let outcome: 'success' | 'error' = 'error';
  try {
    scope = await openWithin(openInvocation(plan, context), deadline);
    const collection = cachedDb(scope.lease.client, request.database).collection(request.collection);
    const body = await Promise.race([
      runOperation(request.operation, collection, request.args, { signal: controller.signal, maxTimeMS: budgetMs, maxDocuments: options.maxDocuments }),
      deadline,
    ]);
    const response = successResponse(body);
    // Measured as Lambda sends it (the JSON of the whole result, UTF-8): above the limit Lambda fails the invocation.
    const bytes = payloadBytesOf(response);
    if (bytes > LAMBDA_PAYLOAD_LIMIT_BYTES) {
      throw new HttpRejection(400, HttpErrorCodes.RESULT_TOO_LARGE, `The result (${bytes} bytes as Lambda sends it) does not fit a Lambda response (${LAMBDA_PAYLOAD_LIMIT_BYTES} bytes): ask for fewer documents or project fewer fields`);
    }
    Object.assign(log, { resultBytes: bytes });
    outcome = 'success';
    return response;
  } finally {
    clearTimeout(timer);
    // No session: finishing releases the lease (the next request's thaw check measures idleness from here).
    await scope?.finish(outcome);
  }
}

/**
 * The opened invocation, unless the request's time runs out first: then an invocation opened late is finished at
 * once, so its lease is given back.
 */
async function openWithin(opening: InvocationScope | Promise<InvocationScope>, deadline: Promise<never>): Promise<InvocationScope> {
  if (!(opening instanceof Promise)) return opening;
  try {
    return await Promise.race([opening, deadline]);
  } catch (error) {
    opening.then((late) => late.finish('error'), () => undefined);
    throw error;
  }
}

/**
 * MongoDB errors that say something about the deployment (users, roles, hosts, shards, elections) rather than the
 * request: the caller gets a generic 5xx, the function's log the server's message.
 */
const AUTHENTICATION_CODES = new Set([11, 13, 18, 31, 8000]); // UserNotFound, Unauthorized, AuthenticationFailed, RoleNotFound, AtlasError
const INFRASTRUCTURE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  133, // FailedToSatisfyReadPreference
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit (an internal network operation)
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** Maps anything thrown while serving a request to the response it gets. */
function toRejection(error: unknown, hideServerMessages: boolean): HttpRejection {
  if (error instanceof HttpRejection) return error;
  if (isServerlessMongoError(error)) {
    if (error.code === ErrorCodes.CONNECT_FAILED) return new HttpRejection(503, HttpErrorCodes.UNAVAILABLE, 'MongoDB is not reachable from the function right now; retry later');
    if (error.code === ErrorCodes.DEADLINE_EXCEEDED) return new HttpRejection(504, HttpErrorCodes.TIMEOUT, 'MongoDB was not connected before the function ran out of time; retry later');
    return new HttpRejection(500, HttpErrorCodes.INTERNAL, "The function is misconfigured; see the function's logs");
  }
  if (error instanceof MongoServerError) {
    const mongoCode = typeof error.code === 'number' ? error.code : Number(error.code);
    if (AUTHENTICATION_CODES.has(mongoCode)) {
      return new HttpRejection(500, HttpErrorCodes.INTERNAL, "MongoDB refused the function's credentials or permissions; see the function's logs");
    }
    if (INFRASTRUCTURE_CODES.has(mongoCode)) {
      return new HttpRejection(503, HttpErrorCodes.UNAVAILABLE, 'MongoDB is not available right now (a server is unreachable, stepping down or shutting down); retry later');
    }
    const details = { mongoCode, codeName: error.codeName ?? '' };
    if (details.codeName === '') delete (details as { codeName?: string }).codeName;
    const said = (generic: string) => (hideServerMessages ? generic : error.message);
    const named = `${mongoCode}${details.codeName ? ` ${details.codeName}` : ''}`;
    if (mongoCode === 11000) return new HttpRejection(409, HttpErrorCodes.DUPLICATE_KEY, said('A document with the same unique key already exists (MongoDB error 11000)'), details);
    if (mongoCode === 50) return new HttpRejection(504, HttpErrorCodes.TIMEOUT, said('The operation exceeded its time limit on the server (MongoDB error 50)'), details);
    return new HttpRejection(400, HttpErrorCodes.MONGO_ERROR, said(`MongoDB refused the operation (error ${named})`), details);
  }
  if (error instanceof MongoServerSelectionError || error instanceof MongoNetworkError || error instanceof MongoTopologyClosedError) {
    return new HttpRejection(503, HttpErrorCodes.UNAVAILABLE, 'MongoDB is not reachable from the function right now; retry later');
  }
  if (error instanceof MongoAPIError || (error instanceof Error && error.name === 'BSONError')) {
    return new HttpRejection(400, HttpErrorCodes.BAD_REQUEST, error.message);
  }
  return new HttpRejection(500, HttpErrorCodes.INTERNAL, "The request failed unexpectedly; see the function's logs");
}

function redacted(rejection: HttpRejection, secrets: readonly string[]): HttpRejection {
  const message = redactText(rejection.message, secrets);
  return message === rejection.message ? rejection : new HttpRejection(rejection.status, rejection.code, message, rejection.details);
}

function record(logger: LoggerLike, level: LogLevel, event: HttpEvent, message: string, details: Record<string, unknown>, secrets: readonly string[]): void {
  // The core's emit() redacts (errors become { name, message, code, cause }) and never throws.
  emit(logger, level, event, message, details, secrets);
}

function elapsed(startedAt: number): number {
  return Math.round(performance.now() - startedAt);
}
