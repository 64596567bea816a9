/**
 * Lambda Managed Instances: one execution environment under the runtime client's multi-concurrent mode
 * (`AWS_LAMBDA_MAX_CONCURRENCY` 64, worker threads each with their own module scope and client), events delivered
 * with 64 in flight at most. Per setup (MongoDB's guide: a module-scope client with default options; the library's
 * middleware with its defaults) and per worker count (the runtime client's default, and fewer): the latency of
 * each invocation (delivery of the event to its response), failures, and the sockets the server saw. The setups
 * and worker counts take turns, round after round, each round starting at the next one, so a noisy moment hits them
 * all and no row always follows the same one. The tail rows ({@link TAIL_SETUPS}) run more rounds than the others.
 */
import { startFaultProxy } from '../../test/support/fault-proxy.js';
import { startLambdaContainer, type InvokeResult } from '../../test/support/lambda-emulator/index.js';
import { startWireServer } from '../../test/support/wire-server/index.js';
import { peakConnections } from '../lib/rig.js';
import { median, quantile } from '../lib/stats.js';

export const LMI_SETUPS = { guide: 'test/fixtures/lmi/guide.ts', library: 'test/fixtures/lmi/library.ts' } as const;
export type LmiSetup = keyof typeof LMI_SETUPS;

/**
 * The rows on the pool size: the handler's shape (how many round trips it makes, how long it awaits other work),
 * the server's distance (a proxy delaying each direction; 0: no proxy, loopback) and the worker count. At the
 * default worker count (8 invocations per worker, a default pool of 2) the guide beside the library with its default
 * pool and with a pool of 5 (the Lambda default), with and without command events; at 2 workers (32 per worker, a
 * default pool of 4) beside pools of 5 (the default before it was one socket per 8 invocations), 8 and 16; and at
 * AWS's default concurrency with one worker per vCPU (128 in flight over 2 workers, 64 each, a default pool of 8)
 * beside a pool of 5.
 */
const DEFAULT_WORKER_SETUPS = [
  { setup: 'guide', pool: 'guide', monitorCommands: false },
  { setup: 'library', pool: 'default', monitorCommands: false },
  { setup: 'library', pool: 5, monitorCommands: false },
  // what the command events cost (they let the deadline close the connection of an operation on a dead socket)
  { setup: 'library', pool: 5, monitorCommands: true },
] as const;
const FEW_WORKER_SETUPS = [
  { setup: 'guide', pool: 'guide', monitorCommands: false },
  { setup: 'library', pool: 'default', monitorCommands: false },
  { setup: 'library', pool: 5, monitorCommands: false },
  { setup: 'library', pool: 8, monitorCommands: false },
  { setup: 'library', pool: 16, monitorCommands: false },
] as const;
const MANY_PER_WORKER_SETUPS = [
  { setup: 'guide', pool: 'guide', monitorCommands: false },
  { setup: 'library', pool: 'default', monitorCommands: false },
  { setup: 'library', pool: 5, monitorCommands: false },
] as const;
export const POOL_SHAPES = [
  { shape: 'find, 100 ms, insert', finds: 1, awaitMs: 100, rttMs: 2, workers: 'default', setups: DEFAULT_WORKER_SETUPS },
  { shape: '5 finds, 10 ms, insert', finds: 5, awaitMs: 10, rttMs: 2, workers: 'default', setups: DEFAULT_WORKER_SETUPS },
  { shape: '5 finds, 10 ms, insert', finds: 5, awaitMs: 10, rttMs: 10, workers: 'default', setups: DEFAULT_WORKER_SETUPS },
  { shape: 'find, 100 ms, insert', finds: 1, awaitMs: 100, rttMs: 0, workers: 2, setups: FEW_WORKER_SETUPS },
  { shape: 'find, 100 ms, insert', finds: 1, awaitMs: 100, rttMs: 2, workers: 2, setups: FEW_WORKER_SETUPS },
  { shape: '5 finds, 10 ms, insert', finds: 5, awaitMs: 10, rttMs: 2, workers: 2, setups: FEW_WORKER_SETUPS },
  // AWS's default: 64 in flight per vCPU, here with one worker per vCPU
  { shape: 'find, 100 ms, insert', finds: 1, awaitMs: 100, rttMs: 0, workers: 2, maxConcurrency: 128, setups: MANY_PER_WORKER_SETUPS },
  { shape: 'find, 100 ms, insert', finds: 1, awaitMs: 100, rttMs: 2, workers: 2, maxConcurrency: 128, setups: MANY_PER_WORKER_SETUPS },
] as const;
type PoolSetup = (typeof POOL_SHAPES)[number]['setups'][number];

