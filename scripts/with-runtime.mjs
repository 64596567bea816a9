#!/usr/bin/env node
// Runs a Node.js script under a Lambda runtime's Node major, installed from the npm registry on first use.
// Usage: node scripts/with-runtime.mjs <major> <script> [args...]
// The runtime's bin directory goes first on PATH, so child processes that run `node` get the same major.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { ensureRuntime } from './install-runtimes.mjs';

const [major, ...command] = process.argv.slice(2);
if (!major || command.length === 0) {
  console.error('usage: node scripts/with-runtime.mjs <major> <script> [args...]');
  process.exit(2);
}
const node = ensureRuntime(Number(major));
const env = { ...process.env, PATH: `${dirname(node)}:${process.env.PATH ?? ''}` };
const result = spawnSync(node, command, { stdio: 'inherit', env });
if (result.error) throw result.error;
process.exit(result.status ?? 1);
