/**
 * One emulated Lambda execution environment: a Node.js process running the real AWS Lambda RIC
 * (`aws-lambda-ric`) against a private Runtime API server (runtime-api.ts), with Lambda-like
 * freeze (SIGSTOP while parked on GET /next) and thaw (SIGCONT).
 *
 * With `maxConcurrency` set it is a Lambda Managed Instances (LMI) environment: the RIC runs in its
 * multi-concurrent mode (worker threads, each with its own module scope and its own parked GET /next, running
 * the events it receives concurrently) and the Runtime API keeps at most `maxConcurrency` invocations in flight.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleHandler, PROJECT_ROOT } from './bundle.js';
import { type RuntimeApiStats, RuntimeApiServer, type RuntimeErrorBody } from './runtime-api.js';

export interface LambdaContainerOptions {
  /** path of a .ts/.js/.mjs handler module (absolute or relative to the project root) */
  entry: string;
  /**
   * Run an already-built function as it is, without bundling: the directory used as LAMBDA_TASK_ROOT (e.g. an
   * unzipped deployment package). `entry` is then the handler module's path inside it without its extension,
   * as in `_HANDLER` (e.g. 'handlers/items/index' for handlers/items/index.cjs).
   */
  taskRoot?: string;
  /** exported handler name, default 'handler' */
  handlerName?: string;
  /** Node major for the container, default 22 (uses ensureRuntime) */
  nodeMajor?: 22 | 24;
  /** extra env vars for the container (merged over the Lambda env below) */
  env?: Record<string, string>;
  functionName?: string; // default 'test-function'
  memoryMB?: number; // default 1024
  timeoutMs?: number; // function timeout used for the deadline header, default 10000
  /**
   * Lambda Managed Instances: run the RIC in its multi-concurrent mode (sets `AWS_LAMBDA_MAX_CONCURRENCY`) and
   * let the Runtime API hold at most this many invocations in flight (delivered, not yet answered), queueing
   * the rest. Unset: a classic environment, one invocation at a time.
   */
  maxConcurrency?: number;
  /**
   * LMI only: number of RIC worker threads (`AWS_LAMBDA_NODEJS_WORKER_COUNT`). Default: the RIC's own default,
   * 8 × the CPUs it reads from /sys/fs/cgroup/cpu.max (1 when that file is missing, as on cgroup v1).
   */
  workerCount?: number;
}

export interface InvokeResult {
  requestId: string;
  ok: boolean;
  result?: unknown;
  error?: { errorType: string; errorMessage: string; stackTrace?: string[] };
  durationMs: number;
}

export interface ShutdownResult {
  code: number | null;
  signal: string | null;
  logs: string[];
}

