// The Deno example (examples/deno/main.ts) under the deno binary from npm, offline: `serverless-mongodb`
// resolves to this repository's sources (test/fixtures/edge/deno/deno.json) and `mongodb` to node_modules.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

// Installed on first use by scripts/install-runtimes.mjs (a platform binary, so not a devDependency).
const { ensureDeno } = (await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'install-runtimes.mjs')).href)) as { ensureDeno: () => string };
const DENO = ensureDeno();
const CONFIG = join(PROJECT_ROOT, 'test', 'fixtures', 'edge', 'deno', 'deno.json');
const EXAMPLE = join(PROJECT_ROOT, 'examples', 'deno', 'main.ts');

interface DenoServer {
  process: ChildProcess;
  url: string;
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startDeno(env: Record<string, string>): Promise<DenoServer> {
  const child = spawn(DENO, ['run', '--config', CONFIG, '--cached-only', '--allow-net=127.0.0.1', '--allow-env', '--allow-sys', '--allow-read', EXAMPLE], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DENO_DIR: join(PROJECT_ROOT, '.tmp', 'edge-deno-dir'), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deno did not start within 30 s:\n${output.join('')}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      const match = /Listening on (http:\/\/[^\s/]+)/.exec(output.join(''));
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(({ code }) => reject(new Error(`deno exited (${code}) before listening:\n${output.join('')}`)));
  });
  return { process: child, url, output, exited };
}

function records(output: string[], event: string): Array<Record<string, unknown>> {
  return output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => (record.mongodb as { event?: string } | undefined)?.event === event);
}

describe('Deno example under the deno binary', () => {
  let server: WireServer;
  let deno: DenoServer;

  beforeAll(async () => {
    server = await startWireServer();
    deno = await startDeno({ MONGODB_URI: server.uri, MONGODB_DB_NAME: 'shop', PORT: '0', HOSTNAME: '127.0.0.1' });
  });
  afterAll(async () => {
    if (deno && deno.process.exitCode === null && deno.process.signalCode === null) {
      deno.process.kill('SIGKILL');
      await deno.exited;
    }
    await server?.stop();
  });

  it('serves sequential and concurrent requests with one cached client', async () => {
    // Prepare
    const first = await fetch(`${deno.url}/items`, { method: 'POST', body: JSON.stringify({ sku: 'A1', name: 'anvil' }) });
    const connectionsAfterFirst = server.connections.length;

    // Act
    const sequential = [];
    for (const sku of ['B2', 'C3']) sequential.push((await fetch(`${deno.url}/items`, { method: 'POST', body: JSON.stringify({ sku, name: sku }) })).status);
    const concurrent = await Promise.all(Array.from({ length: 8 }, () => fetch(`${deno.url}/items`).then(async (response) => (await response.json()) as unknown[])));

    // Assess
    expect(first.status).toBe(201);
    expect(sequential).toEqual([201, 201]);
    expect(concurrent.every((items) => items.length === 3)).toBe(true);
    expect(records(deno.output, 'client.created')).toHaveLength(1);
    // the pool may grow for the concurrent burst, but the first connections stay in use
    expect(server.connections.slice(0, connectionsAfterFirst).every((connection) => connection.closedAt === undefined)).toBe(true);
    expect(server.connections[0]?.clientMetadata).toMatchObject({ platform: expect.stringContaining('Deno') });
  });

  it('on SIGTERM ends the sessions, closes every socket and exits 0', async () => {
    // Act
    deno.process.kill('SIGTERM');
    const exit = await deno.exited;

    // Assess
    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.commandsNamed('endSessions')).toHaveLength(1);
    await expect.poll(() => server.openConnectionCount(), { timeout: 2_000 }).toBe(0);
    expect(records(deno.output, 'client.closed')).toHaveLength(1);
  });
});
