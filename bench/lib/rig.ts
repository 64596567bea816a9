/** What the runtime sections share: a seeded wire server, the emulator's containers, Lambda-style retirement. */
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, ObjectId } from 'mongodb';
import { procState, startLambdaContainer, type InvokeResult, type LambdaContainer } from '../../test/support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from '../../test/support/wire-server/index.js';
import type { BenchEvent, BenchResult } from '../../test/fixtures/bench/work.js';
import type { BuiltBundle } from './setups.js';

export const DB_NAME = 'bench';

/** A replica-set wire server with one item to find; returns it and the item's id. */
export async function seededServer(): Promise<{ server: WireServer; id: string }> {
  const server = await startWireServer({ topology: 'replicaSet' });
  const client = new MongoClient(server.uri, { serverSelectionTimeoutMS: 2000 });
  const id = new ObjectId();
  await client.db(DB_NAME).collection('items').insertOne({ _id: id, name: 'seed' });
  await client.close();
  server.clearRecords();
  return { server, id: id.toHexString() };
}

export function startFunction(bundle: BuiltBundle, uri: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<LambdaContainer> {
  return startLambdaContainer({ entry: 'index', taskRoot: bundle.taskRoot, env: { MONGODB_URI: uri, MONGODB_DB_NAME: DB_NAME, ...env }, timeoutMs });
}

let counter = 0;
export function benchEvent(id: string): BenchEvent {
  return { id, name: `item-${++counter}` };
}

/** The handler's own timing, when the invocation succeeded. */
export function handlerMs(result: InvokeResult): number | undefined {
  return result.ok ? (result.result as BenchResult).handlerMs : undefined;
}

/**
 * Retires a container as Lambda retires an execution environment: with a registered extension, SIGTERM and the
 * runtime's 500 ms; without one, no signal at all: the environment is frozen and destroyed, its sockets never
 * closed by the function (emulated by freezing the process, so that the kernel of this machine does not close
 * them for it as it would for a killed process). Resolves 500 ms after the retirement began; `kill()` after
 * reading the server.
 */
export async function retireLikeLambda(fn: LambdaContainer): Promise<{ sigterm: boolean; exited: boolean }> {
  const sigterm = fn.extensionNames.length > 0;
  if (sigterm) process.kill(fn.pid, 'SIGTERM');
  else await fn.freeze();
  await sleep(500);
  return { sigterm, exited: procState(fn.pid) === undefined || procState(fn.pid) === 'Z' };
}

/** Sessions as the server saw them: lsids used by commands, and those ended by `endSessions`. */
export function serverSessions(server: WireServer): { started: number; ended: number } {
  const started = new Set<string>();
  const ended = new Set<string>();
  for (const command of server.commands) {
    if (command.name === 'endSessions') {
      for (const entry of (command.body.endSessions as Array<{ id?: { buffer?: Uint8Array; toString(encoding: string): string } }>) ?? []) {
        const id = entry.id;
        if (id) ended.add(Buffer.from(id.buffer ?? []).toString('hex'));
      }
    } else if (command.lsid) started.add(command.lsid);
  }
  return { started: started.size, ended: [...started].filter((lsid) => ended.has(lsid)).length };
}

/** The most connections the server had open at once, from its connection records. */
export function peakConnections(server: WireServer): number {
  const events = server.connections.flatMap((connection) => [
    { at: connection.openedAt, delta: 1 },
    ...(connection.closedAt === undefined ? [] : [{ at: connection.closedAt, delta: -1 }]),
  ]);
  // Closes first at equal times: a socket replaced in the same millisecond is not two.
  events.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let peak = 0;
  for (const event of events) {
    open += event.delta;
    peak = Math.max(peak, open);
  }
  return peak;
}
