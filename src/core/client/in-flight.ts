/**
 * The commands a client has in flight, and on which connection each one waits: what the deadline needs when
 * `killSessions` cannot end an operation because the server never saw it (its socket died without a FIN or an
 * RST). Read from the driver's command monitoring, when the client has it on (`monitorCommands: true`, which the
 * session guard also sets): a command is in flight from `commandStarted` to its `commandSucceeded` or `commandFailed`.
 *
 * Closing one connection is not in the driver's public API. {@link closeConnectionsOf} reaches the pool through
 * the client's topology (driver 7: `topology.s.servers`, each server's `pool.checkedOutConnections`) and fails
 * the connection with a network timeout, as the driver does when `socketTimeoutMS` runs out: the operation on it
 * is retried once on a new connection when it is retryable, and fails with `MongoNetworkTimeoutError` otherwise;
 * the server's other connections stay. Where the driver's internals differ, nothing is closed and it says so.
 *
 * Which invocation a command belongs to: the one whose session it carries, or the one whose handler runs it (the
 * wrappers run the handler with {@link runAsOwner}, an AsyncLocalStorage context), which covers a command given no
 * `{ session }` (the driver then gives it an implicit session of its own). Such an implicit session is named in
 * the deadline's `killSessions` only after {@link retireServerSessions} has kept the driver from reusing it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { MongoNetworkTimeoutError, type CommandFailedEvent, type CommandStartedEvent, type CommandSucceededEvent, type MongoClient } from 'mongodb';

/** One command in flight. */
export interface CommandInFlight {
  /** The driver's request id (unique in the process). */
  readonly requestId: number;
  readonly commandName: string;
  /** The server's address, as the driver writes it (`host:port`). */
  readonly address: string;
  /** The driver's id of the connection the command was written to. */
  readonly connectionId: number | string;
  /** The command's `lsid`, when it carries one. */
  readonly lsid: { readonly id: { readonly buffer: Uint8Array } } | undefined;
  /** The invocation whose handler issued the command ({@link runAsOwner}), when it ran in one. */
  readonly owner: object | undefined;
}

const owners = new AsyncLocalStorage<object>();

/** Runs `fn` (an invocation's handler) as `owner`'s: the commands it issues are attributed to `owner`. */
export function runAsOwner<T>(owner: object, fn: () => T): T {
  return owners.run(owner, fn);
}

/** Runs `fn` as no invocation's (the layer's own commands, which a timer may start in any invocation's context). */
export function runAsNoOwner<T>(fn: () => T): T {
  return owners.exit(fn);
}

export class CommandsInFlight {
  /** By the driver's request id, unique in the process. */
  readonly #commands = new Map<number, CommandInFlight>();

  constructor(client: MongoClient) {
    client.on('commandStarted', (event: CommandStartedEvent) => {
      const { lsid } = event.command as { lsid?: CommandInFlight['lsid'] };
      this.#commands.set(event.requestId, { requestId: event.requestId, commandName: event.commandName, address: event.address, connectionId: event.connectionId ?? -1, lsid, owner: owners.getStore() });
    });
    const settled = (event: CommandSucceededEvent | CommandFailedEvent) => this.#commands.delete(event.requestId);
    client.on('commandSucceeded', settled);
    client.on('commandFailed', settled);
  }

  /** The commands in flight of an invocation: those run by `owner` ({@link runAsOwner}), and those carrying its session (`lsid`, the bytes of its id). */
  of(owner: object, lsid: Uint8Array | undefined): CommandInFlight[] {
    const found: CommandInFlight[] = [];
    for (const command of this.#commands.values()) {
      if (command.owner === owner || (lsid !== undefined && command.lsid !== undefined && Buffer.compare(command.lsid.id.buffer, lsid) === 0)) found.push(command);
    }
    return found;
  }

