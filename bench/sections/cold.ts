/**
 * Cold start. (1) Bundles: bytes and cold import time (fresh Node.js 22 processes timing `require()` with the
 * Lambda environment, interleaved) of each setup's bundle, plain and trimmed; of the example handlers against a
 * plain bundle of the bare driver doing the same calls; and of the items handler with the trims added one by one.
 * (2) First invocation: from starting the container to the first response, without and with latency on the wire.
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BuildOptions } from 'esbuild';
import { lambdaBundleOptions } from '../../src/esbuild.js';
import { startFaultProxy } from '../../test/support/fault-proxy.js';
import { PROJECT_ROOT } from '../../test/support/lambda-emulator/index.js';
import { benchEvent, seededServer, startFunction } from '../lib/rig.js';
import { bundleFixture, SETUP_NAMES, WORK_DIR, type BuiltBundle, type BundleKind, type BundleReportHelpers, type SetupName } from '../lib/setups.js';
import { median, quantile } from '../lib/stats.js';

const require = createRequire(import.meta.url);

/** The example handlers and their bare-driver baselines (as in scripts/bundle-report.mjs). */
export const HANDLERS = {
  items: ['handlers/items/index.ts', 'test/fixtures/handlers/bare-driver/items.ts'],
  transfer: ['handlers/transfer.ts', 'test/fixtures/handlers/bare-driver/transfer.ts'],
  health: ['handlers/health.ts', 'test/fixtures/handlers/bare-driver/health.ts'],
  stockConsumer: ['handlers/sqs-consumer.ts', 'test/fixtures/handlers/bare-driver/sqs-consumer.ts'],
} as const;
export type HandlerName = keyof typeof HANDLERS;

export interface BundleFigure {
  bytes: number;
  deflatedBytes: number;
  importMs: number;
  importP25Ms: number;
  importP75Ms: number;
}

export interface ColdImportFigures {
  runs: number;
  setups: Record<SetupName, Record<BundleKind, BundleFigure>>;
  handlers: Record<HandlerName, { handler: BundleFigure; bare: BundleFigure; ratio: number }>;
  /** The items handler built with the trims added one at a time. */
  trimSteps: Array<{ step: string; why: string } & BundleFigure>;
  /** mongoose through this library's adapter (`serverless-mongodb/mongoose`), plain and trimmed (absent from older results). */
  mongooseAdapter?: Record<BundleKind, BundleFigure>;
}

/** The items handler's builds, from the settings before the trims to the deployed ones. */
function trimSteps(handlerOptions: BuildOptions): Array<{ step: string; why: string; options: BuildOptions }> {
  const { plugins: _plugins, minifyWhitespace: _w, minifySyntax: _s, minifyIdentifiers: _i, keepNames: _k, ...base } = handlerOptions;
  const minified = { ...base, minify: true, keepNames: true };
  return [
    { step: 'before: minify + keepNames, no trims', why: 'the handlers\' previous settings', options: { ...minified, plugins: [] } },
    { step: '+ whatwg-url → the runtime\'s URL', why: 'no tr46/whatwg-url polyfill (~290 KB) to load', options: { ...minified, plugins: [lambdaPlugin({ deferModules: false })] } },
    { step: '+ identifiers not minified, no `keepNames`', why: 'V8 parses and compiles the bundle faster; names stay real without `keepNames`', options: { ...base, minifyWhitespace: true, minifySyntax: true, minifyIdentifiers: false, keepNames: false, plugins: [lambdaPlugin({ deferModules: false })] } },
    { step: '+ rarely used driver modules deferred (as deployed)', why: 'SASLprep tables, CSFLE, GridFS, other auth mechanisms, node:http load at first use', options: handlerOptions },
  ];
}

function lambdaPlugin(trims: { deferModules: boolean }) {
  return lambdaBundleOptions({ trims }).plugins![0]!;
}

function figure(built: { bytes: number; deflatedBytes: number }, times: number[]): BundleFigure {
  return { bytes: built.bytes, deflatedBytes: built.deflatedBytes, importMs: median(times), importP25Ms: quantile(times, 0.25), importP75Ms: quantile(times, 0.75) };
}

