// The items HTTP handler (handlers/items/), bundled as deployed and invoked with API Gateway v2 events against the
// wire test server: the CRUD routes, cursor pagination, and every kind of bad input answering 4xx JSON with no
// stack trace and no write.
import { describe, expect, it } from 'vitest';
import { useHandlerRig } from './fixtures/handlers/rig.js';
import { httpEvent, parseResponse, type HttpEventOptions, type ParsedResponse } from './fixtures/handlers/http-event.js';
import { lambdaContext } from './support/lambda-context.js';

const DB = 'app';
const VALID_ID = '65f0c0ffee0123456789abcd';

describe('items HTTP handler', () => {
  const rig = useHandlerRig(DB);

  async function send(routeKey: string, options: HttpEventOptions = {}): Promise<ParsedResponse> {
    return parseResponse(await rig.handlers.items(httpEvent(routeKey, options), lambdaContext()));
  }

  /** The CRUD commands the server received. */
  function crudCommands(): string[] {
    return rig.server.commands.filter((command) => ['insert', 'find', 'update', 'delete', 'findAndModify'].includes(command.name)).map((command) => command.name);
  }

  it('exports every handler as (event, context): no callback-style handler (Node.js 24 and RIC v4 reject them)', () => {
    for (const name of ['items', 'transfer', 'health', 'stockConsumer'] as const) {
      // Assess
      expect(typeof rig.handlers[name], name).toBe('function');
      expect(rig.handlers[name].length, name).toBe(2);
    }
  });

  it('creates, reads, updates and deletes an item', async () => {
    // Prepare
    const created = await send('POST /items', { body: { name: '  Lamp ', price: 25.5, tags: ['home', 'light', 'home'] } });
    const id = created.body.id as string;

    // Act
    const read = await send('GET /items/{id}', { pathParameters: { id } });
    const updated = await send('PATCH /items/{id}', { pathParameters: { id }, body: { price: 30 } });
    const deleted = await send('DELETE /items/{id}', { pathParameters: { id } });
    const readAfterDelete = await send('GET /items/{id}', { pathParameters: { id } });

    // Assess
    expect(created).toMatchObject({ statusCode: 201, headers: { location: `/items/${id}` } });
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{24}$/), name: 'Lamp', price: 25.5, tags: ['home', 'light'] });
    expect(read).toMatchObject({ statusCode: 200, body: created.body });
    expect(updated).toMatchObject({ statusCode: 200, body: { id, name: 'Lamp', price: 30 } });
    expect(Date.parse(updated.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.body.updatedAt));
    expect(deleted).toMatchObject({ statusCode: 204, raw: '' });
    expect(readAfterDelete).toMatchObject({ statusCode: 404, body: { error: { code: 'NOT_FOUND', field: 'id' } } });
    expect(rig.server.documents(DB, 'items')).toEqual([]);
  });

  it('pages through the list with an opaque cursor, in creation order, without duplicates', async () => {
    // Prepare
    for (const name of ['a', 'b', 'c', 'd', 'e']) expect((await send('POST /items', { body: { name } })).statusCode).toBe(201);

    // Act
    const pages: ParsedResponse[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await send('GET /items', { query: { limit: '2', ...(cursor ? { cursor } : {}) } });
      pages.push(page);
      cursor = page.body.nextCursor as string | null;
    } while (cursor && pages.length < 10);
    const defaultPage = await send('GET /items');

    // Assess
    expect(pages.map((page) => page.statusCode)).toEqual([200, 200, 200]);
    expect(pages.map((page) => (page.body.items as Array<{ name: string }>).map((item) => item.name))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(pages.at(-1)?.body.nextCursor).toBeNull();
    expect(defaultPage.body.items).toHaveLength(5);
    expect(rig.server.commandsNamed('find').map((command) => command.body.limit)).toContain(3);
  });

  it('decodes a base64-encoded JSON body', async () => {
    // Prepare
    const body = Buffer.from(JSON.stringify({ name: 'Encoded' })).toString('base64');

    // Act
    const created = await send('POST /items', { body, isBase64Encoded: true });

    // Assess
    expect(created).toMatchObject({ statusCode: 201, body: { name: 'Encoded' } });
  });

  interface BadInput {
    what: string;
    routeKey: string;
    options: HttpEventOptions;
    status: number;
    code: string;
    field?: string;
  }

  const id = { pathParameters: { id: VALID_ID } };
  const badInputs: BadInput[] = [
    { what: 'malformed JSON', routeKey: 'POST /items', options: { body: '{"name": "lamp",' }, status: 400, code: 'MALFORMED_JSON' },
    { what: 'malformed JSON on PATCH', routeKey: 'PATCH /items/{id}', options: { ...id, body: "{name: 'x'}" }, status: 400, code: 'MALFORMED_JSON' },
    { what: 'no body', routeKey: 'POST /items', options: {}, status: 400, code: 'VALIDATION_FAILED', field: 'body' },
    { what: 'a JSON array', routeKey: 'POST /items', options: { body: '[{"name":"a"}]' }, status: 400, code: 'VALIDATION_FAILED', field: 'body' },
    { what: 'JSON null', routeKey: 'POST /items', options: { body: 'null' }, status: 400, code: 'VALIDATION_FAILED', field: 'body' },
    { what: 'a missing name', routeKey: 'POST /items', options: { body: { price: 1 } }, status: 400, code: 'VALIDATION_FAILED', field: 'name' },
    { what: 'a name of the wrong type', routeKey: 'POST /items', options: { body: { name: 42 } }, status: 400, code: 'VALIDATION_FAILED', field: 'name' },
    { what: 'a blank name', routeKey: 'POST /items', options: { body: { name: '   ' } }, status: 400, code: 'VALIDATION_FAILED', field: 'name' },
    { what: 'a name too long', routeKey: 'POST /items', options: { body: { name: 'x'.repeat(201) } }, status: 400, code: 'VALIDATION_FAILED', field: 'name' },
    { what: 'a negative price', routeKey: 'POST /items', options: { body: { name: 'a', price: -1 } }, status: 400, code: 'VALIDATION_FAILED', field: 'price' },
    { what: 'a price as a string', routeKey: 'POST /items', options: { body: { name: 'a', price: '10' } }, status: 400, code: 'VALIDATION_FAILED', field: 'price' },
    { what: 'tags that are not strings', routeKey: 'POST /items', options: { body: { name: 'a', tags: ['ok', 3] } }, status: 400, code: 'VALIDATION_FAILED', field: 'tags' },
    { what: 'too many tags', routeKey: 'POST /items', options: { body: { name: 'a', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) } }, status: 400, code: 'VALIDATION_FAILED', field: 'tags' },
    { what: 'an unknown field', routeKey: 'POST /items', options: { body: { name: 'a', colour: 'red' } }, status: 400, code: 'VALIDATION_FAILED', field: 'colour' },
    { what: 'a __proto__ key', routeKey: 'POST /items', options: { body: '{"name":"a","__proto__":{"admin":true}}' }, status: 400, code: 'VALIDATION_FAILED', field: '__proto__' },
    { what: 'an empty patch', routeKey: 'PATCH /items/{id}', options: { ...id, body: {} }, status: 400, code: 'VALIDATION_FAILED', field: 'body' },
    { what: 'an invalid patch field', routeKey: 'PATCH /items/{id}', options: { ...id, body: { name: '' } }, status: 400, code: 'VALIDATION_FAILED', field: 'name' },
    { what: 'an oversized payload', routeKey: 'POST /items', options: { body: { name: 'a', tags: ['x'.repeat(20_000)] } }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { what: 'an oversized base64 payload', routeKey: 'POST /items', options: { body: Buffer.alloc(30_000, 'a').toString('base64'), isBase64Encoded: true }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
    { what: 'a body that is not JSON', routeKey: 'POST /items', options: { body: 'name=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { what: 'an invalid id (GET)', routeKey: 'GET /items/{id}', options: { pathParameters: { id: 'not-an-id' } }, status: 400, code: 'INVALID_ID', field: 'id' },
    { what: 'a 12-character id', routeKey: 'GET /items/{id}', options: { pathParameters: { id: 'abcdefghijkl' } }, status: 400, code: 'INVALID_ID', field: 'id' },
    { what: 'an invalid id (PATCH)', routeKey: 'PATCH /items/{id}', options: { pathParameters: { id: '123' }, body: { name: 'a' } }, status: 400, code: 'INVALID_ID', field: 'id' },
    { what: 'an invalid id (DELETE)', routeKey: 'DELETE /items/{id}', options: { pathParameters: { id: `${VALID_ID}0` } }, status: 400, code: 'INVALID_ID', field: 'id' },
    { what: 'limit=0', routeKey: 'GET /items', options: { query: { limit: '0' } }, status: 400, code: 'VALIDATION_FAILED', field: 'limit' },
    { what: 'limit=abc', routeKey: 'GET /items', options: { query: { limit: 'abc' } }, status: 400, code: 'VALIDATION_FAILED', field: 'limit' },
    { what: 'limit over 100', routeKey: 'GET /items', options: { query: { limit: '101' } }, status: 400, code: 'VALIDATION_FAILED', field: 'limit' },
    { what: 'a forged cursor', routeKey: 'GET /items', options: { query: { cursor: 'not-a-cursor' } }, status: 400, code: 'VALIDATION_FAILED', field: 'cursor' },
    { what: 'a missing item (GET)', routeKey: 'GET /items/{id}', options: id, status: 404, code: 'NOT_FOUND', field: 'id' },
    { what: 'a missing item (PATCH)', routeKey: 'PATCH /items/{id}', options: { ...id, body: { name: 'a' } }, status: 404, code: 'NOT_FOUND', field: 'id' },
    { what: 'a missing item (DELETE)', routeKey: 'DELETE /items/{id}', options: id, status: 404, code: 'NOT_FOUND', field: 'id' },
    { what: 'an unknown route', routeKey: 'PUT /items/{id}', options: id, status: 404, code: 'NOT_FOUND' },
  ];

  it.each(badInputs)('answers $what with $status $code, a JSON error naming the field, no stack', async ({ routeKey, options, status, code, field }) => {
    // Act
    const response = await send(routeKey, options);

    // Assess
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toEqual({ error: { code, message: expect.any(String), ...(field === undefined ? {} : { field }) } });
    if (field !== undefined && status === 400) expect(response.body.error.message).toContain(`"${field}"`);
    expect(response.raw).not.toMatch(/\bat .+:\d+|stack|node_modules|handlers\//i);
    // Refused before any query; a 404 looked and changed nothing.
    if (status === 404) expect(rig.server.documents(DB, 'items')).toEqual([]);
    else expect(crudCommands()).toEqual([]);
  });

  it('answers 500 with the request id only when the server fails unexpectedly', async () => {
    // Prepare
    rig.server.failNext({ command: 'insert', code: 2, errmsg: 'internal detail: shard key of s3cr3t collection' });
    const context = lambdaContext();

    // Act
    const response = parseResponse(await rig.handlers.items(httpEvent('POST /items', { body: { name: 'a' } }), context));

    // Assess
    expect(response).toMatchObject({ statusCode: 500, body: { error: { code: 'INTERNAL', message: `Internal error (request ${(context as { awsRequestId: string }).awsRequestId})` } } });
    expect(response.raw).not.toMatch(/s3cr3t|internal detail|stack|\bat /);
  });

  // The invocation has 1.5 s, so its deadline signal fires after 1 s (500 ms margin). Nothing else can end the hang
  // within the test's 10 s timeout: monitoring waits 60 s (heartbeatFrequencyMS) and server selection 60 s, so a 503
  // in time can only come from the deadline.
  it('answers 503 at the invocation deadline when a query hangs (the deadline signal)', { timeout: 10_000 }, async () => {
    // Prepare: a warm client, then a server that accepts and never answers
    process.env.MONGODB_URI = `${rig.server.uri}&appName=query-hang&heartbeatFrequencyMS=60000&serverSelectionTimeoutMS=60000`;
    expect((await send('GET /items')).statusCode).toBe(200);
    rig.server.blackhole(true);

    // Act
    const response = parseResponse(await rig.handlers.items(httpEvent('GET /items'), lambdaContext(1_500)));

    // Assess: the driver closes the socket of an operation its signal aborted (middy's own early timeout, 5 ms before
    // the Lambda timeout, would answer 503 too, but leave the query hanging on its socket)
    expect(response).toMatchObject({ statusCode: 503, body: { error: { code: 'DATABASE_UNAVAILABLE' } } });
    const hung = rig.server.commandsNamed('find').at(-1);
    await expect.poll(() => rig.server.connections.find((connection) => connection.id === hung?.connectionId)?.closedAt, { timeout: 3_000 }).toBeDefined();
  });

  it('answers 503 at the invocation deadline when the connect of a cold start hangs', { timeout: 10_000 }, async () => {
    // Prepare: another URI (a client of its own, not connected yet) to a server that never answers
    process.env.MONGODB_URI = `${rig.server.uri}&appName=cold-start&heartbeatFrequencyMS=60000&serverSelectionTimeoutMS=60000`;
    rig.server.blackhole(true);

    // Act
    const response = parseResponse(await rig.handlers.items(httpEvent('GET /items'), lambdaContext(1_500)));

    // Assess
    expect(response).toMatchObject({ statusCode: 503, body: { error: { code: 'DATABASE_UNAVAILABLE' } } });
  });

  it('answers 503 with retry-after when the database cannot be reached', async () => {
    // Prepare: a cold client for a port nobody listens on, failing fast
    process.env.MONGODB_URI = 'mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300';

    // Act
    const response = await send('GET /items');

    // Assess
    expect(response).toMatchObject({ statusCode: 503, headers: { 'retry-after': '1' }, body: { error: { code: 'DATABASE_UNAVAILABLE' } } });
    expect(response.raw).not.toMatch(/127\.0\.0\.1|stack|\bat /);
  });
});
