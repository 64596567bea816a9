/**
 * Query / update / aggregation semantics, delegated to mingo.
 * Nothing here hand-implements matching: filters, projections, sorts, update
 * operators and pipelines all go through mingo.
 */
import { Aggregator, Query, update as mingoUpdate, updateOne as mingoUpdateOne } from 'mingo';
import type { AnyObject, Options } from 'mingo/types';
import { ObjectId, type Document } from 'bson';
import { CommandError, badValue } from './errors.js';
import { cloneDoc, cloneValue, getPath, isPlainObject, setPath, valueKey } from './values.js';

type MingoOptions = Partial<Options>;

function mingoOptions(collation: unknown, extra: MingoOptions = {}): MingoOptions {
  const opts: MingoOptions = { ...extra };
  if (isPlainObject(collation) && typeof collation.locale === 'string' && collation.locale !== 'simple') {
    return { ...opts, collation: collation as Options['collation'] & object };
  }
  return opts;
}

function asDocument(value: unknown, what: string): Document {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw new CommandError(14, `${what} must be an object`);
  return value;
}

export function compileFilter(filter: unknown, collation?: unknown): Query {
  return new Query(asDocument(filter, 'filter') as AnyObject, mingoOptions(collation));
}

export interface FindSpec {
  filter?: unknown;
  projection?: unknown;
  sort?: unknown;
  skip?: number;
  /** 0 / undefined = no limit */
  limit?: number;
  collation?: unknown;
}

/** Runs a find (filter, sort, skip, limit, projection) and returns every result. */
export function findDocuments(docs: Document[], spec: FindSpec): Document[] {
  const query = compileFilter(spec.filter, spec.collation);
  const projection = asDocument(spec.projection, 'projection');
  const cursor = query.find<Document>(docs, projection as AnyObject);
  const sort = asDocument(spec.sort, 'sort');
  // $natural is the store's natural order already; mingo does not know it.
  delete sort.$natural;
  if (Object.keys(sort).length > 0) cursor.sort(sort as AnyObject);
  if (spec.skip !== undefined && spec.skip > 0) cursor.skip(spec.skip);
  if (spec.limit !== undefined && spec.limit > 0) cursor.limit(spec.limit);
  const results = cursor.all();
  // mingo's inclusion projections emit _id last; mongod always returns it first
  return Object.keys(projection).length === 0 ? results : results.map(idFirst);
}

function idFirst(doc: Document): Document {
  if (doc._id === undefined || Object.keys(doc)[0] === '_id') return doc;
  return { _id: doc._id, ...doc };
}

/** Documents matching a filter, in natural order. */
export function matchDocuments(docs: Document[], filter: unknown, collation?: unknown): Document[] {
  const query = compileFilter(filter, collation);
  return docs.filter((d) => query.test(d as AnyObject));
}

/** Stages that never modify their input documents, so the stored objects can be fed to mingo directly. */
const NON_MUTATING_STAGES = new Set(['$match', '$sort', '$skip', '$limit', '$count', '$group', '$sortByCount']);

export function aggregateDocuments(
  docs: Document[],
  pipeline: unknown,
  opts: { collation?: unknown; resolve: (collection: string) => Document[]; variables?: unknown },
): Document[] {
  if (!Array.isArray(pipeline)) throw new CommandError(14, "'pipeline' option must be specified as an array");
  const stages = pipeline as unknown[];
  let cloneInput = false;
  for (const stage of stages) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) {
      throw new CommandError(40323, 'A pipeline stage specification object must contain exactly one field.', {
        codeName: 'Location40323',
      });
    }
    const name = Object.keys(stage)[0] as string;
    if (name === '$out' || name === '$merge') throw badValue(`${name} is not supported by the wire test server`);
    if (!NON_MUTATING_STAGES.has(name)) cloneInput = true;
  }
  const extra: MingoOptions = {
    collectionResolver: (name: string) => opts.resolve(name).map(cloneDoc) as AnyObject[],
  };
  if (isPlainObject(opts.variables)) Object.assign(extra, { variables: opts.variables });
  const aggregator = new Aggregator(checkStages(stages) as AnyObject[], mingoOptions(opts.collation, extra));
  const input = cloneInput ? docs.map(cloneDoc) : docs;
  return aggregator.run<Document>(input as AnyObject[]);
}

