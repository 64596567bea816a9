// The code in docs/mongoose.md and docs/multi-tenant.md compiles: each ```ts block is type-checked as a module of
// its own, against src/ (tsconfig.json maps `serverless-mongodb/*` to the entry files).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const DOCS = ['docs/mongoose.md', 'docs/multi-tenant.md'];
const dir = join(root, '.tmp', `docs-${process.pid}`);

function blocksOf(file: string): string[] {
  return [...readFileSync(join(root, file), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

describe('code in the docs', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(DOCS)('%s: every ts block type-checks', (doc) => {
    // Prepare
    const blocks = blocksOf(doc);
    mkdirSync(dir, { recursive: true });
    const files = blocks.map((code, index) => {
      const file = join(dir, `${doc.replace(/\W/g, '_')}_${index}.ts`);
      writeFileSync(file, code);
      return file;
    });
    const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;

    // Act
    const program = ts.createProgram(files, { ...config.options, noEmit: true });
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((diagnostic) => diagnostic.file && files.includes(diagnostic.file.fileName));

    // Assess
    expect(blocks.length).toBeGreaterThan(1);
    expect(diagnostics.map((diagnostic) => `${diagnostic.file!.fileName.split('/').pop()}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`)).toEqual([]);
  }, 120_000);
});
