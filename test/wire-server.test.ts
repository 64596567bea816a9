/**
 * Tests of the wire-protocol test server (test/support/wire-server) using the
 * real `mongodb` driver as the client, plus a few raw-socket protocol checks.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { BSON, type Document } from 'bson';
import { MongoClient, MongoNetworkError, MongoServerError, MongoServerSelectionError, type MongoClientOptions } from 'mongodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TEST_TLS } from './support/tls.js';
import { startWireServer, type WireServer, type WireServerOptions } from './support/wire-server/index.js';

/** documents whose _id is whatever the test chooses */
type AnyIdDoc = { _id: unknown } & Document;

const servers: WireServer[] = [];
const clients: MongoClient[] = [];

async function serverWith(options: WireServerOptions = {}): Promise<WireServer> {
  const server = await startWireServer(options);
  servers.push(server);
  return server;
}

function clientFor(server: WireServer, options: MongoClientOptions = {}, uri = server.uri): MongoClient {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2000, ...options });
  clients.push(client);
  return client;
}

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Settles a promise into its value or its error, for asserting on either. */
async function outcome<T>(promise: Promise<T>): Promise<{ value?: T; error?: Error }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: error as Error };
  }
}

describe('wire server: connecting', () => {
  it('accepts a standalone connection and answers ping', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server, { appName: 'wire-test' });

    // Act
    const reply = await client.db('admin').command({ ping: 1 });

    // Assess
    expect(reply.ok).toBe(1);
    expect(server.uri).toBe(`mongodb://127.0.0.1:${server.port}/`);
    expect(server.commandsNamed('ping')).toHaveLength(1);
    expect(server.heartbeats.length).toBeGreaterThanOrEqual(1);
    expect(server.commands.some((c) => ['hello', 'isMaster', 'ismaster'].includes(c.name))).toBe(false);
    expect(server.connections.some((c) => c.appName === 'wire-test' && c.clientMetadata?.driver?.name === 'nodejs')).toBe(true);
  });

  it('accepts a replica set connection (?replicaSet=rs0) and reports itself as primary', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);

    // Act
    const hello = await client.db('admin').command({ hello: 1 });

    // Assess
    expect(server.uri).toBe(`mongodb://127.0.0.1:${server.port}/?replicaSet=rs0`);
    expect(hello).toMatchObject({
      setName: 'rs0',
      isWritablePrimary: true,
      hosts: [`127.0.0.1:${server.port}`],
      primary: `127.0.0.1:${server.port}`,
      maxWireVersion: 21,
    });
    expect(hello.$clusterTime).toBeDefined();
  });

  it('speaks TLS: the driver verifies it with the CA file named in its uri', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet', tls: TEST_TLS });
    const client = clientFor(server, { appName: 'wire-tls' });

    // Act
    const reply = await client.db('admin').command({ ping: 1 });

    // Assess
    expect(reply.ok).toBe(1);
    expect(new URL(server.uri).searchParams.get('tls')).toBe('true');
    expect(new URL(server.uri).searchParams.get('tlsCAFile')).toBe(TEST_TLS.caFile);
    expect(server.connections.some((c) => c.appName === 'wire-tls')).toBe(true);
  });

  it('speaks TLS only: a client that does not trust its certificate, or speaks plain TCP, gets no answer', async () => {
    // Prepare
    const server = await serverWith({ tls: TEST_TLS });
    const untrusting = clientFor(server, { serverSelectionTimeoutMS: 500 }, `mongodb://127.0.0.1:${server.port}/?tls=true`);
    const plain = clientFor(server, { serverSelectionTimeoutMS: 500 }, `mongodb://127.0.0.1:${server.port}/`);

    // Act
    const [untrusted, cleartext] = await Promise.all([outcome(untrusting.connect()), outcome(plain.connect())]);

    // Assess
    expect(untrusted.error).toBeInstanceOf(MongoServerSelectionError);
    expect(untrusted.error?.message).toMatch(/self[- ]signed certificate/i);
    expect(cleartext.error).toBeInstanceOf(MongoServerSelectionError);
    expect(server.heartbeats).toHaveLength(0);
  });

  it('answers unknown commands with CommandNotFound (59)', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);

    // Act
    const result = await outcome(client.db('admin').command({ frobnicate: 1 }));

    // Assess
    expect(result.error).toBeInstanceOf(MongoServerError);
    expect(result.error).toMatchObject({ code: 59, codeName: 'CommandNotFound', message: "no such command: 'frobnicate'" });
  });
});

