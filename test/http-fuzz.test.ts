// Property-based tests (fast-check) of the HTTP handler's request parser and guard, in-process against the wire
// test server: random Extended JSON documents and pipelines never crash the handler (every answer is a JSON 2xx,
// 4xx or 5xx) and never reach the server with a refused operator, stage or collection (the server says what it saw).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient } from '../src/index.js';
import { createHttpHandler } from '../src/http-handler.js';
import { HTTP_OPERATIONS } from '../src/http/protocol/protocol.js';
import { signedEvent } from './support/http-events.js';
import { startWireServer, type Document, type WireServer } from './support/wire-server/index.js';

const SECRET = 'fuzz-test-secret-0123456789abcdefghijklm';
const ALLOWED = new Set(['items', 'orders']);
const JAVASCRIPT = new Set(['$where', '$function', '$accumulator']);
const STAGES_SENT_OK = new Set(['$match', '$project', '$addFields', '$set', '$unset', '$group', '$sort', '$limit', '$skip', '$count', '$unwind', '$lookup', '$graphLookup', '$unionWith', '$facet', '$bucket', '$bucketAuto', '$sortByCount', '$replaceRoot', '$replaceWith', '$sample', '$redact', '$geoNear', '$densify', '$fill', '$setWindowFields']);

const KEYS = ['a', 'b', 'sku', 'qty', '_id', 'b.c', '__proto__', 'constructor', '$gt', '$in', '$expr', '$regex', '$and', '$or', '$not', '$elemMatch', '$set', '$inc', ...JAVASCRIPT, '$ref', '$id', '$db', '$code', '$scope', '$oid', '$numberInt', '$numberLong', '$date', '$binary', '$type', ''];
const STAGES = [...STAGES_SENT_OK, '$out', '$merge', '$currentOp', '$collStats', '$indexStats', '$changeStream', '$documents', '$listSessions', '$planCacheStats', '$search', '$bogus', 'match'];
const COLLECTIONS = ['items', 'orders', 'users', 'system.users', 'items.x', 'items\u0000', '', 'ITEMS'];
const OPTION_KEYS = ['projection', 'sort', 'limit', 'skip', 'hint', 'collation', 'comment', 'let', 'allowDiskUse', 'maxTimeMS', 'upsert', 'arrayFilters', 'ordered', 'bypassDocumentValidation', 'raw', 'session', 'writeConcern'];

/** Extended JSON values, well-formed and not: wrappers, operators, server-side JavaScript, deep nesting. */
const { value: ejsonValue, document: ejsonDocument } = fc.letrec<{ value: unknown; document: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(
      { $oid: '65a1b2c3d4e5f60718293a4b' },
      { $oid: 'not-an-object-id' },
      { $numberInt: '3' },
      { $numberInt: 'x' },
      { $numberLong: '9007199254740993' },
      { $numberDouble: 'NaN' },
      { $numberDecimal: '1.5' },
      { $date: { $numberLong: '1700000000000' } },
      { $date: 'yesterday' },
      { $binary: { base64: 'AQID', subType: '00' } },
      { $regularExpression: { pattern: '^(a+)+$', options: 'i' } },
      { $code: 'return 1' },
      { $code: 'return 1', $scope: { $where: 'sleep(1)' } },
      { $ref: 'items', $id: 1 },
      { $ref: 'users', $id: { $where: 'sleep(1)' }, $db: 'admin' },
      { $minKey: 1 },
      { $timestamp: { t: 1, i: 1 } },
    ),
    tie('document'),
    fc.array(tie('value'), { maxLength: 4 }),
  ),
  document: fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 }),
}));

const collectionName = fc.oneof(fc.constantFrom(...COLLECTIONS), fc.string({ maxLength: 6 }), ejsonValue);

