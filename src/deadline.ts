/**
 * The invocation deadline: an AbortSignal that fires a safety margin before Lambda would stop the invocation,
 * so driver calls given `{ signal }` fail cleanly (and the function can still answer) instead of being killed.
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
  /** Clears the timer (the invocation is over). */
  dispose(): void;
}

/**
 * Starts the deadline from the Lambda context's remaining time. The timer is unref'd: it never keeps the
 * event loop alive.
 */
export function startDeadline(getRemainingTimeInMillis: (() => number) | undefined, marginMs: number): InvocationDeadline {
  const controller = new AbortController();
  const remaining = typeof getRemainingTimeInMillis === 'function' ? getRemainingTimeInMillis() : Number.NaN;
  if (!Number.isFinite(remaining)) {
    return { signal: controller.signal, remainingMs: () => Number.POSITIVE_INFINITY, dispose: () => undefined };
  }
  const firesAt = Date.now() + Math.max(0, remaining - marginMs);
  const timer = setTimeout(() => {
    controller.abort(new DOMException(`The invocation is ${marginMs} ms from its Lambda timeout`, 'TimeoutError'));
  }, Math.max(0, firesAt - Date.now()));
  timer.unref();
  return {
    signal: controller.signal,
    remainingMs: () => Math.max(0, firesAt - Date.now()),
    dispose: () => clearTimeout(timer),
  };
}
