// Without wrangler: bundle the Worker with esbuild the way wrangler does for nodejs_compat. Node built-ins stay
// `node:*` imports (workerd provides them), and the driver's CommonJS `require('net')` becomes an import as
// well (workerd's createRequire has no `node:process`, so a createRequire banner is not enough).
//   node build.mjs && npx miniflare ... (or upload dist/index.mjs with the Workers API)
import { build } from 'esbuild';
import { workerBundleOptions } from 'serverless-mongodb/esbuild';

await build({ ...workerBundleOptions(), entryPoints: ['src/index.ts'], outfile: 'dist/index.mjs' });
