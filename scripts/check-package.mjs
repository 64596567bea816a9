#!/usr/bin/env node
// The packed tarball, checked by the ecosystem's tools: publint (package.json against the packed files, warnings
// as errors) and @arethetypeswrong/cli (how TypeScript resolves every `exports` subpath from CommonJS and ESM).
// Exits non-zero when either reports an error. test/package.test.ts runs it on a fresh pack in CI.
//
// Usage: node scripts/check-package.mjs [package.tgz]   (without an argument it runs `npm pack` first, whose
// `prepack` builds dist/)
//
// attw runs with `--profile node16` (node10 resolution ignores `exports`, so no ESM-only package with subpaths
// passes it) and ignores `cjs-resolves-to-esm`: the package is ESM only on purpose (one module instance, so one
// client cache, for `import` and `require` alike), and `require()` of it works on Node.js >= 22.12 (require(esm))
// and type-checks with TypeScript >= 5.8 under `module: nodenext`; attw's bundled TypeScript predates both.
// test/package-consumer.test.ts proves the CommonJS side with a real CommonJS consumer.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PUBLINT = join(ROOT, 'node_modules', 'publint', 'src', 'cli.js');
const ATTW = join(ROOT, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');

export const ATTW_ARGS = ['--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm', '--no-definitely-typed', '--no-emoji', '--no-color'];

/**
 * Runs both tools on `tarball`.
 * @param {string} tarball
 * @returns {{ ok: boolean, publint: { ok: boolean, output: string }, attw: { ok: boolean, output: string } }}
 */
export function checkPackage(tarball) {
  const publint = run(PUBLINT, ['run', tarball, '--strict']);
  const attw = runAttw(tarball);
  return { ok: publint.ok && attw.ok, publint, attw };
}

/**
 * attw exits 0 on a package without any type declarations ("This package does not contain types"): that is
 * an error here, read from its JSON report. Its problems decide the exit code.
 */
function runAttw(tarball) {
  const json = run(ATTW, [tarball, ...ATTW_ARGS, '--format', 'json']);
  let report;
  try {
    report = JSON.parse(json.output.slice(json.output.indexOf('{')));
  } catch {
    return { ok: false, output: json.output };
  }
  const typed = report.analysis?.types !== false;
  const ascii = run(ATTW, [tarball, ...ATTW_ARGS, '--format', 'ascii']);
  return { ok: json.ok && ascii.ok && typed, output: typed ? ascii.output : `No type declarations in the package.\n${ascii.output}` };
}

function run(script, args) {
  const result = spawnSync(process.execPath, [script, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  if (result.error) throw result.error;
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

function pack() {
  const destination = join(ROOT, '.tmp', 'check-package');
  mkdirSync(destination, { recursive: true });
  const before = new Set(readdirSync(destination));
  execFileSync('npm', ['pack', '--pack-destination', destination], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const created = readdirSync(destination).find((name) => name.endsWith('.tgz') && !before.has(name)) ?? readdirSync(destination).find((name) => name.endsWith('.tgz'));
  if (!created) throw new Error(`npm pack left no tarball in ${destination}`);
  return join(destination, created);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const tarball = process.argv[2] ? resolve(process.argv[2]) : pack();
  const result = checkPackage(tarball);
  console.log(`== publint ${tarball}\n${result.publint.output.trim()}\n`);
  console.log(`== @arethetypeswrong/cli ${ATTW_ARGS.join(' ')}\n${result.attw.output.trim()}\n`);
  console.log(`publint: ${result.publint.ok ? 'ok' : 'FAILED'}; attw: ${result.attw.ok ? 'ok' : 'FAILED'}`);
  process.exit(result.ok ? 0 : 1);
}
