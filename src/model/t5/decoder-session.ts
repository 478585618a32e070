/**
 * Incremental T5 decoding: the encoder runs once, cross-attention keys and values are computed
 * once per query, and self-attention keys and values are cached per row and reordered by each
 * step's parents, so a step costs one token per row instead of the whole prefix. `step` has the
 * shape the constrained beam search driver calls.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../../kernels/errors.js';
import type { StepRequest } from '../../decoding/beam-search.js';
import type { T5Model, T5Batch } from './model.js';
import { positionBuckets } from './position.js';
import { rmsNorm } from '../runtime/fused-ops.js';
import { feedForwardHidden } from './activation.js';
import { hostKind, hostView } from '../runtime/host-memory.js';
import { matMulTransposedInto, nativeBatchMatMulActive } from '../runtime/kernels/batch-matmul.js';

const MASKED = -1e9;

/**
 * A decoding session over one batch of encoder inputs.
 * @example
 * const session = new T5DecoderSession(model, batch);
 * const logits = session.step({ step: 0, rows: 2, tokens: new Int32Array(0), parents: Int32Array.of(-1, -1), queries: Int32Array.of(0, 1), active: Uint8Array.of(1, 1) });
 * session.dispose();
 */
export class T5DecoderSession {
  private readonly crossK: tf.Tensor[] = [];
  private readonly crossV: tf.Tensor[] = [];
  private selfK: tf.Tensor[] = [];
  private selfV: tf.Tensor[] = [];
  private readonly crossBias: tf.Tensor;
  private readonly batchSize: number;
  private readonly sourceLength: number;
  private lastStep = -1;

  private readonly reuseLogits: boolean;
  /** [capacity] the logits buffer step() returns views of when reuseLogits is on. */
  private logitsBuffer: Float32Array | null = null;

  /**
   * @param options.reuseLogits Write every step's logits into one buffer the session owns (grown when
   * a step has more rows) and return a view of it, valid until the next step() (copy it to keep
   * it). A 60-beam step of 32 queries returns 1,920 x vocab floats, 65 MB at an 8.5k vocabulary: a
   * fresh array each step costs page faults and zeroing. The beam search driver reads each step's
   * logits before asking for the next, so it can use this (evaluateTask does). Default false: a
   * new array each step.
   */
  constructor(private readonly model: T5Model, batch: Pick<T5Batch, 'batchSize' | 'inputIds' | 'attentionMask' | 'sourceLength'>, options: { reuseLogits?: boolean } = {}) {
    this.reuseLogits = options.reuseLogits === true;
    const c = model.config;
    this.batchSize = batch.batchSize;
    this.sourceLength = batch.sourceLength;
    const { numHeads: h, dKv: dk } = c;
    const b = batch.batchSize;
    const ls = batch.sourceLength;
    const states = model.encode(batch);
    tf.tidy(() => {
      const enc = tf.reshape(states, [b * ls, c.dModel]);
      for (let i = 0; i < c.numDecoderLayers; i++) {
        const pre = `decoder.block.${i}.layer.1.EncDecAttention`;
        const heads = (w: string) => tf.transpose(tf.reshape(tf.matMul(enc, this.param(`${pre}.${w}.weight`), false, true), [b, ls, h, dk]), [0, 2, 1, 3]);
        this.crossK.push(tf.keep(heads('k')));
        this.crossV.push(tf.keep(heads('v')));
      }
    });
    states.dispose();
    const bias = new Float32Array(b * ls);
    for (let i = 0; i < bias.length; i++) bias[i] = batch.attentionMask[i] ? 0 : MASKED;
    this.crossBias = tf.tensor4d(bias, [b, 1, 1, ls]);
  }

  private param(name: string): tf.Variable {
    const v = this.model.params.get(name);
    if (!v) throw new Error(`T5: no parameter ${name}`);
    return v;
  }

