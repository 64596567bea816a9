/**
 * Public types of the wire-protocol test server. Other test code programs
 * against exactly these names; keep them stable.
 */
import type { Document } from 'bson';

export type { Document };

export interface WireServerOptions {
  /** 'standalone' (default) or 'replicaSet' (hello reports setName/hosts/primary; transactions allowed) */
  topology?: 'standalone' | 'replicaSet';
  /** default 'rs0' */
  replicaSetName?: string;
  /** default 0 (ephemeral); host is always 127.0.0.1 */
  port?: number;
  /**
   * host:port to advertise in hello.hosts/me/primary (e.g. a TCP proxy in front of this server).
   * Default: the server's own address. Also settable later via setAdvertisedAddress().
   */
  advertisedAddress?: string;
  /**
   * Users for SCRAM-SHA-256 and SCRAM-SHA-1. saslStart/saslContinue validate against them.
   * Unauthenticated commands are still accepted (auth is never *required*).
   * With no users configured every authentication attempt fails with code 18.
   */
  users?: Array<{ username: string; password: string; db?: string /* default 'admin' */ }>;
  /**
   * AWS credentials whose MONGODB-AWS authentications are accepted: the server signs the client's STS
   * GetCallerIdentity request again with them (@smithy/signature-v4) instead of calling STS.
   */
  awsCredentials?: Array<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
  /** default 30 */
  logicalSessionTimeoutMinutes?: number;
  /**
   * Speak TLS (PEM key and certificate). `uri` then carries `tls=true`, and `tlsCAFile` when `caFile` is given
   * (the file that verifies `cert`; test/support/tls.ts has a ready set for 127.0.0.1).
   */
  tls?: { key: string | Buffer; cert: string | Buffer; caFile?: string };
}

export interface RecordedCommand {
  /** first key of the command document, e.g. 'insert', 'find', 'hello', 'endSessions' */
  name: string;
  /** $db */
  db: string;
  /** the full command document as received (deserialized with bson, document sequences merged in) */
  body: Document;
  /** lsid.id as lowercase hex UUID string (no dashes) when present */
  lsid?: string;
  /** as a JS number when present */
  txnNumber?: number;
  autocommit?: boolean;
  startTransaction?: boolean;
  connectionId: number;
  /** Date.now() when the request was received */
  at: number;
}

export interface RecordedConnection {
  id: number;
  remotePort: number;
  openedAt: number;
  closedAt?: number;
  /** from the handshake's `client` field */
  clientMetadata?: Document;
  appName?: string;
}

export interface RecordedAuthentication {
  /** the user name (SCRAM) or the access key id (MONGODB-AWS) */
  user: string;
  mechanism: string;
  ok: boolean;
  connectionId: number;
  /** why it was refused */
  reason?: string;
}

export interface FailPoint {
  /** default: any command except handshake/hello/monitoring/auth commands */
  command?: string;
  code: number;
  errmsg?: string;
  codeName?: string;
  errorLabels?: string[];
  /** default 1 */
  times?: number;
  /** instead of an error reply, close the socket (the command is not executed) */
  closeConnection?: boolean;
  /**
   * Instead of an error reply, never answer (an operation that runs for ever), until a `killSessions` names the
   * command's lsid: then the reply is 11601 Interrupted, as mongod answers a killed operation. `code` is unused.
   */
  hang?: boolean;
  /**
   * Instead of answering at once, run the command and answer it as usual when this promise settles: a command the
   * test holds (the order in which the server applies two commands). `code` is unused.
   */
  hold?: Promise<unknown>;
}

export interface WireServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** e.g. 'mongodb://127.0.0.1:PORT/' ; with replicaSet topology it appends '?replicaSet=rs0', with TLS '?tls=true&tlsCAFile=…' */
  readonly uri: string;
  /** every command except handshake/heartbeat hello/isMaster/ismaster (those go to `heartbeats`) */
  readonly commands: RecordedCommand[];
  /** hello/isMaster incl. the initial handshake */
  readonly heartbeats: RecordedCommand[];
  readonly connections: RecordedConnection[];
  /** every authentication conversation that ended (accepted or refused), in order */
  readonly authentications: RecordedAuthentication[];
  openConnectionCount(): number;
  /** commands of a given name (helper) */
  commandsNamed(name: string): RecordedCommand[];
  /** the lsids (lowercase hex) named in every `endSessions` or `killSessions` command received, in order */
  lsidsSentIn(command: 'endSessions' | 'killSessions'): string[];
  /** the same, one list per command received, in order */
  lsidsSentInEach(command: 'endSessions' | 'killSessions'): string[][];
  /** arm a fail point */
  failNext(fp: FailPoint): void;
  clearFailPoints(): void;
  /** end every socket gracefully (FIN) */
  closeAll(): void;
  /** closeAll(), resolved once each of those sockets has closed on both ends (the client saw the FIN) */
  closeAllSeen(): Promise<void>;
  /** destroy every socket with RST (socket.resetAndDestroy()) */
  resetAll(): void;
  /**
   * While on: accept sockets and read bytes but never answer anything (including hello).
   * Turning it off resumes answering NEW requests (requests received during the blackhole are dropped).
   */
  blackhole(on?: boolean): void;
  setAdvertisedAddress(hostPort: string): void;
  /**
   * Changes a SCRAM user's password (adds the user if unknown), as `db.updateUser` does: new authentications
   * check against it; connections already authenticated stay authenticated.
   */
  setPassword(username: string, password: string, db?: string): void;
  /** The AWS credentials MONGODB-AWS accepts from now on (the ones before are no longer accepted). */
  setAwsCredentials(accepted: Array<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>): void;
  /** committed documents of a collection (deep copies) */
  documents(db: string, collection: string): Document[];
  /** clear recorded commands/heartbeats/connections history (not data, not open sockets) */
  clearRecords(): void;
  /** drop all data */
  dropAll(): void;
  /** stop listening and destroy every socket; resolves when closed */
  stop(): Promise<void>;
  /** listen again on the SAME port after stop() (to emulate a server restart); data kept; topologyVersion.processId changes */
  start(): Promise<void>;
}
