// The HTTP way in (serverless-mongodb/http-handler) under the real Lambda runtime (Node 22 RIC in the emulator),
// behind a local Function URL. Every refused request is checked against what the MongoDB server saw: nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/shared/errors.js';
import { createHttpHandler } from '../src/http-handler.js';
import { signRequest } from '../src/http/protocol/signing.js';
import { startFunctionUrl, type FunctionUrl } from './support/function-url.js';
import { startLambdaContainer, stopAllLambdaContainers, type LambdaContainer } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const FIXTURE = 'test/fixtures/edge/http-handler.ts';
const IAM_FIXTURE = 'test/fixtures/edge/http-handler-iam.ts';
const SECRET = 'test-secret-0123456789abcdef-0123456789';

interface SendOptions {
  secret?: string;
  nowMs?: number;
  method?: string;
  unsigned?: boolean;
  /** Change the body after signing. */
  tamper?: (body: string) => string;
  /** Send these exact headers (e.g. those of an earlier request: a replay). */
  headers?: Record<string, string>;
}

interface RefusalCase {
  what: string;
  path: string;
  body: string;
  options: SendOptions;
  status: number;
  code: string;
}

function refusal(what: string, path: string, body: string, options: SendOptions, status: number, code: string): RefusalCase {
  return { what, path, body, options, status, code };
}

interface Sent {
  status: number;
  headers: Headers;
  body: { error?: { code: string; message: string }; [key: string]: unknown };
  signature: Record<string, string>;
}

