import { emit } from '../../shared/logging/emit.js';
import type { InvocationScope } from './scope.js';

/**
 * Safety net for scopes whose `after`/`onError` never ran (a middleware placed after `mongo()` answered early,
 * so middy skipped every `after`): the next invocation ends the sessions of those whose time is up. No timer:
 * the warm path stays free of one.
 */
export function sweepExpired(open: Set<InvocationScope>): void {
  for (const scope of open) {
    if (!scope.deadline.expired()) continue;
    emit(scope.config.logger, 'warn', 'cleanup.failed', 'An invocation ended without after/onError running: ending its MongoDB session now (is a middleware after mongo() returning early?)', { requestId: scope.requestId }, scope.config.secrets);
    void scope.finish('error');
  }
}

