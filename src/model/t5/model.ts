/**
 * T5 (v1.1 / flan-t5, and the original with a tied, scaled head) in TensorFlow.js, with Hugging
 * Face's parameter names and layouts (linear weights [out, in], used as x·Wᵀ through the GEMM's
 * transpose flag, so checkpoints import without copies): shared embedding, encoder and decoder
 * stacks of RMS-normed pre-norm blocks, relative position bias computed in the first layer of each
 * stack and shared, gated-GELU or ReLU feed-forward, dropout, LM head.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../../kernels/errors.js';
import { hashSeed, mulberry32 } from '../../data/random.js';
import type { SafeTensor } from '../safetensors.js';
import type { T5Config } from './config.js';
import { positionBuckets } from './position.js';
import { lengthGroups, rowExtents, subBatch } from './length-groups.js';
import { fusedCrossEntropy, fusedDropout, rmsNorm } from '../runtime/fused-ops.js';
import { requireRuntime } from '../runtime/backend.js';
import { feedForwardHidden, t5Activation } from './activation.js';
import { fusedAttention, fusedAttentionAvailable, type AttentionBias } from '../runtime/fused-attention.js';

/** A batch of token ids, row-major. */
export interface T5Batch {
  batchSize: number;
  /** [batchSize x sourceLength] encoder input ids. */
  inputIds: Int32Array;
  /** [batchSize x sourceLength] 1 for tokens, 0 for padding. */
  attentionMask: Int32Array;
  sourceLength: number;
  /** [batchSize x targetLength] decoder input ids (the labels shifted right, starting with decoderStartTokenId). */
  decoderInputIds: Int32Array;
  targetLength: number;
  /** [batchSize x targetLength] target ids; -100 is ignored by the loss. */
  labels?: Int32Array;
}

export interface ForwardOptions {
  /** Apply dropout (default false). */
  training?: boolean;
  /** Seed of this forward pass's dropout masks (e.g. the update number). */
  seed?: number;
}

/** Options of the training loss. */
export interface LossOptions extends ForwardOptions {
  /**
   * Run rows in groups of similar source length, each cut to its longest row (default true): the
   * same loss and gradients, less work where short and long sources share a batch. Dropout masks
   * are drawn per group, so a training run with dropout differs from an ungrouped one.
   */
  lengthGroups?: boolean;
}

const MASKED = -1e9;

let variableCount = 0;
/** A trainable variable that is the only owner of its data (so optimizers may update it in place). */
function ownedVariable(data: Float32Array, shape: number[], name: string): tf.Variable {
  const initial = tf.tensor(data, shape, 'float32');
  const v = tf.variable(initial, true, `${name}#${++variableCount}`);
  initial.dispose();
  return v;
}

class DropoutStream {
  private n = 0;
  constructor(private readonly rate: number, private readonly on: boolean, private readonly seed: number) {}
  apply(x: tf.Tensor): tf.Tensor {
    const key = this.nextKey();
    return key === null ? x : dropout(x, this.rate, key);
  }
  /** The next mask's rate and key (the mask apply would use), or null when dropout is off. */
  next(): { rate: number; key: number } | null {
    const key = this.nextKey();
    return key === null ? null : { rate: this.rate, key };
  }
  private nextKey(): number | null {
    if (!this.on || this.rate <= 0) return null;
    return hashSeed(this.seed, ++this.n) >>> 0;
  }
}

/** What one stack adds to its attention scores; `merged` is the tfjs path's bias tensor, built once. */
type ScoreBias = AttentionBias & { merged?: tf.Tensor };

/**
 * Inverted dropout with a seeded mask: each element kept with probability 1 - rate and scaled by
 * 1 / (1 - rate), the mask a hash of (seed, element index) computed natively in one pass forward
 * and one backward (fusedDropout; tf.dropout's per-element seedrandom is ~50x slower, and a mask
 * drawn element by element in JavaScript took a quarter of a small model's training step).
 * @example const y = dropout(x, 0.1, 42);
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  return fusedDropout(x, rate, seed >>> 0);
}

/**
 * The model: parameters by Hugging Face name, forward passes and the training loss.
 * @example
 * const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 300 }, 42);
 * const logits = model.forward(batch); // [batch, targetLength, vocab]
 */
