/**
 * `serverless-mongodb/http`: a small fetch-based client for `serverless-mongodb/http-handler`, with the driver's
 * method names, for runtimes that cannot open TCP sockets. It never imports `mongodb`: only `bson`, `fetch` and
 * Web Crypto.
 */
export {
  createHttpClient,
  isMongoHttpError,
  MongoHttpError,
  HTTP_CLIENT_DEFAULTS,
  type DeleteResult,
  type HttpClientOptions,
  type HttpCollection,
  type HttpCursor,
  type HttpDb,
  type InsertManyResult,
  type InsertOneResult,
  type MongoHttpClient,
  type UpdateResult,
} from './http/client/client.js';
export type { Document } from 'bson';
export { HttpErrorCodes, HTTP_OPERATIONS, READ_OPERATIONS, type HttpErrorCode, type HttpOperation } from './http/protocol/protocol.js';
export { SIGNATURE_HEADERS, SIGNING_SCHEME, signRequest } from './http/protocol/signing.js';
