/**
 * Fused ops for transformer training: RMS norm, gated activations and dropout, forward and backward each
 * one native pass over host memory (on the wasm and cpu backends with the addon), instead of the
 * 6-12 tfjs ops and their broadcast gradients. Elsewhere they fall back to plain tfjs ops with the
 * same results (within float32 rounding).
 */
import * as tf from '@tensorflow/tfjs-core';
import { tryLoadAddon } from '../../native/loader.js';
import { hostKind, hostOutput, hostView } from './host-memory.js';

const RMS = 'SemidRmsNorm';
const RMS_GRAD = 'SemidRmsNormGrad';
const GATED = 'SemidGated';
const GATED_GRAD = 'SemidGatedGrad';
const DROPOUT = 'SemidDropout';
const CROSS_ENTROPY = 'SemidCrossEntropy';
const CROSS_ENTROPY_GRAD = 'SemidCrossEntropyGrad';
const ACTS = { gelu: 0, relu: 1 } as const;

/** The kernels registerFusedKernels may register, for restoreStockKernels. */
export const FUSED_KERNELS = [RMS, RMS_GRAD, GATED, GATED_GRAD, DROPOUT, CROSS_ENTROPY, CROSS_ENTROPY_GRAD];

type Info = tf.TensorInfo;

/**
 * Register the fused kernels for a host backend ('wasm' or 'cpu'); false when the addon lacks them.
 * @example registerFusedKernels('wasm') // true when the native addon has the fused kernels
 */
export function registerFusedKernels(backendName: string): boolean {
  const addon = tryLoadAddon();
  if (!addon || typeof addon.rmsNormForwardSync !== 'function') return false;
  const reg = (kernelName: string, kernelFunc: tf.KernelFunc) => replaceKernel(kernelName, backendName, kernelFunc);
  reg(RMS, ({ inputs, backend, attrs }) => {
    const { x, w } = inputs as { x: Info; w: Info };
    const d = x.shape[x.shape.length - 1];
    const rows = x.shape.reduce((a, b) => a * b, 1) / d;
    const y = hostOutput(backend, x.shape, 'float32');
    const rstd = hostOutput(backend, [rows], 'float32');
    addon.rmsNormForwardSync({
      x: hostView(backend, x) as Float32Array, w: hostView(backend, w) as Float32Array, y: hostView(backend, y) as Float32Array,
      rstd: hostView(backend, rstd) as Float32Array, rows, d, eps: (attrs as { eps: number }).eps,
    });
    return [y, rstd];
  });
  reg(RMS_GRAD, ({ inputs, backend }) => {
    const { dy, x, w, rstd } = inputs as { dy: Info; x: Info; w: Info; rstd: Info };
    const d = x.shape[x.shape.length - 1];
    const rows = x.shape.reduce((a, b) => a * b, 1) / d;
    const dx = hostOutput(backend, x.shape, 'float32');
    const dw = hostOutput(backend, [d], 'float32');
    addon.rmsNormBackwardSync({
      dy: hostView(backend, dy) as Float32Array, x: hostView(backend, x) as Float32Array, w: hostView(backend, w) as Float32Array,
      rstd: hostView(backend, rstd) as Float32Array, dx: hostView(backend, dx) as Float32Array, dw: hostView(backend, dw) as Float32Array, rows, d,
    });
    return [dx, dw];
  });
  reg(GATED, ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: Info; b: Info };
    const out = hostOutput(backend, a.shape, 'float32');
    addon.gatedForwardSync({
      a: hostView(backend, a) as Float32Array, b: hostView(backend, b) as Float32Array, out: hostView(backend, out) as Float32Array,
      n: out.shape.reduce((p, q) => p * q, 1), act: (attrs as { act: 0 | 1 }).act,
    });
    return out;
  });
  reg(GATED_GRAD, ({ inputs, backend, attrs }) => {
    const { dy, a, b } = inputs as { dy: Info; a: Info; b: Info };
    const da = hostOutput(backend, a.shape, 'float32');
    const db = hostOutput(backend, a.shape, 'float32');
    addon.gatedBackwardSync({
      dy: hostView(backend, dy) as Float32Array, a: hostView(backend, a) as Float32Array, b: hostView(backend, b) as Float32Array,
      da: hostView(backend, da) as Float32Array, db: hostView(backend, db) as Float32Array, n: a.shape.reduce((p, q) => p * q, 1),
      act: (attrs as { act: 0 | 1 }).act,
    });
    return [da, db];
  });
  if (typeof addon.dropoutSync === 'function') {
    reg(DROPOUT, ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: Info };
      const y = hostOutput(backend, x.shape, 'float32');
      const { rate, key } = attrs as { rate: number; key: number };
      addon.dropoutSync({ x: hostView(backend, x) as Float32Array, y: hostView(backend, y) as Float32Array, n: x.shape.reduce((p, q) => p * q, 1), rate, key });
      return y;
    });
  }
  if (typeof addon.crossEntropyForwardSync === 'function') {
    // outputs first, views after: an allocation can grow the wasm memory, which detaches older views.
    // attrs.count: the rows whose label is kept (>= 0), counted once by fusedCrossEntropy
    reg(CROSS_ENTROPY, ({ inputs, backend, attrs }) => {
      const { logits, labels } = inputs as { logits: Info; labels: Info };
      const { count } = attrs as { count: number };
      const [n, v] = logits.shape;
      const lse = hostOutput(backend, [n], 'float32');
      const loss = hostOutput(backend, [], 'float32');
      const sum = addon.crossEntropyForwardSync({
        logits: hostView(backend, logits) as Float32Array, labels: hostView(backend, labels) as Int32Array, lse: hostView(backend, lse) as Float32Array, n, v,
      });
      (hostView(backend, loss) as Float32Array)[0] = count > 0 ? sum / count : 0;
      return [loss, lse];
    });
    reg(CROSS_ENTROPY_GRAD, ({ inputs, backend, attrs }) => {
      const { dy, logits, lse, labels } = inputs as { dy: Info; logits: Info; lse: Info; labels: Info };
      const { count } = attrs as { count: number };
      const [n, v] = logits.shape;
      const dlogits = hostOutput(backend, logits.shape, 'float32');
      addon.crossEntropyBackwardSync({
        logits: hostView(backend, logits) as Float32Array, lse: hostView(backend, lse) as Float32Array, labels: hostView(backend, labels) as Int32Array,
        dlogits: hostView(backend, dlogits) as Float32Array, n, v, scale: count > 0 ? (hostView(backend, dy) as Float32Array)[0] / count : 0,
      });
      return dlogits;
    });
  }
  return true;
}

