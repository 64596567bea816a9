// Freeze/thaw benchmark (a script, not a test): for each fault scenario, insertOne and find, N freezes each,
// the first invocation after the thaw under the real Lambda runtime client, for several setups side by side in
// one run (test/support/freeze-scenarios.ts SETUPS). By default three: MongoDB's Lambda guide (bare driver,
// default options), the bare driver with this library's options, and this library's middleware; `npm run bench`
// runs it for naive, guide, mongoose and library.
//
//   node scripts/run-ts.mjs bench/freeze-thaw.ts [--runs 10] [--timeout 40000] [--scenarios fin-short,rst]
//     [--setups naive,guide,mongoose,library] [--bursts 2,8] [--burst-setups guide,library] [--burst-scenarios fin-short,rst]
//     [--burst-runs 5] [--burst-concurrency 10] [--out bench/freeze-thaw.md] [--json file]
//
// `--bursts` adds concurrent-after-thaw rows: for each burst size N, the same scenarios with N invocations delivered at
// once on the thaw (the container in the runtime client's multi-concurrent mode, one worker, room for all N), for the
// `--burst-setups` (default: every one of `--setups`) and `--burst-scenarios` (default: every one), `--burst-runs`
// freezes each (default `--runs`); the classic rows are "1 at once".
//
// Prints a markdown table and writes it to bench/freeze-thaw.md. Every classic combination runs at once (its own
// server, proxy and container): the freezes are idle time, so that part takes about as long as its slowest
// combination (a hung invocation waits for the function timeout, then its container is replaced). The burst
// combinations follow, at most `--burst-concurrency` at a time: all at once, the two cores were overloaded
// (latencies of seconds and failures where the classic rows alone have none).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { latencySummary, runScenario, SCENARIOS, SETUPS, type FreezeOperation, type ScenarioRun, type SetupName } from '../test/support/freeze-scenarios.js';
import { stopAllLambdaContainers } from '../test/support/lambda-emulator/index.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    scenarios: { type: 'string' },
    timeout: { type: 'string', default: '40000' },
    setups: { type: 'string', default: 'guide,guide + library options,library' },
    bursts: { type: 'string' },
    'burst-setups': { type: 'string' },
    'burst-scenarios': { type: 'string' },
    'burst-runs': { type: 'string' },
    'burst-concurrency': { type: 'string', default: '10' },
    out: { type: 'string', default: 'bench/freeze-thaw.md' },
    json: { type: 'string' },
  },
});
const runs = Number(values.runs);
const invokeTimeoutMs = Number(values.timeout);
const wanted = values.scenarios?.split(',');
const scenarios = SCENARIOS.filter((scenario) => !wanted || wanted.includes(scenario.id));
const setups = values.setups.split(',').map((name) => name.trim()) as SetupName[];
for (const setup of setups) if (!(setup in SETUPS)) throw new Error(`Unknown setup "${setup}": one of ${Object.keys(SETUPS).join(', ')}`);
const operations: FreezeOperation[] = ['insertOne', 'find'];
const bursts = (values.bursts ?? '').split(',').map((size) => size.trim()).filter((size) => size !== '').map(Number);
for (const size of bursts) if (!(Number.isInteger(size) && size >= 2)) throw new Error(`--bursts: burst sizes are integers >= 2 (got ${values.bursts})`);
const burstSetups = values['burst-setups'] === undefined ? setups : (values['burst-setups'].split(',').map((name) => name.trim()) as SetupName[]);
for (const setup of burstSetups) if (!setups.includes(setup)) throw new Error(`--burst-setups: "${setup}" is not one of --setups (${setups.join(', ')})`);
const burstRuns = values['burst-runs'] === undefined ? runs : Number(values['burst-runs']);
const burstConcurrency = Math.max(1, Number(values['burst-concurrency']));
const wantedBursts = values['burst-scenarios']?.split(',').map((id) => id.trim());
const burstScenarios = scenarios.filter((scenario) => !wantedBursts || wantedBursts.includes(scenario.id));
/** 1 = the classic rows (one invocation on the thaw), then the burst sizes. */
const sizes = [1, ...bursts];
const setupsFor = (burst: number) => (burst === 1 ? setups : burstSetups);
const scenariosFor = (burst: number) => (burst === 1 ? scenarios : burstScenarios);

const startedAt = Date.now();
// A scenario that cannot be staged for a setup (the naive handler keeps no pool socket to break) is reported as n/a.
const skipped: Array<{ setup: SetupName; scenario: string; op: FreezeOperation; burst: number; reason: string }> = [];
interface Result {
  burst: number;
  run: ScenarioRun;
}
const combinations = sizes.flatMap((burst) =>
  scenariosFor(burst).flatMap((scenario) => operations.flatMap((op) => setupsFor(burst).map((setup) => ({ burst, scenario, op, setup })))),
);
const runCombination = ({ burst, scenario, op, setup }: (typeof combinations)[number]): Promise<Result | undefined> =>
  runScenario(setup, scenario, op, { runs: burst === 1 ? runs : burstRuns, invokeTimeoutMs, ...(burst > 1 ? { burst } : {}) }).then(
    (run): Result => ({ burst, run }),
    (error: unknown) => {
      skipped.push({ setup, scenario: scenario.id, op, burst, reason: error instanceof Error ? error.message : String(error) });
      return undefined;
    },
  );
