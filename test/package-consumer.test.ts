// The packed package installed as a user installs it: the tarball from a fresh clone (test/support/package-tarball.ts)
// goes into two consumer projects, each with its own dependencies from the npm cache (`--prefer-offline`; the
// versions are the ones this repository has installed, except the ESM consumer's driver). They live in the OS temp
// folder, not under .tmp/: inside the repository, Node.js and tsc would find this repository's node_modules/ (its
// Powertools, its @types) by walking up from the consumer.
//
// - ESM: `mongodb` 7.0.0 (the peer range's lower bound, not the version this repository tests with) and
//   Powertools. One driver: the library resolves the user's `mongodb`, and the client it returns and the errors it
//   wraps are the user's classes. The README's quick start and `const c: MongoClient = await getMongoClient()`
//   type-check under `nodenext`, `node16` and `bundler` with `strict` and `skipLibCheck: false`. Every subpath
//   imports on Node.js 22; the Workers and HTTP client entries bundle without Powertools (and the HTTP client
//   without the driver). With Powertools installed the default logger is a Powertools Logger.
// - CommonJS: no Powertools. A TypeScript file compiled by tsc (`module: nodenext`) to `require()` runs on Node.js
//   22, every subpath `require()`s to the same module instance `import()` gives, and the default logger falls back
//   to JSON lines on the console.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_EXTERNALS } from '../src/build/esbuild.js';
import { PROJECT_ROOT } from './support/lambda-emulator/index.js';
import { packFresh } from './support/package-tarball.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

const { ensureRuntime } = (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'install-runtimes.mjs')).href)) as { ensureRuntime: (major: number) => string };

/** The lowest `mongodb` the peer range (`^7.0.0`) allows. */
const LOWEST_DRIVER = '7.0.0';
const TSC = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const SUBPATHS = Object.keys(pkg.exports)
  .filter((subpath) => subpath !== './package.json')
  .map((subpath) => `serverless-mongodb${subpath.slice(1)}`);

/** The version of `name` installed in this repository. */
function installed(name: string): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * A consumer project with `serverless-mongodb` from the tarball and the given dependencies, installed once per
 * tarball and dependency set (reused by later runs until the package changes).
 */
function consumer(name: string, tarball: string, manifest: { type: 'module' | 'commonjs'; dependencies: Record<string, string> }): string {
  const spec = JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, type: manifest.type, dependencies: { ...manifest.dependencies, 'serverless-mongodb': `file:${tarball}` } }, null, 2);
  const id = createHash('sha256').update(spec).digest('hex').slice(0, 12);
  const parent = join(tmpdir(), `serverless-mongodb-consumers-${createHash('sha256').update(PROJECT_ROOT).digest('hex').slice(0, 8)}`);
  const dir = join(parent, `${name}-${id}`);
  const marker = join(dir, 'node_modules', '.consumer-installed');
  if (!existsSync(marker)) {
    mkdirSync(parent, { recursive: true });
    for (const old of readdirSync(parent)) if (old.startsWith(`${name}-`)) rmSync(join(parent, old), { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), spec);
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    writeFileSync(marker, '');
  }
  return dir;
}

/**
 * Runs `args` in `dir` under Node.js 22; resolves with its exit code and output. Asynchronous: the wire server
 * the consumer connects to runs in this process.
 */
