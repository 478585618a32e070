/**
 * The attention core of a T5 layer as one native kernel forward and one backward (on the wasm and
 * cpu backends with the addon): scores q·kᵀ plus the position bias, the padding mask and the causal
 * mask, softmax, dropout on the probabilities and the product with v, per (batch, head), in the
 * projections' [rows, heads x d_kv] layout. It replaces two transposes of each of q, k, v and the
 * context, two batched products, the bias additions and the softmax with their gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tryLoadAddon } from '../../native/loader.js';
import { hostOutput, hostView } from './host-memory.js';
import { fusedAvailable, replaceKernel } from './fused-ops.js';

const ATTENTION = 'SemidAttention';
const ATTENTION_GRAD = 'SemidAttentionGrad';

type Info = tf.TensorInfo;

interface AttentionAttrs {
  batch: number;
  heads: number;
  lq: number;
  lk: number;
  /** d_kv, the size of one head. */
  dkv: number;
  causal: boolean;
  rate: number;
  key: number;
}

/** The kernels' names, for restoreStockKernels. */
export const ATTENTION_KERNELS = [ATTENTION, ATTENTION_GRAD];

/**
 * Register the attention kernels for a host backend ('wasm' or 'cpu'); false when the addon lacks them.
 * @example registerAttentionKernels('wasm') // true with the native addon
 */
export function registerAttentionKernels(backendName: string): boolean {
  const addon = tryLoadAddon();
  if (!addon || typeof addon.attentionForwardSync !== 'function') return false;
  const reg = (kernelName: string, kernelFunc: tf.KernelFunc) => replaceKernel(kernelName, backendName, kernelFunc);
  // outputs first, views after: an allocation can grow the wasm memory, which detaches older views
  reg(ATTENTION, ({ inputs, backend, attrs }) => {
    const { q, k, v, posBias, keyMask } = inputs as { q: Info; k: Info; v: Info; posBias?: Info; keyMask?: Info };
    const a = attrs as unknown as AttentionAttrs;
    const ctx = hostOutput(backend, q.shape, 'float32');
    const probs = hostOutput(backend, [a.batch, a.heads, a.lq, a.lk], 'float32');
    addon.attentionForwardSync({
      ...a, q: hostView(backend, q), k: hostView(backend, k), v: hostView(backend, v),
      posBias: posBias ? hostView(backend, posBias) : null, keyMask: keyMask ? hostView(backend, keyMask) : null,
      ctx: hostView(backend, ctx), probs: hostView(backend, probs),
    });
    return [ctx, probs];
  });
  reg(ATTENTION_GRAD, ({ inputs, backend, attrs }) => {
    const { dctx, q, k, v, probs, posBias } = inputs as { dctx: Info; q: Info; k: Info; v: Info; probs: Info; posBias?: Info };
    const a = attrs as unknown as AttentionAttrs;
    const dq = hostOutput(backend, q.shape, 'float32');
    const dk = hostOutput(backend, k.shape, 'float32');
    const dv = hostOutput(backend, v.shape, 'float32');
    const dpos = posBias ? hostOutput(backend, posBias.shape, 'float32') : null;
    addon.attentionBackwardSync({
      ...a, q: hostView(backend, q), k: hostView(backend, k), v: hostView(backend, v), dctx: hostView(backend, dctx),
      probs: hostView(backend, probs), dq: hostView(backend, dq), dk: hostView(backend, dk), dv: hostView(backend, dv),
      dpos: dpos ? hostView(backend, dpos) : null,
    });
    return dpos ? [dq, dk, dv, dpos] : [dq, dk, dv];
  });
  return true;
}

/** What is added to the scores q·kᵀ of one attention. */
export interface AttentionBias {
  /** Relative position bias [heads, lq, lk] (differentiable), or none. */
  position?: tf.Tensor;
  /** [batch x lk]: 0 masks a key (adds -1e9), or none. */
  keyMask?: Int32Array;
  /** Key j > query i adds -1e9. */
  causal?: boolean;
}