/**
 * The tail rows: AWS's default concurrency with one worker per vCPU (128 in flight over 2 workers, 64 each), loopback,
 * the same handler, over more rounds than the rows above (a round's p99 is the 5th slowest of its 512 events, and
 * moves by about ±10 % from round to round). Beside the guide: the guide's handler inside middy with no middleware
 * (what middy adds), the library's middleware, and the library without its session (`session: false`).
 */
export const TAIL_SETUPS = [
  { setup: 'guide', entry: LMI_SETUPS.guide, env: {} },
  { setup: 'guide in middy', entry: 'test/fixtures/lmi/guide-middy.ts', env: {} },
  { setup: 'library', entry: LMI_SETUPS.library, env: {} },
  { setup: 'library, session: false', entry: LMI_SETUPS.library, env: { LMI_SESSION: 'off' } },
] as const;
export const TAIL_IN_FLIGHT = 128;
export const TAIL_WORKERS = 2;

export interface LmiTailRow {
  setup: (typeof TAIL_SETUPS)[number]['setup'];
  failures: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Each round's own p99. */
  roundP99Ms: number[];
  socketsOpened: number;
}

export interface LmiPoolRow {
  shape: string;
  rttMs: number;
  /** `AWS_LAMBDA_NODEJS_WORKER_COUNT`, or `default` (absent in results from before the rows had other counts: the default). */
  workersSetting?: number | 'default';
  workers?: number;
  /** `AWS_LAMBDA_MAX_CONCURRENCY` (absent in results from before the rows had other values: 64). */
  maxConcurrency?: number;
  setup: LmiSetup;
  /** The library's `maxPoolSize`: its default, or set; the guide's is the driver's (100). */
  pool: 'guide' | 'default' | number;
  maxPoolSize: number | null;
  /** The library's `monitorCommands` (off by default). */
  monitorCommands: boolean;
  failures: number;
  p50Ms: number;
  p99Ms: number;
  socketsOpened: number;
}

export interface LmiFigures {
  maxConcurrency: number;
  events: number;
  warmup: number;
  rounds: number;
  /** Rows on the pool size (absent in results from before they existed). */
  poolRows?: LmiPoolRow[];
  /** The tail rows (absent in results from before they existed, or when not run): {@link TAIL_SETUPS}. */
  tail?: { maxConcurrency: number; workers: number; events: number; warmup: number; rounds: number; rows: LmiTailRow[] };
  rows: Array<{
    setup: LmiSetup;
    /** `AWS_LAMBDA_NODEJS_WORKER_COUNT`, or `default` (the runtime client's: 8 × the CPUs it reads). */
    workersSetting: number | 'default';
    workers: number;
    failures: number;
    p50Ms: number;
    p99Ms: number;
    /** The rounds' own medians. */
    roundP50Ms: number[];
    /** Sockets the server saw opened in a round (warm-up included), the median over the rounds, and the most open at once. */
    socketsOpened: number;
    peakOpenSockets: number;
    /** The library's logged worst case for the environment (`client.created` → `managedInstances.worstCaseConnections`). */
    worstCaseConnections: number | null;
  }>;
}

export interface LmiSettings {
  events: number;
  warmup: number;
  rounds: number;
  /** Worker counts besides the default. */
  workerCounts: number[];
  /** Whether to run the pool rows too. */
  pool: boolean;
  /** Rounds of the tail rows; 0 skips them. */
  tailRounds: number;
}

