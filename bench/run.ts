// `npm run bench`: every benchmark of the project in one run (a script, not a test), the setups side by side:
// naive (a client per invocation), MongoDB's Lambda guide, mongoose as its Lambda guide shows it, and this library's
// middy middleware with its defaults, each doing the same work per invocation (a findOne by id and an insertOne) in
// Lambda containers (the real runtime interface client on Node.js 22) against the wire test server on loopback.
//
//   npm run bench [-- --sections warm,cold,first,freeze,footprint,scale,lmi] [--warm-invocations 1500] [--warm-replicas 4]
//     [--import-runs 21] [--first-runs 7] [--latency 5] [--freeze-runs 10] [--freeze-timeout 15000]
//     [--footprint-invocations 50] [--scale 25,50] [--burst 10] [--lmi-events 256] [--lmi-rounds 8] [--lmi-workers 2,4] [--no-lmi-pool]
//     [--lmi-tail-rounds 40] [--quick] [--render]
//
// Writes bench/RESULTS.md, bench/results.json and docs/performance.md between its bench markers; with --sections, the
// sections measured replace theirs in the saved results and the rest stay, when the saved ones are from the same
// machine and Node versions (else, and with --quick, it writes into .tmp/bench/ only). Sections run
// one after another (never two at once: they would share the two cores). Medians and ratios are what to read: on a
// noisy machine absolute times are context.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { PROJECT_ROOT, stopAllLambdaContainers } from '../test/support/lambda-emulator/index.js';
import { bundleFixture, bundleReport, DEPLOYED, FIXTURES, SETUP_NAMES, SETUP_LABELS, WORK_DIR, type BuiltBundle, type FixtureName } from './lib/setups.js';
import { renderResults, type BenchResults, type FreezeFigures } from './report.js';
import { runColdImports, runFirstInvocations, FIRST_INVOCATION_ROWS } from './sections/cold.js';
import { runSecureFirstInvocations } from './sections/first-secure.js';
import { runFootprint } from './sections/footprint.js';
import { runLmi } from './sections/lmi.js';
import { runScale } from './sections/scale.js';
import { runWarm } from './sections/warm.js';

const SECTIONS = ['warm', 'cold', 'first', 'freeze', 'footprint', 'scale', 'lmi'] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    sections: { type: 'string', default: SECTIONS.join(',') },
    'warm-invocations': { type: 'string', default: '1500' },
    'warm-replicas': { type: 'string', default: '4' },
    'import-runs': { type: 'string', default: '21' },
    'first-runs': { type: 'string', default: '7' },
    latency: { type: 'string', default: '5' },
    'freeze-runs': { type: 'string', default: '10' },
    'freeze-timeout': { type: 'string', default: '15000' },
    'footprint-invocations': { type: 'string', default: '50' },
    scale: { type: 'string', default: '25,50' },
    burst: { type: 'string', default: '10' },
    'lmi-events': { type: 'string', default: '256' },
    'lmi-rounds': { type: 'string', default: '8' },
    'lmi-workers': { type: 'string', default: '2,4' },
    // Rounds of the LMI tail rows (128 in flight over 2 workers: guide, guide in middy, library, library without its
    // session); 0 skips them.
    'lmi-tail-rounds': { type: 'string', default: '40' },
    // The pool-size rows (handler shapes, server distances, pool sizes); --no-lmi-pool skips them. Spelled out as its
    // own option: parseArgs' allowNegative needs Node 22.4, and the bench also runs on Node 20.
    'no-lmi-pool': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    // Re-render bench/RESULTS.md and docs/performance.md's section from bench/results.json, measuring nothing.
    render: { type: 'boolean', default: false },
  },
});

if (values.render) {
  const saved = JSON.parse(await readFile(join(PROJECT_ROOT, 'bench', 'results.json'), 'utf8')) as BenchResults;
  const rendered = renderResults(saved);
  await writeFile(join(PROJECT_ROOT, 'bench', 'RESULTS.md'), `# Benchmark results\n\n${rendered}\n`);
  await updatePerformancePage(rendered);
  process.exit(0);
}

