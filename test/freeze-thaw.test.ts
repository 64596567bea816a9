// The freeze/thaw fault matrix under the real Lambda runtime client: for every scenario, insertOne and find,
// ten freezes each, the first invocation after the thaw must succeed and end its session. The FIN, RST and
// silent-peer scenarios run over TLS too, with a control that shows the FIN breaks an unprotected first command.
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCENARIOS, runScenario, type FreezeOperation, type ScenarioRun } from './support/freeze-scenarios.js';
import { stopAllLambdaContainers } from './support/lambda-emulator/index.js';

const RUNS = 10;
/** Runs of a burst row: each thaw delivers 2 or 8 invocations at once. */
const BURST_RUNS = 4;
/**
 * Burst rows run after the others, this many at a time: each is a container of the runtime client's
 * multi-concurrent mode (a worker thread on top of the process), and all at once overload a 2-core machine
 * (init past 30 s, connects past connectTimeoutMS).
 */
const BURST_CONCURRENCY = 6;
const OPERATIONS: FreezeOperation[] = ['insertOne', 'find'];

/**
 * The requestIds whose `session.ended` record the library logged. In the runtime client's multi-concurrent mode
 * a console line arrives wrapped, as the JSON string `message` of the runtime's own record.
 */
function endedSessions(run: ScenarioRun): Set<string> {
  const ended = new Set<string>();
  for (const line of run.logs) {
    if (!line.includes('session.ended')) continue;
    let record = JSON.parse(line) as { message?: unknown; mongodb?: { event?: string; requestId?: string } };
    if (!record.mongodb && typeof record.message === 'string' && record.message.startsWith('{')) record = JSON.parse(record.message) as typeof record;
    if (record.mongodb?.event === 'session.ended' && record.mongodb.requestId) ended.add(record.mongodb.requestId);
  }
  return ended;
}

/** Which thaw checks the library runs: its defaults, the settle turn alone (probe off), or neither. */
type Checks = 'defaults' | 'settle-only' | 'none';
const OUT_OF_REACH = String(2 ** 31);
const CHECK_ENV: Record<Checks, Record<string, string>> = {
  defaults: {},
  'settle-only': { FIXTURE_PROBE_AFTER_MS: OUT_OF_REACH },
  none: { FIXTURE_PROBE_AFTER_MS: OUT_OF_REACH, FIXTURE_SETTLE_AFTER_MS: OUT_OF_REACH },
};

interface Row {
  id: string;
  op: FreezeOperation;
  checks: Checks;
  tls: boolean;
  /** Invocations delivered at once on the thaw (one module scope, one client). */
  burst?: number;
  /** The middy middleware (a session per invocation), the HTTP handler (no session), or mongoose through the adapter. */
  setup?: 'library' | 'http handler' | 'mongoose adapter';
  /** Freezes per row, when not {@link RUNS}. */
  runs?: number;
}

/** The scenarios the HTTP handler runs: the sockets closed, reset, all silent, the pool's silent. */
const HTTP_SCENARIOS = ['fin-short', 'rst', 'blackhole-all', 'blackhole-pool'];
/**
 * mongoose through the adapter runs every scenario with the write, and the read where the driver does not retry a
 * command on a socket from before the freeze (FIN, RST, every socket silent): fewer freezes per row, as the same
 * lifecycle is under it and the matrix runs every row at once on the CI machine's two cores.
 */
const MONGOOSE_READ_SCENARIOS = ['fin-short', 'rst', 'blackhole-all'];
const MONGOOSE_RUNS = 5;

