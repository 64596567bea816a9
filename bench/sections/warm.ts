/**
 * Warm overhead: one warm container per setup, the same invocation repeated, interleaved across the setups so that
 * machine noise reaches all of them alike. Per invocation: the handler's own time (the whole exported handler,
 * middlewares included, by performance.now() in the function) and the invocation's round trip as the caller sees
 * it (by performance.now() around the emulator's invoke: the Runtime API exchanges and the runtime client included).
 * In the same rotation, a breakdown of the library's overhead: from the guide to the library one part at a time.
 */
import type { LambdaContainer } from '../../test/support/lambda-emulator/index.js';
import type { WireServer } from '../../test/support/wire-server/index.js';
import { benchEvent, handlerMs, seededServer, startFunction } from '../lib/rig.js';
import { SETUP_NAMES, type BuiltBundle, type FixtureName, type SetupName } from '../lib/setups.js';
import { median, quantile } from '../lib/stats.js';

export interface WarmOptions {
  invocations: number;
  warmup: number;
}

interface Subject {
  key: string;
  fixture: FixtureName;
  env?: Record<string, string>;
}

/** From the guide to the library, one part added per step (each step's cost = its median − the previous one's). */
export const BREAKDOWN: ReadonlyArray<Subject & { label: string; adds: string }> = [
  { key: 'guide', fixture: 'guide', label: 'guide', adds: '' },
  { key: 'guide-middy', fixture: 'guide-middy', label: 'the same inside `middy()`', adds: 'middy\'s chain (@middy/core)' },
  {
    key: 'library-core',
    fixture: 'library',
    env: { BENCH_MONGO: '{"thaw":false,"session":false}', BENCH_LOGGER: 'noop' },
    label: '`mongo({ thaw: false, session: false, logger: no-op })`',
    adds: 'the middleware\'s own `before` and `after` (src/middy.ts): `openInvocation` and `InvocationScope.finish` (src/invocation.ts)',
  },
  {
    key: 'library-logger',
    fixture: 'library',
    env: { BENCH_MONGO: '{"thaw":false,"session":false}' },
    label: '`mongo({ thaw: false, session: false })`',
    adds: 'the default Powertools logger receiving the DEBUG records (dropped at INFO)',
  },
  { key: 'library-session', fixture: 'library', env: { BENCH_MONGO: '{"thaw":false}' }, label: '`mongo({ thaw: false })`', adds: 'a ClientSession per invocation: `startSession`, `endSession`, their records' },
  {
    key: 'library-no-settle',
    fixture: 'library',
    env: { BENCH_MONGO: '{"thaw":{"settleAfterMs":1000000000}}' },
    label: '`mongo()`, back to back (gap under `thaw.settleAfterMs`)',
    adds: 'the freeze/thaw bookkeeping when no turn is due (`checkAfterThaw`)',
  },
  { key: 'library', fixture: 'library', label: '`mongo()` (the library)', adds: 'the two `setImmediate` turns of `settleAfterThaw` (src/thaw.ts), due after a gap of 10 ms or more, as here' },
];

export interface WarmFigure {
  handlerP50Ms: number;
  handlerP99Ms: number;
  endToEndP50Ms: number;
  endToEndP99Ms: number;
  failures: number;
}

export interface WarmFigures {
  invocations: number;
  /** Median time between two invocations of the same container (the rotation's length). */
  gapMs: number;
  setups: Record<SetupName, WarmFigure>;
  breakdown: Array<{ key: string; label: string; adds: string } & WarmFigure>;
}

export async function runWarm(bundles: Map<FixtureName, BuiltBundle>, options: WarmOptions, log: (line: string) => void): Promise<WarmFigures> {
  const subjects: Subject[] = [...SETUP_NAMES.map((setup) => ({ key: setup, fixture: setup })), ...BREAKDOWN.filter((step) => !SETUP_NAMES.includes(step.key as SetupName))];
  const rigs = new Map<string, { server: WireServer; id: string; fn: LambdaContainer; handler: number[]; endToEnd: number[]; failures: number; lastDoneAt: number }>();
  const gaps: number[] = [];
  try {
    for (const subject of subjects) {
      const { server, id } = await seededServer();
      const fn = await startFunction(bundles.get(subject.fixture)!, server.uri, subject.env);
      rigs.set(subject.key, { server, id, fn, handler: [], endToEnd: [], failures: 0, lastDoneAt: 0 });
    }
    const rounds = options.warmup + options.invocations;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round: no subject always runs first (or right after another).
      for (let index = 0; index < subjects.length; index++) {
        const rig = rigs.get(subjects[(round + index) % subjects.length]!.key)!;
        const sentAt = performance.now();
        const result = await rig.fn.invoke(benchEvent(rig.id));
        const roundTripMs = performance.now() - sentAt;
        const gap = sentAt - rig.lastDoneAt;
        rig.lastDoneAt = sentAt + roundTripMs;
        if (round < options.warmup) continue;
        gaps.push(gap);
        const own = handlerMs(result);
        if (own === undefined) rig.failures++;
        else {
          rig.handler.push(own);
          rig.endToEnd.push(roundTripMs);
        }
      }
      if ((round + 1) % 500 === 0) log(`  warm: ${round + 1}/${rounds} rounds`);
    }
    const figure = (key: string): WarmFigure => {
      const rig = rigs.get(key)!;
      return {
        handlerP50Ms: median(rig.handler),
        handlerP99Ms: quantile(rig.handler, 0.99),
        endToEndP50Ms: median(rig.endToEnd),
        endToEndP99Ms: quantile(rig.endToEnd, 0.99),
        failures: rig.failures,
      };
    };
    return {
      invocations: options.invocations,
      gapMs: median(gaps),
      setups: Object.fromEntries(SETUP_NAMES.map((setup) => [setup, figure(setup)])) as Record<SetupName, WarmFigure>,
      breakdown: BREAKDOWN.map(({ key, label, adds }) => ({ key, label, adds, ...figure(key) })),
    };
  } finally {
    for (const rig of rigs.values()) {
      await rig.fn.shutdown(100).catch(() => undefined);
      await rig.server.stop();
    }
  }
}
