/**
 * Freeze/thaw: Lambda freezes the process between invocations, for milliseconds or hours. While it is frozen,
 * the server, a NAT gateway or a PrivateLink endpoint may close (FIN), reset (RST) or silently drop its
 * sockets, and the first command after the thaw fails (EPIPE, ECONNRESET) or hangs. Before the handler runs:
 *
 * 1. After a gap of `settleAfterMs` (10 ms) or more, the event loop passes its I/O phase once (two `setImmediate`
 *    turns): FIN/RST events delivered while the process was frozen are processed, so the driver discards those
 *    sockets instead of writing into them.
 * 2. After a gap of `probeAfterMs` or more, a `ping` checks the connection. Its deadline is `probeTimeoutMs`
 *    plus the round trips the ping costs on this link: one over a pooled connection, the whole handshake (TCP,
 *    TLS, hello, authentication, the ping) from the moment it opens a new one, each at the round-trip time the
 *    driver's monitor measured. A socket that fails fast (FIN, RST) is discarded by the driver and the ping is tried once
 *    more; a ping that times out (a silent peer: every old socket, the monitor's included, is suspect) or fails
 *    twice gets the client rebuilt. Hot functions (gaps below `probeAfterMs`) pay no round trip.
 *
 * One check per client: invocations that start while a check of their client runs (several delivered at once
 * after a freeze, as on Vercel Fluid or Lambda Managed Instances) wait for its verdict instead of sending their
 * first command to a socket that lived through the freeze; after a rebuild they all move to the new client.
 * While they wait the probe's `ping` takes the connection the pool used last (its idle connections are used
 * last in, first out), an old one whenever there is one, so a healthy fresh socket never vouches for old ones.
 */
import type { MongoClient } from 'mongodb';
import { describeError, emit } from '../../shared/logging/emit.js';
import { rebuildClient } from '../client/cache.js';
import type { ClientLease, ClientVerdict } from '../client/lease.js';
import type { LinkWatch } from '../client/link.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { ConnectionError, ErrorCodes } from '../../shared/errors.js';
import { beforeDeadline, raceDeadline, type InvocationDeadline } from './deadline.js';

export const THAW_DEFAULTS = {
  /**
   * A gap since the previous invocation of at least this long gets the event loop turn that handles socket
   * events from the freeze. A process idle for less cannot have been frozen long enough for a peer to act on
   * it; skipping the turn keeps back-to-back invocations free of it (it costs tens of µs under the runtime).
   */
  settleAfterMs: 10,
  /**
   * A gap since the previous invocation of at least this long gets a `ping` before the handler runs. Lambda
   * freezes the process after every invocation, so the gap is how long it may have been frozen; back-to-back
   * invocations stay below it and pay nothing.
   */
  probeAfterMs: 1_000,
  /**
   * How long the probe `ping` may take, beyond the round trips it costs on this link, before the connection
   * counts as dead (a healthy one answers in one round trip).
   */
  probeTimeoutMs: 500,
} as const;

/** Options of the freeze/thaw handling, under `thaw` in `mongo()` and `withMongo()`. */
export interface ThawOptions {
  /**
   * Gap since the previous invocation (ms) after which the event loop handles pending socket events first.
   * @default 10
   */
  settleAfterMs?: number;
  /**
   * Gap since the previous invocation (ms) after which a probe runs before the handler; `Infinity` disables probing.
   * @default 1000
   */
  probeAfterMs?: number;
  /**
   * Deadline of the probe `ping` (ms) beyond the round trips it costs on this link (the monitor's round-trip
   * time, times 1 over a pooled connection or times the handshake's round trips over a new one). Also bounded
   * by the invocation's own deadline.
   * @default 500
   */
  probeTimeoutMs?: number;
}

export type ThawPlan = Required<ThawOptions> | false;

/** What a probe concluded: the connection is fine, or the client must be rebuilt. */
export type ProbeVerdict = ClientVerdict;

/**
 * Lets the event loop pass its I/O poll phase once, so socket events that arrived during a freeze (FIN, RST)
 * are handled and the driver discards those sockets instead of writing into them. Two `setImmediate` turns:
 * the first runs in the current check phase, the second only after the loop has polled for I/O and passed its
 * close phase. Measured under the Lambda runtime client with a FIN during a 3 s freeze: no turn failed 16/16
 * ("This socket has been ended by the other party"), one `setImmediate` hung (the command went to a socket
 * destroyed but not yet closed), two turns and `setTimeout(0)` failed 0. Over TLS: no turn 16/16, two turns
 * 0/80. Two turns cost tens of microseconds where a timer costs a millisecond. Looking at the sockets instead
 * of turning the loop is not enough: an RST from the freeze was at times (about 2 % of runs) read only after
 * the invocation had started.
 *
 * The failures come from the driver (mongodb 7.9): `Connection.writeCommand` writes into a socket Node.js has
 * already ended or destroyed and lets the raw socket error out (not retryable), or waits for a `drain` that
 * never comes. With that write path fixed, retryable reads and writes recover by themselves (0/192 failures
 * without the turn); a command the driver does not retry (a transaction's first) would still need the turn:
 * docs/upstream-driver-write-after-close.md.
 */
export async function settleAfterThaw(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The probe's deadline (ms), from the round trips the ping costs on this link at the round-trip time the
 * driver's monitor measured, plus `probeTimeoutMs`: one round trip over a pooled connection; when the ping has to
 * open a new connection, the deadline is moved, from that moment, to the handshake's round trips (TCP, TLS,
 * hello, authentication) and the ping's. On loopback both are about `probeTimeoutMs`; on a 250 ms link without
 * TLS or authentication: 750 ms over a pooled connection, 1,250 ms from the start of a new one.
 */
