/**
 * The package as `npm pack` makes it from a fresh clone: the working tree's files that git would commit (tracked,
 * or untracked and not ignored, so no dist/ and no .tmp/) are copied to a scratch folder next to the installed
 * node_modules/, and packed there, so `prepack` has to build dist/ itself. The tarball is kept under
 * .tmp/package/<content hash>/ and reused by every test file until a file changes.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PROJECT_ROOT } from './lambda-emulator/index.js';

export interface PackedPackage {
  /** The .tgz file. */
  tarball: string;
  /** The paths inside the tarball (without the `package/` prefix), as `npm pack --json` lists them. */
  files: string[];
}

const PACK_ROOT = join(PROJECT_ROOT, '.tmp', 'package');

/** The files a fresh clone would have. */
export function cloneFiles(): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  return [...new Set(listed.split('\0').filter((path) => path !== '' && existsSync(join(PROJECT_ROOT, path))))].sort();
}

export function packFresh(): PackedPackage {
  const files = cloneFiles();
  const hash = createHash('sha256');
  for (const path of files) hash.update(path).update('\0').update(readFileSync(join(PROJECT_ROOT, path))).update('\0');
  const target = join(PACK_ROOT, hash.digest('hex').slice(0, 16));
  const manifest = join(target, 'pack.json');
  if (!existsSync(manifest)) {
    // A scratch folder of our own, renamed into place when done: test files packing at the same time never
    // see a half-written tarball.
    const scratch = join(PACK_ROOT, `scratch-${process.pid}-${randomUUID().slice(0, 8)}`);
    const tree = join(scratch, 'tree');
    const out = join(scratch, 'out');
    try {
      for (const path of files) {
        mkdirSync(dirname(join(tree, path)), { recursive: true });
        cpSync(join(PROJECT_ROOT, path), join(tree, path));
      }
      symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
      mkdirSync(out, { recursive: true });
      // npm prints the lifecycle scripts' output on stderr and the JSON report on stdout.
      const report = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: tree, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const entry = report[0];
      if (!entry) throw new Error('npm pack reported no tarball');
      writeFileSync(join(out, 'pack.json'), JSON.stringify({ tarball: entry.filename, files: entry.files.map((file) => file.path) }));
      try {
        renameSync(out, target);
      } catch (error) {
        if (!existsSync(manifest)) throw error; // another test file got there first
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  const packed = JSON.parse(readFileSync(manifest, 'utf8')) as { tarball: string; files: string[] };
  return { tarball: join(target, packed.tarball), files: packed.files };
}