/**
 * Register kernelFunc as `kernelName` on a backend, replacing an earlier registration.
 * @example replaceKernel('SemidDropout', 'wasm', kernelFunc)
 */
export function replaceKernel(kernelName: string, backendName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}

/**
 * Whether `kernel` (one of ours) runs on the current backend: a host backend it is registered on.
 * @example fusedAvailable('SemidDropout') // true on wasm with the addon
 */
export function fusedAvailable(kernel: string): boolean {
  return hostKind(tf.backend()) !== null && tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/**
 * T5's RMS norm over the last axis: x * rsqrt(mean(x²) + eps) * w.
 * @example const y = rmsNorm(x, weight, 1e-6);
 */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  if (!fusedAvailable(RMS)) {
    return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w));
  }
  const f = tf.customGrad(((xi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, rstd] = tf.engine().runKernel(RMS, { x: xi, w: wi }, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    save([xi, wi, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sr] = saved;
        return tf.engine().runKernel(RMS_GRAD, { dy, x: sx, w: sw, rstd: sr }, {}) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, w);
}

/**
 * gelu_new (the tanh approximation), in tfjs ops.
 * @example geluNew(tf.tensor1d([0, 1])).dataSync() // Float32Array [0, 0.8412]
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  // 0.5·x·(1 + tanh(z)) = x·sigmoid(2z), z = sqrt(2/π)·(x + 0.044715·x³); x³ as products (tf.pow and its gradient are slow)
  const c = 2 * Math.sqrt(2 / Math.PI);
  return tf.mul(x, tf.sigmoid(tf.mul(x, tf.add(c, tf.mul(c * 0.044715, tf.mul(x, x))))));
}

/**
 * act(a) · b, the gated feed-forward of T5 v1.1 (act = gelu_new) or gated-relu.
 * @example const h = gatedActivation(xW0, xW1, 'gelu');
 */
export function gatedActivation(a: tf.Tensor, b: tf.Tensor, act: 'gelu' | 'relu'): tf.Tensor {
  if (!fusedAvailable(GATED)) return tf.tidy(() => tf.mul(act === 'gelu' ? geluNew(a) : tf.relu(a), b));
  const code = ACTS[act];
  const f = tf.customGrad(((ai: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([ai, bi]);
    return {
      value: tf.engine().runKernel(GATED, { a: ai, b: bi }, { act: code } as unknown as tf.NamedAttrMap) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(GATED_GRAD, { dy, a: saved[0], b: saved[1] }, { act: code } as unknown as tf.NamedAttrMap) as tf.Tensor[],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(a, b);
}

/**
 * The dropout mask's hash (lowbias32 of index XOR key), as native/include/semid/fused.h has it:
 * element `index` of a mask with `key` is kept when `dropoutHash(index, key) >>> 8` is at least
 * round(rate · 2^24).
 * @example dropoutHash(0, 42) >>> 8 >= Math.round(0.1 * 2 ** 24) // whether element 0 is kept at rate 0.1
 */
export function dropoutHash(index: number, key: number): number {
  let h = (index ^ key) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The mask of dropoutHash as a tensor of 0 and 1 / (1 - rate), in JavaScript (no native addon). */
function dropoutMask(shape: number[], rate: number, key: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const threshold = Math.round(rate * 2 ** 24);
  const scale = Math.fround(1 / (1 - rate));
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = dropoutHash(i, key) >>> 8 >= threshold ? scale : 0;
  return tf.tensor(mask, shape, 'float32');
}

/**
 * Inverted dropout with a counter-based mask: element i of x is kept when its hash under `key`
 * (an integer in [0, 2^32)) clears the rate, and scaled by 1 / (1 - rate). One native pass forward
 * and one backward (the gradient is the same mask on dy, recomputed from the key, never stored);
 * the same mask in JavaScript where the native kernel is missing.
 * @example const y = fusedDropout(x, 0.1, 12345);
 */
export function fusedDropout(x: tf.Tensor, rate: number, key: number): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${rate}`);
  if (rate === 0) return x;
  const k = key >>> 0;
  if (!fusedAvailable(DROPOUT) || x.dtype !== 'float32') return tf.tidy(() => tf.mul(x, dropoutMask(x.shape, rate, k)));
  const attrs = { rate, key: k } as unknown as tf.NamedAttrMap;
  const f = tf.customGrad(((xi: tf.Tensor) => ({
    value: tf.engine().runKernel(DROPOUT, { x: xi }, attrs) as tf.Tensor,
    gradFunc: (dy: tf.Tensor) => tf.engine().runKernel(DROPOUT, { x: dy }, attrs) as tf.Tensor,
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x);
}

/**
 * Mean softmax cross-entropy of logits [n, vocab] against labels [n] (-1 is ignored) in one
 * native pass (row log-sum-exps kept for the backward pass, which writes softmax - onehot
 * straight into the gradient), or undefined where the native kernel is missing. The labels stay
 * a JavaScript array: each pass makes its own tensor of them, so none outlives its scope.
 * @example const loss = fusedCrossEntropy(logits, Int32Array.of(3, -1, 7)); // mean over the two kept rows
 */
export function fusedCrossEntropy(logits: tf.Tensor, labels: Int32Array): tf.Scalar | undefined {
  if (!fusedAvailable(CROSS_ENTROPY) || logits.dtype !== 'float32' || logits.rank !== 2) return undefined;
  if (labels.length !== logits.shape[0]) throw new RangeError(`fusedCrossEntropy: ${labels.length} labels for ${logits.shape[0]} rows`);
  let count = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) count++;
  const attrs = { count } as unknown as tf.NamedAttrMap;
  const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const [loss, lse] = tf.engine().runKernel(CROSS_ENTROPY, { logits: x, labels: tf.tensor1d(labels, 'int32') }, attrs) as tf.Tensor[];
    save([x, lse]);
    return {
      value: loss,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(CROSS_ENTROPY_GRAD, { dy, logits: saved[0], lse: saved[1], labels: tf.tensor1d(labels, 'int32') }, attrs) as tf.Tensor,
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(logits) as tf.Scalar;
}
