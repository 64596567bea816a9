/**
 * The freeze/thaw fault matrix, shared by the fault-matrix tests and `bench/freeze-thaw.ts`: a Lambda container
 * (the real runtime client) talks to the wire server through the fault proxy; each run warms the container,
 * freezes it, breaks the sockets as the scenario says, and delivers one invocation on thaw.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { TEST_TLS } from './tls.js';
import { LambdaContainerExitedError, startLambdaContainer, type InvokeResult, type LambdaContainer } from './lambda-emulator/index.js';
import { startWireServer, type WireServer } from './wire-server/index.js';

export type FreezeOperation = 'insertOne' | 'find';

/**
 * The handlers compared: a new client per invocation (naive), MongoDB's Lambda guide, the guide with this library's
 * options, mongoose as its Lambda guide shows it, mongoose through this library's adapter, this library.
 */
export const SETUPS = {
  naive: 'test/fixtures/freeze/naive.ts',
  guide: 'test/fixtures/freeze/guide.ts',
  'guide + library options': 'test/fixtures/freeze/guide-tuned.ts',
  mongoose: 'test/fixtures/freeze/mongoose.ts',
  /** mongoose through this library's adapter (mongooseMiddleware): the same lifecycle, a model on a bound connection. */
  'mongoose adapter': 'test/fixtures/freeze/mongoose-adapter.ts',
  library: 'test/fixtures/freeze/library.ts',
  /** This library's HTTP handler (createHttpHandler, IAM auth): the same invocation lifecycle, without a session. */
  'http handler': 'test/fixtures/freeze/http-handler.ts',
} as const;
export type SetupName = keyof typeof SETUPS;

export interface Rig {
  server: WireServer;
  proxy: FaultProxy;
  fn: LambdaContainer;
  op: FreezeOperation;
}

export interface Scenario {
  id: string;
  title: string;
  freezeMs: number;
  /** Query options added to the connection string. */
  uriOptions?: string;
  /** One-way delay of the proxy from the start (the link's round trip is twice this): a slow link, healthy. */
  latencyMs?: number;
  /** Breaks things while the container is frozen. */
  duringFreeze(rig: Rig): Promise<void> | void;
}

/** The proxy connections whose server side carried a command other than hello: the pool's sockets. */
export function poolConnectionIds(rig: Rig): number[] {
  const poolPorts = new Set(
    rig.server.commands.filter((command) => command.name !== 'endSessions').map((command) => rig.server.connections.find((connection) => connection.id === command.connectionId)?.remotePort),
  );
  return rig.proxy.connections.filter((connection) => connection.open && connection.upstreamPort !== undefined && poolPorts.has(connection.upstreamPort)).map((connection) => connection.id);
}

function openConnectionIds(rig: Rig): number[] {
  return rig.proxy.connections.filter((connection) => connection.open).map((connection) => connection.id);
}

export const SCENARIOS: Scenario[] = [
  { id: 'fin-short', title: 'server closed the sockets (FIN), 3 s freeze', freezeMs: 3_000, duringFreeze: ({ proxy }) => proxy.closeAll() },
  { id: 'fin-long', title: 'server closed the sockets (FIN), 12 s freeze (past a heartbeat)', freezeMs: 12_000, duringFreeze: ({ proxy }) => proxy.closeAll() },
  {
    id: 'slow-link',
    title: 'slow link (250 ms round trips), server closed the sockets (FIN), 3 s freeze',
    freezeMs: 3_000,
    latencyMs: 125,
    duringFreeze: ({ proxy }) => proxy.closeAll(),
  },
  { id: 'rst', title: 'sockets reset (RST)', freezeMs: 3_000, duringFreeze: ({ proxy }) => proxy.resetAll() },
  {
    id: 'blackhole-all',
    title: 'every old socket silently stops answering',
    freezeMs: 3_000,
    duringFreeze: (rig) => {
      for (const id of openConnectionIds(rig)) rig.proxy.blackholeConnection(id, true);
    },
  },
  {
    id: 'blackhole-pool',
    title: 'only the pool socket stops answering',
    freezeMs: 3_000,
    duringFreeze: (rig) => {
      const pool = poolConnectionIds(rig);
      if (pool.length === 0) throw new Error('no pool connection to blackhole');
      for (const id of pool) rig.proxy.blackholeConnection(id, true);
    },
  },
  {
    id: 'restart',
    title: 'server restarted during the freeze',
    freezeMs: 3_000,
    duringFreeze: async ({ server }) => {
      await server.stop();
      await server.start();
    },
  },
  { id: 'idle', title: 'freeze longer than maxIdleTimeMS (1 s)', freezeMs: 3_000, uriOptions: 'maxIdleTimeMS=1000', duringFreeze: () => undefined },
  {
    id: 'not-primary',
    title: 'primary answers the first operation after thaw with NotWritablePrimary',
    freezeMs: 3_000,
    duringFreeze: ({ server, op }) =>
      server.failNext({
        command: op === 'insertOne' ? 'insert' : 'find',
        code: 10107,
        codeName: 'NotWritablePrimary',
        errmsg: 'not primary',
        ...(op === 'insertOne' ? { errorLabels: ['RetryableWriteError'] } : {}),
      }),
  },
];

