/**
 * `GET /items/{id}`: 200 with the item, 404 when there is none.
 */
import { notFound } from '../lib/http-error.js';
import { parseObjectId } from '../lib/object-id.js';
import { json } from '../lib/responses.js';
import { toItemView } from './item.js';
import { itemsOf, type ItemsRoute } from './route.js';

export const getItem: ItemsRoute = async (event, mongo) => {
  const id = parseObjectId(event.pathParameters?.id);
  const doc = await itemsOf(mongo).findOne({ _id: id }, { session: mongo.session, signal: mongo.signal });
  if (!doc) throw notFound(`No item ${id.toHexString()}`, 'id');
  return json(200, toItemView(doc));
};