export function probeDeadlineMs(probeTimeoutMs: number, roundTrips: number, roundTripMs: number): number {
  return probeTimeoutMs + Math.ceil(roundTrips * roundTripMs);
}

/**
 * A probe's own deadline: an AbortController held by its timer (an AbortSignal.timeout() that only
 * AbortSignal.any() refers to can be garbage-collected and never fire on Node.js 20), moved once when the ping
 * opens a new connection.
 */
class ProbeDeadline {
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout;
  #ms: number;

  constructor(ms: number) {
    this.#ms = ms;
    this.#timer = this.#arm(ms);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get timedOut(): boolean {
    return this.#controller.signal.aborted;
  }

  /** The deadline in ms, as last set (counted from the start, or from the new connection). */
  get ms(): number {
    return this.#ms;
  }

  /** Counts `ms` again from now. */
  restart(ms: number): void {
    clearTimeout(this.#timer);
    this.#ms = ms;
    this.#timer = this.#arm(ms);
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }

  #arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.#controller.abort(new DOMException(`The probe ping took more than ${ms} ms`, 'TimeoutError')), ms);
    timer.unref();
    return timer;
  }
}

/**
 * Pings the server with a deadline fitted to the link. A fast failure (a socket closed or reset during the
 * freeze, which the driver then discards) earns one more ping; a timeout, or a second failure, means rebuild.
 */
export async function probeConnection(
  client: MongoClient,
  config: ResolvedClientConfig,
  timeoutMs: number,
  deadline: AbortSignal | undefined,
  gapMs: number,
  link: LinkWatch,
): Promise<ProbeVerdict> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const probe = new ProbeDeadline(probeDeadlineMs(timeoutMs, 1, link.roundTripMs));
    let newConnection = false;
    const onConnectionCreated = () => {
      newConnection = true;
      probe.restart(probeDeadlineMs(timeoutMs, link.newConnectionRoundTrips, link.roundTripMs));
    };
    client.on('connectionCreated', onConnectionCreated);
    const signal = deadline ? AbortSignal.any([probe.signal, deadline]) : probe.signal;
    const startedAt = performance.now();
    try {
      await client.db('admin').command({ ping: 1 }, { signal });
      const probeMs = performance.now() - startedAt;
      if (!newConnection) link.sample(probeMs);
      emit(config.logger, 'debug', 'thaw.probe', 'The connection answered after the gap', { gapMs, attempt, probeMs: Math.round(probeMs), probeTimeoutMs: probe.ms, newConnection }, config.secrets);
      return 'healthy';
    } catch (error) {
      const timedOut = probe.timedOut;
      emit(config.logger, 'warn', 'thaw.probe.failed', timedOut ? 'The connection did not answer after the gap' : 'The connection failed after the gap', {
        gapMs,
        attempt,
        timedOut,
        probeMs: Math.round(performance.now() - startedAt),
        probeTimeoutMs: probe.ms,
        newConnection,
        error: describeError(error, config.secrets),
      }, config.secrets);
      // No time left: let the handler run and meet the deadline itself rather than spend it on a rebuild.
      if (deadline?.aborted) return 'healthy';
      if (timedOut) return 'rebuild';
    } finally {
      client.off('connectionCreated', onConnectionCreated);
      probe.dispose();
    }
  }
  return 'rebuild';
}

/**
 * Whether the freeze/thaw check is due: thaw handling on, a client this invocation did not just create, and
 * either idle for `thaw.settleAfterMs` or more, or under a check another invocation is running. The one place
 * that decides it, for the warm path and after a wait alike.
 */
export function thawCheckDue(thaw: ThawPlan, lease: ClientLease): thaw is Required<ThawOptions> {
  return thaw !== false && !lease.cold && (lease.pendingCheck !== undefined || lease.idleMs >= thaw.settleAfterMs);
}

/**
 * The freeze/thaw check of the lease's client, run once for every invocation that needs it: the first runs it
 * (the settle turn, then the probe after a long gap), the others wait for its verdict, within their own deadline.
 * Returns the lease to use: the same one, or one on the rebuilt client.
 * @throws {ConnectionError} DEADLINE_EXCEEDED: the invocation's deadline came while it waited for another's check
 */
export async function checkAfterThaw(lease: ClientLease, config: ResolvedClientConfig, thaw: Required<ThawOptions>, deadline: InvocationDeadline): Promise<ClientLease> {
  let verdict: ClientVerdict;
  if (lease.pendingCheck) {
    const settled = await raceDeadline(lease.pendingCheck, deadline.signal);
    if (!settled) {
      lease.release();
      throw new ConnectionError(
        ErrorCodes.DEADLINE_EXCEEDED,
        `The invocation deadline came while another invocation checked the MongoDB client at ${config.redactedUri} after a freeze (raise the function timeout)`,
        { cause: deadline.signal.reason, secrets: config.secrets },
      );
    }
    verdict = settled.value;
  } else {
    verdict = await lease.shareCheck(() => runCheck(lease, config, thaw, deadline));
  }
  // Every invocation that held the stale client asks for the rebuild; the cache rebuilds it once.
  return verdict === 'healthy' ? lease : beforeDeadline(rebuildClient(config, lease), deadline.signal, config);
}

/** Settles socket events from the freeze, then probes after a long gap. The deadline's signal is made only for a probe. */
async function runCheck(lease: ClientLease, config: ResolvedClientConfig, thaw: Required<ThawOptions>, deadline: InvocationDeadline): Promise<ClientVerdict> {
  await settleAfterThaw();
  if (lease.idleMs < thaw.probeAfterMs) return 'healthy';
  return probeConnection(lease.client, config, thaw.probeTimeoutMs, deadline.signal, lease.idleMs, lease.link);
}
