// The health handler (handlers/health.ts): 200 when the database answers a ping, 503 within a short deadline
// when it does not (nobody listening, or a server that accepts and never answers).
import { describe, expect, it } from 'vitest';
import { useHandlerRig } from './fixtures/handlers/rig.js';
import { httpEvent, parseResponse, type ParsedResponse } from './fixtures/handlers/http-event.js';
import { lambdaContext } from './support/lambda-context.js';

/** The handler's deadlines (1.5 s connect, 1 s ping) plus slack for a slow machine. */
const DEADLINE_MS = 4_000;

describe('health handler', () => {
  const rig = useHandlerRig('app');

  async function check(): Promise<{ response: ParsedResponse; elapsedMs: number }> {
    const started = Date.now();
    const response = parseResponse(await rig.handlers.health(httpEvent('GET /health'), lambdaContext()));
    return { response, elapsedMs: Date.now() - started };
  }

  it('answers 200 with the ping latency when the database answers', async () => {
    // Act
    const { response } = await check();

    // Assess
    expect(response).toMatchObject({ statusCode: 200, body: { status: 'ok', database: { ok: true, latencyMs: expect.any(Number) } } });
    expect(rig.server.commandsNamed('ping').length).toBeGreaterThanOrEqual(1);
  });

  it('answers 503 TIMEOUT within the deadline when the connected server stops answering', async () => {
    // Prepare
    expect((await check()).response.statusCode).toBe(200);
    rig.server.blackhole(true);

    // Act
    const { response, elapsedMs } = await check();

    // Assess
    expect(response).toMatchObject({ statusCode: 503, body: { status: 'unavailable', database: { ok: false, error: 'TIMEOUT' } } });
    expect(elapsedMs).toBeLessThan(DEADLINE_MS);
  });

  it('answers 503 CONNECT_FAILED within the deadline when nobody listens', async () => {
    // Prepare
    process.env.MONGODB_URI = 'mongodb://127.0.0.1:1/';

    // Act
    const { response, elapsedMs } = await check();

    // Assess
    expect(response).toMatchObject({ statusCode: 503, body: { status: 'unavailable', database: { ok: false, error: 'CONNECT_FAILED' } } });
    expect(response.raw).not.toMatch(/127\.0\.0\.1|stack/);
    expect(elapsedMs).toBeLessThan(DEADLINE_MS);
  });
});