  /**
   * Logits [rows x vocab] of the next token for each row. Step t feeds each row's token t-1
   * (the decoder start token at t = 0) and reorders the cache by `parents`.
   */
  step(request: StepRequest): Float32Array {
    const c = this.model.config;
    const ff = this.model.activation;
    const { step: t, rows, tokens, parents, queries } = request;
    if (t !== this.lastStep + 1) throw new SemidArgumentError('request.step', `step ${this.lastStep + 1} (steps run in order, once each)`, t);
    if (rows < 1 || queries.length !== rows) throw new SemidArgumentError('request.queries', `${rows} query indices`, queries);
    for (let r = 0; r < rows; r++) if (queries[r] < 0 || queries[r] >= this.batchSize) throw new SemidArgumentError(`request.queries[${r}]`, `a query index below ${this.batchSize}`, queries[r]);
    const input = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const tok = t === 0 ? c.decoderStartTokenId : tokens[r * t + t - 1];
      if (tok < 0 || tok >= c.vocabSize) throw new SemidArgumentError(`request.tokens (row ${r})`, `token ids below the vocabulary size ${c.vocabSize}`, tok);
      input[r] = tok;
    }
    this.lastStep = t;
    const { numHeads: h, dKv: dk } = c;
    // rows grouped by query (query-major, equal beams per query): cross-attention without copying K/V per row
    const perQuery = rows / this.batchSize;
    let grouped = Number.isInteger(perQuery);
    for (let r = 0; grouped && r < rows; r++) grouped = queries[r] === Math.floor(r / perQuery);

