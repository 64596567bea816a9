/**
 * The setups compared by `npm run bench`, each doing the same work per invocation (test/fixtures/bench/work.ts: a
 * findOne by id and an insertOne), and how each is bundled: the alternatives with esbuild's usual settings (what
 * their users get), this library with its own settings (`serverless-mongodb/esbuild`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { lambdaBundleOptions } from '../../src/esbuild.js';
import { PROJECT_ROOT } from '../../test/support/lambda-emulator/index.js';

export const SETUP_NAMES = ['naive', 'guide', 'mongoose', 'library'] as const;
export type SetupName = (typeof SETUP_NAMES)[number];

export const SETUP_LABELS: Record<SetupName, string> = {
  naive: 'naive (client per invocation)',
  guide: "MongoDB's Lambda guide",
  mongoose: "mongoose (its Lambda guide)",
  library: 'serverless-mongodb (middy, defaults)',
};

export const FIXTURES = {
  naive: 'test/fixtures/bench/naive.ts',
  guide: 'test/fixtures/bench/guide.ts',
  mongoose: 'test/fixtures/bench/mongoose.ts',
  library: 'test/fixtures/bench/library.ts',
  'library-graceful': 'test/fixtures/bench/library-graceful.ts',
  'guide-middy': 'test/fixtures/bench/guide-middy.ts',
  'library-with-mongo': 'test/fixtures/bench/library-with-mongo.ts',
  'mongoose-adapter': 'test/fixtures/bench/mongoose-adapter.ts',
} as const;
export type FixtureName = keyof typeof FIXTURES;

export type BundleKind = 'plain' | 'trimmed';

/** How each setup is deployed in the runtime figures. */
export const DEPLOYED: Record<FixtureName, BundleKind> = { naive: 'plain', guide: 'plain', mongoose: 'plain', library: 'trimmed', 'library-graceful': 'trimmed', 'guide-middy': 'plain', 'library-with-mongo': 'trimmed', 'mongoose-adapter': 'trimmed' };

export const WORK_DIR = join(PROJECT_ROOT, '.tmp', 'bench');

/** The helpers of scripts/bundle-report.mjs (untyped JavaScript, imported by URL as the emulator does). */
export interface BundleReportHelpers {
  IMPORT_ENV: Record<string, string>;
  plainBuildOptions(): BuildOptions;
  bundleFile(entry: string, outfile: string, options: BuildOptions): Promise<{ file: string; bytes: number; deflatedBytes: number }>;
  measureColdImports(files: string[], options: { node: string; runs: number; env?: Record<string, string> }): Promise<Map<string, number[]>>;
}

export async function bundleReport(): Promise<BundleReportHelpers> {
  return (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'bundle-report.mjs')).href)) as BundleReportHelpers;
}

export function buildOptions(kind: BundleKind, helpers: BundleReportHelpers, format: 'cjs' | 'esm' = 'cjs'): BuildOptions {
  return kind === 'plain' ? helpers.plainBuildOptions() : lambdaBundleOptions({ format });
}

export interface BuiltBundle {
  /** LAMBDA_TASK_ROOT for the emulator (`entry: 'index'`). */
  taskRoot: string;
  file: string;
  bytes: number;
  deflatedBytes: number;
}

/** Bundles a fixture as a Lambda function: `<work>/bundles/<name>-<kind>/index.cjs` (index.mjs for an ES module). */
export async function bundleFixture(fixture: FixtureName, kind: BundleKind, helpers: BundleReportHelpers): Promise<BuiltBundle> {
  // The graceful variant awaits at module scope: an ES module.
  const format = fixture === 'library-graceful' ? 'esm' : 'cjs';
  const taskRoot = join(WORK_DIR, 'bundles', `${fixture}-${kind}`);
  await mkdir(taskRoot, { recursive: true });
  const built = await helpers.bundleFile(FIXTURES[fixture], join(taskRoot, format === 'esm' ? 'index.mjs' : 'index.cjs'), buildOptions(kind, helpers, format));
  return { taskRoot, ...built };
}
