/**
 * The bi-encoder: one shared text tower for queries and item texts, trained with the
 * multiple-negatives ranking loss (in-batch negatives, similarity scale 20, as
 * sentence-transformers' MultipleNegativesRankingLoss). Default tower (no pretrained weights):
 * embeddings of the content model's words and bigrams, mean-pooled, then a projection; it starts as
 * the content encoder (term vectors weighted by idf, identity projection), so training refines it.
 * Modes: `search` (query, item text) pairs, and `multitask` (plus pairs of items that follow each
 * other in users' training histories, capped by maxPairs; loss = sum of both).
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt, expectNumber, expectOptions, optionKeys } from '../kernels/validate.js';
import { AdamW, linearSchedule } from '../model/runtime/adamw.js';
import { requireRuntime } from '../model/runtime/backend.js';
import { epochBatches } from '../model/runtime/batches.js';
import { trainLoop, type TrainProgress } from '../model/runtime/train-loop.js';
import type { ContentModel } from './content.js';
import { normalizeRows } from './vectors.js';

export interface TowerWeights {
  /** [terms x dim] term embeddings. */
  termEmbeddings: Float32Array;
  /** [dim x dim] projection. */
  projection: Float32Array;
  dim: number;
}

/** Settings: `paper` as the paper fine-tuned a pretrained encoder; `default` for our from-scratch tower. */
export const BIENCODER_PROFILES = {
  paper: { epochs: 5, batchSize: 512, learningRate: 2e-5 },
  default: { epochs: 3, batchSize: 256, learningRate: 1e-3 },
};

/**
 * sentence-transformers' MultipleNegativesRankingLoss: mean CE of scale·cos(a_i, b_j) with targets j = i.
 * @example const loss = mnrlLoss(tower.forward(queryTerms), tower.forward(itemTerms)); // a scalar to minimise
 */
export function mnrlLoss(a: tf.Tensor2D, b: tf.Tensor2D, scale = 20): tf.Scalar {
  return tf.tidy(() => {
    // x / sqrt(|x|² + eps): a finite gradient even for an all-zero row (a text with no known terms)
    const unit = (x: tf.Tensor) => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12)));
    const an = unit(a);
    const bn = unit(b);
    const scores = tf.mul(tf.matMul(an, bn, false, true), scale);
    const n = a.shape[0];
    const logp = tf.logSoftmax(scores, 1);
    const diag = tf.gather(tf.reshape(logp, [n * n]), tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i * n + i), 'int32'));
    return tf.neg(tf.mean(diag)) as tf.Scalar;
  });
}

/**
 * The tower's parameters, and its forward pass on term-id lists.
 * @example const tower = new TextTower(contentModel); const emb = tower.forward([vectorizer.termIds('a dark space horror')]); // [1, dim]
 */
export class TextTower {
  readonly E: tf.Variable;
  readonly W: tf.Variable;

  constructor(readonly content: ContentModel, weights?: TowerWeights) {
    requireRuntime('a TextTower');
    const dim = content.dim;
    const terms = content.vectorizer.size;
    let e = weights?.termEmbeddings;
    if (!e) {
      e = new Float32Array(terms * dim);
      for (let t = 0; t < terms; t++) for (let j = 0; j < dim; j++) e[t * dim + j] = content.termVectors[t * dim + j] * content.vectorizer.idf[t];
    }
    let w = weights?.projection;
    if (!w) { w = new Float32Array(dim * dim); for (let j = 0; j < dim; j++) w[j * dim + j] = 1; }
    const own = (x: Float32Array, shape: number[], name: string) => {
      const t0 = tf.tensor(x, shape);
      const v = tf.variable(t0, true, `tower/${name}/${Math.random().toString(36).slice(2)}`);
      t0.dispose();
      return v;
    };
    this.E = own(e, [terms, dim], 'E');
    this.W = own(w, [dim, dim], 'W');
  }

  get dim(): number { return this.content.dim; }

  /** Mean-pooled, projected embeddings [texts x dim] (not normalised) of term-id lists. */
  forward(ids: Int32Array[]): tf.Tensor2D {
    return tf.tidy(() => {
      const b = ids.length;
      const len = Math.max(1, ...ids.map((x) => x.length));
      const flat = new Int32Array(b * len);
      const weights = new Float32Array(b * len); // [b, 1, len]: 1 / length over a text's terms, 0 over padding
      ids.forEach((x, i) => { flat.set(x, i * len); weights.fill(x.length ? 1 / x.length : 0, i * len, i * len + x.length); });
      const g = tf.reshape(tf.gather(this.E, tf.tensor1d(flat, 'int32')), [b, len, this.dim]);
      // the mean as a batched product: its gradient is two native GEMMs (a masked tf.sum's makes a ones tensor of g's shape)
      const pooled = tf.reshape(tf.matMul(tf.tensor3d(weights, [b, 1, len]), g), [b, this.dim]);
      return tf.matMul(pooled, this.W) as tf.Tensor2D;
    });
  }

