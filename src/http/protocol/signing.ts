/**
 * Request signing for the HTTP way in (`serverless-mongodb/http` signs, `serverless-mongodb/http-handler`
 * verifies): an HMAC-SHA256 with a shared secret over the method, the path with its query, the SHA-256 of
 * the body, a timestamp and a nonce. Web Crypto only, so the same code runs in Node.js, workerd
 * (Cloudflare Workers), Deno, Vercel Edge and browsers.
 *
 * The string to sign, lines joined with `\n`:
 *
 * ```text
 * SMDB1-HMAC-SHA256
 * <x-smdb-timestamp: Unix seconds>
 * <x-smdb-nonce: 16-128 characters of [A-Za-z0-9_-]>
 * <METHOD, upper case>
 * <path and query exactly as sent, e.g. /shop/items/find?x=1>
 * <SHA-256 of the body bytes, lower-case hex>
 * ```
 *
 * `x-smdb-signature` is the lower-case hex HMAC-SHA256 of that string under the secret.
 */

/** Names of the headers a signed request carries (lower case, as HTTP/2 and Lambda events spell them). */
export const SIGNATURE_HEADERS = {
  /** Unix time in seconds when the request was signed. */
  timestamp: 'x-smdb-timestamp',
  /** A random value used once: a second request with the same nonce inside the window is a replay. */
  nonce: 'x-smdb-nonce',
  /** Hex HMAC-SHA256 of the string to sign. */
  signature: 'x-smdb-signature',
} as const;

/** The first line of the string to sign; names the scheme and its version. */
export const SIGNING_SCHEME = 'SMDB1-HMAC-SHA256';

export const SIGNING_DEFAULTS = {
  /**
   * A request whose timestamp is further than this from the verifier's clock (either way) is rejected as
   * expired: 5 minutes absorbs clock skew between client and function, and bounds how long the replay
   * cache must remember a nonce.
   */
  replayWindowMs: 300_000,
  /** Secrets shorter than this are refused: an HMAC is only as strong as its key (32 bytes = 256 bits). */
  minSecretLength: 32,
  /**
   * A nonce is kept this long past the end of its request's window, so no clock step (NTP), no late cache check and no
   * verifier with a slightly different clock sharing the cache sees it expire while its request is still accepted.
   */
  replayMarginMs: 60_000,
  /**
   * Nonces a {@link MemoryReplayCache} holds. Each lives for its window plus the margin (6 minutes by default), so
   * one execution environment can accept about 100 000 / 360 s = 277 requests per second, sustained; past that
   * requests are refused (503) until nonces expire, never let through by forgetting a live one. About 15 MB.
   */
  replayCacheEntries: 100_000,
} as const;

/** Why {@link verifyRequest} refused a request. */
export type VerificationFailure = 'UNSIGNED' | 'MALFORMED_SIGNATURE' | 'EXPIRED' | 'BAD_SIGNATURE' | 'REPLAYED' | 'REPLAY_CACHE_FULL';

export type VerificationResult = { ok: true; nonce: string; timestamp: number } | { ok: false; reason: VerificationFailure; message: string };

/** What is signed of a request. */
export interface SignableRequest {
  /** HTTP method, any case (it is upper-cased). */
  method: string;
  /** Path with the query string, exactly as sent on the request line: `/shop/items/find` or `/a/b/c?x=1`. */
  pathWithQuery: string;
  /** The body bytes as sent (a string is UTF-8 encoded). */
  body: Uint8Array | string;
}

/**
 * Remembers the nonces of accepted requests. `remember` must be an atomic check-and-set: it returns `false`
 * when the nonce was already seen (a replay), `true` after storing it until `expiresAtMs`, and `'full'` when it
 * cannot store it without forgetting a live nonce (the request is then refused with 503, not let through).
 * `nowMs` is the verifier's one clock reading for the request: judge expiry by it, not by a later reading.
 */
export interface ReplayCache {
  remember(nonce: string, expiresAtMs: number, nowMs: number): boolean | 'full' | Promise<boolean | 'full'>;
}

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;
const TIMESTAMP_PATTERN = /^\d{1,12}$/;
const encoder = new TextEncoder();

