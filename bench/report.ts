/** The benchmark's results as markdown: bench/RESULTS.md and docs/performance.md (between its bench markers). */
import type { ColdImportFigures, FirstInvocationFigures, HandlerName } from './sections/cold.js';
import type { SecureFirstFigures } from './sections/first-secure.js';
import type { FootprintFigures } from './sections/footprint.js';
import type { LmiFigures } from './sections/lmi.js';
import type { ScaleFigures } from './sections/scale.js';
import type { WarmFigure, WarmFigures } from './sections/warm.js';
import { SETUP_NAMES, type SetupName } from './lib/setups.js';
import { kb, median, ms, ratio, table } from './lib/stats.js';

export interface FreezeFigures {
  runs: number;
  invokeTimeoutMs: number;
  durationMs: number;
  table: string;
  /**
   * One per setup, scenario, op and burst size. `burst` (absent in results saved before the burst rows: 1): invocations
   * delivered at once on each thaw; for a burst > 1, `runs` counts bursts, `failed` the bursts with a failed invocation,
   * and the latencies are of each burst's slowest invocation.
   */
  cells: Array<{ scenario: string; title: string; op: string; setup: string; burst?: number; runs: number; failed: number; medianMs: number | null; worstMs: number | null }>;
  /** Burst sizes of the concurrent-after-thaw rows (absent or empty: none). */
  bursts?: number[];
  /** The setups with concurrent-after-thaw rows. */
  burstSetups?: string[];
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; cpu: string; benchNode: string; lambdaNode: string };
  settings: Record<string, unknown>;
  setups: Record<SetupName, string>;
  /** This library's median warm handler time ÷ the guide's. */
  warmOverheadRatio: number | null;
  /** The same for the invocation round trip as the caller sees it. */
  warmInvocationOverheadRatio: number | null;
  /** The library without middy (`withMongo()`): its median warm handler time ÷ the guide's. */
  warmOverheadRatioWithoutMiddy?: number | null;
  /** The example handler bundles' median cold import ÷ the plain bare-driver bundle's (the worst of the handlers). */
  coldImportRatio: number | null;
  warm?: WarmFigures;
  coldImports?: ColdImportFigures;
  firstInvocation?: FirstInvocationFigures;
  firstInvocationSecure?: SecureFirstFigures;
  freeze?: FreezeFigures;
  footprint?: FootprintFigures;
  scale?: ScaleFigures;
  lmi?: LmiFigures;
  durationMs?: number;
  /** Sections measured again after the run of `date` (`npm run bench -- --sections …`): each with its date. */
  remeasured?: Partial<Record<string, string>>;
}

/** The heading each `--sections` name renders under. */
const SECTION_TITLES: Record<string, string> = {
  warm: 'Warm overhead',
  cold: 'Cold start',
  first: 'First invocation',
  freeze: 'Freeze/thaw',
  footprint: 'Connection footprint',
  scale: 'Scale',
  lmi: 'Lambda Managed Instances',
};

const LABEL: Record<SetupName, string> = { naive: 'naive', guide: 'guide', mongoose: 'mongoose', library: '**library**' };

const percent = (value: number) => `${value >= 1 ? '+' : '−'}${Math.abs((value - 1) * 100).toFixed(1)} %`;

