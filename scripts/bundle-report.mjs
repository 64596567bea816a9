#!/usr/bin/env node
/**
 * `npm run bundle:report [-- --runs 21]`: the deployed bundle of each function of serverless.yml, measured in one
 * run against a plain esbuild bundle of the bare driver making the same calls (test/fixtures/handlers/bare-driver/):
 *
 * - bytes of each bundle, and of it deflated (about what the function's zip weighs): the handler with the
 *   deployment's settings (esbuild.config.cjs: CommonJS, Node 22, the trims of `serverless-mongodb/esbuild`), the
 *   bare driver with esbuild's usual settings for Node (bundle, platform node, target node22, minify; no trims);
 * - cold import time: the median of `--runs` (default 21, at least 15) fresh Node.js 22 processes (the Lambda
 *   runtime's major, installed by scripts/install-runtimes.mjs) each timing `require()` of the bundle, which
 *   loads the code and runs its module scope, with the Lambda environment (so the middleware's `prefetch` starts
 *   its connect there, as during a Lambda init). Runs are interleaved across bundles so that machine noise
 *   spreads evenly.
 *
 * Prints the table and writes it to .tmp/bundle-report/report.md: a quick re-measure of the handler rows of
 * docs/performance.md, whose committed figures are `npm run bench`'s only (one dated figure per bundle).
 * `measureColdImports()` and the statistics helpers are exported for `npm run bench`.
 */
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import { ensureRuntime } from './install-runtimes.mjs';
import { functionsOf, readServerlessConfig, ROOT } from './lib/serverless-config.mjs';

const require = createRequire(import.meta.url);
const { handlerBuildOptions } = require('../esbuild.config.cjs');

const OUT_DIR = join(ROOT, '.tmp', 'bundle-report');
const REPORT = join(OUT_DIR, 'report.md');
const MIN_RUNS = 15;

/** The bare-driver baseline of each handler module. */
const BASELINES = {
  'handlers/items/index': 'test/fixtures/handlers/bare-driver/items.ts',
  'handlers/transfer': 'test/fixtures/handlers/bare-driver/transfer.ts',
  'handlers/health': 'test/fixtures/handlers/bare-driver/health.ts',
  'handlers/sqs-consumer': 'test/fixtures/handlers/bare-driver/sqs-consumer.ts',
};

/**
 * The environment of a cold import: what the module scope reads, as on Lambda (`AWS_LAMBDA_RUNTIME_API` set: the
 * middleware's `prefetch` creates the client and starts connecting during the import). Nothing listens at the URI;
 * the probe exits as soon as `require()` returned.
 */
export const IMPORT_ENV = {
  MONGODB_URI: 'mongodb://127.0.0.1:27017/app',
  MONGODB_DB_NAME: 'app',
  AWS_LAMBDA_FUNCTION_NAME: 'bundle-report',
  AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001',
  AWS_REGION: 'us-east-1',
  POWERTOOLS_LOG_LEVEL: 'WARN',
};

/** Times `require()` of one bundle in the current (fresh) process; prints milliseconds, then exits. */
const IMPORT_PROBE = `
const start = process.hrtime.bigint();
require(process.argv[1]);
const end = process.hrtime.bigint();
process.stdout.write(String(Number(end - start) / 1e6), () => process.exit(0));
`;

/**
 * esbuild's usual settings for a Node.js bundle, without any trim: what "a plain esbuild bundle" means in the
 * reports. The driver's optional dependencies stay external, as they must for the bundle to build.
 */
export function plainBuildOptions() {
  const { NOT_BUNDLED } = require('../esbuild.config.cjs');
  return { bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, external: [...NOT_BUNDLED] };
}

/** Bundles `entry` (relative to the project) to `outfile` with `options`; returns its size, raw and deflated. */
export async function bundleFile(entry, outfile, options) {
  const { outExtension: _outExtension, ...rest } = options;
  await build({ ...rest, entryPoints: [join(ROOT, entry)], outfile, absWorkingDir: ROOT, sourcemap: false, logLevel: 'error' });
  const code = await readFile(outfile);
  return { file: outfile, bytes: (await stat(outfile)).size, deflatedBytes: deflateRawSync(code, { level: 9 }).length };
}

/**
 * Cold import times of `files` (CommonJS bundles): `runs` fresh processes of `node` each, interleaved across the
 * files. Returns milliseconds per file, in run order.
 * @param {string[]} files
 * @param {{ node: string, runs: number, env?: Record<string, string> }} options
 * @returns {Promise<Map<string, number[]>>}
 */