export async function runColdImports(helpers: BundleReportHelpers, node: string, runs: number, log: (line: string) => void): Promise<ColdImportFigures> {
  const out = join(WORK_DIR, 'imports');
  await mkdir(out, { recursive: true });
  const { handlerBuildOptions } = require(join(PROJECT_ROOT, 'esbuild.config.cjs')) as { handlerBuildOptions(): BuildOptions };
  const jobs: Array<{ key: string; build: () => Promise<{ file: string; bytes: number; deflatedBytes: number }> }> = [];
  for (const setup of SETUP_NAMES) {
    for (const kind of ['plain', 'trimmed'] as const) jobs.push({ key: `setup:${setup}:${kind}`, build: () => bundleFixture(setup, kind, helpers) });
  }
  for (const kind of ['plain', 'trimmed'] as const) jobs.push({ key: `setup:mongoose-adapter:${kind}`, build: () => bundleFixture('mongoose-adapter', kind, helpers) });
  for (const [name, [handler, bare]] of Object.entries(HANDLERS)) {
    jobs.push({ key: `handler:${name}`, build: () => helpers.bundleFile(handler, join(out, `${name}.cjs`), handlerBuildOptions()) });
    jobs.push({ key: `bare:${name}`, build: () => helpers.bundleFile(bare, join(out, `${name}.bare.cjs`), helpers.plainBuildOptions()) });
  }
  const steps = trimSteps(handlerBuildOptions());
  steps.forEach((step, index) => jobs.push({ key: `step:${index}`, build: () => helpers.bundleFile(HANDLERS.items[0], join(out, `items.step${index}.cjs`), step.options) }));
  const built = new Map<string, { file: string; bytes: number; deflatedBytes: number }>();
  for (const job of jobs) built.set(job.key, await job.build());
  log(`  cold imports: ${jobs.length} bundles × ${runs} fresh Node.js 22 processes`);
  const times = await helpers.measureColdImports([...built.values()].map((bundle) => bundle.file), { node, runs, env: helpers.IMPORT_ENV });
  const of = (key: string) => figure(built.get(key)!, times.get(built.get(key)!.file)!);
  const setups = Object.fromEntries(SETUP_NAMES.map((setup) => [setup, { plain: of(`setup:${setup}:plain`), trimmed: of(`setup:${setup}:trimmed`) }])) as ColdImportFigures['setups'];
  const handlers = Object.fromEntries(
    Object.keys(HANDLERS).map((name) => {
      const handler = of(`handler:${name}`);
      const bare = of(`bare:${name}`);
      return [name, { handler, bare, ratio: handler.importMs / bare.importMs }];
    }),
  ) as ColdImportFigures['handlers'];
  return {
    runs,
    setups,
    handlers,
    trimSteps: steps.map((step, index) => ({ step: step.step, why: step.why, ...of(`step:${index}`) })),
    mongooseAdapter: { plain: of('setup:mongoose-adapter:plain'), trimmed: of('setup:mongoose-adapter:trimmed') },
  };
}

export interface FirstInvocationRow {
  key: string;
  label: string;
  setup: SetupName;
  kind: BundleKind;
  prefetch?: boolean;
  /** Deliver the event this long after the runtime is ready (not counted in the times). */
  eventDelayMs?: number;
}

export const FIRST_INVOCATION_ROWS: FirstInvocationRow[] = [
  { key: 'naive', label: 'naive, plain bundle', setup: 'naive', kind: 'plain' },
  { key: 'guide', label: 'guide, plain bundle', setup: 'guide', kind: 'plain' },
  { key: 'guide-trimmed', label: 'guide, trimmed bundle', setup: 'guide', kind: 'trimmed' },
  { key: 'mongoose', label: 'mongoose, plain bundle', setup: 'mongoose', kind: 'plain' },
  { key: 'library-no-prefetch', label: 'library, `prefetch: false`', setup: 'library', kind: 'trimmed', prefetch: false },
  { key: 'library', label: 'library (prefetch on: the default on Lambda)', setup: 'library', kind: 'trimmed', prefetch: true },
  // An environment initialized ahead of its first event (provisioned concurrency, a proactive init), not frozen meanwhile.
  { key: 'library-no-prefetch-later', label: 'library, `prefetch: false`, event 300 ms after init', setup: 'library', kind: 'trimmed', prefetch: false, eventDelayMs: 300 },
  { key: 'library-later', label: 'library (prefetch on), event 300 ms after init', setup: 'library', kind: 'trimmed', prefetch: true, eventDelayMs: 300 },
];

