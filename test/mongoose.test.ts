// serverless-mongodb/mongoose: mongoose models on the invocation lifecycle, asserted on what the wire server saw
// (lsids, txnNumbers, commitTransaction / abortTransaction, endSessions, connections) and on what was logged.
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import mongoose from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, TransactionError } from '../src/index.js';
import { mongooseMiddleware, withMongoose, type MongooseContext } from '../src/mongoose.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

type MongooseLambdaContext = Context & { mongoose: MongooseContext };

const itemSchema = new mongoose.Schema({ name: String, n: Number }, { collection: 'items' });
const accountSchema = new mongoose.Schema({ name: String, balance: Number }, { collection: 'accounts' });

/** A connection at module scope with its models, as a handler module makes it. */
function modelsConnection() {
  const connection = mongoose.createConnection();
  return { connection, Item: connection.model('Item', itemSchema), Account: connection.model('Account', accountSchema) };
}

describe('serverless-mongodb/mongoose', () => {
  let server: WireServer;
  const logger = new CaptureLogger();
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
    server.clearFailPoints();
    logger.records.length = 0;
  });
  afterAll(async () => {
    await server.stop();
  });

  describe('the middy middleware', () => {
    it('sends every model operation of an invocation with its lsid; ended sessions go back to the pool, and endSessions names them at close', async () => {
      // Prepare
      const { connection, Item } = modelsConnection();
      const handler = middy(async (event: { name: string }, context: MongooseLambdaContext) => {
        const { session } = context.mongoose;
        await Item.create([{ name: event.name }], { session });
        await Item.updateOne({ name: event.name }, { $set: { n: 1 } }, { session });
        return Item.find({}, null, { session }).lean();
      }).use(mongooseMiddleware({ uri: server.uri, dbName: 'shop', connection, logger }));

      // Act
      const first = await handler({ name: 'a' }, lambdaContext());
      await handler({ name: 'b' }, lambdaContext());

      // Assess: three commands per invocation, one lsid each; the second invocation reuses the pooled server session
      expect(first).toMatchObject([{ name: 'a', n: 1 }]);
      const lsids = ['insert', 'update', 'find'].flatMap((name) => server.commandsNamed(name).map((command) => command.lsid));
      expect(lsids).toHaveLength(6);
      expect(lsids[0]).toMatch(/^[0-9a-f]{32}$/);
      expect(new Set(lsids)).toEqual(new Set([lsids[0]]));
      expect(server.documents('shop', 'items').map((doc) => doc.name).sort()).toEqual(['a', 'b']);
      expect(logger.withEvent('session.ended')).toHaveLength(2);
      await closeMongoClient();
      await vi.waitFor(() => expect(server.commandsNamed('endSessions').flatMap((command) => (command.body.endSessions as Array<{ id: { toString(encoding: string): string } }>).map((id) => Buffer.from((id.id as unknown as { buffer: Uint8Array }).buffer).toString('hex')))).toContain(lsids[0]));
    });

    it('a leaked session in the handler forces a new lsid (the control for the test above)', async () => {
      // Prepare
      const { connection, Item } = modelsConnection();
      const handler = middy(async (event: { name: string }) => {
        const leaked = await connection.startSession();
        await Item.create([{ name: event.name }], { session: leaked });
      }).use(mongooseMiddleware({ uri: server.uri, dbName: 'shop', connection, session: false }));

      // Act
      await handler({ name: 'a' }, lambdaContext());
      await handler({ name: 'b' }, lambdaContext());

      // Assess
      expect(new Set(server.commandsNamed('insert').map((command) => command.lsid)).size).toBe(2);
    });

    it('transaction: true commits on success (the writes appear at commitTransaction) and aborts on error, with the invocation lsid and txnNumber', async () => {
      // Prepare
      const { connection, Account } = modelsConnection();
      let visibleBeforeCommit: number | undefined;
      const handler = middy(async (event: { fail: boolean }, context: MongooseLambdaContext) => {
        const { session } = context.mongoose;
        await Account.create([{ name: 'alice', balance: 10 }], { session });
        await Account.updateOne({ name: 'alice' }, { $inc: { balance: 5 } }, { session });
        if (event.fail) throw new Error('insufficient funds');
        visibleBeforeCommit = server.documents('bank', 'accounts').length;
        return 'done';
      }).use(mongooseMiddleware({ uri: server.uri, dbName: 'bank', connection, transaction: true, logger }));

      // Act
      const committed = await handler({ fail: false }, lambdaContext());
      const failed = await handler({ fail: true }, lambdaContext()).catch((error: unknown) => error);

      // Assess
      expect(committed).toBe('done');
      expect(failed).toMatchObject({ message: 'insufficient funds' });
      expect(visibleBeforeCommit).toBe(0);
      expect(server.documents('bank', 'accounts')).toMatchObject([{ name: 'alice', balance: 15 }]);
      const [insertA, insertB] = server.commandsNamed('insert');
      const [updateA] = server.commandsNamed('update');
      expect(insertA).toMatchObject({ startTransaction: true, autocommit: false });
      expect(updateA).toMatchObject({ lsid: insertA?.lsid, txnNumber: insertA?.txnNumber, autocommit: false });
      expect(server.commandsNamed('commitTransaction')).toMatchObject([{ lsid: insertA?.lsid, txnNumber: insertA?.txnNumber }]);
      expect(server.commandsNamed('abortTransaction')).toMatchObject([{ lsid: insertB?.lsid, txnNumber: insertB?.txnNumber }]);
    });

    it('with the session guard, a model write that forgot `session` inside the transaction is refused before it is sent, and the invocation fails', async () => {
      // Prepare: the first write passes the session, the second forgets it
      const { connection, Account } = modelsConnection();
      const handler = middy(async (_event: unknown, context: MongooseLambdaContext) => {
        await Account.create([{ name: 'alice', balance: 10 }], { session: context.mongoose.session });
        await Account.updateOne({ name: 'alice' }, { $inc: { balance: 5 } });
        return 'done';
      }).use(mongooseMiddleware({ uri: server.uri, dbName: 'bank', connection, transaction: true, sessionGuard: true, logger }));
      const context = lambdaContext<MongooseLambdaContext>();

      // Act
      const error = await handler({}, context).catch((thrown: unknown) => thrown);

      // Assess: the server never saw the update, the insert's transaction was aborted
      expect(error).toBeInstanceOf(TransactionError);
      expect(error).toMatchObject({ code: 'WRITE_OUTSIDE_TRANSACTION' });
      expect((error as Error).message).toContain('update on bank.accounts');
      expect(server.commandsNamed('update')).toEqual([]);
      const [insert] = server.commandsNamed('insert');
      expect(server.commandsNamed('abortTransaction')).toMatchObject([{ lsid: insert?.lsid, txnNumber: insert?.txnNumber }]);
      expect(server.documents('bank', 'accounts')).toEqual([]);
      expect(logger.withEvent('guard.transaction')[0]?.attributes.mongodb).toMatchObject({ command: 'update', collection: 'accounts', requestId: context.awsRequestId, session: 'another' });
    });
  });

  describe('withMongoose', () => {
    it('model operations without `session` carry the invocation lsid (mongoose AsyncLocalStorage), one lsid per invocation', async () => {
      // Prepare
      const { connection, Item } = modelsConnection();
      const handler = withMongoose(async (event: { name: string }) => {
        await Item.create({ name: event.name });
        await Item.updateOne({ name: event.name }, { $set: { n: 1 } });
        return Item.findOne({ name: event.name }).lean();
      }, { uri: server.uri, dbName: 'shop', connection, logger });

      // Act
      const result = await handler({ name: 'a' }, lambdaContext());

      // Assess
      expect(result).toMatchObject({ name: 'a', n: 1 });
      const lsids = ['insert', 'update', 'find'].flatMap((name) => server.commandsNamed(name).map((command) => command.lsid));
      expect(lsids).toHaveLength(3);
      expect(new Set(lsids).size).toBe(1);
      expect(logger.withEvent('guard.session')).toEqual([]);
    });

    it('without the AsyncLocalStorage, the same handler runs on implicit sessions and the guard names each command (the control)', async () => {
      // Prepare
      const { connection, Item } = modelsConnection();
      const handler = withMongoose(async (event: { name: string }) => {
        await Item.create({ name: event.name });
        return Item.findOne({ name: event.name }).lean();
      }, { uri: server.uri, dbName: 'shop', connection, logger, asyncLocalStorage: false, sessionGuard: true });
      const context = lambdaContext();

      try {
        // Act
        await handler({ name: 'a' }, context);
      } finally {
        mongoose.set('transactionAsyncLocalStorage', true);
      }

      // Assess
      const warnings = logger.withEvent('guard.session').map((record) => record.attributes.mongodb);
      expect(warnings).toMatchObject([
        { command: 'insert', collection: 'items', database: 'shop', requestId: context.awsRequestId, session: 'another' },
        { command: 'find', collection: 'items', database: 'shop', requestId: context.awsRequestId, session: 'another' },
      ]);
    });

    it('transaction: true runs the handler in connection.transaction(): operations without `session` join it, commitTransaction with their lsid and txnNumber', async () => {
      // Prepare
      const { connection, Account } = modelsConnection();
      let visibleBeforeCommit: number | undefined;
      const handler = withMongoose(async () => {
        await Account.create({ name: 'alice', balance: 10 });
        await Account.create({ name: 'bob', balance: 0 });
        await Account.updateOne({ name: 'alice' }, { $inc: { balance: -4 } });
        await Account.updateOne({ name: 'bob' }, { $inc: { balance: 4 } });
        visibleBeforeCommit = server.documents('bank', 'accounts').length;
        return 'moved';
      }, { uri: server.uri, dbName: 'bank', connection, transaction: true, logger });

      // Act
      const result = await handler({}, lambdaContext());

      // Assess
      expect(result).toBe('moved');
      expect(visibleBeforeCommit).toBe(0);
      expect(server.documents('bank', 'accounts').map((doc) => [doc.name, doc.balance]).sort()).toEqual([['alice', 6], ['bob', 4]]);
      const writes = [...server.commandsNamed('insert'), ...server.commandsNamed('update')];
      expect(writes).toHaveLength(4);
      const [first] = writes;
      expect(first?.lsid).toMatch(/^[0-9a-f]{32}$/);
      for (const write of writes) expect(write).toMatchObject({ lsid: first?.lsid, txnNumber: first?.txnNumber, autocommit: false });
      expect(server.commandsNamed('commitTransaction')).toMatchObject([{ lsid: first?.lsid, txnNumber: first?.txnNumber }]);
      expect(server.commandsNamed('abortTransaction')).toEqual([]);
      expect(logger.events()).toContain('session.ended');
    });

    it('transaction: true aborts when the handler throws: abortTransaction with its lsid and txnNumber, nothing written, the error kept', async () => {
      // Prepare
      const { connection, Account } = modelsConnection();
      const handler = withMongoose(async () => {
        await Account.create({ name: 'alice', balance: 10 });
        throw new Error('insufficient funds');
      }, { uri: server.uri, dbName: 'bank', connection, transaction: true, logger });

      // Act
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess
      expect(error).toMatchObject({ message: 'insufficient funds' });
      expect(server.documents('bank', 'accounts')).toEqual([]);
      const [insert] = server.commandsNamed('insert');
      expect(server.commandsNamed('abortTransaction')).toMatchObject([{ lsid: insert?.lsid, txnNumber: insert?.txnNumber }]);
      expect(server.commandsNamed('commitTransaction')).toEqual([]);
    });

    it("transaction: true and a write that never gets an answer: at the deadline the transaction's own session is interrupted (killSessions), the write fails with 11601, nothing is written", async () => {
      // Prepare: 1 s left, the deadline 500 ms before it
      const { connection, Account } = modelsConnection();
      const handler = withMongoose(async () => {
        await Account.create({ name: 'alice', balance: 10 });
        return 'created';
      }, { uri: server.uri, dbName: 'bank', connection, transaction: true, logger });
      await handler({}, lambdaContext());
      server.dropAll();
      server.clearRecords();
      server.failNext({ command: 'insert', hang: true, code: 0 });

      // Act
      const error = await handler({}, lambdaContext(1_000)).catch((thrown: unknown) => thrown);

      // Assess
      expect(error).toMatchObject({ code: 11601, codeName: 'Interrupted' });
      const [insert] = server.commandsNamed('insert');
      expect(server.lsidsSentIn('killSessions')).toEqual([insert?.lsid]);
      expect(server.commandsNamed('commitTransaction')).toEqual([]);
      expect(server.documents('bank', 'accounts')).toEqual([]);
    });

    it('a transient transaction error runs the handler again (attempt 2) in a new transaction of the same session; one commit, one document', async () => {
      // Prepare: the first insert of the first transaction fails with a TransientTransactionError
      const { connection, Item } = modelsConnection();
      const attempts: number[] = [];
      server.failNext({ command: 'insert', code: 112, codeName: 'WriteConflict', errmsg: 'write conflict', errorLabels: ['TransientTransactionError'], times: 1 });
      const handler = withMongoose(async (_event: unknown, context: { mongoose: MongooseContext }) => {
        attempts.push(context.mongoose.attempt);
        await Item.create({ name: 'once' });
        return 'ok';
      }, { uri: server.uri, dbName: 'shop', connection, transaction: true, logger });

      // Act
      const result = await handler({}, lambdaContext());

      // Assess
      expect(result).toBe('ok');
      expect(attempts).toEqual([1, 2]);
      expect(server.documents('shop', 'items').map((doc) => doc.name)).toEqual(['once']);
      const inserts = server.commandsNamed('insert');
      expect(inserts).toHaveLength(2);
      expect(inserts[1]).toMatchObject({ lsid: inserts[0]?.lsid, startTransaction: true });
      expect(inserts[1]!.txnNumber).toBeGreaterThan(inserts[0]!.txnNumber!);
      expect(server.commandsNamed('commitTransaction')).toMatchObject([{ lsid: inserts[1]?.lsid, txnNumber: inserts[1]?.txnNumber }]);
    });

    it('a commit that keeps failing becomes a TransactionError with the driver error as cause; nothing applied', async () => {
      // Prepare
      const { connection, Item } = modelsConnection();
      const handler = withMongoose(async () => {
        await Item.create({ name: 'x' });
        server.failNext({ command: 'commitTransaction', code: 8000, codeName: 'AtlasError', errmsg: 'commit exploded', times: 1 });
        return 'ok';
      }, { uri: server.uri, dbName: 'shop', connection, transaction: true, logger });

      // Act
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess
      expect(error).toBeInstanceOf(TransactionError);
      expect(error).toMatchObject({ code: 'COMMIT_FAILED', cause: { codeName: 'AtlasError' } });
      expect(server.documents('shop', 'items')).toEqual([]);
      expect(logger.events()).toContain('transaction.commit.failed');
    });
  });

  describe('the connection', () => {
    it('is bound without buffering, index builds or collection creation; its connected event becomes a redacted log record', async () => {
      // Prepare: a model with an index; a URI with credentials (the server accepts them)
      const secured = await startWireServer({ topology: 'replicaSet', users: [{ username: 'app', password: 's3cret-pw' }] });
      try {
        const connection = mongoose.createConnection();
        const Indexed = connection.model('Indexed', new mongoose.Schema({ email: { type: String, index: true } }, { collection: 'indexed' }));
        const uri = secured.uri.replace('mongodb://', 'mongodb://app:s3cret-pw@');
        const handler = withMongoose(async () => Indexed.countDocuments(), { uri, dbName: 'shop', connection, logger });

        // Act
        await handler({}, lambdaContext());

        // Assess
        expect(secured.commandsNamed('createIndexes')).toEqual([]);
        expect(secured.commandsNamed('create')).toEqual([]);
        expect((connection as unknown as { config: { bufferCommands?: boolean } }).config.bufferCommands).toBe(false);
        expect(logger.withEvent('mongoose.connected')).toHaveLength(1);
        expect(logger.lines().join('\n')).not.toContain('s3cret-pw');
        expect(JSON.stringify(logger.withEvent('mongoose.connected')[0]?.attributes)).toContain('app:****@');
      } finally {
        await closeMongoClient();
        await secured.stop();
      }
    });

    it('closeMongoClient (graceful shutdown) closes the mongoose connections: close event, readyState 0, the server sees every socket closed; the next invocation binds it again', async () => {
      // Prepare
      const { connection, Item } = modelsConnection();
      const handler = withMongoose(async () => Item.countDocuments(), { uri: server.uri, dbName: 'shop', connection, logger });
      await handler({}, lambdaContext());
      const closed = vi.fn();
      connection.on('close', closed);

      // Act
      await closeMongoClient();

      // Assess
      expect(closed).toHaveBeenCalledTimes(1);
      expect(connection.readyState).toBe(0);
      await vi.waitFor(() => expect(server.openConnectionCount()).toBe(0));
      await expect(handler({}, lambdaContext())).resolves.toBe(0);
      expect(connection.readyState).toBe(1);
    });
  });

  describe('after a freeze', () => {
    let proxy: FaultProxy;
    afterEach(async () => {
      await proxy.stop();
    });

    it('every socket went silent: the client is rebuilt, and models defined at module scope run on the new client', { timeout: 20_000 }, async () => {
      // Prepare
      proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
      server.setAdvertisedAddress(proxy.address);
      const { connection, Item } = modelsConnection();
      const handler = withMongoose(async (event: { name: string }) => {
        await Item.create({ name: event.name });
        return Item.countDocuments();
      }, { uri: proxy.uriFor(server.uri), dbName: 'shop', connection, logger, clientOptions: { serverMonitoringMode: 'poll' } });
      vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
      await handler({ name: 'before' }, lambdaContext(120_000));
      const clientBefore = connection.getClient();
      for (const socket of proxy.connections.filter((candidate) => candidate.open)) proxy.blackholeConnection(socket.id, true);
      vi.setSystemTime(Date.now() + 5_000);

      // Act
      const count = await handler({ name: 'after' }, lambdaContext(120_000));

      // Assess
      expect(count).toBe(2);
      expect(logger.withEvent('client.rebuilt')).toHaveLength(1);
      expect(logger.withEvent('mongoose.rebound')[0]?.attributes.mongodb).toMatchObject({ models: 2 });
      expect(connection.getClient()).not.toBe(clientBefore);
      expect(server.documents('shop', 'items').map((doc) => doc.name).sort()).toEqual(['after', 'before']);
    });
  });
});
