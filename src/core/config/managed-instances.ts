/**
 * Lambda Managed Instances: one execution environment runs many invocations at once. The Lambda runtime
 * interface client then starts worker threads (`AWS_LAMBDA_NODEJS_WORKER_COUNT`, by default 8 per vCPU), each
 * with its own module scope (so its own cached client) and each running its events concurrently; the service
 * keeps at most `AWS_LAMBDA_MAX_CONCURRENCY` invocations in flight per environment. The connections an
 * environment opens are therefore workers × servers × (maxPoolSize + the monitor's socket), and the pool of one
 * worker only needs room for its share of the concurrency.
 */
import { LAMBDA_CLIENT_DEFAULTS } from './defaults.js';

export const MAX_CONCURRENCY_ENV = 'AWS_LAMBDA_MAX_CONCURRENCY';
export const WORKER_COUNT_ENV = 'AWS_LAMBDA_NODEJS_WORKER_COUNT';

/** The multi-concurrent mode this process runs in, as the runtime client decides it. */
export interface ManagedInstancesMode {
  /** Invocations in flight per execution environment at most (`AWS_LAMBDA_MAX_CONCURRENCY`). */
  readonly maxConcurrency: number;
  /** Worker threads of the runtime client, each with its own client (`AWS_LAMBDA_NODEJS_WORKER_COUNT`, or 8 per vCPU). */
  readonly workers: number;
  /** Invocations one worker runs at once at most when the service fills the environment: maxConcurrency ÷ workers, rounded up. */
  readonly perWorker: number;
}

/**
 * The Managed Instances mode, when `AWS_LAMBDA_MAX_CONCURRENCY` is set (the runtime client's own test); the
 * worker count is worked out the way the runtime client does (aws-lambda-ric 4, `getWorkerCount`).
 */
export function managedInstancesMode(env: NodeJS.ProcessEnv = process.env): ManagedInstancesMode | undefined {
  const raw = env[MAX_CONCURRENCY_ENV];
  if (raw === undefined) return undefined;
  const maxConcurrency = Number.parseInt(raw, 10);
  if (!Number.isFinite(maxConcurrency) || maxConcurrency < 1) return undefined;
  const configured = Number.parseInt(env[WORKER_COUNT_ENV] ?? '', 10);
  const workers = Number.isFinite(configured) && configured > 0 ? configured : 8 * availableCpus();
  return { maxConcurrency, workers, perWorker: Math.ceil(maxConcurrency / workers) };
}

/**
 * Client defaults under Managed Instances, over the Lambda defaults (the URI and the caller still win):
 * - `maxPoolSize`: one socket per eight invocations a worker runs at once, at least 2 (a `Promise.all` of two),
 *   never more than the invocations themselves; once a worker runs 16 or more, the environment's pools hold about
 *   one socket per eight invocations in flight whatever the worker count. An invocation holds a socket only while
 *   one of its commands is on the wire. Measured by the bench for a handler awaiting other work between a find and
 *   an insert, 64 in flight: over the default 8 workers (8 each, pool 2), 2 (32 each, pool 4) and 4 (16 each, pool
 *   2), the guide's p50 and p99 within the runs' spread with about half its sockets or fewer on loopback; at AWS's
 *   default concurrency with one worker per vCPU (64 each, pool 8), the guide's p50 with under 0.8× its sockets,
 *   where the former cap of 5 cost 1.16× the p50 with the server 2 ms away. A handler that is mostly round trips
 *   queues for a socket below its need (nearly 3× the p50 at 32 each with the pool of 4, the guide's with 16) and
 *   sets its own `maxPoolSize` (docs/runtimes/managed-instances.md, "Pool size", has the figures of each run).
 * - `waitQueueTimeoutMS` 5 000 (the selection timeout): a worker's invocations share its pool; one held by a
 *   hung operation (Managed Instances reports function timeouts but does not enforce them) must fail the
 *   invocations queued behind it rather than hold them forever (the driver's default waits without limit).
 *
 * `monitorCommands` stays off: the deadline closes the connections of operations `killSessions` could not end from
 * the pool's check-out events; with command events it also names the implicit sessions of session-less commands
 * and closes an invocation's own connections at its deadline whatever the others do, but they cost the worker CPU
 * on every command (the bench's pool rows: 1.2× the p50 of a handler making 6 round trips), so it is the caller's choice.
 */
export function managedInstancesDefaults(mode: ManagedInstancesMode | undefined): { maxPoolSize?: number; waitQueueTimeoutMS?: number } {
  if (!mode) return {};
  return { maxPoolSize: poolSizeFor(mode.perWorker), waitQueueTimeoutMS: LAMBDA_CLIENT_DEFAULTS.serverSelectionTimeoutMS };
}

/** The invocations one socket of a worker's default pool serves ({@link managedInstancesDefaults}). */
const INVOCATIONS_PER_SOCKET = 8;

/** A worker's default pool: a socket per eight invocations in flight, at least 2, at most one per invocation. */
function poolSizeFor(perWorker: number): number {
  return Math.min(perWorker, Math.max(2, Math.ceil(perWorker / INVOCATIONS_PER_SOCKET)));
}

/** The connections one environment may open at most: every worker's pool and monitor socket, to every server. */
export function worstCaseConnections(mode: ManagedInstancesMode, maxPoolSize: number, servers: number): number {
  return mode.workers * servers * (maxPoolSize + 1);
}

/**
 * vCPUs as the runtime client counts them: the cgroup's CPU quota, else the cores, else 1. Node's modules are
 * reached through `process.getBuiltinModule` only here, so the edge bundles (which share this layer) import none.
 */
let cpuCount: number | undefined;
function availableCpus(): number {
  cpuCount ??= readAvailableCpus();
  return cpuCount;
}

function readAvailableCpus(): number {
  try {
    const fs = process.getBuiltinModule('node:fs') as typeof import('node:fs');
    const os = process.getBuiltinModule('node:os') as typeof import('node:os');
    const [max, period] = fs.readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (max === 'max') return Math.max(1, os.cpus().length);
    const quota = Number.parseInt(max ?? '', 10);
    const length = Number.parseInt(period ?? '', 10);
    if (quota > 0 && length > 0) return Math.ceil(quota / length);
  } catch {
    // not readable: as the runtime client, one vCPU
  }
  return 1;
}
