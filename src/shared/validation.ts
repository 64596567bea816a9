/**
 * Small validators shared by every public entry point: unknown keys and wrong types become a
 * {@link ConfigurationError} that names the option and says what was expected.
 */
import { ConfigurationError, ErrorCodes } from './errors.js';

export type ExpectedType = 'string' | 'boolean' | 'object' | 'function' | 'non-negative integer' | 'logger';

/** Describes a value for an error message without echoing it (a value may be a secret). */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isInteger(value)) return `a non-integer number`;
  if (typeof value === 'number' && value < 0) return 'a negative number';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function matchesType(value: unknown, expected: ExpectedType): boolean {
  switch (expected) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return isPlainObject(value);
    case 'function':
      return typeof value === 'function';
    case 'non-negative integer':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0;
    case 'logger':
      return (
        value !== null &&
        typeof value === 'object' &&
        ['debug', 'info', 'warn', 'error'].every((method) => typeof (value as Record<string, unknown>)[method] === 'function')
      );
  }
}

/** Throws unless `value` (when defined) has the expected type; `where` names the options object, e.g. `mongo()`. */
export function expectOption(where: string, option: string, value: unknown, expected: ExpectedType | readonly ExpectedType[]): void {
  if (value === undefined) return;
  const accepted = typeof expected === 'string' ? [expected] : expected;
  if (accepted.some((type) => matchesType(value, type))) return;
  const wanted = accepted
    .map((type) => (type === 'logger' ? 'a logger (an object with debug, info, warn and error methods, e.g. a Powertools Logger)' : type === 'object' ? 'a plain object' : `a ${type}`))
    .join(' or ');
  throw new ConfigurationError(
    ErrorCodes.INVALID_OPTION,
    `Option \`${option}\` of ${where} must be ${wanted}, got ${describeType(value)}`,
    { option },
  );
}

/**
 * Throws on the first key of `options` that is not in `known`, naming it and suggesting the closest
 * known key (or `hint(key)` when that explains better, e.g. "this is a MongoClient option").
 */
export function rejectUnknownKeys(
  where: string,
  options: Record<string, unknown>,
  known: readonly string[],
  hint?: (key: string) => string | undefined,
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const close = closestKey(key, known);
    const advice = hint?.(key) ?? (close ? `did you mean \`${close}\`?` : `known options are ${known.map((k) => `\`${k}\``).join(', ')}`);
    throw new ConfigurationError(ErrorCodes.UNKNOWN_OPTION, `Unknown option \`${key}\` passed to ${where}: ${advice}`, {
      option: key,
    });
  }
}

/** Throws unless `options` is undefined or a plain object. */
export function expectOptionsObject(where: string, options: unknown): asserts options is Record<string, unknown> | undefined {
  if (options === undefined || isPlainObject(options)) return;
  throw new ConfigurationError(
    ErrorCodes.INVALID_OPTION,
    `The options of ${where} must be a plain object, got ${describeType(options)}`,
  );
}

/** The known key within two edits of `key` (case-insensitive), if there is one. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
