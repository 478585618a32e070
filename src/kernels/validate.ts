/** Argument checks shared by the public API; each failure names the parameter. */
import { SemidArgumentError } from './errors.js';

/** An integer in [min, max]. */
export function expectInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new SemidArgumentError(name, `integer between ${min} and ${max}`, value);
  }
  return value;
}

/** A finite number in [min, max]. */
export function expectNumber(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = min === -Infinity && max === Infinity ? 'finite number' : `number between ${min} and ${max}`;
    throw new SemidArgumentError(name, range, value);
  }
  return value;
}

export function expectBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new SemidArgumentError(name, 'boolean', value);
  return value;
}

export function expectFloat32Array(name: string, value: unknown): Float32Array {
  if (!(value instanceof Float32Array)) throw new SemidArgumentError(name, 'Float32Array', value);
  return value;
}

/** A Float32Array of exactly `length` elements; `shape` describes it for the message. */
export function expectFloat32Length(name: string, value: unknown, length: number, shape: string): Float32Array {
  const arr = expectFloat32Array(name, value);
  if (arr.length !== length) {
    throw new SemidArgumentError(name, `Float32Array of length ${length} (${shape})`, arr);
  }
  return arr;
}

/** A plain options object (or undefined, giving {}). */
export function expectOptions<T extends object>(name: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SemidArgumentError(name, 'options object', value);
  }
  return value as Partial<T>;
}

export function expectSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new SemidArgumentError(name, 'AbortSignal', value);
  return value;
}

/** Thread count: 0 (default: all cores) or a positive integer. */
export function expectThreads(value: unknown): number {
  return value === undefined ? 0 : expectInt('threads', value, 0, 4096);
}
