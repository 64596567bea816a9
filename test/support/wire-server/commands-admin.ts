/**
 * Administrative, session, auth and DDL commands.
 */
import { BSON } from 'bson';
import { AWS_MECHANISM } from './aws-auth.js';
import { type Document } from 'bson';
import type { CommandContext, CommandHandler } from './command-context.js';
import { matchDocuments } from './engine.js';
import { CommandError } from './errors.js';
import { hello } from './hello.js';
import { MAX_BSON_OBJECT_SIZE } from './protocol.js';
import { splitNamespace, type IndexSpec } from './store.js';
import { binaryBytes, binaryHex, isPlainObject, toNumber, truthy, valueKey } from './values.js';

const ok = (): Document => ({ ok: 1 });

function nameArg(ctx: CommandContext): string {
  const value: unknown = ctx.body[ctx.name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new CommandError(73, `Invalid namespace specified '${ctx.db}.${String(value)}'`, { codeName: 'InvalidNamespace' });
  }
  return value;
}

const buildInfo: CommandHandler = () => ({
  version: '7.0.0',
  gitVersion: '0000000000000000000000000000000000000000',
  versionArray: [7, 0, 0, 0],
  bits: 64,
  debug: false,
  maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
  storageEngines: ['inMemory'],
  modules: [],
  ok: 1,
});

const KNOWN_PARAMETERS: Document = {
  featureCompatibilityVersion: { version: '7.0' },
  authenticationMechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
  transactionLifetimeLimitSeconds: 60,
  maxTransactionLockRequestTimeoutMillis: 5,
};

const getParameter: CommandHandler = (ctx) => {
  const all = ctx.body.getParameter === '*';
  const reply: Document = {};
  for (const [key, value] of Object.entries(KNOWN_PARAMETERS)) {
    if (all || ctx.body[key] !== undefined) reply[key] = value;
  }
  reply.ok = 1;
  return reply;
};

/** The hex lsids of an endSessions / killSessions array (`[{ id: UUID }, ...]`); entries without one are skipped. */
function lsidsOf(raw: unknown[]): string[] {
  return raw.map((s: unknown) => (isPlainObject(s) ? binaryHex(s.id) : undefined)).filter((id): id is string => id !== undefined);
}

const endSessions: CommandHandler = (ctx) => {
  const raw: unknown = ctx.body.endSessions;
  ctx.state.sessions.end(Array.isArray(raw) ? lsidsOf(raw) : []);
  return ok();
};

/** Interrupts the named sessions' running operations (fail point `hang`) and aborts their transactions. */
const killSessions: CommandHandler = (ctx) => {
  const raw: unknown = ctx.body.killSessions;
  if (!Array.isArray(raw)) throw new CommandError(14, "BSON field 'killSessions' is the wrong type, expected type 'array'");
  ctx.state.killSessions(lsidsOf(raw));
  return ok();
};

const saslStart: CommandHandler = (ctx) => {
  const payload = binaryBytes(ctx.body.payload);
  if (payload === undefined) throw new CommandError(18, 'Authentication failed.');
  if (ctx.body.mechanism === AWS_MECHANISM) {
    let started: ReturnType<typeof ctx.state.aws.start>;
    try {
      started = ctx.state.aws.start(payload);
    } catch (error) {
      ctx.state.authentications.push({ user: '', mechanism: AWS_MECHANISM, ok: false, connectionId: ctx.conn.id, reason: (error as Error).message });
      throw error;
    }
    ctx.conn.awsSasl.set(started.conversation.conversationId, started.conversation);
    return { conversationId: started.conversation.conversationId, done: false, payload: started.payload, ok: 1 };
  }
  const started = ctx.state.scram.start(ctx.db, ctx.body.mechanism, payload);
  ctx.conn.sasl.set(started.conversation.conversationId, started.conversation);
  return { conversationId: started.conversation.conversationId, done: false, payload: started.payload, ok: 1 };
};