describe('wire server: CRUD', () => {
  it('round-trips documents with filters, updates, sort, limit and getMore batches', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('shop').collection<{ _id?: unknown; i: number; group: number; tag?: string }>('items');
    await coll.insertMany(Array.from({ length: 250 }, (_, i) => ({ i, group: i % 3 })));

    // Act
    const page = await coll.find({ group: 1 }, { sort: { i: -1 }, limit: 50, batchSize: 10, projection: { _id: 0 } }).toArray();
    const updated = await coll.updateMany({ group: 2 }, { $set: { tag: 'two' }, $inc: { i: 1000 } });
    const upserted = await coll.updateOne({ i: -1 }, { $set: { group: 9 } }, { upsert: true });
    const replaced = await coll.replaceOne({ i: 0 }, { i: 0, group: 0, tag: 'replaced' });
    const deleted = await coll.deleteMany({ group: 0, tag: { $exists: false } });
    const all = await coll.find({}).toArray();

    // Assess
    expect(page).toHaveLength(50);
    expect(page[0]).toEqual({ i: 247, group: 1 });
    expect(page.map((d) => d.i)).toEqual(Array.from({ length: 50 }, (_, k) => 247 - 3 * k));
    expect(server.commandsNamed('getMore').length).toBeGreaterThanOrEqual(4);
    expect(updated).toMatchObject({ matchedCount: 83, modifiedCount: 83 });
    expect(upserted.upsertedCount).toBe(1);
    expect(replaced.modifiedCount).toBe(1);
    expect(deleted.deletedCount).toBe(83);
    expect(all).toHaveLength(250 - 83 + 1);
    expect(all.filter((d) => d.tag === 'two').every((d) => d.i >= 1000)).toBe(true);
    expect(await coll.findOne({ i: -1 }, { projection: { _id: 0 } })).toEqual({ i: -1, group: 9 });
    expect(await coll.estimatedDocumentCount()).toBe(168);
    expect(server.documents('shop', 'items')).toHaveLength(168);
  });

  it('counts documents with countDocuments (aggregate pipeline) incl. skip and limit', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection('c');
    await coll.insertMany(Array.from({ length: 30 }, (_, i) => ({ i, even: i % 2 === 0 })));

    // Act
    const evens = await coll.countDocuments({ even: true });
    const windowed = await coll.countDocuments({ even: true }, { skip: 5, limit: 4 });
    const none = await coll.countDocuments({ i: { $gt: 100 } });

    // Assess
    expect(evens).toBe(15);
    expect(windowed).toBe(4);
    expect(none).toBe(0);
    expect(server.commandsNamed('aggregate')).toHaveLength(3);
  });

  it('runs aggregation pipelines and distinct', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection('sales');
    await coll.insertMany([
      { item: 'a', qty: 2 },
      { item: 'b', qty: 5 },
      { item: 'a', qty: 3 },
    ]);

    // Act
    const grouped = await coll
      .aggregate([{ $match: { qty: { $gt: 1 } } }, { $group: { _id: '$item', total: { $sum: '$qty' } } }, { $sort: { _id: 1 } }])
      .toArray();
    const items = await coll.distinct('item');

    // Assess
    expect(grouped).toEqual([
      { _id: 'a', total: 5 },
      { _id: 'b', total: 5 },
    ]);
    expect(items.sort()).toEqual(['a', 'b']);
  });

  it('checks $sample as mongod does (also in sub-pipelines), where mingo would loop for ever on a size that is not a whole number', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection('sales');
    await coll.insertMany([{ qty: 1 }, { qty: 2 }, { qty: 3 }]);
    const refused = (stage: Document) => outcome(coll.aggregate([stage]).toArray()).then(({ error }) => error && { code: (error as MongoServerError).code, message: error.message });

    // Act
    const sampled = await coll.aggregate([{ $sample: { size: 2.7 } }]).toArray();
    const inFacet = await coll.aggregate([{ $facet: { some: [{ $sample: { size: 1 } }] } }]).toArray();
    const missing = await refused({ $sample: { b: null } });
    const noSize = await refused({ $sample: {} });
    const text = await refused({ $sample: { size: 'two' } });
    const negative = await refused({ $sample: { size: -1 } });
    const notObject = await refused({ $sample: 2 });
    const nested = await refused({ $lookup: { from: 'sales', as: 'j', pipeline: [{ $sample: {} }] } });

    // Assess
    expect(sampled).toHaveLength(2);
    expect(inFacet).toEqual([{ some: [expect.objectContaining({ qty: expect.any(Number) })] }]);
    expect(missing).toEqual({ code: 28748, message: 'unrecognized option to $sample: b' });
    expect(noSize).toEqual({ code: 28749, message: '$sample stage must specify a size' });
    expect(text).toEqual({ code: 28746, message: 'size argument to $sample must be a number' });
    expect(negative).toEqual({ code: 28747, message: 'size argument to $sample must not be negative' });
    expect(notObject).toEqual({ code: 28745, message: 'the $sample stage specification must be an object' });
    expect(nested).toEqual({ code: 28749, message: '$sample stage must specify a size' });
  });

  it("holds a command under the hang fail point until killSessions names its session, then answers 11601 Interrupted", async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    const coll = client.db('db').collection('items');
    await coll.insertOne({ a: 1 });
    server.failNext({ command: 'find', hang: true, code: 0 });
    const session = client.startSession();
    const pending = outcome(coll.findOne({}, { session }));
    await vi.waitFor(() => expect(server.commandsNamed('find')).toHaveLength(1));

    // Act: another session first (nothing happens), then the one the find runs in
    await client.db('admin').command({ killSessions: [client.startSession().id] });
    const settledBefore = await Promise.race([pending.then(() => true), new Promise((resolve) => setImmediate(() => resolve(false)))]);
    await client.db('admin').command({ killSessions: [session.id] });
    const { error } = await pending;
    await session.endSession();

    // Assess
    expect(settledBefore).toBe(false);
    expect(error).toMatchObject({ code: 11601, codeName: 'Interrupted', message: 'operation was interrupted' });
    expect(await coll.findOne({}, { projection: { _id: 0 } })).toEqual({ a: 1 });
  });

  it('holds a command under the hold fail point and runs it when the promise settles: a write held behind a later read', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    const coll = client.db('db').collection('items');
    let release!: () => void;
    server.failNext({ command: 'insert', code: 0, hold: new Promise<void>((resolve) => (release = resolve)) });
    const inserting = coll.insertOne({ a: 1 });
    await vi.waitFor(() => expect(server.commandsNamed('insert')).toHaveLength(1));

    // Act: a read while the insert is held, then the insert let go
    const before = await coll.findOne({}, { projection: { _id: 0 } });
    release();
    const inserted = await inserting;

    // Assess: the insert ran only once released, and answered as usual
    expect(before).toBeNull();
    expect(inserted.acknowledged).toBe(true);
    expect(await coll.findOne({}, { projection: { _id: 0 } })).toEqual({ a: 1 });
  });

  it('supports findOneAndUpdate / findOneAndDelete (findAndModify)', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection<{ _id: string; n: number }>('counters');
    await coll.insertOne({ _id: 'a', n: 1 });

    // Act
    const after = await coll.findOneAndUpdate({ _id: 'a' }, { $inc: { n: 1 } }, { returnDocument: 'after' });
    const before = await coll.findOneAndUpdate({ _id: 'a' }, { $inc: { n: 1 } }, { returnDocument: 'before' });
    const created = await coll.findOneAndUpdate({ _id: 'b' }, { $setOnInsert: { n: 10 } }, { upsert: true, returnDocument: 'after' });
    const missing = await coll.findOneAndUpdate({ _id: 'zzz' }, { $inc: { n: 1 } });
    const removed = await coll.findOneAndDelete({ _id: 'a' });

    // Assess
    expect(after).toEqual({ _id: 'a', n: 2 });
    expect(before).toEqual({ _id: 'a', n: 2 });
    expect(created).toEqual({ _id: 'b', n: 10 });
    expect(missing).toBeNull();
    expect(removed).toEqual({ _id: 'a', n: 3 });
    expect(server.documents('db', 'counters')).toEqual([{ _id: 'b', n: 10 }]);
  });

  it('enforces a unique index with E11000 duplicate key errors (code 11000)', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection<{ email: string }>('users');
    await coll.createIndex({ email: 1 }, { unique: true });
    await coll.insertOne({ email: 'a@example.com' });
    const other = await coll.insertOne({ email: 'b@example.com' });

    // Act
    const insertDup = await outcome(coll.insertOne({ email: 'a@example.com' }));
    const updateDup = await outcome(coll.updateOne({ _id: other.insertedId }, { $set: { email: 'a@example.com' } }));
    const idDup = await outcome(coll.insertOne({ _id: other.insertedId, email: 'c@example.com' }));

    // Assess
    expect(insertDup.error).toBeInstanceOf(MongoServerError);
    expect(insertDup.error).toMatchObject({ code: 11000, keyValue: { email: 'a@example.com' } });
    expect(insertDup.error?.message).toMatch(/^E11000 duplicate key error collection: db.users index: email_1/);
    expect(updateDup.error).toMatchObject({ code: 11000 });
    expect(idDup.error).toMatchObject({ code: 11000 });
    expect(server.documents('db', 'users').map((d) => d.email)).toEqual(['a@example.com', 'b@example.com']);
  });
});

