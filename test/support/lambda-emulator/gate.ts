/**
 * A loopback HTTP "gate" a fixture handler can wait on, so a test decides when invocations finish (order and
 * outcome, no sleeps): the handler does `await fetch(`${gate.url}?id=...`)`; the request is held until the test
 * calls `release()`, or answered at once after `open()`.
 *
 *   const gate = await startGate();
 *   const pending = fn.invokeMany(events.map((id) => ({ id, gate: gate.url })));
 *   await gate.arrived(4);            // four invocations are inside the handler, none has finished
 *   gate.open();                      // let them (and every later one) through
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Gate {
  /** http://127.0.0.1:<port>/ */
  readonly url: string;
  /** ids (the `id` query parameter) of the requests held now, in arrival order */
  readonly waiting: string[];
  /** ids of every request received so far, in arrival order */
  readonly seen: string[];
  /** the most requests held at once */
  readonly maxWaiting: number;
  /** resolves once `n` requests are held at the same time (rejects after `timeoutMs`, default 20 000) */
  arrived(n: number, timeoutMs?: number): Promise<void>;
  /** answer the held requests (200 `released`) */
  release(): void;
  /** release, and answer every later request at once */
  open(): void;
  close(): Promise<void>;
}

export async function startGate(): Promise<Gate> {
  const held: Array<{ id: string; res: ServerResponse }> = [];
  const seen: string[] = [];
  const watchers = new Set<() => void>();
  let isOpen = false;
  let maxWaiting = 0;
  const server = createServer((req, res) => {
    const id = new URL(req.url ?? '/', 'http://gate').searchParams.get('id') ?? '';
    seen.push(id);
    if (isOpen) {
      res.end('open');
      return;
    }
    held.push({ id, res });
    res.on('close', () => {
      const i = held.findIndex((h) => h.res === res);
      if (i >= 0) held.splice(i, 1);
    });
    maxWaiting = Math.max(maxWaiting, held.length);
    for (const w of [...watchers]) w();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const release = () => {
    for (const h of held.splice(0)) h.res.end('released');
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    get waiting() {
      return held.map((h) => h.id);
    },
    seen,
    get maxWaiting() {
      return maxWaiting;
    },
    arrived(n, timeoutMs = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (held.length < n) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`gate: ${held.length} of ${n} requests held after ${timeoutMs} ms (seen: ${seen.join(', ') || 'none'})`));
        }, timeoutMs);
        watchers.add(check);
        check();
      });
    },
    release,
    open() {
      isOpen = true;
      release();
    },
    async close() {
      isOpen = true;
      release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
