/**
 * The gradient of BatchMatMul with broadcast batch dimensions summed back to each input's shape
 * (tfjs's own gradient returns the broadcast shape and fails for a [b, m, k] x [k, n] product).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Sum `g` over the leading axes that `shape` broadcast, then give it `shape`. */
function unbroadcast(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.join(',') === shape.join(',')) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i++) {
    const d = i - lead >= 0 ? shape[i - lead] : 1;
    if (d === 1 && g.shape[i] !== 1) axes.push(i);
  }
  const summed = axes.length ? tf.sum(g, axes, true) : g;
  return tf.reshape(summed, shape);
}

export const batchMatMulGradConfig: tf.GradConfig = {
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const d = dy as tf.Tensor;
    let ga: () => tf.Tensor;
    let gb: () => tf.Tensor;
    if (!transposeA && !transposeB) { ga = () => tf.matMul(d, b, false, true); gb = () => tf.matMul(a, d, true, false); }
    else if (!transposeA && transposeB) { ga = () => tf.matMul(d, b, false, false); gb = () => tf.matMul(d, a, true, false); }
    else if (transposeA && !transposeB) { ga = () => tf.matMul(b, d, false, true); gb = () => tf.matMul(a, d, false, false); }
    else { ga = () => tf.matMul(b, d, true, true); gb = () => tf.matMul(d, a, true, true); }
    return { a: () => unbroadcast(ga(), a.shape), b: () => unbroadcast(gb(), b.shape) };
  },
};
