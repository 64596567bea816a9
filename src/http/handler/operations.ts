/**
 * The ten operations of the HTTP handler: which arguments and driver options each accepts, and how each
 * runs on a driver `Collection`. Only listed options pass: `bypassDocumentValidation`, `session`, `raw` and
 * the like cannot be smuggled in. Results keep their BSON types (`promoteValues: false`), so the canonical
 * Extended JSON response says Int32 vs Double vs Long exactly.
 */
import { EJSON } from 'bson';
import type { AbstractCursor, Collection, Document } from 'mongodb';
import { assertNoServerSideJavaScript, assertPipelineAllowed, isDocument, type GuardScope } from './guard.js';
import { HttpErrorCodes, type HttpOperation } from '../protocol/protocol.js';
import { escapedBytesOf, HttpRejection, SUCCESS_BODY_LIMIT_BYTES, toExtendedJson } from './rejection.js';

type ArgumentName = 'filter' | 'update' | 'document' | 'documents' | 'pipeline' | 'options';

/** The arguments of one request, checked. */
export interface OperationArguments {
  filter: Document;
  update: Document | Document[];
  document: Document;
  documents: Document[];
  pipeline: Document[];
  options: Document;
}

/** Limits of one request, from the handler's options and the function's remaining time. */
export interface OperationLimits {
  signal: AbortSignal;
  /** The server stops after this long (for reads a smaller `maxTimeMS` of the request wins). */
  maxTimeMS: number;
  maxDocuments: number;
  /** The response body's budget, in bytes as Lambda sends them (JSON-escaped UTF-8). @default what a Lambda payload leaves */
  maxBodyBytes?: number;
}

/**
 * Documents a cursor asks the server for at a time. The handler reads a result as it arrives and leaves the cursor
 * (killCursors) at the first document past a cap, so it holds at most the capped result and one batch: 100
 * documents, or 16 MB, whichever is less (a server never sends a larger batch).
 */
export const READ_BATCH_SIZE = 100;

interface OperationSpec {
  required: readonly ArgumentName[];
  optional: readonly ArgumentName[];
  /** Driver options a request may set. */
  options: readonly string[];
  /** Runs the operation; resolves with the response body (canonical Extended JSON). */
  run(collection: Collection, args: OperationArguments, limits: OperationLimits): Promise<string>;
}

const READ_RESULT = { promoteValues: false } as const;

