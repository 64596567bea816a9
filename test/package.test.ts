// The published artifact: `npm pack` from a fresh clone (no dist/) builds and ships every `exports` target, the
// LICENSE and the README; its source maps carry their sources; publint and @arethetypeswrong/cli pass on the
// tarball (scripts/check-package.mjs, the same check as `npm run check:package`), and that check fails on the
// package as main packed it (no dist/). Whether CommonJS can `require()` it is for a real consumer to show (attw
// types `require` by the `types` condition, so it cannot tell an `import`-only `exports` from a `default` one):
// test/package-consumer.test.ts. What a consumer gets: test/package-consumer.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './support/lambda-emulator/index.js';
import { packFresh, type PackedPackage } from './support/package-tarball.js';

type CheckResult = { ok: boolean; publint: { ok: boolean; output: string }; attw: { ok: boolean; output: string } };
const { checkPackage } = (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'check-package.mjs')).href)) as { checkPackage: (tarball: string) => CheckResult };

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string } | string> };
const SCRATCH = join(PROJECT_ROOT, '.tmp', 'package-test');

/** Unpacks `tarball` into a new folder under .tmp/ and returns the `package/` folder inside it. */
function unpack(tarball: string, name: string): string {
  const dir = join(SCRATCH, `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  return join(dir, 'package');
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? filesUnder(join(dir, name), `${prefix}${name}/`) : [`${prefix}${name}`]));
}

describe('npm pack', () => {
  let packed: PackedPackage;
  beforeAll(() => {
    packed = packFresh();
  }, 180_000);

  it('builds dist/ from a fresh clone and ships every exports target, LICENSE and README.md, no sources or tests', () => {
    // Prepare: every file `exports` points at
    const targets = Object.values(pkg.exports).flatMap((target) => (typeof target === 'string' ? [target] : [target.types, target.default])).map((path) => path.replace(/^\.\//, ''));

    // Assess
    expect(packed.files).toEqual(expect.arrayContaining([...targets, 'LICENSE', 'README.md', 'package.json']));
    expect(packed.files.filter((path) => !path.startsWith('dist/')).sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    expect(packed.files.filter((path) => /\.ts$/.test(path) && !path.endsWith('.d.ts'))).toEqual([]);
  });

  it('ships the Apache-2.0 license text that package.json names', () => {
    const root = unpack(packed.tarball, 'license');
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string };
    expect(manifest.license).toBe('Apache-2.0');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004[\s\S]*TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION[\s\S]*END OF TERMS AND CONDITIONS/);
  });

  it('ships source maps that carry the sources they point at (src/ is not in the package)', () => {
    // Prepare
    const root = unpack(packed.tarball, 'maps');
    const maps = filesUnder(join(root, 'dist')).filter((path) => path.endsWith('.js.map'));

    // Act
    const missing = maps.flatMap((path) => {
      const map = JSON.parse(readFileSync(join(root, 'dist', path), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      return map.sources.filter((_source, i) => typeof map.sourcesContent?.[i] !== 'string' || map.sourcesContent[i] === '').map((source) => `${path}: ${source}`);
    });

    // Assess
    expect(maps.length).toBe(filesUnder(join(root, 'dist')).filter((path) => path.endsWith('.js')).length);
    expect(missing).toEqual([]);
  });

  it('passes publint (strict) and @arethetypeswrong/cli', () => {
    const result = checkPackage(packed.tarball);
    expect(result.publint, result.publint.output).toMatchObject({ ok: true });
    expect(result.attw, result.attw.output).toMatchObject({ ok: true });
  });

  it('the check fails on the package as main packed it: no dist/ (the build was in prepublishOnly, which pack skips)', () => {
    // Prepare: the same tarball without dist/
    const root = unpack(packed.tarball, 'no-dist');
    rmSync(join(root, 'dist'), { recursive: true });
    const broken = join(root, '..', 'no-dist.tgz');
    execFileSync('tar', ['-czf', broken, '-C', join(root, '..'), 'package']);

    // Act
    const result = checkPackage(broken);

    // Assess: publint reports the exports that point at nothing, attw a package without types
    expect(result.ok).toBe(false);
    expect(result.publint.ok).toBe(false);
    expect(result.publint.output).toMatch(/dist\/index\.js.*does not exist/);
    expect(result.attw.ok).toBe(false);
    expect(result.attw.output).toMatch(/No type declarations in the package/);
  });
});
