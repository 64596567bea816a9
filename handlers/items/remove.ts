/**
 * `DELETE /items/{id}`: 204, or 404 when there is no such item.
 */
import { notFound } from '../lib/http-error.js';
import { parseObjectId } from '../lib/object-id.js';
import { noContent } from '../lib/responses.js';
import { itemsOf, type ItemsRoute } from './route.js';

export const removeItem: ItemsRoute = async (event, mongo) => {
  const id = parseObjectId(event.pathParameters?.id);
  const { deletedCount } = await itemsOf(mongo).deleteOne({ _id: id }, { session: mongo.session });
  if (deletedCount === 0) throw notFound(`No item ${id.toHexString()}`, 'id');
  return noContent();
};