const OPERATIONS: Record<HttpOperation, OperationSpec> = {
  find: {
    required: [],
    optional: ['filter', 'options'],
    options: ['projection', 'sort', 'limit', 'skip', 'hint', 'collation', 'comment', 'let', 'allowDiskUse', 'maxTimeMS'],
    async run(collection, { filter, options }, limits) {
      const requested = options.limit as number | undefined;
      // One more than allowed tells "exactly maxDocuments" from "more": more is refused, never silently cut.
      const limit = requested === undefined || requested === 0 ? limits.maxDocuments + 1 : requested;
      return readDocuments(collection.find(filter, { ...options, ...READ_RESULT, ...readLimits(options, limits), limit, batchSize: READ_BATCH_SIZE }), 'find', limits);
    },
  },
  findOne: {
    required: [],
    optional: ['filter', 'options'],
    options: ['projection', 'sort', 'skip', 'hint', 'collation', 'comment', 'let', 'maxTimeMS'],
    async run(collection, { filter, options }, limits) {
      return toExtendedJson({ document: await collection.findOne(filter, { ...options, ...READ_RESULT, ...readLimits(options, limits) }) });
    },
  },
  insertOne: {
    required: ['document'],
    optional: ['options'],
    options: ['comment'],
    async run(collection, { document, options }, limits) {
      const result = await collection.insertOne(document, writeLimits(options, limits));
      return toExtendedJson({ acknowledged: result.acknowledged, insertedId: result.insertedId });
    },
  },
  insertMany: {
    required: ['documents'],
    optional: ['options'],
    options: ['ordered', 'comment'],
    async run(collection, { documents, options }, limits) {
      const result = await collection.insertMany(documents, writeLimits(options, limits));
      return toExtendedJson({ acknowledged: result.acknowledged, insertedCount: result.insertedCount, insertedIds: result.insertedIds });
    },
  },
  updateOne: {
    required: ['filter', 'update'],
    optional: ['options'],
    options: ['upsert', 'arrayFilters', 'hint', 'collation', 'comment', 'let', 'sort'],
    async run(collection, { filter, update, options }, limits) {
      return toExtendedJson(updateResult(await collection.updateOne(filter, update, writeLimits(options, limits))));
    },
  },
  updateMany: {
    required: ['filter', 'update'],
    optional: ['options'],
    options: ['upsert', 'arrayFilters', 'hint', 'collation', 'comment', 'let'],
    async run(collection, { filter, update, options }, limits) {
      return toExtendedJson(updateResult(await collection.updateMany(filter, update, writeLimits(options, limits))));
    },
  },
  deleteOne: {
    required: ['filter'],
    optional: ['options'],
    options: ['hint', 'collation', 'comment', 'let'],
    async run(collection, { filter, options }, limits) {
      return toExtendedJson(deleteResult(await collection.deleteOne(filter, writeLimits(options, limits))));
    },
  },
  deleteMany: {
    required: ['filter'],
    optional: ['options'],
    options: ['hint', 'collation', 'comment', 'let'],
    async run(collection, { filter, options }, limits) {
      return toExtendedJson(deleteResult(await collection.deleteMany(filter, writeLimits(options, limits))));
    },
  },
  aggregate: {
    required: ['pipeline'],
    optional: ['options'],
    options: ['allowDiskUse', 'collation', 'hint', 'comment', 'let', 'maxTimeMS'],
    async run(collection, { pipeline, options }, limits) {
      const bounded = [...pipeline, { $limit: limits.maxDocuments + 1 }];
      return readDocuments(collection.aggregate(bounded, { ...options, ...READ_RESULT, ...readLimits(options, limits), batchSize: READ_BATCH_SIZE }), 'aggregate', limits);
    },
  },
  countDocuments: {
    required: [],
    optional: ['filter', 'options'],
    options: ['limit', 'skip', 'hint', 'collation', 'comment', 'maxTimeMS'],
    async run(collection, { filter, options }, limits) {
      return toExtendedJson({ count: await collection.countDocuments(filter, { ...options, ...readLimits(options, limits) }) });
    },
  },
};

const NUMBER_OPTIONS = new Set(['limit', 'skip', 'maxTimeMS']);
const BOOLEAN_OPTIONS = new Set(['upsert', 'ordered', 'allowDiskUse']);

/**
 * Checks the body of a request against its operation and the allow-list.
 * @throws {HttpRejection} 400 for a wrong shape, 403 for server-side JavaScript or a collection outside the allow-list
 */
export function parseArguments(operation: HttpOperation, body: unknown, scope: GuardScope & { maxDocuments: number }): OperationArguments {
  const spec = OPERATIONS[operation];
  if (!isDocument(body)) throw badRequest(`The body of ${operation} must be an Extended JSON object with ${describeArguments(spec)}`);
  const known: readonly string[] = [...spec.required, ...spec.optional];
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw badRequest(`Unknown argument \`${key}\` of ${operation}: expected ${describeArguments(spec)}`);
  }
  for (const key of spec.required) {
    if (body[key] === undefined) throw badRequest(`${operation} needs \`${key}\``);
  }
  const args: OperationArguments = { filter: {}, update: {}, document: {}, documents: [], pipeline: [], options: {} };
  if (body.filter !== undefined) args.filter = expectDocument(body.filter, operation, 'filter');
  if (body.document !== undefined) args.document = expectDocument(body.document, operation, 'document');
  if (body.documents !== undefined) args.documents = expectDocuments(body.documents, operation, 'documents', false);
  if (body.update !== undefined) {
    args.update = Array.isArray(body.update) ? expectDocuments(body.update, operation, 'update', false) : expectDocument(body.update, operation, 'update');
  }
  if (body.pipeline !== undefined) args.pipeline = expectDocuments(body.pipeline, operation, 'pipeline', true);
  if (body.options !== undefined) args.options = parseOptions(operation, spec, expectDocument(body.options, operation, 'options'));

  const limit = args.options.limit as number | undefined;
  if (operation === 'find' && limit !== undefined && limit > scope.maxDocuments) {
    throw tooLarge(`limit ${limit} is above this endpoint's maxDocuments (${scope.maxDocuments}): page with skip/limit or a range filter`);
  }
  for (const name of ['filter', 'update', 'document', 'documents', 'options'] as const) assertNoServerSideJavaScript(args[name], name);
  assertPipelineAllowed(args.pipeline, scope);
  return args;
}

