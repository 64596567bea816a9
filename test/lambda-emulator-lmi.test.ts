// The emulator's Lambda Managed Instances (LMI) mode and concurrent delivery, under the real aws-lambda-ric v4.
// Every "at once" below is shown by order (a gate the handler waits on, sequence numbers in its module scope) and by
// what the Runtime API saw, never by timing.
import { request } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Gate,
  LambdaContainerExitedError,
  type InvokeResult,
  procState,
  startGate,
  startLambdaContainer,
  stopAllLambdaContainers,
} from './support/lambda-emulator/index.js';
import { RuntimeApiServer } from './support/lambda-emulator/runtime-api.js';

const FIXTURE = 'test/fixtures/emulator/concurrency.ts';
const TIMEOUT = 60_000;

interface Report {
  id: number;
  requestId: string;
  pid: number;
  threadId: number;
  moduleId: string;
  invocation: number;
  startSeq: number;
  endSeq: number;
  runningAtStart: number;
  env: Record<string, string | undefined>;
}

const report = (r: InvokeResult): Report => {
  if (!r.ok) throw new Error(`invocation failed: ${JSON.stringify(r.error)}`);
  return r.result as Report;
};

const gates: Gate[] = [];
async function gate(): Promise<Gate> {
  const g = await startGate();
  gates.push(g);
  return g;
}

afterEach(async () => {
  await Promise.all(gates.splice(0).map((g) => g.close()));
});

afterAll(async () => {
  await stopAllLambdaContainers();
});

