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
 * A function on Lambda Managed Instances (a `CapacityProviderConfig` on its CloudFormation resource, e.g. through
 * `resources.extensions`) runs its runtime client's worker threads instead, each with a client of its own:
 * `custom.connectionBudget.maxEnvironments.<function>` environments × workers (`AWS_LAMBDA_NODEJS_WORKER_COUNT`
 * in its environment, else 8 per vCPU, a vCPU per `ExecutionEnvironmentMemoryGiBPerVCpu` GiB of its memory)
 * × (maxPoolSize + monitor sockets), with the library's Managed Instances pool default (a worker's share of
 * `PerExecutionEnvironmentMaxConcurrency`, a socket per 8 invocations, at least 2) unless the handler sets maxPoolSize.
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
    "export { managedInstancesDefaults } from './src/core/config/managed-instances.ts';",
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

/** The framework's CloudFormation logical id of a function (`stockConsumer` -> `StockConsumerLambdaFunction`). */
function lambdaLogicalId(functionName) {
  const normalized = functionName.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return `${normalized.charAt(0).toUpperCase()}${normalized.slice(1)}LambdaFunction`;
}

/** A CloudFormation condition of the resolved template: Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition references. */
function evaluateCondition(expression, conditions) {
  if (typeof expression === 'string') return evaluateCondition(conditions[expression], conditions);
  if (expression && 'Condition' in expression) return evaluateCondition(conditions[expression.Condition], conditions);
  if (expression && 'Fn::Equals' in expression) return String(expression['Fn::Equals'][0]) === String(expression['Fn::Equals'][1]);
  if (expression && 'Fn::Not' in expression) return !evaluateCondition(expression['Fn::Not'][0], conditions);
  if (expression && 'Fn::And' in expression) return expression['Fn::And'].every((part) => evaluateCondition(part, conditions));
  if (expression && 'Fn::Or' in expression) return expression['Fn::Or'].some((part) => evaluateCondition(part, conditions));
  throw new Error(`npm run budget cannot evaluate the CloudFormation condition ${JSON.stringify(expression)}`);
}

/** The function's Lambda Managed Instances settings, when its CloudFormation resource gets a capacity provider. */
function managedInstancesOf(config, functionName) {
  const resources = config.resources ?? {};
  const logicalId = lambdaLogicalId(functionName);
  let property = resources.extensions?.[logicalId]?.Properties?.CapacityProviderConfig ?? resources.Resources?.[logicalId]?.Properties?.CapacityProviderConfig;
  if (property && 'Fn::If' in property) {
    const [condition, whenTrue, whenFalse] = property['Fn::If'];
    property = evaluateCondition(condition, resources.Conditions ?? {}) ? whenTrue : whenFalse;
  }
  if (!property || property.Ref === 'AWS::NoValue') return undefined;
  return property.LambdaManagedInstancesCapacityProviderConfig ?? {};
}

/**
 * The budget of a resolved configuration.
 * @returns {{ rows: Array<object>, total: number, limit: number, unbounded: string[], ok: boolean }}
 */
export function computeBudget(config, clientOptions, defaults, limit, managedInstancesDefaults = () => ({})) {
  const rows = functionsOf(config).map((fn) => {
    const own = clientOptions[fn.name] ?? {};
    const managed = managedInstancesOf(config, fn.name);
    if (managed) return managedInstancesRow(config, fn, own, defaults, managed, managedInstancesDefaults);
    const options = { ...defaults, ...own };
    const reserved = config.functions[fn.name].reservedConcurrency;
    const monitors = options.serverMonitoringMode === 'stream' ? 2 : 1;
    const concurrency = reserved === undefined || reserved === null ? undefined : Number(reserved);
    return {
      function: fn.name,
      reservedConcurrency: concurrency,
      maxPoolSize: options.maxPoolSize,
      maxPoolSizeIsDefault: own.maxPoolSize === undefined,
      monitors,
      connections: concurrency === undefined ? undefined : concurrency * (options.maxPoolSize + monitors),
    };
  });
  const unbounded = rows.filter((row) => row.connections === undefined).map((row) => row.function);
  const total = rows.reduce((sum, row) => sum + (row.connections ?? 0), 0);
  return { rows, total, limit, unbounded, ok: unbounded.length === 0 && total <= limit };
}

