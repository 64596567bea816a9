/**
 * Interrupting at the deadline: an operation the handler gave no `{ signal }` (a write, or a read without one) is
 * bounded by the invocation's deadline all the same. When the deadline comes with the invocation still open, the
 * server is asked to interrupt what runs in the invocation's session (`killSessions`): the operation fails with
 * 11601 Interrupted, the handler's error path runs, the session is ended. Lambda Managed Instances reports a
 * function timeout but never stops the invocation, so without this a hung operation would hold its slot for ever.
 *
 * One timer for the module scope (a worker thread under Managed Instances), unref'd and armed for the earliest
 * deadline among the open invocations: an invocation only re-arms it when its deadline comes first, so back-to-back
 * invocations (each deadline later than the last) make no timer of their own; the timer fires late or at a thaw,
 * finds nothing due, and re-arms for the earliest deadline still open.
 *
 * A deadline less than {@link DUE_WITHIN_MS} away counts as come: a timer may fire a millisecond before `Date.now()`
 * reaches its time, and invocations that arrived together (a burst) are interrupted together, their sessions in one
 * `killSessions` when it goes on the side channel (src/core/client/side-channel.ts).
 */

/** How close a deadline may be and count as come when the timer fires (see above). */
export const DUE_WITHIN_MS = 5;

/** What the deadline timer needs of an open invocation. */
export interface Interruptible {
  /** Milliseconds until the invocation's deadline (Infinity without a Lambda context). */
  remainingMs(): number;
  /** The deadline came with the invocation still open. */
  interrupt(): void;
}

const watched = new Set<Interruptible>();
let timer: NodeJS.Timeout | undefined;
/** `Date.now()` at which the timer fires; Infinity when none is armed. */
let armedFor = Number.POSITIVE_INFINITY;

/** Watches an open invocation's deadline until {@link unwatchDeadline}. Without a deadline it is not watched. */
export function watchDeadline(invocation: Interruptible): void {
  const remaining = invocation.remainingMs();
  if (remaining === Number.POSITIVE_INFINITY) return;
  watched.add(invocation);
  const due = Date.now() + remaining;
  if (due < armedFor) arm(due);
}

/** The invocation is over: its deadline no longer matters (the armed timer stays, and finds nothing due). */
export function unwatchDeadline(invocation: Interruptible): void {
  watched.delete(invocation);
}

function arm(due: number): void {
  if (timer !== undefined) clearTimeout(timer);
  armedFor = due;
  timer = setTimeout(fire, Math.max(0, due - Date.now()));
  timer.unref();
}

function fire(): void {
  timer = undefined;
  armedFor = Number.POSITIVE_INFINITY;
  let next = Number.POSITIVE_INFINITY;
  // Asked again, not remembered: the Lambda context counts down to the invocation's own deadline.
  for (const invocation of [...watched]) {
    const remaining = invocation.remainingMs();
    if (remaining >= DUE_WITHIN_MS) {
      next = Math.min(next, Date.now() + remaining);
      continue;
    }
    watched.delete(invocation);
    invocation.interrupt();
  }
  if (next !== Number.POSITIVE_INFINITY) arm(next);
}