async function send(url: FunctionUrl, path: string, body: string, options: SendOptions = {}): Promise<Sent> {
  const method = options.method ?? 'POST';
  const signature = options.headers ?? (options.unsigned ? {} : await signRequest({ method, pathWithQuery: path, body }, options.secret ?? SECRET, { nowMs: options.nowMs ?? Date.now() }));
  const sentBody = options.tamper ? options.tamper(body) : body;
  const response = await fetch(`${url.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...signature },
    ...(method === 'GET' ? {} : { body: sentBody }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : (JSON.parse(text) as Sent['body']), signature };
}

describe('HTTP handler under the Lambda runtime', () => {
  let server: WireServer;
  let fn: LambdaContainer;
  let url: FunctionUrl;

  beforeAll(async () => {
    server = await startWireServer();
    fn = await startLambdaContainer({ entry: FIXTURE, env: { MONGODB_URI: server.uri, MONGODB_HTTP_SECRET: SECRET, POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
    url = await startFunctionUrl((event) => fn.invoke(event));
  });
  afterAll(async () => {
    await url?.stop();
    await stopAllLambdaContainers();
    await server?.stop();
  });

  describe('refuses before any database work', () => {
    // These run first, in a container that has not served a valid request: the server must not even see a connection.
    const valid = JSON.stringify({ filter: { sku: 'A1' } });

    it.each<RefusalCase>([
      refusal('unsigned', '/shop/items/find', valid, { unsigned: true }, 401, 'UNSIGNED'),
      refusal('signed with another secret', '/shop/items/find', valid, { secret: 'another-secret-0123456789abcdef-012345' }, 401, 'BAD_SIGNATURE'),
      refusal('with a body changed after signing', '/shop/items/deleteMany', valid, { tamper: () => JSON.stringify({ filter: {} }) }, 401, 'BAD_SIGNATURE'),
      refusal('signed 6 minutes ago', '/shop/items/find', valid, { nowMs: Date.now() - 6 * 60_000 }, 401, 'EXPIRED'),
      refusal('signed 6 minutes ahead', '/shop/items/find', valid, { nowMs: Date.now() + 6 * 60_000 }, 401, 'EXPIRED'),
      refusal('with a half signature', '/shop/items/find', valid, { headers: { 'x-smdb-timestamp': String(Math.floor(Date.now() / 1000)) } }, 401, 'MALFORMED_SIGNATURE'),
      refusal('larger than maxBodyBytes', '/shop/items/insertOne', JSON.stringify({ document: { blob: 'x'.repeat(17 * 1024) } }), {}, 413, 'BODY_TOO_LARGE'),
      refusal('for a database not in the allow-list', '/admin/system.users/find', '{}', {}, 403, 'NOT_ALLOWED'),
      refusal('for a collection not in the allow-list', '/shop/users/find', '{}', {}, 403, 'NOT_ALLOWED'),
      refusal('for an operation not in the list', '/shop/items/drop', '{}', {}, 403, 'NOT_ALLOWED'),
      refusal('for findOneAndDelete (not offered)', '/shop/items/findOneAndDelete', valid, {}, 403, 'NOT_ALLOWED'),
      refusal('with $lookup into a collection not in the allow-list', '/shop/items/aggregate', JSON.stringify({ pipeline: [{ $lookup: { from: 'users', localField: 'u', foreignField: '_id', as: 'u' } }] }), {}, 403, 'NOT_ALLOWED'),
      refusal('with $unionWith inside $facet into another collection', '/shop/items/aggregate', JSON.stringify({ pipeline: [{ $facet: { a: [{ $unionWith: { coll: 'secrets' } }] } }] }), {}, 403, 'NOT_ALLOWED'),
      refusal('with $out', '/shop/items/aggregate', JSON.stringify({ pipeline: [{ $match: {} }, { $out: 'orders' }] }), {}, 403, 'NOT_ALLOWED'),
      refusal('with $merge', '/shop/items/aggregate', JSON.stringify({ pipeline: [{ $merge: { into: 'items' } }] }), {}, 403, 'NOT_ALLOWED'),
      refusal('with $where in a filter', '/shop/items/find', JSON.stringify({ filter: { $where: 'sleep(100) || true' } }), {}, 403, 'NOT_ALLOWED'),
      refusal('with $function deep in an update pipeline', '/shop/items/updateOne', JSON.stringify({ filter: {}, update: [{ $set: { a: { $function: { body: 'return 1', args: [], lang: 'js' } } } }] }), {}, 403, 'NOT_ALLOWED'),
      refusal('with a body that is not JSON', '/shop/items/find', '{"filter": ', {}, 400, 'BAD_REQUEST'),
      refusal('with invalid Extended JSON', '/shop/items/find', JSON.stringify({ filter: { _id: { $oid: 'not-an-object-id' } } }), {}, 400, 'BAD_REQUEST'),
      refusal('with an unknown argument', '/shop/items/find', JSON.stringify({ query: {} }), {}, 400, 'BAD_REQUEST'),
      refusal('with an option the handler does not pass on', '/shop/items/insertOne', JSON.stringify({ document: {}, options: { bypassDocumentValidation: true } }), {}, 400, 'BAD_REQUEST'),
      refusal('with a sort array the driver cannot parse (found by the fuzz test: the driver threw a TypeError)', '/shop/items/findOne', JSON.stringify({ options: { sort: [[], -588592786, false] } }), {}, 400, 'BAD_REQUEST'),
      refusal('with a sort direction that is not 1, -1, a word or $meta', '/shop/items/find', JSON.stringify({ options: { sort: { sku: 2 } } }), {}, 400, 'BAD_REQUEST'),
      refusal('with a sort that is a number', '/shop/items/updateOne', JSON.stringify({ filter: {}, update: { $set: { a: 1 } }, options: { sort: 1 } }), {}, 400, 'BAD_REQUEST'),
      refusal('with a limit above maxDocuments', '/shop/items/find', JSON.stringify({ options: { limit: 21 } }), {}, 400, 'RESULT_TOO_LARGE'),
      refusal('without the update of updateOne', '/shop/items/updateOne', JSON.stringify({ filter: {} }), {}, 400, 'BAD_REQUEST'),
      refusal('on a path of another shape', '/shop/items', '{}', {}, 404, 'NOT_FOUND'),
      refusal('with GET', '/shop/items/find', '', { method: 'GET' }, 405, 'METHOD_NOT_ALLOWED'),
    ])('$what: $status $code', async ({ path, body, options, status, code }) => {
      // Prepare
      server.clearRecords();

      // Act
      const response = await send(url, path, body, options);

      // Assess
      expect(response.status).toBe(status);
      expect(response.body.error).toMatchObject({ code, message: expect.any(String) });
      expect(server.commands).toEqual([]);
      expect(server.connections).toEqual([]);
    });

    it('says which scheme to use in WWW-Authenticate, and why in the logs', async () => {
      // Act
      const response = await send(url, '/shop/items/find', '{}', { unsigned: true });

      // Assess
      expect(response.headers.get('www-authenticate')).toBe('SMDB1-HMAC-SHA256');
      const refused = fn.events('http.rejected');
      expect(refused.length).toBeGreaterThan(20);
      expect(refused.at(-1)).toMatchObject({ level: 'WARN', mongodb: { status: 401, code: 'UNSIGNED' } });
      expect(fn.logs.join('\n')).not.toContain(SECRET);
    });
  });

  describe('runs admitted requests', () => {
    it('answers in canonical Extended JSON, keeping the BSON types', async () => {
      // Prepare
      server.dropAll();
      const document = { $oid: '65a1b2c3d4e5f60718293a4b' };
      const body = JSON.stringify({ document: { _id: document, sku: 'A1', qty: { $numberInt: '3' }, price: { $numberDouble: '2.5' }, big: { $numberLong: '9007199254740993' }, at: { $date: { $numberLong: '1700000000000' } } } });

      // Act
      const inserted = await send(url, '/shop/items/insertOne', body);
      const found = await send(url, '/shop/items/findOne', JSON.stringify({ filter: { sku: 'A1' } }));

      // Assess
      expect(inserted).toMatchObject({ status: 200, body: { acknowledged: true, insertedId: document } });
      expect(found.status).toBe(200);
      expect(found.body.document).toEqual({
        _id: document,
        sku: 'A1',
        qty: { $numberInt: '3' },
        price: { $numberDouble: '2.5' },
        big: { $numberLong: '9007199254740993' },
        at: { $date: { $numberLong: '1700000000000' } },
      });
      expect(server.commandsNamed('insert')).toHaveLength(1);
    });

    it('passes every sort form the driver takes to the server as one ordered sort document', async () => {
      // Prepare
      server.dropAll();
      await send(url, '/shop/items/insertMany', JSON.stringify({ documents: [{ sku: 'B', qty: 1 }, { sku: 'A', qty: 1 }, { sku: 'C', qty: 2 }] }));
      server.clearRecords();

      // Act
      const forms = [{ qty: -1, sku: 1 }, [['qty', 'desc'], 'sku'], [['qty', { $numberInt: '-1' }], ['sku', 1]]];
      const answers = [];
      for (const sort of forms) answers.push(await send(url, '/shop/items/find', JSON.stringify({ options: { sort, projection: { _id: 0, sku: 1 } } })));
      const single = await send(url, '/shop/items/find', JSON.stringify({ options: { sort: ['sku', -1], projection: { _id: 0, sku: 1 } } }));

      // Assess
      for (const answer of answers) expect(answer).toMatchObject({ status: 200, body: { documents: [{ sku: 'C' }, { sku: 'A' }, { sku: 'B' }] } });
      expect(single).toMatchObject({ status: 200, body: { documents: [{ sku: 'C' }, { sku: 'B' }, { sku: 'A' }] } });
      const sorts = server.commandsNamed('find').map((command) => JSON.stringify(command.body.sort));
      expect(sorts).toEqual(['{"qty":-1,"sku":1}', '{"qty":-1,"sku":1}', '{"qty":-1,"sku":1}', '{"sku":-1}']);
    });

    it('refuses a replayed request, and the replay never reaches the database', async () => {
      // Prepare
      const first = await send(url, '/shop/items/insertOne', JSON.stringify({ document: { sku: 'replayed' } }));
      const commandsBefore = server.commands.length;

      // Act
      const replay = await send(url, '/shop/items/insertOne', JSON.stringify({ document: { sku: 'replayed' } }), { headers: first.signature });

      // Assess
      expect(first.status).toBe(200);
      expect(replay).toMatchObject({ status: 401, body: { error: { code: 'REPLAYED' } } });
      expect(server.commands.length).toBe(commandsBefore);
      expect(server.documents('shop', 'items').filter((item) => item.sku === 'replayed')).toHaveLength(1);
    });

    it('maps a duplicate key to 409, a server refusal to 400 with its code, a driver refusal to 400', async () => {
      // Prepare
      const body = JSON.stringify({ document: { _id: 'dup', sku: 'D' } });
      await send(url, '/shop/items/insertOne', body);

      // Act
      const duplicate = await send(url, '/shop/items/insertOne', body);
      const badOperator = await send(url, '/shop/items/find', JSON.stringify({ filter: { sku: { $bogus: 1 } } }));
      const replacement = await send(url, '/shop/items/updateOne', JSON.stringify({ filter: {}, update: { sku: 'no operators' } }));

      // Assess
      expect(duplicate).toMatchObject({ status: 409, body: { error: { code: 'DUPLICATE_KEY', mongoCode: 11000 } } });
      expect(badOperator).toMatchObject({ status: 400, body: { error: { code: 'MONGO_ERROR', mongoCode: 2, codeName: 'BadValue' } } });
      expect(replacement).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringContaining('atomic operators') } } });
    });

    it('refuses a find that matches more than maxDocuments instead of cutting it short', async () => {
      // Prepare
      server.dropAll();
      const documents = Array.from({ length: 21 }, (_, index) => ({ n: index }));
      await send(url, '/shop/orders/insertMany', JSON.stringify({ documents }));

      // Act
      const everything = await send(url, '/shop/orders/find', '{}');
      const page = await send(url, '/shop/orders/find', JSON.stringify({ options: { limit: 20 } }));
      const aggregated = await send(url, '/shop/orders/aggregate', JSON.stringify({ pipeline: [{ $match: {} }] }));

      // Assess
      expect(everything).toMatchObject({ status: 400, body: { error: { code: 'RESULT_TOO_LARGE' } } });
      expect(page.status).toBe(200);
      expect(page.body.documents).toHaveLength(20);
      expect(aggregated).toMatchObject({ status: 400, body: { error: { code: 'RESULT_TOO_LARGE' } } });
    });
  });
});

describe('HTTP handler limits and failures', () => {
  afterAll(async () => {
    await stopAllLambdaContainers();
  });

  it('answers 504 when the operation outlives timeoutMs, and works again afterwards', { timeout: 20_000 }, async () => {
    // Prepare: the function has 120 s (far past the test's 20 s timeout), the handler's timeoutMs is 1.5 s, so a
    // 504 before the test times out can only come from timeoutMs
    const server = await startWireServer();
    const fn = await startLambdaContainer({ entry: FIXTURE, env: { MONGODB_URI: server.uri, MONGODB_HTTP_SECRET: SECRET }, timeoutMs: 120_000 });
    const url = await startFunctionUrl((event) => fn.invoke(event));
    try {
      expect((await send(url, '/shop/items/countDocuments', '{}')).status).toBe(200);
      server.blackhole(true);

      // Act
      const slow = await send(url, '/shop/items/find', '{}');
      server.blackhole(false);
      const after = await send(url, '/shop/items/countDocuments', '{}');

      // Assess
      expect(slow).toMatchObject({ status: 504, body: { error: { code: 'TIMEOUT', message: 'find did not finish within 1500 ms' } } });
      expect(after.status).toBe(200);
    } finally {
      server.blackhole(false);
      await url.stop();
      await server.stop();
    }
  });

  it('answers 503 when MongoDB cannot be reached', async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, env: { MONGODB_URI: 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300', MONGODB_HTTP_SECRET: SECRET } });
    const url = await startFunctionUrl((event) => fn.invoke(event));
    try {
      // Act
      const response = await send(url, '/shop/items/find', '{}');

      // Assess
      expect(response).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
    } finally {
      await url.stop();
    }
  });

  it("with auth: 'aws-iam', refuses events without an IAM identity and serves those with one", async () => {
    // Prepare
    const server = await startWireServer();
    const fn = await startLambdaContainer({ entry: IAM_FIXTURE, env: { MONGODB_URI: server.uri } });
    const open = await startFunctionUrl((event) => fn.invoke(event), { authType: 'NONE' });
    const iam = await startFunctionUrl((event) => fn.invoke(event), { authType: 'AWS_IAM' });
    try {
      // Act
      const withoutIdentity = await send(open, '/shop/items/find', '{}', { unsigned: true });
      const commandsAfterRefusal = server.commands.length;
      const withIdentity = await send(iam, '/shop/items/find', '{}', { unsigned: true });
      const notListed = await send(iam, '/shop/items/deleteMany', JSON.stringify({ filter: {} }), { unsigned: true });

      // Assess
      expect(withoutIdentity).toMatchObject({ status: 401, body: { error: { code: 'NO_IAM_IDENTITY' } } });
      expect(commandsAfterRefusal).toBe(0);
      expect(withIdentity).toMatchObject({ status: 200, body: { documents: [] } });
      expect(notListed).toMatchObject({ status: 403, body: { error: { code: 'NOT_ALLOWED' } } });
    } finally {
      await open.stop();
      await iam.stop();
      await server.stop();
    }
  });
});

describe('createHttpHandler options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown key', { allow: { shop: ['items'] }, secret: SECRET, maxBodySize: 10 }, 'maxBodySize'],
    ['dbName (the path names the database)', { allow: { shop: ['items'] }, secret: SECRET, dbName: 'shop' }, 'dbName'],
    ['a driver option at the top level', { allow: { shop: ['items'] }, secret: SECRET, maxPoolSize: 2 }, 'maxPoolSize'],
    ['an empty allow-list', { allow: {}, secret: SECRET }, 'allow'],
    ['a database without collections', { allow: { shop: [] }, secret: SECRET }, 'allow'],
    ['an unknown operation', { allow: { shop: ['items'] }, secret: SECRET, operations: ['find', 'drop'] }, 'operations'],
    ['a short secret', { allow: { shop: ['items'] }, secret: 'short' }, 'secret'],
    ['a secret with aws-iam', { allow: { shop: ['items'] }, secret: SECRET, auth: 'aws-iam' }, 'secret'],
    ['a zero timeout', { allow: { shop: ['items'] }, secret: SECRET, timeoutMs: 0 }, 'timeoutMs'],
    ['a replay cache without remember()', { allow: { shop: ['items'] }, secret: SECRET, replayCache: {} }, 'replayCache'],
  ])('refuses %s with a ConfigurationError naming it', (_what, options, option) => {
    // Act
    const create = () => createHttpHandler(options as never);

    // Assess
    expect(create).toThrow(ConfigurationError);
    expect(create).toThrow(expect.objectContaining({ option }));
  });

  it('refuses to start without a secret, naming the environment variable, and never echoes a secret', () => {
    // Prepare
    const previous = process.env.MONGODB_HTTP_SECRET;
    delete process.env.MONGODB_HTTP_SECRET;
    try {
      // Act
      const create = () => createHttpHandler({ allow: { shop: ['items'] } });
      const short = () => createHttpHandler({ allow: { shop: ['items'] }, secret: 'almost-a-secret' });

      // Assess
      expect(create).toThrow(expect.objectContaining({ option: 'MONGODB_HTTP_SECRET', message: expect.stringContaining('MONGODB_HTTP_SECRET') }));
      expect(short).toThrow(expect.objectContaining({ message: expect.not.stringContaining('almost-a-secret') }));
    } finally {
      if (previous !== undefined) process.env.MONGODB_HTTP_SECRET = previous;
    }
  });
});
