/**
 * Keeps a request inside the allow-list. Filters, updates and pipelines are data, but some of that data
 * reaches further than the collection in the path: `$lookup`/`$unionWith`/`$graphLookup` read other
 * collections, `$out`/`$merge` write them, `$where`/`$function`/`$accumulator` run JavaScript on the server.
 * Pipelines may only use the stages below, and may only name allow-listed collections.
 */
import { HttpErrorCodes } from '../protocol/protocol.js';
import { HttpRejection } from './rejection.js';

/** Operators that run JavaScript on the server; refused anywhere in a request. */
const SERVER_SIDE_JAVASCRIPT = new Set(['$where', '$function', '$accumulator']);

/**
 * Aggregation stages a request may use. Left out on purpose: `$out`/`$merge` (write elsewhere), `$currentOp`,
 * `$listSessions`, `$listLocalSessions`, `$collStats`, `$indexStats`, `$planCacheStats`, `$listSearchIndexes`
 * (server internals), `$changeStream` (a cursor that never ends), `$documents` (not bound to a collection).
 */
const PIPELINE_STAGES = new Set([
  '$match',
  '$project',
  '$addFields',
  '$set',
  '$unset',
  '$group',
  '$sort',
  '$limit',
  '$skip',
  '$count',
  '$unwind',
  '$lookup',
  '$graphLookup',
  '$unionWith',
  '$facet',
  '$bucket',
  '$bucketAuto',
  '$sortByCount',
  '$replaceRoot',
  '$replaceWith',
  '$sample',
  '$redact',
  '$geoNear',
  '$densify',
  '$fill',
  '$setWindowFields',
]);

/** Deeper documents are refused (a guard against stack exhaustion; BSON allows about 100 levels). */
const MAX_DEPTH = 100;

/** What the guard checks a request against. */
export interface GuardScope {
  database: string;
  /** The allow-listed collections of the request's database. */
  collections: ReadonlySet<string>;
}

/** Refuses server-side JavaScript anywhere in `value` (a filter, update, document or option). */
export function assertNoServerSideJavaScript(value: unknown, where: string): void {
  walk(value, where, 0);
}

/** Checks every stage of an aggregation pipeline (recursing into `$facet` and sub-pipelines). */
export function assertPipelineAllowed(pipeline: readonly unknown[], scope: GuardScope, where = 'pipeline'): void {
  pipeline.forEach((stage, index) => assertStageAllowed(stage, scope, `${where}[${index}]`));
}

function assertStageAllowed(stage: unknown, scope: GuardScope, where: string): void {
  if (!isDocument(stage)) throw badRequest(`${where} must be a document with one stage operator`);
  const keys = Object.keys(stage);
  const name = keys[0];
  if (keys.length !== 1 || name === undefined) throw badRequest(`${where} must have exactly one stage operator, got ${keys.length}`);
  if (!PIPELINE_STAGES.has(name)) {
    throw notAllowed(`${where}: the stage ${name} is not allowed through the HTTP handler (allowed: ${[...PIPELINE_STAGES].join(', ')})`);
  }
  const body = stage[name];
  switch (name) {
    case '$lookup':
    case '$graphLookup': {
      if (!isDocument(body)) throw badRequest(`${where}.${name} must be a document`);
      if (body.from !== undefined || name === '$graphLookup') assertCollectionAllowed(body.from, scope, `${where}.${name}.from`);
      if (body.pipeline !== undefined) assertSubPipeline(body.pipeline, scope, `${where}.${name}.pipeline`);
      assertNoServerSideJavaScript(withoutKey(body, 'pipeline'), `${where}.${name}`);
      return;
    }
    case '$unionWith': {
      if (typeof body === 'string') return assertCollectionAllowed(body, scope, `${where}.$unionWith`);
      if (!isDocument(body)) throw badRequest(`${where}.$unionWith must be a collection name or a document`);
      assertCollectionAllowed(body.coll, scope, `${where}.$unionWith.coll`);
      if (body.pipeline !== undefined) assertSubPipeline(body.pipeline, scope, `${where}.$unionWith.pipeline`);
      assertNoServerSideJavaScript(withoutKey(body, 'pipeline'), `${where}.$unionWith`);
      return;
    }
    case '$facet': {
      if (!isDocument(body)) throw badRequest(`${where}.$facet must be a document of pipelines`);
      for (const [facet, pipeline] of Object.entries(body)) {
        // The facets' names are keys like any other (found by the fuzz test: {$facet: {$where: []}} reached the server).
        assertNoServerSideJavaScript({ [facet]: null }, `${where}.$facet`);
        assertSubPipeline(pipeline, scope, `${where}.$facet.${facet}`);
      }
      return;
    }
    default:
      assertNoServerSideJavaScript(body, `${where}.${name}`);
  }
}

function assertSubPipeline(pipeline: unknown, scope: GuardScope, where: string): void {
  if (!Array.isArray(pipeline)) throw badRequest(`${where} must be an array of stages`);
  assertPipelineAllowed(pipeline, scope, where);
}

function assertCollectionAllowed(name: unknown, scope: GuardScope, where: string): void {
  if (typeof name !== 'string') throw notAllowed(`${where} must name a collection of ${scope.database} (a string)`);
  if (!scope.collections.has(name)) throw notAllowed(`${where}: the collection ${scope.database}.${name} is not in the allow-list`);
}

function walk(value: unknown, where: string, depth: number): void {
  if (depth > MAX_DEPTH) throw badRequest(`${where} is nested more than ${MAX_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    for (const item of value) walk(item, where, depth + 1);
    return;
  }
  if (!isDocument(value)) {
    // BSON values that carry documents: a DBRef's $id and extra fields, a Code's $scope (the server stores or compares
    // them, but docs/http/handler.md promises these keys are refused anywhere).
    const inner = bsonContents(value);
    if (inner !== undefined) walk(inner, where, depth + 1);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (SERVER_SIDE_JAVASCRIPT.has(key)) throw notAllowed(`${where}: ${key} (JavaScript on the server) is not allowed through the HTTP handler`);
    walk(item, where, depth + 1);
  }
}

/** The documents inside a DBRef (its `$id` and extra fields) or a Code (its `$scope`); undefined for other values. */
function bsonContents(value: unknown): unknown[] | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const type = (value as { _bsontype?: unknown })._bsontype;
  if (type === 'DBRef') {
    const ref = value as { oid?: unknown; fields?: unknown };
    return [ref.oid, ref.fields];
  }
  if (type === 'Code') return [(value as { scope?: unknown }).scope];
  return undefined;
}

/** A plain document (not a BSON value such as ObjectId, which is a class instance). */
export function isDocument(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function withoutKey(document: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _removed, ...rest } = document;
  return rest;
}

function badRequest(message: string): HttpRejection {
  return new HttpRejection(400, HttpErrorCodes.BAD_REQUEST, message);
}

function notAllowed(message: string): HttpRejection {
  return new HttpRejection(403, HttpErrorCodes.NOT_ALLOWED, message);
}
