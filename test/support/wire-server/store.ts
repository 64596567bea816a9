/**
 * In-memory data: committed collections plus per-transaction overlays.
 *
 * Documents stored here are never mutated in place: every write stores a new
 * object. That makes it safe for cursors to keep references to result
 * documents and for overlays to share unchanged documents with the committed store.
 *
 * A transaction overlay records per-document changes (new version or deletion)
 * keyed by namespace and _id. Reads inside the transaction see committed data
 * with the overlay applied; commit applies every change at once (after checking
 * unique indexes against the then-current committed state).
 */
import { Query } from 'mingo';
import { EJSON, type Document } from 'bson';
import { CommandError } from './errors.js';
import { getPath, valueKey } from './values.js';

export interface IndexSpec {
  v: 2;
  name: string;
  key: Document;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Document;
}

const ID_INDEX: IndexSpec = { v: 2, name: '_id_', key: { _id: 1 } };

export function idKeyOf(doc: Document): string {
  return valueKey(doc._id);
}

export function splitNamespace(ns: string): [db: string, coll: string] {
  const dot = ns.indexOf('.');
  return dot < 0 ? [ns, ''] : [ns.slice(0, dot), ns.slice(dot + 1)];
}

function duplicateKeyError(ns: string, index: IndexSpec, doc: Document): CommandError {
  const keyValue: Document = {};
  for (const field of Object.keys(index.key)) keyValue[field] = getPath(doc, field) ?? null;
  const shown = Object.entries(keyValue)
    .map(([k, v]) => `${k}: ${EJSON.stringify(v as Document, { relaxed: true })}`)
    .join(', ');
  return new CommandError(11000, `E11000 duplicate key error collection: ${ns} index: ${index.name} dup key: { ${shown} }`, {
    extra: { keyPattern: { ...index.key }, keyValue },
  });
}

/** One committed collection with its unique-index lookup tables. */
export class Collection {
  readonly docs = new Map<string, Document>();
  indexes: IndexSpec[] = [ID_INDEX];
  /** unique index name -> (index key -> _id key) */
  private readonly unique = new Map<string, Map<string, string>>();
  private readonly partialFilters = new Map<string, Query>();

  constructor(readonly ns: string) {}

  uniqueIndexes(): IndexSpec[] {
    return this.indexes.filter((ix) => ix.unique === true && ix.name !== '_id_');
  }

  /** The index key of a document, or undefined when the document is not in the index. */
  indexKey(ix: IndexSpec, doc: Document): string | undefined {
    const fields = Object.keys(ix.key);
    const values = fields.map((f) => getPath(doc, f));
    if (ix.sparse === true && values.every((v) => v === undefined)) return undefined;
    const partial = this.partialFilters.get(ix.name);
    if (partial !== undefined && !partial.test(doc)) return undefined;
    return valueKey(values.map((v) => v ?? null));
  }

  /** First unique index that `doc` (with _id key `id`) would violate; owners for which `ignore` is true don't count. */
  findConflict(doc: Document, id: string, ignore?: (ownerId: string) => boolean): IndexSpec | undefined {
    for (const ix of this.uniqueIndexes()) {
      const key = this.indexKey(ix, doc);
      if (key === undefined) continue;
      const owner = this.unique.get(ix.name)?.get(key);
      if (owner !== undefined && owner !== id && !(ignore?.(owner) ?? false)) return ix;
    }
    return undefined;
  }

  duplicateError(ix: IndexSpec, doc: Document): CommandError {
    return duplicateKeyError(this.ns, ix, doc);
  }

  /** Insert or replace without any checks (callers validate first). */
  putUnchecked(id: string, doc: Document): void {
    const old = this.docs.get(id);
    if (old !== undefined) this.unindex(id, old);
    this.docs.set(id, doc);
    for (const ix of this.uniqueIndexes()) {
      const key = this.indexKey(ix, doc);
      if (key !== undefined) this.unique.get(ix.name)?.set(key, id);
    }
  }

