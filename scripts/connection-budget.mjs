#!/usr/bin/env node
/**
 * `npm run budget [-- --stage prod] [--limit 3000] [--param name=value]`: the worst-case number of connections
 * the functions of serverless.yml can open to one member of the MongoDB cluster, against the cluster's limit.
 *
 * Each container of a function holds at most `maxPoolSize` pooled sockets to the primary plus its monitoring
 * sockets to every member (1 in the polling mode the driver uses on Lambda, 2 with `serverMonitoringMode:
 * 'stream'`), and a function runs at most `reservedConcurrency` containers. So per member, in the worst case
 * (every container warm, every pool full, and any member may become primary):
 *
 *     Σ over functions of reservedConcurrency × (maxPoolSize + monitor sockets)
 *
 * It reads the stage's resolved configuration (`osls print`, offline) and each handler's `mongoClientOptions`
 * export over the library's Lambda defaults. Fails (exit 1) over the limit, or when a function has no reserved
 * concurrency (its connections are then unbounded). The limit: `--limit`, else `custom.connectionBudget.limit`,
 * else 1500, the per-member limit of the smallest Atlas dedicated tier (M10). Options written in the connection
 * string (e.g. `maxPoolSize=`) are not visible here: keep them out of the URI, or count them yourself.
 */
import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { functionsOf, resolvedServerlessConfig, ROOT } from './lib/serverless-config.mjs';

/** Connections per member of the smallest Atlas dedicated tier (M10). */
export const DEFAULT_LIMIT = 1500;

const require = createRequire(import.meta.url);
const { handlerBuildOptions } = require('../esbuild.config.cjs');

/** Each function's `mongoClientOptions` export (undefined when a module has none) and the library defaults. */
async function clientOptionsOf(functions) {
  const contents = [
    ...functions.map((fn, index) => `import * as f${index} from './${fn.module}';`),
    `export const options = { ${functions.map((fn, index) => `${JSON.stringify(fn.name)}: f${index}.mongoClientOptions`).join(', ')} };`,
    "export { LAMBDA_CLIENT_DEFAULTS } from 'serverless-mongodb';",
  ].join('\n');
  const outfile = join(ROOT, '.tmp', 'budget', `options-${process.pid}.cjs`);
  await mkdir(join(ROOT, '.tmp', 'budget'), { recursive: true });
  const { outExtension: _outExtension, ...options } = handlerBuildOptions();
  await build({ ...options, stdin: { contents, resolveDir: ROOT, loader: 'ts' }, outfile, absWorkingDir: ROOT, sourcemap: false, logLevel: 'error' });
  try {
    return require(outfile);
  } finally {
    await rm(outfile, { force: true });
  }
}

/**
 * The budget of a resolved configuration.
 * @returns {{ rows: Array<object>, total: number, limit: number, unbounded: string[], ok: boolean }}
 */
export function computeBudget(config, clientOptions, defaults, limit) {
  const rows = functionsOf(config).map((fn) => {
    const options = { ...defaults, ...(clientOptions[fn.name] ?? {}) };
    const reserved = config.functions[fn.name].reservedConcurrency;
    const monitors = options.serverMonitoringMode === 'stream' ? 2 : 1;
    const concurrency = reserved === undefined || reserved === null ? undefined : Number(reserved);
    return {
      function: fn.name,
      reservedConcurrency: concurrency,
      maxPoolSize: options.maxPoolSize,
      maxPoolSizeIsDefault: clientOptions[fn.name]?.maxPoolSize === undefined,
      monitors,
      connections: concurrency === undefined ? undefined : concurrency * (options.maxPoolSize + monitors),
    };
  });
  const unbounded = rows.filter((row) => row.connections === undefined).map((row) => row.function);
  const total = rows.reduce((sum, row) => sum + (row.connections ?? 0), 0);
  return { rows, total, limit, unbounded, ok: unbounded.length === 0 && total <= limit };
}

function render({ rows, total, limit, unbounded, ok }, stage) {
  const header = ['function', 'reserved concurrency', 'maxPoolSize', 'monitor sockets', 'connections per member'];
  const lines = rows.map((row) => [
    row.function,
    row.reservedConcurrency === undefined ? 'none (unbounded)' : String(row.reservedConcurrency),
    `${row.maxPoolSize}${row.maxPoolSizeIsDefault ? ' (default)' : ''}`,
    String(row.monitors),
    row.connections === undefined ? 'unbounded' : String(row.connections),
  ]);
  lines.push(['total', '', '', '', `${total} of ${limit}`]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
  const format = (line) => line.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  const out = [`Connection budget of stage ${stage}: worst case per cluster member, Σ reservedConcurrency × (maxPoolSize + monitor sockets)`, '', format(header), ...lines.map(format), ''];
  if (unbounded.length) out.push(`FAIL: no reservedConcurrency on ${unbounded.join(', ')}: their connections are unbounded; set one on each function`);
  else if (!ok) out.push(`FAIL: ${total} connections exceed the limit of ${limit} per member; lower reservedConcurrency or maxPoolSize, or move to a larger tier (--limit)`);
  else out.push(`OK: ${total} ≤ ${limit} (${Math.round((total / limit) * 100)}% of the limit)`);
  return out.join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string', default: 'dev' },
      limit: { type: 'string' },
      param: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
    },
  });
  const config = await resolvedServerlessConfig({ stage: values.stage, params: values.param });
  const functions = functionsOf(config);
  const loaded = await clientOptionsOf(functions);
  const limit = Number(values.limit ?? config.custom?.connectionBudget?.limit ?? DEFAULT_LIMIT);
  if (!Number.isInteger(limit) || limit <= 0) throw new Error(`The limit must be a positive integer, got ${values.limit}`);
  const budget = computeBudget(config, loaded.options, loaded.LAMBDA_CLIENT_DEFAULTS, limit);
  process.stdout.write(`${values.json ? JSON.stringify({ stage: values.stage, ...budget }, null, 2) : render(budget, values.stage)}\n`);
  process.exitCode = budget.ok ? 0 : 1;
}

await main();