/** Runs a checked operation; resolves with the response body (canonical Extended JSON). */
export function runOperation(operation: HttpOperation, collection: Collection, args: OperationArguments, limits: OperationLimits): Promise<string> {
  return OPERATIONS[operation].run(collection, args, limits);
}

/** Whether the operation only reads (and takes `maxTimeMS` and an abort `signal`). */
export function isRead(operation: HttpOperation): boolean {
  return operation === 'find' || operation === 'findOne' || operation === 'aggregate' || operation === 'countDocuments';
}

function parseOptions(operation: HttpOperation, spec: OperationSpec, options: Document): Document {
  const parsed: Document = {};
  for (const [key, value] of Object.entries(options)) {
    if (!spec.options.includes(key)) {
      throw badRequest(`Option \`${key}\` of ${operation} is not accepted by the HTTP handler: accepted are ${spec.options.join(', ') || 'none'}`);
    }
    if (NUMBER_OPTIONS.has(key)) {
      const number = toNumber(value);
      if (number === undefined || !Number.isInteger(number) || number < 0) throw badRequest(`Option \`${key}\` of ${operation} must be a non-negative integer`);
      parsed[key] = number;
    } else if (BOOLEAN_OPTIONS.has(key)) {
      if (typeof value !== 'boolean') throw badRequest(`Option \`${key}\` of ${operation} must be a boolean`);
      parsed[key] = value;
    } else if (key === 'sort') {
      parsed[key] = parseSort(operation, value);
    } else {
      parsed[key] = value;
    }
  }
  return parsed;
}

/**
 * Writes get the same server-side budget as reads (`maxTimeMS` on the command): a catastrophic `$regex` or a heavy
 * `$expr` in a filter stops on the server when the caller's time is up. No abort signal: a write is not cut off
 * half-sent, it gets 504 and may or may not have been applied.
 */
function writeLimits(options: Document, limits: OperationLimits): Document {
  return { ...options, maxTimeMS: limits.maxTimeMS };
}

function readLimits(options: Document, limits: OperationLimits): { signal: AbortSignal; maxTimeMS: number } {
  const requested = options.maxTimeMS as number | undefined;
  return { signal: limits.signal, maxTimeMS: requested !== undefined && requested > 0 ? Math.min(requested, limits.maxTimeMS) : limits.maxTimeMS };
}

const DOCUMENTS_HEAD = '{"documents":[';
const DOCUMENTS_TAIL = ']}';

/**
 * Reads a cursor into the body `{"documents":[...]}`, one document at a time: each is serialized as it arrives
 * and its bytes (as Lambda will send them) added to a running total. The first document past `maxDocuments` or
 * past the byte budget ends the read (the loop's exit closes the cursor: killCursors) with RESULT_TOO_LARGE, so
 * memory never holds more than the budget and one batch.
 */
async function readDocuments(cursor: AbstractCursor<Document>, operation: string, limits: OperationLimits): Promise<string> {
  const budget = limits.maxBodyBytes ?? SUCCESS_BODY_LIMIT_BYTES;
  const parts: string[] = [];
  let bytes = escapedBytesOf(DOCUMENTS_HEAD) + escapedBytesOf(DOCUMENTS_TAIL);
  try {
    for await (const document of cursor) {
      if (parts.length === limits.maxDocuments) {
        throw tooLarge(`${operation} matched more than maxDocuments (${limits.maxDocuments}) documents: pass a limit (or a $limit stage) and page with skip or a range filter`);
      }
      const part = EJSON.stringify(document, { relaxed: false });
      bytes += escapedBytesOf(part) + (parts.length === 0 ? 0 : 1);
      if (bytes > budget) {
        throw tooLarge(`The result of ${operation} does not fit a Lambda response (${budget} bytes for the body as Lambda sends it, reached after ${parts.length} documents): ask for fewer documents or project fewer fields`);
      }
      parts.push(part);
    }
  } finally {
    // An early exit has closed the cursor already; this covers a cursor that failed before the loop ran.
    await cursor.close().catch(() => undefined);
  }
  return `${DOCUMENTS_HEAD}${parts.join(',')}${DOCUMENTS_TAIL}`;
}

