// A Vercel Function on the Node.js runtime (Fluid compute): the cached client, shared by the invocations an
// instance serves at once. On Vercel its pool is registered with attachDatabasePool, so the instance is not
// suspended while idle connections are still open (they close after maxIdleTimeMS, 5 s by default).
// Environment variables (Project Settings): MONGODB_URI, MONGODB_DB_NAME.
import { getMongoClient } from 'serverless-mongodb/vercel';

interface Item {
  sku: string;
  name: string;
}

export async function GET(): Promise<Response> {
  const client = await getMongoClient();
  const items = await client.db(process.env.MONGODB_DB_NAME).collection<Item>('items').find({}, { projection: { _id: 0 }, limit: 100 }).toArray();
  return Response.json(items);
}

export async function POST(request: Request): Promise<Response> {
  const { sku, name } = (await request.json()) as Item;
  const client = await getMongoClient();
  await client.db(process.env.MONGODB_DB_NAME).collection<Item>('items').insertOne({ sku, name });
  return Response.json({ sku }, { status: 201 });
}
