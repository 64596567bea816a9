import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, TransactionError, withMongo } from '../src/index.js';
import { mongo } from '../src/middy.js';
import { CaptureLogger, errorText } from './support/capture-logger.js';
import { deferred, lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

type Item = { _id?: unknown; name: string; n?: number };

/** What a client reading the server now sees of a collection (the driver's view, not the fake's store). */
async function visibleNames(server: WireServer, db: string, collection: string): Promise<string[]> {
  const reader = new MongoClient(server.uri, { serverSelectionTimeoutMS: 2_000 });
  try {
    return (await reader.db(db).collection<Item>(collection).find({}).toArray()).map((doc) => doc.name);
  } finally {
    await reader.close();
  }
}

/** The lsids the server saw on the named commands, in order. */
function lsidsOf(server: WireServer, name: string): Array<string | undefined> {
  return server.commandsNamed(name).map((command) => command.lsid);
}

describe('middy middleware: one session per invocation, always ended', () => {
  let server: WireServer;
  const logger = new CaptureLogger();
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
    server.clearFailPoints();
    logger.records.length = 0;
  });
  afterAll(async () => {
    await server.stop();
  });

  it('sends every command of an invocation with the same lsid', async () => {
    // Prepare
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      const items = db.collection<Item>('items');
      await items.insertOne({ name: 'a' }, { session });
      await items.updateOne({ name: 'a' }, { $set: { n: 1 } }, { session });
      return items.find({}, { session }).toArray();
    }).use(mongo({ uri: server.uri, dbName: 'shop', logger }));

    // Act
    const result = await handler({}, lambdaContext());

    // Assess
    expect(result).toMatchObject([{ name: 'a', n: 1 }]);
    const lsids = [...lsidsOf(server, 'insert'), ...lsidsOf(server, 'update'), ...lsidsOf(server, 'find')];
    expect(lsids).toHaveLength(3);
    expect(lsids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(lsids).size).toBe(1);
    expect(logger.events()).toEqual(['client.created', 'session.started', 'session.ended']);
  });

  it('ends the session after success and after a thrown error: the next invocation reuses the pooled server session', async () => {
    // Prepare
    let fail = false;
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      await db.collection('items').insertOne({ name: 'x' }, { session });
      if (fail) throw new Error('handler failed');
      return 'ok';
    }).use(mongo({ uri: server.uri, dbName: 'shop', logger }));

    // Act
    await handler({}, lambdaContext());
    fail = true;
    const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);
    fail = false;
    await handler({}, lambdaContext());

    // Assess: a leaked session would hold its server session and force a new lsid
    expect(error).toMatchObject({ message: 'handler failed' });
    const lsids = lsidsOf(server, 'insert');
    expect(lsids).toHaveLength(3);
    expect(new Set(lsids).size).toBe(1);
    expect(logger.withEvent('session.ended')).toHaveLength(3);
  });

  it('a handler that leaks its own session forces a new lsid (the control for the test above)', async () => {
    // Prepare: bypasses the middleware and never ends the session
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const leaked = context.mongo.client.startSession();
      await context.mongo.db.collection('items').insertOne({ name: 'leak' }, { session: leaked });
    }).use(mongo({ uri: server.uri, dbName: 'shop', session: false }));

    // Act
    await handler({}, lambdaContext());
    await handler({}, lambdaContext());

    // Assess
    expect(new Set(lsidsOf(server, 'insert')).size).toBe(2);
  });

  it('commits the transaction on success: the server applies the writes at commitTransaction', async () => {
    // Prepare
    let visibleBeforeCommit: number | undefined;
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      await db.collection<Item>('accounts').insertOne({ name: 'alice', n: 10 }, { session });
      await db.collection<Item>('accounts').insertOne({ name: 'bob', n: 5 }, { session });
      visibleBeforeCommit = server.documents('bank', 'accounts').length;
      return 'done';
    }).use(mongo({ uri: server.uri, dbName: 'bank', transaction: true, logger }));

    // Act
    const result = await handler({}, lambdaContext());

    // Assess
    expect(result).toBe('done');
    expect(visibleBeforeCommit).toBe(0);
    expect(server.documents('bank', 'accounts').map((doc) => doc.name).sort()).toEqual(['alice', 'bob']);
    const [insert] = server.commandsNamed('insert');
    const [commit] = server.commandsNamed('commitTransaction');
    expect(insert).toMatchObject({ startTransaction: true, autocommit: false });
    expect(commit).toMatchObject({ lsid: insert?.lsid, txnNumber: insert?.txnNumber });
    expect(server.commandsNamed('abortTransaction')).toHaveLength(0);
    expect(logger.events()).toContain('transaction.committed');
  });

  it('aborts the transaction on error, leaves no partial write and rethrows the handler error', async () => {
    // Prepare
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      await db.collection<Item>('accounts').insertOne({ name: 'alice', n: 10 }, { session });
      throw new Error('insufficient funds');
    }).use(mongo({ uri: server.uri, dbName: 'bank', transaction: true, logger }));

    // Act
    const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

    // Assess: the server was told to abort the invocation's transaction, and a reader sees nothing of it
    expect(error).toMatchObject({ message: 'insufficient funds' });
    const [insert] = server.commandsNamed('insert');
    expect(insert).toMatchObject({ startTransaction: true, autocommit: false });
    expect(server.commandsNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: insert?.lsid, txnNumber: insert?.txnNumber })]);
    expect(server.commandsNamed('commitTransaction')).toHaveLength(0);
    expect(await visibleNames(server, 'bank', 'accounts')).toEqual([]);
    expect(logger.events()).toEqual(['client.created', 'session.started', 'transaction.aborted', 'session.ended']);
  });

  it('keeps the handler error when the abort itself fails, and still ends the session', async () => {
    // Prepare
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      await db.collection<Item>('accounts').insertOne({ name: 'alice' }, { session });
      server.failNext({ command: 'abortTransaction', code: 8000, codeName: 'AtlasError', errmsg: 'abort exploded', times: 2 });
      throw new Error('original failure');
    }).use(mongo({ uri: server.uri, dbName: 'bank', transaction: true, logger }));

    // Act
    const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

    // Assess: every abort the server got was for the invocation's transaction, none was a commit, a reader sees
    // nothing, and the session was ended (its lsid reaches the server in endSessions when the client closes)
    expect(error).toMatchObject({ message: 'original failure' });
    const [insert] = server.commandsNamed('insert');
    const aborts = server.commandsNamed('abortTransaction');
    expect(aborts.length).toBeGreaterThan(0);
    for (const abort of aborts) expect(abort).toMatchObject({ lsid: insert?.lsid, txnNumber: insert?.txnNumber });
    expect(server.commandsNamed('commitTransaction')).toHaveLength(0);
    expect(await visibleNames(server, 'bank', 'accounts')).toEqual([]);
    await closeMongoClient();
    await vi.waitFor(() => expect(server.lsidsSentIn('endSessions')).toContain(insert?.lsid));
  });

  it('throws a TransactionError when the commit fails, with the driver error as cause, and ends the session', async () => {
    // Prepare
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      await db.collection<Item>('accounts').insertOne({ name: 'alice' }, { session });
      server.failNext({ command: 'commitTransaction', code: 112, codeName: 'WriteConflict', errmsg: 'write conflict', errorLabels: ['TransientTransactionError'], times: 3 });
      return 'handler result';
    }).use(mongo({ uri: server.uri, dbName: 'bank', transaction: true, logger }));

    // Act
    const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ code: 'COMMIT_FAILED', cause: { codeName: 'WriteConflict' } });
    // the server was asked to commit the invocation's transaction, refused, and a reader sees none of its writes
    const [insert] = server.commandsNamed('insert');
    const commits = server.commandsNamed('commitTransaction');
    expect(commits.length).toBeGreaterThan(0);
    for (const commit of commits) expect(commit).toMatchObject({ lsid: insert?.lsid, txnNumber: insert?.txnNumber });
    expect(await visibleNames(server, 'bank', 'accounts')).toEqual([]);
    await closeMongoClient();
    await vi.waitFor(() => expect(server.lsidsSentIn('endSessions')).toContain(insert?.lsid));
  });

  it('gives two concurrent invocations in one process distinct sessions', async () => {
    // Prepare: both invocations are inside the handler at the same time
    const bothInside = deferred();
    let inside = 0;
    const handler = middy(async (event: { name: string }, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, session } = context.mongo;
      await db.collection<Item>('items').insertOne({ name: event.name }, { session });
      if (++inside === 2) bothInside.resolve();
      await bothInside.promise;
      await db.collection<Item>('items').findOne({ name: event.name }, { session });
      return session.id;
    }).use(mongo({ uri: server.uri, dbName: 'shop' }));

    // Act
    await Promise.all([handler({ name: 'a' }, lambdaContext()), handler({ name: 'b' }, lambdaContext())]);

    // Assess: per invocation one lsid for both of its commands, and the two lsids differ
    const byName = new Map<string, Set<string | undefined>>();
    for (const command of [...server.commandsNamed('insert'), ...server.commandsNamed('find')]) {
      const name = String((command.body.documents as Item[] | undefined)?.[0]?.name ?? (command.body.filter as Item).name);
      byName.set(name, (byName.get(name) ?? new Set()).add(command.lsid));
    }
    expect([...(byName.get('a') ?? [])]).toHaveLength(1);
    expect([...(byName.get('b') ?? [])]).toHaveLength(1);
    expect([...(byName.get('a') ?? [])][0]).not.toBe([...(byName.get('b') ?? [])][0]);
  });

  it('with session: false exposes no session and the driver uses implicit sessions', async () => {
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContextWithoutSession }) => {
      await context.mongo.db.collection('items').insertOne({ name: 'x' });
      return context.mongo.session;
    }).use(mongo({ uri: server.uri, dbName: 'shop', session: false, logger }));

    const session = await handler({}, lambdaContext());

    expect(session).toBeUndefined();
    expect(server.commandsNamed('insert')).toHaveLength(1);
    expect(logger.events()).not.toContain('session.started');
  });

  it('ends the session of an invocation whose after/onError never ran, at the next invocation after its deadline', async () => {
    // Prepare: a middleware placed after mongo() returns early, so middy skips the handler and every `after`
    let answerEarly = true;
    const handler = middy(async () => 'handler')
      .use(mongo({ uri: server.uri, dbName: 'shop', logger, deadlineMarginMs: 0 }))
      .use({ before: () => (answerEarly ? 'cached response' : undefined) });

    // Act: the first invocation's remaining time (injected) runs out before the next one starts
    let remainingMs = 100;
    const early = await handler({}, { ...lambdaContext(), getRemainingTimeInMillis: () => remainingMs });
    remainingMs = 0;
    answerEarly = false;
    const next = await handler({}, lambdaContext());

    // Assess
    expect([early, next]).toEqual(['cached response', 'handler']);
    expect(logger.withEvent('cleanup.failed')[0]?.message).toMatch(/middleware after mongo\(\) returning early/);
    expect(logger.withEvent('session.ended')).toHaveLength(2);
  });

  /**
   * Invocations answered early by a middleware after mongo() (so their after/onError never run), each with the
   * remaining time at its index of `remaining`, which the test changes; `handler` answers early while `answerEarly`.
   */
  async function answeredEarly(remaining: number[]) {
    const state = { answerEarly: true };
    const handler = middy(async () => 'handler')
      .use(mongo({ uri: server.uri, dbName: 'shop', logger, deadlineMarginMs: 0 }))
      .use({ before: () => (state.answerEarly ? 'cached response' : undefined) });
    const contexts = remaining.map((_, index) => ({ ...lambdaContext(), getRemainingTimeInMillis: () => remaining[index]! }));
    for (const context of contexts) expect(await handler({}, context)).toBe('cached response');
    state.answerEarly = false;
    return { handler, requestIds: contexts.map((context) => context.awsRequestId) };
  }
  /** The request ids of the invocations the sweep ended, in order. */
  const swept = () => logger.withEvent('cleanup.failed').map((record) => (record.attributes.mongodb as { requestId?: string }).requestId);

  it('ends the sessions of the expired ones among several such invocations, oldest first, and the others once their time is up', async () => {
    // Prepare: three invocations answered early; the first two run out of time, the third has time left
    const remaining = [100, 100, 100];
    const { handler, requestIds } = await answeredEarly(remaining);

    // Act: the next invocation after the first two deadlines, then one after the third's
    remaining[0] = 0;
    remaining[1] = 0;
    const next = await handler({}, lambdaContext());
    const sweptFirst = swept();
    remaining[2] = 0;
    const last = await handler({}, lambdaContext());

    // Assess
    expect([next, last]).toEqual(['handler', 'handler']);
    expect(sweptFirst).toEqual(requestIds.slice(0, 2));
    expect(swept()).toEqual(requestIds);
    expect(logger.withEvent('session.ended')).toHaveLength(5);
  });

  it('asks only the oldest open invocation when its time is not up: a younger one that ran out first is swept after it', async () => {
    // Prepare: two invocations answered early, the younger with the earlier deadline (one function has one timeout,
    // so this order does not happen in Lambda; it shows the sweep stops at the first scope with time left)
    const remaining = [60_000, 0];
    const { handler, requestIds } = await answeredEarly(remaining);

    // Act
    await handler({}, lambdaContext());
    const whileOldestHasTime = swept();
    remaining[0] = 0;
    await handler({}, lambdaContext());

    // Assess
    expect(whileOldestHasTime).toEqual([]);
    expect(swept()).toEqual(requestIds);
  });

  it('passes over an open invocation without a deadline: it does not hold up the expired ones behind it', async () => {
    // Prepare: the oldest has no remaining time to tell (NaN: no usable Lambda context), the younger has run out
    const remaining = [Number.NaN, 0];
    const { handler, requestIds } = await answeredEarly(remaining);

    // Act
    await handler({}, lambdaContext());

    // Assess
    expect(swept()).toEqual([requestIds[1]]);
  });

  it('reports a missing database name when context.mongo.db is read', async () => {
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => context.mongo.db.databaseName).use(mongo({ uri: server.uri }));
    const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: 'ConfigurationError', code: 'MISSING_DB_NAME' });
    expect((error as Error).message).toMatch(/MONGODB_DB_NAME/);
  });

  it('takes the database from MONGODB_DB_NAME, else from the URI', async () => {
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => context.mongo.db.databaseName);
    const fromUri = handler.use(mongo({ uri: `${server.uri.replace(/\/(\?|$)/, '/fromuri$1')}` }));
    expect(await fromUri({}, lambdaContext())).toBe('fromuri');
    process.env.MONGODB_DB_NAME = 'fromenv';
    try {
      const fromEnv = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => context.mongo.db.databaseName).use(mongo({ uri: server.uri }));
      expect(await fromEnv({}, lambdaContext())).toBe('fromenv');
    } finally {
      delete process.env.MONGODB_DB_NAME;
    }
  });
  it('follows the environment: a changed MONGODB_DB_NAME applies from the next invocation', async () => {
    // Prepare
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => context.mongo.db.databaseName).use(mongo({ uri: server.uri }));
    process.env.MONGODB_DB_NAME = 'first';
    try {
      // Act
      const first = await handler({}, lambdaContext());
      const again = await handler({}, lambdaContext());
      process.env.MONGODB_DB_NAME = 'second';
      const changed = await handler({}, lambdaContext());

      // Assess
      expect([first, again, changed]).toEqual(['first', 'first', 'second']);
    } finally {
      delete process.env.MONGODB_DB_NAME;
    }
  });

  it('gives every invocation of a client the same Db, and a new one with a new client', async () => {
    // Prepare
    const seen: Array<{ db: unknown; client: unknown }> = [];
    const handler = middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
      const { db, client, session } = context.mongo;
      seen.push({ db, client });
      return db.collection<Item>('items').countDocuments({}, { session });
    }).use(mongo({ uri: server.uri, dbName: 'shop' }));

    // Act
    await handler({}, lambdaContext());
    await handler({}, lambdaContext());
    await closeMongoClient();
    await handler({}, lambdaContext());

    // Assess
    expect(seen[1]!.db).toBe(seen[0]!.db);
    expect(seen[2]!.client).not.toBe(seen[0]!.client);
    expect(seen[2]!.db).not.toBe(seen[0]!.db);
    expect((seen[2]!.db as import('mongodb').Db).databaseName).toBe('shop');
  });

  it('opens and closes a warm invocation without waiting (middy awaits nothing of it)', async () => {
    // Prepare: a connected client, used just now (no freeze/thaw turn due)
    const middleware = mongo({ uri: server.uri, dbName: 'shop', thaw: { settleAfterMs: 60_000 } });
    const warmUp = { context: lambdaContext(), event: {}, response: undefined, error: undefined, internal: {} };
    await middleware.before!(warmUp as never);
    await middleware.after!(warmUp as never);
    const request = { context: lambdaContext<Context & { mongo?: { session?: import('mongodb').ClientSession } }>(), event: {}, response: undefined, error: undefined, internal: {} };

    // Act
    const opened = middleware.before!(request as never);
    const session = request.context.mongo?.session;
    const closed = middleware.after!(request as never);

    // Assess
    expect(opened).toBeUndefined();
    expect(closed).toBeUndefined();
    expect(session?.hasEnded).toBe(true);
  });
});