const saslContinue: CommandHandler = (ctx) => {
  const id = toNumber(ctx.body.conversationId) ?? -1;
  const aws = ctx.conn.awsSasl.get(id);
  if (aws !== undefined) {
    ctx.conn.awsSasl.delete(id);
    return ctx.state.aws.continue(aws, binaryBytes(ctx.body.payload) ?? Buffer.alloc(0)).then(
      (accessKeyId) => {
        ctx.state.authentications.push({ user: accessKeyId, mechanism: AWS_MECHANISM, ok: true, connectionId: ctx.conn.id });
        if (!ctx.conn.authenticatedUsers.some((u) => u.user === accessKeyId && u.db === '$external')) ctx.conn.authenticatedUsers.push({ user: accessKeyId, db: '$external' });
        return { conversationId: id, done: true, payload: Buffer.alloc(0), ok: 1 };
      },
      (error: unknown) => {
        const signedBy = /Credential=([^/]+)\//.exec(String(BSON.deserialize(binaryBytes(ctx.body.payload) ?? Buffer.from([5, 0, 0, 0, 0])).a ?? ''))?.[1] ?? '';
        ctx.state.authentications.push({ user: signedBy, mechanism: AWS_MECHANISM, ok: false, connectionId: ctx.conn.id, reason: (error as Error).message });
        throw error;
      },
    );
  }
  const conversation = ctx.conn.sasl.get(id);
  if (conversation === undefined) throw new CommandError(17, 'No SASL session state found');
  let result: { payload: Buffer; done: boolean };
  const wasDone = conversation.done;
  try {
    result = ctx.state.scram.continue(conversation, binaryBytes(ctx.body.payload) ?? Buffer.alloc(0));
  } catch (error) {
    ctx.conn.sasl.delete(id);
    ctx.state.authentications.push({ user: conversation.user.username, mechanism: conversation.mechanism, ok: false, connectionId: ctx.conn.id, reason: 'wrong password' });
    throw error;
  }
  if (result.done) {
    ctx.conn.sasl.delete(id);
    const { username, db } = conversation.user;
    if (!wasDone) ctx.state.authentications.push({ user: username, mechanism: conversation.mechanism, ok: true, connectionId: ctx.conn.id });
    if (!ctx.conn.authenticatedUsers.some((u) => u.user === username && u.db === db)) {
      ctx.conn.authenticatedUsers.push({ user: username, db });
    }
  }
  return { conversationId: id, done: result.done, payload: result.payload, ok: 1 };
};

const connectionStatus: CommandHandler = (ctx) => ({
  authInfo: { authenticatedUsers: ctx.conn.authenticatedUsers.map((u) => ({ ...u })), authenticatedUserRoles: [] },
  ok: 1,
});

const whatsmyuri: CommandHandler = (ctx) => ({ you: `${ctx.conn.remoteAddress}:${ctx.conn.record.remotePort}`, ok: 1 });

const serverStatus: CommandHandler = (ctx) => ({
  host: ctx.state.advertised,
  version: '7.0.0',
  process: 'mongod',
  uptime: Math.floor(process.uptime()),
  localTime: new Date(),
  connections: { current: ctx.state.connections.filter((c) => c.closedAt === undefined).length },
  ok: 1,
});

const listCollections: CommandHandler = (ctx) => {
  const prefix = `${ctx.db}.`;
  let entries: Document[] = ctx.state.store
    .namespaces()
    .filter((ns) => ns.startsWith(prefix))
    .map((ns) => ({
      name: ns.slice(prefix.length),
      type: 'collection',
      options: {},
      info: { readOnly: false },
      idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
    }));
  if (isPlainObject(ctx.body.filter)) entries = matchDocuments(entries, ctx.body.filter);
  if (truthy(ctx.body.nameOnly)) entries = entries.map((e) => ({ name: e.name as string, type: 'collection' }));
  const cursorOpts: unknown = ctx.body.cursor;
  const batchSize = isPlainObject(cursorOpts) ? toNumber(cursorOpts.batchSize) : undefined;
  const cursor = ctx.state.cursors.open(`${ctx.db}.$cmd.listCollections`, entries, {
    ...(batchSize !== undefined ? { batchSize } : {}),
    defaultAll: true,
  });
  return { cursor, ok: 1 };
};

const listDatabases: CommandHandler = (ctx) => {
  const names = [...new Set(ctx.state.store.namespaces().map((ns) => splitNamespace(ns)[0]))].sort();
  let databases: Document[] = names.map((name) => ({ name, sizeOnDisk: 8192, empty: false }));
  if (isPlainObject(ctx.body.filter)) databases = matchDocuments(databases, ctx.body.filter);
  if (truthy(ctx.body.nameOnly)) return { databases: databases.map((d) => ({ name: d.name as string })), ok: 1 };
  return { databases, totalSize: databases.length * 8192, totalSizeMb: 0, ok: 1 };
};

const create: CommandHandler = (ctx) => {
  const ns = `${ctx.db}.${nameArg(ctx)}`;
  if (!ctx.state.store.create(ns)) throw new CommandError(48, `Collection ${ns} already exists.`);
  return ok();
};

const drop: CommandHandler = (ctx) => {
  const ns = `${ctx.db}.${nameArg(ctx)}`;
  const dropped = ctx.state.store.drop(ns);
  // mongod >= 7.0 reports success for a collection that does not exist
  return dropped ? { nIndexesWas: dropped.indexes.length, ns, ok: 1 } : ok();
};

const dropDatabase: CommandHandler = (ctx) => {
  ctx.state.store.dropDatabase(ctx.db);
  return { dropped: ctx.db, ok: 1 };
};

function defaultIndexName(key: Document): string {
  return Object.entries(key)
    .map(([field, dir]) => `${field}_${String(dir)}`)
    .join('_');
}

function sameIndexOptions(a: IndexSpec, b: IndexSpec): boolean {
  return (
    (a.unique ?? false) === (b.unique ?? false) &&
    (a.sparse ?? false) === (b.sparse ?? false) &&
    valueKey(a.partialFilterExpression ?? null) === valueKey(b.partialFilterExpression ?? null)
  );
}

