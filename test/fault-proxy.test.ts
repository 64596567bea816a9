import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';

/** A client socket that records everything it receives and how it ended. */
interface Client {
  socket: Socket;
  received: () => Buffer;
  waitFor: (bytes: number) => Promise<Buffer>;
  ended: Promise<void>;
  closed: Promise<void>;
  error: Promise<NodeJS.ErrnoException>;
}

async function connectClient(port: number): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let waiters: Array<() => void> = [];
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    for (const w of waiters) w();
  });
  const received = () => Buffer.concat(chunks);
  const waitFor = (bytes: number) =>
    new Promise<Buffer>((resolve) => {
      const check = () => {
        const all = received();
        if (all.length >= bytes) {
          waiters = waiters.filter((w) => w !== check);
          resolve(all);
        }
      };
      waiters.push(check);
      check();
    });
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
  return { socket, received, waitFor, ended, closed, error };
}

describe('fault proxy', () => {
  let echo: Server;
  let echoSockets: Set<Socket>;
  let proxy: FaultProxy;
  const clients: Socket[] = [];

  const client = async () => {
    const c = await connectClient(proxy.port);
    clients.push(c.socket);
    return c;
  };

  beforeEach(async () => {
    echoSockets = new Set();
    echo = createServer((s) => {
      echoSockets.add(s);
      s.on('error', () => {});
      s.on('close', () => echoSockets.delete(s));
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    proxy = await startFaultProxy({ host: '127.0.0.1', port: (echo.address() as AddressInfo).port });
  });

  afterEach(async () => {
    for (const s of clients.splice(0)) s.destroy();
    await proxy.stop();
    for (const s of echoSockets) s.destroy();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  it('passes bytes through unchanged and in order, with backpressure, and counts them', async () => {
    // Prepare
    const c = await client();
    const payload = randomBytes(8 * 1024 * 1024);

    // Act
    c.socket.write(payload.subarray(0, 1000));
    c.socket.write(payload.subarray(1000));
    const echoed = await c.waitFor(payload.length);

    // Assess
    expect(echoed.equals(payload)).toBe(true);
    expect(proxy.connections).toHaveLength(1);
    expect(proxy.connections[0]).toMatchObject({ id: 1, bytesIn: payload.length, bytesOut: payload.length, open: true });
    expect(proxy.openConnectionCount()).toBe(1);
    expect(proxy.address).toBe(`127.0.0.1:${proxy.port}`);
  });

  it('adds the configured latency in each direction', async () => {
    // Prepare
    const c = await client();
    c.socket.write('warm-up');
    await c.waitFor(7);
    proxy.setLatency(60);

    // Act
    const t0 = Date.now();
    c.socket.write('ping');
    await c.waitFor(11);
    const rtt = Date.now() - t0;

    // Assess: 60 ms on the way to the server and 60 ms back
    expect(rtt).toBeGreaterThanOrEqual(120);
    expect(c.received().toString()).toBe('warm-upping');
  });

  it('keeps order when latency changes while data is in flight', async () => {
    // Prepare
    const c = await client();
    proxy.setLatency(50);

    // Act
    c.socket.write('a');
    await sleep(5);
    proxy.setLatency(0);
    c.socket.write('b');
    const data = await c.waitFor(2);

    // Assess
    expect(data.toString()).toBe('ab');
  });

  it('closeAll() ends the client connection with a FIN', async () => {
    // Prepare
    const c = await client();
    c.socket.write('x');
    await c.waitFor(1);

    // Act
    proxy.closeAll();
    await c.ended;
    await c.closed;

    // Assess
    expect(c.socket.destroyed).toBe(true);
    await expect.poll(() => proxy.openConnectionCount()).toBe(0);
    expect(proxy.connections[0]?.closedAt).toBeTypeOf('number');
  });

  it('resetAll() resets the client connection (ECONNRESET)', async () => {
    // Prepare
    const c = await client();
    c.socket.write('x');
    await c.waitFor(1);

    // Act
    proxy.resetAll();
    const err = await c.error;

    // Assess
    expect(err.code).toBe('ECONNRESET');
    await expect.poll(() => echoSockets.size).toBe(0); // the server side was closed too
    await expect.poll(() => proxy.openConnectionCount()).toBe(0);
  });

  it('blackhole() drops data both ways but keeps current and new connections open', async () => {
    // Prepare
    const c1 = await client();
    c1.socket.write('before');
    await c1.waitFor(6);

    // Act
    proxy.blackhole();
    const c2 = await client();
    c1.socket.write('dropped');
    c2.socket.write('dropped');
    await sleep(200);
    const whileOn = { c1: c1.received().toString(), c2: c2.received().toString() };
    proxy.blackhole(false);
    c1.socket.write('after');
    const c1After = await c1.waitFor(11);

    // Assess
    expect(whileOn).toEqual({ c1: 'before', c2: '' });
    expect(c1.socket.destroyed).toBe(false);
    expect(c2.socket.destroyed).toBe(false);
    expect(proxy.openConnectionCount()).toBe(2);
    expect(c1After.toString()).toBe('beforeafter');
  });

  it('blackholeConnection() only affects that connection pair', async () => {
    // Prepare
    const c1 = await client();
    const c2 = await client();
    const id1 = proxy.connections[0]!.id;

    // Act
    proxy.blackholeConnection(id1);
    c1.socket.write('one');
    c2.socket.write('two');
    const c2Data = await c2.waitFor(3);
    await sleep(150);

    // Assess
    expect(c2Data.toString()).toBe('two');
    expect(c1.received().length).toBe(0);
    expect(c1.socket.destroyed).toBe(false);

    // and switching it off again resumes forwarding
    proxy.blackholeConnection(id1, false);
    c1.socket.write('again');
    expect((await c1.waitFor(5)).toString()).toBe('again');
  });

  it('forwards a half-close (FIN) from the client to the server after the data', async () => {
    // Prepare
    const c = await client();
    proxy.setLatency(20);

    // Act
    c.socket.end('last words');
    await c.ended; // the echo server ends after echoing, the proxy forwards its FIN back

    // Assess
    expect(c.received().toString()).toBe('last words');
  });

  it('closes the client when the target is unreachable', async () => {
    // Prepare
    const dead = await startFaultProxy({ host: '127.0.0.1', port: 1 });

    // Act
    const c = await connectClient(dead.port);
    await c.closed;

    // Assess
    expect(c.received().length).toBe(0);
    await expect.poll(() => dead.openConnectionCount()).toBe(0);
    await dead.stop();
  });

  it('uriFor() points a connection string at the proxy, keeping credentials, path and query', () => {
    // Prepare
    const uris = [
      'mongodb://127.0.0.1:27017/app?retryWrites=false',
      'mongodb://user:p%40ss@db1.example:27017,db2.example:27018/admin?replicaSet=rs0&directConnection=false',
      'mongodb://localhost',
    ];

    // Act
    const proxied = uris.map((u) => proxy.uriFor(u));

    // Assess
    expect(proxied).toEqual([
      `mongodb://${proxy.address}/app?retryWrites=false`,
      `mongodb://user:p%40ss@${proxy.address}/admin?replicaSet=rs0&directConnection=false`,
      `mongodb://${proxy.address}`,
    ]);
    expect(() => proxy.uriFor('mongodb+srv://cluster0.example.net/app')).toThrow(/mongodb\+srv/);
  });
});
