/**
 * Server-side cursors: a find/aggregate result is computed eagerly and handed
 * out in batches (firstBatch, then getMore nextBatch). Cursor ids go on the
 * wire as Int64 (`Long`).
 */
import { BSON, Long, type Document } from 'bson';
import { CommandError } from './errors.js';

const DEFAULT_FIRST_BATCH = 101;
/** Keep a reply under the 16MiB BSON limit (with room for the envelope). */
const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 64 * 1024;
/** Oldest cursors are dropped beyond this many (a crude stand-in for cursor timeouts). */
const MAX_OPEN_CURSORS = 10_000;

interface ServerCursor {
  id: number;
  ns: string;
  docs: Document[];
  pos: number;
}

export class CursorManager {
  private nextId = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
  private readonly cursors = new Map<number, ServerCursor>();

  /**
   * Creates the `cursor` field of a find/aggregate/listCollections reply.
   * `batchSize` undefined = default 101 (or everything when `defaultAll`).
   */
  open(ns: string, docs: Document[], opts: { batchSize?: number; singleBatch?: boolean; defaultAll?: boolean } = {}): Document {
    const limit = opts.batchSize ?? (opts.defaultAll === true ? Number.MAX_SAFE_INTEGER : DEFAULT_FIRST_BATCH);
    const firstBatch = takeBatch(docs, 0, limit);
    let id = 0;
    if (opts.singleBatch !== true && firstBatch.length < docs.length) {
      id = this.nextId++;
      this.cursors.set(id, { id, ns, docs, pos: firstBatch.length });
      if (this.cursors.size > MAX_OPEN_CURSORS) {
        const oldest = this.cursors.keys().next().value;
        if (oldest !== undefined) this.cursors.delete(oldest);
      }
    }
    return { firstBatch, id: Long.fromNumber(id), ns };
  }

  getMore(id: number, collection: string, db: string, batchSize: number | undefined): Document {
    const cursor = this.cursors.get(id);
    if (cursor === undefined) throw new CommandError(43, `cursor id ${id} not found`);
    const ns = `${db}.${collection}`;
    if (cursor.ns !== ns && !cursor.ns.startsWith(`${db}.$cmd`)) {
      throw new CommandError(13, `Requested getMore on namespace '${ns}', but cursor belongs to a different namespace ${cursor.ns}`);
    }
    const nextBatch = takeBatch(cursor.docs, cursor.pos, batchSize !== undefined && batchSize > 0 ? batchSize : Number.MAX_SAFE_INTEGER);
    cursor.pos += nextBatch.length;
    let replyId = id;
    if (cursor.pos >= cursor.docs.length) {
      this.cursors.delete(id);
      replyId = 0;
    }
    return { nextBatch, id: Long.fromNumber(replyId), ns: cursor.ns };
  }

  kill(ids: number[]): { killed: number[]; notFound: number[] } {
    const killed: number[] = [];
    const notFound: number[] = [];
    for (const id of ids) {
      if (this.cursors.delete(id)) killed.push(id);
      else notFound.push(id);
    }
    return { killed, notFound };
  }

  clear(): void {
    this.cursors.clear();
  }

  get size(): number {
    return this.cursors.size;
  }
}

function takeBatch(docs: Document[], start: number, count: number): Document[] {
  const batch: Document[] = [];
  let bytes = 0;
  for (let i = start; i < docs.length && batch.length < count; i++) {
    const doc = docs[i] as Document;
    const size = BSON.calculateObjectSize(doc, { ignoreUndefined: true });
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) break;
    bytes += size;
    batch.push(doc);
  }
  return batch;
}
