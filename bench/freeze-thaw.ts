// Freeze/thaw benchmark (a script, not a test): for each fault scenario, insertOne and find, N freezes each,
// the first invocation after the thaw under the real Lambda runtime client, for several setups side by side in
// one run (test/support/freeze-scenarios.ts SETUPS). By default three: MongoDB's Lambda guide (bare driver,
// default options), the bare driver with this library's options, and this library's middleware; `npm run bench`
// runs it for naive, guide, mongoose and library.
//
//   node scripts/run-ts.mjs bench/freeze-thaw.ts [--runs 10] [--timeout 40000] [--scenarios fin-short,rst]
//     [--setups naive,guide,mongoose,library] [--out bench/freeze-thaw.md] [--json file]
//
// Prints a markdown table and writes it to bench/freeze-thaw.md. Every combination runs at once (its own
// server, proxy and container): the freezes are idle time, so the whole run takes about as long as its
// slowest combination (a hung invocation waits for the function timeout, then its container is replaced).
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

const startedAt = Date.now();
// A scenario that cannot be staged for a setup (the naive handler keeps no pool socket to break) is reported as n/a.
const skipped: Array<{ setup: SetupName; scenario: string; op: FreezeOperation; reason: string }> = [];
const jobs = scenarios.flatMap((scenario) =>
  operations.flatMap((op) =>
    setups.map((setup) =>
      runScenario(setup, scenario, op, { runs, invokeTimeoutMs }).catch((error: unknown) => {
        skipped.push({ setup, scenario: scenario.id, op, reason: error instanceof Error ? error.message : String(error) });
        return undefined;
      }),
    ),
  ),
);
const results = (await Promise.all(jobs)).filter((run): run is ScenarioRun => run !== undefined);
await stopAllLambdaContainers();

const cell = (run: ScenarioRun | undefined) => {
  if (!run) return 'n/a';
  const failures = run.runs.filter((record) => !record.ok).length;
  const { median, worst } = latencySummary(run.runs);
  return `${failures}/${run.runs.length} · ${format(median)} · ${format(worst)}`;
};
const format = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

const lines = [
  `Freeze/thaw: first invocation after the thaw, ${runs} runs per cell, function timeout ${format(invokeTimeoutMs)}.`,
  'Each cell: failed/runs · median · worst latency (delivery of the event to the response; a hang counts as the timeout).',
  '',
  `| scenario | op | ${setups.join(' | ')} |`,
  `|---|---|${setups.map(() => '---').join('|')}|`,
  ...scenarios.flatMap((scenario) =>
    operations.map((op) => `| ${scenario.title} | ${op} | ${setups.map((setup) => cell(results.find((run) => run.setup === setup && run.scenario === scenario && run.op === op))).join(' | ')} |`),
  ),
  '',
  `Node 22 under aws-lambda-ric v4, wire test server behind the fault proxy on loopback; ${jobs.length} combinations ran concurrently on ${process.env.BENCH_CPUS ?? '2'} cores in ${format(Date.now() - startedAt)}.`,
];
const errors = new Map<string, number>();
for (const run of results) for (const record of run.runs) if (record.error) {
  const key = `${run.setup}: ${record.error.replace(/RequestId: \S+ /, '').replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'HOST').slice(0, 110)}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
}
if (errors.size > 0) {
  lines.push('', 'Failures seen:', '');
  for (const [error, count] of errors) lines.push(`- ${count}× ${error}`);
}
if (skipped.length > 0) {
  const reasons = new Map<string, string[]>();
  for (const { setup, scenario, op, reason } of skipped) reasons.set(`${setup}: ${reason}`, [...(reasons.get(`${setup}: ${reason}`) ?? []), `${scenario}/${op}`]);
  lines.push('', 'n/a (the scenario cannot be staged for the setup):', '');
  for (const [reason, cells] of reasons) lines.push(`- ${reason} (${cells.join(', ')})`);
}
const table = lines.join('\n');
console.log(table);
writeFileSync(values.out, `${table}\n`);
if (values.json) {
  const cells = scenarios.flatMap((scenario) =>
    operations.flatMap((op) =>
      setups.map((setup) => {
        const run = results.find((candidate) => candidate.setup === setup && candidate.scenario === scenario && candidate.op === op);
        const { median, worst } = latencySummary(run?.runs ?? []);
        if (!run) return { scenario: scenario.id, title: scenario.title, op, setup, runs: 0, failed: 0, medianMs: null, worstMs: null };
        return { scenario: scenario.id, title: scenario.title, op, setup, runs: run.runs.length, failed: run.runs.filter((record) => !record.ok).length, medianMs: median, worstMs: worst };
      }),
    ),
  );
  writeFileSync(values.json, `${JSON.stringify({ runs, invokeTimeoutMs, setups, durationMs: Date.now() - startedAt, table, cells, failures: Object.fromEntries(errors), skipped }, null, 2)}\n`);
}