/**
 * Signs a request: returns the headers to add to it.
 *
 * @example
 * ```ts
 * import { signRequest } from 'serverless-mongodb/http';
 *
 * const baseUrl = process.env.MONGODB_HTTP_URL!; // the Function URL, without a trailing slash
 * const secret = process.env.MONGODB_HTTP_SECRET!;
 * const body = JSON.stringify({ filter: { sku: 'A1' } });
 * const headers = await signRequest({ method: 'POST', pathWithQuery: '/shop/items/findOne', body }, secret);
 * await fetch(`${baseUrl}/shop/items/findOne`, { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json' } });
 * ```
 */
export async function signRequest(
  request: SignableRequest,
  secret: string,
  at: { nowMs?: number; nonce?: string } = {},
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor((at.nowMs ?? Date.now()) / 1000));
  const nonce = at.nonce ?? randomNonce();
  const signature = toHex(await hmac(secret, await stringToSign(request, timestamp, nonce)));
  return { [SIGNATURE_HEADERS.timestamp]: timestamp, [SIGNATURE_HEADERS.nonce]: nonce, [SIGNATURE_HEADERS.signature]: signature };
}

/** Options of {@link verifyRequest}. */
export interface VerifyOptions {
  /** The accepted secrets: the current one, and during a rotation the previous one too. */
  secrets: readonly string[];
  /** @default {@link SIGNING_DEFAULTS.replayWindowMs} */
  replayWindowMs?: number;
  /** Where seen nonces are kept; without one, replays inside the window are not detected. */
  replayCache?: ReplayCache;
  /** The verifier's clock, read once per request (the window check and the replay cache both use it). @default Date.now() */
  nowMs?: number;
}

/**
 * Verifies a signed request: headers present and well-formed, timestamp inside the window, HMAC right
 * under one of the secrets (compared in constant time by Web Crypto's `verify`), nonce never seen. The
 * nonce is only remembered once the signature is valid, so unsigned traffic cannot fill the cache.
 * Internal (the handler's; no entry exports it): `(await verifyRequest(request, { secrets, replayCache })).ok`.
 */
export async function verifyRequest(
  request: SignableRequest & { headers: Readonly<Record<string, string | undefined>> },
  options: VerifyOptions,
): Promise<VerificationResult> {
  const header = (name: string): string | undefined => request.headers[name];
  const timestamp = header(SIGNATURE_HEADERS.timestamp);
  const nonce = header(SIGNATURE_HEADERS.nonce);
  const signature = header(SIGNATURE_HEADERS.signature);
  if (timestamp === undefined && nonce === undefined && signature === undefined) {
    return fail('UNSIGNED', `The request is not signed: send the ${SIGNATURE_HEADERS.timestamp}, ${SIGNATURE_HEADERS.nonce} and ${SIGNATURE_HEADERS.signature} headers (serverless-mongodb/http does)`);
  }
  if (timestamp === undefined || nonce === undefined || signature === undefined) {
    const missing = Object.values(SIGNATURE_HEADERS).filter((name) => header(name) === undefined);
    return fail('MALFORMED_SIGNATURE', `The request signature is incomplete: missing ${missing.join(', ')}`);
  }
  if (!TIMESTAMP_PATTERN.test(timestamp)) return fail('MALFORMED_SIGNATURE', `${SIGNATURE_HEADERS.timestamp} must be Unix time in whole seconds`);
  if (!NONCE_PATTERN.test(nonce)) return fail('MALFORMED_SIGNATURE', `${SIGNATURE_HEADERS.nonce} must be 16-128 characters of A-Z, a-z, 0-9, _ and -`);
  if (!SIGNATURE_PATTERN.test(signature)) return fail('MALFORMED_SIGNATURE', `${SIGNATURE_HEADERS.signature} must be 64 lower-case hex characters (HMAC-SHA256)`);

  const windowMs = options.replayWindowMs ?? SIGNING_DEFAULTS.replayWindowMs;
  const nowMs = options.nowMs ?? Date.now();
  const signedAtMs = Number(timestamp) * 1000;
  if (Math.abs(nowMs - signedAtMs) > windowMs) {
    return fail('EXPIRED', `The request was signed ${Math.round((nowMs - signedAtMs) / 1000)} s from the server's clock, outside the ${windowMs / 1000} s window: sign each request just before sending it, and check the clocks`);
  }

  const data = await stringToSign(request, timestamp, nonce);
  const signatureBytes = fromHex(signature);
  let valid = false;
  for (const secret of options.secrets) {
    // Every secret is tried (no early exit), so timing does not reveal which one matched.
    const matches = await crypto.subtle.verify('HMAC', await hmacKey(secret, 'verify'), signatureBytes, data);
    valid ||= matches;
  }
  if (!valid) return fail('BAD_SIGNATURE', 'The request signature does not match: wrong secret, or the method, path, query, body or signature headers changed after signing');

  if (options.replayCache) {
    // Kept past the window's end, judged by the same clock reading as the window check above.
    const remembered = await options.replayCache.remember(nonce, signedAtMs + windowMs + SIGNING_DEFAULTS.replayMarginMs, nowMs);
    if (remembered === 'full') {
      return fail('REPLAY_CACHE_FULL', 'The replay cache is full of nonces that are still inside their window: retry in a few seconds (or use a larger or shared replay cache)');
    }
    if (!remembered) return fail('REPLAYED', `The request was already received (same ${SIGNATURE_HEADERS.nonce}): sign every request anew`);
  }
  return { ok: true, nonce, timestamp: Number(timestamp) };
}

