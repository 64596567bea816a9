// The health handler (handlers/health.ts): 200 when the database answers a ping, 503 within its own short
// deadlines when it does not (nobody listening, or a server that accepts and never answers). The Lambda context
// gives each check far more time than those deadlines: a 503 that arrives before the test's timeout can only
// come from the handler's own deadline, not from the invocation's.
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { useHandlerRig } from './fixtures/handlers/rig.js';
import { httpEvent, parseResponse, type ParsedResponse } from './fixtures/handlers/http-event.js';
import { lambdaContext } from './support/lambda-context.js';

/** What the Lambda context says is left: well past the handler's deadlines (1.5 s connect, 1 s ping) and the test's timeout. */
const INVOCATION_REMAINING_MS = 120_000;
/** Longer than the handler's deadlines, far shorter than the invocation's. */
const TEST_TIMEOUT_MS = 20_000;

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

describe('health handler', () => {
  const rig = useHandlerRig('app');

  async function check(): Promise<ParsedResponse> {
    return parseResponse(await rig.handlers.health(httpEvent('GET /health'), lambdaContext(INVOCATION_REMAINING_MS)));
  }

  it('answers 200 with the ping latency when the database answers', async () => {
    // Act
    const response = await check();

    // Assess
    expect(response).toMatchObject({ statusCode: 200, body: { status: 'ok', database: { ok: true, latencyMs: expect.any(Number) } } });
    expect(rig.server.commandsNamed('ping').length).toBeGreaterThanOrEqual(1);
  });

  it('answers 503 TIMEOUT on its ping deadline when the connected server stops answering, garbage collection or not', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Prepare
    expect((await check()).statusCode).toBe(200);
    rig.server.blackhole(true);
    // On Node.js 20 an AbortSignal.timeout() that only AbortSignal.any() refers to is collected and never fires.
    const collecting = setInterval(collectGarbage, 50);

    // Act
    const response = await check().finally(() => clearInterval(collecting));

    // Assess
    expect(response).toMatchObject({ statusCode: 503, body: { status: 'unavailable', database: { ok: false, error: 'TIMEOUT' } } });
  });

  it('answers 503 CONNECT_FAILED on its connect deadline when nobody listens', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Prepare
    process.env.MONGODB_URI = 'mongodb://127.0.0.1:1/';

    // Act
    const response = await check();

    // Assess
    expect(response).toMatchObject({ statusCode: 503, body: { status: 'unavailable', database: { ok: false, error: 'CONNECT_FAILED' } } });
    expect(response.raw).not.toMatch(/127\.0\.0\.1|stack/);
  });
});
