/**
 * Everything a running wire server shares between its connections: data,
 * cursors, sessions, recordings, fail points and the topology/cluster clocks.
 * It outlives stop()/start() (a "restart" keeps the data).
 */
import { Long, ObjectId, Timestamp, type Document } from 'bson';
import { AwsAuthServer } from './aws-auth.js';
import { CursorManager } from './cursors.js';
import { ScramServer, type ScramUser } from './scram.js';
import type { FakeCredentials } from '../aws-sigv4.js';
import { SessionManager } from './sessions.js';
import { Store } from './store.js';
import type { FailPoint, RecordedAuthentication, RecordedCommand, RecordedConnection, WireServerOptions } from './types.js';

export interface NormalizedOptions {
  topology: 'standalone' | 'replicaSet';
  replicaSetName: string;
  port: number;
  advertisedAddress: string | undefined;
  users: ScramUser[];
  awsCredentials: FakeCredentials[];
  logicalSessionTimeoutMinutes: number;
}

export function normalizeOptions(options: WireServerOptions = {}): NormalizedOptions {
  return {
    topology: options.topology ?? 'standalone',
    replicaSetName: options.replicaSetName ?? 'rs0',
    port: options.port ?? 0,
    advertisedAddress: options.advertisedAddress,
    users: (options.users ?? []).map((u) => ({ username: u.username, password: u.password, db: u.db ?? 'admin' })),
    awsCredentials: [...(options.awsCredentials ?? [])],
    logicalSessionTimeoutMinutes: options.logicalSessionTimeoutMinutes ?? 30,
  };
}

interface ArmedFailPoint {
  fp: FailPoint;
  remaining: number;
}

/** Commands a fail point without an explicit `command` never matches. */
const FAIL_POINT_EXEMPT = new Set(['hello', 'isMaster', 'ismaster', 'saslStart', 'saslContinue', 'authenticate']);

export class ServerState {
  readonly store = new Store();
  readonly cursors = new CursorManager();
  readonly sessions = new SessionManager(this.store);
  readonly scram: ScramServer;
  readonly aws: AwsAuthServer;

  readonly commands: RecordedCommand[] = [];
  readonly heartbeats: RecordedCommand[] = [];
  readonly connections: RecordedConnection[] = [];
  /** Every authentication conversation that ended, in order: who, how, and whether the server accepted it. */
  readonly authentications: RecordedAuthentication[] = [];

  blackholed = false;
  /** host:port reported in hello (replicaSet mode) */
  advertised = '127.0.0.1:0';
  /** stays the same across restarts, so the driver never sees a "stale primary" */
  readonly electionId = new ObjectId('7fffffff0000000000000001');

  private failPoints: ArmedFailPoint[] = [];
  private processId = new ObjectId();
  private topologyCounter = 0;
  private readonly topologyListeners = new Set<() => void>();
  private clusterSeconds = Math.floor(Date.now() / 1000);
  private clusterIncrement = 1;
  private lastWriteDate = new Date();
  private nextConnectionId = 1;

  constructor(readonly options: NormalizedOptions) {
    this.scram = new ScramServer(options.users);
    this.aws = new AwsAuthServer(options.awsCredentials);
  }

  get replicaSet(): boolean {
    return this.options.topology === 'replicaSet';
  }

  allocateConnectionId(): number {
    return this.nextConnectionId++;
  }

  // ---- topology version (drives awaitable hello) ----

  topologyVersion(): Document {
    return { processId: this.processId, counter: Long.fromNumber(this.topologyCounter) };
  }

  /** true when the client's topologyVersion is not the current one (then an awaitable hello answers at once) */
  isStaleTopologyVersion(clientVersion: unknown): boolean {
    if (clientVersion === null || typeof clientVersion !== 'object') return true;
    const { processId, counter } = clientVersion as { processId?: unknown; counter?: unknown };
    if (!(processId instanceof ObjectId) || !processId.equals(this.processId)) return true;
    const clientCounter = typeof counter === 'number' ? counter : Long.isLong(counter) ? counter.toNumber() : -1;
    return clientCounter < this.topologyCounter;
  }