describe('wire server: sessions and transactions', () => {
  it('records the session lsid on the commands that use it', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    const coll = client.db('db').collection('c');
    const session = client.startSession();

    // Act
    await coll.insertOne({ a: 1 }, { session });
    await coll.find({}, { session }).toArray();
    await session.endSession();

    // Assess
    const lsid = session.id?.id.toString('hex');
    expect(lsid).toMatch(/^[0-9a-f]{32}$/);
    const used = server.commands.filter((c) => c.name === 'insert' || c.name === 'find');
    expect(used.map((c) => c.lsid)).toEqual([lsid, lsid]);
  });

  it('records endSessions when the client is closed after using a session', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    const session = client.startSession();
    await client.db('db').collection('c').insertOne({ a: 1 }, { session });
    await session.endSession();
    const lsid = session.id?.id.toString('hex');

    // Act
    await client.close();

    // Assess: endSessions is sent fire-and-forget (w:0, moreToCome), so it may land just after close() resolves
    await vi.waitFor(() => expect(server.commandsNamed('endSessions')).toHaveLength(1));
    const ended = (server.commandsNamed('endSessions')[0]?.body.endSessions ?? []) as Array<{ id: { toString(enc: 'hex'): string } }>;
    expect(ended.map((s) => s.id.toString('hex'))).toContain(lsid);
  });

  it('commits a transaction atomically; reads inside it see its own writes', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);
    const coll = client.db('bank').collection<{ _id: string; balance: number }>('accounts');
    await coll.insertOne({ _id: 'alice', balance: 100 });
    const session = client.startSession();

    // Act
    session.startTransaction();
    await coll.updateOne({ _id: 'alice' }, { $inc: { balance: -30 } }, { session });
    await coll.insertOne({ _id: 'bob', balance: 30 }, { session });
    const insideTxn = await coll.find({}, { session }).sort({ _id: 1 }).toArray();
    const outsideTxn = await coll.find({}).sort({ _id: 1 }).toArray();
    const committedBefore = server.documents('bank', 'accounts');
    await session.commitTransaction();
    await session.endSession();

    // Assess
    expect(insideTxn).toEqual([
      { _id: 'alice', balance: 70 },
      { _id: 'bob', balance: 30 },
    ]);
    expect(outsideTxn).toEqual([{ _id: 'alice', balance: 100 }]);
    expect(committedBefore).toEqual([{ _id: 'alice', balance: 100 }]);
    expect(server.documents('bank', 'accounts')).toEqual([
      { _id: 'alice', balance: 70 },
      { _id: 'bob', balance: 30 },
    ]);
    expect(await clientFor(server).db('bank').collection('accounts').countDocuments()).toBe(2);
    const [first, second] = server.commands.filter((c) => c.autocommit === false);
    expect(first).toMatchObject({ name: 'update', startTransaction: true, autocommit: false });
    expect(second).toMatchObject({ name: 'insert', autocommit: false, txnNumber: first?.txnNumber, lsid: first?.lsid });
    expect(second?.startTransaction).toBeUndefined();
    expect(server.commandsNamed('commitTransaction')).toHaveLength(1);
  });

  it('discards the writes of an aborted transaction', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);
    const coll = client.db('db').collection<AnyIdDoc>('c');
    const session = client.startSession();

    // Act
    session.startTransaction();
    await coll.insertOne({ _id: 1 }, { session });
    await coll.insertOne({ _id: 2 }, { session });
    await session.abortTransaction();
    await session.endSession();

    // Assess
    expect(server.documents('db', 'c')).toEqual([]);
    expect(await coll.countDocuments()).toBe(0);
    expect(server.commandsNamed('abortTransaction')).toHaveLength(1);
  });

  it('runs session.withTransaction and retries nothing on success', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);
    const coll = client.db('db').collection<AnyIdDoc>('c');

    // Act
    await client.withSession((session) =>
      session.withTransaction(async () => {
        await coll.insertOne({ _id: 'x' }, { session });
        await coll.insertOne({ _id: 'y' }, { session });
      }),
    );

    // Assess
    expect(server.documents('db', 'c')).toEqual([{ _id: 'x' }, { _id: 'y' }]);
    expect(server.commandsNamed('commitTransaction')).toHaveLength(1);
  });

  it('rejects transactions on a standalone server (code 20, rewritten by the driver)', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    const session = client.startSession();
    session.startTransaction();

    // Act
    const result = await outcome(client.db('db').collection('c').insertOne({ a: 1 }, { session }));
    await session.abortTransaction().catch(() => undefined);
    await session.endSession();

    // Assess: the server answers IllegalOperation (20) "Transaction numbers are only allowed on a
    // replica set member or mongos"; the driver turns that into its "does not support retryable writes" error.
    expect(result.error).toBeInstanceOf(MongoServerError);
    expect(result.error?.message).toMatch(/does not support retryable writes/);
    expect(server.commandsNamed('insert')[0]).toMatchObject({ startTransaction: true, autocommit: false });
    expect(server.documents('db', 'c')).toEqual([]);
  });
});