const settled: Array<Result | undefined> = await Promise.all(combinations.filter((combination) => combination.burst === 1).map(runCombination));
const burstQueue = combinations.filter((combination) => combination.burst > 1);
const burstCount = burstQueue.length;
const classicCount = combinations.length - burstCount;
await Promise.all(
  Array.from({ length: Math.min(burstConcurrency, burstQueue.length) }, async () => {
    for (let next = burstQueue.shift(); next; next = burstQueue.shift()) settled.push(await runCombination(next));
  }),
);
const results = settled.filter((result): result is Result => result !== undefined);
await stopAllLambdaContainers();
const find = (setup: SetupName, scenario: (typeof scenarios)[number], op: FreezeOperation, burst: number) =>
  results.find((result) => result.burst === burst && result.run.setup === setup && result.run.scenario === scenario && result.run.op === op)?.run;

const cell = (run: ScenarioRun | undefined, burst: number, setup: SetupName) => {
  if (!setupsFor(burst).includes(setup)) return '—';
  if (!run) return 'n/a';
  const failures = run.runs.filter((record) => !record.ok).length;
  const { median, worst } = latencySummary(run.runs);
  return `${failures}/${run.runs.length} · ${format(median)} · ${format(worst)}`;
};
const format = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

const lines = [
  `Freeze/thaw: first invocation after the thaw${bursts.length > 0 ? ` (and ${bursts.join(' or ')} at once, for ${burstSetups.join(', ')}${burstScenarios.length < scenarios.length ? ` in ${burstScenarios.length} of the scenarios` : ''})` : ''}, ${runs} runs per cell${bursts.length > 0 && burstRuns !== runs ? ` (${burstRuns} per burst cell)` : ''}, function timeout ${format(invokeTimeoutMs)}.`,
  'Each cell: failed/runs · median · worst latency (delivery of the event to the response; a hang counts as the timeout).',
  '',
  `| scenario | op | at once | ${setups.join(' | ')} |`,
  `|---|---|---|${setups.map(() => '---').join('|')}|`,
  ...sizes.flatMap((burst) =>
    scenariosFor(burst).flatMap((scenario) =>
      operations.map((op) => `| ${scenario.title} | ${op} | ${burst} | ${setups.map((setup) => cell(find(setup, scenario, op, burst), burst, setup)).join(' | ')} |`),
    ),
  ),
  '',
  ...(bursts.length > 0
    ? [
        `**at once** > 1: that many invocations delivered together on each thaw, to one module scope (the runtime client's multi-concurrent mode, one worker, room for them all), after a warm-up of one; there a cell is failed bursts/runs · median · worst of each burst's slowest invocation (a burst fails when any of its invocations fails; a hang counts as the timeout, then the container is replaced). — = no burst rows for the setup.`,
        '',
      ]
    : []),
  `Node 22 under aws-lambda-ric v4, wire test server behind the fault proxy on loopback; ${classicCount} combinations ran concurrently${burstCount > 0 ? `, then ${burstCount} burst combinations ${burstConcurrency} at a time` : ''}, on ${process.env.BENCH_CPUS ?? '2'} cores in ${format(Date.now() - startedAt)}.`,
];
const errors = new Map<string, number>();
for (const { burst, run } of results) for (const record of run.runs) for (const error of record.errors ?? (record.error ? [record.error] : [])) {
  const key = `${run.setup}${burst > 1 ? ` (${burst} at once)` : ''}: ${error.replace(/RequestId: \S+ /, '').replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'HOST').slice(0, 110)}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
}
if (errors.size > 0) {
  lines.push('', `Failures seen${bursts.length > 0 ? ' (counted per invocation: a failed burst counts each of its failed invocations)' : ''}:`, '');
  for (const [error, count] of errors) lines.push(`- ${count}× ${error}`);
}
if (skipped.length > 0) {
  const reasons = new Map<string, string[]>();
  for (const { setup, scenario, op, burst, reason } of skipped) {
    const key = `${setup}: ${reason}`;
    reasons.set(key, [...(reasons.get(key) ?? []), `${scenario}/${op}${burst > 1 ? `/${burst} at once` : ''}`]);
  }
  lines.push('', 'n/a (the scenario cannot be staged for the setup):', '');
  for (const [reason, cells] of reasons) lines.push(`- ${reason} (${cells.join(', ')})`);
}
const table = lines.join('\n');
console.log(table);
writeFileSync(values.out, `${table}\n`);
if (values.json) {
  // A burst cell (burst > 1): runs = bursts, failed = bursts with a failed invocation, latencies = each burst's slowest.
  const cells = combinations.map(({ burst, scenario, op, setup }) => {
    const run = find(setup, scenario, op, burst);
    const { median, worst } = latencySummary(run?.runs ?? []);
    if (!run) return { scenario: scenario.id, title: scenario.title, op, setup, burst, runs: 0, failed: 0, medianMs: null, worstMs: null };
    return { scenario: scenario.id, title: scenario.title, op, setup, burst, runs: run.runs.length, failed: run.runs.filter((record) => !record.ok).length, medianMs: median, worstMs: worst };
  });
  writeFileSync(
    values.json,
    `${JSON.stringify({ runs, invokeTimeoutMs, setups, bursts, burstSetups: bursts.length > 0 ? burstSetups : [], durationMs: Date.now() - startedAt, table, cells, failures: Object.fromEntries(errors), skipped }, null, 2)}\n`,
  );
}