describe('lambda emulator, Lambda Managed Instances mode', () => {
  it('caps in-flight invocations at maxConcurrency, queues the rest, and runs them in every worker thread', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 4, workerCount: 2 });
    const g = await gate();
    const parkedAtStart = fn.runtimeStats().parked;

    // Act
    const pending = fn.invokeMany(Array.from({ length: 8 }, (_, id) => ({ id, gate: g.url })));
    await g.arrived(4);
    const whileHeld = fn.runtimeStats();
    g.open();
    const results = (await pending).map(report);

    // Assess
    expect(fn.mode).toBe('lmi');
    expect(parkedAtStart).toBe(2); // one GET /next per worker
    // 4 invocations inside the handler, none answered: the other 4 wait at the Runtime API
    expect(whileHeld).toMatchObject({ inFlight: 4, queued: 4, delivered: 4, answered: 0 });
    expect(results.map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const stats = fn.runtimeStats();
    expect(stats).toMatchObject({ maxInFlight: 4, inFlight: 0, queued: 0, delivered: 8, answered: 8 });
    expect(g.maxWaiting).toBe(4);
    expect(g.seen).toHaveLength(8);
    // one process, two worker threads, each with its own module scope
    expect(new Set(results.map((r) => r.pid))).toEqual(new Set([fn.pid]));
    const threads = new Set(results.map((r) => r.threadId));
    expect(threads.size).toBe(2);
    expect(threads.has(0)).toBe(false); // not the main thread
    expect(new Set(results.map((r) => r.moduleId)).size).toBe(2);
    for (const thread of threads) {
      const mine = results.filter((r) => r.threadId === thread);
      expect(new Set(mine.map((r) => r.moduleId)).size).toBe(1);
      expect(mine.map((r) => r.invocation).sort((a, b) => a - b)).toEqual(mine.map((_, i) => i + 1));
    }
  });

  it('sets the variables without which an LMI worker exits silently, and the handler sees them', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 3, workerCount: 1, functionName: 'lmi-env' });

    // Act
    const out = report(await fn.invoke({ id: 1 }));

    // Assess
    expect(out.env['AWS_LAMBDA_FUNCTION_VERSION']).toBe('$LATEST');
    expect(out.env['AWS_LAMBDA_LOG_GROUP_NAME']).toBe('/aws/lambda/lmi-env');
    expect(out.env['AWS_LAMBDA_LOG_STREAM_NAME']).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(out.env['AWS_LAMBDA_MAX_CONCURRENCY']).toBe('3');
    expect(out.env['AWS_LAMBDA_NODEJS_WORKER_COUNT']).toBe('1');
    expect(out.threadId).not.toBe(0);
  });

  it.each(['AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME'])(
    'without %s the LMI worker exits silently (exit code 0, nothing logged) at its first event; classic fails loudly',
    { timeout: TIMEOUT },
    async (name) => {
      // Prepare
      const lmi = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 2, workerCount: 1, env: { [name]: '' } });
      const classic = await startLambdaContainer({ entry: FIXTURE, env: { [name]: '' } });

      // Act
      const [lmiErr, classicErr] = await Promise.all(
        [lmi, classic].map((fn) =>
          fn.invoke({ id: 1 }).then(
            () => undefined,
            (e: unknown) => e,
          ),
        ),
      );

      // Assess
      expect(lmiErr).toBeInstanceOf(LambdaContainerExitedError);
      expect(lmiErr).toMatchObject({ code: 0, signal: null });
      expect(lmi.logs.filter((l) => !l.startsWith('[emulator]'))).toEqual([]);
      expect(classicErr).toBeInstanceOf(LambdaContainerExitedError);
      expect(classicErr).toMatchObject({ code: 1 });
      expect(classic.logs.some((l) => l.includes('Runtime.PlatformError') && l.includes(name))).toBe(true);
    },
  );

  it('delivers N invocations at once after a freeze: all start in one module scope before any finishes', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 4, workerCount: 1 });
    const warm = report(await fn.invoke({ id: 0 }));
    const g = await gate();
    let stateWhileFrozen: string | undefined;
    let statsWhileFrozen: ReturnType<typeof fn.runtimeStats> | undefined;

    // Act
    const pending = fn.invokeManyAfterFreeze(
      [1, 2, 3, 4].map((id) => ({ id, gate: g.url })),
      200,
      {
        beforeThaw: () => {
          stateWhileFrozen = procState(fn.pid);
          statsWhileFrozen = fn.runtimeStats();
        },
      },
    );
    await g.arrived(4);
    const seenAtFour = [...g.seen];
    g.open();
    const results = (await pending).map(report);

    // Assess
    expect(stateWhileFrozen).toBe('T');
    // frozen with nothing in flight and the only worker parked
    expect(statsWhileFrozen).toMatchObject({ inFlight: 0, parked: 1, queued: 0 });
    expect(seenAtFour).toHaveLength(4); // the 4 were inside the handler together
    expect(results.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(new Set(results.map((r) => r.moduleId))).toEqual(new Set([warm.moduleId]));
    expect(new Set(results.map((r) => r.threadId))).toEqual(new Set([warm.threadId]));
    // every start comes before every end in the module's one sequence
    const lastStart = Math.max(...results.map((r) => r.startSeq));
    const firstEnd = Math.min(...results.map((r) => r.endSeq));
    expect(lastStart).toBeLessThan(firstEnd);
    expect(results.map((r) => r.runningAtStart).sort()).toEqual([1, 2, 3, 4]);
    expect(fn.runtimeStats().maxInFlight).toBe(4);
    expect(procState(fn.pid)).not.toBe('T');
  });

  it('freeze() waits until nothing is in flight and every worker is parked again', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 4, workerCount: 2 });
    const g = await gate();
    const order: string[] = [];
    const pending = fn.invoke({ id: 1, gate: g.url }).then((r) => {
      order.push('answered');
      return r;
    });
    await g.arrived(1);

    // Act
    const frozen = fn.freeze().then(() => {
      order.push('frozen');
      return { state: procState(fn.pid), stats: fn.runtimeStats() };
    });
    g.release(); // a freeze that did not wait would stop the process before it reads this
    const atFreeze = await frozen;
    const orderAtFreeze = [...order];
    await fn.thaw();
    const result = await pending;

    // Assess
    expect(orderAtFreeze).toEqual(['answered', 'frozen']);
    expect(atFreeze.state).toBe('T');
    expect(atFreeze.stats).toMatchObject({ inFlight: 0, parked: 2 });
    expect(result.ok).toBe(true);
  });

  it('reports a timeout without killing the environment; the hung invocation keeps its slot', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 1, workerCount: 1, timeoutMs: 500 });
    const g = await gate();

    // Act
    const hung = await fn.invoke({ id: 1, gate: g.url });
    const afterTimeout = fn.runtimeStats();
    const next = fn.invoke({ id: 2 }, { timeoutMs: 20_000 });
    const whileSlotHeld = fn.runtimeStats();
    g.release();
    const second = report(await next);

    // Assess
    expect(hung.ok).toBe(false);
    expect(hung.error?.errorType).toBe('Sandbox.Timedout');
    expect(afterTimeout).toMatchObject({ inFlight: 1, answered: 0 });
    expect(whileSlotHeld).toMatchObject({ inFlight: 1, queued: 1 });
    expect(second.id).toBe(2);
    expect(second.invocation).toBe(2); // same module scope: the environment survived
    expect(fn.runtimeStats()).toMatchObject({ inFlight: 0, answered: 2, maxInFlight: 1 });
  });

  it('reproduces the RIC starving the libuv threadpool: with 4 workers a lone fs call hangs, with UV_THREADPOOL_SIZE=5 it runs', { timeout: TIMEOUT }, async () => {
    // Prepare: the native client's GET /next blocks a libuv threadpool thread (Napi::AsyncWorker), which worker threads
    // share; 4 parked workers hold all 4 default threads, so fs/dns work of a handler waits for further events.
    const [starved, sized] = await Promise.all([
      startLambdaContainer({ entry: FIXTURE, maxConcurrency: 8, workerCount: 4, timeoutMs: 1_500 }),
      startLambdaContainer({ entry: FIXTURE, maxConcurrency: 8, workerCount: 4, timeoutMs: 1_500, env: { UV_THREADPOOL_SIZE: '5' } }),
    ]);

    // Act
    const [a, b] = await Promise.all([starved.invoke({ id: 1, readFile: true }), sized.invoke({ id: 1, readFile: true })]);

    // Assess
    expect(starved.runtimeStats().parked).toBe(4); // all 4 threads blocked in GET /next, the fs call queued behind them
    expect(a.error?.errorType).toBe('Sandbox.Timedout');
    expect(b.ok).toBe(true);
    expect(sized.runtimeStats().parked).toBe(4);
  });

  it('unwraps the RIC LMI log envelope in jsonLogs()', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE, maxConcurrency: 2, workerCount: 1 });

    // Act
    const res = await fn.invoke({ id: 7, logJson: true });

    // Assess
    const raw = fn.logs.find((l) => l.includes('concurrency fixture'));
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ level: 'INFO', requestId: res.requestId });
    expect(fn.jsonLogs()).toContainEqual({ message: 'concurrency fixture', id: 7 });
  });

  it('SIGTERM reaches the main thread only: a handler module\'s SIGTERM listener does not run under LMI', { timeout: TIMEOUT }, async () => {
    // Prepare: the same fixture cleans up on SIGTERM in a classic environment (test/lambda-emulator.test.ts)
    const fn = await startLambdaContainer({ entry: 'test/fixtures/emulator/sigterm.ts', maxConcurrency: 2, workerCount: 1 });
    await fn.invoke({});

    // Act
    const res = await fn.shutdown(1_000);

    // Assess
    expect(res).toMatchObject({ code: null, signal: 'SIGTERM' }); // the main thread has no listener: default action
    expect(fn.logs.some((l) => l.includes('SIGTERM received'))).toBe(false);
  });

  it('rejects bad concurrency options with a clear error', async () => {
    await expect(startLambdaContainer({ entry: FIXTURE, workerCount: 2 })).rejects.toThrow(/workerCount applies to Lambda Managed Instances only; set maxConcurrency/);
    await expect(startLambdaContainer({ entry: FIXTURE, maxConcurrency: 0 })).rejects.toThrow(/maxConcurrency must be an integer >= 1 \(got 0\)/);
    await expect(startLambdaContainer({ entry: FIXTURE, maxConcurrency: 2, workerCount: 1.5 })).rejects.toThrow(/workerCount must be an integer >= 1/);
  });
});

