/**
 * Lambda Managed Instances: one execution environment under the runtime client's multi-concurrent mode
 * (`AWS_LAMBDA_MAX_CONCURRENCY` 64, worker threads each with their own module scope and client), events delivered
 * with 64 in flight at most. Per setup (MongoDB's guide: a module-scope client with default options; the library's
 * middleware with its defaults) and per worker count (the runtime client's default, and fewer): the latency of
 * each invocation (delivery of the event to its response), failures, and the sockets the server saw. The setups
 * and worker counts take turns, round after round, so a noisy moment hits them all.
 */
import { startLambdaContainer, type InvokeResult } from '../../test/support/lambda-emulator/index.js';
import { startWireServer } from '../../test/support/wire-server/index.js';
import { peakConnections } from '../lib/rig.js';
import { median, quantile } from '../lib/stats.js';

export const LMI_SETUPS = { guide: 'test/fixtures/lmi/guide.ts', library: 'test/fixtures/lmi/library.ts' } as const;
export type LmiSetup = keyof typeof LMI_SETUPS;

export interface LmiFigures {
  maxConcurrency: number;
  events: number;
  warmup: number;
  rounds: number;
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
}

export async function runLmi(settings: LmiSettings, log: (line: string) => void): Promise<LmiFigures> {
  const maxConcurrency = 64;
  const variants = (['default', ...settings.workerCounts] as const).flatMap((workers) => (Object.keys(LMI_SETUPS) as LmiSetup[]).map((setup) => ({ setup, workers })));
  const samples = new Map<string, { latencies: number[]; roundP50: number[]; failures: number; sockets: number[]; peaks: number[]; workers: number; worstCase: number | null }>();
  let nextId = 0;
  for (let round = 0; round < settings.rounds; round++) {
    for (const { setup, workers } of variants) {
      const key = `${setup}/${workers}`;
      const sample = samples.get(key) ?? { latencies: [], roundP50: [], failures: 0, sockets: [], peaks: [], workers: 0, worstCase: null };
      samples.set(key, sample);
      const server = await startWireServer({ topology: 'replicaSet' });
      const fn = await startLambdaContainer({
        entry: LMI_SETUPS[setup],
        maxConcurrency,
        ...(workers === 'default' ? {} : { workerCount: workers }),
        timeoutMs: 30_000,
        env: { MONGODB_URI: server.uri, NODE_ENV: 'production', UV_THREADPOOL_SIZE: '64' },
      });
      try {
        const events = (count: number) => Array.from({ length: count }, () => ({ id: nextId++ }));
        const warm = await fn.invokeMany(events(settings.warmup));
        const measured = await fn.invokeMany(events(settings.events));
        const failed = [...warm, ...measured].filter((result: InvokeResult) => !result.ok);
        sample.failures += failed.length;
        const latencies = measured.filter((result) => result.ok).map((result) => result.durationMs);
        sample.latencies.push(...latencies);
        sample.roundP50.push(median(latencies));
        sample.sockets.push(server.connections.length);
        sample.peaks.push(peakConnections(server));
        sample.workers = fn.workerCount;
        const created = fn.jsonLogs().find((line) => (line.mongodb as { event?: string } | undefined)?.event === 'client.created');
        const mode = (created?.mongodb as { managedInstances?: { worstCaseConnections?: number } } | undefined)?.managedInstances;
        if (mode?.worstCaseConnections !== undefined) sample.worstCase = mode.worstCaseConnections;
        log(`  lmi round ${round + 1}: ${setup}, ${fn.workerCount} workers: p50 ${median(latencies).toFixed(0)} ms, ${failed.length} failed, ${server.connections.length} sockets${failed[0] ? ` (${failed[0].error?.errorType}: ${failed[0].error?.errorMessage})` : ''}`);
      } finally {
        fn.kill();
        await server.stop();
      }
    }
  }
  const rows = variants.map(({ setup, workers }) => {
    const sample = samples.get(`${setup}/${workers}`)!;
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
  return { maxConcurrency, events: settings.events, warmup: settings.warmup, rounds: settings.rounds, rows };
}
