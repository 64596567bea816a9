/**
 * `serverless-mongodb/http`: a small fetch-based client for `serverless-mongodb/http-handler`, with the
 * driver's method names, for runtimes that cannot open TCP sockets (Vercel Edge, Cloudflare Workers without
 * `connect()`, browsers behind IAM auth, Deno Deploy...). It never imports `mongodb`: only `bson` (Extended
 * JSON, ObjectId), `fetch` and Web Crypto.
 *
 * Differences from the driver: `find` and `aggregate` return a cursor whose only job is `toArray()` (or
 * `for await`), run as one request when it is called; the handler refuses results above its
 * `maxDocuments` instead of streaming them. Each call is one signed POST, and nothing is retried.
 */
import { EJSON, Long, ObjectId, type Document } from 'bson';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';
import { CONTENT_TYPE, HttpErrorCodes, operationPath, type HttpErrorBody, type HttpErrorCode, type HttpOperation } from '../protocol/protocol.js';
import { expectOption, expectOptionsObject, rejectUnknownKeys } from '../../shared/validation.js';
import { SIGNING_DEFAULTS, signRequest } from '../protocol/signing.js';

export const HTTP_CLIENT_DEFAULTS = {
  /** A little above the handler's default `timeoutMs` (10 s), so the handler's own 504 arrives first. */
  timeoutMs: 15_000,
  auth: 'hmac',
} as const;

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** The handler's URL (the Lambda Function URL), `https://` (`http://` only for localhost). */
  url: string | URL;
  /** The shared secret (at least 32 characters). Required with `auth: 'hmac'`. */
  secret?: string;
  /**
   * `'hmac'`: sign every request with `secret`. `'aws-iam'`: send requests unsigned through `fetch`, which must
   * sign them with SigV4 (e.g. `aws4fetch`'s `AwsClient.fetch` with short-lived credentials).
   * @default 'hmac'
   */
  auth?: 'hmac' | 'aws-iam';
  /** @default globalThis.fetch */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** Abort a request that takes longer. @default 15_000 */
  timeoutMs?: number;
}

/** Result of `insertOne`, as the driver's. */
export interface InsertOneResult {
  acknowledged: boolean;
  insertedId: unknown;
}

/** Result of `insertMany`, as the driver's. */
export interface InsertManyResult {
  acknowledged: boolean;
  insertedCount: number;
  insertedIds: Record<number, unknown>;
}

/** Result of `updateOne`/`updateMany`, as the driver's. */
export interface UpdateResult {
  acknowledged: boolean;
  matchedCount: number;
  modifiedCount: number;
  upsertedCount: number;
  upsertedId: unknown;
}

/** Result of `deleteOne`/`deleteMany`, as the driver's. */
export interface DeleteResult {
  acknowledged: boolean;
  deletedCount: number;
}

/** A failed request: `status` is the HTTP status (0 when there was no response), `code` one of {@link HttpErrorCodes}. */
export class MongoHttpError extends Error {
  override name = 'MongoHttpError';
  readonly status: number;
  readonly code: HttpErrorCode;
  /** MongoDB's error code, for `MONGO_ERROR` and `DUPLICATE_KEY` (11000). */
  readonly mongoCode: number | undefined;
  readonly codeName: string | undefined;

