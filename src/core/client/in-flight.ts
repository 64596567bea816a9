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
  onError(error: Error): void;
}
interface DriverInternals {
  topology?: { s?: { servers?: Map<string, { pool?: { checkedOutConnections?: Iterable<DriverConnection> } }> } };
}

/**
 * Fails the connections the given commands wait on with a network timeout (`message` says why). Returns how many
 * connections were closed, or undefined when this driver's internals are not the ones known (nothing closed).
 */
export function closeConnectionsOf(client: MongoClient, commands: readonly CommandInFlight[], message: string): number | undefined {
  const servers = (client as unknown as DriverInternals).topology?.s?.servers;
  if (!(servers instanceof Map)) return undefined;
  const wanted = new Set(commands.map((command) => `${command.address}#${command.connectionId}`));
  let closed = 0;
  for (const server of servers.values()) {
    const connections = server.pool?.checkedOutConnections;
    if (connections === undefined || typeof connections[Symbol.iterator] !== 'function') return undefined;
    for (const connection of [...connections]) {
      if (!wanted.has(`${connection.address}#${connection.id}`) || typeof connection.onError !== 'function') continue;
      connection.onError(new MongoNetworkTimeoutError(message));
      closed++;
    }
  }
  return closed;
}
