// The real-server lane: the lifecycle and transaction cases of test/session-lifecycle.test.ts, and a freeze/thaw
// subset of test/freeze-thaw.test.ts, against a real mongod instead of the wire test server, so that our own server
// is not the only oracle.
//
// It runs when MONGODB_URI is set (a replica set, or a single-member one: transactions need it), else when a mongod
// binary is found (MONGOD_BINARY, MONGOMS_SYSTEM_BINARY, or `mongod` on PATH), started in a temporary directory as a
// one-member replica set with test commands enabled. With neither it is skipped (.ci/run says so). Everything it
// writes goes into a database of its own (smdb_real_<pid>_<random>), dropped at the end.
//
// What a real server can tell, and how each case asks it: documents, through a separate client (committed or not);
// what the driver sent with each command (lsid, txnNumber), through command monitoring on the library's client
// (the server accepted the commands it lists: the invocations succeeded); a failed commit, through the server's own
// `failCommand` fail point, only where test commands are enabled (the case skips itself elsewhere). The freeze/thaw
// subset runs the Lambda emulator behind the fault proxy (FIN, RST, a silent peer), which needs a mongodb:// URI
// (an SRV URI cannot be proxied: that part skips itself).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { MongoClient, type CommandStartedEvent, type Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient, TransactionError, withMongo, type MongoContext } from '../src/index.js';
import { mongo } from '../src/middy.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { PROJECT_ROOT, startLambdaContainer, type InvokeResult } from './support/lambda-emulator/index.js';
import { deferred, lambdaContext } from './support/lambda-context.js';

interface LocalDatabase {
  findMongod(env?: NodeJS.ProcessEnv): string | undefined;
  startMongod(binary: string, workDir: string, extraArgs?: string[]): Promise<{ uri: string; label: string; stop: () => Promise<void> }>;
}
const localDatabase = (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'lib', 'local-database.mjs')).href)) as LocalDatabase;

const GIVEN_URI = process.env.MONGODB_URI;
const MONGOD = GIVEN_URI ? undefined : localDatabase.findMongod();
const AVAILABLE = GIVEN_URI !== undefined || MONGOD !== undefined;
const APP_NAME = 'smdb-real-server-lane';
const DB = `smdb_real_${process.pid}_${randomBytes(3).toString('hex')}`;

let uri = '';
let stopServer: (() => Promise<void>) | undefined;
let reader: MongoClient;
let failPoints = false;

/** What the library's client sent, per command (command monitoring: the driver's own record of each command). */
interface Sent {
  name: string;
  lsid: string | undefined;
  txnNumber: string | undefined;
  command: Document;
}
const sent: Sent[] = [];
const watched = new WeakSet<MongoClient>();
function watch(client: MongoClient): void {
  if (watched.has(client)) return;
  watched.add(client);
  client.on('commandStarted', (event: CommandStartedEvent) => {
    const lsid = (event.command.lsid as { id?: { toString(encoding: 'hex'): string } } | undefined)?.id?.toString('hex');
    sent.push({ name: event.commandName, lsid, txnNumber: event.command.txnNumber?.toString(), command: event.command });
  });
}
const sentNamed = (name: string): Sent[] => sent.filter((command) => command.name === name);

/** The library's options for this lane: its database, command monitoring on, the session guard off (it has a listener of its own). */
const laneOptions = { uri: '', dbName: DB, clientOptions: { monitorCommands: true, appName: APP_NAME }, sessionGuard: false } as const;
const options = () => ({ ...laneOptions, uri });

async function documents(collection: string): Promise<Document[]> {
  return reader.db(DB).collection(collection).find({}, { projection: { _id: 0 } }).sort({ name: 1 }).toArray();
}

