/**
 * The invocation deadline: an AbortSignal that fires a safety margin before Lambda would stop the invocation,
 * so driver calls given `{ signal }` fail cleanly (and the function can still answer) instead of being killed.
 *
 * The signal and its timer are made on first use: an invocation that never reads `context.mongo.signal` (and
 * needs no connect or probe) pays for neither. Measured under the Lambda runtime client, a pending timer
 * alone added ~15 µs to an invocation's two round trips.
 */

export const DEADLINE_DEFAULTS = {
  /**
   * How long before `context.getRemainingTimeInMillis()` runs out the signal fires: time to abort the
   * operation, end the session and return an error response.
   */
  deadlineMarginMs: 500,
} as const;

const NEVER = new AbortController().signal;

/** Where the deadline comes from: the Lambda context, or anything with its `getRemainingTimeInMillis()`. */
export interface DeadlineSource {
  getRemainingTimeInMillis?: () => number;
}

/**
 * The deadline of one invocation. Create it with {@link startDeadline}. Nothing is computed until it is read: the
 * Lambda context's `getRemainingTimeInMillis()` counts down to the invocation's fixed deadline, so asking it late
 * gives the same moment. A class rather than closures: one is made per warm invocation.
 */
export class InvocationDeadline {
  readonly #source: DeadlineSource | undefined;
  readonly #marginMs: number;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: DeadlineSource | undefined, marginMs: number) {
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

  /** Milliseconds until the signal fires (Infinity without a Lambda context). */
  remainingMs(): number {
    return Math.max(0, this.#untilTimeout() - this.#marginMs);
  }

  /** Whether the invocation's time is up (its Lambda timeout has passed). */
  expired(): boolean {
    return this.#untilTimeout() <= 0;
  }

  /** Clears the timer, if one was made (the invocation is over). */
  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Milliseconds until the Lambda timeout, Infinity without a usable context. */
  #untilTimeout(): number {
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
export function startDeadline(source: DeadlineSource | undefined, marginMs: number): InvocationDeadline {
  return new InvocationDeadline(source, marginMs);
}
