// `npm start` (scripts/start.mjs): the example service served on loopback, against MONGODB_URI when set, else a
// local mongod when there is one, else the wire test server, saying which in one line; then stopped by Ctrl-C.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './fixtures/handlers/bundle.js';
import { procState } from './support/lambda-emulator/index.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

interface Started {
  child: ChildProcess;
  url: string;
  databaseLine: string;
  output: () => string;
}

const children = new Set<ChildProcess>();
/** Processes the tests saw below `npm start`: killed after each test should one outlive npm. */
const grandchildren = new Set<number>();

/** Runs `npm start`'s script (or `npm start` itself, `via: 'npm'`) until it prints its URL. */
async function start(env: Record<string, string>, via: 'node' | 'npm' = 'node'): Promise<Started> {
  const { MONGODB_URI: _uri, MONGOD_BINARY: _binary, MONGOMS_SYSTEM_BINARY: _system, ...inherited } = process.env;
  // npm's own CLI under this test's Node: the Node 22 lane's runtime (scripts/with-runtime.mjs) ships no npm of its own,
  // and PATH below holds only this Node's directory, so `npm start`'s `node` is the lane's Node too
  const [command, args] = via === 'npm' ? [process.execPath, [npmCli(), 'start']] : [process.execPath, [join(ROOT, 'scripts', 'start.mjs')]];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...inherited, PATH: via === 'npm' ? `${dirname(process.execPath)}${delimiter}${dirname(onPath('sh'))}` : dirname(process.execPath), PORT: '0', POWERTOOLS_LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start.mjs printed no URL:\n${output}`)), 30_000);
    const check = () => {
      const match = /^HTTP API: (http:\/\/127\.0\.0\.1:\d+)/m.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`start.mjs exited (${code}):\n${output}`));
    });
  });
  const databaseLine = /^Database: .*$/m.exec(output)?.[0] ?? '';
  return { child, url, databaseLine, output: () => output };
}

/** npm's CLI script: the one running this test run (`npm_execpath`), else the `npm` on PATH. */
function npmCli(): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && /npm-cli\.js$/.test(fromNpm)) return fromNpm;
  return realpathSync(onPath('npm'));
}

/** Where a command is on this test run's PATH (npm runs scripts through `sh`). */
function onPath(command: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${command} is not on PATH: these tests run \`npm start\``);
}

/** Every process below `pid` (Linux: /proc/<pid>/task/<pid>/children). */
function descendantsOf(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone already
  }
  return children.flatMap((child) => [child, ...descendantsOf(child)]);
}

