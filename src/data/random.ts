/** Seeded randomness for the data stages: small, fast and the same on every platform. */

/**
 * A mulberry32 generator: returns floats in [0, 1) from a 32-bit seed.
 * @example const rand = mulberry32(42); rand(); // 0.6011037519201636
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle in place with `rand`. @example shuffleInPlace([1, 2, 3], mulberry32(1)) */
export function shuffleInPlace<T extends { length: number; [i: number]: any }>(a: T, rand: () => number): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** A 32-bit hash of a seed and a string/number key, for per-item streams independent of order. */
export function hashSeed(seed: number, key: string | number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  const s = String(key);
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * `m` distinct indices of [0, n), chosen uniformly with `rand` and returned ascending (selection
 * sampling, Knuth's Algorithm S: one pass, no memory beyond the result).
 * @example sampleSorted(10, 3, mulberry32(1)) // e.g. Int32Array [2, 5, 9]
 */
export function sampleSorted(n: number, m: number, rand: () => number): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31) throw new RangeError(`sampleSorted: n must be an integer in [0, 2^31], got ${n}`);
  if (!Number.isInteger(m) || m < 0 || m > n) throw new RangeError(`sampleSorted: m must be an integer in [0, ${n}], got ${m}`);
  const out = new Int32Array(m);
  for (let i = 0, taken = 0; taken < m; i++) {
    if ((n - i) * rand() < m - taken) out[taken++] = i;
  }
  return out;
}
