/**
 * Logical sessions: multi-document transactions (keyed by lsid + txnNumber)
 * and the retryable-write reply cache.
 *
 * Rules (a reasonable imitation of mongod):
 * - `startTransaction: true, autocommit: false` opens transaction N; a newer
 *   txnNumber on the same lsid implicitly aborts an older open transaction.
 * - other commands with `autocommit: false` must name the open transaction,
 *   otherwise NoSuchTransaction (251, TransientTransactionError).
 * - commitTransaction of an already committed N succeeds again (drivers retry commits).
 * - abortTransaction of an unknown / aborted N is NoSuchTransaction.
 * - a write with txnNumber but without autocommit is a retryable write: a retry
 *   of an already executed (lsid, txnNumber) returns the cached reply without
 *   executing again, like mongod's config.transactions table.
 */
import type { Document } from 'bson';
import { CommandError } from './errors.js';
import { TxnOverlay, type Store } from './store.js';

type TxnState = 'inProgress' | 'committed' | 'aborted';

interface Transaction {
  txnNumber: number;
  state: TxnState;
  overlay: TxnOverlay;
}

interface SessionState {
  /** highest txnNumber seen on this session */
  txnNumber: number;
  txn?: Transaction;
  /** reply of the retryable write executed with `retryTxnNumber` */
  retryTxnNumber?: number;
  retryReply?: Document;
}

/** What a command runs inside. */
export interface TxnContext {
  /** set when the command runs inside a transaction */
  overlay?: TxnOverlay;
  /** set for retryable writes: where to cache the reply */
  retryable?: { lsid: string; txnNumber: number };
  /** a cached reply for a retried retryable write */
  cachedReply?: Document;
}

const ILLEGAL_TXN_STANDALONE = 'Transaction numbers are only allowed on a replica set member or mongos';

export const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify']);

export class SessionManager {
  private readonly sessions = new Map<string, SessionState>();

  constructor(private readonly store: Store) {}

  private session(lsid: string): SessionState {
    let state = this.sessions.get(lsid);
    if (state === undefined) {
      state = { txnNumber: -1 };
      this.sessions.set(lsid, state);
    }
    return state;
  }

  /**
   * Works out the transaction context of a command; throws CommandError for
   * illegal combinations. `replicaSet` false = standalone (no transactions).
   */
  resolve(
    name: string,
    body: Document,
    meta: { lsid?: string; txnNumber?: number; autocommit?: boolean; startTransaction?: boolean },
    replicaSet: boolean,
  ): TxnContext {
    const { lsid, txnNumber } = meta;
    if (txnNumber === undefined) {
      if (meta.autocommit === false || meta.startTransaction === true) {
        throw new CommandError(72, 'Specifying autocommit=false or startTransaction requires a txnNumber');
      }
      return {};
    }
    if (!replicaSet) throw new CommandError(20, ILLEGAL_TXN_STANDALONE);
    if (lsid === undefined) throw new CommandError(72, 'Transaction number requires a session id (lsid)');
    const session = this.session(lsid);

    if (meta.autocommit !== false) {
      // retryable write (or a read that carries a txnNumber: just accept it)
      if (txnNumber < session.txnNumber) {
        throw new CommandError(225, `Retryable write with txnNumber ${txnNumber} is prohibited on session because a newer retryable write with txnNumber ${session.txnNumber} has already started on this session.`);
      }
      this.advance(session, txnNumber);
      if (!WRITE_COMMANDS.has(name)) return {};
      if (session.retryTxnNumber === txnNumber && session.retryReply !== undefined) {
        return { cachedReply: session.retryReply };
      }
      return { retryable: { lsid, txnNumber } };
    }

    if (meta.startTransaction === true) {
      if (txnNumber < session.txnNumber) {
        throw new CommandError(225, `Cannot start transaction ${txnNumber} on session because a newer transaction ${session.txnNumber} has already started.`);
      }
      if (session.txn?.txnNumber === txnNumber) {
        throw new CommandError(117, `Transaction with { txnNumber: ${txnNumber} } has already started`, {
          codeName: 'ConflictingOperationInProgress',
        });
      }
      this.advance(session, txnNumber);
      session.txn = { txnNumber, state: 'inProgress', overlay: new TxnOverlay() };
      return { overlay: session.txn.overlay };
    }

    const txn = session.txn;
    if (txn === undefined || txn.txnNumber !== txnNumber) {
      if (txnNumber < session.txnNumber && name !== 'commitTransaction' && name !== 'abortTransaction') {
        throw new CommandError(225, `txnNumber ${txnNumber} is less than last txnNumber ${session.txnNumber} seen in session`);
      }
      throw noSuchTransaction(txnNumber);
    }
    if (name === 'commitTransaction' || name === 'abortTransaction') return { overlay: txn.overlay };
    if (txn.state === 'committed') throw new CommandError(256, `Transaction with { txnNumber: ${txnNumber} } has been committed.`);
    if (txn.state === 'aborted') throw noSuchTransaction(txnNumber, 'has been aborted');
    return { overlay: txn.overlay };
  }

