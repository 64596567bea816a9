/**
 * `PATCH /items/{id}`: sets the fields sent; 200 with the updated item, 404 when there is none.
 */
import { notFound } from '../lib/http-error.js';
import { parseJsonObject } from '../lib/json-body.js';
import { parseObjectId } from '../lib/object-id.js';
import { json } from '../lib/responses.js';
import { parseItemPatch, toItemView } from './item.js';
import { itemsOf, type ItemsRoute } from './route.js';

export const updateItem: ItemsRoute = async (event, mongo) => {
  const id = parseObjectId(event.pathParameters?.id);
  const patch = parseItemPatch(parseJsonObject(event));
  const doc = await itemsOf(mongo).findOneAndUpdate(
    { _id: id },
    { $set: { ...patch, updatedAt: new Date() } },
    { session: mongo.session, returnDocument: 'after' },
  );
  if (!doc) throw notFound(`No item ${id.toHexString()}`, 'id');
  return json(200, toItemView(doc));
};
