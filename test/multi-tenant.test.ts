// Multi-tenant, the two patterns of mongoose's connection guide, for the driver and for mongoose: one pool with a
// database per tenant (context.mongo.dbFor, context.mongoose.useDb), and a pool per tenant (the `tenant` option)
// under a bound on the client cache (configureClientCache({ maxClients })). Asserted on the wire server: which
// databases got the documents, which connections (by the tenant's appName) opened and closed, the lsids.
import mongoose from 'mongoose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeMongoClient, configureClientCache, ConfigurationError, withMongo, type MongoContext } from '../src/index.js';
import { withMongoose, type MongooseContext } from '../src/mongoose.js';
import { CaptureLogger } from './support/capture-logger.js';
import { deferred, lambdaContext } from './support/lambda-context.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

/** Two sockets per client: the monitor (polling) and one pool socket for sequential invocations. */
const SOCKETS_PER_CLIENT = 2;
const CLIENT_OPTIONS = { serverMonitoringMode: 'poll' } as const;

describe('multi-tenant', () => {
  let server: WireServer;
  const logger = new CaptureLogger();
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(async () => {
    configureClientCache({ maxClients: Number.POSITIVE_INFINITY });
    await closeMongoClient();
    server.clearRecords();
    server.dropAll();
    logger.records.length = 0;
  });
  afterAll(async () => {
    await server.stop();
  });

  /** The tenant's own connection string: its appName names its connections on the server. */
  const tenantUri = (tenant: string) => `mongodb://127.0.0.1:${server.port}/?replicaSet=rs0&appName=tenant-${tenant}`;
  /** The most connections the server had open at once, from its records (a socket counts from its open to its close). */
  const mostOpenAtOnce = () => {
    const { connections } = server;
    return Math.max(...connections.map(({ openedAt }) => connections.filter((other) => other.openedAt <= openedAt && (other.closedAt === undefined || other.closedAt > openedAt)).length));
  };
  const connectionsOf = (tenant: string) => server.connections.filter((connection) => connection.clientMetadata?.application?.name === `tenant-${tenant}`);

  describe('one pool, a database per tenant', () => {
    it('context.mongo.dbFor(name): each tenant database gets its documents over the one client, with the invocation lsid; one Db per name', async () => {
      // Prepare
      const seen: unknown[] = [];
      const handler = withMongo(async (event: { tenant: string }, context: { mongo: MongoContext }) => {
        const { session } = context.mongo;
        const db = context.mongo.dbFor(`tenant_${event.tenant}`);
        seen.push(db);
        await db.collection('users').insertOne({ tenant: event.tenant }, { session });
        return db.collection('users').countDocuments({}, { session });
      }, { uri: server.uri, logger });

      // Act
      await handler({ tenant: 'a' }, lambdaContext());
      await handler({ tenant: 'b' }, lambdaContext());
      await handler({ tenant: 'a' }, lambdaContext());

      // Assess
      expect(server.documents('tenant_a', 'users')).toHaveLength(2);
      expect(server.documents('tenant_b', 'users')).toHaveLength(1);
      expect(seen[0]).toBe(seen[2]);
      expect(logger.withEvent('client.created')).toHaveLength(1);
      const inserts = server.commandsNamed('insert');
      expect(inserts.map((insert) => insert.db)).toEqual(['tenant_a', 'tenant_b', 'tenant_a']);
      for (const insert of inserts) expect(insert.lsid).toMatch(/^[0-9a-f]{32}$/);
    });

    it('dbFor() refuses a name MongoDB would refuse, naming the problem', async () => {
      // Prepare
      const handler = withMongo(async (_event: unknown, context: { mongo: MongoContext }) => context.mongo.dbFor('tenant.a'), { uri: server.uri, logger });

      // Act
      const error = await handler({}, lambdaContext()).catch((thrown: unknown) => thrown);

      // Assess
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as Error).message).toMatch(/database name from dbFor\(\) is not valid/);
    });

    it('context.mongoose.useDb(name): one cached connection per tenant database on the same client, models registered once, operations with the invocation lsid', async () => {
      // Prepare
      const userSchema = new mongoose.Schema({ tenant: String }, { collection: 'users' });
      const connection = mongoose.createConnection();
      const seen: unknown[] = [];
      const handler = withMongoose(async (event: { tenant: string }, context: { mongoose: MongooseContext }) => {
        const db = context.mongoose.useDb(`tenant_${event.tenant}`);
        seen.push(db);
        const User = db.models.User ?? db.model('User', userSchema);
        await User.create({ tenant: event.tenant });
        return User.countDocuments();
      }, { uri: server.uri, connection, logger });

      // Act
      await handler({ tenant: 'a' }, lambdaContext());
      await handler({ tenant: 'b' }, lambdaContext());
      const count = await handler({ tenant: 'a' }, lambdaContext());

      // Assess
      expect(count).toBe(2);
      expect(seen[0]).toBe(seen[2]);
      expect(seen[0]).not.toBe(seen[1]);
      expect(server.documents('tenant_a', 'users')).toHaveLength(2);
      expect(server.documents('tenant_b', 'users')).toHaveLength(1);
      expect(logger.withEvent('client.created')).toHaveLength(1);
      // per invocation, the insert and the count share the invocation's lsid (no `session` passed)
      const inserts = server.commandsNamed('insert');
      const counts = server.commandsNamed('aggregate');
      expect(inserts.map((insert) => insert.lsid)).toEqual(counts.map((countCommand) => countCommand.lsid));
    });
  });

  describe('a pool per tenant, maxClients', () => {
    it('N + 1 tenants with maxClients N: the least recently used client is evicted and closed, the sockets stay within N clients, no invocation fails', async () => {
      // Prepare
      const N = 2;
      configureClientCache({ maxClients: N });
      const openDuring: number[] = [];
      const handler = withMongo(async (event: { tenant: string }, context: { mongo: MongoContext }) => {
        openDuring.push(server.openConnectionCount());
        await context.mongo.db.collection('users').insertOne({ tenant: event.tenant }, { session: context.mongo.session });
        return event.tenant;
      }, { tenant: (event: { tenant: string }) => ({ uri: tenantUri(event.tenant), dbName: `tenant_${event.tenant}` }), logger, clientOptions: CLIENT_OPTIONS });
      const order = ['a', 'b', 'c', 'a', 'b', 'c', 'a'];

      // Act
      const results = [];
      for (const tenant of order) results.push(await handler({ tenant }, lambdaContext()).then(() => 'ok', (error: unknown) => String(error)));

      // Assess: every invocation answered, each tenant's documents in its database
      expect(results).toEqual(order.map(() => 'ok'));
      expect(server.documents('tenant_a', 'users')).toHaveLength(3);
      expect(server.documents('tenant_c', 'users')).toHaveLength(2);
      // every tenant after the first two evicted the least recently used one, and its client closed
      expect(logger.withEvent('client.evicted').map((record) => (record.attributes.mongodb as { uri: string }).uri)).toEqual(['a', 'b', 'c', 'a', 'b'].map(tenantUri));
      expect(logger.withEvent('client.closed')).toHaveLength(5);
      // the server: while each invocation ran, at most N clients' sockets were open. (At the moment a new tenant's
      // first socket opens, the evicted client's close is under way: the server may see its last socket close a
      // few milliseconds after, so at most one client's sockets above the bound, never a leak.)
      expect(Math.max(...openDuring)).toBeLessThanOrEqual(N * SOCKETS_PER_CLIENT);
      expect(mostOpenAtOnce()).toBeLessThanOrEqual((N + 1) * SOCKETS_PER_CLIENT);
      // tenant b's clients both closed (evicted twice); tenant a's first two closed, the third still open
      await vi.waitFor(() => expect(connectionsOf('b').every((connection) => connection.closedAt !== undefined)).toBe(true));
      expect(connectionsOf('b').length).toBeGreaterThanOrEqual(2 * SOCKETS_PER_CLIENT);
      expect(connectionsOf('a').filter((connection) => connection.closedAt === undefined)).toHaveLength(SOCKETS_PER_CLIENT);
      expect(server.openConnectionCount()).toBeLessThanOrEqual(N * SOCKETS_PER_CLIENT);
    });

    it('an evicted client an invocation still holds is closed only once that invocation finished, which succeeds on it', async () => {
      // Prepare: tenant a's invocation waits inside the handler while b and c arrive (maxClients 1)
      configureClientCache({ maxClients: 1 });
      const gate = deferred();
      const inside = deferred();
      const handler = withMongo(async (event: { tenant: string; wait?: boolean }, context: { mongo: MongoContext }) => {
        if (event.wait) {
          inside.resolve();
          await gate.promise;
        }
        await context.mongo.db.collection('users').insertOne({ tenant: event.tenant }, { session: context.mongo.session });
        return event.tenant;
      }, { tenant: (event: { tenant: string }) => ({ uri: tenantUri(event.tenant), dbName: `tenant_${event.tenant}` }), logger, clientOptions: CLIENT_OPTIONS });

      // Act
      const slow = handler({ tenant: 'a', wait: true }, lambdaContext());
      await inside.promise;
      await handler({ tenant: 'b' }, lambdaContext());
      const aOpenWhileHeld = connectionsOf('a').filter((connection) => connection.closedAt === undefined).length;
      gate.resolve();
      const slowResult = await slow;

      // Assess: a ran its insert on the evicted client, which closed after
      expect(slowResult).toBe('a');
      expect(aOpenWhileHeld).toBeGreaterThan(0);
      expect(server.documents('tenant_a', 'users')).toHaveLength(1);
      expect(logger.withEvent('client.evicted')[0]?.attributes.mongodb).toMatchObject({ uri: tenantUri('a'), inFlight: 1 });
      await vi.waitFor(() => expect(connectionsOf('a').every((connection) => connection.closedAt !== undefined)).toBe(true));
      const aInsert = server.commandsNamed('insert').find((command) => command.db === 'tenant_a');
      const aSockets = new Set(connectionsOf('a').map((connection) => connection.id));
      expect(aSockets.has(aInsert!.connectionId)).toBe(true);
    });

    it('mongoose, a pool per tenant: a connection per tenant with its models (models callback once each); a tenant evicted and back runs on its rebound connection', async () => {
      // Prepare
      configureClientCache({ maxClients: 2 });
      const modelled: string[] = [];
      const handler = withMongoose(async (event: { tenant: string }, context: { mongoose: MongooseContext }) => {
        const User = context.mongoose.connection.model('User');
        await User.create({ tenant: event.tenant });
        return User.countDocuments();
      }, {
        tenant: (event: { tenant: string }) => ({ uri: tenantUri(event.tenant), dbName: `tenant_${event.tenant}` }),
        models: (connection) => {
          modelled.push(connection.id.toString());
          connection.model('User', new mongoose.Schema({ tenant: String }, { collection: 'users' }));
        },
        logger,
        clientOptions: CLIENT_OPTIONS,
      });

      // Act
      const counts = [];
      for (const tenant of ['a', 'b', 'c', 'a']) counts.push(await handler({ tenant }, lambdaContext()));

      // Assess
      expect(counts).toEqual([1, 1, 1, 2]);
      expect(modelled).toHaveLength(3);
      expect(logger.withEvent('client.evicted')).toHaveLength(2);
      expect(logger.withEvent('mongoose.rebound')).toHaveLength(1);
      await vi.waitFor(() => expect(server.openConnectionCount()).toBeLessThanOrEqual(2 * SOCKETS_PER_CLIENT));
    });

    it('maxClients must be a positive integer or Infinity', () => {
      // Act, Assess
      expect(() => configureClientCache({ maxClients: 0 })).toThrow(/maxClients.*positive integer or Infinity/);
      expect(() => configureClientCache({ maxClients: 1.5 })).toThrow(ConfigurationError);
    });
  });
});
