/**
 * The item: its document, its JSON view, and the validation of what clients send.
 */
import type { ObjectId } from 'mongodb';
import { validationFailed } from '../lib/http-error.js';
import { optionalNumber, optionalStringArray, rejectUnknownFields, requiredString } from '../lib/validation.js';

/** The collection of the items service. */
export const ITEMS_COLLECTION = 'items';

/** Field limits: a body within them is far below the 16 KiB body limit. */
export const ITEM_LIMITS = { nameLength: 200, tags: 20, tagLength: 50, maxPrice: 1_000_000_000 } as const;

/** An item as stored. */
export interface ItemDocument {
  _id: ObjectId;
  name: string;
  price?: number;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** What a client may send to create an item. */
export interface NewItem {
  name: string;
  price?: number;
  tags: string[];
}

/** What a client may change. */
export type ItemPatch = Partial<NewItem>;

/** An item as the API returns it. */
export interface ItemView {
  id: string;
  name: string;
  price: number | null;
  tags: string[];
  createdAt: string;
  updatedAt: string;
}

const FIELDS = ['name', 'price', 'tags'] as const;

/** @throws {HttpError} 400 naming the first invalid field */
export function parseNewItem(body: Record<string, unknown>): NewItem {
  rejectUnknownFields(body, FIELDS);
  const item: NewItem = { name: requiredString(body, 'name', ITEM_LIMITS.nameLength), tags: [] };
  const price = optionalNumber(body, 'price', 0, ITEM_LIMITS.maxPrice);
  if (price !== undefined) item.price = price;
  item.tags = optionalStringArray(body, 'tags', ITEM_LIMITS.tags, ITEM_LIMITS.tagLength) ?? [];
  return item;
}

/** @throws {HttpError} 400 naming the first invalid field, or `body` when it changes nothing */
export function parseItemPatch(body: Record<string, unknown>): ItemPatch {
  rejectUnknownFields(body, FIELDS);
  const patch: ItemPatch = {};
  if (body.name !== undefined) patch.name = requiredString(body, 'name', ITEM_LIMITS.nameLength);
  const price = optionalNumber(body, 'price', 0, ITEM_LIMITS.maxPrice);
  if (price !== undefined) patch.price = price;
  const tags = optionalStringArray(body, 'tags', ITEM_LIMITS.tags, ITEM_LIMITS.tagLength);
  if (tags !== undefined) patch.tags = tags;
  if (Object.keys(patch).length === 0) throw validationFailed('body', `must set at least one of ${FIELDS.join(', ')}`);
  return patch;
}

/** The API's view of a stored item. */
export function toItemView(doc: ItemDocument): ItemView {
  return {
    id: doc._id.toHexString(),
    name: doc.name,
    price: doc.price ?? null,
    tags: doc.tags,
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
  };
}
