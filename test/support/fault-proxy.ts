/**
 * A TCP fault proxy for tests: listens on 127.0.0.1:<random port> and forwards every connection to `target`.
 * Pass-through by default (byte order preserved, backpressure honoured); faults can be switched on at any time:
 *
 * - `setLatency(ms)`: every chunk is delayed by `ms` in each direction it travels, so a request/response round
 *   trip gets about 2 x ms (`setLatency(5)` ~ 10 ms RTT). Order is preserved; applies to data arriving after the call.
 * - `closeAll()`: FIN both sides of every open connection pair (the client sees 'end').
 * - `resetAll()`: RST the client side (`socket.resetAndDestroy()`, the client sees ECONNRESET), close the server side.
 * - `blackhole(on)`: every current and new connection stays open but nothing is forwarded either way (data is
 *   dropped, not buffered) while on. `blackholeConnection(id, on)` does it for one pair.
 *
 * `connections[i].bytesIn` counts bytes received from the client, `bytesOut` bytes sent to the client.
 * Errors on one side close the other side; socket handlers never throw.
 */
import { createServer, type AddressInfo, type Server, Socket } from 'node:net';

export interface FaultProxyConnection {
  id: number;
  openedAt: number;
  closedAt?: number;
  /** bytes received from the client */
  bytesIn: number;
  /** bytes sent to the client */
  bytesOut: number;
  open: boolean;
  /** the local port of the proxy's socket to the target (the target sees it as the remote port), once connected */
  upstreamPort?: number;
}

export interface FaultProxy {
  readonly port: number;
  readonly host: '127.0.0.1';
  readonly address: string;
  /** same scheme, credentials, path and query as `targetUri`, with the host list replaced by the proxy address */
  uriFor(targetUri: string): string;
  /** one-way delay per chunk in each direction (round trip ~ 2 x ms) */
  setLatency(ms: number): void;
  closeAll(): void;
  resetAll(): void;
  blackhole(on?: boolean): void;
  blackholeConnection(id: number, on?: boolean): void;
  readonly connections: FaultProxyConnection[];
  openConnectionCount(): number;
  stop(): Promise<void>;
}

/** Above this many queued (delayed) bytes in one direction the source socket is paused. */
const MAX_QUEUED_BYTES = 1024 * 1024;

interface Direction {
  src: Socket;
  dst: Socket;
  queue: Array<{ chunk: Buffer; due: number }>;
  queuedBytes: number;
  timer: NodeJS.Timeout | undefined;
  waitingDrain: boolean;
  srcEnded: boolean;
  count: (n: number) => void;
}

class Pair {
  blackholed = false;
  closing = false;
  readonly record: FaultProxyConnection;
  readonly upstream: Socket;
  private readonly up: Direction;
  private readonly down: Direction;

