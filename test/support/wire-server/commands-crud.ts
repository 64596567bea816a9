/**
 * CRUD commands: insert, find, getMore, killCursors, update, delete,
 * findAndModify, count, aggregate, distinct.
 */
import { Long, ObjectId, type Document } from 'bson';
import type { CommandContext, CommandHandler } from './command-context.js';
import {
  aggregateDocuments,
  applyUpdate,
  buildUpsertDocument,
  distinctValues,
  findDocuments,
  isOperatorUpdate,
  matchDocuments,
  type FindSpec,
} from './engine.js';
import { CommandError, toCommandError } from './errors.js';
import { idKeyOf, type CollectionView } from './store.js';
import { isPlainObject, toNumber, truthy, valueKey } from './values.js';

function collectionName(ctx: CommandContext): string {
  const value: unknown = ctx.body[ctx.name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new CommandError(73, `collection name has invalid type ${typeof value}`, { codeName: 'InvalidNamespace' });
  }
  return value;
}

/**
 * Runs a find-like selection. A filter that is exactly `{ _id: <string | number | ObjectId> }`
 * is answered from the primary key without scanning (or even calling mingo, unless a projection
 * is asked for); a filter that merely contains such an _id equality scans one candidate.
 */
function select(view: CollectionView, spec: FindSpec): Document[] {
  const filter = spec.filter;
  if (spec.collation === undefined && isPlainObject(filter) && Object.hasOwn(filter, '_id')) {
    const id: unknown = filter._id;
    if (typeof id === 'string' || typeof id === 'number' || id instanceof ObjectId) {
      const doc = view.get(valueKey(id));
      const docs = doc ? [doc] : [];
      const exact = Object.keys(filter).length === 1 && (spec.projection === undefined || spec.projection === null);
      if (exact) return (spec.skip ?? 0) > 0 ? [] : docs;
      return findDocuments(docs, spec);
    }
  }
  return findDocuments(view.docs(), spec);
}

function optionalNumber(body: Document, field: string): number | undefined {
  const value = body[field] as unknown;
  if (value === undefined || value === null) return undefined;
  const n = toNumber(value);
  if (n === undefined || Number.isNaN(n)) throw new CommandError(14, `'${field}' must be a number`);
  return n;
}

function statements(body: Document, field: string): Document[] {
  const value = body[field] as unknown;
  if (!Array.isArray(value)) throw new CommandError(9, `BSON field '${field}' is missing but a required field`, { codeName: 'FailedToParse' });
  return value as Document[];
}

/** Runs each statement of a batch write, collecting writeErrors (stops at the first one when ordered). */
function runBatch(ctx: CommandContext, items: Document[], run: (item: Document, index: number) => void): Document[] {
  const ordered = ctx.body.ordered !== false;
  const writeErrors: Document[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      run(items[i] as Document, i);
    } catch (error) {
      writeErrors.push(toCommandError(error).toWriteError(i));
      if (ordered) break;
    }
  }
  return writeErrors;
}

function writeReply(ctx: CommandContext, fields: Document, writeErrors: Document[], wrote: boolean): Document {
  if (wrote) ctx.state.tickClusterTime();
  const reply: Document = { ...fields };
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  reply.ok = 1;
  return reply;
}

const insert: CommandHandler = (ctx) => {
  const view = ctx.view(collectionName(ctx));
  let n = 0;
  const writeErrors = runBatch(ctx, statements(ctx.body, 'documents'), (raw) => {
    if (!isPlainObject(raw)) throw new CommandError(2, 'document to insert must be an object');
    // like mongod: generate a missing _id and store _id as the first field
    const doc = raw._id === undefined ? { _id: new ObjectId(), ...raw } : Object.keys(raw)[0] === '_id' ? raw : { _id: raw._id, ...raw };
    view.insert(doc);
    n += 1;
  });
  return writeReply(ctx, { n }, writeErrors, n > 0);
};