describe('wire server: fail points', () => {
  it('a RetryableWriteError on insert makes the driver retry the same write once', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const coll = clientFor(server).db('db').collection<AnyIdDoc>('c');
    server.failNext({ command: 'insert', code: 10107, codeName: 'NotWritablePrimary', errorLabels: ['RetryableWriteError'] });

    // Act
    await coll.insertOne({ _id: 'once' });

    // Assess
    const inserts = server.commandsNamed('insert');
    expect(inserts).toHaveLength(2);
    expect(inserts[0]?.txnNumber).toBeTypeOf('number');
    expect(inserts[1]).toMatchObject({ txnNumber: inserts[0]?.txnNumber, lsid: inserts[0]?.lsid });
    expect(server.documents('db', 'c')).toEqual([{ _id: 'once' }]);
  });

  it('a non-retryable error reaches the caller; times counts down', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection('c');
    server.failNext({ command: 'find', code: 2, errmsg: 'boom', times: 2 });

    // Act
    const first = await outcome(coll.findOne({}));
    const second = await outcome(coll.findOne({}));
    const third = await outcome(coll.findOne({}));

    // Assess
    expect(first.error).toMatchObject({ code: 2, codeName: 'BadValue', message: 'boom' });
    expect(second.error).toMatchObject({ code: 2 });
    expect(third).toEqual({ value: null });
  });

  it('closeConnection closes the socket instead of answering; retryable reads recover', async () => {
    // Prepare
    const server = await serverWith();
    const coll = clientFor(server).db('db').collection<AnyIdDoc>('c');
    await coll.insertOne({ _id: 1 });
    server.failNext({ command: 'find', code: 0, closeConnection: true });

    // Act
    const doc = await coll.findOne({});

    // Assess
    expect(doc).toEqual({ _id: 1 });
    expect(server.commandsNamed('find')).toHaveLength(2);
    expect(server.connections.filter((c) => c.closedAt !== undefined).length).toBeGreaterThanOrEqual(1);
  });
});

