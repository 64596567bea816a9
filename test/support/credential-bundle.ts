/**
 * Bundles test/fixtures/credentials/handler.ts as a user's Lambda bundle (`lambdaBundleOptions()` of
 * serverless-mongodb/esbuild: the driver bundled, `@aws-sdk/*` left out) into a folder OUTSIDE the project, so that
 * nothing but NODE_PATH (how the Lambda Node.js runtimes expose the SDK they ship) can resolve what was left out.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { lambdaBundleOptions } from '../../src/esbuild.js';
import { PROJECT_ROOT } from './lambda-emulator/bundle.js';

export interface CredentialBundle {
  /** LAMBDA_TASK_ROOT */
  dir: string;
  /** `_HANDLER` module name */
  moduleName: string;
  dispose(): Promise<void>;
}

export async function bundleCredentialHandler(format: 'esm' | 'cjs' = 'esm'): Promise<CredentialBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'serverless-mongodb-credentials-'));
  const options = lambdaBundleOptions({ format });
  const result = await build({
    ...options,
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
