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
  /** Invocations measured per container. */
  invocations: number;
  warmup: number;
  /**
   * Containers per setup and variant. Two containers running the same bundle differ by a few percent at the median
   * (where their memory landed, which core they share): each figure pools the invocations of several containers so
   * that no single container's luck decides a ratio.
   */
  replicas: number;
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
    adds: 'the middleware\'s own `before` and `after` (src/adapters/middy.ts): `openInvocation` and `InvocationScope.finish` (src/core/invocation/); and `context.mongo.db` made once per client, where the guide calls `client.db()`, which copies ~80 client options, every invocation',
  },
  {
    key: 'library-logger',
    fixture: 'library',
    env: { BENCH_MONGO: '{"thaw":false,"session":false}' },
    label: '`mongo({ thaw: false, session: false })`',
    adds: 'the default Powertools logger, asked once per invocation whether it wants the DEBUG records (at INFO it does not, and none is built)',
  },
  { key: 'library-session', fixture: 'library', env: { BENCH_MONGO: '{"thaw":false}' }, label: '`mongo({ thaw: false })`', adds: 'a ClientSession per invocation: `startSession`, `endSession`, their records' },
  {
    key: 'library-no-settle',
    fixture: 'library',
    env: { BENCH_MONGO: '{"thaw":{"settleAfterMs":1000000000}}' },
    label: '`mongo()`, back to back (gap under `thaw.settleAfterMs`)',
    adds: 'the freeze/thaw bookkeeping when no turn is due (the gap compared with `thaw.settleAfterMs`)',
  },
  { key: 'library', fixture: 'library', label: '`mongo()` (the library)', adds: 'the two `setImmediate` turns of `settleAfterThaw` (src/core/invocation/thaw.ts), due after a gap of 10 ms or more, as here' },
];

/**
 * The library without middy, measured in the same rotation: `withMongo()` runs the same lifecycle as the middy
 * middleware (session, freeze/thaw turn), so its overhead over the guide is the library's own, and the rest of
 * the middleware's is middy's chain.
 */
export const WITHOUT_MIDDY: Subject & { label: string } = {
  key: 'library-with-mongo',
  fixture: 'library-with-mongo',
  label: 'library without middy, `withMongo()`',
};

/**
 * mongoose through this library's adapter, measured in the same rotation, to set beside mongoose as its Lambda
 * guide shows it (the `mongoose` setup): the same work through a model, with the invocation's session.
 */
export const MONGOOSE_ADAPTER: Subject & { label: string } = {
  key: 'mongoose-adapter',
  fixture: 'mongoose-adapter',
  label: 'mongoose through the adapter, `mongooseMiddleware()`',
};

export interface WarmFigure {
  handlerP50Ms: number;
  handlerP99Ms: number;
  endToEndP50Ms: number;
  endToEndP99Ms: number;
  failures: number;
  /** Each container's own handler p50, to show how far identical containers differ. */
  replicaHandlerP50Ms: number[];
}

export interface WarmFigures {
  /** Invocations measured per container. */
  invocations: number;
  /** Containers per setup and variant. */
  replicas: number;
  /** Median time between two invocations of the same container (the rotation's length). */
  gapMs: number;
  setups: Record<SetupName, WarmFigure>;
  breakdown: Array<{ key: string; label: string; adds: string } & WarmFigure>;
  /** {@link WITHOUT_MIDDY} (absent from results written before it was measured). */
  withoutMiddy?: { label: string } & WarmFigure;
  /** {@link MONGOOSE_ADAPTER} (absent from results written before it was measured). */
  mongooseAdapter?: { label: string } & WarmFigure;
}

interface Rig {
  subject: string;
  server: WireServer;
  id: string;
  fn: LambdaContainer;
  handler: number[];
  endToEnd: number[];
  failures: number;
  lastDoneAt: number;
}

export async function runWarm(bundles: Map<FixtureName, BuiltBundle>, options: WarmOptions, log: (line: string) => void): Promise<WarmFigures> {
  const subjects: Subject[] = [
    ...SETUP_NAMES.map((setup) => ({ key: setup, fixture: setup })),
    ...BREAKDOWN.filter((step) => !SETUP_NAMES.includes(step.key as SetupName)),
    WITHOUT_MIDDY,
    MONGOOSE_ADAPTER,
  ];
  const rigs: Rig[] = [];
  const gaps: number[] = [];
  try {
    for (let replica = 0; replica < options.replicas; replica++) {
      for (const subject of subjects) {
        const { server, id } = await seededServer();
        const fn = await startFunction(bundles.get(subject.fixture)!, server.uri, subject.env);
        rigs.push({ subject: subject.key, server, id, fn, handler: [], endToEnd: [], failures: 0, lastDoneAt: 0 });
      }
    }
    log(`  warm: ${rigs.length} containers (${subjects.length} setups and variants × ${options.replicas})`);
    const rounds = options.warmup + options.invocations;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round: no container always runs first (or right after another).
      for (let index = 0; index < rigs.length; index++) {
        const rig = rigs[(round + index) % rigs.length]!;
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
      const own = rigs.filter((rig) => rig.subject === key);
      const handler = own.flatMap((rig) => rig.handler);
      const endToEnd = own.flatMap((rig) => rig.endToEnd);
      return {
        handlerP50Ms: median(handler),
        handlerP99Ms: quantile(handler, 0.99),
        endToEndP50Ms: median(endToEnd),
        endToEndP99Ms: quantile(endToEnd, 0.99),
        failures: own.reduce((sum, rig) => sum + rig.failures, 0),
        replicaHandlerP50Ms: own.map((rig) => median(rig.handler)),
      };
    };
    return {
      invocations: options.invocations,
      replicas: options.replicas,
      gapMs: median(gaps),
      setups: Object.fromEntries(SETUP_NAMES.map((setup) => [setup, figure(setup)])) as Record<SetupName, WarmFigure>,
      breakdown: BREAKDOWN.map(({ key, label, adds }) => ({ key, label, adds, ...figure(key) })),
      withoutMiddy: { label: WITHOUT_MIDDY.label, ...figure(WITHOUT_MIDDY.key) },
      mongooseAdapter: { label: MONGOOSE_ADAPTER.label, ...figure(MONGOOSE_ADAPTER.key) },
    };
  } finally {
    for (const rig of rigs) {
      await rig.fn.shutdown(100).catch(() => undefined);
      await rig.server.stop();
    }
  }
}