export async function measureColdImports(files, { node, runs, env = IMPORT_ENV }) {
  const times = new Map(files.map((file) => [file, []]));
  for (let run = 0; run < runs; run++) {
    for (const file of files) {
      const { stdout } = await promisify(execFile)(node, ['-e', IMPORT_PROBE, file], { cwd: dirname(file), env: { PATH: process.env.PATH, ...env } });
      times.get(file).push(Number(stdout));
    }
  }
  return times;
}

async function bundle(entry, name, options = handlerBuildOptions()) {
  return bundleFile(entry, join(OUT_DIR, `${name}.cjs`), options);
}

const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value) => `${value.toFixed(1)} ms`;

/** The q-quantile of `values` (linear interpolation): 0.5 is the median. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

export const median = (values) => quantile(values, 0.5);

/** `56.3 ms (55.9–57.0)`: the median and the interquartile range. */
const spread = (values) => `${ms(median(values))} (${quantile(values, 0.25).toFixed(1)}–${quantile(values, 0.75).toFixed(1)})`;

async function main() {
  const runsArg = process.argv.indexOf('--runs');
  const requested = runsArg === -1 ? 21 : Number(process.argv[runsArg + 1]);
  const runs = Number.isInteger(requested) ? Math.max(MIN_RUNS, requested) : 21;
  const node = ensureRuntime(22);
  const { stdout: nodeVersion } = await promisify(execFile)(node, ['--version']);
  await rm(OUT_DIR, { recursive: true, force: true });
  await mkdir(OUT_DIR, { recursive: true });

  const functions = functionsOf(readServerlessConfig());
  const subjects = [];
  for (const fn of functions) {
    const baseline = BASELINES[fn.module];
    if (!baseline) throw new Error(`No bare-driver baseline for ${fn.module}: add one to BASELINES`);
    subjects.push({ name: fn.name, kind: 'handler', entry: `${fn.module}.ts`, ...(await bundle(`${fn.module}.ts`, fn.name)) });
    subjects.push({ name: fn.name, kind: 'bare', entry: baseline, ...(await bundle(baseline, `${fn.name}.bare`, plainBuildOptions())) });
  }

  const byFile = await measureColdImports(subjects.map((subject) => subject.file), { node, runs });
  const times = new Map(subjects.map((subject) => [subject, byFile.get(subject.file)]));

  const rows = functions.map((fn) => {
    const handler = subjects.find((subject) => subject.name === fn.name && subject.kind === 'handler');
    const bare = subjects.find((subject) => subject.name === fn.name && subject.kind === 'bare');
    const handlerMs = median(times.get(handler));
    const bareMs = median(times.get(bare));
    return `| \`${fn.name}\` (${handler.entry}) | ${kb(handler.bytes)} (${kb(handler.deflatedBytes)}) | ${spread(times.get(handler))} | ${kb(bare.bytes)} (${kb(bare.deflatedBytes)}) | ${spread(times.get(bare))} | ${(handlerMs / bareMs).toFixed(2)}× |`;
  });
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const table = [
    `Measured by \`npm run bundle:report\` on ${new Date().toISOString().slice(0, 10)}: Node.js ${nodeVersion.trim()} (the Lambda runtime's major), ${cpus().length} × ${cpu}, median (and interquartile range) of ${runs} fresh processes per bundle. Handler bundles as deployed (esbuild.config.cjs: CommonJS, target node22, the trims of \`serverless-mongodb/esbuild\`); bare-driver bundles with esbuild's usual settings (bundle, platform node, target node22, minify, no trims); in parentheses, deflated (about the zip). Cold import = \`require()\` of the bundle with the Lambda environment: loading it and running its module scope, including the start of the middleware's \`prefetch\` connect.`,
    '',
    '| function (handler) | bundle (deflated) | cold import | bare-driver bundle, plain (deflated) | bare-driver cold import | handler ÷ bare |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    'The bare-driver baselines (test/fixtures/handlers/bare-driver/) make the same database calls with `mongodb` alone: no serverless-mongodb, middy, Powertools Logger or validation; they construct their `MongoClient` at module scope. The handlers\' client is created by the middleware during the import (`prefetch`, on under Lambda), which also starts connecting: that work counts on the handler side here, while the bare driver does it in its first invocation. Most of each bundle and of its import is the driver; the trims and what they save are in docs/performance.md.',
  ].join('\n');

  await mkdir(OUT_DIR, { recursive: true });
  await writeFile(REPORT, `# Bundle size and cold import time of the example handlers\n\n${table}\n`);
  process.stdout.write(`${table}\n\nWritten to ${REPORT} (docs/performance.md keeps the figures of \`npm run bench\`)\n`);
}

// Run as a script (not when `npm run bench` imports the helpers).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
