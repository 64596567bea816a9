/**
 * The shape command handlers are written against.
 */
import type { Document } from 'bson';
import type { AwsConversation } from './aws-auth.js';
import type { ScramConversation } from './scram.js';
import type { TxnContext } from './sessions.js';
import type { ServerState } from './state.js';
import type { CollectionView } from './store.js';
import type { RecordedConnection } from './types.js';

/** Per-socket state visible to commands. */
export interface ConnectionInfo {
  id: number;
  record: RecordedConnection;
  remoteAddress: string;
  /** SASL conversations in flight on this connection */
  sasl: Map<number, ScramConversation>;
  /** MONGODB-AWS conversations in flight on this connection */
  awsSasl: Map<number, AwsConversation>;
  authenticatedUsers: Array<{ user: string; db: string }>;
}

export interface CommandContext {
  state: ServerState;
  conn: ConnectionInfo;
  name: string;
  db: string;
  body: Document;
  lsid: string | undefined;
  txnNumber: number | undefined;
  txn: TxnContext;
  /** the collection as this command must see it (transaction overlay aware) */
  view(collection: string): CollectionView;
}

/** A command handler: returns the reply (without $clusterTime); throws CommandError for `ok: 0`. */
export type CommandHandler = (ctx: CommandContext) => Document | Promise<Document>;