/**
 * Stages mingo would run differently from mongod, checked as mongod checks them, in sub-pipelines too. mingo's
 * `$sample` ends only when its counter equals `size` exactly: a missing, fractional or negative size made it loop
 * for ever in the test process (found by test/http-fuzz.test.ts); mongod refuses those or truncates the size.
 */
function checkStages(stages: unknown[]): unknown[] {
  return stages.map((stage) => {
    if (!isPlainObject(stage)) return stage;
    const [name, spec] = Object.entries(stage)[0] ?? [];
    if (name === '$sample') return { $sample: { size: sampleSize(spec) } };
    if (!isPlainObject(spec)) return stage;
    const sub = (pipeline: unknown) => (Array.isArray(pipeline) ? checkStages(pipeline) : pipeline);
    if ((name === '$lookup' || name === '$unionWith') && spec.pipeline !== undefined) return { [name]: { ...spec, pipeline: sub(spec.pipeline) } };
    if (name === '$facet') return { $facet: Object.fromEntries(Object.entries(spec).map(([facet, pipeline]) => [facet, sub(pipeline)])) };
    return stage;
  });
}

/** `$sample`'s size as mongod reads it (document_source_sample.cpp: codes 28745–28749). */
function sampleSize(spec: unknown): number {
  if (!isPlainObject(spec)) throw new CommandError(28745, 'the $sample stage specification must be an object', { codeName: 'Location28745' });
  for (const key of Object.keys(spec)) {
    if (key !== 'size') throw new CommandError(28748, `unrecognized option to $sample: ${key}`, { codeName: 'Location28748' });
  }
  const size = numeric(spec.size);
  if (spec.size === undefined) throw new CommandError(28749, '$sample stage must specify a size', { codeName: 'Location28749' });
  if (size === undefined || Number.isNaN(size)) throw new CommandError(28746, 'size argument to $sample must be a number', { codeName: 'Location28746' });
  if (size < 0) throw new CommandError(28747, 'size argument to $sample must not be negative', { codeName: 'Location28747' });
  return Math.min(Math.trunc(size), Number.MAX_SAFE_INTEGER);
}

/** A BSON number (double, int32, int64, decimal) as a JavaScript number, else undefined. */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  const type = (value as { _bsontype?: unknown } | null)?._bsontype;
  if (type === 'Int32' || type === 'Double' || type === 'Long' || type === 'Decimal128') return Number(String(value));
  return undefined;
}

export function isOperatorUpdate(update: unknown): boolean {
  return isPlainObject(update) && Object.keys(update).some((k) => k.startsWith('$'));
}

function validateUpdate(update: unknown): void {
  if (Array.isArray(update)) return;
  if (!isPlainObject(update)) throw new CommandError(9, 'Update argument must be either an object or an array', { codeName: 'FailedToParse' });
  const keys = Object.keys(update);
  const ops = keys.filter((k) => k.startsWith('$'));
  if (ops.length > 0 && ops.length !== keys.length) {
    const plain = keys.find((k) => !k.startsWith('$'));
    throw new CommandError(9, `Unknown modifier: ${String(plain)}. Expected a valid update modifier or pipeline-style update specified as an array`, {
      codeName: 'FailedToParse',
    });
  }
}

export interface UpdateOutcome {
  doc: Document;
  modified: boolean;
}

/**
 * Applies an update (operator document, replacement document or pipeline) to a
 * copy of `doc`. `inserting` is true for the document created by an upsert
 * ($setOnInsert then applies). The stored object is never mutated.
 */
