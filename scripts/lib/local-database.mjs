/**
 * The database of `npm start`, in this order:
 * 1. MONGODB_URI, when set (used as it is, nothing is seeded);
 * 2. a real mongod, when the machine has one (MONGOD_BINARY, MONGOMS_SYSTEM_BINARY, or `mongod` on PATH),
 *    started as a one-member replica set (transactions need one) with its data in a temporary directory;
 * 3. else the project's MongoDB wire-protocol test server (test/support/wire-server), in memory.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { MongoClient } from 'mongodb';
import { ROOT } from './serverless-config.mjs';

const REPLICA_SET = 'rs0';
const START_TIMEOUT_MS = 30_000;

/** The mongod binary to use, if any. */
export function findMongod(env = process.env) {
  for (const candidate of [env.MONGOD_BINARY, env.MONGOMS_SYSTEM_BINARY]) if (candidate && isExecutable(candidate)) return candidate;
  for (const directory of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(directory, 'mongod');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `hello` on a direct connection until it answers, the process exits, or the time is up. */
async function waitForHello(uri, child, deadline) {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mongod exited (${child.exitCode ?? child.signalCode})`);
    const client = new MongoClient(uri, { directConnection: true, serverSelectionTimeoutMS: 500 });
    try {
      return await client.db('admin').command({ hello: 1 });
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      await client.close().catch(() => undefined);
    }
    await sleep(200);
  }
}

/**
 * Starts `binary` as a one-member replica set on a free loopback port.
 * @param {string[]} [extraArgs] more mongod arguments (the real-server test lane adds `--setParameter enableTestCommands=1`)
 */
export async function startMongod(binary, workDir, extraArgs = []) {
  await mkdir(workDir, { recursive: true });
  const dbPath = await mkdtemp(join(workDir, 'mongod-'));
  const port = await freePort();
  const logFile = join(dbPath, 'mongod.log');
  const log = openSync(logFile, 'a');
  const child = spawn(binary, ['--dbpath', dbPath, '--port', String(port), '--bind_ip', '127.0.0.1', '--replSet', REPLICA_SET, '--quiet', ...extraArgs], {
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if ((await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)])) === false) child.kill('SIGKILL');
    }
    await rm(dbPath, { recursive: true, force: true });
  };
  try {
    const direct = `mongodb://127.0.0.1:${port}/`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    let hello = await waitForHello(direct, child, deadline);
    if (!hello.setName) {
      const client = new MongoClient(direct, { directConnection: true, serverSelectionTimeoutMS: 2_000 });
      try {
        await client.db('admin').command({ replSetInitiate: { _id: REPLICA_SET, members: [{ _id: 0, host: `127.0.0.1:${port}` }] } });
      } finally {
        await client.close();
      }
    }
    while (!hello.isWritablePrimary) {
      if (Date.now() > deadline) throw new Error('mongod did not become primary');
      await sleep(200);
      hello = await waitForHello(direct, child, deadline);
    }
    const client = new MongoClient(direct, { directConnection: true });
    const { version } = await client.db('admin').command({ buildInfo: 1 }).finally(() => client.close());
    return {
      kind: 'mongod',
      uri: `mongodb://127.0.0.1:${port}/?replicaSet=${hello.setName}`,
      label: `a local mongod ${version} (${binary}), replica set ${hello.setName}, data in ${dbPath} (deleted on exit)`,
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`${error instanceof Error ? error.message : String(error)} (log: ${logFile})`);
  }
}

/** Starts the project's wire-protocol test server, bundled from its TypeScript sources. */
export async function startWireServer(workDir) {
  await mkdir(workDir, { recursive: true });
  const outfile = join(workDir, 'wire-server.mjs');
  await build({
    entryPoints: [join(ROOT, 'test', 'support', 'wire-server', 'index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile,
    absWorkingDir: ROOT,
    logLevel: 'error',
  });
  const { startWireServer: start } = await import(`${pathToFileURL(outfile).href}?${Date.now()}`);
  const server = await start({ topology: 'replicaSet' });
  return {
    kind: 'wire-server',
    uri: server.uri,
    label: "the project's MongoDB wire-protocol test server (in memory, replica-set mode; no mongod on this machine: set MONGOD_BINARY or put mongod on PATH to use a real one, or MONGODB_URI for your own)",
    stop: () => server.stop(),
  };
}

/**
 * The database to serve against, per the order above.
 * @param {{ env?: NodeJS.ProcessEnv, workDir: string, redact: (uri: string) => string, warn?: (line: string) => void }} options
 */
export async function startLocalDatabase({ env = process.env, workDir, redact, warn = () => {} }) {
  const uri = env.MONGODB_URI?.trim();
  if (uri) return { kind: 'uri', uri, label: `MONGODB_URI (${redact(uri)})`, stop: async () => {} };
  const mongod = findMongod(env);
  if (mongod) {
    try {
      return await startMongod(mongod, workDir);
    } catch (error) {
      warn(`Could not start ${mongod}: ${error instanceof Error ? error.message : String(error)}; using the wire test server instead`);
    }
  }
  return startWireServer(workDir);
}