/** What each section writes into the results, and the settings it reads. */
const SECTION_KEYS: Record<Section, { results: Array<keyof BenchResults>; settings: Array<keyof Settings> }> = {
  warm: { results: ['warm', 'warmOverheadRatio', 'warmInvocationOverheadRatio', 'warmOverheadRatioWithoutMiddy'], settings: ['warmInvocations', 'warmReplicas'] },
  cold: { results: ['coldImports', 'coldImportRatio'], settings: ['importRuns'] },
  first: { results: ['firstInvocation', 'firstInvocationSecure'], settings: ['firstRuns', 'oneWayLatencyMs'] },
  freeze: { results: ['freeze'], settings: ['freezeRuns', 'freezeTimeoutMs'] },
  footprint: { results: ['footprint'], settings: ['footprintInvocations'] },
  scale: { results: ['scale'], settings: ['scale', 'burst'] },
  lmi: { results: ['lmi'], settings: ['lmiEvents', 'lmiRounds', 'lmiWorkers', 'lmiPool', 'lmiTailRounds'] },
};

/** `--quick`: every section, with small counts, to check the machinery (numbers not worth reading). */
const quick = values.quick;
const settings = {
  warmInvocations: quick ? 40 : Number(values['warm-invocations']),
  warmReplicas: quick ? 1 : Math.max(1, Number(values['warm-replicas'])),
  importRuns: quick ? 3 : Math.max(15, Number(values['import-runs'])),
  firstRuns: quick ? 1 : Number(values['first-runs']),
  oneWayLatencyMs: Number(values.latency),
  freezeRuns: quick ? 1 : Number(values['freeze-runs']),
  freezeTimeoutMs: quick ? 8000 : Number(values['freeze-timeout']),
  footprintInvocations: quick ? 5 : Number(values['footprint-invocations']),
  scale: quick ? [4] : values.scale.split(',').map(Number),
  burst: quick ? 2 : Number(values.burst),
  lmiEvents: quick ? 64 : Number(values['lmi-events']),
  lmiRounds: quick ? 1 : Math.max(1, Number(values['lmi-rounds'])),
  lmiWorkers: values['lmi-workers'].split(',').filter(Boolean).map(Number),
  lmiPool: !quick && !values['no-lmi-pool'],
  lmiTailRounds: quick ? 1 : Math.max(0, Number(values['lmi-tail-rounds'])),
};
const sections = new Set(values.sections.split(',').map((name) => name.trim()) as Section[]);
type Settings = typeof settings;
for (const section of sections) if (!SECTIONS.includes(section)) throw new Error(`Unknown section "${section}": one of ${SECTIONS.join(', ')}`);

const startedAt = Date.now();
const log = (line: string) => process.stdout.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

const helpers = await bundleReport();
const { ensureRuntime } = (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'install-runtimes.mjs')).href)) as { ensureRuntime(major: number): string };
const node = ensureRuntime(22);
const { stdout: nodeVersion } = await promisify(execFile)(node, ['--version']);

// Every bundle the runtime sections run, built once: each setup as deployed, plus the extra first-invocation rows.
log('bundling the setups');
const deployed = new Map<FixtureName, BuiltBundle>();
const byKind = new Map<string, BuiltBundle>();
for (const fixture of Object.keys(FIXTURES) as FixtureName[]) {
  const bundle = await bundleFixture(fixture, DEPLOYED[fixture], helpers);
  deployed.set(fixture, bundle);
  byKind.set(`${fixture}-${DEPLOYED[fixture]}`, bundle);
}
for (const row of FIRST_INVOCATION_ROWS) {
  const key = `${row.setup}-${row.kind}`;
  if (!byKind.has(key)) byKind.set(key, await bundleFixture(row.setup, row.kind, helpers));
}

const results: BenchResults = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model.trim() ?? 'unknown', benchNode: process.version, lambdaNode: nodeVersion.trim() },
  settings,
  setups: SETUP_LABELS,
  warmOverheadRatio: null,
  warmInvocationOverheadRatio: null,
  coldImportRatio: null,
};

