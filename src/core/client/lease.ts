/**
 * A cached client and the leases invocations hold on it. A lease tells the invocation how long the client sat
 * idle before it (how long the process may have been frozen) and marks when the invocation's use of it ends.
 */
import type { MongoClient } from 'mongodb';
import type { ResolvedClientConfig } from '../config/resolve.js';
import type { CheckoutsInFlight, CommandsInFlight } from './in-flight.js';
import type { LinkWatch } from './link.js';
import type { SideChannel } from './side-channel.js';

/** What a check of a cached client after a freeze concluded: keep it, or rebuild it. */
export type ClientVerdict = 'healthy' | 'rebuild';

/** One cached client. */
export interface CacheEntry {
  readonly config: ResolvedClientConfig;
  readonly client: MongoClient;
  /** Settles once the first connect is over; rejected entries are removed from the cache first. */
  readonly ready: Promise<MongoClient>;
  connected: boolean;
  /** Invocations holding a lease on this client right now. */
  active: number;
  /** When the last lease was released (the process may have been frozen since). */
  idleSince: number;
  /** The round-trip time and idle connections the driver reports, for the probe's deadline. */
  readonly link: LinkWatch;
  /** The commands in flight and their connections, when the client monitors commands (`monitorCommands`). */
  readonly inFlight: CommandsInFlight | undefined;
  /** The connections checked out and the invocations open on this client, for the deadline. */
  readonly checkouts: CheckoutsInFlight;
  /** A way to the server outside the pool, for the deadline's killSessions when the pool is full. */
  readonly side: SideChannel;
  /** The freeze/thaw check running on this client, shared by every invocation that leases it meanwhile. */
  check: Promise<ClientVerdict> | undefined;
  /**
   * Set when the client left the cache (evicted under `maxClients`, its secret replaced, its credentials
   * refused): called once the last lease on it is released, to close it. Invocations that hold a lease then
   * finish on it.
   */
  retire?: (() => unknown) | undefined;
  /**
   * MongoDB refused the client's credentials on a new pooled connection (a rotated password): the next
   * acquisition rebuilds the client instead of reusing it, so that its connect fails and the secret is fetched again.
   */
  authFailed?: boolean;
}

/** What the cache gives an invocation: the client, whether this call created it, and how long it sat idle. */
export interface ClientLease {
  readonly client: MongoClient;
  /** This call created (and connected) the client: a cold start. */
  readonly cold: boolean;
  /** Time since the client was last in use by an invocation, 0 when another invocation holds it now. */
  readonly idleMs: number;
  /** What the driver measured about the link (round-trip time, idle connections). */
  readonly link: LinkWatch;
  /** The commands in flight and their connections, when the client monitors commands (`monitorCommands`). */
  readonly inFlight: CommandsInFlight | undefined;
  /** The connections checked out and the invocations open on this client, for the deadline. */
  readonly checkouts: CheckoutsInFlight;
  /** A way to the server outside the pool, for the deadline's killSessions when the pool is full. */
  readonly side: SideChannel;
  /**
   * The freeze/thaw check another invocation is running on this client as the lease was taken: wait for its
   * verdict before sending anything.
   */
  readonly pendingCheck: Promise<ClientVerdict> | undefined;
  /**
   * Runs `check` as this client's one freeze/thaw check: leases taken while it runs get it as `pendingCheck`.
   */
  shareCheck(check: () => Promise<ClientVerdict>): Promise<ClientVerdict>;
  /** Marks the end of the invocation's use of the client (idempotent). */
  release(): void;
}

/** A class, not a closure: one is made per warm invocation. */
export class Lease implements ClientLease {
  readonly idleMs: number;
  readonly pendingCheck: Promise<ClientVerdict> | undefined;
  readonly #entry: CacheEntry;
  #released = false;

  constructor(
    entry: CacheEntry,
    readonly client: MongoClient,
    readonly cold: boolean,
  ) {
    this.#entry = entry;
    this.idleMs = cold || entry.active > 0 ? 0 : Date.now() - entry.idleSince;
    this.pendingCheck = entry.check;
    entry.active++;
  }

  get link(): LinkWatch {
    return this.#entry.link;
  }

  get inFlight(): CommandsInFlight | undefined {
    return this.#entry.inFlight;
  }

  get checkouts(): CheckoutsInFlight {
    return this.#entry.checkouts;
  }

  get side(): SideChannel {
    return this.#entry.side;
  }

  shareCheck(check: () => Promise<ClientVerdict>): Promise<ClientVerdict> {
    const entry = this.#entry;
    const running = check();
    entry.check = running;
    const clear = () => {
      if (entry.check === running) entry.check = undefined;
    };
    running.then(clear, clear);
    return running;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    const entry = this.#entry;
    entry.active--;
    if (entry.active === 0) {
      entry.idleSince = Date.now();
      entry.retire?.();
    }
  }
}