  /** Unit embeddings [texts x dim] of texts, in chunks. */
  encode(texts: string[], chunk = 2048): Float32Array {
    const out = new Float32Array(texts.length * this.dim);
    for (let s = 0; s < texts.length; s += chunk) {
      const ids = texts.slice(s, s + chunk).map((t) => this.content.vectorizer.termIds(t));
      const y = this.forward(ids);
      out.set(y.dataSync() as Float32Array, s * this.dim);
      y.dispose();
    }
    return normalizeRows(out, this.dim);
  }

  variables(): Map<string, tf.Variable> {
    return new Map([['E', this.E], ['W', this.W]]);
  }

  /** Differentiable (not normalised) embeddings of texts. */
  embedTexts(texts: string[]): tf.Tensor2D {
    return this.forward(texts.map((t) => this.content.vectorizer.termIds(t)));
  }

  weights(): TowerWeights {
    return { termEmbeddings: this.E.dataSync() as Float32Array, projection: this.W.dataSync() as Float32Array, dim: this.dim };
  }

  dispose(): void { tf.dispose([this.E, this.W]); }
}

/** What trainBiEncoder needs of a text tower: its variables and a differentiable text embedding. */
export interface Tower {
  variables(): Map<string, tf.Variable>;
  embedTexts(texts: string[]): tf.Tensor2D;
}

export interface BiEncoderTrainOptions {
  /** (query text, item) pairs. */
  searchPairs: Array<{ query: string; item: number }>;
  /** Multi-task: (item, item) pairs; empty for search mode. */
  itemPairs?: Array<[number, number]>;
  itemTexts: string[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  scale?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/** The option names of BiEncoderTrainOptions (checked against it at compile time): any other key is an error. */
const BI_ENCODER_TRAIN_KEYS = optionKeys<BiEncoderTrainOptions>()(['searchPairs', 'itemPairs', 'itemTexts', 'epochs', 'batchSize', 'learningRate', 'scale', 'seed', 'signal', 'onProgress']);

/**
 * Train the tower with MNRL; each batch mixes search pairs and (in multi-task) item pairs, and the
 * loss is the sum of the two tasks' in-batch losses.
 * @example await trainBiEncoder(tower, { searchPairs, itemTexts, epochs: 3 });
 */
export async function trainBiEncoder(tower: Tower, o: BiEncoderTrainOptions): Promise<number[]> {
  expectOptions<BiEncoderTrainOptions>('options', o, BI_ENCODER_TRAIN_KEYS);
  const epochs = expectInt('epochs', o.epochs ?? BIENCODER_PROFILES.default.epochs, 1, 1e6);
  const batchSize = expectInt('batchSize', o.batchSize ?? BIENCODER_PROFILES.default.batchSize, 2, 1e6);
  const lr = expectNumber('learningRate', o.learningRate ?? BIENCODER_PROFILES.default.learningRate, 0);
  const scale = o.scale ?? 20;
  const seed = o.seed ?? 0;
  if (!Array.isArray(o.searchPairs) || o.searchPairs.length === 0) throw new SemidArgumentError('searchPairs', 'a non-empty array of {query, item}', o.searchPairs);
  const itemPairs = o.itemPairs ?? [];
  const sizes = itemPairs.length ? [o.searchPairs.length, itemPairs.length] : [o.searchPairs.length];
  const steps = epochBatches({ sizes, batchSize, seed, epoch: 0 }).count * epochs;
  const result = await trainLoop({
    variables: tower.variables(),
    optimizer: new AdamW({ learningRate: linearSchedule({ peak: lr, warmupSteps: Math.round(steps * 0.1), totalSteps: steps }), weightDecay: 0 }),
    taskSizes: sizes, batchSize, epochs, seed, signal: o.signal, onProgress: o.onProgress,
    loss: (batch) => {
      const sq: string[] = [];
      const sd: string[] = [];
      const ia: string[] = [];
      const ib: string[] = [];
      batch.task.forEach((t, k) => {
        const i = batch.index[k];
        if (t === 0) { sq.push(o.searchPairs[i].query); sd.push(o.itemTexts[o.searchPairs[i].item]); } else { ia.push(o.itemTexts[itemPairs[i][0]]); ib.push(o.itemTexts[itemPairs[i][1]]); }
      });
      // every text of the batch through the tower at once: one lookup, so one (dense) gradient of
      // the term table instead of one per group of texts plus their sums
      const groups: string[][] = [];
      if (sq.length > 1) groups.push(sq, sd);
      if (ia.length > 1) groups.push(ia, ib);
      let loss = tf.scalar(0);
      if (groups.length === 0) return loss;
      const all = tower.embedTexts(groups.flat());
      const parts: tf.Tensor2D[] = [];
      let start = 0;
      for (const g of groups) { parts.push(tf.slice(all, [start, 0], [g.length, all.shape[1]])); start += g.length; }
      for (let p = 0; p < parts.length; p += 2) loss = tf.add(loss, mnrlLoss(parts[p], parts[p + 1], scale));
      return loss as tf.Scalar;
    },
  });
  return result.epochLoss;
}