  removeUnchecked(id: string): void {
    const old = this.docs.get(id);
    if (old === undefined) return;
    this.unindex(id, old);
    this.docs.delete(id);
  }

  private unindex(id: string, doc: Document): void {
    for (const ix of this.uniqueIndexes()) {
      const key = this.indexKey(ix, doc);
      const map = this.unique.get(ix.name);
      if (key !== undefined && map?.get(key) === id) map.delete(key);
    }
  }

  /** Adds an index; a unique index over existing duplicates fails with E11000 and is not created. */
  addIndex(spec: IndexSpec): void {
    if (spec.unique === true) {
      const partial = spec.partialFilterExpression ? new Query(spec.partialFilterExpression, {}) : undefined;
      if (partial) this.partialFilters.set(spec.name, partial);
      const map = new Map<string, string>();
      for (const [id, doc] of this.docs) {
        const key = this.indexKey(spec, doc);
        if (key === undefined) continue;
        if (map.has(key)) {
          this.partialFilters.delete(spec.name);
          throw duplicateKeyError(this.ns, spec, doc);
        }
        map.set(key, id);
      }
      this.unique.set(spec.name, map);
    }
    this.indexes.push(spec);
  }

  dropIndex(name: string): boolean {
    const before = this.indexes.length;
    this.indexes = this.indexes.filter((ix) => ix.name === '_id_' || ix.name !== name);
    this.unique.delete(name);
    this.partialFilters.delete(name);
    return this.indexes.length !== before;
  }

  dropAllIndexes(): void {
    this.indexes = [ID_INDEX];
    this.unique.clear();
    this.partialFilters.clear();
  }
}

/** Pending changes of one transaction: ns -> (_id key -> new version, or null for deleted). */
export class TxnOverlay {
  readonly changes = new Map<string, Map<string, Document | null>>();

  forNs(ns: string): Map<string, Document | null> {
    let map = this.changes.get(ns);
    if (map === undefined) {
      map = new Map();
      this.changes.set(ns, map);
    }
    return map;
  }
}

/** What commands read and write through: either the committed store or a transaction overlay. */
export interface CollectionView {
  readonly ns: string;
  exists(): boolean;
  /** current documents in natural (insertion) order; the objects must not be mutated */
  docs(): Document[];
  get(id: string): Document | undefined;
  /** throws CommandError 11000 on duplicate _id / unique key */
  insert(doc: Document): void;
  /** replaces the document with _id key `id` (the new version keeps the same _id); throws on unique conflicts */
  replace(id: string, doc: Document): void;
  remove(id: string): void;
}

export class Store {
  private readonly collections = new Map<string, Collection>();

  get(ns: string): Collection | undefined {
    return this.collections.get(ns);
  }

  ensure(ns: string): Collection {
    let coll = this.collections.get(ns);
    if (coll === undefined) {
      coll = new Collection(ns);
      this.collections.set(ns, coll);
    }
    return coll;
  }

  create(ns: string): boolean {
    if (this.collections.has(ns)) return false;
    this.ensure(ns);
    return true;
  }

  drop(ns: string): Collection | undefined {
    const coll = this.collections.get(ns);
    this.collections.delete(ns);
    return coll;
  }

  dropDatabase(db: string): void {
    for (const ns of [...this.collections.keys()]) {
      if (splitNamespace(ns)[0] === db) this.collections.delete(ns);
    }
  }

  dropAll(): void {
    this.collections.clear();
  }

  namespaces(): string[] {
    return [...this.collections.keys()];
  }

  view(ns: string, overlay?: TxnOverlay): CollectionView {
    return overlay ? new OverlayView(this, overlay, ns) : new CommittedView(this, ns);
  }