export interface RunRecord {
  ok: boolean;
  /** From delivery of the event to the response, as the emulator measured it (the slowest of a burst). */
  latencyMs: number;
  requestId: string;
  /** A burst's invocations after the thaw: every requestId (the first is `requestId`). */
  requestIds: string[];
  /** The failures' `errorType: errorMessage`; a burst's joined with `; `. */
  error?: string;
  /** A burst's failures, one entry per failed invocation (the parts of `error`). */
  errors?: string[];
  /** lsid of the operation after the thaw, and of the warm operation that followed it (same when the session was ended). */
  thawLsid?: string;
  nextLsid?: string;
  /**
   * The warm invocation after the thaw rebuilt the client (`client.rebuilt`): a new client has a new session pool, so
   * `nextLsid` differs: when the probe's answer came after its deadline, as it can when the test worker's event loop
   * lags past `probeAfterMs`.
   */
  nextRebuilt?: boolean;
}

export interface ScenarioRun {
  setup: SetupName;
  scenario: Scenario;
  op: FreezeOperation;
  runs: RunRecord[];
  /** Lambda containers killed by a timed-out invocation and replaced. */
  replacedContainers: number;
  logs: string[];
}

export interface RunOptions {
  runs: number;
  /** Function timeout: an invocation still running then fails (Sandbox.Timedout) and the container is replaced. */
  invokeTimeoutMs: number;
  env?: Record<string, string>;
  /** The server speaks TLS (verified with the test CA), as Atlas does; the proxy forwards the encrypted bytes. */
  tls?: boolean;
  /**
   * Invocations delivered at once on the thaw (Vercel Fluid or Managed Instances style): the container runs the
   * runtime client's multi-concurrent mode with one worker (one module scope, one client) and room for them all.
   */
  burst?: number;
}

const OPERATION_COMMAND = { insertOne: 'insert', find: 'find' } as const;

