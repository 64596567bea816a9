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

/** The deadline of one invocation. */
export interface InvocationDeadline {
  /** Fires `deadlineMarginMs` before the invocation's remaining time runs out; never, without a Lambda context. */
  readonly signal: AbortSignal;
  /** Milliseconds until the signal fires (Infinity without a Lambda context). */
  remainingMs(): number;
  /** Whether the invocation's time is up: past the signal's moment plus the margin. */
  expired(): boolean;
  /** Clears the timer, if one was made (the invocation is over). */
  dispose(): void;
}

const NEVER = new AbortController().signal;

/** Starts the deadline from the Lambda context's remaining time. Any timer is unref'd. */
export function startDeadline(getRemainingTimeInMillis: (() => number) | undefined, marginMs: number): InvocationDeadline {
  const remaining = typeof getRemainingTimeInMillis === 'function' ? getRemainingTimeInMillis() : Number.NaN;
  if (!Number.isFinite(remaining)) {
    return { signal: NEVER, remainingMs: () => Number.POSITIVE_INFINITY, expired: () => false, dispose: () => undefined };
  }
  const firesAt = Date.now() + Math.max(0, remaining - marginMs);
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const abort = () => controller?.abort(new DOMException(`The invocation is ${marginMs} ms from its Lambda timeout`, 'TimeoutError'));
  return {
    get signal(): AbortSignal {
      if (!controller) {
        controller = new AbortController();
        const wait = firesAt - Date.now();
        if (wait <= 0) abort();
        else {
          timer = setTimeout(abort, wait);
          timer.unref();
        }
      }
      return controller.signal;
    },
    remainingMs: () => Math.max(0, firesAt - Date.now()),
    expired: () => Date.now() >= firesAt + marginMs,
    dispose: () => clearTimeout(timer),
  };
}