  /**
   * Applies a transaction's changes atomically: validates unique indexes against
   * the current committed state first (throwing WriteConflict without applying
   * anything), then applies every change.
   */
  commit(overlay: TxnOverlay): void {
    for (const [ns, changes] of overlay.changes) {
      const coll = this.collections.get(ns);
      if (coll === undefined) continue;
      for (const [id, doc] of changes) {
        if (doc === null) continue;
        if (coll.findConflict(doc, id, (owner) => changes.has(owner)) !== undefined) {
          throw new CommandError(112, 'WriteConflict error: this operation conflicted with another operation.', {
            errorLabels: ['TransientTransactionError'],
          });
        }
      }
    }
    for (const [ns, changes] of overlay.changes) {
      const coll = this.ensure(ns);
      for (const [id, doc] of changes) {
        if (doc === null) coll.removeUnchecked(id);
        else coll.putUnchecked(id, doc);
      }
    }
  }
}

class CommittedView implements CollectionView {
  constructor(
    private readonly store: Store,
    readonly ns: string,
  ) {}

  exists(): boolean {
    return this.store.get(this.ns) !== undefined;
  }

  docs(): Document[] {
    const coll = this.store.get(this.ns);
    return coll ? [...coll.docs.values()] : [];
  }

  get(id: string): Document | undefined {
    return this.store.get(this.ns)?.docs.get(id);
  }

  insert(doc: Document): void {
    const coll = this.store.ensure(this.ns);
    const id = idKeyOf(doc);
    if (coll.docs.has(id)) throw coll.duplicateError(ID_INDEX, doc);
    const conflict = coll.findConflict(doc, id);
    if (conflict) throw coll.duplicateError(conflict, doc);
    coll.putUnchecked(id, doc);
  }

  replace(id: string, doc: Document): void {
    const coll = this.store.ensure(this.ns);
    const conflict = coll.findConflict(doc, id);
    if (conflict) throw coll.duplicateError(conflict, doc);
    coll.putUnchecked(id, doc);
  }

  remove(id: string): void {
    this.store.get(this.ns)?.removeUnchecked(id);
  }
}

class OverlayView implements CollectionView {
  private readonly changes: Map<string, Document | null>;

  constructor(
    private readonly store: Store,
    overlay: TxnOverlay,
    readonly ns: string,
  ) {
    this.changes = overlay.forNs(ns);
  }

  exists(): boolean {
    return this.store.get(this.ns) !== undefined || this.changes.size > 0;
  }

  docs(): Document[] {
    const committed = this.store.get(this.ns)?.docs;
    const out: Document[] = [];
    if (committed) {
      for (const [id, doc] of committed) {
        if (!this.changes.has(id)) out.push(doc);
        else {
          const changed = this.changes.get(id);
          if (changed) out.push(changed);
        }
      }
    }
    for (const [id, doc] of this.changes) {
      if (doc && !committed?.has(id)) out.push(doc);
    }
    return out;
  }

  get(id: string): Document | undefined {
    if (this.changes.has(id)) return this.changes.get(id) ?? undefined;
    return this.store.get(this.ns)?.docs.get(id);
  }

  insert(doc: Document): void {
    const id = idKeyOf(doc);
    const coll = this.store.get(this.ns) ?? new Collection(this.ns);
    if (this.get(id) !== undefined) throw coll.duplicateError(ID_INDEX, doc);
    this.checkUnique(coll, id, doc);
    this.changes.set(id, doc);
  }

  replace(id: string, doc: Document): void {
    const coll = this.store.get(this.ns) ?? new Collection(this.ns);
    this.checkUnique(coll, id, doc);
    this.changes.set(id, doc);
  }

  remove(id: string): void {
    this.changes.set(id, null);
  }

  private checkUnique(coll: Collection, id: string, doc: Document): void {
    // committed owners that the overlay changed or deleted no longer count
    const conflict = coll.findConflict(doc, id, (owner) => this.changes.has(owner));
    if (conflict) throw coll.duplicateError(conflict, doc);
    for (const ix of coll.uniqueIndexes()) {
      const key = coll.indexKey(ix, doc);
      if (key === undefined) continue;
      for (const [otherId, other] of this.changes) {
        if (other && otherId !== id && coll.indexKey(ix, other) === key) throw coll.duplicateError(ix, doc);
      }
    }
  }
}
