/**
 * Small field validators for request bodies. Each returns the typed value or throws a 400
 * `VALIDATION_FAILED` naming the field, so handlers read as a list of their fields.
 */
import { validationFailed } from './http-error.js';

type Fields = Record<string, unknown>;

/** Rejects any key not in `known` (a typo must not be silently dropped). */
export function rejectUnknownFields(body: Fields, known: readonly string[]): void {
  const unknown = Object.keys(body).find((key) => !known.includes(key));
  if (unknown !== undefined) throw validationFailed(unknown, `is not a known field (known: ${known.join(', ')})`);
}

/** A trimmed, non-empty string of at most `maxLength` characters. */
export function requiredString(body: Fields, field: string, maxLength: number): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength) {
    throw validationFailed(field, `must be a non-empty string of at most ${maxLength} characters`);
  }
  return value.trim();
}

/** A finite number in [min, max]; `undefined` when absent. */
export function optionalNumber(body: Fields, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw validationFailed(field, `must be a number from ${min} to ${max}`);
  }
  return value;
}

/** An integer in [min, max]. */
export function requiredInteger(body: Fields, field: string, min: number, max: number): number {
  const value = body[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw validationFailed(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** An array of at most `maxItems` distinct non-empty strings of at most `maxLength` characters; `undefined` when absent. */
export function optionalStringArray(body: Fields, field: string, maxItems: number, maxLength: number): string[] | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length > maxItems ||
    !value.every((item): item is string => typeof item === 'string' && item.trim() !== '' && item.length <= maxLength)
  ) {
    throw validationFailed(field, `must be an array of at most ${maxItems} non-empty strings of at most ${maxLength} characters`);
  }
  return [...new Set(value.map((item) => item.trim()))];
}
