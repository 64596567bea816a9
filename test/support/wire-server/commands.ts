/**
 * Command dispatch: name lookup, session/transaction context, retryable-write
 * replay, error-to-reply conversion and cluster time gossip.
 * Every handler is synchronous, so a command executes atomically.
 */
import type { Document } from 'bson';
import type { CommandContext, CommandHandler, ConnectionInfo } from './command-context.js';
import { adminCommands } from './commands-admin.js';
import { crudCommands } from './commands-crud.js';
import { CommandError, toCommandError } from './errors.js';
import type { ServerState } from './state.js';
import { binaryHex, isPlainObject, toNumber } from './values.js';

const HANDLERS: Record<string, CommandHandler> = { ...adminCommands, ...crudCommands };

/** Facts about a command used for recording and for session handling. */
export interface CommandMeta {
  name: string;
  db: string;
  lsid?: string;
  txnNumber?: number;
  autocommit?: boolean;
  startTransaction?: boolean;
}

export function commandMeta(body: Document, db: string): CommandMeta {
  const meta: CommandMeta = { name: Object.keys(body)[0] ?? '', db };
  const lsid: unknown = body.lsid;
  if (isPlainObject(lsid)) {
    const hex = binaryHex(lsid.id);
    if (hex !== undefined) meta.lsid = hex;
  }
  const txnNumber = toNumber(body.txnNumber);
  if (txnNumber !== undefined) meta.txnNumber = txnNumber;
  if (typeof body.autocommit === 'boolean') meta.autocommit = body.autocommit;
  if (typeof body.startTransaction === 'boolean') meta.startTransaction = body.startTransaction;
  return meta;
}

/** Adds $clusterTime/operationTime in replicaSet mode. */
export function finishReply(state: ServerState, reply: Document): Document {
  return state.replicaSet ? { ...reply, ...state.clusterTimeFields() } : reply;
}

/**
 * Executes one command and returns the reply document. Never throws. Synchronous except for the handlers that
 * return a promise (the MONGODB-AWS signature check): their reply is a promise that never rejects.
 */
export function executeCommand(state: ServerState, conn: ConnectionInfo, body: Document, meta: CommandMeta): Document | Promise<Document> {
  try {
    const handler = Object.hasOwn(HANDLERS, meta.name) ? HANDLERS[meta.name] : undefined;
    if (handler === undefined) {
      throw new CommandError(59, `no such command: '${meta.name}'`);
    }
    const txn = state.sessions.resolve(meta.name, body, meta, state.replicaSet);
    if (txn.cachedReply !== undefined) return finishReply(state, txn.cachedReply);
    const overlay = txn.overlay;
    const ctx: CommandContext = {
      state,
      conn,
      name: meta.name,
      db: meta.db,
      body,
      lsid: meta.lsid,
      txnNumber: meta.txnNumber,
      txn,
      view: (collection) => state.store.view(`${meta.db}.${collection}`, overlay),
    };
    const result = handler(ctx);
    if (result instanceof Promise) {
      return result.then(
        (reply) => finishReply(state, reply),
        (error: unknown) => finishReply(state, toCommandError(error).toReply()),
      );
    }
    const reply = result;
    if (txn.retryable !== undefined && reply.ok === 1) {
      state.sessions.rememberRetryableReply(txn.retryable.lsid, txn.retryable.txnNumber, reply);
    }
    return finishReply(state, reply);
  } catch (error) {
    return finishReply(state, toCommandError(error).toReply());
  }
}