function updateResult(result: { acknowledged: boolean; matchedCount: number; modifiedCount: number; upsertedCount: number; upsertedId: unknown }): Document {
  const { acknowledged, matchedCount, modifiedCount, upsertedCount, upsertedId } = result;
  return { acknowledged, matchedCount, modifiedCount, upsertedCount, upsertedId };
}

function deleteResult({ acknowledged, deletedCount }: { acknowledged: boolean; deletedCount: number }): Document {
  return { acknowledged, deletedCount };
}

const SORT_HELP = 'a document of field names and directions such as {"qty": -1, "sku": 1} (a direction is 1, -1, "asc", "desc", "ascending", "descending" or {"$meta": "textScore"}), a field name, or an array of field names and [field, direction] pairs';
const SORT_WORDS = new Set(['asc', 'desc', 'ascending', 'descending']);

/**
 * Checks a sort in every form the driver takes and hands it on as [field, direction] pairs in the caller's order.
 * The driver's own parser throws a TypeError (not a MongoAPIError) on some malformed arrays, so nothing reaches it
 * unchecked. Directions arrive as Int32 from canonical Extended JSON; the driver wants JS numbers.
 */
function parseSort(operation: HttpOperation, value: unknown): Array<[string, number | string | Document]> {
  const refuse = (why: string): HttpRejection => badRequest(`Option \`sort\` of ${operation} ${why}: pass ${SORT_HELP}`);
  const direction = (field: string, given: unknown): number | string | Document => {
    const number = toNumber(given);
    if (number === 1 || number === -1) return number;
    if (typeof given === 'string' && SORT_WORDS.has(given.toLowerCase())) return given;
    if (isDocument(given) && Object.keys(given).length === 1 && typeof given.$meta === 'string') return given;
    throw refuse(`has an invalid direction for \`${field.slice(0, 64)}\``);
  };
  const isPair = (entry: unknown): entry is [string, unknown] => Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string';
  if (typeof value === 'string') return [[value, 1]];
  if (isDocument(value)) return Object.entries(value).map(([field, given]) => [field, direction(field, given)]);
  if (!Array.isArray(value)) throw refuse('is neither a document, a string nor an array');
  if (isPair(value) && !(typeof value[1] === 'string' && !SORT_WORDS.has(value[1].toLowerCase()))) return [[value[0], direction(value[0], value[1])]];
  return value.map((entry): [string, number | string | Document] => {
    if (typeof entry === 'string') return [entry, 1];
    if (isPair(entry)) return [entry[0], direction(entry[0], entry[1])];
    throw refuse('has an array entry that is neither a field name nor a [field, direction] pair');
  });
}

/** A JS number from a number or a BSON Int32/Double/Long (what canonical Extended JSON parses to). */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value !== null && typeof value === 'object' && ['Int32', 'Double', 'Long'].includes(String((value as { _bsontype?: unknown })._bsontype))) {
    return Number(String(value));
  }
  return undefined;
}

function expectDocument(value: unknown, operation: string, name: string): Document {
  if (!isDocument(value)) throw badRequest(`\`${name}\` of ${operation} must be a document (an object)`);
  return value;
}

function expectDocuments(value: unknown, operation: string, name: string, mayBeEmpty: boolean): Document[] {
  if (!Array.isArray(value) || (!mayBeEmpty && value.length === 0) || !value.every(isDocument)) {
    throw badRequest(`\`${name}\` of ${operation} must be ${mayBeEmpty ? 'an' : 'a non-empty'} array of documents`);
  }
  return value as Document[];
}

function describeArguments(spec: OperationSpec): string {
  return [...spec.required.map((name) => `\`${name}\``), ...spec.optional.map((name) => `optional \`${name}\``)].join(', ');
}

function badRequest(message: string): HttpRejection {
  return new HttpRejection(400, HttpErrorCodes.BAD_REQUEST, message);
}

function tooLarge(message: string): HttpRejection {
  return new HttpRejection(400, HttpErrorCodes.RESULT_TOO_LARGE, message);
}