function runNode22(dir: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(ensureRuntime(22), args, { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Type-checks (and with `emit`, compiles) a consumer with tsc; returns the diagnostics. */
function tsc(dir: string, project: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [TSC, '-p', project], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * tsc's diagnostics, less the one @middy/core causes itself: its index.d.ts imports the types of its optional peer
 * `@aws/durable-execution-sdk-js` (which pulls in the AWS SDK's Lambda client), so with `skipLibCheck: false` a
 * middy user needs that package or `skipLibCheck`. Any other diagnostic, in any file, is kept.
 */
function diagnostics(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => !/^node_modules\/@middy\/core\/index\.d\.ts\(\d+,\d+\): error TS2307: Cannot find module '@aws\/durable-execution-sdk-js'/.test(line));
}

/** The JSON lines of `output` that are lifecycle records. */
function records(output: string): Array<Record<string, unknown> & { mongodb: { event: string } }> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line): line is Record<string, unknown> & { mongodb: { event: string } } => typeof (line.mongodb as { event?: unknown } | undefined)?.event === 'string');
}

/** The ```ts blocks of the README's "Quick start" section. */
function quickStartBlocks(): string[] {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const section = /\n## Quick start[^\n]*\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
}

async function closedPortUri(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `mongodb://127.0.0.1:${port}/`;
}

let server: WireServer;
let tarball: string;
beforeAll(async () => {
  server = await startWireServer();
  tarball = packFresh().tarball;
}, 180_000);
afterAll(async () => {
  await server.stop();
});

describe('an ESM consumer with its own mongodb (the lowest the peer range allows) and Powertools', () => {
  let dir: string;
  beforeAll(() => {
    dir = consumer('esm', tarball, {
      type: 'module',
      dependencies: {
        mongodb: LOWEST_DRIVER,
        bson: installed('bson'),
        '@aws-lambda-powertools/logger': installed('@aws-lambda-powertools/logger'),
        '@middy/core': installed('@middy/core'),
        '@types/aws-lambda': installed('@types/aws-lambda'),
        '@types/node': installed('@types/node'),
        esbuild: installed('esbuild'),
        // the optional peer of serverless-mongodb/mongoose
        mongoose: installed('mongoose'),
      },
    });
  }, 300_000);

  it('has one driver: the library resolves the user\'s mongodb, returns the user\'s MongoClient and wraps the user\'s error classes', async () => {
    // Prepare
    writeFileSync(
      join(dir, 'one-driver.mjs'),
      `import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { MongoClient, MongoServerSelectionError } from 'mongodb';
import { getMongoClient, closeMongoClient, ConnectionError } from 'serverless-mongodb';
const user = createRequire(import.meta.url);
const library = createRequire(import.meta.resolve('serverless-mongodb'));
const client = await getMongoClient({ uri: process.env.MONGODB_URI });
const failed = await getMongoClient({ uri: process.env.CLOSED_URI, clientOptions: { serverSelectionTimeoutMS: 300 } }).catch((error) => error);
await closeMongoClient();
writeFileSync('one-driver.json', JSON.stringify({
  userDriver: user.resolve('mongodb'),
  libraryDriver: library.resolve('mongodb'),
  version: JSON.parse((await import('node:fs')).readFileSync(user.resolve('mongodb').replace(/lib\\/index\\.js$/, 'package.json'), 'utf8')).version,
  isUsersClient: client instanceof MongoClient,
  failedWith: failed instanceof ConnectionError ? failed.code : String(failed),
  causeIsUsersError: failed.cause instanceof MongoServerSelectionError,
}));
`,
    );

    // Act
    const run = await runNode22(dir, ['one-driver.mjs'], { MONGODB_URI: server.uri, CLOSED_URI: await closedPortUri(), POWERTOOLS_LOG_LEVEL: 'INFO' });

    // Assess
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'one-driver.json'), 'utf8')) as Record<string, unknown>;
    expect(report).toEqual({
      userDriver: join(dir, 'node_modules', 'mongodb', 'lib', 'index.js'),
      libraryDriver: join(dir, 'node_modules', 'mongodb', 'lib', 'index.js'),
      version: LOWEST_DRIVER,
      isUsersClient: true,
      failedWith: 'CONNECT_FAILED',
      causeIsUsersError: true,
    });
    expect(existsSync(join(dir, 'node_modules', 'serverless-mongodb', 'node_modules'))).toBe(false);
    // Powertools is installed: the default logger is a Powertools Logger (its records carry sampling_rate)
    expect(records(run.stdout).find((record) => record.mongodb.event === 'client.created')).toMatchObject({ level: 'INFO', service: 'serverless-mongodb', sampling_rate: 0 });
  });

  it('imports every subpath on Node.js 22', async () => {
    writeFileSync(join(dir, 'import-all.mjs'), `const keys = {};\nfor (const subpath of ${JSON.stringify(SUBPATHS)}) keys[subpath] = Object.keys(await import(subpath)).length;\nconsole.log(JSON.stringify(keys));\n`);
    const run = await runNode22(dir, ['import-all.mjs']);
    expect(run.status, run.stderr).toBe(0);
    const counts = JSON.parse(run.stdout) as Record<string, number>;
    expect(Object.keys(counts)).toEqual(SUBPATHS);
    expect(Object.entries(counts).filter(([, count]) => count === 0)).toEqual([]);
  });

  it.each([
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['node16', { module: 'node16', moduleResolution: 'node16' }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
  ])('type-checks the README quick start and the user\'s MongoClient under %s, strict, skipLibCheck false', (name, resolution) => {
    // Prepare: the README's blocks, a file typed against the user's driver, and every subpath's declarations
    const blocks = quickStartBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    blocks.forEach((code, i) => writeFileSync(join(dir, `readme-${i}.ts`), code));
    writeFileSync(
      join(dir, 'typed.ts'),
      `import { MongoClient, MongoServerSelectionError } from 'mongodb';
import { getMongoClient, ConnectionError, withMongo } from 'serverless-mongodb';
${SUBPATHS.map((subpath, i) => `import type * as entry${i} from '${subpath}';`).join('\n')}
export type Entries = [${SUBPATHS.map((_subpath, i) => `typeof entry${i}`).join(', ')}];
export async function connected(): Promise<MongoClient> {
  const c: MongoClient = await getMongoClient();
  return c;
}
export function causeOf(error: unknown): MongoServerSelectionError | undefined {
  return error instanceof ConnectionError && error.cause instanceof MongoServerSelectionError ? error.cause : undefined;
}
export const handler = withMongo(async (_event: unknown, context) => context.functionName);
`,
    );
    writeFileSync(
      join(dir, `tsconfig.${name}.json`),
      JSON.stringify({ compilerOptions: { ...resolution, target: 'ES2023', lib: ['ES2023'], strict: true, skipLibCheck: false, noEmit: true }, include: ['readme-*.ts', 'typed.ts'] }),
    );

    // Act
    const result = tsc(dir, `tsconfig.${name}.json`);

    // Assess
    expect(diagnostics(result.output)).toEqual([]);
    // tsc over every subpath's declarations, mongoose's and the AWS SDK's included, without skipLibCheck: a minute
    // or more on a busy 2-core machine
  }, 240_000);

  it.each([
    ['serverless-mongodb/cloudflare', []],
    ['serverless-mongodb/http', ['mongodb']],
  ])('%s bundles without Powertools (Powertools is installed next to it)', async (entry, alsoAbsent) => {
    // Act: the entry's import graph, as esbuild resolves it from the consumer
    const result = await build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: dir, loader: 'js' },
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      external: [...LAMBDA_EXTERNALS],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);

    // Assess: the graph was walked (the library's own files are in it), and holds no Powertools
    expect(inputs.some((input) => input.includes('node_modules/serverless-mongodb/dist/'))).toBe(true);
    expect(inputs.filter((input) => input.includes('@aws-lambda-powertools/'))).toEqual([]);
    for (const name of alsoAbsent) expect(inputs.filter((input) => input.includes(`node_modules/${name}/`))).toEqual([]);
  });
});