export class T5Model {
  readonly params = new Map<string, tf.Variable>();

  /** The feed-forward's activation and gating (t5Activation of the config, resolved once). */
  readonly activation: ReturnType<typeof t5Activation>;

  private constructor(readonly config: T5Config) {
    this.activation = t5Activation(config);
    requireRuntime('a T5Model');
  }

  /** Names and shapes of every parameter. */
  static parameterShapes(c: T5Config): Map<string, number[]> {
    const s = new Map<string, number[]>();
    const inner = c.numHeads * c.dKv;
    const { gated } = t5Activation(c);
    s.set('shared.weight', [c.vocabSize, c.dModel]);
    const attention = (p: string, bias: boolean) => {
      for (const w of ['q', 'k', 'v']) s.set(`${p}.${w}.weight`, [inner, c.dModel]);
      s.set(`${p}.o.weight`, [c.dModel, inner]);
      if (bias) s.set(`${p}.relative_attention_bias.weight`, [c.relativeAttentionNumBuckets, c.numHeads]);
    };
    const ff = (p: string) => {
      if (gated) { s.set(`${p}.DenseReluDense.wi_0.weight`, [c.dFf, c.dModel]); s.set(`${p}.DenseReluDense.wi_1.weight`, [c.dFf, c.dModel]); }
      else s.set(`${p}.DenseReluDense.wi.weight`, [c.dFf, c.dModel]);
      s.set(`${p}.DenseReluDense.wo.weight`, [c.dModel, c.dFf]);
      s.set(`${p}.layer_norm.weight`, [c.dModel]);
    };
    for (let i = 0; i < c.numLayers; i++) {
      attention(`encoder.block.${i}.layer.0.SelfAttention`, i === 0);
      s.set(`encoder.block.${i}.layer.0.layer_norm.weight`, [c.dModel]);
      ff(`encoder.block.${i}.layer.1`);
    }
    s.set('encoder.final_layer_norm.weight', [c.dModel]);
    for (let i = 0; i < c.numDecoderLayers; i++) {
      attention(`decoder.block.${i}.layer.0.SelfAttention`, i === 0);
      s.set(`decoder.block.${i}.layer.0.layer_norm.weight`, [c.dModel]);
      attention(`decoder.block.${i}.layer.1.EncDecAttention`, false);
      s.set(`decoder.block.${i}.layer.1.layer_norm.weight`, [c.dModel]);
      ff(`decoder.block.${i}.layer.2`);
    }
    s.set('decoder.final_layer_norm.weight', [c.dModel]);
    if (!c.tieWordEmbeddings) s.set('lm_head.weight', [c.vocabSize, c.dModel]);
    return s;
  }

