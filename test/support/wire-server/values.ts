/**
 * Small helpers for BSON values held in memory (deserialized with promoteValues).
 */
import { Binary, EJSON, type Document } from 'bson';

export function isPlainObject(value: unknown): value is Document {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Deep copy of plain objects, arrays and Dates. BSON value classes (ObjectId,
 * Binary, Long, Decimal128, Timestamp, RegExp, ...) are treated as immutable
 * and shared, which keeps them intact for serialization and comparison.
 */
export function cloneValue<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => cloneValue(v)) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (isPlainObject(value)) {
    const out: Document = {};
    for (const key of Object.keys(value)) out[key] = cloneValue(value[key]);
    return out as T;
  }
  return value;
}

export function cloneDoc(doc: Document): Document {
  return cloneValue(doc);
}

/**
 * Canonical string of a value for equality keys (_id, unique index keys).
 * Canonical Extended JSON distinguishes types but not object identity.
 */
export function valueKey(value: unknown): string {
  if (value === undefined) return 'undefined';
  return EJSON.stringify(value as Document, { relaxed: false });
}

/** Reads a dotted path ("a.b.0.c"); undefined when missing. */
export function getPath(doc: unknown, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split('.')) {
    if (current === null || current === undefined || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Writes a dotted path, creating intermediate plain objects. */
export function setPath(doc: Document, path: string, value: unknown): void {
  const parts = path.split('.');
  let current: Document = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const next: unknown = current[part];
    if (next === null || typeof next !== 'object') {
      const created: Document = {};
      current[part] = created;
      current = created;
    } else {
      current = next as Document;
    }
  }
  current[parts[parts.length - 1] as string] = value;
}

/** lowercase hex of a Binary (e.g. an lsid UUID), no dashes. */
export function binaryHex(value: unknown): string | undefined {
  if (value instanceof Binary) return Buffer.from(value.value()).toString('hex');
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return undefined;
}

/** Bytes of a Binary / Uint8Array payload (SASL payloads). */
export function binaryBytes(value: unknown): Buffer | undefined {
  if (value instanceof Binary) return Buffer.from(value.value());
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return undefined;
}

/** A JS number from a number/Long-like value (cursor ids, txnNumber), or undefined. */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && 'toNumber' in value && typeof value.toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return undefined;
}

export function truthy(value: unknown): boolean {
  return value === true || (typeof value === 'number' && value !== 0);
}
