/**
 * The T5 feed-forward's activation, as Hugging Face transformers resolves it: `feed_forward_proj`
 * is `"<act>"` or `"gated-<act>"`; `"gated-gelu"` means gelu_new (the tanh approximation, T5 v1.1
 * and flan-t5); any other `<act>` is the function of that name (`"gelu"`: the exact, erf GELU);
 * a `dense_act_fn` in config.json takes precedence (transformers sets it after deriving its own).
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../../kernels/errors.js';
import { gatedActivation, geluNew } from '../runtime/fused-ops.js';
import type { T5Config } from './config.js';

/** The activations a T5 feed-forward may use (transformers' ACT2FN names; gelu_pytorch_tanh is gelu_new). */
export type T5Activation = 'gelu_new' | 'gelu' | 'relu' | 'silu';

const NAMES: Record<string, T5Activation> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu', silu: 'silu', swish: 'silu' };

/**
 * The activation a transformers config names (ACT2FN: hidden_act, dense_act_fn), or undefined
 * for one we do not run.
 * @example activationNamed('gelu_pytorch_tanh') // 'gelu_new'
 */
export function activationNamed(name: unknown): T5Activation | undefined {
  return typeof name === 'string' && Object.hasOwn(NAMES, name) ? NAMES[name] : undefined;
}

/**
 * The activation a config's feed-forward uses, and whether it is gated (act(x·wi_0) * (x·wi_1)).
 * @example t5Activation({ feedForwardProj: 'gated-gelu' }) // { act: 'gelu_new', gated: true }
 */
export function t5Activation(c: Pick<T5Config, 'feedForwardProj' | 'denseActFn'>,
  fields = { proj: 'config.feedForwardProj', act: 'config.denseActFn' }): { act: T5Activation; gated: boolean } {
  const parts = typeof c.feedForwardProj === 'string' ? c.feedForwardProj.split('-') : [];
  const gated = parts.length === 2 && parts[0] === 'gated';
  if (parts.length === 0 || parts.length > 2 || (parts.length === 2 && !gated) || activationNamed(parts[parts.length - 1]) === undefined) {
    throw new SemidArgumentError(fields.proj, `"<act>" or "gated-<act>" with <act> one of ${Object.keys(NAMES).join(', ')}`, c.feedForwardProj);
  }
  const named = c.denseActFn ?? (c.feedForwardProj === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1]);
  const act = activationNamed(named);
  if (act === undefined) throw new SemidArgumentError(fields.act, `one of ${Object.keys(NAMES).join(', ')}`, named);
  return { act, gated };
}

/**
 * An activation applied elementwise, in tfjs ops (differentiable).
 * @example activateT5(tf.tensor1d([1]), 'gelu').dataSync() // Float32Array [0.8413]
 */
export function activateT5(x: tf.Tensor, act: T5Activation): tf.Tensor {
  switch (act) {
    case 'gelu_new': return geluNew(x);
    case 'gelu': return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
    case 'relu': return tf.relu(x);
    case 'silu': return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
  }
}

/**
 * The feed-forward's hidden layer from its input projections: act(a) without a gate, act(a) * b
 * with one (the fused kernel for gelu_new and relu where it is registered).
 * @example const h = feedForwardHidden(t5Activation(config), xWi0, xWi1);
 */
export function feedForwardHidden(f: { act: T5Activation; gated: boolean }, a: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  if (!f.gated) return activateT5(a, f.act);
  if (b === undefined) throw new SemidArgumentError('b', 'the gate projection (x·wi_1) of a gated feed-forward', b);
  if (f.act === 'gelu_new' || f.act === 'relu') return gatedActivation(a, b, f.act === 'gelu_new' ? 'gelu' : 'relu');
  return tf.tidy(() => tf.mul(activateT5(a, f.act), b));
}