  constructor(
    readonly id: number,
    readonly client: Socket,
    target: { host: string; port: number },
    private readonly proxy: FaultProxyImpl,
  ) {
    this.record = { id, openedAt: Date.now(), bytesIn: 0, bytesOut: 0, open: true };
    this.upstream = new Socket({ allowHalfOpen: true });
    client.setNoDelay(true);
    this.upstream.setNoDelay(true);
    this.up = this.direction(client, this.upstream, () => {});
    this.down = this.direction(this.upstream, client, (n) => (this.record.bytesOut += n));
    client.on('data', (c: Buffer) => (this.record.bytesIn += c.length));

    let closedSockets = 0;
    const onClose = () => {
      if (++closedSockets < 2) return;
      this.record.open = false;
      this.record.closedAt = Date.now();
      this.clearTimers();
      proxy.forget(this);
    };
    for (const [a, b, fromA] of [
      [client, this.upstream, this.up],
      [this.upstream, client, this.down],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', (hadError: boolean) => {
        // After a graceful FIN from `a`, `b` still gets the queued data and the FIN (see pump); otherwise close it.
        if (hadError || !fromA.srcEnded || this.closing) b.destroy();
        onClose();
      });
    }
    this.upstream.once('connect', () => {
      if (this.upstream.localPort !== undefined) this.record.upstreamPort = this.upstream.localPort;
    });
    this.upstream.connect(target.port, target.host);
  }

  get isBlackholed(): boolean {
    return this.blackholed || this.proxy.globalBlackhole;
  }

  closeBoth(): void {
    this.closing = true;
    this.clearTimers();
    this.client.end();
    this.upstream.end();
    // If the peers never finish their side, do not keep the pair forever.
    setTimeout(() => {
      this.client.destroy();
      this.upstream.destroy();
    }, 2_000).unref();
  }

  reset(): void {
    this.closing = true;
    this.clearTimers();
    try {
      if (!this.client.destroyed) this.client.resetAndDestroy();
    } catch {
      this.client.destroy();
    }
    this.upstream.destroy();
  }

  destroy(): void {
    this.closing = true;
    this.clearTimers();
    this.client.destroy();
    this.upstream.destroy();
  }

  private clearTimers(): void {
    for (const d of [this.up, this.down]) {
      clearTimeout(d.timer);
      d.timer = undefined;
      d.queue.length = 0;
      d.queuedBytes = 0;
    }
  }

  private direction(src: Socket, dst: Socket, count: (n: number) => void): Direction {
    const d: Direction = { src, dst, queue: [], queuedBytes: 0, timer: undefined, waitingDrain: false, srcEnded: false, count };
    src.on('data', (chunk: Buffer) => {
      if (this.closing || this.isBlackholed) return; // dropped
      d.queue.push({ chunk, due: Date.now() + this.proxy.latencyMs });
      d.queuedBytes += chunk.length;
      if (d.queuedBytes > MAX_QUEUED_BYTES) src.pause();
      this.pump(d);
    });
    src.on('end', () => {
      d.srcEnded = true;
      this.pump(d);
    });
    dst.on('drain', () => {
      d.waitingDrain = false;
      this.pump(d);
    });
    return d;
  }

  /** Write every due chunk in order; respects latency, backpressure and half-close. */
  private pump(d: Direction): void {
    if (this.closing || d.waitingDrain || d.timer) return;
    while (d.queue.length > 0) {
      const head = d.queue[0]!;
      const wait = head.due - Date.now();
      if (wait > 0) {
        d.timer = setTimeout(() => {
          d.timer = undefined;
          this.pump(d);
        }, wait);
        return;
      }
      d.queue.shift();
      d.queuedBytes -= head.chunk.length;
      if (this.isBlackholed || d.dst.destroyed || !d.dst.writable) continue; // dropped
      d.count(head.chunk.length);
      if (!d.dst.write(head.chunk)) {
        d.waitingDrain = true;
        break;
      }
    }
    if (d.queuedBytes <= MAX_QUEUED_BYTES && d.src.isPaused() && !d.src.destroyed) d.src.resume();
    // forward the FIN once everything before it went through (a blackhole swallows it until switched off)
    if (d.queue.length === 0 && d.srcEnded && !d.waitingDrain && !this.isBlackholed && d.dst.writable) d.dst.end();
  }

  /** Re-run both directions (after a blackhole is switched off: forwards a FIN that arrived meanwhile). */
  kick(): void {
    this.pump(this.up);
    this.pump(this.down);
  }
}

class FaultProxyImpl implements FaultProxy {
  readonly host = '127.0.0.1' as const;
  readonly connections: FaultProxyConnection[] = [];
  latencyMs = 0;
  globalBlackhole = false;
  private readonly pairs = new Map<number, Pair>();
  private nextId = 1;
  private readonly server: Server;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer({ allowHalfOpen: true }, (client) => {
      try {
        const pair = new Pair(this.nextId++, client, this.target, this);
        this.connections.push(pair.record);
        this.pairs.set(pair.id, pair);
      } catch {
        client.destroy();
      }
    });
    this.server.on('error', () => {});
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  forget(pair: Pair): void {
    this.pairs.delete(pair.id);
  }

  uriFor(targetUri: string): string {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/i.exec(targetUri);
    if (!m) throw new Error(`FaultProxy.uriFor: not a URI: ${targetUri}`);
    if (m[1]!.toLowerCase().startsWith('mongodb+srv')) throw new Error('FaultProxy.uriFor: mongodb+srv URIs cannot be proxied');
    return `${m[1]}${m[2] ?? ''}${this.address}${m[4] ?? ''}`;
  }

  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  closeAll(): void {
    for (const p of this.pairs.values()) p.closeBoth();
  }

  resetAll(): void {
    for (const p of this.pairs.values()) p.reset();
  }

  blackhole(on = true): void {
    this.globalBlackhole = on;
    if (!on) for (const p of this.pairs.values()) p.kick();
  }

  blackholeConnection(id: number, on = true): void {
    const pair = this.pairs.get(id);
    if (!pair) return;
    pair.blackholed = on;
    if (!on) pair.kick();
  }

  openConnectionCount(): number {
    return this.connections.filter((c) => c.open).length;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const p of this.pairs.values()) p.destroy();
    await closed;
  }
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const proxy = new FaultProxyImpl(target);
  await proxy.listen();
  return proxy;
}
