import type { LoggerLike } from '../../src/shared/logging/emit.js';

export interface CapturedRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>;
}

/** A LoggerLike that keeps every record, as the JSON line a structured logger would print. */
export class CaptureLogger implements LoggerLike {
  readonly records: CapturedRecord[] = [];
  /** Called with each record as it is logged (to look at the world at that moment). */
  onRecord: ((record: CapturedRecord) => void) | undefined;

  debug(message: string, attributes: Record<string, unknown>): void {
    this.#keep({ level: 'debug', message, attributes });
  }
  info(message: string, attributes: Record<string, unknown>): void {
    this.#keep({ level: 'info', message, attributes });
  }
  warn(message: string, attributes: Record<string, unknown>): void {
    this.#keep({ level: 'warn', message, attributes });
  }
  error(message: string, attributes: Record<string, unknown>): void {
    this.#keep({ level: 'error', message, attributes });
  }

  #keep(record: CapturedRecord): void {
    this.records.push(record);
    this.onRecord?.(record);
  }

  /** The `mongodb.event` of every record, in order. */
  events(): string[] {
    return this.records.map((record) => String((record.attributes.mongodb as { event?: unknown } | undefined)?.event));
  }

  /** Records with the given `mongodb.event`. */
  withEvent(event: string): CapturedRecord[] {
    return this.records.filter((record) => (record.attributes.mongodb as { event?: unknown } | undefined)?.event === event);
  }

  /** Every record serialized as one JSON line. */
  lines(): string[] {
    return this.records.map((record) => JSON.stringify({ level: record.level, message: record.message, ...record.attributes }));
  }
}

/** Everything an error exposes as text: message, stack, and the same of each cause. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', JSON.stringify(current, Object.getOwnPropertyNames(current)));
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join('\n');
}
