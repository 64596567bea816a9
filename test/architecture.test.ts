// The layers of src/ (.dependency-cruiser.cjs) hold, and the rules catch what they are meant to: each is broken
// once in a copy of src/ and must be reported. Entry files only re-export.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './support/lambda-emulator/bundle.js';

/** dependency-cruiser 18 runs on Node >= 22: it runs under the Node 22 runtime the emulator uses. */
async function nodeBinary(): Promise<string> {
  const { ensureRuntime } = (await import(join(PROJECT_ROOT, 'scripts', 'install-runtimes.mjs'))) as { ensureRuntime: (major: number) => string };
  return ensureRuntime(22);
}

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function cruise(root: string): Promise<Violation[]> {
  const cli = join(PROJECT_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');
  const result = spawnSync(await nodeBinary(), [cli, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.stdout.trim() === '') throw new Error(`dependency-cruiser printed nothing (exit ${result.status}): ${result.stderr}`);
  const report = JSON.parse(result.stdout) as { summary: { violations: Violation[] } };
  return report.summary.violations;
}

const copies: string[] = [];
afterAll(() => {
  for (const copy of copies) rmSync(copy, { recursive: true, force: true });
});

describe('architecture', () => {
  it('src/ keeps its layers: no dependency violation', async () => {
    // Act
    const violations = await cruise(PROJECT_ROOT);

    // Assess
    expect(violations.map((violation) => `${violation.rule.name}: ${violation.from} -> ${violation.to}`)).toEqual([]);
  }, 120_000);

  it('each layer rule reports its violation', async () => {
    // Prepare: a copy of src/ inside the project (so node_modules resolves), each rule broken once
    const root = mkdtempSync(join(PROJECT_ROOT, '.tmp', 'layers-'));
    copies.push(root);
    cpSync(join(PROJECT_ROOT, 'src'), join(root, 'src'), { recursive: true });
    for (const file of ['tsconfig.json', '.dependency-cruiser.cjs']) cpSync(join(PROJECT_ROOT, file), join(root, file));
    const breakIn = (file: string, line: string) => appendFileSync(join(root, 'src', file), `\n${line}\n`);
    breakIn('core/client/cache.ts', "import '../../adapters/middy.js';");
    breakIn('shared/errors.ts', "import '../core/client/cache.js';");
    breakIn('http/protocol/signing.ts', "import 'mongodb';");
    breakIn('http/client/client.ts', "import '../handler/guard.js';");
    breakIn('adapters/vercel.ts', "import './cloudflare/worker-config.js';");
    breakIn('build/esbuild.ts', "import '../shared/errors.js';");
    breakIn('core/invocation/scope.ts', "import '../../index.js';");
    breakIn('shared/validation.ts', "import { REDACTED } from './logging/redact.js'; export const probe = REDACTED;");
    breakIn('shared/logging/redact.ts', "import { describeType } from '../validation.js'; export const probe = describeType;");

    // Act
    const violations = await cruise(root);

    // Assess
    const broken = new Set(violations.map((violation) => violation.rule.name));
    expect([...broken].sort()).toEqual(
      [
        'adapters-are-independent',
        'build-is-standalone',
        'core-imports-no-adapter',
        'entry-files-are-not-imported',
        'http-client-imports-no-driver-or-handler',
        'http-protocol-imports-no-driver',
        'no-circular',
        'shared-uses-nothing-above',
      ].sort(),
    );
  }, 120_000);

  it('entry files only re-export', () => {
    // Prepare
    const entries = readdirSync(join(PROJECT_ROOT, 'src')).filter((name) => name.endsWith('.ts'));

    // Act
    const offending = entries.flatMap((name) => {
      const source = ts.createSourceFile(name, readFileSync(join(PROJECT_ROOT, 'src', name), 'utf8'), ts.ScriptTarget.ES2023);
      return source.statements.filter((statement) => !(ts.isExportDeclaration(statement) && statement.moduleSpecifier !== undefined)).map((statement) => `${name}: ${statement.getText(source).split('\n')[0]}`);
    });

    // Assess
    expect(entries).toEqual(expect.arrayContaining(['index.ts', 'middy.ts', 'vercel.ts', 'cloudflare.ts', 'http.ts', 'http-handler.ts', 'esbuild.ts']));
    expect(offending).toEqual([]);
  });
});
