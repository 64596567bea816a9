/**
 * `serverless-mongodb/esbuild`: esbuild settings for Lambda bundles that contain the MongoDB driver, with trims
 * that cut the bundle's cold import time without changing what the driver does. Each trim was measured on
 * Node.js 22 (the Lambda runtime's major) in fresh processes: `npm run bench` re-measures them side by side.
 *
 * 1. **`whatwg-url` → the runtime's `URL`.** The driver's connection-string parser
 *    (`mongodb-connection-string-url`) imports the `whatwg-url` polyfill, with its tr46 Unicode tables
 *    (~290 KB of the minified bundle), to parse a URL whose host is a placeholder; Node.js has had the same
 *    WHATWG `URL` built in since 10. Only that importer is redirected, to `node:url`.
 * 2. **Identifiers are not minified** (whitespace and syntax still are), and no `keepNames`. Measured: V8 parses
 *    and compiles the driver's bundle ~7–9 ms faster with its original identifiers than with minified ones, although
 *    the file is larger; class and function names stay real (stack traces) without `keepNames`, whose `__name()`
 *    calls on every closure the driver creates cost each warm invocation ~40 µs.
 * 3. **Deferred driver modules** ({@link DEFERRED_DRIVER_MODULES}): features most functions never use (SASLprep
 *    tables, client-side encryption, GridFS, Kerberos/AWS/OIDC/X.509/PLAIN authentication, `node:http`) are
 *    evaluated at their first use instead of at import. The module is still bundled; the importer gets a proxy
 *    that loads it when any of its properties is read.
 *
 * Only types are imported from esbuild: this module has no runtime dependency.
 */
import { builtinModules } from 'node:module';
import type { BuildOptions, Plugin } from 'esbuild';

/**
 * Left out of the bundle: the driver's optional dependencies (it `require()`s them inside try/catch and works
 * without them) and the AWS SDK v3, which the Lambda Node.js runtimes provide on `NODE_PATH`
 * (/var/runtime/node_modules): the driver loads `@aws-sdk/credential-providers` for `authMechanism=MONGODB-AWS`, and
 * a run-time connection secret loads `@aws-sdk/client-secrets-manager` or `@aws-sdk/client-ssm`. Left to the runtime
 * rather than bundled: the bundle stays small and its cold import fast (the credential providers and their STS/SSO
 * clients are hundreds of KB), and the SDK is the one the runtime keeps patched. Both load through the CommonJS
 * resolver, which searches `NODE_PATH`, so they resolve from an ESM bundle too. Outside Lambda, install them.
 */
export const LAMBDA_EXTERNALS = [
  '@aws-sdk/*',
  '@mongodb-js/zstd',
  'gcp-metadata',
  'kerberos',
  'mongodb-client-encryption',
  'snappy',
  'socks',
] as const;

/** One module of the driver evaluated at its first use rather than at import. */
export interface DeferredModule {
  /** The importing file, relative to the driver's `lib/` folder. */
  readonly importer: string;
  /** The specifier it `require()`s, exactly as written there. */
  readonly specifier: string;
  /** When it is needed. */
  readonly neededFor: string;
}

const scram = 'the first SCRAM-SHA-256 authentication (a user name and password)';
const csfle = 'client-side field level encryption (`autoEncryption`, `ClientEncryption`)';
const authProvider = (mechanism: string) => `the first authentication with ${mechanism}`;

/**
 * The driver modules deferred by {@link mongodbTrims}. Every importer reads them only inside functions (or in
 * `exports` getters), so a deferred module behaves the same, only later. An entry that no longer matches the
 * installed driver simply defers nothing (the project's tests check that each still matches).
 */
