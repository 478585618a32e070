/** Tensor test data and comparisons shared by the fused-kernel tests. */
import * as tf from '@tensorflow/tfjs-core';
import { rng } from './helpers.js';

/** A tensor of `shape` with seeded uniform values in [-scale/2, scale/2). */
export function randomTensor(shape: number[], seed: number, scale = 2): tf.Tensor {
  const r = rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * scale), shape);
}

/** max |a - b| over max |b|: the largest difference relative to the reference's scale. */
export function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 1e-12;
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
  return num / den;
}
