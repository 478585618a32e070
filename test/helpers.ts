/** Deterministic test data. */

import type { StepFn } from '../src/index.js';

/** mulberry32: a small seeded PRNG returning floats in [0, 1) (the library's own). */
export { mulberry32 as rng } from '../src/data/random.js';
import { mulberry32 as rng } from '../src/data/random.js';

/** Uniform floats in [-1, 1). */
export function randomFloats(count: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = r() * 2 - 1;
  return out;
}

/** Small integers in [-4, 4]: every product and partial sum is exact in float32, so results
 * must match the reference bit for bit (ties included, which then go to the lower index). */
export function randomInts(count: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(r() * 9) - 4;
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A deterministic "model": pseudo-random logits as a function of (query, prefix, token). */
export function hashModel(vocab: number, seed: number, scale = 4): StepFn {
  return ({ rows, step, tokens, queries }) => {
    const out = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; ++r) {
      let h = (seed * 2654435761 + queries[r] * 40503) >>> 0;
      for (let i = 0; i < step; ++i) h = Math.imul(h ^ (tokens[r * step + i] + 0x9e3779b9), 2246822519) >>> 0;
      const g = rng(h);
      for (let t = 0; t < vocab; ++t) out[r * vocab + t] = (g() * 2 - 1) * scale;
    }
    return out;
  };
}

/** A .npy with a hand-written header (to test what NumPy writes that we do not). */
export function rawNpy(descr: string, shape: string, body: Uint8Array, fortran = false, major = 1): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  const lenBytes = major === 1 ? 2 : 4;
  header += ' '.repeat((64 - ((8 + lenBytes + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(8 + lenBytes);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(pre);
  if (major === 1) pre.writeUInt16LE(header.length, 8); else pre.writeUInt32LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(body)]);
}