describe('wire server: faults', () => {
  it('closeAll (FIN): a command already routed to a pooled socket fails with MongoNetworkError; retryable reads recover', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);
    const coll = client.db('db').collection<AnyIdDoc>('c');
    await coll.insertOne({ _id: 1 });
    const connectionsBefore = server.connections.length;

    // Act
    server.closeAll();
    const immediatePing = await outcome(client.db('admin').command({ ping: 1 }));
    const laterPing = await outcome(client.db('admin').command({ ping: 1 }));
    server.closeAll();
    const findsBefore = server.commandsNamed('find').length;
    const retryableRead = await outcome(coll.findOne({}));

    // Assess: the driver writes to the pooled socket before it has processed the FIN, then sees
    // the close: MongoNetworkError "connection N to ... closed" (runCommand is never retried).
    // A retryable read in the same situation is retried on a fresh connection and succeeds.
    expect(immediatePing.error).toBeInstanceOf(MongoNetworkError);
    expect(immediatePing.error?.message).toMatch(/closed/);
    expect(laterPing.value?.ok).toBe(1);
    expect(retryableRead.value).toEqual({ _id: 1 });
    expect(server.commandsNamed('find').length - findsBefore).toBe(2);
    expect(server.connections.length).toBeGreaterThan(connectionsBefore);
  });

  it('resetAll (RST): the next operation fails with a raw ECONNRESET (not retried), then the driver reconnects', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);
    const coll = client.db('db').collection<AnyIdDoc>('c');
    await coll.insertOne({ _id: 1 });

    // Act
    server.resetAll();
    const immediateRead = await outcome(coll.findOne({}));
    const laterRead = await outcome(coll.findOne({}));

    // Assess: driver 7.9 surfaces the failed socket write as a plain Node `Error: write ECONNRESET`
    // (not a MongoNetworkError), so even a retryable read is NOT retried. The connection is
    // discarded and the following operation reconnects and succeeds.
    expect(immediateRead.error).toMatchObject({ code: 'ECONNRESET' });
    expect(immediateRead.error).not.toBeInstanceOf(MongoNetworkError);
    expect(laterRead.value).toEqual({ _id: 1 });
  });

  it('blackhole: requests are recorded but never answered; after blackhole(false) new clients work', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const coll = clientFor(server).db('db').collection<AnyIdDoc>('c');
    await coll.insertOne({ _id: 1 });
    const findsBefore = server.commandsNamed('find').length;

    // Act
    server.blackhole(true);
    const aborted = await outcome(coll.findOne({}, { signal: AbortSignal.timeout(300) }));
    const timedOutClient = clientFor(server, { socketTimeoutMS: 300, connectTimeoutMS: 300, retryReads: false });
    const newClientConnect = await outcome(clientFor(server, { serverSelectionTimeoutMS: 500 }).connect());
    server.blackhole(false);
    const afterBlackhole = await clientFor(server).db('db').collection('c').findOne({});
    await timedOutClient.connect();
    server.blackhole(true);
    const socketTimeout = await outcome(timedOutClient.db('db').collection('c').findOne({}));
    server.blackhole(false);

    // Assess
    expect(aborted.error?.name).toMatch(/Timeout|Abort/); // driver 7.9: MongoOperationTimeoutError "Timed out during socket read"
    expect(server.commandsNamed('find').length).toBeGreaterThan(findsBefore);
    expect(newClientConnect.error).toBeInstanceOf(MongoServerSelectionError); // its handshake was never answered
    expect(afterBlackhole).toEqual({ _id: 1 });
    expect(socketTimeout.error).toBeInstanceOf(MongoNetworkError); // MongoNetworkTimeoutError
  });

  it('stop() then start() listens on the same port, keeps data and changes processId', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server);
    await client.db('db').collection<AnyIdDoc>('c').insertOne({ _id: 'kept' });
    const helloBefore = await client.db('admin').command({ hello: 1 });
    const port = server.port;

    // Act
    await server.stop();
    const openAfterStop = server.openConnectionCount();
    const whileStopped = await outcome(clientFor(server, { serverSelectionTimeoutMS: 300 }).connect());
    await server.start();
    const fresh = clientFor(server);
    const doc = await fresh.db('db').collection('c').findOne({});
    const helloAfter = await fresh.db('admin').command({ hello: 1 });
    const oldClientDoc = await client.db('db').collection('c').findOne({});

    // Assess
    expect(openAfterStop).toBe(0);
    expect(whileStopped.error).toBeInstanceOf(MongoServerSelectionError);
    expect(server.port).toBe(port);
    expect(doc).toEqual({ _id: 'kept' });
    expect(oldClientDoc).toEqual({ _id: 'kept' });
    expect(String(helloAfter.topologyVersion.processId)).not.toBe(String(helloBefore.topologyVersion.processId));
  });
});