  /** A newer txnNumber implicitly aborts an older open transaction. */
  private advance(session: SessionState, txnNumber: number): void {
    if (txnNumber > session.txnNumber) {
      if (session.txn?.state === 'inProgress') session.txn.state = 'aborted';
      session.txnNumber = txnNumber;
    }
  }

  rememberRetryableReply(lsid: string, txnNumber: number, reply: Document): void {
    const session = this.session(lsid);
    session.retryTxnNumber = txnNumber;
    session.retryReply = reply;
  }

  commit(lsid: string | undefined, txnNumber: number | undefined): void {
    const txn = this.txnFor(lsid, txnNumber);
    if (txn.state === 'committed') return; // retried commit
    if (txn.state === 'aborted') throw noSuchTransaction(txn.txnNumber, 'has been aborted');
    try {
      this.store.commit(txn.overlay);
    } catch (error) {
      txn.state = 'aborted';
      throw error;
    }
    txn.state = 'committed';
    txn.overlay = new TxnOverlay(); // release memory; nothing reads it any more
  }

  abort(lsid: string | undefined, txnNumber: number | undefined): void {
    const txn = this.txnFor(lsid, txnNumber);
    if (txn.state === 'committed') throw new CommandError(256, `Transaction with { txnNumber: ${txn.txnNumber} } has been committed.`);
    if (txn.state === 'aborted') throw noSuchTransaction(txn.txnNumber);
    txn.state = 'aborted';
    txn.overlay = new TxnOverlay();
  }

  private txnFor(lsid: string | undefined, txnNumber: number | undefined): Transaction {
    if (lsid === undefined || txnNumber === undefined) throw new CommandError(72, 'commit/abort requires lsid and txnNumber');
    const txn = this.sessions.get(lsid)?.txn;
    if (txn === undefined || txn.txnNumber !== txnNumber) throw noSuchTransaction(txnNumber);
    return txn;
  }

  /** endSessions: abort open transactions and forget the sessions. */
  /** killSessions: in-progress transactions are aborted (a later commit gets NoSuchTransaction); the sessions stay known. */
  killed(lsids: string[]): void {
    for (const lsid of lsids) abortInProgress(this.sessions.get(lsid));
  }

  end(lsids: string[]): void {
    for (const lsid of lsids) {
      const session = this.sessions.get(lsid);
      if (session?.txn?.state === 'inProgress') session.txn.state = 'aborted';
      this.sessions.delete(lsid);
    }
  }

  /** Server restart: in-progress transactions are lost, committed history and retryable replies survive. */
  abortAllInProgress(): void {
    for (const session of this.sessions.values()) abortInProgress(session);
  }

  clear(): void {
    this.sessions.clear();
  }
}

function noSuchTransaction(txnNumber: number, what = 'does not match any in-progress transactions'): CommandError {
  return new CommandError(251, `Transaction with { txnNumber: ${txnNumber} } ${what}.`, {
    errorLabels: ['TransientTransactionError'],
  });
}

/** Aborts the session's transaction if one is in progress (its writes are dropped). */
function abortInProgress(session: SessionState | undefined): void {
  if (session?.txn?.state !== 'inProgress') return;
  session.txn.state = 'aborted';
  session.txn.overlay = new TxnOverlay();
}