export interface FusedAttentionOptions {
  batch: number;
  heads: number;
  lq: number;
  lk: number;
  dk: number;
  bias: AttentionBias;
  /** Dropout on the probabilities: rate in [0, 1) and the mask's key (fusedDropout's mask of [batch, heads, lq, lk]). */
  dropout?: { rate: number; key: number } | null;
}

/**
 * Whether fusedAttention runs natively on the current backend.
 * @example if (fusedAttentionAvailable()) ctx = fusedAttention(q, k, v, options);
 */
export function fusedAttentionAvailable(): boolean {
  return fusedAvailable(ATTENTION);
}

/**
 * Context [batch·lq, heads·dk] = dropout(softmax(q·kᵀ + bias)) · v per (batch, head), from q
 * [batch·lq, heads·dk] and k, v [batch·lk, heads·dk] (T5: no 1/sqrt(dk) scaling), with gradients
 * for q, k, v and the position bias. The same values as the tfjs ops (transposes, matMul, add,
 * softmax, fusedDropout) within float32 rounding. Call only where fusedAttentionAvailable().
 * @example const ctx = fusedAttention(q, k, v, { batch: 2, heads: 4, lq: 7, lk: 7, dk: 16, bias: { position, keyMask } });
 */
export function fusedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, o: FusedAttentionOptions): tf.Tensor {
  const { batch, heads, lq, lk, dk, bias } = o;
  if (q.size !== batch * lq * heads * dk || k.size !== batch * lk * heads * dk || v.size !== k.size) {
    throw new RangeError(`fusedAttention: q [${q.shape}], k [${k.shape}], v [${v.shape}] do not match batch ${batch}, heads ${heads}, lq ${lq}, lk ${lk}, dk ${dk}`);
  }
  if (bias.position && bias.position.size !== heads * lq * lk) throw new RangeError(`fusedAttention: position bias [${bias.position.shape}] is not [${heads}, ${lq}, ${lk}]`);
  if (bias.keyMask && bias.keyMask.length !== batch * lk) throw new RangeError(`fusedAttention: keyMask has ${bias.keyMask.length} entries, not ${batch * lk}`);
  const rate = o.dropout?.rate ?? 0;
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`fusedAttention: dropout rate must be in [0, 1), got ${rate}`);
  const attrs: AttentionAttrs = { batch, heads, lq, lk, dkv: dk, causal: bias.causal ?? false, rate, key: rate > 0 ? (o.dropout!.key >>> 0) : 0 };
  const named = attrs as unknown as tf.NamedAttrMap;
  const mask = bias.keyMask;
  const forward = (inputs: tf.NamedTensorMap, save: tf.GradSaveFunc, withPos: boolean) => {
    const [ctx, probs] = tf.engine().runKernel(ATTENTION, mask ? { ...inputs, keyMask: tf.tensor1d(mask, 'int32') } : inputs, named) as tf.Tensor[];
    save(withPos ? [inputs.q, inputs.k, inputs.v, probs, inputs.posBias] : [inputs.q, inputs.k, inputs.v, probs]);
    return {
      value: ctx,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sp, spos] = saved;
        return tf.engine().runKernel(ATTENTION_GRAD, { dctx: dy, q: sq, k: sk, v: sv, probs: sp, ...(spos ? { posBias: spos } : {}) }, named) as tf.Tensor[];
      },
    };
  };
  if (bias.position) {
    const position = tf.reshape(bias.position, [heads, lq, lk]);
    const f = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, pi: tf.Tensor, save: tf.GradSaveFunc) =>
      forward({ q: qi, k: ki, v: vi, posBias: pi }, save, true)) as unknown as Parameters<typeof tf.customGrad>[0]);
    return f(q, k, v, position);
  }
  const f = tf.customGrad(((qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, save: tf.GradSaveFunc) =>
    forward({ q: qi, k: ki, v: vi }, save, false)) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(q, k, v);
}