try {
  if (sections.has('warm')) {
    log(`warm overhead: ${settings.warmInvocations} invocations per container, ${settings.warmReplicas} containers per setup`);
    results.warm = await runWarm(deployed, { invocations: settings.warmInvocations, warmup: quick ? 5 : 50, replicas: settings.warmReplicas }, log);
    results.warmOverheadRatio = results.warm.setups.library.handlerP50Ms / results.warm.setups.guide.handlerP50Ms;
    results.warmInvocationOverheadRatio = results.warm.setups.library.endToEndP50Ms / results.warm.setups.guide.endToEndP50Ms;
    results.warmOverheadRatioWithoutMiddy = results.warm.withoutMiddy ? results.warm.withoutMiddy.handlerP50Ms / results.warm.setups.guide.handlerP50Ms : null;
  }
  if (sections.has('cold')) {
    log('cold import: bundling');
    results.coldImports = await runColdImports(helpers, node, settings.importRuns, log);
    results.coldImportRatio = Math.max(...Object.values(results.coldImports.handlers).map((handler) => handler.ratio));
  }
  if (sections.has('first')) {
    log(`first invocation: ${settings.firstRuns} runs per row, with ${2 * settings.oneWayLatencyMs} ms round trips and without`);
    results.firstInvocation = await runFirstInvocations(byKind, settings.firstRuns, settings.oneWayLatencyMs, log);
    log(`first invocation over TLS with SCRAM-SHA-256 and MONGODB-AWS: ${settings.firstRuns} runs per row`);
    // 25 ms each way: these rows' ~20 exchanges then add ~1 s, well above a cold start's noise on a busy machine.
    results.firstInvocationSecure = await runSecureFirstInvocations(byKind, settings.firstRuns, Math.max(25, settings.oneWayLatencyMs), log);
  }
  if (sections.has('footprint')) {
    log(`connection footprint: ${settings.footprintInvocations} sequential invocations per container`);
    results.footprint = await runFootprint(deployed, settings.footprintInvocations, log);
  }
  if (sections.has('scale')) {
    log(`scale: ${settings.scale.join(' and ')} containers, bursts of ${settings.burst}`);
    results.scale = await runScale(deployed, settings.scale, settings.burst, log);
  }
  if (sections.has('lmi')) {
    log(`Lambda Managed Instances: ${settings.lmiEvents} events at concurrency 64, workers: default and ${settings.lmiWorkers.join(', ')}, ${settings.lmiRounds} rounds`);
    results.lmi = await runLmi({ events: settings.lmiEvents, warmup: 64, rounds: settings.lmiRounds, workerCounts: settings.lmiWorkers, pool: settings.lmiPool, tailRounds: settings.lmiTailRounds }, log);
  }
  if (sections.has('freeze')) {
    log(`freeze/thaw: ${settings.freezeRuns} runs per cell, function timeout ${settings.freezeTimeoutMs} ms (bench/freeze-thaw.ts)`);
    results.freeze = await runFreeze();
  }
} finally {
  await stopAllLambdaContainers();
}

results.durationMs = Date.now() - startedAt;
const written = await writeResults(results);
log(`done in ${Math.round(results.durationMs / 1000)} s: ${written.join(', ')}`);
log(`warmOverheadRatio ${results.warmOverheadRatio?.toFixed(3) ?? 'n/a'}, coldImportRatio ${results.coldImportRatio?.toFixed(3) ?? 'n/a'}`);

/**
 * The freeze/thaw matrix for the four setups and mongoose through the adapter, plus its concurrent-after-thaw rows (2 and 8
 * invocations at once on the thaw) for the guide and the library, by bench/freeze-thaw.ts in a child process.
 */
