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

/**
 * A plain options object (or undefined, giving {}). With `known`, a key outside it is an error
 * naming it and the nearest known key: a misspelt option (`topK` for `topk`) would otherwise be
 * ignored without a word and its default used.
 */
export function expectOptions<T extends object>(name: string, value: unknown, known?: readonly string[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SemidArgumentError(name, 'options object', value);
  }
  if (known) {
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const near = nearestKey(key, known);
      throw new SemidArgumentError(`${name}.${key}`, `an option name among ${known.join(', ')}${near ? ` (did you mean ${near}?)` : ''}`,
        (value as Record<string, unknown>)[key]);
    }
  }
  return value as Partial<T>;
}

/** The known key a misspelt one most likely meant: the same but for case, else within two edits. */
function nearestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestDistance) { best = k; bestDistance = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

type MissingKeys<T, K extends readonly string[]> = Exclude<keyof T & string, K[number]>;

/**
 * The option names of T as a list checked at compile time: a key T has and the list misses is a
 * type error, so the list cannot fall behind the interface.
 * @example const GEMM_OPTIONS = optionKeys<GemmOptions>()(['m', 'n', 'k', ...]);
 */
export function optionKeys<T>() {
  return <const K extends readonly (keyof T & string)[]>(keys: K & ([MissingKeys<T, K>] extends [never] ? unknown : { missing: MissingKeys<T, K> })): readonly string[] => keys;
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
