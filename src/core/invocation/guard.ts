/**
 * The session guard: with `sessionGuard` on, every command a client sends is looked at (the driver's command
 * monitoring, `monitorCommands: true`) and matched with the invocation that issued it. A command that carries
 * another session than the invocation's, or none, is reported (`guard.session`, WARN) by command, collection and
 * invocation; a write that would run outside the invocation's transaction is refused before it is sent
 * (`guard.transaction`, ERROR, and the invocation fails).
 *
 * Which invocation issued a command: the one whose handler runs it (the wrappers run the handler inside an
 * AsyncLocalStorage context), else, when only one invocation is open on the client (a Lambda environment runs one
 * at a time), that one. With several open and no context (the middy middleware under concurrency), a command whose
 * session is none of theirs is reported naming all of them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientSession, CommandStartedEvent, MongoClient } from 'mongodb';
import { ErrorCodes, TransactionError } from '../../shared/errors.js';
import { emit } from '../../shared/logging/emit.js';
import type { ResolvedClientConfig } from '../config/resolve.js';

/** What the guard knows of one open invocation. */
export interface GuardedInvocation {
  readonly requestId: string | undefined;
  readonly config: ResolvedClientConfig;
  /** The invocation's session (an adapter that starts its own, as mongoose's `transaction()`, sets it later). */
  session: ClientSession | undefined;
  /** Whether the invocation runs in a transaction: its writes must carry its session. */
  transaction: boolean;
  /** The first write the guard refused: the invocation fails with it even if the handler caught it. */
  escaped: TransactionError | undefined;
}

/** Commands of the lifecycle itself, never the handler's: the freeze/thaw probe, the session pool's cleanup, the deadline's interrupt. */
const LIFECYCLE_COMMANDS = new Set(['ping', 'endSessions', 'killSessions', 'hello', 'isMaster', 'ismaster']);
/** Commands that write documents. */
const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'bulkWrite']);

const current = new AsyncLocalStorage<GuardedInvocation>();
const watched = new WeakMap<MongoClient, Set<GuardedInvocation>>();

/** Runs `fn` (the handler) as the given invocation's: the guard attributes its commands exactly. */
export function runInInvocation<T>(scope: { readonly guard: GuardedInvocation | undefined }, fn: () => T): T {
  return scope.guard ? current.run(scope.guard, fn) : fn();
}

/** Starts watching the invocation's commands on `client`; returns the function that stops it. */
export function watchInvocation(client: MongoClient, invocation: GuardedInvocation): () => void {
  let open = watched.get(client);
  if (!open) {
    const invocations = new Set<GuardedInvocation>();
    open = invocations;
    watched.set(client, invocations);
    client.on('commandStarted', (event: CommandStartedEvent) => inspect(invocations, event));
  }
  open.add(invocation);
  const invocations = open;
  return () => invocations.delete(invocation);
}

/** The lowercase hex of a session id (`lsid.id`, a UUID binary), as the server's records and the log show it. */
export function hexOf(id: { buffer: Uint8Array } | undefined): string | undefined {
  return id ? Buffer.from(id.buffer).toString('hex') : undefined;
}

function sessionHex(session: ClientSession | undefined): string | undefined {
  return session?.hasEnded === false ? hexOf(session.id?.id) : undefined;
}

/** Throws (refusing the command) when it is a write escaping its invocation's transaction. */
function inspect(open: Set<GuardedInvocation>, event: CommandStartedEvent): void {
  if (open.size === 0 || LIFECYCLE_COMMANDS.has(event.commandName)) return;
  const command = event.command as { lsid?: { id?: { buffer: Uint8Array } }; txnNumber?: unknown; autocommit?: unknown } & Record<string, unknown>;
  const lsid = hexOf(command.lsid?.id);
  let invocation = current.getStore();
  if (invocation === undefined || !open.has(invocation)) {
    if (open.size === 1) [invocation] = open;
    else {
      for (const candidate of open) if (lsid !== undefined && sessionHex(candidate.session) === lsid) return;
      const [any] = open;
      report(any!, event, lsid, [...open].map((candidate) => candidate.requestId));
      return;
    }
  }
  const own = sessionHex(invocation!.session);
  if (own !== undefined && lsid === own) return;
  report(invocation!, event, lsid, [invocation!.requestId]);
}

function report(invocation: GuardedInvocation, event: CommandStartedEvent, lsid: string | undefined, requestIds: Array<string | undefined>): void {
  const { config } = invocation;
  const collection = collectionOf(event);
  const details = {
    command: event.commandName,
    database: event.databaseName,
    collection,
    requestId: requestIds.length === 1 ? requestIds[0] : undefined,
    ...(requestIds.length > 1 ? { candidates: requestIds } : {}),
    session: lsid === undefined ? 'none' : 'another',
    lsid,
  };
  const where = `${event.commandName}${collection ? ` on ${event.databaseName}.${collection}` : ''}`;
  if (invocation.transaction && requestIds.length === 1 && WRITE_COMMANDS.has(event.commandName)) {
    const error = new TransactionError(
      ErrorCodes.WRITE_OUTSIDE_TRANSACTION,
      `The session guard refused ${where}: it carries ${lsid === undefined ? 'no session' : 'another session'} and would have run outside the transaction of invocation ${invocation.requestId ?? '(no request id)'}. Pass \`{ session }\` (context.mongo.session / context.mongoose.session) to the call`,
      { secrets: config.secrets },
    );
    invocation.escaped ??= error;
    emit(config.logger, 'error', 'guard.transaction', 'A write escaped the invocation transaction: refused', { ...details, error }, config.secrets);
    throw error;
  }
  emit(config.logger, 'warn', 'guard.session', `${where} carries ${lsid === undefined ? 'no session' : 'another session'} than its invocation's`, details, config.secrets);
}

function collectionOf(event: CommandStartedEvent): string | undefined {
  const command = event.command as Record<string, unknown>;
  const value = event.commandName === 'getMore' ? command.collection : command[event.commandName];
  return typeof value === 'string' ? value : undefined;
}
