/**
 * `GET /items?limit=20&cursor=...`: a page of items in creation order, and the cursor of the next page
 * (`null` on the last one).
 */
import { encodeCursor, parsePageRequest } from '../lib/pagination.js';
import { json } from '../lib/responses.js';
import { toItemView } from './item.js';
import { itemsOf, type ItemsRoute } from './route.js';

export const listItems: ItemsRoute = async (event, mongo) => {
  const { limit, after } = parsePageRequest(event.queryStringParameters);
  // One more than asked tells whether there is a next page without a count.
  const docs = await itemsOf(mongo)
    .find(after ? { _id: { $gt: after } } : {}, { session: mongo.session, signal: mongo.signal, sort: { _id: 1 }, limit: limit + 1 })
    .toArray();
  const page = docs.slice(0, limit);
  const last = page.at(-1);
  return json(200, { items: page.map(toItemView), nextCursor: docs.length > limit && last ? encodeCursor(last._id) : null });
};
