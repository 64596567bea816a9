/**
 * The invocation deadline: an AbortSignal that fires a safety margin before Lambda would stop the invocation,
 * so driver calls given `{ signal }` fail cleanly (and the function can still answer) instead of being killed.
 *
 * The signal and its timer are made on first use: an invocation that never reads `context.mongo.signal` (and
 * needs no connect or probe) pays for neither. Measured under the Lambda runtime client, a pending timer
 * alone added ~15 µs to an invocation's two round trips.
 */

import { ConnectionError, ErrorCodes } from '../../shared/errors.js';
import type { LambdaContextLike } from '../../shared/lambda-context.js';
import type { ClientLease } from '../client/lease.js';
import type { ResolvedClientConfig } from '../config/resolve.js';

export const DEADLINE_DEFAULTS = {
  /**
   * How long before `context.getRemainingTimeInMillis()` runs out the signal fires: time to abort the
   * operation, end the session and return an error response.
   */
  deadlineMarginMs: 500,
} as const;

const NEVER = new AbortController().signal;

/**
 * The deadline of one invocation. Create it with {@link startDeadline}. Nothing is computed until it is read: the
 * Lambda context's `getRemainingTimeInMillis()` counts down to the invocation's fixed deadline, so asking it late
 * gives the same moment. A class rather than closures: one is made per warm invocation.
 */
export class InvocationDeadline {
  readonly #source: LambdaContextLike | undefined;
  readonly #marginMs: number;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: LambdaContextLike | undefined, marginMs: number) {
    this.#source = source;
    this.#marginMs = marginMs;
  }

  /** Fires `deadlineMarginMs` before the invocation's remaining time runs out; never, without a Lambda context. */
  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const wait = this.remainingMs();
    if (wait === Number.POSITIVE_INFINITY) return NEVER;
    const controller = new AbortController();
    this.#controller = controller;
    if (wait <= 0) this.#abort();
    else {
      this.#timer = setTimeout(() => this.#abort(), wait);
      this.#timer.unref();
    }
    return controller.signal;
  }

  /** How long before the Lambda timeout the deadline is. */
  get marginMs(): number {
    return this.#marginMs;
  }

  /** Milliseconds until the signal fires (Infinity without a Lambda context). */
  remainingMs(): number {
    return Math.max(0, this.untilTimeoutMs() - this.#marginMs);
  }

  /** Whether the invocation's time is up (its Lambda timeout has passed). */
  expired(): boolean {
    return this.untilTimeoutMs() <= 0;
  }

  /**
   * Fires the signal now, if it was made and has not fired (the deadline timer interrupts the invocation up to a
   * few milliseconds early, with others of its burst: the signal must not come after the server's 11601).
   */
  fireNow(): void {
    if (!this.#controller || this.#controller.signal.aborted) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort();
  }

  /** Clears the timer, if one was made (the invocation is over). */
  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Milliseconds until the Lambda timeout (not the deadline: no margin), Infinity without a usable context. */
  untilTimeoutMs(): number {
    const source = this.#source;
    const remaining = typeof source?.getRemainingTimeInMillis === 'function' ? source.getRemainingTimeInMillis() : Number.NaN;
    return Number.isFinite(remaining) ? remaining : Number.POSITIVE_INFINITY;
  }

  #abort(): void {
    this.#controller?.abort(new DOMException(`The invocation is ${this.#marginMs} ms from its Lambda timeout`, 'TimeoutError'));
  }
}

/**
 * The deadline of an invocation, `marginMs` before its Lambda timeout. Any timer is unref'd.
 * @param source the Lambda context; without one the deadline never comes
 */
export function startDeadline(source: LambdaContextLike | undefined, marginMs: number): InvocationDeadline {
  return new InvocationDeadline(source, marginMs);
}

/**
 * Waits for a connect, but not past the invocation deadline: then the invocation fails with time left to
 * answer, while the connect goes on for the next invocation (a lease obtained late is released).
 */
export async function beforeDeadline(connecting: Promise<ClientLease>, signal: AbortSignal, config: ResolvedClientConfig): Promise<ClientLease> {
  const won = await raceDeadline(connecting, signal);
  if (won) return won.value;
  connecting.then((late) => late.release(), () => undefined);
  throw new ConnectionError(
    ErrorCodes.DEADLINE_EXCEEDED,
    `The invocation deadline came before the MongoDB client at ${config.redactedUri} was connected; the connect goes on for the next invocation (raise the function timeout or lower serverSelectionTimeoutMS)`,
    { cause: signal.reason, secrets: config.secrets },
  );
}

/**
 * Waits for `work` unless the signal fires first: `{ value }` when the work won, `undefined` when the deadline
 * did (the work goes on; a rejection of it then is the caller's to handle or ignore).
 */
export async function raceDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<{ value: T } | undefined> {
  let onAbort: (() => void) | undefined;
  const deadlinePassed = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    else {
      onAbort = () => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), deadlinePassed]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
