/**
 * Opening an invocation: the cached client (connected, and checked after a freeze), then the session and the
 * scope. Every Lambda entry point (the middy middleware, `withMongo`, the HTTP handler, the Vercel adapter) opens
 * its work here.
 */
import type { ClientSession } from 'mongodb';
import { debugWanted, emitSafe } from '../../shared/logging/emit.js';
import type { LambdaContextLike } from '../../shared/lambda-context.js';
import { acquireClient, acquireConnectedClient, logReuse } from '../client/cache.js';
import type { ClientLease } from '../client/lease.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { beforeDeadline, startDeadline, type InvocationDeadline } from './deadline.js';
import { resolvedConfigOf, type InvocationPlan } from './plan.js';
import { InvocationScope } from './scope.js';
import { sweepExpired } from './sweep.js';
import { checkAfterThaw, thawCheckDue } from './thaw.js';

/**
 * Gets the cached client (checked after a freeze), starts the session (and transaction) of one invocation.
 * Synchronous on the warm path (a connected client, no freeze/thaw turn due); a promise otherwise.
 * @throws {ConfigurationError} missing or malformed URI
 * @throws {ConnectionError} the client could not connect
 */
export function openInvocation(plan: InvocationPlan, lambdaContext: LambdaContextLike | undefined, event?: unknown): InvocationScope | Promise<InvocationScope> {
  if (plan.open.size > 0) sweepExpired(plan.open);
  const config = resolvedConfigOf(plan, event, lambdaContext);
  const deadline = startDeadline(lambdaContext, plan.deadlineMarginMs);
  const lease = acquireConnectedClient(config);
  if (lease && !thawCheckDue(plan.thaw, lease)) {
    const debug = debugWanted(config.logger);
    if (debug) logReuse(config);
    return startScope(plan, config, lease, deadline, lambdaContext, debug);
  }
  return openAfterWaiting(plan, config, lease, deadline, lambdaContext);
}

/** {@link openInvocation} when it has to wait: for a connect, or for the freeze/thaw check. */
async function openAfterWaiting(
  plan: InvocationPlan,
  config: ResolvedClientConfig,
  connected: ClientLease | undefined,
  deadline: InvocationDeadline,
  lambdaContext: LambdaContextLike | undefined,
): Promise<InvocationScope> {
  let lease: ClientLease;
  try {
    if (connected) logReuse(config);
    lease = connected ?? (await beforeDeadline(acquireClient(config), deadline.signal, config));
    if (thawCheckDue(plan.thaw, lease)) lease = await checkAfterThaw(lease, config, plan.thaw, deadline);
  } catch (error) {
    deadline.dispose();
    throw error;
  }
  return startScope(plan, config, lease, deadline, lambdaContext, debugWanted(config.logger));
}

/**
 * Starts the session (and transaction) and makes the scope. Should the driver refuse the session options, the
 * lease is released before the error goes up: a lease left held would hide every later gap from the thaw check.
 */
function startScope(
  plan: InvocationPlan,
  config: ResolvedClientConfig,
  lease: ClientLease,
  deadline: InvocationDeadline,
  lambdaContext: LambdaContextLike | undefined,
  debug: boolean,
): InvocationScope {
  const requestId = lambdaContext?.awsRequestId;
  let session: ClientSession | undefined;
  if (plan.session !== false) {
    try {
      session = lease.client.startSession(plan.session);
      if (plan.transaction !== false) session.startTransaction(plan.transaction);
    } catch (error) {
      session?.endSession().catch(() => undefined);
      lease.release();
      deadline.dispose();
      throw error;
    }
    if (debug) emitSafe(config.logger, 'debug', 'session.started', 'Started the invocation session', { requestId, transaction: plan.transaction !== false });
  }
  return new InvocationScope(config, lease, session, deadline, requestId, plan.open, debug, plan.sessionGuard ? plan.transaction !== false : undefined);
}

/**
 * Starts connecting the plan's client now (the init phase) when `prefetch` is on. Never throws: a configuration
 * error surfaces at the first invocation, a connect failure is logged and not cached.
 */
export function prefetchClient(plan: InvocationPlan): void {
  if (!plan.prefetch) return;
  let config: ResolvedClientConfig;
  try {
    config = resolvedConfigOf(plan);
  } catch {
    return;
  }
  acquireClient(config).then(
    (lease) => lease.release(),
    () => undefined,
  );
}