    const out = tf.tidy(() => {
      let x = tf.gather(this.param('shared.weight'), tf.tensor1d(input, 'int32')); // [rows, d]
      const parentIdx = t > 0 ? tf.tensor1d(parents, 'int32') : null;
      const buckets = positionBuckets(1, t + 1, false, c.relativeAttentionNumBuckets, c.relativeAttentionMaxDistance, t);
      const selfBias = tf.expandDims(tf.transpose(tf.reshape(tf.gather(this.param('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'),
        tf.tensor1d(buckets, 'int32')), [1, t + 1, h]), [2, 0, 1]), 0); // [1, H, 1, t+1]
      const newK: tf.Tensor[] = [];
      const newV: tf.Tensor[] = [];
      const queryIdx = grouped ? null : tf.tensor1d(queries, 'int32');
      for (let i = 0; i < c.numDecoderLayers; i++) {
        const pre = `decoder.block.${i}`;
        const heads = (y: tf.Tensor, w: string) => tf.reshape(tf.matMul(y, this.param(w), false, true), [rows, h, 1, dk]);
        const n0 = rmsNorm(x, this.param(`${pre}.layer.0.layer_norm.weight`), c.layerNormEpsilon);
        const q = heads(n0, `${pre}.layer.0.SelfAttention.q.weight`);
        const kNew = heads(n0, `${pre}.layer.0.SelfAttention.k.weight`);
        const vNew = heads(n0, `${pre}.layer.0.SelfAttention.v.weight`);
        const k = t === 0 ? kNew : tf.concat([tf.gather(this.selfK[i], parentIdx!), kNew], 2);
        const v = t === 0 ? vNew : tf.concat([tf.gather(this.selfV[i], parentIdx!), vNew], 2);
        newK.push(tf.keep(k));
        newV.push(tf.keep(v));
        const p = tf.softmax(tf.add(tf.matMul(q, k, false, true), selfBias), -1);
        x = tf.add(x, tf.matMul(tf.reshape(tf.matMul(p, v), [rows, h * dk]), this.param(`${pre}.layer.0.SelfAttention.o.weight`), false, true));

        const n1 = rmsNorm(x, this.param(`${pre}.layer.1.layer_norm.weight`), c.layerNormEpsilon);
        const cq = tf.matMul(n1, this.param(`${pre}.layer.1.EncDecAttention.q.weight`), false, true);
        let ctx: tf.Tensor;
        if (grouped) {
          const qg = tf.transpose(tf.reshape(cq, [this.batchSize, perQuery, h, dk]), [0, 2, 1, 3]); // [B, H, k, dk]
          const pg = tf.softmax(tf.add(tf.matMul(qg, this.crossK[i], false, true), this.crossBias), -1);
          ctx = tf.reshape(tf.transpose(tf.matMul(pg, this.crossV[i]), [0, 2, 1, 3]), [rows, h * dk]);
        } else {
          const qr = tf.reshape(cq, [rows, h, 1, dk]);
          const kr = tf.gather(this.crossK[i], queryIdx!);
          const vr = tf.gather(this.crossV[i], queryIdx!);
          const pr = tf.softmax(tf.add(tf.matMul(qr, kr, false, true), tf.gather(this.crossBias, queryIdx!)), -1);
          ctx = tf.reshape(tf.matMul(pr, vr), [rows, h * dk]);
        }
        x = tf.add(x, tf.matMul(ctx, this.param(`${pre}.layer.1.EncDecAttention.o.weight`), false, true));

        const n2 = rmsNorm(x, this.param(`${pre}.layer.2.layer_norm.weight`), c.layerNormEpsilon);
        const hidden = ff.gated
          ? feedForwardHidden(ff, tf.matMul(n2, this.param(`${pre}.layer.2.DenseReluDense.wi_0.weight`), false, true),
            tf.matMul(n2, this.param(`${pre}.layer.2.DenseReluDense.wi_1.weight`), false, true))
          : feedForwardHidden(ff, tf.matMul(n2, this.param(`${pre}.layer.2.DenseReluDense.wi.weight`), false, true));
        x = tf.add(x, tf.matMul(hidden, this.param(`${pre}.layer.2.DenseReluDense.wo.weight`), false, true));
      }
      let hOut = rmsNorm(x, this.param('decoder.final_layer_norm.weight'), c.layerNormEpsilon);
      if (c.tieWordEmbeddings) hOut = tf.mul(hOut, c.dModel ** -0.5);
      tf.dispose([...this.selfK, ...this.selfV]);
      this.selfK = newK;
      this.selfV = newV;
      return hOut;
    });
    return this.logits(out, rows);
  }

  /**
   * The head's logits [rows x vocab] of the final states `h` [rows, dModel] (disposed here). With
   * the native BatchMatMul on a host backend, its GEMM writes them straight into the array returned
   * (the same call and values as tf.matMul), skipping a tensor of rows x vocab and its copy out.
   */
  private logits(h: tf.Tensor, rows: number): Float32Array {
    const c = this.model.config;
    const head = this.param(c.tieWordEmbeddings ? 'shared.weight' : 'lm_head.weight');
    const backend = tf.backend();
    if (hostKind(backend) === null || !nativeBatchMatMulActive(tf.getBackend())) {
      let logits: tf.Tensor;
      try {
        logits = tf.matMul(h, head, false, true);
      } finally {
        h.dispose();
      }
      try {
        return logits.dataSync() as Float32Array;
      } finally {
        logits.dispose();
      }
    }
    const size = rows * c.vocabSize;
    let out: Float32Array;
    if (this.reuseLogits) {
      if (!this.logitsBuffer || this.logitsBuffer.length < size) this.logitsBuffer = new Float32Array(size);
      out = this.logitsBuffer.subarray(0, size);
    } else {
      out = new Float32Array(size);
    }
    try {
      matMulTransposedInto(hostView(backend, h) as Float32Array, hostView(backend, head) as Float32Array, out, rows, c.vocabSize, c.dModel);
    } finally {
      h.dispose();
    }
    return out;
  }

  dispose(): void {
    tf.dispose([...this.crossK, ...this.crossV, ...this.selfK, ...this.selfV, this.crossBias]);
    this.selfK = [];
    this.selfV = [];
    this.logitsBuffer = null;
  }
}
