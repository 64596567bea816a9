/**
 * `closeClientOnLocalInvoke()`: lets `serverless invoke local` exit. On Lambda the cached client is meant to
 * outlive the invocation (the container is frozen, the next invocation reuses it). `invoke local` runs the
 * handler once in its own process, which would then stay up as long as the client's sockets are open. The
 * framework sets `IS_LOCAL=true` there; only then does this close the client after the invocation.
 *
 * Place it before `mongo()` in the `.use()` chain, so that it runs after `mongo()` ended the session.
 */
import type { MiddlewareObj } from '@middy/core';
import { closeMongoClient } from 'serverless-mongodb';

/** Whether the handler runs under `serverless invoke local`. */
export function isLocalInvoke(): boolean {
  return process.env.IS_LOCAL === 'true';
}

/** The middleware; a no-op on Lambda. */
export function closeClientOnLocalInvoke(): MiddlewareObj {
  const closeClientOnLocalInvokeAfter = async (): Promise<void> => {
    if (isLocalInvoke()) await closeMongoClient();
  };
  return { after: closeClientOnLocalInvokeAfter, onError: closeClientOnLocalInvokeAfter };
}