export interface LambdaContainer {
  /** 'lmi' when started with `maxConcurrency` (multi-concurrent RIC), else 'classic' */
  readonly mode: 'classic' | 'lmi';
  /** LMI: the RIC's worker threads (what AWS_LAMBDA_NODEJS_WORKER_COUNT gives, or its default); classic: 1 */
  readonly workerCount: number;
  /** invoke and wait for /response or /error. Rejects if the container dies. */
  invoke(event: unknown, opts?: { timeoutMs?: number }): Promise<InvokeResult>;
  /**
   * Queue every event at the Runtime API at once and wait for all results (in the order of `events`).
   * LMI: up to `maxConcurrency` run concurrently. Classic: the runtime takes them one after the other.
   * On a frozen container, the events go into the sockets of the parked GET /next while it is still
   * stopped (the rest stay queued at the Runtime API), then it is thawed once: the runtime finds them together.
   */
  invokeMany(events: readonly unknown[], opts?: { timeoutMs?: number }): Promise<InvokeResult[]>;
  /** SIGSTOP the process — only after the runtime is parked on /invocation/next (waits for that), like Lambda does */
  freeze(): Promise<void>;
  /** SIGCONT */
  thaw(): Promise<void>;
  /** freeze, wait ms, deliver an invocation while still frozen, then thaw; resolves with its result */
  invokeAfterFreeze(
    event: unknown,
    freezeMs: number,
    opts?: { beforeThaw?: () => Promise<void> | void },
  ): Promise<InvokeResult>;
  /**
   * Fluid-style burst: freeze (once nothing is in flight and every worker is parked on /next), wait ms,
   * run `beforeThaw`, deliver all events while still frozen, thaw once; resolves with every result.
   * For N invocations running at once in one module scope use LMI mode with `workerCount: 1` and
   * `maxConcurrency >= N`; in classic mode the N are queued and run one after the other.
   */
  invokeManyAfterFreeze(
    events: readonly unknown[],
    freezeMs: number,
    opts?: { beforeThaw?: () => Promise<void> | void; timeoutMs?: number },
  ): Promise<InvokeResult[]>;
  /** what the Runtime API saw: GET /next requests, parked, in flight, max in flight, queued, delivered, answered */
  runtimeStats(): RuntimeApiStats;
  /** start a new high-water mark for `runtimeStats().maxInFlight` */
  resetMaxInFlight(): void;
  /** all stdout/stderr lines of the container so far */
  readonly logs: string[];
  /**
   * parsed JSON log lines (lines that parse as JSON objects). In LMI mode the RIC wraps every console line in
   * `{timestamp, level, requestId, message}`; a wrapped message that is itself a JSON object is returned unwrapped.
   */
  jsonLogs(): Array<Record<string, unknown>>;
  /** the library's log records of one lifecycle event (`mongodb.event`), in order: the JSON lines whose `mongodb.event` is `name` */
  events(name: string): Array<Record<string, unknown> & { mongodb: Record<string, unknown> }>;
  readonly pid: number;
  /** send SIGTERM, wait up to graceMs (default 500) for exit, then SIGKILL */
  shutdown(graceMs?: number): Promise<ShutdownResult>;
  /** retire like Lambda: SIGTERM + graceMs (default 500) only when an extension registered, else SIGKILL at once */
  retire(graceMs?: number): Promise<ShutdownResult & { sigterm: boolean }>;
  /** names of the extensions registered through the Extensions API */
  readonly extensionNames: string[];
  /** SIGKILL */
  kill(): void;
}

/** startLambdaContainer rejects with this when the handler module fails to initialise (POST /init/error). */
export class LambdaInitError extends Error {
  override readonly name = 'LambdaInitError';
  constructor(
    readonly error: RuntimeErrorBody,
    readonly logs: string[],
  ) {
    super(`${error.errorType}: ${error.errorMessage}`);
  }
}

/** invoke() rejects with this when the container process exits before answering. */
export class LambdaContainerExitedError extends Error {
  override readonly name = 'LambdaContainerExitedError';
  constructor(
    message: string,
    readonly code: number | null,
    readonly signal: string | null,
    readonly logs: string[],
  ) {
    super(`${message} (exit code ${code}, signal ${signal})\n--- last container log lines ---\n${logs.slice(-20).join('\n')}`);
  }
}

/** Lambda's init phase is limited to 10 s; allow more for slow CI machines. */
const INIT_TIMEOUT_MS = 30_000;
const RIC_ENTRY = join(PROJECT_ROOT, 'node_modules', 'aws-lambda-ric', 'index.mjs');
const DEBUG = Boolean(process.env['LAMBDA_EMULATOR_DEBUG']);

// Shared by every copy of this module in the process (vitest may load it once per test file), so the exit hook
// is installed once and stopAllLambdaContainers() sees every container.
const REGISTRY = Symbol.for('serverless-mongodb.lambda-emulator.containers');
const registry = globalThis as { [REGISTRY]?: Set<{ kill(): void; killAndWait(): Promise<void> }> };
const live = (registry[REGISTRY] ??= (() => {
  const set = new Set<{ kill(): void; killAndWait(): Promise<void> }>();
  const killAll = () => {
    for (const c of set) c.kill();
  };
  process.on('exit', killAll);
  // 'exit' does not run when the process dies from a signal: kill the containers, then die from the signal
  // as before, unless somebody else handles it.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
  return set;
})());

