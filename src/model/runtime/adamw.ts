/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, as torch.optim.AdamW computes it, plus
 * gradient clipping by global norm (as torch.nn.utils.clip_grad_norm_). On the wasm and cpu
 * backends the update is one fused pass over host memory per parameter; elsewhere (tfjs-node) it
 * runs as tfjs ops. The moments live in Float32Arrays so they can be checkpointed as they are.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../../kernels/errors.js';
import { expectNumber } from '../../kernels/validate.js';
import { hostKind, hostView } from './host-memory.js';
import { tryLoadAddon } from '../../native/loader.js';
import { assignData } from './assign-data.js';

export interface AdamWOptions {
  /** A number, or a schedule giving the rate for a step (1-based). */
  learningRate: number | ((step: number) => number);
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay (default 0.01, the paper's T5 setting). */
  weightDecay?: number;
  /** Which parameters decay (default all; e.g. (name) => !/norm|bias/.test(name)). */
  decay?: (name: string) => boolean;
  /** Clip gradients to this global L2 norm before the update (default: no clipping). */
  clipNorm?: number | null;
  /** 'auto' (fused host pass on wasm/cpu, tfjs ops elsewhere) or 'ops' (always tfjs ops). */
  impl?: 'auto' | 'ops';
}

export interface AdamWStepInfo {
  step: number;
  learningRate: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** The factor gradients were scaled by (1 when not clipped). */
  clipScale: number;
}

interface Moments {
  m: Float32Array;
  v: Float32Array;
}

/**
 * AdamW over named variables.
 * @example
 * const opt = new AdamW({ learningRate: 1e-3, weightDecay: 0.01, clipNorm: 1 });
 * const { value, grads } = tf.variableGrads(() => loss());
 * opt.apply(new Map(Object.entries(vars)), new Map(Object.entries(grads)));
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly clipNorm: number | null;
  private readonly lr: number | ((step: number) => number);
  private readonly decay: (name: string) => boolean;
  private readonly impl: 'auto' | 'ops';
  /** Updates applied so far. */
  step = 0;
  readonly moments = new Map<string, Moments>();

  constructor(options: AdamWOptions) {
    if (typeof options?.learningRate !== 'function') expectNumber('learningRate', options?.learningRate, 0);
    this.lr = options.learningRate;
    this.beta1 = expectNumber('beta1', options.beta1 ?? 0.9, 0, 0.999999);
    this.beta2 = expectNumber('beta2', options.beta2 ?? 0.999, 0, 0.9999999);
    this.epsilon = expectNumber('epsilon', options.epsilon ?? 1e-8, 0);
    this.weightDecay = expectNumber('weightDecay', options.weightDecay ?? 0.01, 0);
    this.clipNorm = options.clipNorm == null ? null : expectNumber('clipNorm', options.clipNorm, 1e-12);
    this.decay = options.decay ?? (() => true);
    this.impl = options.impl ?? 'auto';
    if (this.impl !== 'auto' && this.impl !== 'ops') throw new SemidArgumentError('impl', '"auto" or "ops"', this.impl);
  }

  /** The learning rate of update number `step` (1-based). */
  learningRate(step: number): number {
    const lr = typeof this.lr === 'function' ? this.lr(step) : this.lr;
    if (!Number.isFinite(lr) || lr < 0) throw new SemidArgumentError('learningRate', 'a schedule returning finite numbers >= 0', lr);
    return lr;
  }