  /**
   * A new model initialised as transformers' T5PreTrainedModel._init_weights does (normal
   * distributions scaled by fan-in and initializer_factor; norms at 1), seeded.
   * @example const model = T5Model.create({ ...T5_PRESETS.small, vocabSize: 4096 }, 1);
   */
  static create(config: T5Config, seed = 0): T5Model {
    const m = new T5Model(config);
    const rand = mulberry32(seed);
    const normal = (n: number, std: number) => {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i += 2) {
        const u = Math.max(rand(), 1e-12);
        const v = rand();
        const r = Math.sqrt(-2 * Math.log(u));
        out[i] = r * Math.cos(2 * Math.PI * v) * std;
        if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v) * std;
      }
      return out;
    };
    const f = config.initializerFactor;
    const d = config.dModel;
    for (const [name, shape] of T5Model.parameterShapes(config)) {
      const n = shape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (name.endsWith('layer_norm.weight')) data = new Float32Array(n).fill(f);
      else if (name === 'shared.weight') data = normal(n, f);
      else if (name === 'lm_head.weight') data = normal(n, f * d ** -0.5);
      else if (/\.q\.weight$/.test(name)) data = normal(n, f * (d * config.dKv) ** -0.5);
      else if (/\.[kv]\.weight$/.test(name)) data = normal(n, f * d ** -0.5);
      else if (/\.o\.weight$/.test(name)) data = normal(n, f * (config.numHeads * config.dKv) ** -0.5);
      else if (name.endsWith('relative_attention_bias.weight')) data = normal(n, f * d ** -0.5);
      else if (/wi(_[01])?\.weight$/.test(name)) data = normal(n, f * d ** -0.5);
      else if (name.endsWith('wo.weight')) data = normal(n, f * config.dFf ** -0.5);
      else throw new Error(`no initialiser for ${name}`);
      m.params.set(name, ownedVariable(data, shape, `t5/${seed}/${name}`));
    }
    return m;
  }

  /**
   * A model from named tensors (a Hugging Face model.safetensors). Missing or mis-shaped
   * parameters are errors; tensors we do not use are returned in `unused`.
   * @example const { model } = T5Model.fromTensors(config, readSafetensors('model.safetensors').tensors);
   */
  static fromTensors(config: T5Config, tensors: Map<string, SafeTensor>): { model: T5Model; unused: string[] } {
    const m = new T5Model(config);
    const shapes = T5Model.parameterShapes(config);
    for (const [name, shape] of shapes) {
      const t = tensors.get(name) ?? (name === 'shared.weight' ? tensors.get('encoder.embed_tokens.weight') : undefined);
      if (!t) throw new SemidArgumentError(`tensors["${name}"]`, `a tensor of shape [${shape}] (T5 parameter)`, undefined);
      if (t.shape.join(',') !== shape.join(',')) throw new SemidArgumentError(`tensors["${name}"]`, `shape [${shape}]`, `shape [${t.shape}]`);
      const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
      m.params.set(name, ownedVariable(data, shape, `t5/import/${name}`));
    }
    const unused = [...tensors.keys()].filter((k) => !shapes.has(k) && k !== 'encoder.embed_tokens.weight' && k !== 'decoder.embed_tokens.weight');
    return { model: m, unused };
  }

  /** Parameters as named float32 tensors, in Hugging Face layout (for safetensors export). */
  toTensors(): Map<string, SafeTensor> {
    const out = new Map<string, SafeTensor>();
    for (const [name, v] of this.params) out.set(name, { dtype: 'F32', shape: v.shape, data: v.dataSync() as Float32Array });
    return out;
  }

  /** Number of parameters. */
  get size(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  /** Ids must be an Int32Array of batch x length tokens, each below the vocabulary size, length within maxLength. */
  private checkIds(name: string, ids: Int32Array, batch: number, length: number): void {
    const c = this.config;
    if (!Number.isInteger(batch) || batch < 1) throw new SemidArgumentError('batch.batchSize', 'a positive integer', batch);
    if (!Number.isInteger(length) || length < 1 || length > c.maxLength) {
      throw new SemidArgumentError(`length of ${name}`, `between 1 and ${c.maxLength} tokens (the model's maxLength)`, length);
    }
    if (!(ids instanceof Int32Array) || ids.length !== batch * length) throw new SemidArgumentError(`batch.${name}`, `Int32Array of length ${batch * length}`, ids);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= c.vocabSize) {
        throw new SemidArgumentError(`batch.${name}[${i}]`, `a token id between 0 and ${c.vocabSize - 1} (unknown token: grow the vocabulary with resizeTokenEmbeddings)`, ids[i]);
      }
    }
  }

  private p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`T5: no parameter ${name}`);
    return v;
  }

  private rmsNorm(x: tf.Tensor, weight: string): tf.Tensor {
    return rmsNorm(x, this.p(weight), this.config.layerNormEpsilon);
  }

  /** x [rows, in] · Wᵀ with W [out, in]. */
  private linear(x: tf.Tensor, weight: string): tf.Tensor {
    return tf.matMul(x, this.p(weight), false, true);
  }

  private attention(prefix: string, xq: tf.Tensor, xkv: tf.Tensor, batch: number, lq: number, lk: number, bias: ScoreBias, drop: DropoutStream): tf.Tensor {
    const { numHeads: h, dKv: dk } = this.config;
    const q2 = this.linear(xq, `${prefix}.q.weight`);
    const k2 = this.linear(xkv, `${prefix}.k.weight`);
    const v2 = this.linear(xkv, `${prefix}.v.weight`);
    if (fusedAttentionAvailable()) {
      // one native kernel: the same products, bias, softmax and dropout mask, without the transposes
      const ctx = fusedAttention(q2, k2, v2, { batch, heads: h, lq, lk, dk, bias, dropout: drop.next() });
      return this.linear(ctx, `${prefix}.o.weight`);
    }
    const heads = (x: tf.Tensor, len: number) => tf.transpose(tf.reshape(x, [batch, len, h, dk]), [0, 2, 1, 3]);
    const q = heads(q2, lq);
    const k = heads(k2, lk);
    const v = heads(v2, lk);
    const scores = tf.add(tf.matMul(q, k, false, true), this.mergedBias(bias, batch, lq, lk)); // [B, H, Lq, Lk]; T5 does not scale by 1/sqrt(d_kv)
    const probs = drop.apply(tf.softmax(scores, -1));
    const ctx = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [batch * lq, h * dk]);
    return this.linear(ctx, `${prefix}.o.weight`);
  }

  /** The bias [B|1, H|1, Lq, Lk] the tfjs path adds to the scores: position + (padding or causal mask). */
  private mergedBias(bias: ScoreBias, batch: number, lq: number, lk: number): tf.Tensor {
    if (bias.merged) return bias.merged;
    const parts: tf.Tensor[] = [];
    if (bias.position) parts.push(tf.expandDims(bias.position, 0));
    if (bias.keyMask) parts.push(this.maskBias(bias.keyMask, batch, lk));
    if (bias.causal) {
      const causal = new Float32Array(lq * lk);
      for (let q = 0; q < lq; q++) for (let k = q + 1; k < lk; k++) causal[q * lk + k] = MASKED;
      parts.push(tf.tensor4d(causal, [1, 1, lq, lk]));
    }
    bias.merged = parts.length === 0 ? tf.zeros([1, 1, lq, lk]) : parts.reduce((a, b) => tf.add(a, b));
    return bias.merged;
  }

  private feedForward(prefix: string, x: tf.Tensor, drop: DropoutStream): tf.Tensor {
    const f = this.activation;
    const hidden = f.gated
      ? feedForwardHidden(f, this.linear(x, `${prefix}.DenseReluDense.wi_0.weight`), this.linear(x, `${prefix}.DenseReluDense.wi_1.weight`))
      : feedForwardHidden(f, this.linear(x, `${prefix}.DenseReluDense.wi.weight`));
    return this.linear(drop.apply(hidden), `${prefix}.DenseReluDense.wo.weight`);
  }

  /** Relative position bias [H, Lq, Lk] from a stack's first-layer table. */
  private positionBias(table: string, lq: number, lk: number, bidirectional: boolean): tf.Tensor {
    const { relativeAttentionNumBuckets: nb, relativeAttentionMaxDistance: md, numHeads: h } = this.config;
    const buckets = tf.tensor1d(positionBuckets(lq, lk, bidirectional, nb, md), 'int32');
    const values = tf.gather(this.p(table), buckets); // [Lq*Lk, H]
    return tf.transpose(tf.reshape(values, [lq, lk, h]), [2, 0, 1]);
  }

  private maskBias(mask: Int32Array, batch: number, len: number): tf.Tensor {
    const bias = new Float32Array(batch * len);
    for (let i = 0; i < bias.length; i++) bias[i] = mask[i] ? 0 : MASKED;
    return tf.tensor4d(bias, [batch, 1, 1, len]);
  }

  /**
   * Encoder states [batch, sourceLength, dModel].
   * @example const states = model.encode(batch);
   */
  encode(batch: Pick<T5Batch, 'batchSize' | 'inputIds' | 'attentionMask' | 'sourceLength'>, options: ForwardOptions = {}): tf.Tensor3D {
    const c = this.config;
    const { batchSize: b, sourceLength: ls } = batch;
    this.checkIds('inputIds', batch.inputIds, b, ls);
    if (!(batch.attentionMask instanceof Int32Array) || batch.attentionMask.length !== b * ls) {
      throw new SemidArgumentError('batch.attentionMask', `Int32Array of length ${b * ls} (batchSize x sourceLength)`, batch.attentionMask);
    }
    const drop = new DropoutStream(c.dropoutRate, options.training ?? false, options.seed ?? 0);
    return tf.tidy(() => {
      const ids = tf.tensor1d(batch.inputIds, 'int32');
      let x = drop.apply(tf.gather(this.p('shared.weight'), ids)); // [B*Ls, d]
      const bias: ScoreBias = { position: this.positionBias('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', ls, ls, true), keyMask: batch.attentionMask };
      for (let i = 0; i < c.numLayers; i++) {
        const pre = `encoder.block.${i}`;
        const normed = this.rmsNorm(x, `${pre}.layer.0.layer_norm.weight`);
        x = tf.add(x, drop.apply(this.attention(`${pre}.layer.0.SelfAttention`, normed, normed, b, ls, ls, bias, drop)));
        x = tf.add(x, drop.apply(this.feedForward(`${pre}.layer.1`, this.rmsNorm(x, `${pre}.layer.1.layer_norm.weight`), drop)));
      }
      return tf.reshape(drop.apply(this.rmsNorm(x, 'encoder.final_layer_norm.weight')), [b, ls, c.dModel]) as tf.Tensor3D;
    });
  }

  /**
   * Decoder logits [batch, targetLength, vocab] given encoder states.
   * @example const logits = model.decode(states, batch);
   */
  decode(encoderStates: tf.Tensor3D, batch: Omit<T5Batch, 'inputIds' | 'labels'>, options: ForwardOptions = {}): tf.Tensor3D {
    const c = this.config;
    const { batchSize: b, sourceLength: ls, targetLength: lt } = batch;
    this.checkIds('decoderInputIds', batch.decoderInputIds, b, lt);
    const drop = new DropoutStream(c.dropoutRate, options.training ?? false, (options.seed ?? 0) + 1_000_003);
    return tf.tidy(() => {
      const enc = tf.reshape(encoderStates, [b * ls, c.dModel]);
      let x = drop.apply(tf.gather(this.p('shared.weight'), tf.tensor1d(batch.decoderInputIds, 'int32')));
      const selfBias: ScoreBias = { position: this.positionBias('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', lt, lt, false), causal: true };
      const crossBias: ScoreBias = { keyMask: batch.attentionMask };
      for (let i = 0; i < c.numDecoderLayers; i++) {
        const pre = `decoder.block.${i}`;
        const n0 = this.rmsNorm(x, `${pre}.layer.0.layer_norm.weight`);
        x = tf.add(x, drop.apply(this.attention(`${pre}.layer.0.SelfAttention`, n0, n0, b, lt, lt, selfBias, drop)));
        const n1 = this.rmsNorm(x, `${pre}.layer.1.layer_norm.weight`);
        x = tf.add(x, drop.apply(this.attention(`${pre}.layer.1.EncDecAttention`, n1, enc, b, lt, ls, crossBias, drop)));
        x = tf.add(x, drop.apply(this.feedForward(`${pre}.layer.2`, this.rmsNorm(x, `${pre}.layer.2.layer_norm.weight`), drop)));
      }
      let h = drop.apply(this.rmsNorm(x, 'decoder.final_layer_norm.weight'));
      let logits: tf.Tensor;
      if (c.tieWordEmbeddings) {
        h = tf.mul(h, c.dModel ** -0.5);
        logits = tf.matMul(h, this.p('shared.weight'), false, true);
      } else {
        logits = this.linear(h, 'lm_head.weight');
      }
      return tf.reshape(logits, [b, lt, c.vocabSize]) as tf.Tensor3D;
    });
  }

  /** Logits [batch, targetLength, vocab] (teacher forcing). */
  forward(batch: T5Batch, options: ForwardOptions = {}): tf.Tensor3D {
    return tf.tidy(() => this.decode(this.encode(batch, options), batch, options));
  }

  /**
   * Mean token cross-entropy over labels that are not -100 (as transformers' T5ForConditionalGeneration).
   * Rows run in groups of similar source length, each trimmed to its longest row (the same loss
   * and gradients with less work on padding; `lengthGroups: false` runs the padded batch whole).
   * @example const loss = model.loss(batch, { training: true, seed: step });
   */
  loss(batch: T5Batch, options: LossOptions = {}): tf.Scalar {
    const labels = batch.labels;
    if (!(labels instanceof Int32Array) || labels.length !== batch.batchSize * batch.targetLength) {
      throw new SemidArgumentError('batch.labels', `Int32Array of length ${batch.batchSize * batch.targetLength} (batchSize x targetLength) of target ids`, labels);
    }
    const groups = options.lengthGroups === false ? null : this.lossGroups(batch, labels);
    if (!groups) {
      return tf.tidy(() => tokenCrossEntropy(tf.reshape(this.forward(batch, options), [-1, this.config.vocabSize]), labels));
    }
    let total = 0;
    const counts = groups.map((g) => {
      let count = 0;
      for (const l of g.labels!) if (l !== -100) count++;
      total += count;
      return count;
    });
    return tf.tidy(() => {
      const parts: tf.Scalar[] = [];
      groups.forEach((g, k) => {
        if (counts[k] === 0) return;
        const seed = k === 0 ? options.seed ?? 0 : hashSeed(options.seed ?? 0, `length-group:${k}`) >>> 0;
        const logits = tf.reshape(this.forward(g, { ...options, seed }), [-1, this.config.vocabSize]);
        parts.push(tf.mul(tokenCrossEntropy(logits, g.labels!), counts[k] / total));
      });
      return (parts.length === 0 ? tf.scalar(0) : parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar;
    });
  }

  /**
   * The loss's sub-batches when running rows by length saves work (see length-groups.ts), or null.
   * The whole batch is checked first, so that an error names the row the caller gave.
   */
  private lossGroups(batch: T5Batch, labels: Int32Array): T5Batch[] | null {
    const { batchSize: b, sourceLength: ls, targetLength: lt } = batch;
    this.checkIds('inputIds', batch.inputIds, b, ls);
    this.checkIds('decoderInputIds', batch.decoderInputIds, b, lt);
    if (!(batch.attentionMask instanceof Int32Array) || batch.attentionMask.length !== b * ls) {
      throw new SemidArgumentError('batch.attentionMask', `Int32Array of length ${b * ls} (batchSize x sourceLength)`, batch.attentionMask);
    }
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      if (l !== -100 && (l < 0 || l >= this.config.vocabSize)) throw new SemidArgumentError(`batch.labels[${i}]`, `an id between 0 and ${this.config.vocabSize - 1} or -100`, l);
    }
    const groups = lengthGroups(rowExtents(batch.attentionMask, b, ls, (m) => m !== 0), rowExtents(labels, b, lt, (l) => l !== -100));
    if (groups.length === 1 && groups[0].sourceLength === ls && groups[0].targetLength === lt) return null;
    return groups.map((g) => subBatch(batch, g));
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}

