/**
 * Server-side command errors, shaped like mongod's `{ ok: 0, code, codeName, errmsg }` replies.
 */
import type { Document } from 'bson';

/** mongod error code -> codeName, for the codes this server produces or fail points commonly use. */
export const CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'InternalError',
  2: 'BadValue',
  6: 'HostUnreachable',
  7: 'HostNotFound',
  8: 'UnknownError',
  9: 'FailedToParse',
  11: 'UserNotFound',
  13: 'Unauthorized',
  14: 'TypeMismatch',
  17: 'ProtocolError',
  18: 'AuthenticationFailed',
  20: 'IllegalOperation',
  26: 'NamespaceNotFound',
  27: 'IndexNotFound',
  40: 'ConflictingUpdateOperators',
  43: 'CursorNotFound',
  48: 'NamespaceExists',
  50: 'MaxTimeMSExpired',
  59: 'CommandNotFound',
  66: 'ImmutableField',
  72: 'InvalidOptions',
  85: 'IndexOptionsConflict',
  86: 'IndexKeySpecsConflict',
  89: 'NetworkTimeout',
  91: 'ShutdownInProgress',
  112: 'WriteConflict',
  189: 'PrimarySteppedDown',
  225: 'TransactionTooOld',
  244: 'TransactionAborted',
  251: 'NoSuchTransaction',
  256: 'TransactionCommitted',
  262: 'ExceededTimeLimit',
  263: 'OperationNotSupportedInTransaction',
  9001: 'SocketException',
  10107: 'NotWritablePrimary',
  11000: 'DuplicateKey',
  11600: 'InterruptedAtShutdown',
  11602: 'InterruptedDueToReplStateChange',
  13435: 'NotPrimaryNoSecondaryOk',
  13436: 'NotPrimaryOrSecondary',
};

export class CommandError extends Error {
  override name = 'CommandError';
  readonly code: number;
  readonly codeName: string;
  readonly errorLabels: string[] | undefined;
  /** extra top-level fields for the reply (e.g. keyPattern/keyValue for E11000) */
  readonly extra: Document | undefined;

  constructor(code: number, errmsg: string, opts: { codeName?: string; errorLabels?: string[]; extra?: Document } = {}) {
    super(errmsg);
    this.code = code;
    this.codeName = opts.codeName ?? CODE_NAMES[code] ?? 'UnknownError';
    this.errorLabels = opts.errorLabels;
    this.extra = opts.extra;
  }

  toReply(): Document {
    const reply: Document = { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName };
    if (this.errorLabels !== undefined && this.errorLabels.length > 0) reply.errorLabels = this.errorLabels;
    if (this.extra !== undefined) Object.assign(reply, this.extra);
    return reply;
  }

  /** The element of a write reply's `writeErrors` array. */
  toWriteError(index: number): Document {
    return { index, code: this.code, codeName: this.codeName, errmsg: this.message, ...(this.extra ?? {}) };
  }
}

/** Converts anything thrown while executing a command into a CommandError. */
export function toCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // mingo throws plain Errors for invalid operators/expressions: report them as BadValue.
  return new CommandError(2, message);
}

export function badValue(message: string): CommandError {
  return new CommandError(2, message);
}