async function runFreeze(): Promise<FreezeFigures> {
  const json = join(WORK_DIR, 'freeze-thaw.json');
  const args = [
    join(PROJECT_ROOT, 'scripts', 'run-ts.mjs'),
    join(PROJECT_ROOT, 'bench', 'freeze-thaw.ts'),
    '--setups', [...SETUP_NAMES, 'mongoose adapter'].join(','),
    '--runs', String(settings.freezeRuns),
    '--timeout', String(settings.freezeTimeoutMs),
    '--json', json,
    // Concurrent-after-thaw rows (N invocations delivered at once on the thaw) for the guide and the library.
    '--bursts', quick ? '2' : '2,8',
    '--burst-setups', 'guide,library',
    // Bursts after the classic rows, 10 combinations at a time, in the scenarios that break sockets differently.
    '--burst-scenarios', 'fin-short,rst,blackhole-all,blackhole-pool,restart,slow-link',
    '--burst-runs', quick ? '1' : '5',
    '--burst-concurrency', '10',
    ...(quick ? ['--scenarios', 'fin-short,blackhole-pool', '--out', join(WORK_DIR, 'freeze-thaw.md')] : []),
  ];
  await promisify(execFile)(process.execPath, args, { cwd: PROJECT_ROOT, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(await readFile(json, 'utf8')) as FreezeFigures;
}

/**
 * Writes the results. A full run replaces bench/results.json, bench/RESULTS.md and docs/performance.md's section. A run
 * of some sections (`--sections`) puts them into the saved results in place of their earlier figures, keeps the
 * other sections' and notes the date of each section measured again (`remeasured`), then renders all three from
 * that, provided the saved results come from the same machine and Node versions (else into .tmp/bench/ only).
 * `--quick` (numbers not worth reading) writes into .tmp/bench/ only. Returns the files written.
 */
async function writeResults(measured: BenchResults): Promise<string[]> {
  /** This run's results alone, into .tmp/bench/: the published figures are left as they were. */
  const writeApart = async (why: string): Promise<string[]> => {
    await mkdir(WORK_DIR, { recursive: true });
    await writeFile(join(WORK_DIR, 'RESULTS.md'), `# Benchmark results\n\n${renderResults(measured)}\n`);
    await writeFile(join(WORK_DIR, 'results.json'), `${JSON.stringify(measured, null, 2)}\n`);
    return ['.tmp/bench/RESULTS.md', `.tmp/bench/results.json (${why}: the published figures are left as they were)`];
  };
  if (quick) return writeApart('--quick');
  const file = join(PROJECT_ROOT, 'bench', 'results.json');
  let whole = measured;
  if (sections.size < SECTIONS.length) {
    const saved = JSON.parse(await readFile(file, 'utf8').catch(() => 'null')) as BenchResults | null;
    if (saved && JSON.stringify(saved.machine) !== JSON.stringify(measured.machine)) {
      // Figures from two machines (or Node versions) side by side would read as one run's: kept apart.
      log(`bench/results.json was measured on ${JSON.stringify(saved.machine)}, this run on ${JSON.stringify(measured.machine)}: not merged (run every section to replace it)`);
      return writeApart('another machine');
    }
    if (saved) {
      whole = { ...saved, settings: { ...saved.settings }, remeasured: { ...saved.remeasured } };
      for (const section of sections) {
        const keys = SECTION_KEYS[section];
        for (const key of keys.results) (whole as unknown as Record<string, unknown>)[key] = measured[key] ?? null;
        for (const key of keys.settings) whole.settings[key] = settings[key];
        whole.remeasured![section] = measured.date;
      }
    }
  }
  const markdown = renderResults(whole);
  await writeFile(join(PROJECT_ROOT, 'bench', 'RESULTS.md'), `# Benchmark results\n\n${markdown}\n`);
  await writeFile(file, `${JSON.stringify(whole, null, 2)}\n`);
  await updatePerformancePage(markdown);
  return ['bench/RESULTS.md', 'bench/results.json', 'docs/performance.md'];
}

/** Writes the rendered results into docs/performance.md between its bench markers (the page's headings are `##`, as rendered). */
async function updatePerformancePage(section: string): Promise<void> {
  const file = join(PROJECT_ROOT, 'docs', 'performance.md');
  const [start, end] = ['<!-- bench:start -->', '<!-- bench:end -->'];
  const page = await readFile(file, 'utf8');
  if (!page.includes(start) || !page.includes(end)) throw new Error(`${file} has no ${start} … ${end} markers: restore them to write the results there`);
  const before = page.slice(0, page.indexOf(start) + start.length);
  const after = page.slice(page.indexOf(end));
  await writeFile(file, `${before}\n${section}\n${after}`);
}
