#!/usr/bin/env node
/**
 * `npm run bundle:report [-- --runs 21]`: the deployed bundle of each function of serverless.yml, measured in one
 * run against a bundle of the bare driver making the same calls (test/fixtures/handlers/bare-driver/):
 *
 * - bytes of the esbuild bundle, with the deployment's settings (esbuild.config.cjs: CommonJS, minified, Node 22),
 *   and of it deflated (about what the function's zip weighs);
 * - cold import time: the median of `--runs` (default 21, at least 15) fresh Node.js 22 processes (the Lambda
 *   runtime's major, installed by scripts/install-runtimes.mjs) each timing `require()` of the bundle, which
 *   loads the code and runs its module scope (no connection is made). Runs are interleaved across bundles so
 *   that machine noise spreads evenly.
 *
 * Writes the table to docs/bundle-report.md and into README.md between its bundle-report markers.
 */
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import { ensureRuntime } from './install-runtimes.mjs';
import { functionsOf, readServerlessConfig, ROOT } from './lib/serverless-config.mjs';

const require = createRequire(import.meta.url);
const { handlerBuildOptions } = require('../esbuild.config.cjs');

const OUT_DIR = join(ROOT, '.tmp', 'bundle-report');
const REPORT = join(ROOT, 'docs', 'bundle-report.md');
const EXAMPLES = join(ROOT, 'README.md');
const MARKERS = ['<!-- bundle-report:start -->', '<!-- bundle-report:end -->'];
const MIN_RUNS = 15;

/** The bare-driver baseline of each handler module. */
const BASELINES = {
  'handlers/items/index': 'test/fixtures/handlers/bare-driver/items.ts',
  'handlers/transfer': 'test/fixtures/handlers/bare-driver/transfer.ts',
  'handlers/health': 'test/fixtures/handlers/bare-driver/health.ts',
  'handlers/sqs-consumer': 'test/fixtures/handlers/bare-driver/sqs-consumer.ts',
};

/** The environment of a cold import: what the module scope may read (no connection is made at import). */
const IMPORT_ENV = {
  MONGODB_URI: 'mongodb://127.0.0.1:27017/app',
  MONGODB_DB_NAME: 'app',
  AWS_LAMBDA_FUNCTION_NAME: 'bundle-report',
  AWS_REGION: 'us-east-1',
  POWERTOOLS_LOG_LEVEL: 'WARN',
};

/** Times `require()` of one bundle in the current (fresh) process; prints milliseconds. */
const IMPORT_PROBE = `
const start = process.hrtime.bigint();
require(process.argv[1]);
const end = process.hrtime.bigint();
process.stdout.write(String(Number(end - start) / 1e6));
`;

async function bundle(entry, name) {
  const outfile = join(OUT_DIR, `${name}.cjs`);
  const { outExtension: _outExtension, ...options } = handlerBuildOptions();
  await build({ ...options, entryPoints: [join(ROOT, entry)], outfile, absWorkingDir: ROOT, sourcemap: false, logLevel: 'error' });
  const code = await readFile(outfile);
  return { file: outfile, bytes: (await stat(outfile)).size, deflatedBytes: deflateRawSync(code, { level: 9 }).length };
}

const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value) => `${value.toFixed(1)} ms`;
/** A difference with its sign, `+54 KB` or `-1.3 ms` (a difference that rounds to zero shows as `±0.0 ms`). */
const signed = (value, unit) => {
  const text = unit(Math.abs(value));
  return /^0(\.0)? /.test(text) ? `±${text}` : `${value > 0 ? '+' : '-'}${text}`;
};

/** The q-quantile of `values` (linear interpolation): 0.5 is the median. */
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

const median = (values) => quantile(values, 0.5);

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
    subjects.push({ name: fn.name, kind: 'bare', entry: baseline, ...(await bundle(baseline, `${fn.name}.bare`)) });
  }

  const times = new Map(subjects.map((subject) => [subject, []]));
  for (let run = 0; run < runs; run++) {
    for (const subject of subjects) {
      const { stdout } = await promisify(execFile)(node, ['-e', IMPORT_PROBE, subject.file], { cwd: OUT_DIR, env: { PATH: process.env.PATH, ...IMPORT_ENV } });
      times.get(subject).push(Number(stdout));
    }
  }

  const rows = functions.map((fn) => {
    const handler = subjects.find((subject) => subject.name === fn.name && subject.kind === 'handler');
    const bare = subjects.find((subject) => subject.name === fn.name && subject.kind === 'bare');
    const handlerMs = median(times.get(handler));
    const bareMs = median(times.get(bare));
    return `| \`${fn.name}\` (${handler.entry}) | ${kb(handler.bytes)} (${kb(handler.deflatedBytes)}) | ${spread(times.get(handler))} | ${kb(bare.bytes)} (${kb(bare.deflatedBytes)}) | ${spread(times.get(bare))} | ${signed(handler.bytes - bare.bytes, kb)}, ${signed(handlerMs - bareMs, ms)} |`;
  });
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  const table = [
    `Measured by \`npm run bundle:report\` on ${new Date().toISOString().slice(0, 10)}: Node.js ${nodeVersion.trim()} (the Lambda runtime's major), ${cpus().length} × ${cpu}, median (and interquartile range) of ${runs} fresh processes per bundle. Bundles as deployed (esbuild.config.cjs: CommonJS, minified, target node22); in parentheses, deflated (about the zip). Cold import = \`require()\` of the bundle: loading it and running its module scope, no connection.`,
    '',
    '| function (handler) | bundle (deflated) | cold import | bare-driver bundle (deflated) | bare-driver cold import | handler − bare |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    'The bare-driver baselines (test/fixtures/handlers/bare-driver/) make the same database calls with `mongodb` alone: no serverless-mongodb, middy, Powertools Logger or validation. They construct their `MongoClient` at module scope, as that pattern does; the handlers\' client is created by the middleware, at the first invocation or, on Lambda, during init without blocking it (`prefetch`), so here its construction counts on the bare side only. Either way most of the bundle and of the import is the driver.',
  ].join('\n');

  await mkdir(join(ROOT, 'docs'), { recursive: true });
  await writeFile(REPORT, `# Bundle size and cold import time of the example handlers\n\n${table}\n`);
  const examples = await readFile(EXAMPLES, 'utf8').catch(() => undefined);
  if (examples?.includes(MARKERS[0]) && examples.includes(MARKERS[1])) {
    const [before] = examples.split(MARKERS[0]);
    const after = examples.split(MARKERS[1])[1];
    await writeFile(EXAMPLES, `${before}${MARKERS[0]}\n${table}\n${MARKERS[1]}${after}`);
  }
  process.stdout.write(`${table}\n\nWritten to ${REPORT}${examples?.includes(MARKERS[0]) ? ' and README.md' : ''}\n`);
}

await main();
