// The published shape: the build compiles, and every `exports` subpath resolves (with its types) by the
// package's own name, as a user's `import` would.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string } | string>; engines: { node: string }; type: string };

describe('package', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('is ESM for Node 22 and later', () => {
    expect(pkg.type).toBe('module');
    expect(pkg.engines.node).toBe('>=22');
  });

  it.each(Object.entries(pkg.exports).filter(([, target]) => typeof target !== 'string'))('%s resolves by name, with types', (subpath, target) => {
    // Prepare
    const entry = target as { types: string; import: string };
    const specifier = `serverless-mongodb${subpath.slice(1)}`;

    // Act: a fresh Node process, importing as a user would (the package resolves itself by name)
    const keys = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)))`], { cwd: root, encoding: 'utf8' });

    // Assess
    expect(existsSync(join(root, entry.types))).toBe(true);
    expect((JSON.parse(keys) as string[]).length).toBeGreaterThan(0);
  });

  it('exports the public API by its documented names', async () => {
    const core = execFileSync(process.execPath, ['--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('serverless-mongodb')).sort()))"], { cwd: root, encoding: 'utf8' });
    const middy = execFileSync(process.execPath, ['--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('serverless-mongodb/middy'))))"], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(core)).toEqual(expect.arrayContaining(['getMongoClient', 'closeMongoClient', 'withMongo', 'enableGracefulShutdown', 'ConfigurationError', 'ConnectionError', 'TransactionError', 'ServerlessMongoError', 'isServerlessMongoError']));
    expect(JSON.parse(middy)).toEqual(['mongo']);
    const mongooseEntry = execFileSync(process.execPath, ['--input-type=module', '-e', "console.log(JSON.stringify(Object.keys(await import('serverless-mongodb/mongoose')).sort()))"], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(mongooseEntry)).toEqual(['closeMongoClient', 'configureClientCache', 'mongooseMiddleware', 'withMongoose']);
    expect(JSON.parse(core)).toEqual(expect.arrayContaining(['configureClientCache']));
  });
});
