import { UUID } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SideChannel } from '../src/core/client/side-channel.js';
import { resolveClientConfig } from '../src/core/config/resolve.js';
import { CaptureLogger } from './support/capture-logger.js';
import { startWireServer, type WireServer } from './support/wire-server/index.js';

/** A session id as killSessions names it, and as the wire server records it (hex). */
function session(): { lsid: { id: UUID }; hex: string } {
  const id = new UUID();
  return { lsid: { id }, hex: id.toHexString(false) };
}

/** The way a promise settled, as text, once it has. */
function outcome(promise: Promise<unknown>, log: string[], name: string): Promise<void> {
  return promise.then(
    () => void log.push(`${name} sent`),
    (error: unknown) => void log.push(`${name} rejected: ${error instanceof Error ? error.message : String(error)}`),
  );
}

describe('SideChannel: the deadline\'s killSessions outside the pool', () => {
  let server: WireServer;
  beforeAll(async () => {
    server = await startWireServer({ topology: 'replicaSet' });
  });
  afterEach(() => {
    server.clearRecords();
    server.clearFailPoints();
  });
  afterAll(async () => {
    await server.stop();
  });

  const config = () => resolveClientConfig({ uri: server.uri, logger: new CaptureLogger() });
  /** Holds the next killSessions on the server until the returned function is called. */
  function holdNextKill(): () => void {
    let release!: () => void;
    server.failNext({ command: 'killSessions', hold: new Promise<void>((resolve) => (release = resolve)), code: 0, times: 1 });
    return release;
  }

  it('rejects a caller that gives up while queued at once, and never sends its sessions; the others go in the next command', async () => {
    // Prepare: the first killSessions is held by the server; two more callers queue behind it
    const side = new SideChannel(config());
    const release = holdNextKill();
    const [a, b, c] = [session(), session(), session()];
    const log: string[] = [];
    const first = outcome(side.killSessions([a.lsid], new AbortController().signal, 1_000), log, 'a');
    await expect.poll(() => server.commandsNamed('killSessions').length, { timeout: 5_000 }).toBe(1);
    const givingUp = new AbortController();
    const second = outcome(side.killSessions([b.lsid], givingUp.signal, 1_000), log, 'b');
    const third = outcome(side.killSessions([c.lsid], new AbortController().signal, 1_000), log, 'c');

    // Act
    givingUp.abort(new Error('b gave up'));
    await second;
    const beforeRelease = [...log];
    release();
    await Promise.all([first, third]);
    await side.close();

    // Assess
    expect(beforeRelease).toEqual(['b rejected: b gave up']);
    expect(log).toEqual(['b rejected: b gave up', 'a sent', 'c sent']);
    expect(server.lsidsSentInEach('killSessions')).toEqual([[a.hex], [c.hex]]);
  });

  it('sends nothing once closed: the command on the wire fails, the queued and later callers are rejected', async () => {
    // Prepare
    const side = new SideChannel(config());
    holdNextKill();
    const [a, b, c] = [session(), session(), session()];
    const log: string[] = [];
    const first = outcome(side.killSessions([a.lsid], new AbortController().signal, 1_000), log, 'a');
    await expect.poll(() => server.commandsNamed('killSessions').length, { timeout: 5_000 }).toBe(1);
    const queued = outcome(side.killSessions([b.lsid], new AbortController().signal, 1_000), log, 'b');

    // Act
    await side.close();
    await Promise.all([first, queued]);
    await outcome(side.killSessions([c.lsid], new AbortController().signal, 1_000), log, 'c');

    // Assess: one command reached the server (the held one); every caller rejected
    expect(log.filter((line) => /^. sent$/.test(line))).toEqual([]);
    expect(log.map((line) => line.slice(0, 1)).sort()).toEqual(['a', 'b', 'c']);
    expect(log.filter((line) => /^[bc] rejected: The MongoDB client is closed/.test(line))).toHaveLength(2);
    expect(server.commandsNamed('killSessions')).toHaveLength(1);
  });
});