export interface FirstInvocationFigures {
  runs: number;
  /** The fault proxy's delay per direction: a request/response exchange costs twice this. */
  oneWayLatencyMs: number;
  rows: Array<FirstInvocationRow & {
    /** Medians, without latency: container start to the runtime's first /next (init), the first invocation, both. */
    initMs: number;
    invokeMs: number;
    totalMs: number;
    /** The same with latency. */
    latencyInitMs: number;
    latencyInvokeMs: number;
    latencyTotalMs: number;
    /** (total with latency − total without) ÷ round-trip time: request/response exchanges on the critical path. */
    roundTrips: number;
    failures: number;
  }>;
}

export async function runFirstInvocations(bundles: Map<string, BuiltBundle>, runs: number, oneWayLatencyMs: number, log: (line: string) => void): Promise<FirstInvocationFigures> {
  const { server, id } = await seededServer();
  const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
  server.setAdvertisedAddress(proxy.address);
  const uri = proxy.uriFor(server.uri);
  const samples = new Map<string, { init: number[]; invoke: number[]; total: number[]; failures: number }>();
  const key = (row: FirstInvocationRow, latency: number) => `${row.key}@${latency}`;
  try {
    for (let run = 0; run < runs; run++) {
      for (const latency of [0, oneWayLatencyMs]) {
        proxy.setLatency(latency);
        // Rotate the rows each run, so no row always follows another.
        for (let index = 0; index < FIRST_INVOCATION_ROWS.length; index++) {
          const row = FIRST_INVOCATION_ROWS[(run + index) % FIRST_INVOCATION_ROWS.length]!;
          const bundle = bundles.get(`${row.setup}-${row.kind}`)!;
          const entry = samples.get(key(row, latency)) ?? { init: [], invoke: [], total: [], failures: 0 };
          samples.set(key(row, latency), entry);
          const startedAt = performance.now();
          const fn = await startFunction(bundle, uri, row.prefetch === false ? { BENCH_PREFETCH: 'false' } : {}, 10_000);
          const readyAt = performance.now();
          if (row.eventDelayMs) await sleep(row.eventDelayMs);
          const sentAt = performance.now();
          const result = await fn.invoke(benchEvent(id));
          const doneAt = performance.now();
          await fn.shutdown(100).catch(() => undefined);
          if (!result.ok) {
            entry.failures++;
            continue;
          }
          entry.init.push(readyAt - startedAt);
          entry.invoke.push(doneAt - sentAt);
          entry.total.push(readyAt - startedAt + (doneAt - sentAt));
        }
      }
      log(`  first invocation: run ${run + 1}/${runs}`);
    }
  } finally {
    await proxy.stop();
    await server.stop();
  }
  const rtt = 2 * oneWayLatencyMs;
  return {
    runs,
    oneWayLatencyMs,
    rows: FIRST_INVOCATION_ROWS.map((row) => {
      const base = samples.get(key(row, 0))!;
      const slow = samples.get(key(row, oneWayLatencyMs))!;
      return {
        ...row,
        initMs: median(base.init),
        invokeMs: median(base.invoke),
        totalMs: median(base.total),
        latencyInitMs: median(slow.init),
        latencyInvokeMs: median(slow.invoke),
        latencyTotalMs: median(slow.total),
        roundTrips: (median(slow.total) - median(base.total)) / rtt,
        failures: base.failures + slow.failures,
      };
    }),
  };
}