describe('wire server: helpers', () => {
  it('documents() returns deep copies; clearRecords() and dropAll() reset history and data', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    await client.db('db').collection('c').insertOne({ nested: { n: 1 } });
    const copy = server.documents('db', 'c')[0] as Document;
    copy.nested.n = 99;

    // Act
    const afterMutation = server.documents('db', 'c');
    server.clearRecords();
    const recordsAfterClear = { commands: server.commands.length, heartbeats: server.heartbeats.length };
    const openRecords = server.connections.length;
    server.dropAll();
    const count = await client.db('db').collection('c').countDocuments();

    // Assess
    expect(afterMutation[0]?.nested).toEqual({ n: 1 });
    expect(recordsAfterClear).toEqual({ commands: 0, heartbeats: 0 });
    expect(openRecords).toBe(server.openConnectionCount()); // records of still-open sockets are kept
    expect(count).toBe(0);
    expect(server.commandsNamed('aggregate')).toHaveLength(1);
  });

  it('a fail point without `command` skips hello and hits the next operation', async () => {
    // Prepare
    const server = await serverWith();
    const client = clientFor(server);
    server.failNext({ code: 91, codeName: 'ShutdownInProgress', errmsg: 'going away' });

    // Act
    await client.connect(); // handshake hellos are exempt
    const first = await outcome(client.db('admin').command({ ping: 1 }));
    const second = await outcome(client.db('admin').command({ ping: 1 }));

    // Assess
    expect(first.error).toMatchObject({ code: 91, message: 'going away' });
    expect(second.value?.ok).toBe(1);
  });
});

