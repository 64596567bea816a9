// Request signing (src/signing.ts): what is covered by the HMAC, the replay window and the replay cache.
import { createHmac, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryReplayCache, SIGNATURE_HEADERS, signRequest, verifyRequest, type SignableRequest } from '../src/http/protocol/signing.js';

const SECRET = 'k'.repeat(32) + '-current';
const OLD_SECRET = 'o'.repeat(32) + '-previous';
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const REQUEST: SignableRequest = { method: 'POST', pathWithQuery: '/shop/items/find', body: '{"filter":{"sku":"A1"}}' };

async function signed(request: SignableRequest = REQUEST, secret = SECRET, nowMs = NOW) {
  return { ...request, headers: await signRequest(request, secret, { nowMs }) };
}

describe('signRequest / verifyRequest', () => {
  it('signs the documented string with HMAC-SHA256, so any implementation can produce it', async () => {
    // Prepare
    const nonce = 'n0nce-0123456789abcdef';

    // Act
    const headers = await signRequest(REQUEST, SECRET, { nowMs: NOW, nonce });

    // Assess
    const bodyHash = createHash('sha256').update(String(REQUEST.body)).digest('hex');
    const expected = createHmac('sha256', SECRET).update(['SMDB1-HMAC-SHA256', String(NOW / 1000), nonce, 'POST', '/shop/items/find', bodyHash].join('\n')).digest('hex');
    expect(headers).toEqual({ 'x-smdb-timestamp': String(NOW / 1000), 'x-smdb-nonce': nonce, 'x-smdb-signature': expected });
  });

  it('accepts a request signed with the secret, and a fresh nonce every time', async () => {
    // Prepare
    const first = await signed();
    const second = await signed();

    // Act
    const result = await verifyRequest(first, { secrets: [SECRET], nowMs: NOW });

    // Assess
    expect(result).toEqual({ ok: true, nonce: first.headers['x-smdb-nonce'], timestamp: NOW / 1000 });
    expect(second.headers['x-smdb-nonce']).not.toBe(first.headers['x-smdb-nonce']);
  });

  it.each([
    ['the method', { method: 'PUT' }],
    ['the path', { pathWithQuery: '/shop/orders/find' }],
    ['the query', { pathWithQuery: '/shop/items/find?x=1' }],
    ['the body', { body: '{"filter":{"sku":"B2"}}' }],
  ])('refuses a request whose %s changed after signing', async (_what, change) => {
    // Prepare
    const request = await signed();

    // Act
    const result = await verifyRequest({ ...request, ...change }, { secrets: [SECRET], nowMs: NOW });

    // Assess
    expect(result).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
  });

  it('refuses a wrong secret, and accepts the previous one during a rotation', async () => {
    // Prepare
    const withOld = await signed(REQUEST, OLD_SECRET);

    // Act
    const before = await verifyRequest(withOld, { secrets: [SECRET], nowMs: NOW });
    const during = await verifyRequest(withOld, { secrets: [SECRET, OLD_SECRET], nowMs: NOW });

    // Assess
    expect(before).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(during).toMatchObject({ ok: true });
  });

  it('refuses timestamps outside the window, in the past and in the future', async () => {
    // Prepare
    const request = await signed();

    // Act
    const late = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW + 300_001 });
    const early = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW - 300_001 });
    const edge = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW + 300_000 });

    // Assess
    expect(late).toMatchObject({ ok: false, reason: 'EXPIRED' });
    expect(early).toMatchObject({ ok: false, reason: 'EXPIRED' });
    expect(edge).toMatchObject({ ok: true });
  });

  it('tells unsigned from incomplete and malformed signatures', async () => {
    // Prepare
    const { headers } = await signed();
    const { [SIGNATURE_HEADERS.nonce]: _nonce, ...withoutNonce } = headers;

    // Act
    const unsigned = await verifyRequest({ ...REQUEST, headers: {} }, { secrets: [SECRET], nowMs: NOW });
    const incomplete = await verifyRequest({ ...REQUEST, headers: withoutNonce }, { secrets: [SECRET], nowMs: NOW });
    const upperCase = await verifyRequest({ ...REQUEST, headers: { ...headers, 'x-smdb-signature': headers['x-smdb-signature']!.toUpperCase() } }, { secrets: [SECRET], nowMs: NOW });
    const shortNonce = await verifyRequest({ ...REQUEST, headers: { ...headers, 'x-smdb-nonce': 'abc' } }, { secrets: [SECRET], nowMs: NOW });
    const isoTime = await verifyRequest({ ...REQUEST, headers: { ...headers, 'x-smdb-timestamp': new Date(NOW).toISOString() } }, { secrets: [SECRET], nowMs: NOW });

    // Assess
    expect(unsigned).toMatchObject({ ok: false, reason: 'UNSIGNED' });
    expect(incomplete).toMatchObject({ ok: false, reason: 'MALFORMED_SIGNATURE', message: expect.stringContaining('x-smdb-nonce') });
    for (const result of [upperCase, shortNonce, isoTime]) expect(result).toMatchObject({ ok: false, reason: 'MALFORMED_SIGNATURE' });
  });

  it('refuses a replay inside the window, and remembers only nonces of valid signatures', async () => {
    // Prepare
    const cache = new MemoryReplayCache({ now: () => NOW });
    const request = await signed();
    const forged = { ...request, headers: { ...request.headers, 'x-smdb-nonce': 'forged-nonce-0123456789' } };

    // Act
    const forgedResult = await verifyRequest(forged, { secrets: [SECRET], nowMs: NOW, replayCache: cache });
    const sizeAfterForgery = cache.size;
    const first = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW, replayCache: cache });
    const replay = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW + 1_000, replayCache: cache });

    // Assess
    expect(forgedResult).toMatchObject({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(sizeAfterForgery).toBe(0);
    expect(first).toMatchObject({ ok: true });
    expect(replay).toMatchObject({ ok: false, reason: 'REPLAYED' });
  });
});