describe('lambda emulator, classic mode with several invocations', () => {
  it('invokeMany in a classic environment runs them one after the other', { timeout: TIMEOUT }, async () => {
    // Prepare
    const fn = await startLambdaContainer({ entry: FIXTURE });

    // Act
    const results = (await fn.invokeMany([1, 2, 3].map((id) => ({ id, ms: 5 })))).map(report);

    // Assess
    expect(fn.mode).toBe('classic');
    expect(results.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(results.map((r) => [r.startSeq, r.endSeq])).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(results.every((r) => r.runningAtStart === 1 && r.threadId === 0)).toBe(true);
    expect(fn.runtimeStats().maxInFlight).toBe(1);
  });
});

// The Runtime API server on its own, driven over HTTP like the RIC drives it.
describe('Runtime API server', () => {
  const servers: RuntimeApiServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function serve(maxConcurrency?: number): Promise<{ api: RuntimeApiServer; port: number }> {
    const api = new RuntimeApiServer('arn:aws:lambda:us-east-1:123456789012:function:f', maxConcurrency === undefined ? {} : { maxConcurrency });
    servers.push(api);
    return { api, port: await api.listen() };
  }

  function call(port: number, method: string, path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const next = (port: number) => call(port, 'GET', '/2018-06-01/runtime/invocation/next');
  const parked = (api: RuntimeApiServer, n: number) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (api.parkedCount < n) return;
        api.off('parked', check);
        resolve();
      };
      api.on('parked', check);
      check();
    });

  it('classic: a second concurrent GET /next fails the first with 500 InvalidState, the second gets the event', { timeout: 10_000 }, async () => {
    // Prepare
    const { api, port } = await serve();
    const first = next(port);
    await parked(api, 1);

    // Act
    const second = next(port);
    const firstRes = await first;
    await parked(api, 1);
    api.deliver({ n: 1 }, 1_000, () => {});
    const secondRes = await second;

    // Assess
    expect(firstRes.status).toBe(500);
    expect(JSON.parse(firstRes.body)).toEqual({ errorMessage: 'concurrent /next', errorType: 'InvalidState' });
    expect(secondRes.status).toBe(200);
    expect(JSON.parse(secondRes.body)).toEqual({ n: 1 });
    expect(api.stats()).toMatchObject({ nextRequests: 2, parked: 0, inFlight: 1, delivered: 1 });
  });

  it('LMI: several GET /next park at once; the cap holds events until an answer frees a slot', { timeout: 10_000 }, async () => {
    // Prepare
    const { api, port } = await serve(2);
    const polls = [next(port), next(port), next(port)];
    await parked(api, 3);
    const delivered: string[] = [];
    api.on('delivered', (id) => delivered.push(id));

    // Act
    const ids = [1, 2, 3].map((n) => api.deliver({ n }, 1_000, () => {}));
    const beforeAnswer = api.stats();
    const [a, b] = await Promise.all([polls[0], polls[1]]);
    const answered = await call(port, 'POST', `/2018-06-01/runtime/invocation/${ids[0]}/response`, '"done"');
    const c = await polls[2];

    // Assess
    expect(beforeAnswer).toMatchObject({ parked: 1, inFlight: 2, queued: 1, maxInFlight: 2 });
    expect([a, b].map((r) => JSON.parse(r!.body))).toEqual([{ n: 1 }, { n: 2 }]);
    expect([a, b].map((r) => r!.headers['lambda-runtime-aws-request-id'])).toEqual([ids[0], ids[1]]);
    expect(answered.status).toBe(202);
    expect(JSON.parse(c!.body)).toEqual({ n: 3 });
    expect(delivered).toEqual(ids);
    expect(api.stats()).toMatchObject({ parked: 0, inFlight: 2, maxInFlight: 2, queued: 0, delivered: 3, answered: 1 });
  });

  it('rejects a bad maxConcurrency', () => {
    expect(() => new RuntimeApiServer('arn', { maxConcurrency: -1 })).toThrow(/maxConcurrency must be an integer >= 1 \(got -1\)/);
  });
});
