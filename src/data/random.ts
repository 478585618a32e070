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
