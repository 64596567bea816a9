/**
 * Opening an invocation: the cached client (connected, and checked after a freeze), then the session and the
 * scope. Every Lambda entry point (the middy middleware, `withMongo`, the HTTP handler, the Vercel adapter) opens
 * its work here.
 */
import type { ClientSession } from 'mongodb';
import { debugWanted, emitSafe } from '../../shared/logging/emit.js';
import type { LambdaContextLike } from '../../shared/lambda-context.js';
import { acquireClient, acquireConnectedClient, logReuse, retireClient } from '../client/cache.js';
import type { ClientLease } from '../client/lease.js';
import { connectAfterRejection, isAuthenticationFailure } from '../client/rotation.js';
import type { ResolvedClientConfig } from '../config/resolve.js';
import { beforeDeadline, raceDeadline, startDeadline, type InvocationDeadline } from './deadline.js';
import { currentConfigOf, fetchConfigOf, resolvedConfigOf, type InvocationPlan } from './plan.js';
import { ConnectionError, ErrorCodes } from '../../shared/errors.js';
import { InvocationScope } from './scope.js';
import { sweepExpired } from './sweep.js';
import { checkAfterThaw, thawCheckDue } from './thaw.js';

/**
 * Gets the cached client (checked after a freeze), starts the session (and transaction) of one invocation.
 * Synchronous on the warm path (a connected client, no freeze/thaw turn due, a run-time secret within its maximum
 * age); a promise otherwise.
 * @throws {ConfigurationError} missing or malformed URI
 * @throws {ConnectionError} the client could not connect, or the run-time secret could not be fetched
 */
export function openInvocation(plan: InvocationPlan, lambdaContext: LambdaContextLike | undefined, event?: unknown): InvocationScope | Promise<InvocationScope> {
  if (plan.open.size > 0) sweepExpired(plan.open);
  const config = currentConfigOf(plan, event, lambdaContext);
  const deadline = startDeadline(lambdaContext, plan.deadlineMarginMs);
  if (!config) return openAfterFetch(plan, deadline, lambdaContext);
  const lease = acquireConnectedClient(config);
  if (lease && !thawCheckDue(plan.thaw, lease)) {
    const debug = debugWanted(config.logger);
    if (debug) logReuse(config);
    return startScope(plan, config, lease, deadline, lambdaContext, debug);
  }
  return openAfterWaiting(plan, config, lease, deadline, lambdaContext);
}

/** {@link openInvocation} when the run-time secret has to be fetched first (within the invocation's deadline). */
async function openAfterFetch(plan: InvocationPlan, deadline: InvocationDeadline, lambdaContext: LambdaContextLike | undefined): Promise<InvocationScope> {
  let config: ResolvedClientConfig;
  try {
    config = await fetchWithin(plan, deadline);
  } catch (error) {
    deadline.dispose();
    throw error;
  }
  return openAfterWaiting(plan, config, acquireConnectedClient(config), deadline, lambdaContext);
}

/** The plan's configuration with its secret fetched, unless the deadline comes first; a replaced value's client is retired. */
async function fetchWithin(plan: InvocationPlan, deadline: InvocationDeadline): Promise<ResolvedClientConfig> {
  const { signal } = deadline;
  const fetching = fetchConfigOf(plan, signal);
  const won = await raceDeadline(fetching, signal);
  if (!won) {
    fetching.catch(() => undefined);
    throw new ConnectionError(
      ErrorCodes.DEADLINE_EXCEEDED,
      `The invocation deadline came before the MongoDB connection secret from ${plan.secret?.description ?? 'the `uri` option'} was fetched; the next invocation tries again (raise the function timeout)`,
      { cause: signal.reason },
    );
  }
  const { config, replaced } = won.value;
  if (replaced) retireClient(replaced);
  return config;
}

/**
 * {@link openInvocation} when it has to wait: for a connect, or for the freeze/thaw check. When MongoDB refuses the
 * credentials of a run-time secret (at the connect or at the rebuild after a freeze), the secret is fetched again
 * and the connect tried once more with it.
 */
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
    try {
      lease = connected ?? (await beforeDeadline(acquireClient(config), deadline.signal, config));
      if (thawCheckDue(plan.thaw, lease)) lease = await checkAfterThaw(lease, config, plan.thaw, deadline);
    } catch (error) {
      const source = plan.secret;
      if (!source || !isAuthenticationFailure(error)) throw error;
      const rotated = await connectAfterRejection(config, error, source, (fetched) => resolvedConfigOf(plan, fetched), deadline.signal);
      config = rotated.config;
      lease = rotated.lease;
    }
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
  return new InvocationScope(config, lease, session, deadline, requestId, plan.open, debug, plan.interruptAtDeadline, plan.sessionGuard ? plan.transaction !== false : undefined);
}

/**
 * Starts connecting the plan's client now (the init phase) when `prefetch` is on. Never throws: a configuration
 * error surfaces at the first invocation, a connect failure is logged and not cached.
 */
export function prefetchClient(plan: InvocationPlan): void {
  if (!plan.prefetch) return;
  if (plan.secret) {
    // The secret first (a failure is logged as secret.fetch.failed and nothing is kept), then the connect.
    fetchConfigOf(plan).then(
      ({ config }) => acquireClient(config).then((lease) => lease.release()),
      () => undefined,
    ).catch(() => undefined);
    return;
  }
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
