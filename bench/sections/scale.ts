/**
 * Scale: K containers at once against one server, each a burst of sequential invocations, then all retired as
 * Lambda retires them. Peak server connections, failed invocations, and server sessions never ended.
 */
import type { LambdaContainer } from '../../test/support/lambda-emulator/index.js';
import { benchEvent, peakConnections, retireLikeLambda, seededServer, serverSessions, startFunction } from '../lib/rig.js';
import { SETUP_NAMES, type BuiltBundle, type FixtureName, type SetupName } from '../lib/setups.js';

export interface ScaleFigures {
  burst: number;
  rows: Array<{
    setup: SetupName;
    containers: number;
    started: number;
    invocations: number;
    failures: number;
    peakConnections: number;
    socketsOpened: number;
    sessionsStarted: number;
    sessionsLeftOpen: number;
    durationMs: number;
  }>;
}

/** The library runs as docs/deadline-and-shutdown.md shows it with graceful shutdown; the others as their guides show them. */
const FIXTURE_OF: Record<SetupName, FixtureName> = { naive: 'naive', guide: 'guide', mongoose: 'mongoose', library: 'library-graceful' };

export async function runScale(bundles: Map<FixtureName, BuiltBundle>, sizes: number[], burst: number, log: (line: string) => void): Promise<ScaleFigures> {
  const rows: ScaleFigures['rows'] = [];
  for (const containers of sizes) {
    for (const setup of SETUP_NAMES) {
      const { server, id } = await seededServer();
      const startedAt = performance.now();
      const started: LambdaContainer[] = [];
      let failures = 0;
      try {
        const starts = await Promise.allSettled(Array.from({ length: containers }, () => startFunction(bundles.get(FIXTURE_OF[setup])!, server.uri, {}, 30_000)));
        for (const start of starts) if (start.status === 'fulfilled') started.push(start.value);
        const lost = containers - started.length;
        failures += lost * burst;
        await Promise.all(
          started.map(async (fn) => {
            for (let index = 0; index < burst; index++) {
              const ok = await fn.invoke(benchEvent(id)).then((result) => result.ok, () => false);
              if (!ok) failures++;
            }
          }),
        );
        await Promise.all(started.map((fn) => retireLikeLambda(fn)));
        const sessions = serverSessions(server);
        rows.push({
          setup,
          containers,
          started: started.length,
          invocations: containers * burst,
          failures,
          peakConnections: peakConnections(server),
          socketsOpened: server.connections.length,
          sessionsStarted: sessions.started,
          sessionsLeftOpen: sessions.started - sessions.ended,
          durationMs: performance.now() - startedAt,
        });
        log(`  scale: ${setup} × ${containers}: ${failures} failed, peak ${peakConnections(server)} connections, ${sessions.started - sessions.ended} sessions left open`);
      } finally {
        for (const fn of started) fn.kill();
        await server.stop();
      }
    }
  }
  return { burst, rows };
}