export function renderResults(results: BenchResults): string {
  const parts: string[] = [];
  const duration = results.durationMs === undefined ? '' : ` in ${Math.round(results.durationMs / 60_000)} min`;
  parts.push(
    `Measured by \`npm run bench\` on ${results.date.slice(0, 10)}${duration}: Lambda containers on Node.js ${results.machine.lambdaNode} under the AWS Lambda runtime interface client, the wire test server and the benchmark on ${results.machine.benchNode}, all on one machine (${results.machine.cpus} × ${results.machine.cpu}), loopback only. The setups, each doing the same work per invocation (a \`findOne\` by id and an \`insertOne\`): **naive**, a new \`MongoClient\` per invocation, closed at its end; **guide**, MongoDB's Lambda guide (a module-scope \`new MongoClient(uri)\`, default options); **mongoose** as its Lambda guide shows it (a connection created by the first invocation, \`serverSelectionTimeoutMS: 5000\`); **library**, this library's \`mongo()\` middy middleware with its defaults. Setups are measured side by side in the same run; read the medians and ratios, the absolute times are this machine's.`,
  );
  const remeasured = Object.entries(results.remeasured ?? {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  if (remeasured.length > 0) {
    parts.push(`Measured again since, on their own (\`npm run bench -- --sections …\`, the same machine): ${remeasured.map(([section, date]) => `${SECTION_TITLES[section] ?? section} on ${date.slice(0, 10)}`).join(', ')}.`);
  }
  if (results.warmOverheadRatio !== null || results.coldImportRatio !== null) {
    parts.push(
      `**Targets.** Warm overhead, library ÷ guide at the median: **${results.warmOverheadRatio === null ? 'n/a' : ratio(results.warmOverheadRatio)}** of the handler's time, ${results.warmInvocationOverheadRatio === null ? 'n/a' : ratio(results.warmInvocationOverheadRatio)} of the invocation's (target ≤ 1.03×)${results.warmOverheadRatioWithoutMiddy == null ? '' : `; without middy (\`withMongo()\`), ${ratio(results.warmOverheadRatioWithoutMiddy)} of the handler's time`}. Cold import, example handler bundle ÷ plain bare-driver bundle (worst handler): **${results.coldImportRatio === null ? 'n/a' : ratio(results.coldImportRatio)}** (target ≤ 0.80×).`,
    );
  }
  if (results.warm) parts.push(renderWarm(results.warm));
  if (results.coldImports || results.firstInvocation) parts.push('## Cold start');
  if (results.coldImports) parts.push(renderColdImports(results.coldImports));
  if (results.firstInvocation) parts.push(renderFirstInvocation(results.firstInvocation));
  if (results.firstInvocationSecure) parts.push(renderSecureFirstInvocation(results.firstInvocationSecure));
  if (results.freeze) parts.push(renderFreeze(results.freeze));
  if (results.footprint) parts.push(renderFootprint(results.footprint));
  if (results.scale) parts.push(renderScale(results.scale));
  if (results.lmi) parts.push(renderLmi(results.lmi));
  return parts.join('\n\n');
}

/** The range of the containers' own medians: "1.02–1.07 ms". */
function spread(values: number[] | undefined): string {
  if (!values || values.length === 0) return '';
  const low = Math.min(...values);
  const high = Math.max(...values);
  return `${low.toFixed(2)}–${high.toFixed(2)} ms`;
}

function renderWarm(warm: WarmFigures): string {
  const guide = warm.setups.guide;
  const row = (label: string, figures: WarmFigure, isGuide = false) => [
    label,
    ms(figures.handlerP50Ms),
    ms(figures.handlerP99Ms),
    isGuide ? '1.00×' : `${ratio(figures.handlerP50Ms / guide.handlerP50Ms)} (${percent(figures.handlerP50Ms / guide.handlerP50Ms)})`,
    spread(figures.replicaHandlerP50Ms),
    `${ms(figures.endToEndP50Ms)} / ${ms(figures.endToEndP99Ms)}`,
    isGuide ? '1.00×' : `${ratio(figures.endToEndP50Ms / guide.endToEndP50Ms)} (${percent(figures.endToEndP50Ms / guide.endToEndP50Ms)})`,
    String(figures.failures),
  ];
  const rows = SETUP_NAMES.map((setup) => row(LABEL[setup], warm.setups[setup], setup === 'guide'));
  if (warm.withoutMiddy) rows.push(row(`*${warm.withoutMiddy.label}*`, warm.withoutMiddy));
  if (warm.mongooseAdapter) rows.push(row(`*${warm.mongooseAdapter.label}*`, warm.mongooseAdapter));
  const steps = warm.breakdown.map((step, index) => [
    step.label,
    ms(step.handlerP50Ms),
    index === 0 ? '' : `${Math.round((step.handlerP50Ms - warm.breakdown[index - 1]!.handlerP50Ms) * 1000)} µs`,
    index === 0 ? '' : percent(step.handlerP50Ms / guide.handlerP50Ms),
    step.adds,
  ]);
  return [
    '## Warm overhead',
    `${warm.replicas} warm containers per setup, ${warm.invocations} invocations each after a warm-up, interleaved across all the containers (the setups' and the breakdown's variants': a container's invocations are ${ms(warm.gapMs)} apart, the median gap). Each figure pools the invocations of a setup's ${warm.replicas} containers: identical containers differ by a few percent at the median (the **containers' p50** column), so a single pair of containers cannot resolve a 3 % target. **Handler** is the whole exported handler (middlewares included) timed inside the function with \`performance.now()\`: about what Lambda bills. **Invocation** is the round trip as the caller sees it (the Runtime API exchanges and the runtime client included, the same work for every setup).`,
    table(['setup', 'handler p50', 'handler p99', 'handler p50 vs guide', 'containers\' p50', 'invocation p50 / p99', 'invocation p50 vs guide', 'failed'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
    ...(warm.withoutMiddy
      ? ['The *italic* rows are not among the four setups. `withMongo()` is the same library without middy (the same session and freeze/thaw lifecycle), in the same rotation: its overhead over the guide is the library\'s own; the rest of the middleware\'s is middy\'s chain.']
      : []),
    ...(warm.mongooseAdapter
      ? [`\`mongooseMiddleware()\` is mongoose through this library's adapter (serverless-mongodb/mongoose: the same lifecycle, a session per invocation, the model on a connection bound to the cached client), doing the mongoose setup's work: ${ratio(warm.mongooseAdapter.handlerP50Ms / warm.setups.mongoose.handlerP50Ms)} of mongoose-as-its-guide-shows-it at the handler's median, ${ratio(warm.mongooseAdapter.handlerP99Ms / warm.setups.mongoose.handlerP99Ms)} at p99.`]
      : []),
    'Where the library\'s warm time goes: from the guide to the library one part at a time, in the same rotation, each pooled over its containers like the setups. Each step\'s cost is the difference of two medians: a single step moves by ±20 µs from run to run, the total less.',
    table(['handler', 'p50', 'step', 'vs guide', 'what the step adds'], steps, ['l', 'r', 'r', 'r', 'l']),
  ].join('\n\n');
}

function renderColdImports(cold: ColdImportFigures): string {
  const importCell = (figure: { importMs: number; importP25Ms: number; importP75Ms: number }) => `${ms(figure.importMs)} (${figure.importP25Ms.toFixed(1)}–${figure.importP75Ms.toFixed(1)})`;
  const sizeCell = (figure: { bytes: number; deflatedBytes: number }) => `${kb(figure.bytes)} (${kb(figure.deflatedBytes)})`;
  const setupRows = SETUP_NAMES.map((setup) => {
    const { plain, trimmed } = cold.setups[setup];
    return [LABEL[setup], sizeCell(plain), importCell(plain), sizeCell(trimmed), importCell(trimmed), ratio(trimmed.importMs / plain.importMs)];
  });
  if (cold.mongooseAdapter) {
    const { plain, trimmed } = cold.mongooseAdapter;
    setupRows.push(['*mongoose through the adapter*', sizeCell(plain), importCell(plain), sizeCell(trimmed), importCell(trimmed), ratio(trimmed.importMs / plain.importMs)]);
  }
  const handlerRows = (Object.entries(cold.handlers) as Array<[HandlerName, ColdImportFigures['handlers'][HandlerName]]>).map(([name, figures]) => [
    `\`${name}\``,
    sizeCell(figures.handler),
    importCell(figures.handler),
    sizeCell(figures.bare),
    importCell(figures.bare),
    `**${ratio(figures.ratio)}**`,
  ]);
  const steps = cold.trimSteps.map((step, index) => [
    step.step,
    sizeCell(step),
    importCell(step),
    index === 0 ? '' : `${(step.importMs - cold.trimSteps[index - 1]!.importMs).toFixed(1)} ms`,
    step.why,
  ]);
  return [
    '### Bundles and cold import',
    `Cold import = \`require()\` of the bundle in a fresh Node.js 22 process with the Lambda environment (so the library's \`prefetch\` creates its client and starts connecting there, as in a Lambda init): median (and interquartile range) of ${cold.runs} processes per bundle, interleaved. Bytes raw (and deflated, about the zip). **Plain** = esbuild's usual settings for Node (bundle, platform node, target node22, minify, CommonJS); **trimmed** = \`lambdaBundleOptions()\` of \`serverless-mongodb/esbuild\`.`,
    table(['setup', 'plain bundle', 'plain cold import', 'trimmed bundle', 'trimmed cold import', 'trimmed ÷ plain'], setupRows, ['l', 'r', 'r', 'r', 'r', 'r']),
    'The example service\'s handlers (`handlers/`, built by esbuild.config.cjs as deployed: the trims, CommonJS) against a plain bundle of the bare driver making the same calls (test/fixtures/handlers/bare-driver/):',
    table(['function', 'handler bundle', 'handler cold import', 'bare driver, plain', 'bare cold import', 'handler ÷ bare'], handlerRows, ['l', 'r', 'r', 'r', 'r', 'r']),
    'What each trim saves, the `items` handler built with them added one at a time:',
    table(['build', 'bundle', 'cold import', 'change', 'why'], steps, ['l', 'r', 'r', 'r', 'l']),
    [
      '**The trims** are esbuild settings, exported as `serverless-mongodb/esbuild` (`lambdaBundleOptions()`, or the `mongodbTrims()` plugin alone) and used by esbuild.config.cjs for the example service; they apply to any bundle that contains the driver, mongoose\'s included:',
      '',
      '- **`whatwg-url` → the runtime\'s `URL`**: the driver\'s connection-string parser imports the `whatwg-url` polyfill and its tr46 Unicode tables to parse a URL whose host is a placeholder; Node.js has the same WHATWG `URL` built in. Only that importer is redirected (to `node:url`).',
      '- **Identifiers not minified, no `keepNames`** (whitespace and syntax still minified): V8 parses and compiles the bundle faster with the original identifiers, although the file is larger (the zip is smaller than a plain one\'s all the same); names stay real for stack traces and logs. `keepNames` is off because its `__name()` calls rename every closure the driver creates per operation: measured ~40 µs of every warm invocation.',
      '- **Rarely used driver modules deferred to their first use**: SASLprep tables (needed at the first SCRAM-SHA-256 authentication; with a password, during the connect), client-side encryption, GridFS, the GSSAPI/AWS/OIDC/X.509/PLAIN authentication providers, `node:http`. They stay in the bundle; the importer gets a proxy that loads the module when first read. A function that uses one pays its load then, once.',
      '',
      '`test/esbuild-trim.test.ts` checks that the driver bundled with the trims parses a table of connection strings (credentials with special characters, SRV, options, IPv6 hosts, a socket path) and refuses the malformed ones exactly as the plainly bundled driver does, exports the same API, authenticates with SCRAM-SHA-256, and still runs GridFS; `test/serverless-package.test.ts` runs the packaged, trimmed handlers end to end.',
    ].join('\n'),
  ].join('\n\n');
}

function renderFirstInvocation(first: FirstInvocationFigures): string {
  const rtt = 2 * first.oneWayLatencyMs;
  const rows = first.rows.map((row) => [
    row.setup === 'library' ? `**${row.label}**` : row.label,
    ms(row.initMs),
    ms(row.invokeMs),
    ms(row.totalMs),
    `${ms(row.latencyInitMs)} + ${ms(row.latencyInvokeMs)} = ${ms(row.latencyTotalMs)}`,
    row.roundTrips.toFixed(1),
    String(row.failures),
  ]);
  return [
    '### First invocation',
    `From starting the container to the response of its first invocation, median of ${first.runs} cold starts per row: **init** (process start to the runtime's first \`/next\`: loading the bundle, module scope) and the **first invocation** (event delivered as soon as the runtime asks for it, as in an on-demand cold start; in the last two rows 300 ms later, as for an environment initialized ahead of its event, the wait not counted). Then the same with the fault proxy delaying every exchange by ${rtt} ms (${first.oneWayLatencyMs} ms each way; the proxy delays data, not TCP handshakes); **round trips** = the added time ÷ ${rtt} ms: the request/response exchanges on the path to the first response.`,
    table(['setup', 'init', 'first invocation', 'total', `with ${rtt} ms round trips: init + invocation = total`, 'round trips', 'failed'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']),
  ].join('\n\n');
}

function renderSecureFirstInvocation(first: SecureFirstFigures): string {
  const rtt = 2 * first.oneWayLatencyMs;
  const byKey = new Map(first.rows.map((row) => [row.key, row]));
  const rows = first.rows.map((row) => {
    const guide = byKey.get(row.key.replace(/^library/, 'guide'));
    return [
      row.setup === 'library' ? `**${row.label}**` : row.label,
      ms(row.totalMs),
      ms(row.latencyTotalMs),
      row.roundTrips.toFixed(1),
      row.setup === 'library' && guide ? (row.roundTrips - guide.roundTrips).toFixed(1) : '',
      row.failures === 0 ? '0' : `${row.failures} (${row.firstError ?? ''})`,
    ];
  });
  return [
    '### First invocation over TLS, with authentication',
    `As Atlas connections are: TLS (the wire server with the test certificate, verified) and SCRAM-SHA-256 (a user and password) or MONGODB-AWS (the function's role credentials from the environment; the driver signs the STS request, the wire server verifies the signature). From starting the container to its first response, median of ${first.runs} cold starts per row, without and with ${rtt} ms round trips (bench/sections/first-secure.ts); **round trips** = the added time ÷ ${rtt} ms. The library's first call should cost the work (a findOne and an insertOne) plus the monitor's and the pool's handshakes (TCP, TLS 1.3, a hello carrying the first authentication step, the rest of the conversation) and nothing more: the **vs guide** column is what it adds over the bare driver doing the same.`,
    table(['setup', 'total', `with ${rtt} ms round trips`, 'round trips', 'vs guide', 'failed'], rows, ['l', 'r', 'r', 'r', 'r', 'r']),
  ].join('\n\n');
}

function renderLmi(lmi: LmiFigures): string {
  const guideOf = (row: LmiFigures['rows'][number]) => lmi.rows.find((candidate) => candidate.setup === 'guide' && candidate.workersSetting === row.workersSetting);
  const rows = lmi.rows.map((row) => {
    const guide = guideOf(row);
    const vs = (value: number, of: number | undefined) => (row.setup === 'guide' || of === undefined ? '1.00×' : ratio(value / of));
    return [
      row.setup === 'library' ? '**library**' : 'guide',
      `${row.workers}${row.workersSetting === 'default' ? ' (default)' : ''}`,
      String(row.failures),
      ms(row.p50Ms),
      ms(row.p99Ms),
      `${vs(row.p50Ms, guide?.p50Ms)} / ${vs(row.p99Ms, guide?.p99Ms)}`,
      row.roundP50Ms.map((value) => Math.round(value)).join(', '),
      String(row.socketsOpened),
      vs(row.socketsOpened, guide?.socketsOpened),
      String(row.peakOpenSockets),
      row.worstCaseConnections === null ? '—' : String(row.worstCaseConnections),
    ];
  });
  return [
    '## Lambda Managed Instances',
    `One execution environment under the runtime client's multi-concurrent mode (\`AWS_LAMBDA_MAX_CONCURRENCY\` ${lmi.maxConcurrency}, the Runtime API holding at most ${lmi.maxConcurrency} invocations in flight), each invocation a \`findOne\`, 100 ms of other awaiting and an \`insertOne\`; per round and row a new environment and server, ${lmi.warmup} events to warm up, then ${lmi.events} measured; ${lmi.rounds} rounds, the rows taking turns (each round starting at the next row). Latency: delivery of the event to its response. Sockets: opened by the environment in a round (warm-up included), the median of the rounds; peak: the most open at once. **Worst case**: what the library logs at its first connect (workers × (maxPoolSize + 1 monitor)). \`UV_THREADPOOL_SIZE\` 64 for every row ([managed-instances.md](runtimes/managed-instances.md#worker-threads-and-libuvs-thread-pool)).`,
    table(['setup', 'workers', 'failed', 'p50', 'p99', 'p50 / p99 vs guide', 'rounds\' p50 (ms)', 'sockets', 'sockets vs guide', 'peak open', 'worst case'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
    ...(lmi.poolRows?.length ? renderLmiPool(lmi, lmi.poolRows) : []),
    ...(lmi.tail?.rows.length ? renderLmiTail(lmi.tail) : []),
  ].join('\n\n');
}

function renderLmiTail(tail: NonNullable<LmiFigures['tail']>): string[] {
  const guide = tail.rows.find((row) => row.setup === 'guide');
  const vs = (value: number, of: number | undefined) => (of === undefined ? '—' : ratio(value / of));
  const rows = tail.rows.map((row) => {
    const rounds = [...row.roundP99Ms].sort((a, b) => a - b);
    return [
      row.setup.startsWith('library') ? `**${row.setup}**` : row.setup,
      String(row.failures),
      ms(row.p50Ms),
      ms(row.p95Ms),
      ms(row.p99Ms),
      `${vs(row.p50Ms, guide?.p50Ms)} / ${vs(row.p95Ms, guide?.p95Ms)} / ${vs(row.p99Ms, guide?.p99Ms)}`,
      rounds.length > 0 ? `${Math.round(rounds[0]!)}–${Math.round(rounds[rounds.length - 1]!)} (median ${Math.round(median(rounds))})` : '—',
      String(row.socketsOpened),
    ];
  });
  return [
    '### The tail at 64 invocations per worker',
    `AWS's default concurrency with one worker per vCPU (\`AWS_LAMBDA_MAX_CONCURRENCY\` ${tail.maxConcurrency} over ${tail.workers} workers), loopback, the handler above; ${tail.rounds} rounds of ${tail.warmup} + ${tail.events} events, each round starting at the next row: more rounds than the tables above, since a round's p99 (the 1 % slowest of its events) moves by about ±10 % from round to round. Beside the guide: the guide's handler inside middy with no middleware (what middy itself adds), the library's middleware (which runs in middy), and the library with \`session: false\` (the driver's implicit sessions, as the guide's).`,
    table(['setup', 'failed', 'p50', 'p95', 'p99', 'p50 / p95 / p99 vs guide', "rounds' p99 (ms)", 'sockets'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
  ];
}

function renderLmiPool(lmi: LmiFigures, poolRows: NonNullable<LmiFigures['poolRows']>): string[] {
  const workersOf = (row: (typeof poolRows)[number]) => row.workersSetting ?? 'default';
  const inFlightOf = (row: (typeof poolRows)[number]) => row.maxConcurrency ?? lmi.maxConcurrency;
  const guideOf = (row: (typeof poolRows)[number]) => poolRows.find((candidate) => candidate.setup === 'guide' && candidate.shape === row.shape && candidate.rttMs === row.rttMs && workersOf(candidate) === workersOf(row) && inFlightOf(candidate) === inFlightOf(row));
  const rows = poolRows.map((row) => {
    const guide = guideOf(row);
    const vs = (value: number, of: number | undefined) => (row.setup === 'guide' || of === undefined ? '1.00×' : ratio(value / of));
    const pool = row.setup === 'guide' ? '100 (driver default)' : `${row.maxPoolSize ?? row.pool}${row.pool === 'default' ? ' (default)' : ' (set)'}`;
    const setup = row.setup === 'guide' ? 'guide' : `**library**${row.monitorCommands ? ', `monitorCommands: true`' : ''}`;
    const count = row.workers ?? (typeof row.workersSetting === 'number' ? row.workersSetting : undefined);
    const notes = [...(workersOf(row) === 'default' ? ['default'] : []), ...(count ? [`${Math.ceil(inFlightOf(row) / count)} each`] : [])];
    const shown = workersOf(row) === 'default' ? (row.workers ?? '') : row.workersSetting;
    const workers = `${shown}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`.trim();
    return [row.shape, row.rttMs === 0 ? 'loopback' : `${row.rttMs} ms`, workers, setup, pool, String(row.failures), ms(row.p50Ms), ms(row.p99Ms), `${vs(row.p50Ms, guide?.p50Ms)} / ${vs(row.p99Ms, guide?.p99Ms)}`, String(row.socketsOpened), vs(row.socketsOpened, guide?.socketsOpened)];
  });
  return [
    '### Pool size under Managed Instances',
    `The handler's shape, the server's distance (loopback, or a proxy delaying each direction by half the round trip) and the worker count varied. At the default worker count (8 invocations per worker, a default pool of 2): MongoDB's guide (the driver's pool of 100), the library with its default pool, with a pool of 5 (the Lambda default), and with that pool and the driver's command events on (\`monitorCommands: true\`, which lets the deadline close the connection of an operation on a dead socket). At 2 workers (32 invocations per worker, a default pool of 4): the guide, the library's default, and pools of 5 (the default before it was a socket per 8 invocations), 8 and 16. At AWS's default concurrency with one worker per vCPU (\`AWS_LAMBDA_MAX_CONCURRENCY\` 128 over 2 workers, 64 invocations each, a default pool of 8, the events doubled): the guide, the library's default, and a pool of 5. Side by side; ${lmi.rounds} rounds, the rows taking turns (each round starting at the next row), ${lmi.warmup} + ${lmi.events} events each. A p99 of 8 rounds moves by about ±0.1 of the guide's between runs: the tail rows below measure it over more rounds.`,
    table(['handler', 'round trip', 'workers', 'setup', 'maxPoolSize', 'failed', 'p50', 'p99', 'p50 / p99 vs guide', 'sockets', 'sockets vs guide'], rows, ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
  ];
}

function renderFreeze(freeze: FreezeFigures): string {
  const bursts = freeze.bursts ?? [];
  const concurrent =
    bursts.length > 0
      ? ` The table also has concurrent-after-thaw rows (**at once** ${bursts.join(' and ')}, for ${(freeze.burstSetups ?? []).join(' and ')}): that many invocations delivered together on each thaw to one module scope, as a Vercel Fluid instance or a Lambda Managed Instance receives them; a cell there counts failed bursts and gives the latency of each burst's slowest invocation.`
      : '';
  return ['## Freeze/thaw', `The freeze/thaw fault matrix (bench/freeze-thaw.ts, written to bench/freeze-thaw.md), for the four setups and (**mongoose adapter**) mongoose through this library's adapter.${concurrent}`, freeze.table].join('\n\n');
}

function renderFootprint(footprint: FootprintFigures): string {
  const rows = footprint.rows.map((row) => [
    row.fixture.startsWith('library') ? `**${row.label}**` : row.label,
    String(row.socketsOpened),
    String(row.peakOpenSockets),
    row.sigterm ? 'SIGTERM' : 'none (frozen, then destroyed)',
    String(row.openAfterRetirement),
    `${row.sessionsStarted} / ${row.sessionsEnded}`,
    String(row.sessionsStarted - row.sessionsEnded),
    String(row.failures),
  ]);
  return [
    '## Connection footprint',
    `One container per setup, ${footprint.invocations} sequential invocations 10 ms apart, then retired as Lambda retires an execution environment: with a registered extension, SIGTERM and 500 ms; without one, no signal, the environment frozen and destroyed (emulated by stopping the process, so that this machine's kernel does not close its sockets for it, as it would for a killed process). What the server saw: sockets opened, the most open at once, those still open 500 ms after the retirement began, and server sessions used / ended by \`endSessions\` (a session never ended stays on the server until its 30-minute timeout).`,
    table(['setup', 'sockets opened', 'most open at once', 'at retirement', 'open 500 ms later', 'sessions used / ended', 'left open', 'failed'], rows, ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r']),
  ].join('\n\n');
}

function renderScale(scale: ScaleFigures): string {
  const rows = scale.rows.map((row) => [
    LABEL[row.setup],
    `${row.containers}${row.started < row.containers ? ` (${row.started} started)` : ''}`,
    String(row.invocations),
    String(row.failures),
    String(row.peakConnections),
    String(row.socketsOpened),
    `${row.sessionsStarted} / ${row.sessionsLeftOpen}`,
    ms(row.durationMs),
  ]);
  return [
    '## Scale',
    `K containers started at once against one server, each a burst of ${scale.burst} sequential invocations (all containers concurrently), then all retired as above (the library with \`await enableGracefulShutdown()\`, as docs/deadline-and-shutdown.md shows). On 2 cores the containers compete for CPU: read failures and connections, not times.`,
    table(['setup', 'containers', 'invocations', 'failed', 'peak server connections', 'sockets opened', 'sessions used / left open', 'wall time'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
  ].join('\n\n');
}