describe('replay cache and the clock (issue 15, finding 7)', () => {
  const WINDOW = 300_000;

  it('refuses a second use of a nonce at the very end of the window (now == signedAt + window)', async () => {
    // Prepare: the cache's own clock agrees with the verifier's
    const cache = new MemoryReplayCache({ now: () => NOW + WINDOW });
    const request = await signed();

    // Act
    const first = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW + WINDOW, replayCache: cache });
    const second = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW + WINDOW, replayCache: cache });

    // Assess
    expect(first).toMatchObject({ ok: true });
    expect(second).toMatchObject({ ok: false, reason: 'REPLAYED' });
  });

  it('judges a nonce by the one clock reading the window check used, not by a later one', async () => {
    // Prepare: a cache whose clock is read after long async work (here: far later than the verifier's reading)
    const cache = new MemoryReplayCache({ now: () => NOW + 10 * WINDOW });
    const request = await signed();

    // Act
    const first = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW, replayCache: cache });
    const second = await verifyRequest(request, { secrets: [SECRET], nowMs: NOW, replayCache: cache });

    // Assess
    expect(first).toMatchObject({ ok: true });
    expect(second).toMatchObject({ ok: false, reason: 'REPLAYED' });
  });

  it('refuses new requests while full of live nonces instead of evicting one (whose replay would pass)', async () => {
    // Prepare
    const cache = new MemoryReplayCache({ maxEntries: 2 });
    const [a, b, c] = [await signed(), await signed(), await signed()];
    await verifyRequest(a, { secrets: [SECRET], nowMs: NOW, replayCache: cache });
    await verifyRequest(b, { secrets: [SECRET], nowMs: NOW, replayCache: cache });

    // Act
    const third = await verifyRequest(c, { secrets: [SECRET], nowMs: NOW + 1_000, replayCache: cache });
    const replayOfFirst = await verifyRequest(a, { secrets: [SECRET], nowMs: NOW + 2_000, replayCache: cache });
    // Once the first two are past window + margin, there is room again.
    const later = await signed(REQUEST, SECRET, NOW + WINDOW + 61_000);
    const afterExpiry = await verifyRequest(later, { secrets: [SECRET], nowMs: NOW + WINDOW + 61_000, replayCache: cache });

    // Assess
    expect(third).toMatchObject({ ok: false, reason: 'REPLAY_CACHE_FULL' });
    expect(replayOfFirst).toMatchObject({ ok: false, reason: 'REPLAYED' });
    expect(afterExpiry).toMatchObject({ ok: true });
  });
});

describe('MemoryReplayCache', () => {
  it('forgets nonces once their window is over and keeps at most maxEntries, refusing more while they live', () => {
    // Prepare
    let now = 1_000;
    const cache = new MemoryReplayCache({ maxEntries: 2, now: () => now });

    // Act
    const firstTime = cache.remember('a', 2_000);
    const again = cache.remember('a', 2_000);
    now = 2_001;
    const afterExpiry = cache.remember('a', 3_000);
    cache.remember('b', 3_000);
    cache.remember('c', 3_000);

    // Assess
    expect([firstTime, again, afterExpiry]).toEqual([true, false, true]);
    expect(cache.size).toBe(2);
    expect(cache.remember('c', 3_000)).toBe('full');
    expect(cache.remember('a', 3_000)).toBe(false);
  });
});
