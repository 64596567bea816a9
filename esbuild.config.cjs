/**
 * The esbuild settings of the example handlers, shared by every build so that what is tested, measured and
 * served locally is what gets deployed:
 *
 * - serverless-esbuild loads this file (`custom.esbuild.config` in serverless.yml) and calls the default export;
 * - the tests, `npm start` and `scripts/bundle-report.mjs` call `handlerBuildOptions()` with esbuild directly.
 *
 * CommonJS on purpose: serverless-esbuild `require()`s it, and `osls invoke local` loads handlers with
 * `require()`, so the bundles are CommonJS files named `.cjs` (the package is `"type": "module"`).
 * The Lambda Node.js runtimes load `.cjs` handlers as they are.
 */
'use strict';

const { join } = require('node:path');

/** The project root (this file's directory). */
const ROOT = __dirname;

/**
 * Inside this repository the handlers import the library as users do (`serverless-mongodb`,
 * `serverless-mongodb/middy`); the alias bundles the sources instead of the published `dist/`.
 * In your own service, with `serverless-mongodb` installed from npm, delete the alias.
 */
const LIBRARY_ALIAS = {
  'serverless-mongodb/middy': join(ROOT, 'src', 'middy.ts'),
  'serverless-mongodb': join(ROOT, 'src', 'index.ts'),
};

/**
 * The Lambda bundle settings and the trims, from their one source, `src/esbuild.ts` (published as
 * `serverless-mongodb/esbuild`): compiled here on the fly because this file is CommonJS loaded with `require()`.
 * In your own service: `const { lambdaBundleOptions } = await import('serverless-mongodb/esbuild')`.
 */
const { lambdaBundleOptions, LAMBDA_EXTERNALS } = requireTypeScript(join(ROOT, 'src', 'esbuild.ts'));

/**
 * Left out of the bundle and not packaged: the driver's optional dependencies and the AWS SDK v3, which the Lambda
 * Node.js runtimes provide (`@aws-sdk/credential-providers` is what the driver loads for `authMechanism=MONGODB-AWS`,
 * the IAM authentication of the Atlas option in infra/).
 */
const NOT_BUNDLED = [...LAMBDA_EXTERNALS];

/** The Lambda runtime of every function (serverless.yml `provider.runtime: nodejs22.x`). */
const NODE_TARGET = 'node22';

/**
 * esbuild options for one handler bundle, as deployed: `lambdaBundleOptions()` of `serverless-mongodb/esbuild`
 * (minified whitespace and syntax; identifiers not minified, so class and error names stay readable in logs and
 * stack traces without `keepNames`; the trims: whatwg-url -> the runtime's URL, rarely used driver modules deferred
 * to their first use; each measured by `npm run bench`), CommonJS. Tests add `entryPoints` and `outdir`/`outfile`.
 * @returns {import('esbuild').BuildOptions}
 */
function handlerBuildOptions() {
  return {
    ...lambdaBundleOptions({ format: 'cjs', target: NODE_TARGET }),
    sourcemap: 'linked',
    sourcesContent: false,
    alias: LIBRARY_ALIAS,
    logLevel: 'warning',
  };
}

/** Loads a TypeScript entry of the library (bundled with what it imports from src/; packages stay `require()`s) as CommonJS. */
function requireTypeScript(file) {
  // Bundled (the entry re-exports src/build/), with packages left to require().
  const { buildSync } = require('esbuild');
  const [output] = buildSync({ entryPoints: [file], bundle: true, write: false, format: 'cjs', platform: 'node', target: 'node20', packages: 'external' }).outputFiles;
  const code = output.text;
  const loaded = new (require('node:module'))(file, module);
  loaded.filename = file;
  loaded.paths = module.paths;
  loaded._compile(code, file);
  return loaded.exports;
}

/**
 * The serverless-esbuild configuration (`custom.esbuild.config: ./esbuild.config.cjs`).
 * `exclude` is serverless-esbuild's "external and not packaged" (its `external` would run npm to pack them).
 */
function serverlessEsbuildConfig() {
  const { outExtension: _outExtension, external: _external, logLevel: _logLevel, ...options } = handlerBuildOptions();
  return {
    ...options,
    outputFileExtension: '.cjs',
    exclude: [...NOT_BUNDLED],
    packager: 'npm',
    // The plugin's working files (bundles before zipping, and those `invoke local` runs) under .tmp/, not .esbuild/;
    // the tests give each run a folder of its own, so that concurrent runs never share one.
    outputWorkFolder: process.env.SERVERLESS_ESBUILD_WORK_FOLDER || '.tmp/esbuild',
  };
}

module.exports = serverlessEsbuildConfig;
module.exports.handlerBuildOptions = handlerBuildOptions;
module.exports.LIBRARY_ALIAS = LIBRARY_ALIAS;
module.exports.NOT_BUNDLED = NOT_BUNDLED;
module.exports.ROOT = ROOT;
