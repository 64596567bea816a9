// serverless-mongodb/http, the fetch client, from Node and from inside workerd (Miniflare), against the handler
// running under the Lambda runtime (emulator) behind a local Function URL.
import { readFile } from 'node:fs/promises';
import { Miniflare } from 'miniflare';
import { Decimal128, Long, ObjectId } from 'bson';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/shared/errors.js';
import { createHttpClient, isMongoHttpError, MongoHttpError } from '../src/http.js';
import { buildWorker } from './fixtures/edge/build-worker.js';
import { startFunctionUrl, type FunctionUrl } from './support/function-url.js';
import { startLambdaContainer, stopAllLambdaContainers } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const SECRET = 'client-test-secret-0123456789abcdefghij';

describe('HTTP client against the handler under the Lambda runtime', () => {
  let server: WireServer;
  let url: FunctionUrl;
  let driver: MongoClient;

  beforeAll(async () => {
    server = await startWireServer();
    const fn = await startLambdaContainer({ entry: 'test/fixtures/edge/http-handler.ts', env: { MONGODB_URI: server.uri, MONGODB_HTTP_SECRET: SECRET } });
    url = await startFunctionUrl((event) => fn.invoke(event));
    driver = new MongoClient(server.uri, { serverSelectionTimeoutMS: 2_000 });
  });
  beforeEach(() => {
    server.dropAll();
  });
  afterAll(async () => {
    await driver?.close();
    await url?.stop();
    await stopAllLambdaContainers();
    await server?.stop();
  });

  describe('from Node', () => {
    it('runs the ten operations with the driver’s names and result shapes', async () => {
      // Prepare
      const items = createHttpClient({ url: url.url, secret: SECRET }).db('shop').collection<{ sku: string; qty: number }>('items');

      // Act
      const insertedOne = await items.insertOne({ sku: 'a', qty: 1 });
      const insertedMany = await items.insertMany([{ sku: 'b', qty: 2 }, { sku: 'c', qty: 3 }]);
      const updatedOne = await items.updateOne({ sku: 'a' }, { $set: { qty: 10 } });
      const upserted = await items.updateOne({ sku: 'd' }, { $set: { qty: 4 } }, { upsert: true });
      const updatedMany = await items.updateMany({ qty: { $lt: 5 } }, { $inc: { qty: 100 } });
      const found = await items.find({ qty: { $gt: 100 } }, { sort: { sku: -1 }, projection: { _id: 0 }, limit: 2 }).toArray();
      const iterated: string[] = [];
      for await (const item of items.find({}, { sort: { sku: 1 } })) iterated.push(item.sku);
      const one = await items.findOne({ sku: 'a' }, { projection: { _id: 0 } });
      const none = await items.findOne({ sku: 'zzz' });
      const counted = await items.countDocuments({ qty: { $gte: 100 } });
      const grouped = await items.aggregate<{ _id: null; total: number }>([{ $group: { _id: null, total: { $sum: '$qty' } } }]).toArray();
      const deletedOne = await items.deleteOne({ sku: 'a' });
      const deletedMany = await items.deleteMany({});

      // Assess
      expect(insertedOne).toEqual({ acknowledged: true, insertedId: expect.any(ObjectId) });
      expect(insertedMany).toEqual({ acknowledged: true, insertedCount: 2, insertedIds: { 0: expect.any(ObjectId), 1: expect.any(ObjectId) } });
      expect(updatedOne).toEqual({ acknowledged: true, matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
      expect(upserted).toMatchObject({ matchedCount: 0, upsertedCount: 1, upsertedId: expect.any(ObjectId) });
      expect(updatedMany).toMatchObject({ matchedCount: 3, modifiedCount: 3 });
      expect(found).toEqual([{ sku: 'd', qty: 104 }, { sku: 'c', qty: 103 }]);
      expect(iterated).toEqual(['a', 'b', 'c', 'd']);
      expect(one).toEqual({ sku: 'a', qty: 10 });
      expect(none).toBeNull();
      expect(counted).toBe(3);
      expect(grouped).toEqual([{ _id: null, total: 10 + 102 + 103 + 104 }]);
      expect(deletedOne).toEqual({ acknowledged: true, deletedCount: 1 });
      expect(deletedMany).toEqual({ acknowledged: true, deletedCount: 3 });
    });

    it('reads documents exactly as the driver does, BSON types included', async () => {
      // Prepare
      const document = {
        _id: new ObjectId(),
        int: 7,
        double: 2.5,
        long: Long.fromString('9007199254740993'),
        decimal: Decimal128.fromString('12.345'),
        at: new Date('2026-02-03T04:05:06.789Z'),
        nested: { list: [1, 'two', { three: 3 }], nothing: null },
      };
      await driver.db('shop').collection('items').insertOne(document);
      const client = createHttpClient({ url: url.url, secret: SECRET });

      // Act
      const viaHttp = await client.db('shop').collection('items').findOne({ _id: document._id });
      const viaDriver = await driver.db('shop').collection('items').findOne({ _id: document._id });

      // Assess
      expect(viaHttp).toEqual(viaDriver);
      expect(viaHttp?.at).toBeInstanceOf(Date);
      // bson's ESM copy (the client's) and CommonJS copy (the driver's) are different classes: compare by type tag
      expect(viaHttp?.decimal).toMatchObject({ _bsontype: 'Decimal128' });
      expect(viaHttp?.long).toMatchObject({ _bsontype: 'Long' });
      expect(String(viaHttp?.long)).toBe('9007199254740993');
      expect(viaHttp?.int).toBe(7);
    });

    it('sends the types it is given as canonical Extended JSON, and they reach MongoDB as such', async () => {
      // Prepare
      const items = createHttpClient({ url: url.url, secret: SECRET }).db('shop').collection('items');
      const reference = new ObjectId();

      // Act
      await items.insertOne({ sku: 'typed', at: new Date(0), ref: reference, big: Long.fromNumber(5), ratio: 1.5, count: 3 });

      // Assess
      const sent = JSON.parse(String(url.events.at(-1)?.body)) as { document: Record<string, unknown> };
      expect(sent.document).toMatchObject({
        at: { $date: { $numberLong: '0' } },
        ref: { $oid: reference.toHexString() },
        big: { $numberLong: '5' },
        ratio: { $numberDouble: '1.5' },
        count: { $numberInt: '3' },
      });
      // (the wire test server stores values promoted, so a Long that fits a number comes back as one)
      const stored = await driver.db('shop').collection('items').findOne({ sku: 'typed' }, { promoteValues: false });
      expect(stored?.at).toEqual(new Date(0));
      expect(stored?.ref).toMatchObject({ _bsontype: 'ObjectId' });
      expect(String(stored?.ref)).toBe(reference.toHexString());
      expect(stored?.ratio).toMatchObject({ _bsontype: 'Double' });
      expect(stored?.count).toMatchObject({ _bsontype: 'Int32' });
    });

    it('makes _id on the client, so a retried insert meets a duplicate key (409) instead of inserting twice', async () => {
      // Prepare
      const items = createHttpClient({ url: url.url, secret: SECRET }).db('shop').collection('items');
      const { insertedId } = await items.insertOne({ sku: 'once' });

      // Act
      const retry = await items.insertOne({ _id: insertedId, sku: 'once' }).catch((error: unknown) => error);

      // Assess
      expect(retry).toBeInstanceOf(MongoHttpError);
      expect(retry).toMatchObject({ name: 'MongoHttpError', status: 409, code: 'DUPLICATE_KEY', mongoCode: 11000 });
      expect(server.documents('shop', 'items')).toHaveLength(1);
    });

    it('throws MongoHttpError with the status and code of a refusal', async () => {
      // Prepare
      const client = createHttpClient({ url: url.url, secret: SECRET });
      const wrong = createHttpClient({ url: url.url, secret: 'x'.repeat(40) });

      // Act
      const notAllowed = await client.db('shop').collection('users').findOne().catch((error: unknown) => error);
      const badSecret = await wrong.db('shop').collection('items').findOne().catch((error: unknown) => error);
      const forbidden = await client.db('shop').collection('items').aggregate([{ $out: 'orders' }]).toArray().catch((error: unknown) => error);

      // Assess
      expect(notAllowed).toMatchObject({ status: 403, code: 'NOT_ALLOWED' });
      expect(badSecret).toMatchObject({ status: 401, code: 'BAD_SIGNATURE' });
      expect(forbidden).toMatchObject({ status: 403, code: 'NOT_ALLOWED' });
      expect(isMongoHttpError(badSecret)).toBe(true);
    });

    it('reports an unreachable endpoint and its own timeout as NETWORK errors', async () => {
      // Prepare
      const closed = await startFunctionUrl(async () => ({ ok: true }));
      await closed.stop();
      const silent = await startFunctionUrl(() => new Promise(() => undefined));
      const unreachable = createHttpClient({ url: closed.url, secret: SECRET });
      const slow = createHttpClient({ url: silent.url, secret: SECRET, timeoutMs: 300 });

      // Act
      const refused = await unreachable.db('shop').collection('items').findOne().catch((error: unknown) => error);
      const timedOut = await slow.db('shop').collection('items').findOne().catch((error: unknown) => error);
      await silent.stop();

      // Assess
      expect(refused).toMatchObject({ status: 0, code: 'NETWORK' });
      expect(timedOut).toMatchObject({ status: 0, code: 'NETWORK', message: expect.stringContaining('300 ms') });
    });
  });

  describe('from inside workerd', () => {
    let worker: Miniflare;
    let bundle: string;

    beforeAll(async () => {
      bundle = await buildWorker('test/fixtures/edge/http-client-worker.ts');
      worker = new Miniflare({
        modules: true,
        scriptPath: bundle,
        compatibilityDate: '2026-04-01',
        // no nodejs_compat: the client needs nothing but fetch and Web Crypto
        cf: false,
        bindings: { HTTP_URL: url.url, HTTP_SECRET: SECRET },
      });
      await worker.ready;
    });
    afterAll(async () => {
      await worker?.dispose();
    });

    it('runs operations through the handler with fetch and Web Crypto', async () => {
      // Act
      const response = await worker.dispatchFetch('http://worker/round-trip');

      // Assess
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        insertedCount: 2,
        insertedIdIsObjectId: true,
        matchedCount: 1,
        found: [
          { sku: 'w1', qty: 11, at: '2026-01-01T00:00:00.000Z' },
          { sku: 'w2', qty: 2 },
          { sku: 'w3', qty: 3 },
        ],
        firstAtIsDate: true,
        counted: 3,
        total: 16,
        deletedCount: 2,
      });
      expect(server.documents('shop', 'items')).toMatchObject([{ sku: 'w1', qty: 11 }]);
    });

    it('gets the handler’s refusals as MongoHttpError', async () => {
      // Act
      const notAllowed = await (await worker.dispatchFetch('http://worker/not-allowed')).json();
      const wrongSecret = await (await worker.dispatchFetch('http://worker/wrong-secret')).json();

      // Assess
      expect(notAllowed).toEqual({ name: 'MongoHttpError', status: 403, code: 'NOT_ALLOWED' });
      expect(wrongSecret).toEqual({ name: 'MongoHttpError', status: 401, code: 'BAD_SIGNATURE' });
    });

    it('does not bundle the mongodb driver', async () => {
      // Act
      const code = await readFile(bundle, 'utf8');

      // Assess
      expect(code).not.toContain('node_modules/mongodb/');
      expect(code).not.toMatch(/from ['"]node:/);
    });
  });
});

describe('createHttpClient options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown key', { url: 'https://fn.example', secret: SECRET, timeout: 5 }, 'timeout'],
    ['no url', { secret: SECRET }, 'url'],
    ['plain http to a remote host', { url: 'http://fn.example', secret: SECRET }, 'url'],
    ['a url with a query', { url: 'https://fn.example/?a=1', secret: SECRET }, 'url'],
    ['no secret', { url: 'https://fn.example' }, 'secret'],
    ['a short secret', { url: 'https://fn.example', secret: 'short' }, 'secret'],
    ["aws-iam without a signing fetch", { url: 'https://fn.example', auth: 'aws-iam' }, 'fetch'],
  ])('refuses %s with a ConfigurationError naming it', (_what, options, option) => {
    // Act
    const create = () => createHttpClient(options as never);

    // Assess
    expect(create).toThrow(ConfigurationError);
    expect(create).toThrow(expect.objectContaining({ option }));
  });

  it("with auth: 'aws-iam' sends unsigned requests through the given fetch (which signs with SigV4)", async () => {
    // Prepare
    const seen: Array<{ url: string; headers: Record<string, string> }> = [];
    const signingFetch = async (input: string | URL | Request, init?: RequestInit) => {
      seen.push({ url: String(input), headers: init?.headers as Record<string, string> });
      return new Response(JSON.stringify({ document: null }), { status: 200 });
    };
    const client = createHttpClient({ url: 'https://abc.lambda-url.eu-west-1.on.aws/', auth: 'aws-iam', fetch: signingFetch });

    // Act
    const found = await client.db('shop').collection('items').findOne({ sku: 'a' });

    // Assess
    expect(found).toBeNull();
    expect(seen).toEqual([{ url: 'https://abc.lambda-url.eu-west-1.on.aws/shop/items/findOne', headers: { 'content-type': 'application/json', accept: 'application/json' } }]);
  });
});
