/**
 * `POST /items`: creates an item; 201 with the item and its `location`.
 */
import { ObjectId } from 'mongodb';
import { parseJsonObject } from '../lib/json-body.js';
import { json } from '../lib/responses.js';
import { parseNewItem, toItemView, type ItemDocument } from './item.js';
import { itemsOf, type ItemsRoute } from './route.js';

export const createItem: ItemsRoute = async (event, mongo) => {
  const item = parseNewItem(parseJsonObject(event));
  const now = new Date();
  const doc: ItemDocument = { _id: new ObjectId(), ...item, createdAt: now, updatedAt: now };
  await itemsOf(mongo).insertOne(doc, { session: mongo.session });
  return json(201, toItemView(doc), { location: `/items/${doc._id.toHexString()}` });
};