  /** Those of `commands` still in flight. */
  stillInFlight(commands: readonly CommandInFlight[]): CommandInFlight[] {
    return commands.filter((command) => this.#commands.get(command.requestId) === command);
  }
}

/** What {@link retireServerSessions} needs of the driver's internals (driver 7). */
interface DriverSessions {
  s?: { activeSessions?: Iterable<{ readonly explicit?: boolean; readonly _serverSession?: { readonly id?: { readonly id?: { readonly buffer?: Uint8Array } }; isDirty?: boolean } | null }> };
}

/**
 * Keeps the driver from handing the implicit sessions with these `lsid`s to another operation: their server
 * sessions are marked dirty, as the driver marks one after a network error, so that the session pool drops them
 * when their operation ends instead of reusing them (it reuses the last released first). A `killSessions` naming
 * them is then never applied to another invocation's operation, however late it reaches the server. Returns those
 * of `lsids` found among the client's active implicit sessions and retired (none when this driver's internals are
 * not the ones known): only those may be named.
 */
export function retireServerSessions<TLsid extends NonNullable<CommandInFlight['lsid']>>(client: MongoClient, lsids: readonly TLsid[]): TLsid[] {
  const active = (client as unknown as DriverSessions).s?.activeSessions;
  if (active === undefined || typeof active[Symbol.iterator] !== 'function') return [];
  const retired: TLsid[] = [];
  for (const session of active) {
    const serverSession = session._serverSession;
    const id = serverSession?.id?.id?.buffer;
    if (session.explicit || !serverSession || !(id instanceof Uint8Array)) continue;
    const named = lsids.filter((lsid) => Buffer.compare(lsid.id.buffer, id) === 0);
    if (named.length === 0) continue;
    serverSession.isDirty = true;
    retired.push(...named);
  }
  return retired;
}

/** What {@link closeConnectionsOf} needs of the driver's internals (driver 7). */
interface DriverConnection {
  readonly id: number | string;
  readonly address: string;
  readonly closed?: boolean;
  onError(error: Error): void;
}
interface DriverInternals {
  topology?: { s?: { servers?: Map<string, { pool?: { checkedOutConnections?: Iterable<DriverConnection> } }> } };
}

/** A checked-out connection, as the driver names it: `host:port` and its id. */
export interface ConnectionRef {
  readonly address: string;
  readonly connectionId: number | string;
}

/**
 * Fails the given checked-out connections with a network timeout (`message` says why). Returns how many
 * connections were closed, or undefined when this driver's internals are not the ones known (nothing closed).
 */
export function closeConnectionsOf(client: MongoClient, connections: readonly ConnectionRef[], message: string): number | undefined {
  const servers = (client as unknown as DriverInternals).topology?.s?.servers;
  if (!(servers instanceof Map)) return undefined;
  const wanted = new Set(connections.map((connection) => keyOf(connection.address, connection.connectionId)));
  let closed = 0;
  for (const server of servers.values()) {
    const checkedOut = server.pool?.checkedOutConnections;
    if (checkedOut === undefined || typeof checkedOut[Symbol.iterator] !== 'function') return undefined;
    for (const connection of [...checkedOut]) {
      if (connection.closed === true || !wanted.has(keyOf(connection.address, connection.id)) || typeof connection.onError !== 'function') continue;
      connection.onError(new MongoNetworkTimeoutError(message));
      closed++;
    }
  }
  return closed;
}

function keyOf(address: string, connectionId: number | string): string {
  return `${address}#${connectionId}`;
}

/** An open invocation, as {@link CheckoutsInFlight} sees it. */
export interface OpenInvocation {
  /** Its place in the order of invocations opened and connections checked out ({@link CheckoutsInFlight.open}). */
  readonly openedAt: number;
  /** Its deadline has passed and the server was asked to interrupt its operations (and had time to answer). */
  readonly overDeadline: boolean;
}

/** A connection checked out, and when. */
interface Checkout extends ConnectionRef {
  /** Its place in the order of invocations opened and connections checked out. */
  readonly order: number;
  /** `Date.now()` at the check-out. */
  readonly at: number;
}

/**
 * The connections a client has checked out, and the invocations open on it: what the deadline needs to end an
 * operation that waits on a socket which died without a FIN or an RST, without knowing whose operation it is.
 * Read from the pool's check-out events, which the driver emits (and builds) for every command whatever the
 * options: a Map write per command, unlike the command events (`monitorCommands`), which make the driver
 * deserialize each reply into a document once more.
 *
 * A connection checked out after an invocation opened may be its own; one checked out before may not. So once
 * every invocation opened before a check-out is over its deadline (asked to interrupt, given a few round trips to
 * answer) or finished, the operation on that connection, whoever's, belongs to an invocation over its deadline: it
 * is {@link abandoned}. With one invocation at a time that is exactly its own deadline; with many in flight, the
 * deadline of the last one opened before the command was sent, so at most a function timeout after it.
 * A check-out no open invocation could have made (a command the handler left running after it returned) is
 * abandoned once older than the longest function timeout seen.
 */
export class CheckoutsInFlight {
  #order = 0;
  #longestTimeoutMs = Number.POSITIVE_INFINITY;
  readonly #checkouts = new Map<string, Checkout>();
  readonly #open = new Set<OpenInvocation>();
  readonly #now: () => number;