/** Whether a process still runs (a zombie does not). */
function running(pid: number): boolean {
  const state = procState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Whether something accepts connections on the URL's port. */
function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Ctrl-C, and how it ended. */
async function interrupt(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

async function request(url: string, method = 'GET', body?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

describe('npm start', () => {
  afterEach(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    children.clear();
    for (const pid of grandchildren) if (running(pid)) process.kill(pid, 'SIGKILL');
    grandchildren.clear();
  });

  it('serves the HTTP API against the wire test server when there is no MONGODB_URI and no mongod, and stops on Ctrl-C', async () => {
    // Act
    const service = await start({});
    const health = await request(`${service.url}/health`);
    const created = await request(`${service.url}/items`, 'POST', JSON.stringify({ name: 'Desk lamp', price: 25 }));
    const listed = await request(`${service.url}/items?limit=10`);
    const transferred = await request(`${service.url}/transfers`, 'POST', JSON.stringify({ from: 'alice', to: 'bob', amount: 2_500 }));
    const malformed = await request(`${service.url}/items`, 'POST', '{"name":');
    const unknown = await request(`${service.url}/nowhere`);
    const code = await interrupt(service.child);

    // Assess
    expect(service.databaseLine).toMatch(/^Database: the project's MongoDB wire-protocol test server/);
    expect(service.output()).toContain(`curl -s ${service.url}/health`);
    expect(health).toEqual({ status: 200, body: { status: 'ok', database: { ok: true, latencyMs: expect.any(Number) } } });
    expect(created).toMatchObject({ status: 201, body: { name: 'Desk lamp', price: 25 } });
    expect(listed).toMatchObject({ status: 200, body: { items: [{ id: created.body.id }], nextCursor: null } });
    expect(transferred).toMatchObject({ status: 201, body: { from: { id: 'alice', balance: 7_500 }, to: { id: 'bob', balance: 7_500 } } });
    expect(malformed).toEqual({ status: 400, body: { error: { code: 'MALFORMED_JSON', message: expect.any(String) } } });
    // The documented error shape, as the handlers answer
    expect(unknown).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: expect.stringContaining('GET /nowhere') } } });
    expect(code).toBe(0);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('run as `npm start`, stops when npm gets %s: the server process exits and its port closes', { timeout: 90_000 }, async (signal) => {
    // Prepare: npm runs the script through a shell; note every process below npm
    const service = await start({}, 'npm');
    const npm = service.child.pid!;
    const below = descendantsOf(npm);
    for (const pid of below) grandchildren.add(pid);
    expect(below.length).toBeGreaterThan(0);
    expect(await listening(service.url)).toBe(true);
    const npmExited = new Promise<void>((resolve) => service.child.once('exit', () => resolve()));

    // Act: what a process manager or an IDE's stop button does (a terminal's Ctrl-C signals the whole group instead)
    service.child.kill(signal);
    await npmExited;

    // Assess
    await expect.poll(() => below.filter(running), { timeout: 15_000 }).toEqual([]);
    expect(await listening(service.url)).toBe(false);
  });

  describe('with MONGODB_URI', () => {
    let server: WireServer;
    beforeAll(async () => {
      server = await startWireServer({ topology: 'replicaSet', users: [{ username: 'app', password: 's3cret-pw' }] });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('uses it, says so without its password, and seeds nothing', async () => {
      // Prepare
      const uri = `mongodb://app:s3cret-pw@127.0.0.1:${server.port}/?replicaSet=rs0&authSource=admin`;

      // Act
      const service = await start({ MONGODB_URI: uri });
      const created = await request(`${service.url}/items`, 'POST', JSON.stringify({ name: 'Into your database' }));
      await interrupt(service.child);

      // Assess
      expect(service.databaseLine).toBe(`Database: MONGODB_URI (mongodb://app:****@127.0.0.1:${server.port}/?replicaSet=rs0&authSource=admin)`);
      expect(service.output()).not.toContain('s3cret-pw');
      expect(created.status).toBe(201);
      expect(server.documents('app', 'items')).toEqual([expect.objectContaining({ name: 'Into your database' })]);
      expect(server.documents('app', 'accounts')).toEqual([]);
    });
  });

  it('starts a local mongod as a replica set when the machine has one, and removes its data on exit', async () => {
    // Prepare: an executable that behaves like mongod on the command line (the wire server behind it)
    const dir = join(ROOT, '.tmp', 'handlers-start', `${process.pid}`);
    await mkdir(dir, { recursive: true });
    const mongod = join(dir, 'mongod');
    await build({
      entryPoints: [join(ROOT, 'test', 'fixtures', 'handlers', 'fake-mongod.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      banner: { js: '#!/usr/bin/env node' },
      outfile: mongod,
      absWorkingDir: ROOT,
      logLevel: 'silent',
    });
    await chmod(mongod, 0o755);

    // Act
    const service = await start({ MONGOD_BINARY: mongod });
    const transferred = await request(`${service.url}/transfers`, 'POST', JSON.stringify({ from: 'bob', to: 'alice', amount: 100 }));
    const code = await interrupt(service.child);

    await rm(dir, { recursive: true, force: true });

    // Assess
    expect(service.databaseLine).toMatch(new RegExp(`^Database: a local mongod 7\\.0\\.0 \\(${mongod}\\), replica set rs0, data in (\\S+) \\(deleted on exit\\)$`));
    expect(transferred).toMatchObject({ status: 201, body: { from: { id: 'bob', balance: 4_900 } } });
    expect(code).toBe(0);
    const dataDir = / data in (\S+) /.exec(service.databaseLine)?.[1] ?? '';
    expect(existsSync(dataDir)).toBe(false);
  });
});