describe.skipIf(!AVAILABLE)(`real server (${GIVEN_URI ? 'MONGODB_URI' : `mongod ${MONGOD ?? ''}`})`, () => {
  const logger = new CaptureLogger();

  beforeAll(async () => {
    if (GIVEN_URI) {
      uri = GIVEN_URI;
    } else {
      const started = await localDatabase.startMongod(MONGOD!, join(PROJECT_ROOT, '.tmp', 'real-server'), ['--setParameter', 'enableTestCommands=1']);
      uri = started.uri;
      stopServer = started.stop;
    }
    reader = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    await reader.connect();
    const hello = await reader.db('admin').command({ hello: 1 });
    if (!hello.setName) throw new Error(`The real-server lane needs a replica set (transactions): ${hello.msg === 'isdbgrid' ? 'a mongos' : 'a standalone'} answered. Start mongod with --replSet and rs.initiate(), or unset MONGODB_URI.`);
    // A fail point that matches no command: accepted only where test commands are enabled.
    failPoints = await reader
      .db('admin')
      .command({ configureFailPoint: 'failCommand', mode: 'off' })
      .then(() => true, () => false);
  }, 60_000);

  afterAll(async () => {
    await closeMongoClient();
    if (reader) {
      if (failPoints) await reader.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' }).catch(() => undefined);
      await reader.db(DB).dropDatabase().catch(() => undefined);
      await reader.close();
    }
    await stopServer?.();
  }, 60_000);

  async function reset(): Promise<void> {
    await closeMongoClient();
    await reader.db(DB).dropDatabase();
    sent.length = 0;
    logger.records.length = 0;
  }

  describe('one session per invocation, always ended (test/session-lifecycle.test.ts)', () => {
    it('sends every command of an invocation with the same lsid', async () => {
      // Prepare
      await reset();
      const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
        const { client, db, session } = context.mongo;
        watch(client);
        const items = db.collection<{ name: string; n?: number }>('items');
        await items.insertOne({ name: 'a' }, { session });
        await items.updateOne({ name: 'a' }, { $set: { n: 1 } }, { session });
        return items.find({}, { session, projection: { _id: 0 } }).toArray();
      }).use(mongo({ ...options(), logger }));

      // Act
      const result = await handler({}, lambdaContext());

      // Assess
      expect(result).toEqual([{ name: 'a', n: 1 }]);
      const lsids = [...sentNamed('insert'), ...sentNamed('update'), ...sentNamed('find')].map((command) => command.lsid);
      expect(lsids).toHaveLength(3);
      expect(lsids[0]).toMatch(/^[0-9a-f]{32}$/);
      expect(new Set(lsids).size).toBe(1);
      expect(await documents('items')).toEqual([{ name: 'a', n: 1 }]);
      expect(logger.events()).toEqual(['client.created', 'session.started', 'session.ended']);
    });

    it('ends the session after success and after a thrown error: the next invocation reuses the pooled server session', async () => {
      // Prepare
      await reset();
      let fail = false;
      const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
        const { client, db, session } = context.mongo;
        watch(client);
        await db.collection('items').insertOne({ name: 'x' }, { session });
        if (fail) throw new Error('handler failed');
        return 'ok';
      }).use(mongo({ ...options(), logger }));

      // Act
      await handler({}, lambdaContext());
      fail = true;
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);
      fail = false;
      await handler({}, lambdaContext());

      // Assess: a session left open would hold its server session, and the next invocation would need a new lsid
      expect(error).toMatchObject({ message: 'handler failed' });
      expect(new Set(sentNamed('insert').map((command) => command.lsid)).size).toBe(1);
      expect(await documents('items')).toHaveLength(3);
      expect(logger.withEvent('session.ended')).toHaveLength(3);
    });

    it('commits the transaction on success: the writes become visible at commitTransaction', async () => {
      // Prepare
      await reset();
      await reader.db(DB).createCollection('accounts'); // a transaction cannot create a collection before 4.4
      let visibleBeforeCommit: number | undefined;
      const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
        const { client, db, session } = context.mongo;
        watch(client);
        await db.collection('accounts').insertOne({ name: 'alice', n: 10 }, { session });
        await db.collection('accounts').insertOne({ name: 'bob', n: 5 }, { session });
        visibleBeforeCommit = (await documents('accounts')).length;
        return 'done';
      }).use(mongo({ ...options(), transaction: true, logger }));

      // Act
      const result = await handler({}, lambdaContext());

      // Assess
      expect(result).toBe('done');
      expect(visibleBeforeCommit).toBe(0);
      expect(await documents('accounts')).toEqual([{ name: 'alice', n: 10 }, { name: 'bob', n: 5 }]);
      const [insert] = sentNamed('insert');
      expect(insert?.command).toMatchObject({ startTransaction: true, autocommit: false });
      expect(sentNamed('commitTransaction')).toEqual([expect.objectContaining({ lsid: insert?.lsid, txnNumber: insert?.txnNumber })]);
      expect(sentNamed('abortTransaction')).toEqual([]);
      expect(logger.events()).toContain('transaction.committed');
    });

    it('aborts the transaction on error, leaves no partial write and rethrows the handler error', async () => {
      // Prepare
      await reset();
      await reader.db(DB).createCollection('accounts');
      const handler = middy(async (_event: unknown, context: Context & { mongo: MongoContext }) => {
        const { client, db, session } = context.mongo;
        watch(client);
        await db.collection('accounts').insertOne({ name: 'alice', n: 10 }, { session });
        throw new Error('insufficient funds');
      }).use(mongo({ ...options(), transaction: true, logger }));

      // Act
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess: the server applied nothing, and was told to abort that transaction
      expect(error).toMatchObject({ message: 'insufficient funds' });
      expect(await documents('accounts')).toEqual([]);
      const [insert] = sentNamed('insert');
      expect(sentNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: insert?.lsid, txnNumber: insert?.txnNumber })]);
      expect(sentNamed('commitTransaction')).toEqual([]);
      expect(logger.events()).toEqual(['client.created', 'session.started', 'transaction.aborted', 'session.ended']);
    });

    it('throws a TransactionError when the server refuses the commit, applies nothing, and ends the session', async (context) => {
      if (!failPoints) context.skip(); // the server's failCommand fail point needs enableTestCommands
      // Prepare
      await reset();
      await reader.db(DB).createCollection('accounts');
      const handler = middy(async (_event: unknown, lambda: Context & { mongo: MongoContext }) => {
        const { client, db, session } = lambda.mongo;
        watch(client);
        await db.collection('accounts').insertOne({ name: 'alice' }, { session });
        return 'handler result';
      }).use(mongo({ ...options(), transaction: true, logger }));
      await reader.db('admin').command({
        configureFailPoint: 'failCommand',
        mode: { times: 1 },
        data: { failCommands: ['commitTransaction'], errorCode: 2, appName: APP_NAME },
      });

      // Act
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess
      await reader.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
      expect(error).toBeInstanceOf(TransactionError);
      expect(error).toMatchObject({ code: 'COMMIT_FAILED', cause: { code: 2 } });
      expect(await documents('accounts')).toEqual([]);
      expect(logger.events().slice(-2)).toEqual(['transaction.commit.failed', 'session.ended']);
    });

    it('gives two concurrent invocations in one process distinct sessions', async () => {
      // Prepare: both invocations are inside the handler at the same time
      await reset();
      const bothInside = deferred();
      let inside = 0;
      const handler = middy(async (event: { name: string }, context: Context & { mongo: MongoContext }) => {
        const { client, db, session } = context.mongo;
        watch(client);
        await db.collection('items').insertOne({ name: event.name }, { session });
        if (++inside === 2) bothInside.resolve();
        await bothInside.promise;
        await db.collection('items').findOne({ name: event.name }, { session });
        return 'ok';
      }).use(mongo(options()));

      // Act
      await Promise.all([handler({ name: 'a' }, lambdaContext()), handler({ name: 'b' }, lambdaContext())]);

      // Assess: per invocation one lsid for both of its commands, and the two lsids differ
      const lsidsOf = (name: string) =>
        new Set([...sentNamed('insert'), ...sentNamed('find')].filter((command) => JSON.stringify(command.command).includes(`"name":"${name}"`)).map((command) => command.lsid));
      expect([...lsidsOf('a')]).toHaveLength(1);
      expect([...lsidsOf('b')]).toHaveLength(1);
      expect([...lsidsOf('a')][0]).not.toBe([...lsidsOf('b')][0]);
      expect(await documents('items')).toEqual([{ name: 'a' }, { name: 'b' }]);
    });

    it('withMongo: commits on success, aborts on error, and reuses the pooled session', async () => {
      // Prepare
      await reset();
      await reader.db(DB).createCollection('items');
      const handler = withMongo(async (event: { name: string; fail?: boolean }, context) => {
        const { client, db, session } = context.mongo;
        watch(client);
        await db.collection('items').insertOne({ name: event.name }, { session });
        if (event.fail) throw new Error('rolled back');
        return event.name;
      }, { ...options(), transaction: true, logger });

      // Act
      const first = await handler({ name: 'kept' }, lambdaContext());
      const failed = await handler({ name: 'dropped', fail: true }, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess
      expect(first).toBe('kept');
      expect(failed).toMatchObject({ message: 'rolled back' });
      expect(await documents('items')).toEqual([{ name: 'kept' }]);
      expect(new Set(sentNamed('insert').map((command) => command.lsid)).size).toBe(1);
      expect(sentNamed('commitTransaction')).toHaveLength(1);
      expect(sentNamed('abortTransaction')).toHaveLength(1);
    });
  });

  describe('freeze/thaw subset (test/freeze-thaw.test.ts): the first invocation after the thaw, library defaults', () => {
    const RUNS = 3;
    const scenarios = [
      { id: 'fin', title: 'server-side sockets closed (FIN) during a 3 s freeze', act: (proxy: Awaited<ReturnType<typeof startFaultProxy>>) => proxy.closeAll() },
      { id: 'rst', title: 'sockets reset (RST) during a 3 s freeze', act: (proxy: Awaited<ReturnType<typeof startFaultProxy>>) => proxy.resetAll() },
      {
        id: 'silent',
        title: 'every old socket silently stops answering',
        act: (proxy: Awaited<ReturnType<typeof startFaultProxy>>) => {
          for (const connection of proxy.connections.filter((candidate) => candidate.open)) proxy.blackholeConnection(connection.id, true);
        },
      },
    ];

    for (const scenario of scenarios) it(`${scenario.title}: no failed invocation, every write on the server`, async (context) => {
      const target = /^mongodb:\/\/(?:[^@/]*@)?([^/,?]+)/.exec(uri);
      if (!target) context.skip(); // mongodb+srv:// or several hosts: the fault proxy fronts one mongodb:// host
      // Prepare: the container talks to the server through the proxy, directly (the replica set would advertise the
      // server's own address and bypass the proxy).
      await reset();
      const [host, port] = target![1]!.split(':');
      const proxy = await startFaultProxy({ host: host === 'localhost' ? '127.0.0.1' : host!, port: Number(port ?? 27017) });
      const through = new URL(proxy.uriFor(uri.replace(/([?&])replicaSet=[^&]*&?/, '$1').replace(/[?&]$/, '')));
      through.searchParams.set('directConnection', 'true');
      const fn = await startLambdaContainer({
        entry: 'test/fixtures/real-server/library.ts',
        env: { MONGODB_URI: through.toString(), MONGODB_DB_NAME: DB, POWERTOOLS_LOG_LEVEL: 'DEBUG' },
        timeoutMs: 15_000,
      });
      const results: InvokeResult[] = [];
      try {
        // Act
        for (let run = 0; run < RUNS; run++) {
          const warm = await fn.invoke({ op: 'insertOne', name: `${scenario.id}-warm-${run}` });
          if (!warm.ok) throw new Error(`warm-up invocation failed before the freeze: ${warm.error?.errorMessage}`);
          await fn.freeze();
          await new Promise((resolve) => setTimeout(resolve, 100));
          scenario.act(proxy);
          await new Promise((resolve) => setTimeout(resolve, 3_000));
          results.push(await fn.invoke({ op: 'insertOne', name: `${scenario.id}-thawed-${run}` }));
          for (const connection of proxy.connections) proxy.blackholeConnection(connection.id, false);
        }
      } finally {
        await fn.shutdown(200).catch(() => undefined);
        await proxy.stop();
      }

      // Assess: every thawed invocation answered, its write is on the server, and its session was ended
      expect(results.map((result) => (result.ok ? 'ok' : `${result.error?.errorType}: ${result.error?.errorMessage}`))).toEqual(Array(RUNS).fill('ok'));
      const names = (await documents('items')).map((doc) => doc.name as string);
      expect(names.filter((name) => name.includes('-thawed-')).sort()).toEqual(Array.from({ length: RUNS }, (_, run) => `${scenario.id}-thawed-${run}`));
      for (const result of results) expect(fn.logs.some((line) => line.includes('session.ended') && line.includes(result.requestId))).toBe(true);
    }, 120_000);
  });
});