  /** @param now the clock check-outs are timed with (`Date.now`; a test's own) */
  constructor(client: MongoClient, now: () => number = Date.now) {
    this.#now = now;
    client.on('connectionCheckedOut', (event: ConnectionRef) => {
      this.#checkouts.set(keyOf(event.address, event.connectionId), { address: event.address, connectionId: event.connectionId, order: ++this.#order, at: this.#now() });
    });
    const done = (event: ConnectionRef) => this.#checkouts.delete(keyOf(event.address, event.connectionId));
    client.on('connectionCheckedIn', done);
    client.on('connectionClosed', done);
  }

  /**
   * Registers an invocation as open; returns its place in the order (its `openedAt`).
   * @param timeoutMs its function timeout, when known (for check-outs no open invocation could have made)
   */
  open(invocation: OpenInvocation | undefined, timeoutMs?: number): number {
    if (invocation) this.#open.add(invocation);
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) this.#longestTimeoutMs = this.#longestTimeoutMs === Number.POSITIVE_INFINITY ? timeoutMs : Math.max(this.#longestTimeoutMs, timeoutMs);
    return ++this.#order;
  }

  /** The invocation finished. */
  close(invocation: OpenInvocation): void {
    this.#open.delete(invocation);
  }

  /** The most connections checked out now from one server's pool (a pool at `maxPoolSize` has none to give). */
  mostFromOneServer(): number {
    const counts = new Map<string, number>();
    let most = 0;
    for (const { address } of this.#checkouts.values()) {
      const count = (counts.get(address) ?? 0) + 1;
      counts.set(address, count);
      most = Math.max(most, count);
    }
    return most;
  }

  /** Where the order of check-outs is now: {@link abandoned} given it leaves alone what is checked out after. */
  mark(): number {
    return this.#order;
  }

  /**
   * The connections checked out now whose command belongs, whoever sent it, to an invocation over its deadline.
   * @param mark only those checked out by then ({@link mark}): a command an invocation over its deadline sent since
   *   (a retry on another connection, its next operation) is given until the next look to answer before it counts
   *   as waiting on a dead socket
   */
  abandoned(mark = Number.POSITIVE_INFINITY, now = this.#now()): ConnectionRef[] {
    const found: ConnectionRef[] = [];
    for (const checkout of this.#checkouts.values()) {
      if (checkout.order > mark) continue;
      let owners = 0;
      let pending = false;
      for (const invocation of this.#open) {
        if (invocation.openedAt > checkout.order) continue;
        owners++;
        if (!invocation.overDeadline) {
          pending = true;
          break;
        }
      }
      if (pending) continue;
      if (owners > 0 || now - checkout.at >= this.#longestTimeoutMs) found.push({ address: checkout.address, connectionId: checkout.connectionId });
    }
    return found;
  }
}