interface Variant {
  key: string;
  /** The handler's module (test/fixtures/lmi/). */
  entry: string;
  workers: number | 'default';
  env?: Record<string, string>;
  rttMs?: number;
  /** `AWS_LAMBDA_MAX_CONCURRENCY` (the events measured and warming up scale with it from the section's). */
  maxConcurrency: number;
}

interface Sample {
  latencies: number[];
  roundP50: number[];
  roundP99: number[];
  failures: number;
  sockets: number[];
  peaks: number[];
  workers: number;
  worstCase: number | null;
  maxPoolSize: number | null;
}

export async function runLmi(settings: LmiSettings, log: (line: string) => void): Promise<LmiFigures> {
  const maxConcurrency = 64;
  const variants: Array<Variant & { setup: LmiSetup }> = (['default', ...settings.workerCounts] as const).flatMap((workers) => (Object.keys(LMI_SETUPS) as LmiSetup[]).map((setup) => ({ key: `${setup}/${workers}`, setup, entry: LMI_SETUPS[setup], workers, maxConcurrency })));
  const poolVariants: Array<Variant & { setup: LmiSetup; shape: (typeof POOL_SHAPES)[number]; pool: PoolSetup['pool']; monitorCommands: boolean }> = settings.pool
    ? POOL_SHAPES.flatMap((shape) =>
        shape.setups.map(({ setup, pool, monitorCommands }: PoolSetup) => {
          const clientOptions = { ...(typeof pool === 'number' ? { maxPoolSize: pool } : {}), ...(monitorCommands ? { monitorCommands: true } : {}) };
          const inFlight = 'maxConcurrency' in shape ? shape.maxConcurrency : maxConcurrency;
          return {
            key: `pool/${shape.shape}/${shape.rttMs}/${shape.workers}/${inFlight}/${setup}/${pool}${monitorCommands ? '/monitorCommands' : ''}`,
            setup,
            entry: LMI_SETUPS[setup],
            workers: shape.workers,
            rttMs: shape.rttMs,
            maxConcurrency: inFlight,
            shape,
            pool,
            monitorCommands,
            env: { LMI_FINDS: String(shape.finds), LMI_AWAIT_MS: String(shape.awaitMs), ...(Object.keys(clientOptions).length > 0 ? { LMI_CLIENT_OPTIONS: JSON.stringify(clientOptions) } : {}) },
          };
        }),
      )
    : [];
  /** A count of the section's events at `inFlight` instead of its 64: the events scale with the concurrency. */
  const scaled = (count: number, inFlight: number) => Math.round(count * (inFlight / maxConcurrency));
  const tailVariants: Array<Variant & { setup: LmiTailRow['setup'] }> = TAIL_SETUPS.map(({ setup, entry, env }) => ({ key: `tail/${setup}`, setup, entry, env, workers: TAIL_WORKERS, maxConcurrency: TAIL_IN_FLIGHT }));
  const samples = new Map<string, Sample>();
  let nextId = 0;
  for (let round = 0; round < Math.max(settings.rounds, settings.tailRounds); round++) {
    const inRound = [...(round < settings.rounds ? [...variants, ...poolVariants] : []), ...(round < settings.tailRounds ? tailVariants : [])];
    // Each round starts at the next row, so that no row always follows the same one.
    for (const variant of inRound.map((_, index) => inRound[(index + round) % inRound.length]!)) {
      const { workers } = variant;
      const sample = samples.get(variant.key) ?? { latencies: [], roundP50: [], roundP99: [], failures: 0, sockets: [], peaks: [], workers: 0, worstCase: null, maxPoolSize: null };
      samples.set(variant.key, sample);
      const server = await startWireServer({ topology: 'replicaSet' });
      // Half the round trip each way; the server advertises the proxy, so every socket goes through it.
      const proxy = variant.rttMs ? await startFaultProxy({ host: '127.0.0.1', port: server.port }) : undefined;
      if (proxy) {
        server.setAdvertisedAddress(proxy.address);
        proxy.setLatency(variant.rttMs! / 2);
      }
      const inFlight = variant.maxConcurrency;
      const fn = await startLambdaContainer({
        entry: variant.entry,
        maxConcurrency: inFlight,
        ...(workers === 'default' ? {} : { workerCount: workers }),
        timeoutMs: 30_000,
        env: { MONGODB_URI: proxy ? proxy.uriFor(server.uri) : server.uri, NODE_ENV: 'production', UV_THREADPOOL_SIZE: '64', ...variant.env },
      });
      try {
        const events = (count: number) => Array.from({ length: count }, () => ({ id: nextId++ }));
        const warm = await fn.invokeMany(events(scaled(settings.warmup, inFlight)));
        const measured = await fn.invokeMany(events(scaled(settings.events, inFlight)));
        const failed = [...warm, ...measured].filter((result: InvokeResult) => !result.ok);
        sample.failures += failed.length;
        const latencies = measured.filter((result) => result.ok).map((result) => result.durationMs);
        sample.latencies.push(...latencies);
        sample.roundP50.push(median(latencies));
        sample.roundP99.push(quantile(latencies, 0.99));
        sample.sockets.push(server.connections.length);
        sample.peaks.push(peakConnections(server));
        sample.workers = fn.workerCount;
        const created = fn.events('client.created')[0];
        const mode = (created?.mongodb as { managedInstances?: { worstCaseConnections?: number; maxPoolSize?: number } } | undefined)?.managedInstances;
        if (mode?.worstCaseConnections !== undefined) sample.worstCase = mode.worstCaseConnections;
        if (mode?.maxPoolSize !== undefined) sample.maxPoolSize = mode.maxPoolSize;
        log(`  lmi round ${round + 1}: ${variant.key}, ${fn.workerCount} workers: p50 ${median(latencies).toFixed(0)} ms, ${failed.length} failed, ${server.connections.length} sockets${failed[0] ? ` (${failed[0].error?.errorType}: ${failed[0].error?.errorMessage})` : ''}`);
      } finally {
        fn.kill();
        await proxy?.stop();
        await server.stop();
      }
    }
  }
  const poolRows: LmiPoolRow[] = poolVariants.map((variant) => {
    const sample = samples.get(variant.key)!;
    return {
      shape: variant.shape.shape,
      rttMs: variant.shape.rttMs,
      workersSetting: variant.workers,
      workers: sample.workers,
      maxConcurrency: variant.maxConcurrency,
      setup: variant.setup,
      pool: variant.pool,
      maxPoolSize: variant.setup === 'guide' ? null : sample.maxPoolSize,
      monitorCommands: variant.monitorCommands,
      failures: sample.failures,
      p50Ms: median(sample.latencies),
      p99Ms: quantile(sample.latencies, 0.99),
      socketsOpened: median(sample.sockets),
    };
  });
  const rows = variants.map(({ key, setup, workers }) => {
    const sample = samples.get(key)!;
    return {
      setup,
      workersSetting: workers,
      workers: sample.workers,
      failures: sample.failures,
      p50Ms: median(sample.latencies),
      p99Ms: quantile(sample.latencies, 0.99),
      roundP50Ms: sample.roundP50,
      socketsOpened: median(sample.sockets),
      peakOpenSockets: Math.max(...sample.peaks),
      worstCaseConnections: sample.worstCase,
    };
  });
  const tailRows: LmiTailRow[] = tailVariants.map(({ key, setup }) => {
    const sample = samples.get(key)!;
    return {
      setup,
      failures: sample.failures,
      p50Ms: median(sample.latencies),
      p95Ms: quantile(sample.latencies, 0.95),
      p99Ms: quantile(sample.latencies, 0.99),
      roundP99Ms: sample.roundP99,
      socketsOpened: median(sample.sockets),
    };
  });
  const tail = { maxConcurrency: TAIL_IN_FLIGHT, workers: TAIL_WORKERS, events: scaled(settings.events, TAIL_IN_FLIGHT), warmup: scaled(settings.warmup, TAIL_IN_FLIGHT), rounds: settings.tailRounds, rows: tailRows };
  return { maxConcurrency, events: settings.events, warmup: settings.warmup, rounds: settings.rounds, ...(settings.pool ? { poolRows } : {}), ...(settings.tailRounds > 0 ? { tail } : {}), rows };
}