describe('freeze/thaw fault matrix (library middleware, defaults)', () => {
  afterAll(async () => {
    await stopAllLambdaContainers();
  });

  // Every row runs concurrently (each with its own server, proxy and container): the freezes are idle time,
  // so the matrix takes about as long as its longest scenario.
  const rows: Row[] = [
    ...SCENARIOS.flatMap((scenario) => OPERATIONS.map((op): Row => ({ id: scenario.id, op, checks: 'defaults', tls: false }))),
    // The settle turn alone: the FIN scenario with the probe moved out of reach, as for any gap between
    // thaw.settleAfterMs and thaw.probeAfterMs (no ping then protects the first command).
    ...OPERATIONS.map((op): Row => ({ id: 'fin-short', op, checks: 'settle-only', tls: false })),
    // Over TLS, as with Atlas: the peer's FIN and RST reach the driver through the TLS socket.
    ...['fin-short', 'rst', 'blackhole-all'].flatMap((id) => OPERATIONS.map((op): Row => ({ id, op, checks: 'defaults', tls: true }))),
    ...['fin-short', 'rst'].flatMap((id) => OPERATIONS.map((op): Row => ({ id, op, checks: 'settle-only', tls: true }))),
    // The HTTP way in opens its requests through the same invocation lifecycle.
    ...HTTP_SCENARIOS.flatMap((id) => OPERATIONS.map((op): Row => ({ id, op, checks: 'defaults', tls: false, setup: 'http handler' }))),
    // Several invocations delivered at once on the thaw, in one module scope (Vercel Fluid, Managed Instances):
    // they share the client and its one freeze/thaw check.
    ...[2, 8].flatMap((burst) => SCENARIOS.flatMap((scenario) => OPERATIONS.map((op): Row => ({ id: scenario.id, op, checks: 'defaults', tls: false, burst })))),
    // mongoose's models on a connection the adapter binds to the checked client, and moves to a rebuilt one.
    ...SCENARIOS.map((scenario): Row => ({ id: scenario.id, op: 'insertOne', checks: 'defaults', tls: false, setup: 'mongoose adapter', runs: MONGOOSE_RUNS })),
    ...MONGOOSE_READ_SCENARIOS.map((id): Row => ({ id, op: 'find', checks: 'defaults', tls: false, setup: 'mongoose adapter', runs: MONGOOSE_RUNS })),
  ];
  // The control: over TLS with neither check, the FIN scenario must break the first command, or the rows above
  // would prove nothing. It breaks because of the driver's write path (docs/upstream-driver-write-after-close.md):
  // once a driver release fixes that, the control fails, and the settle turn can be reconsidered.
  const controls: Row[] = OPERATIONS.map((op) => ({ id: 'fin-short', op, checks: 'none', tls: true }));
  const title = ({ id, checks, tls, setup, burst }: Row) =>
    `${setup === 'http handler' ? 'HTTP handler: ' : setup === 'mongoose adapter' ? 'mongoose adapter: ' : ''}${burst ? `${burst} at once: ` : ''}${SCENARIOS.find((scenario) => scenario.id === id)!.title}${tls ? ', over TLS' : ''}${checks === 'defaults' ? '' : checks === 'settle-only' ? ', settle turn alone (probe off)' : ', no thaw check'}`;

  const results = new Map<string, Promise<ScenarioRun>>();
  const resultOf = ({ id, op, checks, tls, setup = 'library', burst, runs = burst ? BURST_RUNS : RUNS }: Row) => {
    const key = `${setup}/${id}/${op}/${checks}/${tls ? 'tls' : 'tcp'}/${burst ?? 1}`;
    let pending = results.get(key);
    if (!pending) {
      const scenario = SCENARIOS.find((candidate) => candidate.id === id)!;
      pending = runScenario(setup, scenario, op, { runs, invokeTimeoutMs: 20_000, env: CHECK_ENV[checks], tls, ...(burst ? { burst } : {}) });
      results.set(key, pending);
    }
    return pending;
  };

  // Start every row at once, the burst rows once the others are over (a few at a time); each test below awaits
  // its own.
  const scheduled = new Map<Row, Promise<ScenarioRun>>();
  const scheduledRun = (row: Row): Promise<ScenarioRun> => scheduled.get(row) ?? resultOf(row);
  beforeAll(() => {
    const firstWave = [...rows.filter((row) => !row.burst), ...controls].map((row) => resultOf(row).catch(() => undefined));
    const firstWaveDone = Promise.all(firstWave);
    const limit = pLimit(BURST_CONCURRENCY);
    for (const row of rows.filter((candidate) => candidate.burst)) {
      const pending = firstWaveDone.then(() => limit(() => resultOf(row)));
      pending.catch(() => undefined);
      scheduled.set(row, pending);
    }
  });

  it.each(rows.filter((row) => row.setup === 'http handler').map((row) => [title(row), row.op, row] as const))('%s — %s: every request answered 200', async (_title, _op, row) => {
    // Act
    const run = await resultOf(row);

    // Assess: the fixture throws on any status but 200, so a failed run is a failed request
    const failures = run.runs.filter((record) => !record.ok).map((record) => record.error);
    expect(failures).toEqual([]);
    expect(run.runs).toHaveLength(RUNS);
  }, 300_000);

  it.each(rows.filter((row) => row.burst).map((row) => [title(row), row.op, row] as const))('%s — %s: every invocation succeeded and ended its session', async (_title, _op, row) => {
    // Act
    const run = await scheduledRun(row);

    // Assess
    const failures = run.runs.filter((record) => !record.ok).map((record) => record.error);
    expect(failures).toEqual([]);
    expect(run.runs).toHaveLength(BURST_RUNS);
    const ended = endedSessions(run);
    for (const record of run.runs) {
      expect(record.requestIds).toHaveLength(row.burst!);
      for (const requestId of record.requestIds) expect(ended.has(requestId), `session of ${requestId} ended`).toBe(true);
    }
  }, 300_000);

  it.each(rows.filter((row) => row.setup !== 'http handler' && !row.burst).map((row) => [title(row), row.op, row] as const))('%s — %s: no failed invocation, the session ended', async (_title, _op, row) => {
    // Act
    const run = await resultOf(row);

    // Assess
    const failures = run.runs.filter((record) => !record.ok).map((record) => record.error);
    expect(failures).toEqual([]);
    expect(run.runs).toHaveLength(row.runs ?? RUNS);
    const ended = endedSessions(run);
    for (const record of run.runs) {
      expect(ended.has(record.requestId), `session of ${record.requestId} ended`).toBe(true);
      expect(record.thawLsid).toMatch(/^[0-9a-f]{32}$/);
    }
    // Ended sessions go back to the driver's pool: the next invocation reuses the lsid, unless it rebuilt the client
    // (a new client has a new session pool): when its probe's answer came after the probe's deadline, as it can when
    // the test worker, which hosts every row's server, proxy and emulator, lags past probeAfterMs. Such a rebuild
    // costs a reconnect, never a failure: bounded (one run in five), not excluded. The earlier check ("all runs but
    // one reused") failed in 2 of about 9 CI runs of the matrix without telling which of the two it was.
    for (const record of run.runs.filter((record) => !record.nextRebuilt)) {
      expect(record.nextLsid, `next invocation after ${record.requestId} reused the thaw session`).toBe(record.thawLsid);
    }
    const rebuilt = run.runs.filter((record) => record.nextRebuilt).length;
    expect(rebuilt, 'runs whose next invocation rebuilt the client').toBeLessThanOrEqual(Math.max(1, Math.floor(run.runs.length / 5)));
  }, 300_000);

  it.each(controls.map((row) => [title(row), row.op, row] as const))('%s — %s: the first command after the thaw fails (the control)', async (_title, _op, row) => {
    // Act
    const run = await resultOf(row);

    // Assess
    const failures = run.runs.filter((record) => !record.ok).map((record) => record.error);
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure).toMatch(/ended by the other party|EPIPE|ECONNRESET/);
  }, 300_000);
});