  onTopologyChange(listener: () => void): () => void {
    this.topologyListeners.add(listener);
    return () => this.topologyListeners.delete(listener);
  }

  bumpTopology(): void {
    this.topologyCounter += 1;
    this.notifyTopology();
  }

  /** a "restart": new processId, counter back to 0 */
  newProcess(): void {
    this.processId = new ObjectId();
    this.topologyCounter = 0;
    this.notifyTopology();
  }

  private notifyTopology(): void {
    for (const listener of [...this.topologyListeners]) {
      try {
        listener();
      } catch {
        // listeners are internal; never let one break another
      }
    }
  }

  // ---- cluster time (replicaSet mode gossips it) ----

  clusterTime(): Timestamp {
    return new Timestamp({ t: this.clusterSeconds, i: this.clusterIncrement });
  }

  /** advance the cluster time for a write */
  tickClusterTime(): Timestamp {
    const now = Math.floor(Date.now() / 1000);
    if (now > this.clusterSeconds) {
      this.clusterSeconds = now;
      this.clusterIncrement = 1;
    } else {
      this.clusterIncrement += 1;
    }
    this.lastWriteDate = new Date();
    return this.clusterTime();
  }

  lastWrite(): Document {
    const opTime = { ts: this.clusterTime(), t: Long.fromNumber(1) };
    return { opTime, lastWriteDate: this.lastWriteDate, majorityOpTime: opTime, majorityWriteDate: this.lastWriteDate };
  }

  /** `$clusterTime` + `operationTime` fields added to every reply in replicaSet mode */
  clusterTimeFields(): Document {
    const clusterTime = this.clusterTime();
    return {
      $clusterTime: { clusterTime, signature: { hash: Buffer.alloc(20), keyId: Long.fromNumber(0) } },
      operationTime: clusterTime,
    };
  }

  // ---- hung operations (fail point `hang`) and killSessions ----

  private readonly hung = new Map<string, Set<() => void>>();

  /** Registers a hung operation of a session; the returned function forgets it (its socket closed). */
  hang(lsid: string, interrupt: () => void): () => void {
    let set = this.hung.get(lsid);
    if (set === undefined) this.hung.set(lsid, (set = new Set()));
    set.add(interrupt);
    return () => {
      set.delete(interrupt);
      if (set.size === 0) this.hung.delete(lsid);
    };
  }

  /** killSessions: interrupts the sessions' hung operations and aborts their transactions; returns how many operations. */
  killSessions(lsids: string[]): number {
    let interrupted = 0;
    for (const lsid of lsids) {
      const set = this.hung.get(lsid);
      this.hung.delete(lsid);
      for (const interrupt of set ?? []) {
        interrupted += 1;
        interrupt();
      }
    }
    this.sessions.killed(lsids);
    return interrupted;
  }

  // ---- fail points ----

  armFailPoint(fp: FailPoint): void {
    this.failPoints.push({ fp: { ...fp }, remaining: fp.times ?? 1 });
  }

  clearFailPoints(): void {
    this.failPoints = [];
  }

  /** The first armed fail point matching `commandName` (consumes one of its `times`). */
  takeFailPoint(commandName: string): FailPoint | undefined {
    const index = this.failPoints.findIndex(({ fp }) =>
      fp.command === undefined ? !FAIL_POINT_EXEMPT.has(commandName) : fp.command.toLowerCase() === commandName.toLowerCase(),
    );
    if (index < 0) return undefined;
    const armed = this.failPoints[index] as ArmedFailPoint;
    armed.remaining -= 1;
    if (armed.remaining <= 0) this.failPoints.splice(index, 1);
    return armed.fp;
  }
}
