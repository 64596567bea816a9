// The connection budget (scripts/connection-budget.mjs, `npm run budget`): Σ reservedConcurrency × (maxPoolSize +
// monitor sockets) per cluster member from serverless.yml and the handlers' client options, failing over the limit.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from './fixtures/handlers/bundle.js';

interface Budget {
  stage: string;
  total: number;
  limit: number;
  ok: boolean;
  unbounded: string[];
  rows: Array<{
    function: string;
    reservedConcurrency?: number;
    managedInstances?: { maxEnvironments?: number; workers: number; maxConcurrency: number };
    maxPoolSize: number;
    monitors: number;
    connections?: number;
  }>;
}

async function budget(...args: string[]): Promise<{ code: number; budget: Budget; text: string }> {
  const run = (extra: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'connection-budget.mjs'), ...args, ...extra], { cwd: ROOT }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
  const [json, text] = await Promise.all([run(['--json']), run([])]);
  return { code: json.code, budget: JSON.parse(json.stdout) as Budget, text: text.stdout };
}

describe('connection budget', () => {
  it('adds up each function of the stage against the smallest Atlas dedicated tier', async () => {
    // Act
    const { code, budget: dev, text } = await budget();

    // Assess
    expect(code).toBe(0);
    expect(dev.rows.map(({ function: name, reservedConcurrency, maxPoolSize, monitors, connections }) => [name, reservedConcurrency, maxPoolSize, monitors, connections])).toEqual([
      ['items', 20, 5, 1, 120],
      ['transfer', 10, 2, 1, 30],
      ['health', 2, 1, 1, 4],
      ['stockConsumer', 5, 2, 1, 15],
    ]);
    expect(dev).toMatchObject({ stage: 'dev', total: 169, limit: 1500, ok: true });
    expect(text).toContain('OK: 169 ≤ 1500');
  });

  it('fails when a stage exceeds the limit, naming the fix', async () => {
    // Act
    const [prod, overLimit] = await Promise.all([budget('--stage', 'prod', '--limit', '300'), budget('--param=itemsConcurrency=400')]);

    // Assess
    expect(prod).toMatchObject({ code: 1, budget: { total: 379, limit: 300, ok: false } });
    expect(prod.text).toContain('FAIL: 379 connections exceed the limit of 300 per member');
    expect(overLimit).toMatchObject({ code: 1, budget: { total: 2_449, ok: false } });
  });

  it('counts a function on Lambda Managed Instances as environments × workers, each with its own pool and monitor', async () => {
    // Prepare
    const onManagedInstances = '--param=itemsCapacityProviderArn=arn:aws:lambda:us-east-1:123456789012:capacity-provider:items';

    // Act
    const [byDefault, oneWorker] = await Promise.all([budget(onManagedInstances), budget(onManagedInstances, '--param=itemsWorkerCount=1')]);

    // Assess: 512 MB at 2 GiB per vCPU is 1 vCPU, 8 workers by default, 64 ÷ 8 = 8 invocations each, pool 2
    expect(byDefault.budget.rows[0]).toEqual({
      function: 'items',
      managedInstances: { maxEnvironments: 2, workers: 8, maxConcurrency: 64 },
      maxPoolSize: 2,
      maxPoolSizeIsDefault: true,
      monitors: 1,
      connections: 2 * 8 * (2 + 1),
    });
    expect(byDefault).toMatchObject({ code: 0, budget: { total: 48 + 30 + 4 + 15 } });
    expect(byDefault.text).toContain('2 environments × 8 workers (Managed Instances)');
    // one worker (the recommended count: one per vCPU) runs all 64: the pool follows, a socket per 8 of them
    expect(oneWorker.budget.rows[0]).toMatchObject({ managedInstances: { workers: 1 }, maxPoolSize: 8, connections: 2 * 1 * (8 + 1) });
  });
});
