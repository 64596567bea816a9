// Calling the handler from anywhere fetch and Web Crypto exist (Node 20+, Deno, Workers, Vercel Edge).
import { createHttpClient, isMongoHttpError } from 'serverless-mongodb/http';

const mongo = createHttpClient({ url: process.env.MONGODB_HTTP_URL!, secret: process.env.MONGODB_HTTP_SECRET! });
const items = mongo.db('shop').collection<{ sku: string; name: string; stock: number }>('items');

await items.insertOne({ sku: 'A1', name: 'anvil', stock: 3 });
await items.updateOne({ sku: 'A1' }, { $inc: { stock: -1 } });
console.log(await items.find({ stock: { $gt: 0 } }, { sort: { sku: 1 }, limit: 20 }).toArray());

try {
  await mongo.db('shop').collection('users').findOne({});
} catch (error) {
  if (isMongoHttpError(error)) console.log(error.status, error.code); // 403 NOT_ALLOWED
}
