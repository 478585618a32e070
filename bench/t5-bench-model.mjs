// The T5-shaped model and batch of bench/train (shared by the step runner and the data-parallel replicas).
import { T5Model } from '../dist/model/t5/model.js';
import { T5_PRESETS } from '../dist/model/t5/config.js';

export const B = 32, LS = 32, LT = 4;

export function makeModel() {
  return T5Model.create({ ...T5_PRESETS.bench, vocabSize: 2048 }, 1);
}

/** Batch of all 32 examples; `rows` selects a subset (data-parallel shards). */
export function makeBatch(vocab, rows = null) {
  let s = 7;
  const rnd = (n) => Int32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) >>> 0; return 2 + (s % (vocab - 2)); });
  const labels = rnd(B * LT);
  const inputIds = rnd(B * LS);
  const decoderInputIds = new Int32Array(B * LT);
  for (let b = 0; b < B; b++) for (let t = 1; t < LT; t++) decoderInputIds[b * LT + t] = labels[b * LT + t - 1];
  const pick = (a, len) => (rows ? Int32Array.from(rows.flatMap((r) => Array.from(a.subarray(r * len, (r + 1) * len)))) : a);
  const n = rows ? rows.length : B;
  return { batchSize: n, sourceLength: LS, targetLength: LT, inputIds: pick(inputIds, LS), attentionMask: new Int32Array(n * LS).fill(1), decoderInputIds: pick(decoderInputIds, LT), labels: pick(labels, LT) };
}

/** Data-parallel replica: the same model; a shard's loss is the loss of its rows of the batch. */
export async function createReplica() {
  const model = makeModel();
  return {
    variables: model.params,
    loss: (shard, ctx) => model.loss(makeBatch(model.config.vocabSize, Array.from(shard.index)), { training: true, seed: ctx.step }),
  };
}
