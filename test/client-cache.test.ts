import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeMongoClient, ConnectionError, getMongoClient } from '../src/index.js';
import { CaptureLogger } from './support/capture-logger.js';
import { TEST_TLS } from './support/tls.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

/** Connections on which the driver sent its handshake (the `client` metadata document). */
function handshakes(server: WireServer) {
  return server.heartbeats.filter((command) => command.body.client !== undefined);
}

describe('getMongoClient', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer();
  });
  afterEach(async () => {
    await closeMongoClient();
    server.clearRecords();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('returns one cached client across warm calls, connecting once', async () => {
    // Prepare
    const logger = new CaptureLogger();
    const first = await getMongoClient({ uri: server.uri, logger });
    await first.db('app').command({ ping: 1 });
    const connectionsAfterFirst = server.connections.length;

    // Act
    const second = await getMongoClient({ uri: server.uri, logger });
    await second.db('app').command({ ping: 1 });

    // Assess
    expect(second).toBe(first);
    expect(server.connections.length).toBe(connectionsAfterFirst);
    expect(logger.events()).toEqual(['client.created', 'client.reused']);
    expect(logger.withEvent('client.created')[0]?.attributes.mongodb).toMatchObject({ cold: true, connectDurationMs: expect.any(Number) });
    expect(logger.withEvent('client.reused')[0]?.attributes.mongodb).toMatchObject({ cold: false });
  });

  it('shares one connect between concurrent cold callers', async () => {
    // Prepare
    const logger = new CaptureLogger();

    // Act
    const clients = await Promise.all(Array.from({ length: 8 }, () => getMongoClient({ uri: server.uri, logger })));

    // Assess
    expect(new Set(clients).size).toBe(1);
    expect(logger.withEvent('client.created')).toHaveLength(1);
    expect(logger.withEvent('client.reused')).toHaveLength(7);
    // one topology: every handshake comes from the same client process with one monitor
    const monitorHandshakes = handshakes(server).filter((hello) => hello.body.topologyVersion === undefined);
    expect(new Set(monitorHandshakes.map((hello) => hello.connectionId)).size).toBeLessThanOrEqual(3);
  });

  it('gives different URIs their own clients', async () => {
    const a = await getMongoClient({ uri: `${server.uri}a` });
    const b = await getMongoClient({ uri: `${server.uri}b` });
    const aAgain = await getMongoClient({ uri: `${server.uri}a` });
    expect(a).not.toBe(b);
    expect(aAgain).toBe(a);
  });

  it('applies the Lambda defaults, lets the URI and clientOptions override them, and names the app after the function', async () => {
    // Prepare
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'orders-api';
    try {
      // Act
      const byDefault = await getMongoClient({ uri: server.uri });
      const fromUri = await getMongoClient({ uri: `${server.uri}?maxPoolSize=2&retryWrites=false` });
      const fromOptions = await getMongoClient({ uri: server.uri, clientOptions: { maxPoolSize: 9, maxIdleTimeMS: 1000 } });
      await byDefault.db('app').command({ ping: 1 });

      // Assess
      expect(byDefault.options).toMatchObject({
        serverSelectionTimeoutMS: 5000,
        connectTimeoutMS: 3000,
        maxPoolSize: 5,
        minPoolSize: 0,
        maxIdleTimeMS: 60000,
        family: 4,
        retryReads: true,
        retryWrites: true,
        appName: 'orders-api',
      });
      expect(fromUri.options).toMatchObject({ maxPoolSize: 2, retryWrites: false, connectTimeoutMS: 3000 });
      expect(fromOptions.options).toMatchObject({ maxPoolSize: 9, maxIdleTimeMS: 1000, family: 4 });
      const appNames = handshakes(server).map((hello) => (hello.body.client as { application?: { name?: string } }).application?.name);
      expect(appNames).toContain('orders-api');
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    }
  });

  it('does not cache a failed connect: fails within the selection timeout while the server is down, then connects once it is back', async () => {
    // Prepare: the server is down at cold start
    const logger = new CaptureLogger();
    await server.stop();
    const options = { uri: server.uri, logger, clientOptions: { serverSelectionTimeoutMS: 500 } };

    // Act
    const failure = await getMongoClient(options).then(
      () => undefined,
      (error: unknown) => error,
    );
    await server.start();
    const client = await getMongoClient(options);
    const pong = await client.db('app').command({ ping: 1 });

    // Assess
    expect(failure).toBeInstanceOf(ConnectionError);
    expect((failure as Error).message).toMatch(/within serverSelectionTimeoutMS=500/);
    expect(pong).toMatchObject({ ok: 1 });
    expect(logger.events()).toEqual(['client.connect.failed', 'client.created']);
  });

  it('closeMongoClient ends the server sessions and closes every socket, and the next call connects anew', async () => {
    // Prepare
    const client = await getMongoClient({ uri: server.uri });
    await client.withSession((session) => client.db('app').collection('items').insertOne({ a: 1 }, { session }));
    const lsid = server.commandsNamed('insert')[0]?.lsid;

    // Act
    await closeMongoClient();
    const reopened = await getMongoClient({ uri: server.uri });

    // Assess
    expect(server.lsidsSentIn('endSessions')).toContain(lsid);
    expect(reopened).not.toBe(client);
    await closeMongoClient();
    await expect.poll(() => server.openConnectionCount()).toBe(0);
  });

  it('keys options by value: a CA bundle read on every call (an equal Buffer) shares one client and its two sockets', async () => {
    // Prepare: a TLS server, and the CA passed as bytes read anew for each call, as a handler reading a file would
    const tlsServer = await startWireServer({ tls: TEST_TLS });
    const uri = `mongodb://127.0.0.1:${tlsServer.port}/?tls=true`;
    const logger = new CaptureLogger();
    // the monitoring mode of a Lambda container: one monitor socket and one pool socket
    const options = () => ({ uri, logger, clientOptions: { ca: readFileSync(TEST_TLS.caFile), serverMonitoringMode: 'poll' as const } });
    try {
      // Act
      const clients = [];
      for (let call = 0; call < 5; call++) {
        const client = await getMongoClient(options());
        await client.db('app').command({ ping: 1 });
        clients.push(client);
      }
      const socketsAfterFiveCalls = tlsServer.connections.length;
      const otherCa = await getMongoClient({ ...options(), clientOptions: { ...options().clientOptions, ca: Buffer.concat([readFileSync(TEST_TLS.caFile), Buffer.from('\n')]) } });

      // Assess
      expect(new Set(clients).size).toBe(1);
      expect(logger.withEvent('client.created')).toHaveLength(2);
      expect(otherCa).not.toBe(clients[0]);
      // its monitor and its pool socket, whatever the number of calls
      expect(socketsAfterFiveCalls).toBe(2);
    } finally {
      await tlsServer.stop();
    }
  });
});
