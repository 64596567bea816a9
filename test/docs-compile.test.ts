// The code in the docs compiles as a user would compile it: every ```ts / ```typescript block of README.md,
// CONTRIBUTING.md and docs/**/*.md, and every ```ts block of an `@example` in the TSDoc under src/, is type-checked
// as a module of its own under `strict`, against the BUILT package: dist/ is built with tsconfig.build.json into a
// scratch node_modules/serverless-mongodb/ (next to a copy of package.json, so the `exports` map decides what a
// subpath resolves to), and the blocks import it by its name. The other packages (mongodb, @middy/core, esbuild...)
// resolve from the project's node_modules/, as a consumer's would.
//
// A block marked ```ts no-check is skipped (CONTRIBUTING.md, "Code in the docs", says when that is allowed); the
// test also asserts that the harness rejects a broken block, that the README's API table names every export, and
// that every relative link of the docs reaches an existing file (and heading).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dir = join(root, '.tmp', `docs-compile-${process.pid}`);
const packageDir = join(dir, 'node_modules', 'serverless-mongodb');
const blocksDir = join(dir, 'blocks');

/** The entry files of package.json's `exports`, by subpath. */
const ENTRIES = ['index', 'middy', 'mongoose', 'vercel', 'cloudflare', 'http', 'http-handler', 'esbuild'] as const;

/**
 * What a Cloudflare Worker's or a Deno program's own types provide (`@cloudflare/workers-types`, `wrangler types`,
 * Deno's built-in declarations), reduced to what the docs use: those packages redeclare Node's globals and cannot
 * share a program with @types/node.
 */
const PLATFORM_TYPES = `
declare module 'cloudflare:workers' {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown;
    protected env: Env;
    constructor(ctx: unknown, env: Env);
  }
}
interface DurableObjectId { toString(): string }
type DurableObjectStub<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never };
interface DurableObjectNamespace<T = unknown> {
  idFromName(name: string): DurableObjectId;
  get(id: DurableObjectId): DurableObjectStub<T>;
}
declare namespace Deno {
  function serve(handler: (request: Request) => Response | Promise<Response>): unknown;
  function addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  function exit(code?: number): never;
}
`;

interface Block {
  /** Where it comes from: `docs/x.md:12` or `src/y.ts:40`. */
  origin: string;
  code: string;
}

function markdownFiles(): string[] {
  const docs: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(join(root, folder), { withFileTypes: true })) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) docs.push(path);
    }
  };
  walk('docs');
  return ['README.md', 'CONTRIBUTING.md', ...docs.sort()];
}

function sourceFiles(folder = 'src'): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(`${folder}/${entry.name}`) : entry.name.endsWith('.ts') ? [`${folder}/${entry.name}`] : [],
  );
}

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** The TypeScript blocks of a markdown file, `no-check` ones left out (and counted). */
function markdownBlocks(file: string, text = readFileSync(join(root, file), 'utf8')): { blocks: Block[]; skipped: number } {
  const blocks: Block[] = [];
  let skipped = 0;
  for (const match of text.matchAll(/^```(ts|typescript)([^\n]*)\n([\s\S]*?)^```/gm)) {
    if (/\bno-check\b/.test(match[2]!)) skipped++;
    else blocks.push({ origin: `${file}:${lineOf(text, match.index)}`, code: match[3]! });
  }
  return { blocks, skipped };
}

