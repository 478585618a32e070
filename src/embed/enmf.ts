/**
 * ENMF (Chen et al., "Efficient Neural Matrix Factorization without Sampling", TOIS 2020), the
 * user-based variant as RecBole implements it: ŷ_ui = hᵀ(p_u ⊙ q_i), trained on the whole data
 * (every unobserved item a negative of weight c0) without sampling, through the identity
 *   c0 Σ_u Σ_all i ŷ_ui² = c0 Σ_{d,d'} (Σ_i q_i q_iᵀ)(Σ_u p_u p_uᵀ)(h hᵀ)
 * so a batch costs O((items + users + positives) · d²), never a dense users x items matrix.
 * The item embeddings q_i are the Rec-based space of the study.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt, expectNumber, expectOptions, optionKeys } from '../kernels/validate.js';
import { mulberry32 } from '../data/random.js';
import { AdamW } from '../model/runtime/adamw.js';
import { ensureRuntime } from '../model/runtime/backend.js';
import { trainLoop, type TrainProgress } from '../model/runtime/train-loop.js';

export interface EnmfOptions {
  /** Embedding size (paper: 256). */
  dim?: number;
  /** Weight of every unobserved (user, item) pair (RecBole's negative_weight, default 0.5). */
  negativeWeight?: number;
  epochs?: number;
  /** Users per batch (paper: 512). */
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/** The option names of EnmfOptions (checked against it at compile time): any other key is an error. */
const ENMF_KEYS = optionKeys<EnmfOptions>()(['dim', 'negativeWeight', 'epochs', 'batchSize', 'learningRate', 'weightDecay', 'seed', 'signal', 'onProgress']);

/** The paper's ENMF settings, and the defaults used for small data sets. */
export const ENMF_PROFILES = {
  paper: { dim: 256, epochs: 30, batchSize: 512, learningRate: 1e-3 },
  default: { dim: 256, epochs: 60, batchSize: 128, learningRate: 5e-3 },
};

/** Users' positive items as CSR: items of user u are items[offsets[u] .. offsets[u+1]). */
export interface UserItems {
  users: number;
  items: number;
  offsets: Int32Array;
  itemIds: Int32Array;
}

export interface EnmfModel {
  dim: number;
  /** [users x dim] */
  userEmbeddings: Float32Array;
  /** [items x dim]: the Rec-based item embeddings. */
  itemEmbeddings: Float32Array;
  /** [dim] */
  h: Float32Array;
}

/**
 * The whole-data loss of a batch of users, efficient form (tf scalar).
 * @example const loss = enmfBatchLoss(P, Q, h, users, positives, 0.5);
 */
export function enmfBatchLoss(P: tf.Tensor2D, Q: tf.Tensor2D, h: tf.Tensor1D, batchUsers: Int32Array, posUser: Int32Array, posItem: Int32Array, c0: number): tf.Scalar {
  return tf.tidy(() => {
    const pb = tf.gather(P, tf.tensor1d(batchUsers, 'int32'));
    const qq = tf.matMul(Q, Q, true, false);
    const pp = tf.matMul(pb, pb, true, false);
    const hh = tf.outerProduct(h, h);
    const all = tf.sum(tf.mul(tf.mul(qq, pp), hh));
    const pu = tf.gather(pb, tf.tensor1d(posUser, 'int32'));
    const qi = tf.gather(Q, tf.tensor1d(posItem, 'int32'));
    const yhat = tf.sum(tf.mul(tf.mul(pu, qi), h), 1);
    const pos = tf.sum(tf.sub(tf.mul(1 - c0, tf.square(yhat)), tf.mul(2, yhat)));
    return tf.add(tf.mul(c0, all), pos) as tf.Scalar;
  });
}

/**
 * Train ENMF on users' positive items.
 * @example const model = await trainEnmf(trainItems, { ...ENMF_PROFILES.default, seed: 1 });
 */
export async function trainEnmf(data: UserItems, options: EnmfOptions = {}): Promise<EnmfModel> {
  expectOptions<EnmfOptions>('options', options, ENMF_KEYS);
  const dim = expectInt('dim', options.dim ?? 256, 1, 65536);
  const c0 = expectNumber('negativeWeight', options.negativeWeight ?? 0.5, 0, 1);
  const epochs = expectInt('epochs', options.epochs ?? ENMF_PROFILES.default.epochs, 1, 1e6);
  const batchSize = expectInt('batchSize', options.batchSize ?? ENMF_PROFILES.default.batchSize, 1, 1e9);
  const seed = options.seed ?? 0;
  await ensureRuntime();
  if (data.offsets.length !== data.users + 1) throw new SemidArgumentError('data.offsets', `${data.users + 1} offsets`, data.offsets);
  const rand = mulberry32(seed);
  const init = (n: number, std: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * std * Math.sqrt(3));
  const own = (x: Float32Array, shape: number[], name: string) => {
    const t = tf.tensor(x, shape);
    const v = tf.variable(t, true, `enmf/${name}/${seed}/${Math.random().toString(36).slice(2)}`);
    t.dispose();
    return v;
  };
  const P = own(init(data.users * dim, 0.1), [data.users, dim], 'P');
  const Q = own(init(data.items * dim, 0.1), [data.items, dim], 'Q');
  const h = own(Float32Array.from({ length: dim }, () => 1 + (rand() - 0.5) * 0.1), [dim], 'h');
  const variables = new Map<string, tf.Variable>([['user', P], ['item', Q], ['h', h]]);
  try {
    await trainLoop({
      variables, optimizer: new AdamW({ learningRate: options.learningRate ?? ENMF_PROFILES.default.learningRate, weightDecay: options.weightDecay ?? 0 }),
      taskSizes: [data.users], batchSize, epochs, seed, signal: options.signal, onProgress: options.onProgress,
      loss: (batch) => {
        const users = batch.index;
        const posUser: number[] = [];
        const posItem: number[] = [];
        users.forEach((u, k) => { for (let p = data.offsets[u]; p < data.offsets[u + 1]; p++) { posUser.push(k); posItem.push(data.itemIds[p]); } });
        return enmfBatchLoss(P as tf.Tensor2D, Q as tf.Tensor2D, h as tf.Tensor1D, users, Int32Array.from(posUser), Int32Array.from(posItem), c0);
      },
    });
    const model = { dim, userEmbeddings: P.dataSync() as Float32Array, itemEmbeddings: Q.dataSync() as Float32Array, h: h.dataSync() as Float32Array };
    return model;
  } finally {
    tf.dispose([P, Q, h]);  // an abort mid-training included
  }
}
