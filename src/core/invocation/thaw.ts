/**
 * Freeze/thaw: Lambda freezes the process between invocations, for milliseconds or hours. While it is frozen,
 * the server, a NAT gateway or a PrivateLink endpoint may close (FIN), reset (RST) or silently drop its
 * sockets, and the first command after the thaw fails (EPIPE, ECONNRESET) or hangs. Before the handler runs:
 *
 * 1. After a gap of `settleAfterMs` (10 ms) or more, the event loop passes its I/O phase once (two `setImmediate`
 *    turns): FIN/RST events delivered while the process was frozen are processed, so the driver discards those
 *    sockets instead of writing into them.
 * 2. After a gap of `probeAfterMs` or more, a `ping` with a `probeTimeoutMs` deadline checks the connection. A
 *    socket that fails fast (FIN, RST) is discarded by the driver and the ping is tried once more on a new one; a
 *    ping that times out (a silent peer: every old socket, the monitor's included, is suspect) or fails twice gets
 *    the client rebuilt. Hot functions (gaps below `probeAfterMs`) pay no round trip.
 */
import type { MongoClient } from 'mongodb';
import { describeError, emit } from '../../shared/logging/emit.js';
import { rebuildClient } from '../client/cache.js';
import type { ClientLease } from '../client/lease.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { beforeDeadline, type InvocationDeadline } from './deadline.js';

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
  /** How long the probe `ping` may take before the connection counts as dead (a healthy one answers in one round trip). */
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
   * Deadline of the probe `ping` (ms). Also bounded by the invocation's own deadline.
   * @default 500
   */
  probeTimeoutMs?: number;
}

export type ThawPlan = Required<ThawOptions> | false;

/** What a probe concluded: the connection is fine, or the client must be rebuilt. */
export type ProbeVerdict = 'healthy' | 'rebuild';

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
 * Pings the server with a short deadline. A fast failure (a socket closed or reset during the freeze, which the
 * driver then discards) earns one more ping on a fresh socket; a timeout, or a second failure, means rebuild.
 */
export async function probeConnection(
  client: MongoClient,
  config: ResolvedClientConfig,
  timeoutMs: number,
  deadline: AbortSignal | undefined,
  gapMs: number,
): Promise<ProbeVerdict> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = deadline ? AbortSignal.any([timeout, deadline]) : timeout;
    const startedAt = performance.now();
    try {
      await client.db('admin').command({ ping: 1 }, { signal });
      emit(config.logger, 'debug', 'thaw.probe', 'The connection answered after the gap', { gapMs, attempt, probeMs: Math.round(performance.now() - startedAt) }, config.secrets);
      return 'healthy';
    } catch (error) {
      const timedOut = timeout.aborted;
      emit(config.logger, 'warn', 'thaw.probe.failed', timedOut ? 'The connection did not answer after the gap' : 'The connection failed after the gap', {
        gapMs,
        attempt,
        timedOut,
        probeMs: Math.round(performance.now() - startedAt),
        error: describeError(error, config.secrets),
      }, config.secrets);
      // No time left: let the handler run and meet the deadline itself rather than spend it on a rebuild.
      if (deadline?.aborted) return 'healthy';
      if (timedOut) return 'rebuild';
    }
  }
  return 'rebuild';
}

/**
 * Whether the freeze/thaw check is due: thaw handling on, a client this invocation did not just create, idle for
 * `thaw.settleAfterMs` or more. The one place that decides it, for the warm path and after a wait alike.
 */
export function thawCheckDue(thaw: ThawPlan, lease: ClientLease): thaw is Required<ThawOptions> {
  return thaw !== false && !lease.cold && lease.idleMs >= thaw.settleAfterMs;
}

/**
 * Settles socket events from the freeze, then probes after a long gap; returns the lease to use. The deadline's
 * signal (an AbortController and a timer) is made only for a probe.
 */
export async function checkAfterThaw(lease: ClientLease, config: ResolvedClientConfig, thaw: Required<ThawOptions>, deadline: InvocationDeadline): Promise<ClientLease> {
  await settleAfterThaw();
  if (lease.idleMs < thaw.probeAfterMs) return lease;
  const verdict = await probeConnection(lease.client, config, thaw.probeTimeoutMs, deadline.signal, lease.idleMs);
  return verdict === 'healthy' ? lease : beforeDeadline(rebuildClient(config, lease), deadline.signal, config);
}

