/**
 * A way to the server outside the client's pool, for the one command that must not wait for a pooled connection:
 * the deadline's `killSessions`. When every connection of the pool is checked out (a pool of 2 under Managed
 * Instances, with its operations held by the server), a command sent through the client waits in the pool's wait
 * queue until one of them answers, which the operations that `killSessions` is to interrupt never do.
 *
 * It is a second MongoClient on the same resolved configuration (the same URI, credentials and TLS), with a pool of
 * one connection, timeouts no longer than the caller's budget and no automatic encryption (nothing it sends is
 * encrypted), built when a command needs it and closed when no command uses it any more: it costs nothing until
 * the pool is full at a deadline, and while it is open, a monitor and one connection per server it selects.
 *
 * Its one connection would send the interrupts of invocations whose deadlines come together (a burst under Managed
 * Instances, its operations all held) one after another, a round trip each. They are sent together instead: the
 * sessions asked for in the same turn of the event loop, or while a `killSessions` is on the wire, go in one.
 */
import type { Document, MongoClient } from 'mongodb';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { createClient } from './connect.js';

/** One caller's sessions to interrupt, waiting for the `killSessions` that names them. */
interface Request {
  readonly lsids: readonly Document[];
  readonly signal: AbortSignal;
  readonly budgetMs: number;
  settled: boolean;
  onAbort: () => void;
  resolve(): void;
  reject(reason: unknown): void;
}

export class SideChannel {
  #client: MongoClient | undefined;
  #queued: Request[] = [];
  #sending = false;
  #closed = false;

  constructor(private readonly config: ResolvedClientConfig) {}

  /**
   * Asks the server to interrupt the operations of `lsids` (`killSessions`), through the side client, built first
   * when none is open; sent with those of the other callers that ask before it goes out.
   * @param signal this caller's bound: when it fires the promise rejects with its reason (the command is aborted
   *   once every caller it carries has given up)
   * @param budgetMs bounds the side client's server selection and connect
   */
  killSessions(lsids: readonly Document[], signal: AbortSignal, budgetMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.#closed) {
        reject(closedError());
        return;
      }
      const request: Request = { lsids, signal, budgetMs, settled: false, onAbort: () => undefined, resolve, reject };
      // Given up while queued: out of the queue, rejected now (not when the command ahead of it ends).
      request.onAbort = () => {
        const at = this.#queued.indexOf(request);
        if (at >= 0) this.#queued.splice(at, 1);
        settleRequest(request, { error: signal.reason });
      };
      signal.addEventListener('abort', request.onAbort, { once: true });
      this.#queued.push(request);
      if (this.#sending) return;
      this.#sending = true;
      queueMicrotask(() => void this.#sendQueued());
    });
  }

  /** Sends what is queued, one `killSessions` at a time, each naming every session queued before it went out. */
  async #sendQueued(): Promise<void> {
    try {
      while (this.#queued.length > 0) {
        const batch = this.#queued.splice(0).filter((request) => {
          if (this.#closed) settleRequest(request, { error: closedError() });
          return !request.settled;
        });
        if (batch.length > 0) await this.#send(batch);
      }
    } finally {
      this.#sending = false;
      const client = this.#client;
      this.#client = undefined;
      client?.close().catch(() => undefined);
    }
  }

  async #send(batch: Request[]): Promise<void> {
    const controller = new AbortController();
    let waiting = batch.length;
    // Given up while its command is on the wire: rejected now; the command is aborted once every caller gave up.
    for (const request of batch) {
      request.signal.removeEventListener('abort', request.onAbort);
      request.onAbort = () => {
        settleRequest(request, { error: request.signal.reason });
        if (--waiting === 0) controller.abort(request.signal.reason);
      };
      request.signal.addEventListener('abort', request.onAbort, { once: true });
    }
    try {
      // Built with the first batch's largest budget, and kept for the batches queued behind it.
      const client = (this.#client ??= this.#build(Math.max(...batch.map((request) => request.budgetMs))));
      await client.db('admin').command({ killSessions: batch.flatMap((request) => request.lsids) }, { signal: controller.signal });
      for (const request of batch) settleRequest(request, undefined);
    } catch (error) {
      for (const request of batch) settleRequest(request, { error });
    }
  }

  #build(budgetMs: number): MongoClient {
    const timeoutMs = Math.max(100, Math.round(budgetMs));
    const { autoEncryption: _encryption, ...clientOptions } = this.config.clientOptions;
    return createClient({
      ...this.config,
      clientOptions: {
        ...clientOptions,
        maxPoolSize: 1,
        minPoolSize: 0,
        monitorCommands: false,
        serverSelectionTimeoutMS: Math.min(timeoutMs, clientOptions.serverSelectionTimeoutMS ?? timeoutMs),
        connectTimeoutMS: Math.min(timeoutMs, clientOptions.connectTimeoutMS ?? timeoutMs),
      },
    });
  }

  /**
   * Closes the side client now, if one is open (the client it stands beside is closing): its command fails, and
   * so does every later request.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.close();
  }
}

/** Resolves or rejects a request once, and stops listening to its signal. */
function settleRequest(request: Request, outcome: { error: unknown } | undefined): void {
  if (request.settled) return;
  request.settled = true;
  request.signal.removeEventListener('abort', request.onAbort);
  if (outcome) request.reject(outcome.error);
  else request.resolve();
}

/** What a request to a closed side channel is rejected with. */
function closedError(): Error {
  return new Error('The MongoDB client is closed: no killSessions is sent for it');
}