  constructor(status: number, code: HttpErrorCode, message: string, details: { mongoCode?: number; codeName?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = status;
    this.code = code;
    this.mongoCode = details.mongoCode;
    this.codeName = details.codeName;
  }
}

/**
 * Type guard that also works when a bundler duplicated this module (checks the name, not only `instanceof`).
 *
 * @example
 * ```ts
 * import { createHttpClient, isMongoHttpError } from 'serverless-mongodb/http';
 *
 * const items = createHttpClient({ url: process.env.MONGODB_HTTP_URL!, secret: process.env.MONGODB_HTTP_SECRET! }).db('shop').collection('items');
 *
 * export async function createItem(): Promise<Response> {
 *   try {
 *     await items.insertOne({ _id: 'A1' });
 *     return new Response('created', { status: 201 });
 *   } catch (error) {
 *     if (isMongoHttpError(error) && error.code === 'DUPLICATE_KEY') return new Response('exists', { status: 409 });
 *     throw error;
 *   }
 * }
 * ```
 */
export function isMongoHttpError(error: unknown): error is MongoHttpError {
  return error instanceof MongoHttpError || (error instanceof Error && error.name === 'MongoHttpError' && typeof (error as { code?: unknown }).code === 'string');
}

/** The results of `find` and `aggregate`: fetched by `toArray()` (or `for await`) in one request. */
export interface HttpCursor<T> extends AsyncIterable<T> {
  toArray(): Promise<T[]>;
}

/** The client: `client.db(name).collection(name)`, as with the driver. */
export interface MongoHttpClient {
  db(name: string): HttpDb;
}

export interface HttpDb {
  readonly databaseName: string;
  collection<TSchema extends Document = Document>(name: string): HttpCollection<TSchema>;
}

/** A collection behind the HTTP handler, with the driver's method names and result shapes. */
export interface HttpCollection<TSchema extends Document = Document> {
  readonly collectionName: string;
  find<T extends Document = TSchema>(filter?: Document, options?: Document): HttpCursor<T>;
  findOne<T extends Document = TSchema>(filter?: Document, options?: Document): Promise<T | null>;
  insertOne(document: TSchema | Document, options?: Document): Promise<InsertOneResult>;
  insertMany(documents: ReadonlyArray<TSchema | Document>, options?: Document): Promise<InsertManyResult>;
  updateOne(filter: Document, update: Document | Document[], options?: Document): Promise<UpdateResult>;
  updateMany(filter: Document, update: Document | Document[], options?: Document): Promise<UpdateResult>;
  deleteOne(filter: Document, options?: Document): Promise<DeleteResult>;
  deleteMany(filter: Document, options?: Document): Promise<DeleteResult>;
  aggregate<T extends Document = Document>(pipeline: Document[], options?: Document): HttpCursor<T>;
  countDocuments(filter?: Document, options?: Document): Promise<number>;
}

const WHERE = 'createHttpClient()';
const OPTION_KEYS = ['url', 'secret', 'auth', 'fetch', 'timeoutMs'] as const;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Creates a client for a `serverless-mongodb/http-handler` endpoint. No I/O happens here.
 *
 * @throws {ConfigurationError} unknown option, wrong type, plain `http://` to a remote host, missing or short secret
 *
 * @example
 * ```ts
 * import { createHttpClient } from 'serverless-mongodb/http';
 *
 * export const config = { runtime: 'edge' };
 * const mongo = createHttpClient({ url: process.env.MONGODB_HTTP_URL!, secret: process.env.MONGODB_HTTP_SECRET! });
 *
 * export default async function handler(request: Request): Promise<Response> {
 *   const items = await mongo.db('shop').collection('items').find({ stock: { $gt: 0 } }, { limit: 20 }).toArray();
 *   return Response.json(items);
 * }
 * ```
 */
export function createHttpClient(options: HttpClientOptions): MongoHttpClient {
  const transport = resolveTransport(options);
  return {
    db(name: string): HttpDb {
      expectName(name, 'database');
      return {
        databaseName: name,
        collection<TSchema extends Document = Document>(collectionName: string): HttpCollection<TSchema> {
          expectName(collectionName, 'collection');
          return createCollection<TSchema>(transport, name, collectionName);
        },
      };
    },
  };
}

type Send = (database: string, collection: string, operation: HttpOperation, args: Document) => Promise<Document>;

function createCollection<TSchema extends Document>(send: Send, database: string, collectionName: string): HttpCollection<TSchema> {
  const call = (operation: HttpOperation, args: Document): Promise<Document> => send(database, collectionName, operation, withoutUndefined(args));
  const cursor = <T>(operation: HttpOperation, args: Document): HttpCursor<T> => {
    let fetched: Promise<T[]> | undefined;
    const toArray = (): Promise<T[]> => (fetched ??= call(operation, args).then((result) => result.documents as T[]));
    return {
      toArray,
      async *[Symbol.asyncIterator]() {
        yield* await toArray();
      },
    };
  };
  return {
    collectionName,
    find: (filter, options) => cursor('find', { filter, options }),
    findOne: async (filter, options) => (await call('findOne', { filter, options })).document ?? null,
    insertOne: async (document, options) => (await call('insertOne', { document: withId(document), options })) as InsertOneResult,
    insertMany: async (documents, options) => (await call('insertMany', { documents: documents.map(withId), options })) as InsertManyResult,
    updateOne: async (filter, update, options) => (await call('updateOne', { filter, update, options })) as UpdateResult,
    updateMany: async (filter, update, options) => (await call('updateMany', { filter, update, options })) as UpdateResult,
    deleteOne: async (filter, options) => (await call('deleteOne', { filter, options })) as DeleteResult,
    deleteMany: async (filter, options) => (await call('deleteMany', { filter, options })) as DeleteResult,
    aggregate: (pipeline, options) => cursor('aggregate', { pipeline, options }),
    countDocuments: async (filter, options) => (await call('countDocuments', { filter, options })).count as number,
  };
}

function resolveTransport(options: HttpClientOptions): Send {
  expectOptionsObject(WHERE, options);
  const input = (options ?? {}) as unknown as Record<string, unknown>;
  rejectUnknownKeys(WHERE, input, OPTION_KEYS);
  expectOption(WHERE, 'secret', input.secret, 'string');
  expectOption(WHERE, 'fetch', input.fetch, 'function');
  expectOption(WHERE, 'timeoutMs', input.timeoutMs, 'non-negative integer');
  const base = parseBaseUrl(input.url);
  const auth = options.auth ?? HTTP_CLIENT_DEFAULTS.auth;
  if (auth !== 'hmac' && auth !== 'aws-iam') throw invalid('auth', `Option \`auth\` of ${WHERE} must be 'hmac' or 'aws-iam'`);
  const secret = options.secret;
  if (auth === 'hmac') {
    if (secret === undefined) throw invalid('secret', `Option \`secret\` of ${WHERE} is required to sign requests (or use auth: 'aws-iam' with a SigV4-signing fetch)`);
    if (secret.length < SIGNING_DEFAULTS.minSecretLength) throw invalid('secret', `Option \`secret\` of ${WHERE} is shorter than ${SIGNING_DEFAULTS.minSecretLength} characters`);
  } else if (options.fetch === undefined) {
    throw invalid('fetch', `With auth: 'aws-iam', ${WHERE} needs a \`fetch\` that signs requests with SigV4 (e.g. new AwsClient({...}).fetch from aws4fetch)`);
  }
  const fetchImpl = options.fetch ?? ((request: string | URL | Request, init?: RequestInit) => globalThis.fetch(request, init));
  const timeoutMs = options.timeoutMs ?? HTTP_CLIENT_DEFAULTS.timeoutMs;
  const basePath = base.pathname.replace(/\/+$/, '');

  return async function send(database, collection, operation, args) {
    const url = new URL(base.href);
    url.pathname = `${basePath}${operationPath(database, collection, operation)}`;
    const body = EJSON.stringify(args, { relaxed: false });
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE, accept: CONTENT_TYPE };
    if (auth === 'hmac' && secret !== undefined) {
      Object.assign(headers, await signRequest({ method: 'POST', pathWithQuery: `${url.pathname}${url.search}`, body }, secret));
    }
    let response: Response;
    let text: string;
    try {
      response = await fetchImpl(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
      text = await response.text();
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      throw new MongoHttpError(0, HttpErrorCodes.NETWORK, timedOut ? `${operation} got no response within ${timeoutMs} ms` : `${operation} could not reach ${base.origin}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (!response.ok) throw errorOf(response.status, text, operation);
    try {
      return promoteValues(EJSON.parse(text, { relaxed: false })) as Document;
    } catch (error) {
      throw new MongoHttpError(response.status, HttpErrorCodes.BAD_RESPONSE, `${operation} got a response that is not Extended JSON`, { cause: error });
    }
  };
}

function errorOf(status: number, text: string, operation: string): MongoHttpError {
  let body: Partial<HttpErrorBody> | undefined;
  try {
    body = JSON.parse(text) as Partial<HttpErrorBody>;
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (!error || typeof error.code !== 'string' || typeof error.message !== 'string') {
    return new MongoHttpError(status, HttpErrorCodes.BAD_RESPONSE, `${operation} failed with HTTP ${status} and a body that is not the handler's: ${text.slice(0, 200)}`);
  }
  const details: { mongoCode?: number; codeName?: string } = {};
  if (typeof error.mongoCode === 'number') details.mongoCode = error.mongoCode;
  if (typeof error.codeName === 'string') details.codeName = error.codeName;
  return new MongoHttpError(status, error.code, error.message, details);
}

function parseBaseUrl(value: unknown): URL {
  if (value === undefined) throw invalid('url', `Option \`url\` of ${WHERE} is required: the handler's Function URL`);
  if (typeof value !== 'string' && !(value instanceof URL)) throw invalid('url', `Option \`url\` of ${WHERE} must be a string or a URL`);
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw invalid('url', `Option \`url\` of ${WHERE} is not a valid URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw invalid('url', `Option \`url\` of ${WHERE} must use https:// (a signature protects integrity, not confidentiality); http:// is only accepted for localhost`);
  }
  if (url.search !== '' || url.hash !== '') throw invalid('url', `Option \`url\` of ${WHERE} must not have a query or fragment`);
  return url;
}

/**
 * Promotes numbers as the driver does by default (`promoteValues`, `promoteLongs`): Int32 and Double become
 * numbers, a Long becomes a number only when it fits one exactly (relaxed Extended JSON would round it).
 */
function promoteValues(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 200) return value;
  if (Array.isArray(value)) return value.map((item) => promoteValues(item, depth + 1));
  const type = (value as { _bsontype?: unknown })._bsontype;
  if (type === 'Int32' || type === 'Double') return (value as { valueOf(): number }).valueOf();
  if (type === 'Long') {
    const long = value as Long;
    return long.lessThanOrEqual(MAX_SAFE_LONG) && long.greaterThanOrEqual(MIN_SAFE_LONG) ? long.toNumber() : long;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  // BSON values (ObjectId, Decimal128, Binary...) and Dates stay as they are; only documents are walked.
  if (type !== undefined || (proto !== Object.prototype && proto !== null)) return value;
  const promoted: Document = {};
  for (const [key, item] of Object.entries(value)) {
    const promotedItem = promoteValues(item, depth + 1);
    // A stored field named __proto__ stays an own property (as bson makes it): assigning it would replace the prototype.
    if (key === '__proto__') Object.defineProperty(promoted, key, { value: promotedItem, enumerable: true, writable: true, configurable: true });
    else promoted[key] = promotedItem;
  }
  return promoted;
}

const MAX_SAFE_LONG = Long.fromNumber(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_LONG = Long.fromNumber(Number.MIN_SAFE_INTEGER);

function withId(document: Document): Document {
  // Like the driver: an _id made on the client, so a retried insert meets a duplicate key instead of inserting twice.
  return document._id === undefined ? { _id: new ObjectId(), ...document } : document;
}

function withoutUndefined(args: Document): Document {
  return Object.fromEntries(Object.entries(args).filter(([, value]) => value !== undefined));
}

function expectName(name: unknown, what: string): void {
  if (typeof name !== 'string' || name === '') throw invalid(what, `The ${what} name must be a non-empty string`);
}

function invalid(option: string, message: string): ConfigurationError {
  return new ConfigurationError(ErrorCodes.INVALID_OPTION, message, { option });
}