// Last line of defence when this process is SIGKILLed (no 'exit' hook runs): a detached watchdog process learns
// the container pids through a pipe and SIGKILLs the remaining ones when the pipe closes. Without it a frozen
// (SIGSTOPped) container would survive forever; parked ones die anyway once the Runtime API socket is gone.
const WATCHDOG_SCRIPT = `
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const pids = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  const lines = buf.split('\\n');
  buf = lines.pop();
  for (const l of lines) (l[0] === '+' ? pids.add(l.slice(1)) : pids.delete(l.slice(1)));
});
const done = () => {
  for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch {} }
  process.exit(0);
};
process.stdin.on('end', done);
process.stdin.on('error', done);
`;
const WATCHDOG = Symbol.for('serverless-mongodb.lambda-emulator.watchdog');
function watchdog(line: string): void {
  const g = globalThis as { [WATCHDOG]?: ChildProcess | null };
  if (g[WATCHDOG] === undefined) {
    try {
      const child = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      child.on('error', () => {});
      child.stdin?.on('error', () => {});
      child.unref();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      g[WATCHDOG] = child;
    } catch {
      g[WATCHDOG] = null;
    }
  }
  g[WATCHDOG]?.stdin?.write(`${line}\n`);
}

/** Kill every container started by this process (for afterAll). */
export async function stopAllLambdaContainers(): Promise<void> {
  await Promise.all([...live].map((c) => c.killAndWait()));
}

async function nodeBinary(major: 22 | 24): Promise<string> {
  // install-runtimes.mjs is untyped JS: import it through a string so TS does not need declarations.
  const url = new URL('../../../scripts/install-runtimes.mjs', import.meta.url).href;
  const mod = (await import(url)) as { ensureRuntime: (major: number) => string };
  return mod.ensureRuntime(major);
}

export async function startLambdaContainer(options: LambdaContainerOptions): Promise<LambdaContainer> {
  validateConcurrencyOptions(options);
  const [bundle, node] = await Promise.all([
    options.taskRoot === undefined ? bundleHandler(options.entry) : { dir: options.taskRoot, moduleName: options.entry },
    nodeBinary(options.nodeMajor ?? 22),
  ]);
  const container = new EmulatedContainer(options, node, bundle.dir, `${bundle.moduleName}.${options.handlerName ?? 'handler'}`);
  await container.start();
  return container;
}

function validateConcurrencyOptions(options: LambdaContainerOptions): void {
  const { maxConcurrency, workerCount } = options;
  if (maxConcurrency !== undefined && !(Number.isInteger(maxConcurrency) && maxConcurrency >= 1)) {
    throw new RangeError(`Lambda emulator: maxConcurrency must be an integer >= 1 (got ${String(maxConcurrency)}); leave it unset for a classic environment`);
  }
  if (workerCount !== undefined) {
    if (maxConcurrency === undefined) {
      throw new RangeError('Lambda emulator: workerCount applies to Lambda Managed Instances only; set maxConcurrency too');
    }
    if (!(Number.isInteger(workerCount) && workerCount >= 1)) {
      throw new RangeError(`Lambda emulator: workerCount must be an integer >= 1 (got ${String(workerCount)})`);
    }
  }
  if (maxConcurrency !== undefined && (options.nodeMajor ?? 22) < 22) {
    throw new RangeError('Lambda emulator: Lambda Managed Instances need Node.js 22 or later');
  }
}

/**
 * The RIC's worker count (aws-lambda-ric index.mjs, getWorkerCount / getAvailableCpus): AWS_LAMBDA_NODEJS_WORKER_COUNT,
 * else 8 × ceil(quota / period) from /sys/fs/cgroup/cpu.max ("max": the detected cores; file missing: 1 CPU).
 */
function ricWorkerCount(env: Record<string, string | undefined>): number {
  const fromEnv = env['AWS_LAMBDA_NODEJS_WORKER_COUNT'];
  if (fromEnv) return Number.parseInt(fromEnv, 10);
  let detected = 1;
  try {
    const [maxStr = '', periodStr = ''] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    const period = Number.parseInt(periodStr, 10);
    if (maxStr === 'max') detected = Math.max(1, cpus().length);
    else {
      const quota = Number.parseInt(maxStr, 10);
      if (quota > 0 && period > 0) detected = Math.ceil(quota / period);
    }
  } catch {
    // no cgroup v2 cpu.max: the RIC assumes 1 CPU
  }
  return 8 * detected;
}

interface Inflight {
  resolve: (r: InvokeResult) => void;
  reject: (e: Error) => void;
  waitMs: number;
  deliveredAt?: number;
  timer?: NodeJS.Timeout;
}