/**
 * A {@link ReplayCache} in memory. It protects one process (one Lambda execution environment): a copy of a
 * request replayed to another environment inside the window is not detected. Entries expire with the window
 * plus a margin; with `maxEntries` (default 100 000, see {@link SIGNING_DEFAULTS.replayCacheEntries}) live nonces,
 * new ones are refused (`'full'`) rather than an old one forgotten.
 *
 * @example
 * ```ts
 * import { createHttpHandler, MemoryReplayCache } from 'serverless-mongodb/http-handler';
 *
 * // A smaller cache than the default 100 000 nonces: past 10 000 live nonces, requests get 503 UNAVAILABLE.
 * export const handler = createHttpHandler({ allow: { shop: ['items'] }, replayCache: new MemoryReplayCache({ maxEntries: 10_000 }) });
 * ```
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  /** `now` is used only when a caller passes no clock reading (verifyRequest always does). */
  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.#maxEntries = options.maxEntries ?? SIGNING_DEFAULTS.replayCacheEntries;
    this.#now = options.now ?? Date.now;
  }

  remember(nonce: string, expiresAtMs: number, nowMs: number = this.#now()): boolean | 'full' {
    this.#prune(nowMs, false);
    const expiry = this.#seen.get(nonce);
    if (expiry !== undefined && expiry > nowMs) return false;
    if (expiry === undefined && this.#seen.size >= this.#maxEntries) {
      // Requests signed ahead of the clock expire later than those behind them: look at every entry before refusing.
      this.#prune(nowMs, true);
      if (this.#seen.size >= this.#maxEntries) return 'full';
    }
    this.#seen.delete(nonce);
    this.#seen.set(nonce, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #prune(now: number, everything: boolean): void {
    // Insertion order is close to expiry order (one window for all): unless asked for everything, stop at the first live entry.
    for (const [nonce, expiry] of this.#seen) {
      if (expiry > now) {
        if (everything) continue;
        break;
      }
      this.#seen.delete(nonce);
    }
  }
}

/** Lower-case hex SHA-256 of the bytes (of the UTF-8 encoding of a string). */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', bytesOf(data)));
}

/** The exact bytes that are signed; exported for other implementations (and their tests). */
export async function stringToSign(request: SignableRequest, timestamp: string, nonce: string): Promise<Uint8Array<ArrayBuffer>> {
  const lines = [SIGNING_SCHEME, timestamp, nonce, request.method.toUpperCase(), request.pathWithQuery, await sha256Hex(request.body)];
  return encoder.encode(lines.join('\n'));
}

function fail(reason: VerificationFailure, message: string): VerificationResult {
  return { ok: false, reason, message };
}

async function hmac(secret: string, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> {
  return crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), data);
}

/** Web Crypto's CryptoKey (named this way so no DOM or node:crypto types are needed). */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const keys = new Map<string, Promise<HmacKey>>();

function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<HmacKey> {
  const cacheKey = `${usage}\u0000${secret}`;
  let key = keys.get(cacheKey);
  if (!key) {
    // A handful of secrets per process at most (current and previous); keep the cache from growing anyway.
    if (keys.size > 16) keys.clear();
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
    keys.set(cacheKey, key);
  }
  return key;
}

function randomNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

function bytesOf(data: Uint8Array | string): Uint8Array<ArrayBuffer> {
  if (typeof data === 'string') return encoder.encode(data);
  // Web Crypto wants an ArrayBuffer-backed view; copy views of shared or foreign buffers.
  return data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : new Uint8Array(data);
}

function toHex(data: ArrayBuffer | Uint8Array): string {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