/**
 * Mean cross-entropy of logits [n, vocab] against labels [n], skipping -100: one native pass
 * forward and one backward where the fused kernel is registered (fusedCrossEntropy), else
 * log-softmax, gather and a written-out gradient in tfjs ops.
 * @example tokenCrossEntropy(tf.zeros([2, 4]), new Int32Array([1, -100])).dataSync()[0] // log(4) = 1.386: one label counted
 */
export function tokenCrossEntropy(logits: tf.Tensor, labels: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const [n, v] = logits.shape;
    const idx = new Int32Array(n);
    const valid = new Float32Array(n);
    let count = 0;
    for (let i = 0; i < n; i++) {
      const l = labels[i];
      if (l === -100) continue;
      if (l < 0 || l >= v) throw new SemidArgumentError(`labels[${i}]`, `an id between 0 and ${v - 1} or -100`, l);
      idx[i] = i * v + l;
      valid[i] = 1;
      count++;
    }
    if (count === 0) return tf.scalar(0);
    const fused = fusedCrossEntropy(logits, Int32Array.from(labels, (l) => (l === -100 ? -1 : l)));
    if (fused) return fused;
    const labelIds = Int32Array.from(labels, (l) => (l === -100 ? 0 : l));
    // d loss / d logits = (softmax - onehot) * valid / count, written out (tfjs's logSumExp gradient goes through max/equal and is slow)
    const ce = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      const logp = tf.logSoftmax(x, -1);
      save([logp]);
      const picked = tf.gather(tf.reshape(logp, [n * v]), tf.tensor1d(idx, 'int32'));
      const value = tf.div(tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(valid)))), count);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const probs = tf.exp(saved[0]);
          const g = tf.mul(tf.sub(probs, tf.oneHot(tf.tensor1d(labelIds, 'int32'), v)), tf.div(tf.tensor2d(valid, [n, 1]), count));
          return tf.mul(g, dy);
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]);
    return ce(logits) as tf.Scalar;
  });
}