class EmulatedContainer implements LambdaContainer {
  readonly logs: string[] = [];
  private child!: ChildProcess;
  private readonly api: RuntimeApiServer;
  private readonly inflight = new Map<string, Inflight>();
  private exitInfo: { code: number | null; signal: string | null } | undefined;
  private readonly exited: Promise<{ code: number | null; signal: string | null }>;
  private resolveExited!: (v: { code: number | null; signal: string | null }) => void;
  private frozen = false;
  private readonly functionName: string;
  private readonly timeoutMs: number;
  readonly mode: 'classic' | 'lmi';
  workerCount = 1;
  /** LMI: how many GET /next the runtime keeps parked when idle (see `parkTarget`) */
  private idleParked = 1;

  constructor(
    private readonly options: LambdaContainerOptions,
    private readonly node: string,
    private readonly taskRoot: string,
    private readonly handler: string,
  ) {
    this.functionName = options.functionName ?? 'test-function';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.mode = options.maxConcurrency === undefined ? 'classic' : 'lmi';
    this.api = new RuntimeApiServer(`arn:aws:lambda:us-east-1:123456789012:function:${this.functionName}`, {
      ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
    });
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    this.api.on('response', (id, result) => this.settle(id, (durationMs) => ({ requestId: id, ok: true, result, durationMs })));
    this.api.on('invocationError', (id, error) => this.settle(id, (durationMs) => ({ requestId: id, ok: false, error, durationMs })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async start(): Promise<void> {
    const port = await this.api.listen();
    const memoryMB = this.options.memoryMB ?? 1024;
    const major = this.options.nodeMajor ?? 22;
    // Memory flags as computed by Lambda's /var/runtime/bootstrap for Node.js runtimes.
    const newSpace = Math.floor(memoryMB / 10);
    const nodeArgs = [
      '--expose-gc',
      '--max-http-header-size',
      '81920',
      `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
      `--max-old-space-size=${memoryMB - newSpace}`,
      // not set by Lambda: makes stack traces point into the TS sources (the bundle has an inline source map)
      '--enable-source-maps',
      RIC_ENTRY,
      this.handler,
    ];
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    const env: Record<string, string> = {
      PATH: `${dirname(this.node)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: tmpdir(),
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      NODE_PATH: join(PROJECT_ROOT, 'node_modules'),
      LAMBDA_TASK_ROOT: this.taskRoot,
      LAMBDA_RUNTIME_DIR: dirname(RIC_ENTRY),
      _HANDLER: this.handler,
      AWS_EXECUTION_ENV: `AWS_Lambda_nodejs${major}.x`,
      AWS_LAMBDA_FUNCTION_NAME: this.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMB),
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
      ...(this.options.maxConcurrency === undefined
        ? {}
        : {
            AWS_LAMBDA_MAX_CONCURRENCY: String(this.options.maxConcurrency),
            ...(this.options.workerCount === undefined ? {} : { AWS_LAMBDA_NODEJS_WORKER_COUNT: String(this.options.workerCount) }),
          }),
      ...this.options.env,
    };
    if (this.mode === 'lmi') {
      this.workerCount = ricWorkerCount(env);
      this.idleParked = parkTarget(this.workerCount, env);
    }
    const started = Date.now();
    this.child = spawn(this.node, nodeArgs, { cwd: this.taskRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    if (this.child.pid) watchdog(`+${this.child.pid}`);
    this.captureLines(this.child.stdout, 'out');
    this.captureLines(this.child.stderr, 'err');
    // 'close' (not 'exit'): fires after stdout/stderr are drained, so `logs` is complete
    this.child.once('close', (code, signal) => this.onExit(code, signal));
    this.child.once('error', (err) => {
      this.logs.push(`[emulator] spawn error: ${err.message}`);
      this.onExit(null, null);
    });

    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let initError: RuntimeErrorBody | undefined;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.api.off('parked', onParked);
        this.api.off('initError', onInitError);
        if (err) reject(err);
        else resolve();
      };
      const onParked = () => {
        if (this.api.parkedCount >= this.idleParked) finish();
      };
      const onInitError = (error: RuntimeErrorBody) => {
        initError = error;
        // The RIC rethrows after posting /init/error and exits: collect its last log lines, then make sure it is gone.
        void this.waitExit(2_000).then(() => {
          this.kill();
          finish(new LambdaInitError(error, this.logs));
        });
      };
      const timer = setTimeout(() => {
        this.kill();
        finish(new LambdaContainerExitedError(`Lambda container init did not finish within ${INIT_TIMEOUT_MS} ms`, null, 'SIGKILL', this.logs));
      }, INIT_TIMEOUT_MS);
      this.api.on('parked', onParked);
      this.api.once('initError', onInitError);
      void this.exited.then((e) => {
        if (!initError) finish(new LambdaContainerExitedError('Lambda container exited during init', e.code, e.signal, this.logs));
      });
    });
    if (DEBUG) process.stderr.write(`[lambda-emulator ${this.pid}] cold start ${Date.now() - started} ms\n`);
  }

  async invoke(event: unknown, opts?: { timeoutMs?: number }): Promise<InvokeResult> {
    const [result] = await this.invokeMany([event], opts);
    return result as InvokeResult;
  }

  async invokeMany(events: readonly unknown[], opts?: { timeoutMs?: number }): Promise<InvokeResult[]> {
    // Events written to a parked /next while dispatching (synchronously, see RuntimeApiServer 'delivered').
    const deliveredNow = new Set<string>();
    const onDelivered = (id: string) => deliveredNow.add(id);
    this.api.on('delivered', onDelivered);
    let dispatched: Array<{ requestId: string | undefined; written: Promise<void>; result: Promise<InvokeResult> }>;
    try {
      dispatched = events.map((event) => this.dispatch(event, opts?.timeoutMs));
    } finally {
      this.api.off('delivered', onDelivered);
    }
    if (this.frozen) {
      // Like Lambda: the events go into the sockets of the pending GET /next while the process is still stopped
      // (the rest wait at the Runtime API), then the process is resumed and finds them there.
      const handedOver = dispatched.filter((d) => d.requestId !== undefined && deliveredNow.has(d.requestId));
      await Promise.all(handedOver.map((d) => Promise.race([d.written, d.result.then(noop, noop)])));
      await this.thaw();
    }
    return Promise.all(dispatched.map((d) => d.result));
  }

  async freeze(): Promise<void> {
    if (this.exitInfo) throw this.exitedError('cannot freeze');
    if (this.frozen) return;
    await this.waitParked();
    this.frozen = true;
    this.child.kill('SIGSTOP');
    // SIGSTOP is asynchronous: wait until every thread is stopped, so callers can rely on it.
    for (let i = 0; i < 200 && !this.exitInfo; i++) {
      if (procState(this.pid) === 'T') return;
      await sleep(5);
    }
  }

  async thaw(): Promise<void> {
    if (!this.frozen) return;
    this.frozen = false;
    if (!this.exitInfo) this.child.kill('SIGCONT');
  }

  async invokeAfterFreeze(
    event: unknown,
    freezeMs: number,
    opts?: { beforeThaw?: () => Promise<void> | void },
  ): Promise<InvokeResult> {
    await this.freeze();
    await sleep(freezeMs);
    try {
      await opts?.beforeThaw?.();
    } catch (err) {
      await this.thaw();
      throw err;
    }
    return this.invoke(event);
  }

  async invokeManyAfterFreeze(
    events: readonly unknown[],
    freezeMs: number,
    opts?: { beforeThaw?: () => Promise<void> | void; timeoutMs?: number },
  ): Promise<InvokeResult[]> {
    await this.freeze();
    await sleep(freezeMs);
    try {
      await opts?.beforeThaw?.();
    } catch (err) {
      await this.thaw();
      throw err;
    }
    return this.invokeMany(events, opts?.timeoutMs === undefined ? undefined : { timeoutMs: opts.timeoutMs });
  }

  runtimeStats(): RuntimeApiStats {
    return this.api.stats();
  }

  resetMaxInFlight(): void {
    this.api.resetMaxInFlight();
  }

  jsonLogs(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.logs) {
      if (!line.startsWith('{')) continue;
      try {
        const v: unknown = JSON.parse(line);
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(this.mode === 'lmi' ? unwrapRicLine(v as Record<string, unknown>) : (v as Record<string, unknown>));
      } catch {
        // not JSON
      }
    }
    return out;
  }

  events(name: string): Array<Record<string, unknown> & { mongodb: Record<string, unknown> }> {
    return this.jsonLogs().filter((line): line is Record<string, unknown> & { mongodb: Record<string, unknown> } => (line.mongodb as { event?: unknown } | undefined)?.event === name);
  }

  async shutdown(graceMs = 500): Promise<ShutdownResult> {
    if (!this.exitInfo) {
      this.child.kill('SIGTERM');
      if (this.frozen) await this.thaw(); // a stopped process only handles SIGTERM once continued
      if (!(await this.waitExit(graceMs))) this.kill();
    }
    const { code, signal } = await this.exited;
    return { code, signal, logs: this.logs };
  }

  /**
   * Retires the environment as Lambda does: with a registered extension, SIGTERM and `graceMs` (500 ms: the
   * runtime's share with an internal extension) before SIGKILL; without one, SIGKILL at once.
   */
  async retire(graceMs = 500): Promise<ShutdownResult & { sigterm: boolean }> {
    const sigterm = this.api.extensions.size > 0;
    if (sigterm) return { ...(await this.shutdown(graceMs)), sigterm };
    await this.killAndWait();
    const { code, signal } = await this.exited;
    return { code, signal, logs: this.logs, sigterm };
  }

  /** Names of the extensions registered through the Extensions API. */
  get extensionNames(): string[] {
    return [...this.api.extensions.values()].map((extension) => extension.name);
  }

  kill(): void {
    if (!this.exitInfo) {
      try {
        this.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** @internal */
  async killAndWait(): Promise<void> {
    this.kill();
    await this.exited;
  }

  private dispatch(
    event: unknown,
    waitMs: number | undefined,
  ): { requestId: string | undefined; written: Promise<void>; result: Promise<InvokeResult> } {
    if (this.exitInfo) {
      const err = this.exitedError('cannot invoke');
      const rejected = Promise.reject(err);
      rejected.catch(noop);
      return { requestId: undefined, written: rejected, result: Promise.reject(err) };
    }
    let markWritten!: () => void;
    let requestId: string | undefined;
    const written = new Promise<void>((resolve) => (markWritten = resolve));
    const result = new Promise<InvokeResult>((resolve, reject) => {
      const entry: Inflight = { resolve, reject, waitMs: waitMs ?? this.timeoutMs };
      // a parked /next may take the event synchronously; its answer and onWritten come later (I/O callbacks)
      requestId = this.api.deliver(event, this.timeoutMs, (inv) => {
        entry.deliveredAt = inv.deliveredAt;
        entry.timer = setTimeout(() => this.onTimeout(inv.requestId), entry.waitMs);
        markWritten();
      });
      this.inflight.set(requestId, entry);
    });
    return { requestId, written, result };
  }

  private settle(requestId: string, make: (durationMs: number) => InvokeResult): void {
    const entry = this.inflight.get(requestId);
    if (!entry) return;
    this.inflight.delete(requestId);
    clearTimeout(entry.timer);
    entry.resolve(make(Date.now() - (entry.deliveredAt ?? Date.now())));
  }

  /**
   * Like Lambda: the invocation fails with Sandbox.Timedout and the execution environment is destroyed.
   * LMI: the timeout is reported but not enforced (AWS docs): the environment keeps running, and the invocation
   * holds its concurrency slot at the Runtime API until the runtime answers it.
   */
  private onTimeout(requestId: string): void {
    const entry = this.inflight.get(requestId);
    if (!entry) return;
    const secs = (entry.waitMs / 1000).toFixed(2);
    if (this.mode === 'lmi') {
      this.logs.push(`[emulator] ${requestId} Task timed out after ${secs} seconds; LMI: reported, not enforced`);
      this.settle(requestId, (durationMs) => ({
        requestId,
        ok: false,
        error: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: Task timed out after ${secs} seconds` },
        durationMs,
      }));
      return;
    }
    this.logs.push(`[emulator] ${requestId} Task timed out after ${secs} seconds; killing the container`);
    this.settle(requestId, (durationMs) => ({
      requestId,
      ok: false,
      error: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: Task timed out after ${secs} seconds` },
      durationMs,
    }));
    this.kill();
  }

  private onExit(code: number | null, signal: string | null): void {
    if (this.exitInfo) return;
    this.exitInfo = { code, signal };
    live.delete(this);
    if (this.child.pid) watchdog(`-${this.child.pid}`);
    for (const [id, entry] of this.inflight) {
      clearTimeout(entry.timer);
      entry.reject(new LambdaContainerExitedError(`Lambda container exited during invocation ${id}`, code, signal, this.logs));
    }
    this.inflight.clear();
    void this.api.close();
    this.resolveExited({ code, signal });
  }

  private exitedError(what: string): LambdaContainerExitedError {
    return new LambdaContainerExitedError(`Lambda container is gone, ${what}`, this.exitInfo?.code ?? null, this.exitInfo?.signal ?? null, this.logs);
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (this.exitInfo) return true;
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
    clearTimeout(timer);
    return ok;
  }

  /**
   * Wait until the runtime is parked on GET /next with no invocation outstanding. LMI: until nothing is in flight
   * (neither an invoke() of ours nor a timed-out invocation the runtime still runs) and every worker's GET /next
   * is parked again.
   */
  private async waitParked(): Promise<void> {
    const since = Date.now();
    while (!this.idle()) {
      if (this.exitInfo) throw this.exitedError('cannot freeze');
      if (this.mode === 'lmi' && Date.now() - since > FREEZE_WAIT_MS) {
        const st = this.api.stats();
        throw new Error(
          `Lambda emulator: cannot freeze, the runtime did not become idle within ${FREEZE_WAIT_MS} ms ` +
            `(${st.parked} of ${this.idleParked} GET /next parked, ${st.inFlight} in flight, ${this.inflight.size} invoke() pending); ` +
            'a worker thread may have exited (see the container logs)',
        );
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.api.off('parked', done);
          resolve();
        };
        // re-check periodically too (exit, or an invocation settled without a following /next yet)
        const timer = setTimeout(done, 20);
        this.api.on('parked', done);
      });
    }
  }

  private idle(): boolean {
    if (this.inflight.size > 0) return false;
    if (this.mode === 'classic') return this.api.isParked;
    return this.api.inFlightCount === 0 && this.api.parkedCount >= this.idleParked;
  }

  private captureLines(stream: NodeJS.ReadableStream | null, tag: 'out' | 'err'): void {
    if (!stream) return;
    let partial = '';
    const push = (line: string) => {
      const clean = line.endsWith('\r') ? line.slice(0, -1) : line;
      this.logs.push(clean);
      if (DEBUG) process.stderr.write(`[lambda ${this.pid} ${tag}] ${clean}\n`);
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) push(line);
    });
    stream.on('end', () => {
      if (partial) push(partial);
      partial = '';
    });
    stream.on('error', () => {});
  }
}