/** One stage: a known or refused stage name with a random body, or a reference to another collection. */
const stage: fc.Arbitrary<unknown> = fc.letrec<{ stage: unknown; pipeline: unknown[] }>((tie) => ({
  stage: fc.oneof(
    { depthSize: 'small' },
    fc.record({ name: fc.constantFrom(...STAGES), body: ejsonValue }).map(({ name, body }) => ({ [name]: body })),
    fc.record({ from: collectionName, pipeline: fc.option(tie('pipeline'), { nil: undefined }) }).map(({ from, pipeline }) => ({ $lookup: { from, localField: 'a', foreignField: 'b', as: 'j', ...(pipeline ? { pipeline } : {}) } })),
    collectionName.map((from) => ({ $graphLookup: { from, startWith: '$a', connectFromField: 'a', connectToField: 'b', as: 'g' } })),
    fc.oneof(collectionName, fc.record({ coll: collectionName, pipeline: tie('pipeline') })).map((target) => ({ $unionWith: target })),
    fc.dictionary(fc.constantFrom('x', 'y', '$where'), tie('pipeline'), { maxKeys: 2 }).map((facets) => ({ $facet: facets })),
    ejsonValue,
  ),
  pipeline: fc.array(tie('stage'), { maxLength: 3 }),
})).stage;

/** The arguments each operation takes (a request with others is a 400 before anything else is looked at). */
const ARGUMENTS: Record<string, readonly string[]> = {
  find: ['filter', 'options'],
  findOne: ['filter', 'options'],
  countDocuments: ['filter', 'options'],
  insertOne: ['document', 'options'],
  insertMany: ['documents', 'options'],
  updateOne: ['filter', 'update', 'options'],
  updateMany: ['filter', 'update', 'options'],
  deleteOne: ['filter', 'options'],
  deleteMany: ['filter', 'options'],
  aggregate: ['pipeline', 'options'],
  drop: ['filter'],
};

const document = ejsonDocument;
const argument: Record<string, fc.Arbitrary<unknown>> = {
  filter: fc.oneof({ weight: 5, arbitrary: document }, { weight: 1, arbitrary: ejsonValue }),
  update: fc.oneof(document, fc.array(stage, { maxLength: 3 }), ejsonValue),
  document,
  documents: fc.array(fc.oneof({ weight: 5, arbitrary: document }, { weight: 1, arbitrary: ejsonValue }), { maxLength: 3 }),
  pipeline: fc.oneof({ weight: 5, arbitrary: fc.array(stage, { maxLength: 4 }) }, { weight: 1, arbitrary: ejsonValue }),
  options: fc.oneof(fc.constant({}), fc.dictionary(fc.constantFrom(...OPTION_KEYS), ejsonValue, { maxKeys: 2 })),
};

/** A request: an operation, a collection and a body shaped for the operation (mostly), or junk. */
const request = fc.record({ operation: fc.constantFrom(...HTTP_OPERATIONS, 'drop'), collection: fc.constantFrom('items', 'orders', 'users') }).chain(({ operation, collection }) => {
  const names = ARGUMENTS[operation] ?? [];
  const shaped = fc
    .record(Object.fromEntries(names.map((name) => [name, argument[name] ?? ejsonValue])), { requiredKeys: [] })
    .map((value) => JSON.stringify(value));
  const junk = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('{"filter": ', '[]', 'null', '{"filter": {"$where": "1"}}', '{"pipeline": [{"$out": "x"}]}', '\u0000', '{"__proto__": {"filter": {"$where": "1"}}}'),
    fc.dictionary(fc.constantFrom('filter', 'update', 'pipeline', 'query', 'options'), ejsonValue, { maxKeys: 3 }).map((value) => JSON.stringify(value)),
  );
  return fc.record({ operation: fc.constant(operation), collection: fc.constant(collection), text: fc.oneof({ weight: 6, arbitrary: shaped }, { weight: 1, arbitrary: junk }) });
});

