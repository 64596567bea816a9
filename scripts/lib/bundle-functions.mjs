/**
 * Bundles functions of serverless.yml into one CommonJS module with the project's shared esbuild settings
 * (esbuild.config.cjs, the settings of the deployed bundles) and loads it: one module, so the functions share
 * one client cache, as handlers in one process do.
 */
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from './serverless-config.mjs';

const require = createRequire(import.meta.url);
const { handlerBuildOptions } = require('../../esbuild.config.cjs');

/** A JavaScript identifier for a function name (`stock-consumer` -> `stock_consumer`). */
export function exportNameOf(functionName) {
  return functionName.replace(/[^\w$]/g, '_');
}

/**
 * Bundles `functions` (from `functionsOf()`) into `outfile` and returns the loaded module: one export per
 * function (by `exportNameOf(name)`), plus `closeMongoClient` and `redactUri` of the same library copy.
 */
export async function bundleFunctions(functions, outfile) {
  const contents = [
    ...functions.map((fn) => `export { ${fn.exportName} as ${exportNameOf(fn.name)} } from './${fn.module}';`),
    "export { closeMongoClient, redactUri } from 'serverless-mongodb';",
  ].join('\n');
  await mkdir(dirname(outfile), { recursive: true });
  const { outExtension: _outExtension, ...options } = handlerBuildOptions();
  await build({
    ...options,
    stdin: { contents, resolveDir: ROOT, sourcefile: 'functions.ts', loader: 'ts' },
    absWorkingDir: ROOT,
    outfile,
    logLevel: 'error',
  });
  delete require.cache[outfile];
  return require(outfile);
}
