#!/usr/bin/env node
// Runs a TypeScript script (benchmarks, tools) without a TS loader: bundles it with esbuild, packages left
// external, into .tmp/run-ts/, then imports it. Usage: node scripts/run-ts.mjs bench/freeze-thaw.ts [args...]
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <script.ts> [args...]');
  process.exit(2);
}
// Three levels below the root, like test/support/*/: modules that locate the project from their own URL still find it.
const outdir = join(root, '.tmp', 'run-ts', 'out');
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, `${basename(entry).replace(/\.[cm]?ts$/, '')}.mjs`);
await build({
  entryPoints: [resolve(entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
process.argv.splice(1, 2, outfile);
await import(pathToFileURL(outfile).href);
