/**
 * The library's errors: one base class and a few subclasses, each with `name` set, a stable `code`
 * and the original error kept as `cause`. Messages say what is wrong and how to fix it, and never
 * contain a password: every message (and the message of the cause) passes through {@link redactText}.
 */
import { redactText } from './logging/redact.js';

/** Stable machine-readable codes, one per failure users may want to branch on. */
export const ErrorCodes = {
  /** No connection string: neither the `uri` option nor `MONGODB_URI` is set. */
  MISSING_URI: 'MISSING_URI',
  /** The connection string cannot be parsed. */
  INVALID_URI: 'INVALID_URI',
  /** An option key this library or the driver does not know. */
  UNKNOWN_OPTION: 'UNKNOWN_OPTION',
  /** An option with a value of the wrong type or out of range. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** No database name could be found for `context.mongo.db`. */
  MISSING_DB_NAME: 'MISSING_DB_NAME',
  /** The client could not connect (server selection failed, auth failed, DNS failed ...). */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** A package the configuration needs is not installed (an AWS SDK client, `@aws-sdk/credential-providers`). */
  MISSING_DEPENDENCY: 'MISSING_DEPENDENCY',
  /** A run-time connection secret holds nothing usable (not JSON while `field` is set, no such field, no connection string). */
  INVALID_SECRET: 'INVALID_SECRET',
  /** The run-time connection secret could not be fetched (Secrets Manager or SSM failed or was unreachable). */
  SECRET_FETCH_FAILED: 'SECRET_FETCH_FAILED',
  /** MongoDB refused the credentials of the run-time connection secret, also after fetching it again. */
  SECRET_REJECTED: 'SECRET_REJECTED',
  /** The invocation's deadline (`context.mongo.signal`) came before the client was connected. */
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  /** Committing the invocation's transaction failed; its writes were not applied. */
  COMMIT_FAILED: 'COMMIT_FAILED',
  /** The session guard refused a write that would have run outside the invocation's transaction. */
  WRITE_OUTSIDE_TRANSACTION: 'WRITE_OUTSIDE_TRANSACTION',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

interface ServerlessMongoErrorOptions {
  cause?: unknown;
  /** Extra strings (passwords, tokens) to scrub from the message and the cause's message. */
  secrets?: readonly string[];
}

/** Base class of every error this library throws. */
export class ServerlessMongoError extends Error {
  override name = 'ServerlessMongoError';
  /** Stable code of the failure, one of {@link ErrorCodes}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: ServerlessMongoErrorOptions = {}) {
    const secrets = options.secrets ?? [];
    scrubCause(options.cause, secrets);
    super(redactText(message, secrets), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Bad configuration: a missing or malformed URI, an unknown option, a value of the wrong type. */
export class ConfigurationError extends ServerlessMongoError {
  override name = 'ConfigurationError';
  /** The option (or environment variable) at fault, when there is one. */
  readonly option: string | undefined;

  constructor(code: ErrorCode, message: string, options: ServerlessMongoErrorOptions & { option?: string } = {}) {
    super(code, message, options);
    this.option = options.option;
  }
}

/** The client could not connect to MongoDB. The failed attempt is not cached: the next call tries again. */
export class ConnectionError extends ServerlessMongoError {
  override name = 'ConnectionError';
}

/** The invocation's transaction could not be committed; it was aborted and its writes are not applied. */
export class TransactionError extends ServerlessMongoError {
  override name = 'TransactionError';
}

const ERROR_NAMES = new Set(['ServerlessMongoError', 'ConfigurationError', 'ConnectionError', 'TransactionError']);

/**
 * Type guard that also works when a bundler duplicated this module (it checks the brand, not only `instanceof`).
 *
 * @example
 * ```ts
 * import { getMongoClient, isServerlessMongoError } from 'serverless-mongodb';
 *
 * try {
 *   await getMongoClient();
 * } catch (error) {
 *   if (isServerlessMongoError(error) && error.code === 'MISSING_URI') console.error('Set MONGODB_URI:', error.message);
 *   else throw error;
 * }
 * ```
 */
export function isServerlessMongoError(error: unknown): error is ServerlessMongoError {
  if (error instanceof ServerlessMongoError) return true;
  return (
    error instanceof Error &&
    ERROR_NAMES.has(error.name) &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

/**
 * Scrubs connection strings and secrets from a cause chain, in place (the objects stay the originals): the message,
 * the stack and every own string property (Node's URL errors keep the whole `input`) of each error down the chain.
 */
function scrubCause(cause: unknown, secrets: readonly string[]): void {
  const seen = new Set<unknown>();
  for (let current = cause, depth = 0; current instanceof Error && !seen.has(current) && depth < 8; current = current.cause, depth++) {
    seen.add(current);
    scrubError(current, secrets);
  }
}

function scrubError(error: Error, secrets: readonly string[]): void {
  for (const key of new Set([...Object.getOwnPropertyNames(error), 'message', 'stack'])) {
    try {
      const value = (error as unknown as Record<string, unknown>)[key];
      if (typeof value !== 'string') continue;
      const redacted = redactText(value, secrets);
      if (redacted !== value) (error as unknown as Record<string, unknown>)[key] = redacted;
    } catch {
      // A frozen or exotic error object: leave it as it is rather than fail the caller.
    }
  }
}