function noop(): void {}

/** LMI: how long freeze() waits for every worker to be parked with nothing in flight. */
const FREEZE_WAIT_MS = 10_000;

/**
 * LMI: how many GET /next the runtime holds parked when idle: one per worker, but the native client's get_next runs
 * on the libuv threadpool (Napi::AsyncWorker in aws-lambda-ric src/native/rapid-client.cc), which worker threads
 * share and which has UV_THREADPOOL_SIZE (default 4) threads.
 */
function parkTarget(workers: number, env: Record<string, string | undefined>): number {
  if (env['AWS_LAMBDA_NODEJS_USE_ALTERNATIVE_CLIENT_1'] === 'true') return workers;
  const pool = Number.parseInt(env['UV_THREADPOOL_SIZE'] ?? '', 10);
  return Math.min(workers, Number.isInteger(pool) && pool > 0 ? pool : 4);
}

/** LMI: the RIC writes every console line as {timestamp, level, requestId, message}; unwrap a JSON object message. */
function unwrapRicLine(v: Record<string, unknown>): Record<string, unknown> {
  const message = v['message'];
  if (typeof message !== 'string' || !message.startsWith('{') || !('requestId' in v) || !('timestamp' in v)) return v;
  try {
    const inner: unknown = JSON.parse(message);
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) return inner as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return v;
}

/** Process state letter from /proc/<pid>/stat ('R', 'S', 'T' = stopped, ...). */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
