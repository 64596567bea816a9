// A Worker with MongoDB over TCP (nodejs_compat): a client per request with withMongo, and a Durable Object
// that keeps one client warm for the routes under /cached/.
//
//   wrangler secret put MONGODB_URI      # mongodb+srv://user:password@cluster.example.mongodb.net/
//   wrangler deploy
import { DurableObject } from 'cloudflare:workers';
import { createDurableObjectMongo, withMongo } from 'serverless-mongodb/cloudflare';

interface Env {
  MONGODB_URI: string;
  MONGODB_DB_NAME: string;
  ITEMS_STORE: DurableObjectNamespace<ItemsStore>;
}

interface Item {
  sku: string;
  name: string;
}

/** Reuses one client for every request routed to it (one instance here: idFromName('default')). */
export class ItemsStore extends DurableObject<Env> {
  readonly #mongo = createDurableObjectMongo();

  async list(): Promise<Item[]> {
    const { db } = await this.#mongo.get(this.env);
    return db.collection<Item>('items').find({}, { projection: { _id: 0 }, sort: { sku: 1 }, limit: 100 }).toArray();
  }

  async add(item: Item): Promise<void> {
    const { db } = await this.#mongo.get(this.env);
    await db.collection<Item>('items').insertOne({ sku: item.sku, name: item.name });
  }
}

// A client of its own per request, closed through ctx.waitUntil after the response.
const perRequest = withMongo<Env>(async (request, _env, _ctx, { db }) => {
  const items = db.collection<Item>('items');
  if (request.method === 'POST') {
    const { sku, name } = await request.json<Item>();
    await items.insertOne({ sku, name });
    return Response.json({ sku }, { status: 201 });
  }
  return Response.json(await items.find({}, { projection: { _id: 0 }, sort: { sku: 1 }, limit: 100 }).toArray());
});

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === '/items') return perRequest(request, env, ctx);
    if (pathname === '/cached/items') {
      const store = env.ITEMS_STORE.get(env.ITEMS_STORE.idFromName('default'));
      if (request.method === 'POST') {
        await store.add(await request.json<Item>());
        return new Response(null, { status: 201 });
      }
      return Response.json(await store.list());
    }
    return new Response('Not found', { status: 404 });
  },
} satisfies ExportedHandler<Env>;
