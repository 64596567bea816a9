// The freeze/thaw fault matrix under the real Lambda runtime client: for every scenario, insertOne and find,
// ten freezes each, the first invocation after the thaw must succeed and end its session.
import { afterAll, describe, expect, it } from 'vitest';
import { SCENARIOS, runScenario, type FreezeOperation, type ScenarioRun } from './support/freeze-scenarios.js';
import { stopAllLambdaContainers } from './support/lambda-emulator/index.js';

const RUNS = 10;
const OPERATIONS: FreezeOperation[] = ['insertOne', 'find'];

/** The requestIds whose `session.ended` record the library logged. */
function endedSessions(run: ScenarioRun): Set<string> {
  const ended = new Set<string>();
  for (const line of run.logs) {
    if (!line.includes('"session.ended"')) continue;
    const record = JSON.parse(line) as { mongodb?: { requestId?: string } };
    if (record.mongodb?.requestId) ended.add(record.mongodb.requestId);
  }
  return ended;
}

describe('freeze/thaw fault matrix (library middleware, defaults)', () => {
  afterAll(async () => {
    await stopAllLambdaContainers();
  });

  // Every scenario and operation runs concurrently (each with its own server, proxy and container):
  // the freezes are idle time, so the matrix takes about as long as its longest scenario.
  const matrix = SCENARIOS.flatMap((scenario) => OPERATIONS.map((op) => ({ scenario, op })));
  // The settle turn alone: the FIN scenario with the probe moved out of reach, as for any gap between
  // thaw.settleAfterMs and thaw.probeAfterMs (no ping then protects the first command).
  const settleOnly = OPERATIONS.map((op) => ({ scenario: SCENARIOS.find((candidate) => candidate.id === 'fin-short')!, op }));
  const results = new Map<string, Promise<ScenarioRun>>();
  const resultOf = (id: string, op: FreezeOperation, probe = true) => {
    const key = `${id}/${op}/${probe ? 'probe' : 'settle-only'}`;
    let pending = results.get(key);
    if (!pending) {
      const scenario = SCENARIOS.find((candidate) => candidate.id === id)!;
      pending = runScenario('library', scenario, op, { runs: RUNS, invokeTimeoutMs: 20_000, ...(probe ? {} : { env: { FIXTURE_PROBE_AFTER_MS: String(2 ** 31) } }) });
      results.set(key, pending);
    }
    return pending;
  };

  it('starts every scenario', () => {
    for (const { scenario, op } of matrix) void resultOf(scenario.id, op).catch(() => undefined);
    for (const { scenario, op } of settleOnly) void resultOf(scenario.id, op, false).catch(() => undefined);
    expect(results.size).toBe(SCENARIOS.length * OPERATIONS.length + OPERATIONS.length);
  });

  it.each([
    ...matrix.map(({ scenario, op }) => [scenario.title, op, scenario.id, true] as const),
    ...settleOnly.map(({ scenario, op }) => [`${scenario.title}, settle turn alone (probe off)`, op, scenario.id, false] as const),
  ])('%s — %s: no failed invocation, the session ended', async (_title, op, id, probe) => {
    // Act
    const run = await resultOf(id, op, probe);

    // Assess
    const failures = run.runs.filter((record) => !record.ok).map((record) => record.error);
    expect(failures).toEqual([]);
    expect(run.runs).toHaveLength(RUNS);
    const ended = endedSessions(run);
    for (const record of run.runs) {
      expect(ended.has(record.requestId), `session of ${record.requestId} ended`).toBe(true);
      // ended sessions go back to the driver's pool: the next invocation reuses the lsid
      expect(record.thawLsid).toMatch(/^[0-9a-f]{32}$/);
      expect(record.nextLsid).toBe(record.thawLsid);
    }
  }, 300_000);
});
