/**
 * Bundles a handler entry (.ts/.js/.mjs) with esbuild into `<project>/.tmp/emulator/<hash>/index.mjs`.
 * The directory lives under the project so bare imports of external packages (`mongodb`, ...) resolve
 * from the project's node_modules. The hash is of the bundle output, so an edited source (or any of its
 * relative imports) gives a new directory, while identical bundles are shared (content-addressed).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** /work/main (three levels up from test/support/lambda-emulator/) */
export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

export interface HandlerBundle {
  /** directory used as LAMBDA_TASK_ROOT */
  dir: string;
  /** absolute path of the bundled module */
  file: string;
  /** module name for `_HANDLER` (`index`) */
  moduleName: string;
}

// ESM bundles of code that still calls `require` (e.g. a CJS dependency bundled in) need a `require`.
const BANNER = "import { createRequire as __emuCreateRequire } from 'node:module'; const require = __emuCreateRequire(import.meta.url);";

export async function bundleHandler(entry: string): Promise<HandlerBundle> {
  const entryPath = isAbsolute(entry) ? entry : resolve(PROJECT_ROOT, entry);
  if (!existsSync(entryPath)) throw new Error(`Lambda emulator: handler entry not found: ${entryPath}`);
  const result = await build({
    entryPoints: [entryPath],
    absWorkingDir: PROJECT_ROOT,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    packages: 'external',
    sourcemap: 'inline',
    banner: { js: BANNER },
    write: false,
    // same depth as the final location, so the inline source map's relative `sources` stay correct
    outfile: join(PROJECT_ROOT, '.tmp', 'emulator', 'bundle', 'index.mjs'),
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`Lambda emulator: esbuild produced no output for ${entryPath}`);
  const hash = createHash('sha256').update(entryPath).update('\0').update(output.contents).digest('hex').slice(0, 16);
  const dir = join(PROJECT_ROOT, '.tmp', 'emulator', hash);
  const file = join(dir, 'index.mjs');
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    // write + rename: concurrent bundlers (other test files/workers) never see a half-written module
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, output.contents);
    await rename(tmp, file);
  }
  return { dir, file, moduleName: 'index' };
}
