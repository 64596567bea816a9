/**
 * MongoDB wire-protocol test server for the real `mongodb` driver (v7).
 *
 *   const server = await startWireServer({ topology: 'replicaSet' });
 *   const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 2000 });
 *   await client.db('db').collection('c').insertOne({ a: 1 });
 *   expect(server.commandsNamed('insert')).toHaveLength(1);
 *   await client.close();
 *   await server.stop();
 *
 * Behaviour worth knowing (see test/wire-server.test.ts for executable examples):
 * - Recording happens on arrival, before execution: also for fail points, in
 *   blackhole mode and on sockets already half-closed by closeAll().
 *   hello/isMaster/ismaster go to `heartbeats`, everything else to `commands`.
 *   `commandsNamed()` searches both.
 * - `endSessions` is sent by `client.close()` fire-and-forget (w:0), so it can
 *   arrive just after close() resolves: poll for it (vi.waitFor).
 * - Fail point error replies carry the current topologyVersion, so the driver
 *   treats state-change codes (e.g. 10107) as stale for SDAM and retries
 *   immediately instead of waiting for a heartbeat.
 * - Retryable writes (replicaSet): a retry with an (lsid, txnNumber) that was
 *   already executed gets the cached reply and is not executed again.
 * - Driver 7.9 after resetAll() (RST): the next operation on a pooled socket
 *   fails with a plain `Error: write ECONNRESET` that the driver does not retry
 *   (even retryable reads); after closeAll() (FIN) it is a MongoNetworkError
 *   and retryable operations are retried.
 * - Transactions see committed data plus their own writes (no snapshot
 *   isolation, no write conflicts except unique-key clashes at commit).
 */
export { startWireServer } from './server.js';
export type {
  Document,
  FailPoint,
  RecordedAuthentication,
  RecordedCommand,
  RecordedConnection,
  WireServer,
  WireServerOptions,
} from './types.js';