/** A Managed Instances function: environments × workers × (maxPoolSize + monitor sockets). */
function managedInstancesRow(config, fn, own, defaults, managed, managedInstancesDefaults) {
  const vcpus = Math.max(1, Math.floor(fn.memorySize / 1024 / Number(managed.ExecutionEnvironmentMemoryGiBPerVCpu ?? 2)));
  const maxConcurrency = Number(managed.PerExecutionEnvironmentMaxConcurrency ?? 64 * vcpus);
  const configuredWorkers = Number.parseInt(config.functions[fn.name].environment?.AWS_LAMBDA_NODEJS_WORKER_COUNT ?? config.provider?.environment?.AWS_LAMBDA_NODEJS_WORKER_COUNT ?? '', 10);
  const workers = Number.isFinite(configuredWorkers) && configuredWorkers > 0 ? configuredWorkers : 8 * vcpus;
  const options = { ...defaults, ...managedInstancesDefaults({ maxConcurrency, workers, perWorker: Math.ceil(maxConcurrency / workers) }), ...own };
  const monitors = options.serverMonitoringMode === 'stream' ? 2 : 1;
  const environments = config.custom?.connectionBudget?.maxEnvironments?.[fn.name];
  const maxEnvironments = environments === undefined || environments === null ? undefined : Number(environments);
  if (maxEnvironments !== undefined && !(Number.isInteger(maxEnvironments) && maxEnvironments > 0)) {
    throw new Error(`custom.connectionBudget.maxEnvironments.${fn.name} must be a positive integer (the most execution environments the capacity provider runs for ${fn.name}), got ${JSON.stringify(environments)}`);
  }
  return {
    function: fn.name,
    managedInstances: { maxEnvironments, workers, maxConcurrency },
    maxPoolSize: options.maxPoolSize,
    maxPoolSizeIsDefault: own.maxPoolSize === undefined,
    monitors,
    connections: maxEnvironments === undefined ? undefined : maxEnvironments * workers * (options.maxPoolSize + monitors),
  };
}

function render({ rows, total, limit, unbounded, ok }, stage) {
  const header = ['function', 'containers (reserved concurrency)', 'maxPoolSize', 'monitor sockets', 'connections per member'];
  const lines = rows.map((row) => [
    row.function,
    row.managedInstances
      ? `${row.managedInstances.maxEnvironments ?? 'unbounded'} environments × ${row.managedInstances.workers} workers (Managed Instances)`
      : row.reservedConcurrency === undefined
        ? 'none (unbounded)'
        : String(row.reservedConcurrency),
    `${row.maxPoolSize}${row.maxPoolSizeIsDefault ? ' (default)' : ''}`,
    String(row.monitors),
    row.connections === undefined ? 'unbounded' : String(row.connections),
  ]);
  lines.push(['total', '', '', '', `${total} of ${limit}`]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
  const format = (line) => line.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  const out = [`Connection budget of stage ${stage}: worst case per cluster member, Σ containers × (maxPoolSize + monitor sockets)`, '', format(header), ...lines.map(format), ''];
  if (unbounded.length) {
    out.push(
      `FAIL: ${unbounded.join(', ')} can run unbounded containers: set reservedConcurrency on each function, or custom.connectionBudget.maxEnvironments.<function> for one on Managed Instances`,
    );
  }
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
  const budget = computeBudget(config, loaded.options, loaded.LAMBDA_CLIENT_DEFAULTS, limit, loaded.managedInstancesDefaults);
  process.stdout.write(`${values.json ? JSON.stringify({ stage: values.stage, ...budget }, null, 2) : render(budget, values.stage)}\n`);
  process.exitCode = budget.ok ? 0 : 1;
}

await main();
