/**
 * The wire test server in a worker thread, so that its memory (a result it computes, the batches it
 * serializes) is not in the test's heap: a test can then measure what the code under test holds.
 * The worker is bundled with esbuild (packages stay external) into .tmp/.
 *
 *   const server = await startWireServerThread();
 *   // ... use server.uri
 *   expect((await server.commands()).map((c) => c.name)).toContain('killCursors');
 *   await server.stop();
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');

export interface WireServerThread {
  readonly uri: string;
  /** The commands the server received (name and database), in order. */
  commands(): Promise<Array<{ name: string; db: string }>>;
  clearRecords(): Promise<void>;
  stop(): Promise<void>;
}

export async function startWireServerThread(): Promise<WireServerThread> {
  const outdir = join(ROOT, '.tmp', 'wire-server-thread');
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, `worker-${process.pid}.mjs`);
  await build({ entryPoints: [join(HERE, 'worker.ts')], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
  const worker = new Worker(outfile);
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 1;
  const uri = await new Promise<string>((resolve, reject) => {
    worker.once('error', reject);
    pending.set(0, (value) => resolve(value as string));
    worker.on('message', (message: { id: number; value: unknown }) => {
      pending.get(message.id)?.(message.value);
      pending.delete(message.id);
    });
  });
  const ask = <T>(type: string): Promise<T> =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, (value) => resolve(value as T));
      worker.postMessage({ id, type });
    });
  return {
    uri,
    commands: () => ask('commands'),
    clearRecords: () => ask('clear'),
    async stop() {
      await ask('stop');
      await worker.terminate();
    },
  };
}
