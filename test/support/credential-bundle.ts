/**
 * Bundles test/fixtures/credentials/handler.ts as a user's Lambda bundle (`lambdaBundleOptions()` of
 * serverless-mongodb/esbuild: the driver bundled, `@aws-sdk/*` left out) into a folder OUTSIDE the project, so that
 * nothing but NODE_PATH (how the Lambda Node.js runtimes expose the SDK they ship) can resolve what was left out.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { build, type BuildOptions } from 'esbuild';
import { lambdaBundleOptions } from '../../src/esbuild.js';
import { PROJECT_ROOT } from './lambda-emulator/bundle.js';

export interface CredentialBundle {
  /** LAMBDA_TASK_ROOT */
  dir: string;
  /** `_HANDLER` module name */
  moduleName: string;
  dispose(): Promise<void>;
}

/**
 * @param settings `lambdaBundleOptions()` (ESM, what a user of serverless-mongodb/esbuild gets) or the example
 * service's `handlerBuildOptions()` of esbuild.config.cjs (CommonJS, what serverless.yml deploys)
 */
export async function bundleCredentialHandler(settings: 'lambdaBundleOptions' | 'example-service' = 'lambdaBundleOptions'): Promise<CredentialBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'serverless-mongodb-credentials-'));
  const require = createRequire(import.meta.url);
  const options: BuildOptions =
    settings === 'example-service' ? (require('../../esbuild.config.cjs') as { handlerBuildOptions(): BuildOptions }).handlerBuildOptions() : lambdaBundleOptions();
  const result = await build({
    ...options,
    sourcemap: false,
    entryPoints: [join(PROJECT_ROOT, 'test', 'fixtures', 'credentials', 'handler.ts')],
    absWorkingDir: PROJECT_ROOT,
    alias: { 'serverless-mongodb': join(PROJECT_ROOT, 'src', 'index.ts') },
    outdir: dir,
    write: false,
    logLevel: 'silent',
  });
  for (const file of result.outputFiles) await writeFile(file.path, file.contents);
  return { dir, moduleName: 'handler', dispose: () => rm(dir, { recursive: true, force: true }) };
}
