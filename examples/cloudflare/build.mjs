// Without wrangler: bundle the Worker with esbuild the way wrangler does for nodejs_compat. Node built-ins stay
// `node:*` imports (workerd provides them), and the driver's CommonJS `require('net')` becomes an import as
// well (workerd's createRequire has no `node:process`, so a createRequire banner is not enough).
//   node build.mjs && npx miniflare ... (or upload dist/index.mjs with the Workers API)
import { builtinModules } from 'node:module';
import { build } from 'esbuild';

const builtins = new Set(builtinModules);

/** @type {import('esbuild').Plugin} */
const nodeBuiltinsForWorkerd = {
  name: 'node-builtins-for-workerd',
  setup(context) {
    context.onResolve({ filter: /.*/ }, (args) => {
      if (args.path.endsWith('/')) return undefined; // 'punycode/' is the npm package
      const name = args.path.replace(/^node:/, '');
      if (!builtins.has(name) && !builtins.has(name.split('/')[0])) return undefined;
      if (args.kind === 'require-call') return { path: `node:${name}`, namespace: 'workerd-builtin' };
      return { path: `node:${name}`, external: true };
    });
    context.onLoad({ filter: /.*/, namespace: 'workerd-builtin' }, (args) => ({
      contents: `import lib from '${args.path}'; module.exports = lib;`,
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.mjs',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  mainFields: ['module', 'main'],
  conditions: ['workerd', 'worker', 'import'],
  external: ['cloudflare:*'],
  plugins: [nodeBuiltinsForWorkerd],
});