/** What the server was asked to do that the handler must have refused, as readable findings. */
function refusedIn(command: Document, db: string): string[] {
  const findings: string[] = [];
  const walk = (value: unknown, depth: number): void => {
    if (depth > 200 || value === null || typeof value !== 'object') return;
    const type = (value as { _bsontype?: unknown })._bsontype;
    if (type === 'DBRef') return walk([(value as { oid?: unknown }).oid, (value as { fields?: unknown }).fields], depth + 1);
    if (type === 'Code') return walk((value as { scope?: unknown }).scope, depth + 1);
    if (type !== undefined) return;
    for (const [key, item] of Object.entries(value)) {
      if (JAVASCRIPT.has(key)) findings.push(`${key} reached the server`);
      walk(item, depth + 1);
    }
  };
  walk(command, 0);
  const checkPipeline = (pipeline: unknown): void => {
    if (!Array.isArray(pipeline)) return;
    for (const entry of pipeline) {
      if (entry === null || typeof entry !== 'object') continue;
      for (const [name, stageBody] of Object.entries(entry as Document)) {
        if (!STAGES_SENT_OK.has(name)) findings.push(`stage ${name} reached the server`);
        const spec = (stageBody ?? {}) as Document;
        if (name === '$lookup' || name === '$graphLookup') {
          if (spec.from !== undefined && !ALLOWED.has(String(spec.from))) findings.push(`${name} from ${String(spec.from)}`);
          checkPipeline(spec.pipeline);
        }
        if (name === '$unionWith') {
          const coll = typeof stageBody === 'string' ? stageBody : spec.coll;
          if (!ALLOWED.has(String(coll))) findings.push(`$unionWith ${String(coll)}`);
          checkPipeline(spec.pipeline);
        }
        if (name === '$facet') for (const facet of Object.values(spec)) checkPipeline(facet);
      }
    }
  };
  if (command.aggregate !== undefined) {
    if (!ALLOWED.has(String(command.aggregate)) || db !== 'shop') findings.push(`aggregate on ${db}.${String(command.aggregate)}`);
    checkPipeline(command.pipeline);
  }
  return findings;
}

describe('HTTP handler under random requests (fast-check)', () => {
  let server: WireServer;
  let handler: ReturnType<typeof createHttpHandler>;

  beforeAll(async () => {
    server = await startWireServer();
    handler = createHttpHandler({ uri: server.uri, secret: SECRET, allow: { shop: [...ALLOWED] }, timeoutMs: 5_000, maxDocuments: 50 });
  });
  afterAll(async () => {
    await closeMongoClient();
    await server?.stop();
  });

  it('always answers JSON with a status, and lets no refused operator, stage or collection reach the server', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ operation, collection, text }) => {
        // Prepare
        server.clearRecords();

        // Act
        const result = await handler(await signedEvent(`/shop/${collection}/${operation}`, text, { secret: SECRET }));

        // Assess
        expect(result.statusCode).toBeGreaterThanOrEqual(200);
        expect(result.statusCode).toBeLessThan(600);
        const answer = JSON.parse(result.body) as { error?: { code?: unknown; message?: unknown } };
        if (result.statusCode >= 400) expect(answer.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
        expect(result.statusCode === 500 ? answer : undefined, 'no 500 for a request').toBeUndefined();
        const seen = server.commands.flatMap((command) => refusedIn(command.body, command.db));
        expect(seen).toEqual([]);
        if (collection === 'users' || operation === 'drop') expect(server.commands).toEqual([]);
      }),
      // A fixed seed, so CI runs the same 2,000 requests each time; FUZZ_SEED explores others. Seeds 1, 100-160,
      // 1000-1060, 5000-5060, 9000-9060 and 20261202 pass. Two findings came from exploring: seed 20261202 hung the
      // process in the wire test server (mingo's $sample looped for ever on a missing or fractional size; the
      // server now checks $sample as mongod does), seed 138 got a 500 for `sort: [[], -588592786, false]` (the
      // driver's sort parser threw a TypeError; the handler now checks sort itself).
      { numRuns: 2_000, seed: Number(process.env.FUZZ_SEED ?? 1) },
    );
  });
});