  /**
   * Apply one update: clip by global norm, then AdamW. `grads` holds a gradient per variable name
   * (a variable without one is left alone, as torch does for parameters with no grad).
   */
  apply(variables: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>): AdamWStepInfo {
    const names = [...grads.keys()].filter((n) => variables.has(n)).sort();
    for (const n of grads.keys()) if (!variables.has(n)) throw new SemidArgumentError('grads', `gradients only for the given variables`, n);
    const backend = tf.backend();
    const host = this.impl === 'auto' && hostKind(backend) !== null;
    this.step += 1;
    const t = this.step;
    const lr = this.learningRate(t);
    // global norm in float64 (host) or float32 tfjs ops
    let sq = 0;
    const addon = host ? tryLoadAddon() : null;
    if (host) {
      for (const n of names) {
        const g = hostView(backend, grads.get(n)!) as Float32Array;
        if (addon) sq += addon.sumSquaresSync(g);
        else for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
      }
    } else {
      sq = tf.tidy(() => tf.addN(names.map((n) => tf.sum(tf.square(grads.get(n)!)))).dataSync()[0]);
    }
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(gradNorm)) throw new Error(`AdamW: the gradient norm is ${gradNorm} at step ${t} (NaN or Inf in the gradients)`);
    const clipScale = this.clipNorm !== null ? Math.min(1, this.clipNorm / (gradNorm + 1e-6)) : 1;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    for (const n of names) {
      const variable = variables.get(n)!;
      const grad = grads.get(n)!;
      if (grad.size !== variable.size) throw new SemidArgumentError(`grads["${n}"]`, `${variable.size} elements`, grad.size);
      let mom = this.moments.get(n);
      if (!mom) { mom = { m: new Float32Array(variable.size), v: new Float32Array(variable.size) }; this.moments.set(n, mom); }
      const decayFactor = this.decay(n) ? 1 - lr * this.weightDecay : 1;
      const { m, v } = mom;
      if (host) {
        const g = hostView(backend, grad) as Float32Array;
        const shared = (backend as unknown as { refCount?(id: object): number }).refCount?.(variable.dataId) ?? 1;
        const p = shared === 1 ? (hostView(backend, variable) as Float32Array) : (variable.dataSync() as Float32Array).slice();
        if (addon) {
          addon.adamwSync({ p, g, m, v, n: p.length, gradScale: clipScale, beta1: b1, beta2: b2, decayFactor, stepSize, invSqrtBc2: 1 / sqrtBc2, eps: this.epsilon });
        } else {
          adamwKernel(p, g, m, v, clipScale, b1, b2, decayFactor, stepSize, sqrtBc2, this.epsilon);
        }
        if (shared !== 1) assignData(variable, p);
      } else {
        tf.tidy(() => {
          const g = tf.mul(grad, clipScale);
          const mT = tf.add(tf.mul(tf.tensor(m, variable.shape), b1), tf.mul(g, 1 - b1));
          const vT = tf.add(tf.mul(tf.tensor(v, variable.shape), b2), tf.mul(tf.square(g), 1 - b2));
          const denom = tf.add(tf.div(tf.sqrt(vT), sqrtBc2), this.epsilon);
          variable.assign(tf.sub(tf.mul(variable, decayFactor), tf.mul(tf.div(mT, denom), stepSize)));
          m.set(mT.dataSync() as Float32Array);
          v.set(vT.dataSync() as Float32Array);
        });
      }
    }
    return { step: t, learningRate: lr, gradNorm, clipScale };
  }
}

/** One fused AdamW pass over a parameter (monomorphic, constants in locals). */
function adamwKernel(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, clipScale: number, b1: number, b2: number,
  decayFactor: number, stepSize: number, sqrtBc2: number, eps: number): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  const invSqrtBc2 = 1 / sqrtBc2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i] * clipScale;
    const mi = b1 * m[i] + c1 * gi;
    const vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decayFactor - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
  }
}

/**
 * Linear warm-up to `peak` over `warmupSteps`, then linear decay to `end` at `totalSteps`
 * (transformers' get_linear_schedule_with_warmup when end = 0).
 * @example const lr = linearSchedule({ peak: 2e-3, warmupSteps: 100, totalSteps: 1000 }); lr(50) // 1e-3
 */
export function linearSchedule(o: { peak: number; warmupSteps: number; totalSteps: number; end?: number }): (step: number) => number {
  expectNumber('peak', o.peak, 0);
  expectNumber('warmupSteps', o.warmupSteps, 0);
  expectNumber('totalSteps', o.totalSteps, Math.max(1, o.warmupSteps));
  const end = o.end ?? 0;
  return (step) => {
    if (step < o.warmupSteps) return (o.peak * step) / o.warmupSteps;
    const left = Math.max(0, o.totalSteps - step) / Math.max(1, o.totalSteps - o.warmupSteps);
    return end + (o.peak - end) * left;
  };
}

/**
 * Linear warm-up, then cosine decay to `end`.
 * @example const lr = cosineSchedule({ peak: 1e-3, warmupSteps: 10, totalSteps: 100 });
 */
export function cosineSchedule(o: { peak: number; warmupSteps: number; totalSteps: number; end?: number }): (step: number) => number {
  expectNumber('peak', o.peak, 0);
  expectNumber('totalSteps', o.totalSteps, Math.max(1, o.warmupSteps));
  const end = o.end ?? 0;
  return (step) => {
    if (step < o.warmupSteps) return (o.peak * step) / o.warmupSteps;
    const p = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
    return end + (o.peak - end) * 0.5 * (1 + Math.cos(Math.PI * p));
  };
}
