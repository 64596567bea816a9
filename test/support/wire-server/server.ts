/**
 * The TCP listener and the public WireServer object.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { BSON, type Document } from 'bson';
import { WireConnection } from './connection.js';
import { deserializeDocument } from './protocol.js';
import { ServerState, normalizeOptions } from './state.js';
import type { FailPoint, RecordedAuthentication, RecordedCommand, RecordedConnection, WireServer, WireServerOptions } from './types.js';

const HOST = '127.0.0.1';

class WireServerImpl implements WireServer {
  readonly host = HOST;
  private readonly state: ServerState;
  private server: Server | undefined;
  private currentPort: number;
  private readonly open = new Set<WireConnection>();
  private explicitAdvertised: string | undefined;
  private stopping: Promise<void> | undefined;
  private readonly tls: WireServerOptions['tls'];

  constructor(options: WireServerOptions) {
    this.tls = options.tls;
    const normalized = normalizeOptions(options);
    this.state = new ServerState(normalized);
    this.currentPort = normalized.port;
    this.explicitAdvertised = normalized.advertisedAddress;
  }

  get port(): number {
    return this.currentPort;
  }

  get uri(): string {
    const params = new URLSearchParams();
    if (this.state.replicaSet) params.set('replicaSet', this.state.options.replicaSetName);
    const { tls } = this;
    if (tls) params.set('tls', 'true');
    if (tls?.caFile) params.set('tlsCAFile', tls.caFile);
    const query = params.toString();
    return `mongodb://${HOST}:${this.currentPort}/${query ? `?${query}` : ''}`;
  }

  get commands(): RecordedCommand[] {
    return this.state.commands;
  }

  get heartbeats(): RecordedCommand[] {
    return this.state.heartbeats;
  }

  get connections(): RecordedConnection[] {
    return this.state.connections;
  }

  get authentications(): RecordedAuthentication[] {
    return this.state.authentications;
  }

  openConnectionCount(): number {
    return this.open.size;
  }

  commandsNamed(name: string): RecordedCommand[] {
    return [...this.state.commands, ...this.state.heartbeats].filter((c) => c.name === name).sort((a, b) => a.at - b.at);
  }

  lsidsSentIn(command: 'endSessions' | 'killSessions'): string[] {
    return this.lsidsSentInEach(command).flat();
  }

  lsidsSentInEach(command: 'endSessions' | 'killSessions'): string[][] {
    return this.commandsNamed(command).map((recorded) => {
      const named: unknown = recorded.body[command];
      return Array.isArray(named) ? named.map((lsid: { id: { buffer: Uint8Array } }) => Buffer.from(lsid.id.buffer).toString('hex')) : [];
    });
  }

  failNext(fp: FailPoint): void {
    this.state.armFailPoint(fp);
  }

  clearFailPoints(): void {
    this.state.clearFailPoints();
  }

  closeAll(): void {
    for (const conn of [...this.open]) conn.end();
  }

  /** Closes on both ends first: the client's driver has seen the sockets die before the next command's checkout. */
  async closeAllSeen(): Promise<void> {
    const closing = [...this.open];
    this.closeAll();
    await Promise.all(closing.map((conn) => conn.whenClosed));
  }

  resetAll(): void {
    for (const conn of [...this.open]) conn.reset();
  }

  blackhole(on = true): void {
    this.state.blackholed = on;
  }

  setAdvertisedAddress(hostPort: string): void {
    this.explicitAdvertised = hostPort;
    this.state.advertised = hostPort;
    this.state.bumpTopology(); // wakes streaming hellos so clients learn it promptly
  }

  setPassword(username: string, password: string, db = 'admin'): void {
    this.state.scram.setPassword(username, password, db);
  }

  setAwsCredentials(accepted: Array<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>): void {
    this.state.aws.setCredentials([...accepted]);
  }

  documents(db: string, collection: string): Document[] {
    const coll = this.state.store.get(`${db}.${collection}`);
    if (coll === undefined) return [];
    // a BSON round trip gives fully independent copies with wire-identical types
    return [...coll.docs.values()].map((doc) => deserializeDocument(BSON.serialize(doc)));
  }

  clearRecords(): void {
    this.state.commands.length = 0;
    this.state.heartbeats.length = 0;
    this.state.authentications.length = 0;
    // keep the records of connections that are still open (they get closedAt later)
    const stillOpen = this.state.connections.filter((c) => c.closedAt === undefined);
    this.state.connections.length = 0;
    this.state.connections.push(...stillOpen);
  }

  dropAll(): void {
    this.state.store.dropAll();
    this.state.cursors.clear();
    this.state.sessions.clear();
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const server = this.server;
    if (server === undefined) return;
    const conns = [...this.open];
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const conn of conns) conn.destroy();
    this.stopping = Promise.all([closed, ...conns.map((c) => c.whenClosed)])
      .then(() => undefined)
      .finally(() => {
        this.server = undefined;
        this.stopping = undefined;
      });
    return this.stopping;
  }

  async start(): Promise<void> {
    if (this.stopping) await this.stopping;
    if (this.server !== undefined) return;
    // a restarted mongod: new processId, no cursors, no open transactions
    this.state.newProcess();
    this.state.cursors.clear();
    this.state.sessions.abortAllInProgress();
    await this.listen(this.currentPort);
  }

  /** Starts listening (retrying briefly if a restart races with the old socket). */
  async listen(port: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.listenOnce(port);
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' || port === 0 || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private listenOnce(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const { tls } = this;
      const server = tls
        ? createTlsServer({ key: tls.key, cert: tls.cert, noDelay: true }, (socket) => this.accept(socket))
        : createServer({ noDelay: true }, (socket) => this.accept(socket));
      const onError = (error: Error): void => {
        server.close();
        reject(error);
      };
      server.once('error', onError);
      server.listen({ port, host: HOST, exclusive: true }, () => {
        server.off('error', onError);
        server.on('error', () => {
          // listener errors after startup (e.g. EMFILE) must not crash the test process
        });
        const address = server.address();
        if (address !== null && typeof address === 'object') this.currentPort = address.port;
        this.server = server;
        this.state.advertised = this.explicitAdvertised ?? `${HOST}:${this.currentPort}`;
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    try {
      const conn = new WireConnection(socket, this.state, (closed) => this.open.delete(closed));
      this.open.add(conn);
    } catch {
      socket.destroy();
    }
  }
}

/** Starts a wire server on 127.0.0.1 (ephemeral port unless `options.port`). */
export async function startWireServer(options: WireServerOptions = {}): Promise<WireServer> {
  const server = new WireServerImpl(options);
  await server.listen(server.port);
  return server;
}
