// Freeze/thaw benchmark (a script, not a test): for each fault scenario, insertOne and find, N freezes each,
// the first invocation after the thaw under the real Lambda runtime client, for three setups side by side in
// one run: MongoDB's Lambda guide (bare driver, default options), the bare driver with this library's
// options, and this library's middleware.
//
//   node scripts/run-ts.mjs bench/freeze-thaw.ts [--runs 10] [--scenarios fin-short,rst] [--timeout 40000]
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
    out: { type: 'string', default: 'bench/freeze-thaw.md' },
  },
});
const runs = Number(values.runs);
const invokeTimeoutMs = Number(values.timeout);
const wanted = values.scenarios?.split(',');
const scenarios = SCENARIOS.filter((scenario) => !wanted || wanted.includes(scenario.id));
const setups = Object.keys(SETUPS) as SetupName[];
const operations: FreezeOperation[] = ['insertOne', 'find'];

const startedAt = Date.now();
const jobs = scenarios.flatMap((scenario) => operations.flatMap((op) => setups.map((setup) => runScenario(setup, scenario, op, { runs, invokeTimeoutMs }))));
const results = await Promise.all(jobs);
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
const table = lines.join('\n');
console.log(table);
writeFileSync(values.out, `${table}\n`);