export function applyUpdate(
  doc: Document,
  update: unknown,
  opts: { arrayFilters?: unknown; filter?: unknown; inserting?: boolean; collation?: unknown } = {},
): UpdateOutcome {
  validateUpdate(update);
  let next = cloneDoc(doc);
  let modified: boolean;
  if (Array.isArray(update)) {
    const before = valueKey(doc);
    const holder: AnyObject[] = [next as AnyObject];
    mingoUpdateOne(holder, {}, update as never, {}, mingoOptions(opts.collation));
    next = holder[0] as Document;
    modified = valueKey(next) !== before;
  } else if (isOperatorUpdate(update)) {
    const modifier: Document = { ...(update as Document) };
    const onInsert = modifier.$setOnInsert as unknown;
    delete modifier.$setOnInsert;
    if (opts.inserting === true && isPlainObject(onInsert)) {
      modifier.$set = { ...(isPlainObject(modifier.$set) ? modifier.$set : {}), ...onInsert };
    }
    modified = false;
    if (Object.keys(modifier).length > 0) {
      const arrayFilters = Array.isArray(opts.arrayFilters) ? (opts.arrayFilters as AnyObject[]) : undefined;
      // mingo needs the filter only to resolve the positional `$` operator (it re-tests it)
      const condition = usesPositional(modifier) && isPlainObject(opts.filter) ? (opts.filter as AnyObject) : undefined;
      const changed = mingoUpdate(next as AnyObject, modifier as never, arrayFilters, condition, {
        cloneMode: 'deep',
        queryOptions: mingoOptions(opts.collation),
      });
      modified = changed.length > 0;
    }
  } else {
    const replacement = update as Document;
    if (replacement._id !== undefined && doc._id !== undefined && valueKey(replacement._id) !== valueKey(doc._id)) {
      throw immutableIdError();
    }
    next = { _id: doc._id };
    for (const key of Object.keys(replacement)) {
      if (key !== '_id') next[key] = cloneValue(replacement[key] as unknown);
    }
    modified = valueKey(next) !== valueKey(doc);
  }
  if (doc._id !== undefined && valueKey(next._id) !== valueKey(doc._id)) throw immutableIdError();
  if (next._id !== undefined && Object.keys(next)[0] !== '_id') next = { _id: next._id, ...next };
  return { doc: next, modified };
}

/** true when an update operator targets a path with the positional `$` ("a.$", "a.$.b") */
function usesPositional(modifier: Document): boolean {
  return Object.values(modifier).some(
    (fields) => isPlainObject(fields) && Object.keys(fields).some((path) => path === '$' || path.endsWith('.$') || path.includes('.$.')),
  );
}

function immutableIdError(): CommandError {
  return new CommandError(66, `Performing an update on the path '_id' would modify the immutable field '_id'`);
}

/** Equality fields of a filter that seed an upserted document ({a: 1, 'b.c': 2, x: {$eq: 3}, $and: [...]}). */
export function upsertSeed(filter: unknown): Document {
  const seed: Document = {};
  const visit = (f: unknown): void => {
    if (!isPlainObject(f)) return;
    for (const [key, value] of Object.entries(f)) {
      if (key === '$and' && Array.isArray(value)) {
        value.forEach(visit);
      } else if (!key.startsWith('$')) {
        if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
          if ('$eq' in value) setPath(seed, key, cloneValue(value.$eq as unknown));
        } else {
          setPath(seed, key, cloneValue(value as unknown));
        }
      }
    }
  };
  visit(filter);
  return seed;
}

/** Builds the document inserted by an upsert. */
export function buildUpsertDocument(filter: unknown, update: unknown, opts: { arrayFilters?: unknown; collation?: unknown }): Document {
  validateUpdate(update);
  let doc: Document;
  if (!Array.isArray(update) && !isOperatorUpdate(update)) {
    const replacement = update as Document;
    const seed = upsertSeed(filter);
    doc = { ...cloneDoc(replacement) };
    if (doc._id === undefined && seed._id !== undefined) doc = { _id: seed._id, ...doc };
  } else {
    const seed = upsertSeed(filter);
    doc = applyUpdate(seed, update, { ...opts, inserting: true }).doc;
  }
  if (doc._id === undefined) doc = { _id: new ObjectId(), ...doc };
  else if (Object.keys(doc)[0] !== '_id') doc = { _id: doc._id, ...doc };
  return doc;
}

/** Values of `key` across documents (array elements flattened), deduplicated. */
export function distinctValues(docs: Document[], key: string): unknown[] {
  const seen = new Map<string, unknown>();
  const add = (v: unknown): void => {
    if (v === undefined) return;
    const k = valueKey(v);
    if (!seen.has(k)) seen.set(k, v);
  };
  for (const doc of docs) {
    const value = getPath(doc, key);
    if (Array.isArray(value)) value.forEach(add);
    else add(value);
  }
  return [...seen.values()];
}