describe('a CommonJS consumer without Powertools', () => {
  let dir: string;
  beforeAll(() => {
    dir = consumer('cjs', tarball, {
      type: 'commonjs',
      dependencies: {
        mongodb: installed('mongodb'),
        bson: installed('bson'),
        '@types/aws-lambda': installed('@types/aws-lambda'),
        '@types/node': installed('@types/node'),
        mongoose: installed('mongoose'),
      },
    });
  }, 300_000);

  it('compiles TypeScript to require() (module nodenext) that runs on Node.js 22, logging through the console fallback', async () => {
    // Prepare
    writeFileSync(
      join(dir, 'index.ts'),
      `import { MongoClient } from 'mongodb';
import { closeMongoClient, getMongoClient } from 'serverless-mongodb';
async function main(): Promise<void> {
  const c: MongoClient = await getMongoClient({ uri: process.env.MONGODB_URI ?? '' });
  console.error(JSON.stringify({ isUsersClient: c instanceof MongoClient }));
  await closeMongoClient();
}
main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2023', lib: ['ES2023'], strict: true, skipLibCheck: false, outDir: 'out' }, files: ['index.ts'] }),
    );

    // Act
    const compiled = tsc(dir, 'tsconfig.json');
    const run = await runNode22(dir, ['out/index.js'], { MONGODB_URI: server.uri, POWERTOOLS_LOG_LEVEL: 'INFO' });

    // Assess: compiled to require(), ran, and the default logger wrote console-logger lines (no Powertools fields)
    expect(compiled.output).toBe('');
    expect(readFileSync(join(dir, 'out', 'index.js'), 'utf8')).toMatch(/require\("serverless-mongodb"\)/);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('{"isUsersClient":true}');
    const created = records(run.stdout).find((record) => record.mongodb.event === 'client.created');
    expect(created && Object.keys(created).sort()).toEqual(['level', 'message', 'mongodb', 'service', 'timestamp']);
    expect(created).toMatchObject({ level: 'INFO', service: 'serverless-mongodb' });
  });

  it('require()s every subpath on Node.js 22, to the module instance import() gives', async () => {
    writeFileSync(
      join(dir, 'require-all.cjs'),
      `(async () => {
  const report = {};
  for (const subpath of ${JSON.stringify(SUBPATHS)}) {
    const required = require(subpath);
    report[subpath] = { keys: Object.keys(required).length, sameInstance: required === (await import(subpath)) };
  }
  console.log(JSON.stringify(report));
})();
`,
    );
    const run = await runNode22(dir, ['require-all.cjs']);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, { keys: number; sameInstance: boolean }>;
    expect(Object.keys(report)).toEqual(SUBPATHS);
    expect(Object.entries(report).filter(([, entry]) => entry.keys === 0 || !entry.sameInstance)).toEqual([]);
  });
});