const update: CommandHandler = (ctx) => {
  const view = ctx.view(collectionName(ctx));
  let n = 0;
  let nModified = 0;
  const upserted: Document[] = [];
  const writeErrors = runBatch(ctx, statements(ctx.body, 'updates'), (spec, index) => {
    const filter: unknown = spec.q ?? {};
    const u: unknown = spec.u;
    const multi = truthy(spec.multi);
    if (multi && !Array.isArray(u) && !isOperatorUpdate(u)) {
      throw new CommandError(9, 'multi update is not supported for replacement-style update', { codeName: 'FailedToParse' });
    }
    const opts = { arrayFilters: spec.arrayFilters as unknown, collation: spec.collation as unknown };
    let matched: Document[];
    if (multi) matched = select(view, { filter, collation: spec.collation });
    else matched = select(view, { filter, sort: spec.sort, limit: 1, collation: spec.collation });
    if (matched.length === 0) {
      if (truthy(spec.upsert)) {
        const doc = buildUpsertDocument(filter, u, opts);
        view.insert(doc);
        n += 1;
        upserted.push({ index, _id: doc._id });
      }
      return;
    }
    for (const current of matched) {
      const outcome = applyUpdate(current, u, { ...opts, filter });
      n += 1;
      if (outcome.modified) {
        view.replace(idKeyOf(current), outcome.doc);
        nModified += 1;
      }
    }
  });
  const fields: Document = { n, nModified };
  if (upserted.length > 0) fields.upserted = upserted;
  return writeReply(ctx, fields, writeErrors, nModified > 0 || upserted.length > 0);
};

const deleteCommand: CommandHandler = (ctx) => {
  const view = ctx.view(collectionName(ctx));
  let n = 0;
  const writeErrors = runBatch(ctx, statements(ctx.body, 'deletes'), (spec) => {
    const limit = toNumber(spec.limit) ?? 0;
    const matched = select(view, { filter: spec.q, collation: spec.collation, ...(limit === 1 ? { limit: 1 } : {}) });
    for (const doc of matched) {
      view.remove(idKeyOf(doc));
      n += 1;
    }
  });
  return writeReply(ctx, { n }, writeErrors, n > 0);
};

const findAndModify: CommandHandler = (ctx) => {
  const view = ctx.view(collectionName(ctx));
  const { body } = ctx;
  const filter: unknown = body.query ?? {};
  const remove = truthy(body.remove);
  const u: unknown = body.update;
  const returnNew = truthy(body.new);
  if (remove && u !== undefined) throw new CommandError(9, 'Cannot specify both an update and remove=true', { codeName: 'FailedToParse' });
  if (!remove && u === undefined) {
    throw new CommandError(9, 'Either an update or remove=true must be specified', { codeName: 'FailedToParse' });
  }
  const project = (doc: Document | null): Document | null =>
    doc === null || body.fields === undefined ? doc : (findDocuments([doc], { projection: body.fields })[0] ?? null);
  const target = select(view, { filter, sort: body.sort, limit: 1, collation: body.collation })[0];
  const opts = { arrayFilters: body.arrayFilters as unknown, collation: body.collation as unknown };

  if (remove) {
    if (target) {
      view.remove(idKeyOf(target));
      ctx.state.tickClusterTime();
    }
    return { lastErrorObject: { n: target ? 1 : 0 }, value: project(target ?? null), ok: 1 };
  }
  if (target) {
    const outcome = applyUpdate(target, u, { ...opts, filter });
    if (outcome.modified) {
      view.replace(idKeyOf(target), outcome.doc);
      ctx.state.tickClusterTime();
    }
    return { lastErrorObject: { n: 1, updatedExisting: true }, value: project(returnNew ? outcome.doc : target), ok: 1 };
  }
  if (truthy(body.upsert)) {
    const doc = buildUpsertDocument(filter, u, opts);
    view.insert(doc);
    ctx.state.tickClusterTime();
    return { lastErrorObject: { n: 1, updatedExisting: false, upserted: doc._id }, value: project(returnNew ? doc : null), ok: 1 };
  }
  return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
};