const createIndexes: CommandHandler = (ctx) => {
  const ns = `${ctx.db}.${nameArg(ctx)}`;
  const specs: unknown = ctx.body.indexes;
  if (!Array.isArray(specs) || specs.length === 0) throw new CommandError(2, 'Must specify at least one index to create');
  const existed = ctx.state.store.get(ns) !== undefined;
  const coll = ctx.state.store.ensure(ns);
  const before = coll.indexes.length;
  for (const raw of specs as unknown[]) {
    if (!isPlainObject(raw) || !isPlainObject(raw.key) || Object.keys(raw.key).length === 0) {
      throw new CommandError(9, 'index key pattern must be a non-empty object', { codeName: 'FailedToParse' });
    }
    const key = raw.key;
    const spec: IndexSpec = { v: 2, key, name: typeof raw.name === 'string' ? raw.name : defaultIndexName(key) };
    if (truthy(raw.unique)) spec.unique = true;
    if (truthy(raw.sparse)) spec.sparse = true;
    if (isPlainObject(raw.partialFilterExpression)) spec.partialFilterExpression = raw.partialFilterExpression;
    const sameName = coll.indexes.find((ix) => ix.name === spec.name);
    const sameKey = coll.indexes.find((ix) => valueKey(ix.key) === valueKey(key));
    if (sameName) {
      if (valueKey(sameName.key) !== valueKey(key)) {
        throw new CommandError(86, `An existing index has the same name as the requested index. Requested index: ${spec.name}`);
      }
      if (!sameIndexOptions(sameName, spec)) {
        throw new CommandError(85, `An equivalent index already exists with the same name but different options. Requested index: ${spec.name}`);
      }
      continue;
    }
    if (sameKey && sameIndexOptions(sameKey, spec)) {
      throw new CommandError(85, `Index already exists with a different name: ${sameKey.name}`);
    }
    coll.addIndex(spec);
  }
  const reply: Document = { numIndexesBefore: before, numIndexesAfter: coll.indexes.length, createdCollectionAutomatically: !existed };
  if (coll.indexes.length === before) reply.note = 'all indexes already exist';
  reply.ok = 1;
  return reply;
};

const listIndexes: CommandHandler = (ctx) => {
  const ns = `${ctx.db}.${nameArg(ctx)}`;
  const coll = ctx.state.store.get(ns);
  if (coll === undefined) throw new CommandError(26, `ns does not exist: ${ns}`);
  const cursor = ctx.state.cursors.open(ns, coll.indexes.map((ix) => ({ ...ix })), { defaultAll: true });
  return { cursor, ok: 1 };
};

const dropIndexes: CommandHandler = (ctx) => {
  const ns = `${ctx.db}.${nameArg(ctx)}`;
  const coll = ctx.state.store.get(ns);
  if (coll === undefined) throw new CommandError(26, `ns not found ${ns}`);
  const before = coll.indexes.length;
  const index: unknown = ctx.body.index;
  if (index === '*') {
    coll.dropAllIndexes();
  } else {
    const names = Array.isArray(index)
      ? index.map(String)
      : isPlainObject(index)
        ? coll.indexes.filter((ix) => valueKey(ix.key) === valueKey(index)).map((ix) => ix.name)
        : [String(index)];
    for (const name of names) {
      if (name === '_id_') throw new CommandError(72, 'cannot drop _id index');
      if (!coll.dropIndex(name)) throw new CommandError(27, `index not found with name [${name}]`);
    }
    if (names.length === 0) throw new CommandError(27, `can't find index with key: ${valueKey(index)}`);
  }
  return { nIndexesWas: before, ok: 1 };
};

const commitTransaction: CommandHandler = (ctx) => {
  ctx.state.sessions.commit(ctx.lsid, ctx.txnNumber);
  ctx.state.tickClusterTime();
  return ok();
};

const abortTransaction: CommandHandler = (ctx) => {
  ctx.state.sessions.abort(ctx.lsid, ctx.txnNumber);
  return ok();
};

export const adminCommands: Record<string, CommandHandler> = {
  hello,
  isMaster: hello,
  ismaster: hello,
  ping: ok,
  buildInfo,
  buildinfo: buildInfo,
  getParameter,
  endSessions,
  refreshSessions: ok,
  killAllSessions: ok,
  killSessions,
  saslStart,
  saslContinue,
  logout: (ctx) => {
    ctx.conn.authenticatedUsers.length = 0;
    return ok();
  },
  connectionStatus,
  whatsmyuri,
  serverStatus,
  hostInfo: () => ({ system: { hostname: '127.0.0.1' }, os: {}, extra: {}, ok: 1 }),
  getCmdLineOpts: () => ({ argv: ['mongod'], parsed: {}, ok: 1 }),
  listCollections,
  listDatabases,
  create,
  drop,
  dropDatabase,
  createIndexes,
  listIndexes,
  dropIndexes,
  commitTransaction,
  abortTransaction,
};
