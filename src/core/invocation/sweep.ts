import { emit } from '../../shared/logging/emit.js';
import type { InvocationScope } from './scope.js';

/**
 * Safety net for scopes whose `after`/`onError` never ran (a middleware placed after `mongo()` answered early,
 * so middy skipped every `after`): the next invocation ends the sessions of those whose time is up. No timer:
 * the warm path stays free of one.
 *
 * The scopes are in the order they opened, which is the order of their deadlines (one function, one timeout), so
 * the sweep stops at the first with time left: with many invocations open (Lambda Managed Instances) it asks one
 * scope, not each. A scope whose deadline came before that of an older one is swept once the older one is over;
 * scopes without a deadline (no Lambda context) are passed over.
 */
export function sweepExpired(open: Set<InvocationScope>): void {
  for (const scope of open) {
    const left = scope.deadline.untilTimeoutMs();
    // a scope without a deadline (no Lambda context) never expires: it does not hold up the ones behind it
    if (left === Number.POSITIVE_INFINITY) continue;
    if (left > 0) return;
    emit(scope.config.logger, 'warn', 'cleanup.failed', 'An invocation ended without after/onError running: ending its MongoDB session now (is a middleware after mongo() returning early?)', { requestId: scope.requestId }, scope.config.secrets);
    void scope.finish('error');
  }
}
