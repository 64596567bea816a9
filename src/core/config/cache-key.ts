/**
 * The cache key of a client configuration: equal options give one key, so they share one client. Plain data
 * compares by value, binary data (a CA bundle read with `readFileSync` per call) by content; functions and other
 * class instances by identity (pass the same `checkServerIdentity` or `lookup` each time).
 */
import { createHash } from 'node:crypto';

const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;

/** A stable string for an options value. */
export function stableKey(value: unknown): string {
  if (typeof value === 'function') return `#fn${identity(value)}`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  if (Array.isArray(value)) return `[${value.map(stableKey).join(',')}]`;
  if (ArrayBuffer.isView(value)) return `#${value.constructor.name}:${digest(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))}`;
  if (value instanceof ArrayBuffer) return `#ArrayBuffer:${digest(new Uint8Array(value))}`;
  if (value instanceof Date) return `#date:${value.getTime()}`;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return `#obj${identity(value)}`;
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stableKey((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

/** SHA-256 of the bytes: a key of fixed size whatever the size of the bundle. */
function digest(bytes: Uint8Array): string {
  return `${bytes.byteLength}:${createHash('sha256').update(bytes).digest('base64')}`;
}

function identity(value: object): number {
  let id = objectIds.get(value);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(value, id);
  }
  return id;
}
