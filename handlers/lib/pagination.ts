/**
 * Cursor pagination for list endpoints: `?limit=20&cursor=<opaque>`. The cursor is the last returned `_id`
 * (base64url of its 12 bytes), so a page is an index range scan on `_id`, stable while documents are
 * inserted, unlike `skip`.
 */
import { ObjectId } from 'mongodb';
import { validationFailed } from './http-error.js';

/** Page size bounds. */
export const PAGE_LIMITS = { default: 20, max: 100 } as const;

/** A parsed page request. */
export interface PageRequest {
  limit: number;
  /** Return documents whose `_id` is greater than this. */
  after: ObjectId | undefined;
}

/**
 * Reads `limit` and `cursor` from the query string.
 * @throws {HttpError} 400 `VALIDATION_FAILED` naming `limit` or `cursor`
 */
export function parsePageRequest(query: Record<string, string | undefined> | undefined): PageRequest {
  const rawLimit = query?.limit;
  let limit: number = PAGE_LIMITS.default;
  if (rawLimit !== undefined) {
    limit = /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
    if (!(limit >= 1 && limit <= PAGE_LIMITS.max)) throw validationFailed('limit', `must be an integer from 1 to ${PAGE_LIMITS.max}`);
  }
  const rawCursor = query?.cursor;
  return { limit, after: rawCursor === undefined ? undefined : decodeCursor(rawCursor) };
}

/** The cursor that continues after `id`. */
export function encodeCursor(id: ObjectId): string {
  return Buffer.from(id.id).toString('base64url');
}

function decodeCursor(cursor: string): ObjectId {
  const bytes = /^[\w-]{16}$/.test(cursor) ? Buffer.from(cursor, 'base64url') : undefined;
  if (bytes?.length !== 12) throw validationFailed('cursor', 'is not a cursor returned by this endpoint');
  return new ObjectId(bytes);
}