describe('withMongo: the same lifecycle without middy', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('gives the handler context.mongo, commits on success, aborts on error, and reuses the pooled session', async () => {
    // Prepare
    const handler = withMongo(
      async (event: { name: string; fail?: boolean }, context) => {
        const { db, session } = context.mongo;
        await db.collection<Item>('items').insertOne({ name: event.name }, { session });
        if (event.fail) throw new Error(`failed ${event.name}`);
        return { awsRequestId: context.awsRequestId };
      },
      { uri: server.uri, dbName: 'shop', transaction: true },
    );
    const context = lambdaContext();

    // Act
    const ok = await handler({ name: 'kept' }, context);
    const failed = await handler({ name: 'discarded', fail: true }, lambdaContext()).catch((error: unknown) => error);

    // Assess
    expect(handler.length).toBe(2);
    expect(ok).toEqual({ awsRequestId: context.awsRequestId });
    expect(failed).toMatchObject({ message: 'failed discarded' });
    expect(server.documents('shop', 'items').map((doc) => doc.name)).toEqual(['kept']);
    // the first invocation's insert committed, the second's aborted: each with its own insert's lsid and txnNumber
    const [keptInsert, discardedInsert] = server.commandsNamed('insert');
    expect(server.commandsNamed('commitTransaction')).toEqual([expect.objectContaining({ lsid: keptInsert?.lsid, txnNumber: keptInsert?.txnNumber })]);
    expect(server.commandsNamed('abortTransaction')).toEqual([expect.objectContaining({ lsid: discardedInsert?.lsid, txnNumber: discardedInsert?.txnNumber })]);
    expect(new Set(lsidsOf(server, 'insert')).size).toBe(1);
  });

  it('gives the client back when the driver refuses the session options, so later gaps still get the thaw check', async () => {
    // Prepare: options the driver refuses at startSession; a probe after any gap of 1 ms or more
    const handler = withMongo(async () => 'never', {
      uri: server.uri,
      dbName: 'shop',
      session: { snapshot: true, causalConsistency: true },
      thaw: { settleAfterMs: 0, probeAfterMs: 1 },
    });

    // Act: the clock moves 20 ms between the invocations (injected, not waited for)
    vi.useFakeTimers({ toFake: ['Date'] });
    let second: unknown;
    const first = await handler({}, lambdaContext()).catch((error: unknown) => error);
    try {
      vi.setSystemTime(Date.now() + 20);
      server.clearRecords();
      second = await handler({}, lambdaContext()).catch((error: unknown) => error);
    } finally {
      vi.useRealTimers();
    }

    // Assess: the second invocation saw the 20 ms gap (a ping), so the first one's lease was released
    expect(first).toMatchObject({ message: expect.stringMatching(/causalConsistency.*snapshot.*mutually exclusive/) });
    expect(second).toMatchObject({ message: expect.stringMatching(/mutually exclusive/) });
    expect(server.commandsNamed('ping')).toHaveLength(1);
  });
});

