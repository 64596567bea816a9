/**
 * Connection footprint: per setup, one container runs N sequential invocations, then is retired as Lambda retires
 * an execution environment (rig.ts `retireLikeLambda`). What the server saw: sockets opened, the most open at once,
 * sockets still open 500 ms after the retirement began, and server sessions used vs ended (`endSessions`); a session
 * never ended stays on the server until its 30-minute timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { benchEvent, peakConnections, retireLikeLambda, seededServer, serverSessions, startFunction } from '../lib/rig.js';
import type { BuiltBundle, FixtureName } from '../lib/setups.js';

export const FOOTPRINT_ROWS: Array<{ fixture: FixtureName; label: string }> = [
  { fixture: 'naive', label: 'naive' },
  { fixture: 'guide', label: 'guide' },
  { fixture: 'mongoose', label: 'mongoose' },
  { fixture: 'library', label: 'library, without `enableGracefulShutdown()`' },
  { fixture: 'library-graceful', label: 'library with `await enableGracefulShutdown()`' },
];

export interface FootprintFigures {
  invocations: number;
  rows: Array<{
    fixture: FixtureName;
    label: string;
    failures: number;
    socketsOpened: number;
    peakOpenSockets: number;
    sigterm: boolean;
    openAfterRetirement: number;
    sessionsStarted: number;
    sessionsEnded: number;
  }>;
}

export async function runFootprint(bundles: Map<FixtureName, BuiltBundle>, invocations: number, log: (line: string) => void): Promise<FootprintFigures> {
  const rows: FootprintFigures['rows'] = [];
  for (const { fixture, label } of FOOTPRINT_ROWS) {
    const { server, id } = await seededServer();
    const fn = await startFunction(bundles.get(fixture)!, server.uri);
    try {
      let failures = 0;
      for (let index = 0; index < invocations; index++) {
        const result = await fn.invoke(benchEvent(id));
        if (!result.ok) failures++;
        // Sequential invocations a moment apart, as a steady trickle of requests arrives.
        await sleep(10);
      }
      const socketsOpened = server.connections.length;
      const peakOpenSockets = peakConnections(server);
      const { sigterm } = await retireLikeLambda(fn);
      const openAfterRetirement = server.openConnectionCount();
      const sessions = serverSessions(server);
      rows.push({ fixture, label, failures, socketsOpened, peakOpenSockets, sigterm, openAfterRetirement, sessionsStarted: sessions.started, sessionsEnded: sessions.ended });
      log(`  footprint: ${label}: ${socketsOpened} sockets, ${openAfterRetirement} open after retirement, sessions ${sessions.ended}/${sessions.started} ended`);
    } finally {
      fn.kill();
      await server.stop();
    }
  }
  return { invocations, rows };
}
