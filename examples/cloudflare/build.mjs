// Without wrangler: bundle the Worker with esbuild the way wrangler does for nodejs_compat. Node built-ins stay
// `node:*` imports (workerd provides them), and the driver's CommonJS `require('net')` becomes an import as
// well (workerd's createRequire has no `node:process`, so a createRequire banner is not enough).
//   node build.mjs && npx miniflare ... (or upload dist/index.mjs with the Workers API)
import { build } from 'esbuild';
import { workerdNodeBuiltins } from 'serverless-mongodb/esbuild';

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
  plugins: [workerdNodeBuiltins()],
});