const find: CommandHandler = (ctx) => {
  const coll = collectionName(ctx);
  const { body } = ctx;
  let limit = optionalNumber(body, 'limit');
  let singleBatch = truthy(body.singleBatch);
  if (limit !== undefined && limit < 0) {
    limit = -limit;
    singleBatch = true;
  }
  const spec = { filter: body.filter, projection: body.projection, sort: body.sort, collation: body.collation };
  const skip = optionalNumber(body, 'skip');
  const results = select(ctx.view(coll), {
    ...spec,
    ...(skip !== undefined ? { skip } : {}),
    ...(limit !== undefined ? { limit } : {}),
  });
  const batchSize = optionalNumber(body, 'batchSize');
  const cursor = ctx.state.cursors.open(`${ctx.db}.${coll}`, results, {
    ...(batchSize !== undefined ? { batchSize } : {}),
    singleBatch,
  });
  return { cursor, ok: 1 };
};

const getMore: CommandHandler = (ctx) => {
  const id = toNumber(ctx.body.getMore);
  if (id === undefined) throw new CommandError(14, "'getMore' must be an Int64 cursor id");
  const collection = typeof ctx.body.collection === 'string' ? ctx.body.collection : '';
  const cursor = ctx.state.cursors.getMore(id, collection, ctx.db, optionalNumber(ctx.body, 'batchSize'));
  return { cursor, ok: 1 };
};

const killCursors: CommandHandler = (ctx) => {
  const raw = ctx.body.cursors as unknown;
  const ids = Array.isArray(raw) ? raw.map((v) => toNumber(v)).filter((v): v is number => v !== undefined) : [];
  const { killed, notFound } = ctx.state.cursors.kill(ids);
  return {
    cursorsKilled: killed.map((id) => Long.fromNumber(id)),
    cursorsNotFound: notFound.map((id) => Long.fromNumber(id)),
    cursorsAlive: [],
    cursorsUnknown: [],
    ok: 1,
  };
};

const count: CommandHandler = (ctx) => {
  const skip = optionalNumber(ctx.body, 'skip') ?? 0;
  const limit = Math.abs(optionalNumber(ctx.body, 'limit') ?? 0);
  const docs = select(ctx.view(collectionName(ctx)), { filter: ctx.body.query, collation: ctx.body.collation, skip, limit });
  return { n: docs.length, ok: 1 };
};

const aggregate: CommandHandler = (ctx) => {
  const target: unknown = ctx.body.aggregate;
  const dbLevel = target === 1;
  if (!dbLevel && (typeof target !== 'string' || target.length === 0)) {
    throw new CommandError(73, "'aggregate' must be a collection name or 1", { codeName: 'InvalidNamespace' });
  }
  const docs = dbLevel ? [] : ctx.view(target as string).docs();
  const results = aggregateDocuments(docs, ctx.body.pipeline, {
    collation: ctx.body.collation,
    variables: ctx.body.let,
    resolve: (name) => ctx.view(name).docs(),
  });
  const cursorOpts: unknown = ctx.body.cursor;
  const batchSize = isPlainObject(cursorOpts) ? optionalNumber(cursorOpts, 'batchSize') : undefined;
  const ns = dbLevel ? `${ctx.db}.$cmd.aggregate` : `${ctx.db}.${target as string}`;
  const cursor = ctx.state.cursors.open(ns, results, batchSize !== undefined ? { batchSize } : {});
  return { cursor, ok: 1 };
};

const distinct: CommandHandler = (ctx) => {
  const key: unknown = ctx.body.key;
  if (typeof key !== 'string') throw new CommandError(14, "'key' must be a string");
  const docs = matchDocuments(ctx.view(collectionName(ctx)).docs(), ctx.body.query ?? {}, ctx.body.collation);
  return { values: distinctValues(docs, key), ok: 1 };
};

export const crudCommands: Record<string, CommandHandler> = {
  insert,
  update,
  delete: deleteCommand,
  findAndModify,
  findandmodify: findAndModify,
  find,
  getMore,
  killCursors,
  count,
  aggregate,
  distinct,
};