export const DEFERRED_DRIVER_MODULES: readonly DeferredModule[] = [
  { importer: 'cmap/auth/scram.js', specifier: '@mongodb-js/saslprep', neededFor: scram },
  { importer: 'utils.js', specifier: 'http', neededFor: 'fetching cloud credentials over HTTP (MONGODB-AWS without the AWS SDK, OIDC machine workflows)' },
  { importer: 'encrypter.js', specifier: './client-side-encryption/auto_encrypter', neededFor: csfle },
  { importer: 'index.js', specifier: './client-side-encryption/auto_encrypter', neededFor: csfle },
  { importer: 'index.js', specifier: './client-side-encryption/client_encryption', neededFor: csfle },
  { importer: 'index.js', specifier: './client-side-encryption/errors', neededFor: csfle },
  { importer: 'index.js', specifier: './gridfs', neededFor: 'GridFS (`GridFSBucket`)' },
  { importer: 'index.js', specifier: './gridfs/download', neededFor: 'GridFS (`GridFSBucket`)' },
  { importer: 'index.js', specifier: './gridfs/upload', neededFor: 'GridFS (`GridFSBucket`)' },
  { importer: 'index.js', specifier: './cmap/auth/gssapi', neededFor: authProvider('GSSAPI (Kerberos)') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/gssapi', neededFor: authProvider('GSSAPI (Kerberos)') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/mongodb_aws', neededFor: authProvider('MONGODB-AWS') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/mongodb_oidc', neededFor: authProvider('MONGODB-OIDC') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/mongodb_oidc/automated_callback_workflow', neededFor: authProvider('MONGODB-OIDC') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/mongodb_oidc/human_callback_workflow', neededFor: authProvider('MONGODB-OIDC') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/mongodb_oidc/token_cache', neededFor: authProvider('MONGODB-OIDC') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/plain', neededFor: authProvider('PLAIN (LDAP)') },
  { importer: 'mongo_client_auth_providers.js', specifier: './cmap/auth/x509', neededFor: authProvider('MONGODB-X509') },
];

/** Options of {@link mongodbTrims}. */
export interface MongodbTrimOptions {
  /**
   * Give the driver's connection-string parser the runtime's WHATWG `URL` instead of the `whatwg-url` polyfill.
   * @default true
   */
  builtinUrl?: boolean;
  /**
   * Evaluate the {@link DEFERRED_DRIVER_MODULES} at their first use.
   * @default true
   */
  deferModules?: boolean;
}

const DEFERRED_NAMESPACE = 'serverless-mongodb-deferred';
const DRIVER_LIB = /[\\/]node_modules[\\/]mongodb[\\/]lib[\\/](.+)$/;
const CONNECTION_STRING_PARSER = /[\\/]node_modules[\\/]mongodb-connection-string-url[\\/]/;
const NODE_BUILTINS = new Set(['http']);

/** A module that `require()`s `specifier` the first time one of its properties is read. */
function deferredModuleSource(specifier: string): string {
  return `"use strict";
let loaded;
const load = () => (loaded ??= require(${JSON.stringify(specifier)}));
module.exports = new Proxy(Object.create(null), {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
});
`;
}

/**
 * The esbuild plugin that applies the trims (see the module's description) to whatever copy of the driver the
 * bundle contains, including one that another package (mongoose) depends on.
 *
 * @example
 * ```ts
 * import { build } from 'esbuild';
 * import { mongodbTrims } from 'serverless-mongodb/esbuild';
 *
 * await build({ entryPoints: ['src/handler.ts'], bundle: true, platform: 'node', plugins: [mongodbTrims()] });
 * ```
 */
export function mongodbTrims(options: MongodbTrimOptions = {}): Plugin {
  const deferred = new Map<string, Set<string>>();
  for (const { importer, specifier } of DEFERRED_DRIVER_MODULES) {
    deferred.set(importer, (deferred.get(importer) ?? new Set()).add(specifier));
  }
  const specifiers = [...new Set(DEFERRED_DRIVER_MODULES.map((entry) => entry.specifier))];
  const deferredFilter = new RegExp(`^(${specifiers.map((specifier) => specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
  return {
    name: 'serverless-mongodb-trims',
    setup(build) {
      if (options.builtinUrl !== false) {
        build.onResolve({ filter: /^whatwg-url$/ }, (args) => (CONNECTION_STRING_PARSER.test(args.importer) ? { path: 'node:url', external: true } : undefined));
      }
      if (options.deferModules === false) return;
      build.onResolve({ filter: deferredFilter }, (args) => {
        // The proxy's own require() of the real module resolves as usual.
        if (args.namespace === DEFERRED_NAMESPACE) return undefined;
        const importer = DRIVER_LIB.exec(args.importer)?.[1]?.replaceAll('\\', '/');
        if (!importer || !deferred.get(importer)?.has(args.path)) return undefined;
        const builtin = NODE_BUILTINS.has(args.path);
        // One proxy module per deferred target (a key, not a file), shared by the importers of one copy of the driver.
        const path = builtin ? `node:${args.path}` : `${args.resolveDir}/${args.path}`;
        return { path, namespace: DEFERRED_NAMESPACE, pluginData: { resolveDir: args.resolveDir, specifier: builtin ? `node:${args.path}` : args.path } };
      });
      build.onLoad({ filter: /.*/, namespace: DEFERRED_NAMESPACE }, (args) => {
        const { resolveDir, specifier } = args.pluginData as { resolveDir: string; specifier: string };
        return { contents: deferredModuleSource(specifier), loader: 'js', resolveDir };
      });
    },
  };
}

/** Options of {@link lambdaBundleOptions}. */
export interface LambdaBundleOptions {
  /**
   * `esm` (an `.mjs` handler; allows top-level `await`, e.g. `await enableGracefulShutdown()`) or `cjs` (a `.cjs` handler).
   * @default 'esm'
   */
  format?: 'esm' | 'cjs';
  /**
   * The Lambda runtime's Node.js major, as an esbuild target.
   * @default 'node22'
   */
  target?: string;
  /**
   * The trims ({@link mongodbTrims}), `false` for none.
   * @default true
   */
  trims?: boolean | MongodbTrimOptions;
}

/**
 * esbuild options for one Lambda handler bundle: bundled, Node.js 22, minified whitespace and syntax (names
 * kept: identifiers are not minified, see the module's description), the driver's optional dependencies and the
 * AWS SDK left out, and the trims. Add `entryPoints` and `outdir` (or `outfile`).
 *
 * @example
 * ```ts
 * import { build } from 'esbuild';
 * import { lambdaBundleOptions } from 'serverless-mongodb/esbuild';
 *
 * await build({ ...lambdaBundleOptions(), entryPoints: ['src/handler.ts'], outdir: 'dist' }); // dist/handler.mjs
 * ```
 */
export function lambdaBundleOptions(options: LambdaBundleOptions = {}): BuildOptions {
  const format = options.format ?? 'esm';
  const trims = options.trims ?? true;
  return {
    bundle: true,
    platform: 'node',
    target: options.target ?? 'node22',
    format,
    ...(format === 'esm'
      ? {
          outExtension: { '.js': '.mjs' },
          // CommonJS dependencies bundled into an ES module still call `require()` for Node.js built-ins.
          banner: { js: "import { createRequire as __serverlessMongodbCreateRequire } from 'node:module'; const require = __serverlessMongodbCreateRequire(import.meta.url);" },
        }
      : {
          outExtension: { '.js': '.cjs' },
          // `import.meta.url` in an ES module bundled to CommonJS (the library's lazy require of the Powertools
          // logger uses it): the bundle's own file URL, instead of esbuild's empty `import.meta` and its warning.
          define: { 'import.meta.url': '__serverlessMongodbImportMetaUrl' },
          banner: { js: "const __serverlessMongodbImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
        }),
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: false,
    // Names stay real without it (identifiers are not minified). `keepNames` would also cost every warm invocation:
    // it renames each closure the driver creates per operation (measured ~40 µs per findOne + insertOne).
    keepNames: false,
    external: [...LAMBDA_EXTERNALS],
    plugins: trims === false ? [] : [mongodbTrims(trims === true ? {} : trims)],
  };
}

const WORKERD_BUILTINS = new Set(builtinModules);

/**
 * For Cloudflare Workers (`nodejs_compat`), bundled without wrangler: Node built-ins stay imports of `node:*`
 * modules that workerd provides, and a CommonJS `require('net')` (the driver is CommonJS) becomes an import as
 * well. A `createRequire` banner cannot do it: workerd's `require` has no `node:process`.
 *
 * Used by {@link workerBundleOptions}.
 */
export function workerdNodeBuiltins(): Plugin {
  return {
    name: 'workerd-node-builtins',
    setup(context) {
      context.onResolve({ filter: /.*/ }, (args) => {
        // 'punycode/' (with the slash) is the npm package, not the built-in
        if (args.path.endsWith('/')) return undefined;
        const name = args.path.replace(/^node:/, '');
        if (!WORKERD_BUILTINS.has(name) && !WORKERD_BUILTINS.has(name.split('/')[0] ?? '')) return undefined;
        if (args.kind === 'require-call') return { path: `node:${name}`, namespace: 'workerd-builtin' };
        return { path: `node:${name}`, external: true };
      });
      context.onLoad({ filter: /.*/, namespace: 'workerd-builtin' }, (args) => ({
        contents: `import lib from '${args.path}'; module.exports = lib;`,
        loader: 'js',
      }));
    },
  };
}

/**
 * esbuild options for a Cloudflare Worker (`nodejs_compat`) that uses the driver, as wrangler would bundle it:
 * ESM, the `workerd`/`worker` export conditions, `cloudflare:*` left to the runtime, and
 * {@link workerdNodeBuiltins}. Add `entryPoints` and `outfile`.
 *
 * @example
 * ```ts
 * import { build } from 'esbuild';
 * import { workerBundleOptions } from 'serverless-mongodb/esbuild';
 *
 * await build({ ...workerBundleOptions(), entryPoints: ['src/index.ts'], outfile: 'dist/index.mjs' });
 * ```
 */
export function workerBundleOptions(): BuildOptions {
  return {
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'import'],
    external: ['cloudflare:*'],
    plugins: [workerdNodeBuiltins()],
  };
}
