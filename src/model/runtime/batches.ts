/**
 * Seeded, mixed batches over several tasks: every example of every task once per epoch, shuffled
 * together, so a batch holds search and recommendation examples in the proportion of the data.
 * The plan of an epoch depends only on (sizes, batchSize, seed, epoch), which makes resuming exact.
 */
import { expectInt } from '../../kernels/validate.js';
import { SemidArgumentError } from '../../kernels/errors.js';
import { hashSeed, mulberry32 } from '../../data/random.js';

export interface Batch {
  /** [size] task of each example. */
  task: Int32Array;
  /** [size] index of each example within its task. */
  index: Int32Array;
}

export interface BatchPlan {
  /** Batches in this epoch. */
  count: number;
  /** Batch number `b` (0-based) of the epoch. */
  batch(b: number): Batch;
}

/**
 * The batches of one epoch.
 * @example
 * const plan = epochBatches({ sizes: [1000, 4000], batchSize: 128, seed: 42, epoch: 0 });
 * const { task, index } = plan.batch(0); // 128 examples from both tasks
 */
export function epochBatches(o: { sizes: number[]; batchSize: number; seed: number; epoch: number; dropLast?: boolean }): BatchPlan {
  if (!Array.isArray(o.sizes) || o.sizes.length === 0) throw new SemidArgumentError('sizes', 'a non-empty array of task sizes', o.sizes);
  o.sizes.forEach((s, i) => expectInt(`sizes[${i}]`, s, 0, 2 ** 31 - 1));
  expectInt('batchSize', o.batchSize, 1, 2 ** 31 - 1);
  expectInt('seed', o.seed, 0, 2 ** 32 - 1);
  expectInt('epoch', o.epoch, 0, 2 ** 31 - 1);
  const total = o.sizes.reduce((a, b) => a + b, 0);
  const offsets = new Float64Array(o.sizes.length + 1);
  o.sizes.forEach((s, i) => (offsets[i + 1] = offsets[i] + s));
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  const rand = mulberry32(hashSeed(o.seed, `epoch:${o.epoch}`));
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  const count = o.dropLast ? Math.floor(total / o.batchSize) : Math.ceil(total / o.batchSize);
  return {
    count,
    batch(b: number): Batch {
      if (!Number.isInteger(b) || b < 0 || b >= count) throw new SemidArgumentError('batch', `integer between 0 and ${count - 1}`, b);
      const start = b * o.batchSize;
      const end = Math.min(total, start + o.batchSize);
      const task = new Int32Array(end - start);
      const index = new Int32Array(end - start);
      for (let k = start; k < end; k++) {
        const g = order[k];
        let t = 0;
        while (g >= offsets[t + 1]) t++;
        task[k - start] = t;
        index[k - start] = g - offsets[t];
      }
      return { task, index };
    },
  };
}
