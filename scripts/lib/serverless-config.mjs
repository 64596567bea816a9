/**
 * Reads serverless.yml as the local tools need it: the functions, their handlers and their HTTP API routes.
 * Values written as framework variables (`${param:...}`) stay unresolved here; `resolvedServerlessConfig()`
 * asks the framework itself (osls, offline) for the fully resolved configuration of a stage.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The project root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const require = createRequire(import.meta.url);
/** js-yaml, through the framework that depends on it (the project declares no YAML parser of its own). */
const yaml = createRequire(require.resolve('osls/package.json'))('js-yaml');

/** serverless.yml, parsed, variables unresolved. */
export function readServerlessConfig(file = join(ROOT, 'serverless.yml')) {
  return yaml.load(readFileSync(file, 'utf8'));
}

/**
 * The configuration as the framework resolves it for `stage` (params, files, variables), without AWS:
 * `osls print --format json`.
 */
export async function resolvedServerlessConfig({ stage = 'dev', params = [], env = {} } = {}) {
  const bin = join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js');
  const args = [bin, 'print', '--format', 'json', '--stage', stage, ...params.map((param) => `--param=${param}`)];
  const { stdout } = await promisify(execFile)(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
      // the framework's schema cache goes under .tmp/, not the home directory
      SLS_SCHEMA_CACHE_BASE_DIR: join(ROOT, '.tmp', 'osls'),
      FORCE_COLOR: '0',
      ...env,
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

/**
 * Each function's handler: `{ name, module: 'handlers/items/index', exportName: 'handler', timeout, memorySize }`.
 */
export function functionsOf(config) {
  return Object.entries(config.functions ?? {}).map(([name, fn]) => {
    const separator = fn.handler.lastIndexOf('.');
    return {
      name,
      module: fn.handler.slice(0, separator),
      exportName: fn.handler.slice(separator + 1),
      timeout: Number(fn.timeout ?? config.provider?.timeout ?? 6),
      memorySize: Number(fn.memorySize ?? config.provider?.memorySize ?? 1024),
      events: fn.events ?? [],
    };
  });
}

/** The HTTP API routes: `{ functionName, method, path, routeKey }` for every `httpApi` event. */
export function httpRoutesOf(config) {
  return functionsOf(config).flatMap((fn) =>
    fn.events
      .filter((event) => event.httpApi !== undefined)
      .map((event) => {
        const spec = event.httpApi;
        const [method, path] = typeof spec === 'string' ? spec.split(/\s+/) : [spec.method, spec.path];
        const upper = method.toUpperCase();
        return { functionName: fn.name, method: upper === '*' ? 'ANY' : upper, path, routeKey: `${upper === '*' ? 'ANY' : upper} ${path}` };
      }),
  );
}