/** The ```ts blocks of every `@example` in the TSDoc of a source file. */
function exampleBlocks(file: string): { blocks: Block[]; unfenced: string[] } {
  const text = readFileSync(join(root, file), 'utf8');
  const blocks: Block[] = [];
  const unfenced: string[] = [];
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const lines = comment[0].split('\n').map((line) => line.replace(/^\s*\/?\*+\/?\s?/, '').replace(/\*\/$/, ''));
    lines.forEach((line, index) => {
      if (!line.includes('@example')) return;
      const origin = `${file}:${lineOf(text, comment.index) + index}`;
      const fence = lines.findIndex((candidate, at) => at > index && /^```/.test(candidate));
      const nextTag = lines.findIndex((candidate, at) => at > index && /^@\w/.test(candidate));
      if (fence === -1 || (nextTag !== -1 && nextTag < fence) || !/^```(ts|typescript)\s*$/.test(lines[fence]!)) {
        unfenced.push(origin);
        return;
      }
      const end = lines.findIndex((candidate, at) => at > fence && /^```/.test(candidate));
      blocks.push({ origin, code: lines.slice(fence + 1, end).join('\n') });
    });
  }
  return { blocks, unfenced };
}

/** Type-checks every block as its own module in one program; the diagnostics of the blocks, by origin. */
function check(blocks: Block[]): { diagnostics: string[]; program: ts.Program } {
  rmSync(blocksDir, { recursive: true, force: true });
  mkdirSync(blocksDir, { recursive: true });
  const platform = join(blocksDir, 'platform-types.d.ts');
  writeFileSync(platform, PLATFORM_TYPES);
  const files = new Map<string, string>();
  blocks.forEach((block, index) => {
    const file = join(blocksDir, `block_${index}_${block.origin.replace(/\W/g, '_')}.ts`);
    // `export {}` keeps a block without imports a module (its names stay its own), as a file in a project would be.
    writeFileSync(file, `${block.code}\nexport {};\n`);
    files.set(file, block.origin);
  });
  const entries = ENTRIES.map((entry) => join(packageDir, 'dist', `${entry}.d.ts`));
  const options: ts.CompilerOptions = {
    strict: true,
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
  };
  const program = ts.createProgram([platform, ...files.keys(), ...entries], options);
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file && files.has(diagnostic.file.fileName))
    .map((diagnostic) => {
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      return `${files.get(diagnostic.file!.fileName)} (block line ${line + 1}): ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
  return { diagnostics, program };
}

describe('code in the docs', () => {
  beforeAll(() => {
    // Prepare: the package as `npm run build` makes it, where a consumer's node_modules/ would hold it.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(packageDir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'docs-consumer', private: true, type: 'module' }));
    cpSync(join(root, 'package.json'), join(packageDir, 'package.json'));
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', join(packageDir, 'dist')], {
      cwd: root,
      stdio: 'pipe',
    });
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every TypeScript block of README.md, CONTRIBUTING.md, docs/**/*.md and every TSDoc @example under src/ type-checks under strict against dist/', () => {
    // Prepare
    const docs = markdownFiles().map((file) => ({ file, ...markdownBlocks(file) }));
    const examples = sourceFiles().map((file) => ({ file, ...exampleBlocks(file) }));
    const blocks = [...docs.flatMap((doc) => doc.blocks), ...examples.flatMap((source) => source.blocks)];

    // Act
    const { diagnostics } = check(blocks);

    // Assess: the blocks are there (a broken extraction would find none), every @example is a fenced block, few
    // are exempt, and none has an error.
    for (const file of ['README.md', 'docs/migration.md', 'docs/testing.md', 'docs/runtimes/cloudflare.md', 'docs/mongoose.md']) {
      expect(docs.find((doc) => doc.file === file)?.blocks.length, file).toBeGreaterThan(0);
    }
    expect(examples.flatMap((source) => source.blocks).length).toBeGreaterThan(20);
    expect(diagnostics).toEqual([]);
    expect(examples.flatMap((source) => source.unfenced)).toEqual([]);
    expect(docs.reduce((sum, doc) => sum + doc.skipped, 0)).toBeLessThanOrEqual(3);
  }, 180_000);

  it('the harness rejects a block that does not compile (a wrong type, an export the package does not have)', () => {
    // Prepare: a doc with one good and two bad blocks, extracted as a doc would be.
    const doc = [
      '```ts',
      "import { withMongo } from 'serverless-mongodb';",
      'export const handler = withMongo(async (_event: unknown, context) => context.mongo.db.collection(\'items\').countDocuments());',
      '```',
      '```ts',
      "import { getMongoClient } from 'serverless-mongodb';",
      "const client: string = await getMongoClient();",
      '```',
      '```ts',
      "import { notAnExport } from 'serverless-mongodb/middy';",
      '```',
      '```ts no-check',
      'this is not TypeScript',
      '```',
    ].join('\n');
    const { blocks, skipped } = markdownBlocks('injected.md', doc);

    // Act
    const { diagnostics } = check(blocks);

    // Assess
    expect(skipped).toBe(1);
    expect(diagnostics).toEqual([
      expect.stringMatching(/^injected\.md:5 .*Type 'MongoClient' is not assignable to type 'string'/),
      expect.stringMatching(/^injected\.md:9 .*has no exported member 'notAnExport'/),
    ]);
  }, 60_000);

  it("the README's API section names every export of every entry of package.json's exports", () => {
    // Prepare
    const { program } = check([]);
    const checker = program.getTypeChecker();
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const api = /\n## API\n([\s\S]*?)\n### Options\n/.exec(readme)?.[1] ?? '';
    const exportsField = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports;

    // Act
    const missing = ENTRIES.flatMap((entry) => {
      const source = program.getSourceFile(join(packageDir, 'dist', `${entry}.d.ts`))!;
      const names = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).map((symbol) => symbol.name);
      const subpath = entry === 'index' ? 'serverless-mongodb' : `serverless-mongodb/${entry}`;
      return [...(entry === 'index' || api.includes(`\`${subpath}\``) ? [] : [subpath]), ...names.filter((name) => !api.includes(`\`${name}`)).map((name) => `${subpath}: ${name}`)];
    });

    // Assess: every subpath of package.json (but ./package.json) is one of the entries, and all are in the table.
    expect(Object.keys(exportsField).filter((key) => key !== './package.json').map((key) => (key === '.' ? 'index' : key.slice(2))).sort()).toEqual([...ENTRIES].sort());
    expect(api.length).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('every relative link of README.md, CONTRIBUTING.md, CHANGELOG.md, SECURITY.md and docs/** reaches a file, and a #heading of it', () => {
    // Prepare: GitHub's heading anchors (lower case, punctuation dropped, spaces as dashes), outside code blocks
    const prose = (file: string) => readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    const anchorsOf = (file: string) => new Set([...prose(file).matchAll(/^#+ (.*)$/gm)].map((match) => match[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    const files = [...markdownFiles(), 'CHANGELOG.md', 'SECURITY.md'];

    // Act
    const broken = files.flatMap((file) =>
      [...prose(join(root, file)).matchAll(/\]\(([^)\s]+)\)/g)]
        .map((match) => match[1]!)
        .filter((link) => !/^[a-z]+:/.test(link))
        .filter((link) => {
          const [path, anchor] = link.split('#');
          const target = path ? join(dirname(join(root, file)), path) : join(root, file);
          if (!existsSync(target)) return true;
          return anchor !== undefined && target.endsWith('.md') && !anchorsOf(target).has(anchor);
        })
        .map((link) => `${file}: ${link}`),
    );

    // Assess
    expect(files.length).toBeGreaterThan(15);
    expect(broken).toEqual([]);
  });
});