describe('wire server: authentication', () => {
  const users = [{ username: 'alice', password: 's3cret' }];

  for (const mechanism of ['DEFAULT', 'SCRAM-SHA-256', 'SCRAM-SHA-1'] as const) {
    it(`authenticates the right password (${mechanism})`, async () => {
      // Prepare
      const server = await serverWith({ users });
      const query = mechanism === 'DEFAULT' ? '' : `&authMechanism=${mechanism}`;
      const client = clientFor(server, {}, `mongodb://alice:s3cret@127.0.0.1:${server.port}/?authSource=admin${query}`);

      // Act
      const reply = await client.db('admin').command({ connectionStatus: 1 });

      // Assess
      expect(reply.authInfo.authenticatedUsers).toEqual([{ user: 'alice', db: 'admin' }]);
      expect(server.commandsNamed('saslContinue').length).toBeGreaterThanOrEqual(1);
    });
  }

  it('rejects a wrong password with AuthenticationFailed (18)', async () => {
    // Prepare
    const server = await serverWith({ users });
    const client = clientFor(server, {}, `mongodb://alice:wrong@127.0.0.1:${server.port}/?authSource=admin`);

    // Act
    const result = await outcome(client.connect());

    // Assess
    expect(result.error).toBeInstanceOf(MongoServerError);
    expect(result.error).toMatchObject({ code: 18, codeName: 'AuthenticationFailed' });
  });
});

describe('wire server: monitoring', () => {
  type Mode = 'stream' | 'poll' | 'lambda';
  const cases: Array<[Mode, boolean]> = [
    ['stream', true],
    ['poll', false],
    ['lambda', false],
  ];

  for (const [mode, streaming] of cases) {
    it(`${mode} monitoring connects, heartbeats without errors and closes cleanly`, async () => {
      // Prepare
      const server = await serverWith({ topology: 'replicaSet' });
      const options: MongoClientOptions = { heartbeatFrequencyMS: 500, ...(mode === 'poll' ? { serverMonitoringMode: 'poll' } : {}) };
      const client = clientFor(server, options);
      const succeeded: boolean[] = [];
      const failures: Error[] = [];
      client.on('serverHeartbeatSucceeded', (e) => succeeded.push(e.awaited));
      client.on('serverHeartbeatFailed', (e) => failures.push(e.failure));
      if (mode === 'lambda') vi.stubEnv('AWS_EXECUTION_ENV', 'AWS_Lambda_nodejs22.x');

      // Act
      try {
        await client.connect(); // monitors read the FaaS environment when they are created
      } finally {
        vi.unstubAllEnvs();
      }
      await client.db('admin').command({ ping: 1 });
      // heartbeats after the handshake: wait for them rather than for a fixed time
      await vi.waitFor(() => expect(succeeded.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
      await client.close();

      // Assess
      expect(failures).toEqual([]);
      expect(succeeded.length).toBeGreaterThanOrEqual(3);
      expect(succeeded.slice(1).every((awaited) => awaited === streaming)).toBe(true);
      const awaitable = server.heartbeats.filter((h) => h.body.maxAwaitTimeMS !== undefined);
      // streaming: ONE awaitable hello request, answered repeatedly (exhaust / moreToCome)
      if (streaming) expect(awaitable).toHaveLength(1);
      else expect(awaitable).toHaveLength(0);
      await vi.waitFor(() => expect(server.openConnectionCount()).toBe(0));
    });
  }

  it('setAdvertisedAddress wakes streaming monitors with the new hosts', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const client = clientFor(server, { directConnection: true });
    await client.connect();

    // Act
    server.setAdvertisedAddress('127.0.0.1:1');
    const hello = await client.db('admin').command({ hello: 1 });

    // Assess
    expect(hello.me).toBe('127.0.0.1:1');
    expect(hello.topologyVersion.counter.toString()).toBe('1');
  });
});

describe('wire server: load', () => {
  it('serves many concurrent clients and thousands of commands', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const clientCount = 40;
    const perClient = 50;
    const pool = Array.from({ length: clientCount }, () => clientFor(server, { maxPoolSize: 5 }));

    // Act
    await Promise.all(
      pool.map(async (client, c) => {
        const coll = client.db('load').collection('docs');
        await Promise.all(Array.from({ length: perClient }, (_, i) => coll.insertOne({ c, i })));
        expect(await coll.countDocuments({ c })).toBe(perClient);
      }),
    );

    // Assess (a server that cannot keep up fails by the test's timeout; how fast it is belongs in a benchmark)
    expect(server.documents('load', 'docs')).toHaveLength(clientCount * perClient);
    expect(server.commandsNamed('insert')).toHaveLength(clientCount * perClient);
    expect(new Set(server.connections.map((connection) => connection.id)).size).toBeGreaterThanOrEqual(clientCount);
  });
});

// ---------------------------------------------------------------------------
// Raw protocol checks (framing edge cases the driver never produces)
// ---------------------------------------------------------------------------

