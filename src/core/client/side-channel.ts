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
 */
import type { Document, MongoClient } from 'mongodb';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { createClient } from './connect.js';

export class SideChannel {
  #client: MongoClient | undefined;
  #users = 0;

  constructor(private readonly config: ResolvedClientConfig) {}

  /**
   * Runs `command` on the `admin` database through the side client, built first when none is open.
   * @param budgetMs bounds its server selection and connect (the `signal` bounds the whole command)
   */
  async adminCommand(command: Document, signal: AbortSignal, budgetMs: number): Promise<Document> {
    const client = (this.#client ??= this.#build(budgetMs));
    this.#users++;
    try {
      return await client.db('admin').command(command, { signal });
    } finally {
      if (--this.#users === 0 && this.#client === client) {
        this.#client = undefined;
        client.close().catch(() => undefined);
      }
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

  /** Closes the side client now, if one is open (the client it stands beside is closing): its command fails. */
  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.close();
  }
}