describe('secrets', () => {
  const PASSWORD = 'p@ss:w/rd%Lambda1';
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet', users: [{ username: 'app', password: PASSWORD }] });
  });
  afterAll(async () => {
    await closeMongoClient();
    await server.stop();
  });

  it('authenticates with a password that is never in a log line or error message', async () => {
    // Prepare
    const logger = new CaptureLogger();
    const goodUri = server.uri.replace('mongodb://', `mongodb://app:${encodeURIComponent(PASSWORD)}@`);
    const badUri = server.uri.replace('mongodb://', `mongodb://app:${encodeURIComponent(`${PASSWORD}-wrong`)}@`);
    const handler = (uri: string) =>
      middy(async (_event: unknown, context: Context & { mongo: import('../src/index.js').MongoContext }) => {
        await context.mongo.db.collection('items').insertOne({ a: 1 }, { session: context.mongo.session });
        return 'ok';
      }).use(mongo({ uri, dbName: 'shop', logger, transaction: true, clientOptions: { serverSelectionTimeoutMS: 1000 } }));

    // Act
    const ok = await handler(goodUri)({}, lambdaContext());
    const failure = await handler(badUri)({}, lambdaContext()).catch((error: unknown) => error);

    // Assess
    expect(ok).toBe('ok');
    expect(failure).toMatchObject({ name: 'ConnectionError', code: 'CONNECT_FAILED' });
    expect(errorText(failure)).toMatch(/Authentication failed/);
    const everything = [...logger.lines(), errorText(failure)].join('\n');
    expect(logger.lines().length).toBeGreaterThan(3);
    for (const spelling of [PASSWORD, encodeURIComponent(PASSWORD), `${PASSWORD}-wrong`, encodeURIComponent(`${PASSWORD}-wrong`)]) {
      expect(everything).not.toContain(spelling);
    }
    expect(everything).toContain('mongodb://app:****@127.0.0.1');
  });
});