function opMsg(requestId: number, body: Document, opts: { sequences?: Array<[string, Document[]]>; checksum?: boolean } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([0]), Buffer.from(BSON.serialize(body))];
  for (const [identifier, docs] of opts.sequences ?? []) {
    const payload = Buffer.concat([Buffer.from(`${identifier}\0`), ...docs.map((d) => Buffer.from(BSON.serialize(d)))]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(payload.length + 4);
    parts.push(Buffer.from([1]), size, payload);
  }
  if (opts.checksum === true) parts.push(Buffer.alloc(4)); // value is not verified by the server
  const sections = Buffer.concat(parts);
  const header = Buffer.alloc(20);
  header.writeInt32LE(20 + sections.length, 0);
  header.writeInt32LE(requestId, 4);
  header.writeInt32LE(0, 8);
  header.writeInt32LE(2013, 12);
  header.writeUInt32LE(opts.checksum === true ? 1 : 0, 16);
  return Buffer.concat([header, sections]);
}

/** A raw TCP client collecting OP_MSG replies. */
class RawClient {
  private buffer = Buffer.alloc(0);
  readonly replies: Array<{ responseTo: number; body: Document }> = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 4 && this.buffer.length >= this.buffer.readInt32LE(0)) {
        const length = this.buffer.readInt32LE(0);
        const frame = this.buffer.subarray(0, length);
        this.replies.push({ responseTo: frame.readInt32LE(8), body: BSON.deserialize(frame.subarray(21)) });
        this.buffer = this.buffer.subarray(length);
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  async send(...chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      this.socket.write(chunk);
      await sleep(5); // force separate TCP segments
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('wire server: raw protocol', () => {
  it('handles frames split across chunks, several frames per chunk and checksums', async () => {
    // Prepare
    const server = await serverWith();
    const raw = await RawClient.open(server.port);
    const one = opMsg(1, { ping: 1, $db: 'admin' });
    const two = opMsg(2, { buildInfo: 1, $db: 'admin' }, { checksum: true });
    const three = opMsg(3, { ping: 1, $db: 'admin' });
    const stream = Buffer.concat([one, two, three]);

    // Act
    await raw.send(stream.subarray(0, 3), stream.subarray(3, one.length + 7), stream.subarray(one.length + 7));
    await vi.waitFor(() => expect(raw.replies).toHaveLength(3));
    raw.close();

    // Assess
    expect(raw.replies.map((r) => r.responseTo)).toEqual([1, 2, 3]);
    expect(raw.replies[1]?.body).toMatchObject({ version: '7.0.0', ok: 1 });
  });

  it('merges kind-1 document sequences into the command body', async () => {
    // Prepare
    const server = await serverWith();
    const raw = await RawClient.open(server.port);

    // Act
    await raw.send(opMsg(7, { insert: 'c', $db: 'db' }, { sequences: [['documents', [{ _id: 1 }, { _id: 2 }]]] }));
    await vi.waitFor(() => expect(raw.replies).toHaveLength(1));
    raw.close();

    // Assess
    expect(raw.replies[0]?.body).toMatchObject({ n: 2, ok: 1 });
    expect(server.documents('db', 'c')).toEqual([{ _id: 1 }, { _id: 2 }]);
    expect(server.commandsNamed('insert')[0]?.body.documents).toHaveLength(2);
  });

  it('replays the reply of a retried retryable write instead of executing it twice', async () => {
    // Prepare
    const server = await serverWith({ topology: 'replicaSet' });
    const raw = await RawClient.open(server.port);
    const lsid = { id: new BSON.Binary(Buffer.alloc(16, 7), 4) };
    const write = { update: 'c', updates: [{ q: { _id: 1 }, u: { $inc: { n: 1 } }, upsert: true }], lsid, txnNumber: BSON.Long.fromNumber(5), $db: 'db' };

    // Act
    await raw.send(opMsg(1, write));
    await raw.send(opMsg(2, write));
    await vi.waitFor(() => expect(raw.replies).toHaveLength(2));
    raw.close();

    // Assess
    expect(raw.replies[1]?.body).toMatchObject({ n: 1, ok: 1 });
    expect(server.documents('db', 'c')).toEqual([{ _id: 1, n: 1 }]);
    expect(server.commandsNamed('update').map((c) => c.txnNumber)).toEqual([5, 5]);
  });

  it('closes only the offending socket on a malformed message', async () => {
    // Prepare
    const server = await serverWith();
    const bad = await RawClient.open(server.port);
    const good = await RawClient.open(server.port);
    const garbage = Buffer.alloc(24, 0xff);
    garbage.writeInt32LE(24, 0);
    garbage.writeInt32LE(2013, 12);

    // Act
    await bad.send(garbage);
    await vi.waitFor(() => expect(bad.closed).toBe(true));
    await good.send(opMsg(9, { ping: 1, $db: 'admin' }));
    await vi.waitFor(() => expect(good.replies).toHaveLength(1));
    good.close();

    // Assess
    expect(good.replies[0]?.body.ok).toBe(1);
    expect(await clientFor(server).db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  });
});
