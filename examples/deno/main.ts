// MongoDB from Deno (Deno Deploy, `deno serve`, a container): the driver runs on Deno's Node compatibility
// (node:net), and since a Deno process or isolate serves many requests, the core's cached client is reused
// across them, as in a warm Lambda.
//
//   MONGODB_URI=mongodb+srv://... MONGODB_DB_NAME=shop deno task start
import { closeMongoClient, getMongoClient } from 'serverless-mongodb';

interface Item {
  sku: string;
  name: string;
}

const port = Number(Deno.env.get('PORT') ?? '8000');
const hostname = Deno.env.get('HOSTNAME') ?? '0.0.0.0';

// Start connecting while the server starts; the first request awaits the same connect.
getMongoClient().catch(() => undefined);

const server = Deno.serve({ port, hostname, onListen: ({ hostname, port }) => console.log(`Listening on http://${hostname}:${port}/`) }, async (request) => {
  const { pathname } = new URL(request.url);
  if (pathname !== '/items') return new Response('Not found', { status: 404 });
  const client = await getMongoClient(); // MONGODB_URI and MONGODB_DB_NAME from the environment
  const items = client.db(Deno.env.get('MONGODB_DB_NAME')).collection<Item>('items');
  if (request.method === 'POST') {
    const { sku, name } = (await request.json()) as Item;
    await items.insertOne({ sku, name });
    return Response.json({ sku }, { status: 201 });
  }
  return Response.json(await items.find({}, { projection: { _id: 0 }, sort: { sku: 1 }, limit: 100 }).toArray());
});

// On shutdown, end the server sessions and close the sockets before exiting.
Deno.addSignalListener('SIGTERM', async () => {
  await server.shutdown();
  await closeMongoClient();
  Deno.exit(0);
});
