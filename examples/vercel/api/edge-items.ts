// A Vercel Function on the Edge runtime: no TCP sockets, so it goes through the HTTP way in (a Lambda Function
// URL running serverless-mongodb/http-handler, see examples/http). Environment variables: MONGODB_HTTP_URL,
// MONGODB_HTTP_SECRET (the same secret as the handler's).
import { createHttpClient } from 'serverless-mongodb/http';

export const config = { runtime: 'edge' };

const mongo = createHttpClient({ url: process.env.MONGODB_HTTP_URL!, secret: process.env.MONGODB_HTTP_SECRET! });

export default async function handler(request: Request): Promise<Response> {
  const sku = new URL(request.url).searchParams.get('sku');
  const items = mongo.db('shop').collection<{ sku: string; name: string }>('items');
  if (sku) return Response.json(await items.findOne({ sku }, { projection: { _id: 0 } }));
  return Response.json(await items.find({}, { projection: { _id: 0 }, limit: 20 }).toArray());
}
