/**
 * `context.mongoose`: what a handler gets for one invocation: the connection (bound to the cached client), the
 * invocation's session, the deadline signal, and a database per tenant on the same pool.
 */
import type { ClientSession, Connection } from 'mongoose';
import { validateDbName } from '../../core/config/schema.js';
import type { InvocationDeadline } from '../../core/invocation/deadline.js';
import { ConfigurationError, ErrorCodes } from '../../shared/errors.js';

/** What a handler gets as `context.mongoose`. */
export interface MongooseContext {
  /** The connection its models are defined on, bound to this invocation's client. */
  connection: Connection;
  /**
   * The invocation's session: pass it to model operations (`{ session }`) under the middy middleware; with
   * `withMongoose()` operations without `session` use it by themselves (mongoose's AsyncLocalStorage).
   * With `transaction: true` it is in the invocation's transaction.
   */
  session: ClientSession;
  /** Fires `deadlineMarginMs` before the Lambda timeout: pass it to long operations (`{ signal }`). */
  signal: AbortSignal;
  /**
   * One pool, a database per tenant: `connection.useDb(name, { useCache: true })`, made once per name. Models are
   * per connection: register them on it (`db.models.Item ?? db.model('Item', schema)`).
   * @throws {ConfigurationError} an invalid database name
   */
  useDb(name: string): Connection;
  /** With `withMongoose()` and `transaction: true`: which run of the handler this is (mongoose retries transient transaction errors). */
  attempt: number;
}

/** `context.mongoose` when `session: false`. */
export interface MongooseContextWithoutSession extends Omit<MongooseContext, 'session'> {
  session: undefined;
}

export class InvocationMongoose implements MongooseContext {
  readonly #deadline: InvocationDeadline;

  constructor(
    readonly connection: Connection,
    readonly session: ClientSession,
    deadline: InvocationDeadline,
    readonly attempt = 1,
  ) {
    this.#deadline = deadline;
  }

  get signal(): AbortSignal {
    return this.#deadline.signal;
  }

  useDb(name: string): Connection {
    if (typeof name !== 'string') throw new ConfigurationError(ErrorCodes.INVALID_OPTION, `useDb() takes a database name (a string), got ${typeof name}`, { option: 'useDb' });
    validateDbName(name, 'useDb()', 'useDb');
    return this.connection.useDb(name, { useCache: true });
  }
}