/** Runs one scenario `runs` times in one container (replaced if a timeout killed it) and records every thaw. */
export async function runScenario(setup: SetupName, scenario: Scenario, op: FreezeOperation, options: RunOptions): Promise<ScenarioRun> {
  const server = await startWireServer({ topology: 'replicaSet', ...(options.tls ? { tls: TEST_TLS } : {}) });
  const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
  server.setAdvertisedAddress(proxy.address);
  if (scenario.latencyMs) proxy.setLatency(scenario.latencyMs);
  const base = proxy.uriFor(server.uri);
  const uri = scenario.uriOptions ? `${base}${base.includes('?') ? '&' : '?'}${scenario.uriOptions}` : base;
  const start = () =>
    startLambdaContainer({
      entry: SETUPS[setup],
      env: { MONGODB_URI: uri, POWERTOOLS_LOG_LEVEL: 'DEBUG', ...options.env },
      timeoutMs: options.invokeTimeoutMs,
      ...(options.burst ? { maxConcurrency: options.burst, workerCount: 1 } : {}),
    });
  const result: ScenarioRun = { setup, scenario, op, runs: [], replacedContainers: 0, logs: [] };
  let fn = await start();
  let containerLost = false;
  const lastLsid = () => server.commandsNamed(OPERATION_COMMAND[op]).at(-1)?.lsid;
  try {
    for (let run = 0; run < options.runs; run++) {
      if (containerLost) {
        result.logs.push(...fn.logs);
        fn = await start();
        result.replacedContainers++;
        containerLost = false;
      }
      const rig: Rig = { server, proxy, fn, op };
      const warm = await invoke(fn, op, `warm-${run}`);
      if (!warm.ok) throw new Error(`warm-up invocation failed before the freeze: ${warm.error?.errorMessage}`);
      await fn.freeze();
      await sleep(100);
      await scenario.duringFreeze(rig);
      await sleep(scenario.freezeMs);
      if (options.burst) {
        const burst = await invokeBurst(fn, op, `thawed-${run}`, options.burst);
        const failed = burst.filter((result) => !result.ok);
        const record: RunRecord = {
          ok: failed.length === 0,
          latencyMs: Math.max(...burst.map((result) => result.durationMs)),
          requestId: burst[0]?.requestId ?? 'none',
          requestIds: burst.map((result) => result.requestId),
        };
        if (failed.length > 0) {
          record.errors = failed.map((result) => `${result.error?.errorType}: ${result.error?.errorMessage}`);
          record.error = record.errors.join('; ');
        }
        containerLost = failed.some((result) => result.error?.errorType === 'ContainerExited');
        result.runs.push(record);
        // In multi-concurrent mode a timed-out invocation is reported but not stopped (as on Managed Instances): it
        // keeps its slot, so the container never gets idle enough to freeze again. Replace it, as after a timeout above.
        if (!containerLost && failed.some((result) => result.error?.errorType === 'Sandbox.Timedout')) {
          await fn.shutdown(0).catch(() => undefined);
          containerLost = true;
          continue;
        }
        // A worker thread's console lines reach the process's stdout after its responses: wait for the burst's
        // session records (up to 5 s) before the next freeze stops the process, or shutdown drops them.
        if (!containerLost) await logsMention(fn, 'session.ended', record.requestIds, 5_000);
        continue;
      }
      const thawed = await invoke(fn, op, `thawed-${run}`);
      const record: RunRecord = { ok: thawed.ok, latencyMs: thawed.durationMs, requestId: thawed.requestId, requestIds: [thawed.requestId] };
      if (!thawed.ok) record.error = `${thawed.error?.errorType}: ${thawed.error?.errorMessage}`;
      // A timed-out invocation gets its container killed, as on Lambda: the next run starts a new one.
      containerLost = thawed.error?.errorType === 'Sandbox.Timedout' || thawed.error?.errorType === 'ContainerExited';
      const thawLsid = thawed.ok ? lastLsid() : undefined;
      if (thawLsid) record.thawLsid = thawLsid;
      if (!containerLost) {
        // The thaw's own lines (a rebuild among them) may reach stdout after its response: wait for its last one.
        if (thawed.ok) await logsMention(fn, 'session.ended', [thawed.requestId], 5_000);
        const mark = fn.logs.length;
        const next = await invoke(fn, op, `next-${run}`);
        const nextLsid = next.ok ? lastLsid() : undefined;
        if (nextLsid) record.nextLsid = nextLsid;
        if (next.ok) await logsMention(fn, 'session.ended', [next.requestId], 5_000);
        record.nextRebuilt = fn.logs.slice(mark).some((line) => line.includes('"client.rebuilt"'));
      }
      result.runs.push(record);
    }
  } finally {
    result.logs.push(...fn.logs);
    await fn.shutdown(200).catch(() => undefined);
    await proxy.stop();
    await server.stop();
  }
  return result;
}

/** Waits until, for every id, a container log line names the event and the id (a worker's lines arrive late), or `timeoutMs` passes. */
async function logsMention(fn: LambdaContainer, event: string, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lines = fn.logs.filter((line) => line.includes(event));
    if (ids.every((id) => lines.some((line) => line.includes(id)))) return;
    await sleep(20);
  }
}

/** `count` invocations delivered together to the frozen container, which is thawed once they are all queued. */
async function invokeBurst(fn: LambdaContainer, op: FreezeOperation, name: string, count: number): Promise<InvokeResult[]> {
  try {
    return await fn.invokeMany(Array.from({ length: count }, (_, index) => ({ op, name: `${name}-${index}` })));
  } catch (error) {
    if (error instanceof LambdaContainerExitedError) {
      return [{ requestId: 'container-exited', ok: false, error: { errorType: 'ContainerExited', errorMessage: error.message }, durationMs: 0 }];
    }
    throw error;
  }
}

async function invoke(fn: LambdaContainer, op: FreezeOperation, name: string): Promise<InvokeResult> {
  try {
    return await fn.invoke({ op, name });
  } catch (error) {
    if (error instanceof LambdaContainerExitedError) {
      return { requestId: 'container-exited', ok: false, error: { errorType: 'ContainerExited', errorMessage: error.message }, durationMs: 0 };
    }
    throw error;
  }
}

/** Median and worst of the latencies. */
export function latencySummary(runs: RunRecord[]): { median: number; worst: number } {
  const sorted = runs.map((run) => run.latencyMs).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, worst: sorted.at(-1) ?? Number.NaN };
}
