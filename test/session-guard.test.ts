// The session guard (sessionGuard): every command an invocation issues is matched with the invocation's session,
// through the driver's command monitoring. Asserted against the server's record of lsids and txnNumbers: what a
// forgotten `{ session }` does without the guard (the control), what the guard reports and what it refuses.
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient, TransactionError, withMongo, type MongoContext } from '../src/index.js';
import { mongo } from '../src/middy.js';
import { CaptureLogger } from './support/capture-logger.js';
import { deferred, lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

type WithMongo = { mongo: MongoContext };

describe('session guard', () => {
  let server: WireServer;
  const logger = new CaptureLogger();
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
    logger.records.length = 0;
  });
  afterAll(async () => {
    await server.stop();
  });

  const guardRecords = (event: string) => logger.withEvent(event).map((record) => record.attributes.mongodb as Record<string, unknown>);

  it('a command without the invocation session: a warning naming the command, the collection and the invocation; the server saw another lsid', async () => {
    // Prepare
    const handler = withMongo(async (_event: unknown, context: WithMongo) => {
      const items = context.mongo.db.collection('items');
      await items.insertOne({ name: 'with' }, { session: context.mongo.session });
      await items.insertOne({ name: 'forgotten' });
    }, { uri: server.uri, dbName: 'shop', logger, sessionGuard: true });
    const context = lambdaContext<Context & WithMongo>();

    // Act
    await handler({}, context);

    // Assess
    const [withSession, forgotten] = server.commandsNamed('insert');
    expect(forgotten?.lsid).toMatch(/^[0-9a-f]{32}$/);
    expect(forgotten?.lsid).not.toBe(withSession?.lsid);
    expect(guardRecords('guard.session')).toEqual([
      { event: 'guard.session', command: 'insert', database: 'shop', collection: 'items', requestId: context.awsRequestId, session: 'another', lsid: forgotten?.lsid },
    ]);
  });

  it('a handler that passes its session everywhere gets no record (and getMore of its cursor counts as its own)', async () => {
    // Prepare
    await withMongo(async (_event: unknown, context: WithMongo) => {
      await context.mongo.db.collection('items').insertMany(Array.from({ length: 5 }, (_, n) => ({ n })), { session: context.mongo.session });
    }, { uri: server.uri, dbName: 'shop', sessionGuard: false })({}, lambdaContext());
    const handler = withMongo(async (_event: unknown, context: WithMongo) => context.mongo.db.collection('items').find({}, { session: context.mongo.session, batchSize: 2 }).toArray(), { uri: server.uri, dbName: 'shop', logger, sessionGuard: true });

    // Act
    const found = await handler({}, lambdaContext());

    // Assess
    expect(found).toHaveLength(5);
    expect(server.commandsNamed('getMore').length).toBeGreaterThan(0);
    expect(logger.events().filter((event) => event.startsWith('guard.'))).toEqual([]);
  });

  describe('in a transaction', () => {
    const forgetfulWriter = (catchIt: boolean) => async (_event: unknown, context: WithMongo) => {
      const accounts = context.mongo.db.collection('accounts');
      await accounts.insertOne({ name: 'alice' }, { session: context.mongo.session });
      try {
        await accounts.insertOne({ name: 'escaped' });
      } catch (error) {
        if (!catchIt) throw error;
      }
      return 'done';
    };

    it('without the guard (the control): the forgotten write runs outside the transaction and stays when the transaction aborts', async () => {
      // Prepare
      const handler = middy(async (event: unknown, context: Context & WithMongo) => {
        await forgetfulWriter(false)(event, context);
        throw new Error('handler failed after its writes');
      }).use(mongo({ uri: server.uri, dbName: 'bank', transaction: true, sessionGuard: false, logger }));

      // Act
      await handler({}, lambdaContext()).catch(() => undefined);

      // Assess: the server ran it with its own lsid and no transaction
      const [inTransaction, escaped] = server.commandsNamed('insert');
      expect(inTransaction).toMatchObject({ startTransaction: true, autocommit: false });
      expect(escaped?.lsid).not.toBe(inTransaction?.lsid);
      expect(escaped?.autocommit).toBeUndefined();
      expect(server.commandsNamed('abortTransaction')).toMatchObject([{ lsid: inTransaction?.lsid, txnNumber: inTransaction?.txnNumber }]);
      expect(server.documents('bank', 'accounts').map((doc) => doc.name)).toEqual(['escaped']);
    });

    it('with the guard, the escaping write is refused before it is sent: the invocation fails and its transaction is aborted, nothing written', async () => {
      // Prepare
      const handler = middy(forgetfulWriter(false)).use(mongo({ uri: server.uri, dbName: 'bank', transaction: true, sessionGuard: true, logger }));
      const context = lambdaContext<Context & WithMongo>();

      // Act
      const error = await handler({}, context).catch((thrown: unknown) => thrown);

      // Assess
      expect(error).toBeInstanceOf(TransactionError);
      expect(error).toMatchObject({ code: 'WRITE_OUTSIDE_TRANSACTION' });
      const inserts = server.commandsNamed('insert');
      expect(inserts).toHaveLength(1);
      expect(server.commandsNamed('abortTransaction')).toMatchObject([{ lsid: inserts[0]?.lsid, txnNumber: inserts[0]?.txnNumber }]);
      expect(server.commandsNamed('commitTransaction')).toEqual([]);
      expect(server.documents('bank', 'accounts')).toEqual([]);
      expect(guardRecords('guard.transaction')).toMatchObject([{ command: 'insert', collection: 'accounts', requestId: context.awsRequestId }]);
    });

    it('a handler that catches the refusal still fails: no commit', async () => {
      // Prepare
      const handler = withMongo(forgetfulWriter(true), { uri: server.uri, dbName: 'bank', transaction: true, sessionGuard: true, logger });

      // Act
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess
      expect(error).toMatchObject({ code: 'WRITE_OUTSIDE_TRANSACTION' });
      expect(server.commandsNamed('commitTransaction')).toEqual([]);
      expect(server.commandsNamed('abortTransaction')).toHaveLength(1);
      expect(server.documents('bank', 'accounts')).toEqual([]);
    });

    it('a read without the session is reported, not refused: the server saw it with another lsid and no txnNumber', async () => {
      // Prepare
      const handler = withMongo(async (_event: unknown, context: WithMongo) => {
        const accounts = context.mongo.db.collection('accounts');
        await accounts.insertOne({ name: 'alice' }, { session: context.mongo.session });
        return accounts.countDocuments({});
      }, { uri: server.uri, dbName: 'bank', transaction: true, sessionGuard: true, logger });

      // Act
      const count = await handler({}, lambdaContext());

      // Assess: the read outside the transaction does not see its uncommitted insert
      expect(count).toBe(0);
      const [read] = server.commandsNamed('aggregate');
      expect(read?.txnNumber).toBeUndefined();
      expect(read?.lsid).not.toBe(server.commandsNamed('insert')[0]?.lsid);
      expect(guardRecords('guard.session')).toMatchObject([{ command: 'aggregate', collection: 'accounts', session: 'another' }]);
      expect(server.commandsNamed('commitTransaction')).toHaveLength(1);
    });
  });

  it('two invocations at once: withMongo attributes each command to its own invocation', async () => {
    // Prepare: both are inside the handler before either issues its forgotten command
    const both = deferred();
    let inside = 0;
    const handler = withMongo(async (event: { name: string }, context: WithMongo) => {
      await context.mongo.db.collection('items').insertOne({ name: event.name }, { session: context.mongo.session });
      if (++inside === 2) both.resolve();
      await both.promise;
      await context.mongo.db.collection('items').findOne({ name: event.name });
    }, { uri: server.uri, dbName: 'shop', logger, sessionGuard: true });
    const contexts = [lambdaContext<Context & WithMongo>(), lambdaContext<Context & WithMongo>()];

    // Act
    await Promise.all([handler({ name: 'a' }, contexts[0]!), handler({ name: 'b' }, contexts[1]!)]);

    // Assess
    expect(guardRecords('guard.session').map((record) => record.requestId).sort()).toEqual(contexts.map((context) => context.awsRequestId).sort());
  });

  it('two invocations at once under the middy middleware (no AsyncLocalStorage context): the record names both as candidates', async () => {
    // Prepare: b stays open until a issued its forgotten find
    const both = deferred();
    const aDone = deferred();
    let inside = 0;
    const handler = middy(async (event: { name: string }, context: Context & WithMongo) => {
      await context.mongo.db.collection('items').insertOne({ name: event.name }, { session: context.mongo.session });
      if (++inside === 2) both.resolve();
      await both.promise;
      if (event.name === 'a') {
        await context.mongo.db.collection('items').findOne({ name: event.name });
        aDone.resolve();
      } else await aDone.promise;
    }).use(mongo({ uri: server.uri, dbName: 'shop', logger, sessionGuard: true }));
    const contexts = [lambdaContext<Context & WithMongo>(), lambdaContext<Context & WithMongo>()];

    // Act
    await Promise.all([handler({ name: 'a' }, contexts[0]!), handler({ name: 'b' }, contexts[1]!)]);

    // Assess
    const [record] = guardRecords('guard.session');
    expect(guardRecords('guard.session')).toHaveLength(1);
    expect(record).toMatchObject({ command: 'find', collection: 'items', requestId: undefined });
    expect((record?.candidates as string[]).sort()).toEqual(contexts.map((context) => context.awsRequestId).sort());
  });

  it.each([
    ['production', 0],
    ['development', 1],
  ])('default under NODE_ENV=%s: %i record for a forgotten session', async (mode, records) => {
    // Prepare
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = mode;
    let handler;
    try {
      handler = withMongo(async (_event: unknown, context: WithMongo) => {
        await context.mongo.db.collection('items').insertOne({ name: 'forgotten' });
      }, { uri: server.uri, dbName: 'shop', logger });
    } finally {
      process.env.NODE_ENV = before;
    }

    // Act
    await handler({}, lambdaContext());

    // Assess
    expect(guardRecords('guard.session')).toHaveLength(records);
  });
});
