/**
 * Joint search & recommendation training of T5 on the runtime's AdamW and training loop (paper:
 * lr 2e-3, batch 128, 3 epochs, weight decay 0.01), with checkpoints, resume and progress.
 */
import { AdamW, linearSchedule } from '../runtime/adamw.js';
import { epochBatches } from '../runtime/batches.js';
import { trainLoop, type TrainProgress, type TrainResult } from '../runtime/train-loop.js';
import type { DataParallel } from '../runtime/data-parallel.js';
import type { Batch } from '../runtime/batches.js';
import type { T5Batch, T5Model } from './model.js';
import { expectOptions, optionKeys } from '../../kernels/validate.js';

/** What training reads of a task: examples per task, and padded batches (JointTask, PairTask). */
export interface TrainingTask {
  sizes(split: 'train'): number[];
  batch(b: Batch, split: 'train', decoderStart?: number): T5Batch;
}

export interface JointTrainOptions {
  model: T5Model;
  /** The study's JointTask, or a PairTask of your own pairs. */
  task: TrainingTask;
  /** Paper: 128. */
  batchSize?: number;
  /** Paper: 3. */
  epochs?: number;
  /** Peak learning rate (paper: 2e-3), linear warm-up then linear decay to 0. */
  learningRate?: number;
  /** Warm-up as a fraction of all steps (default 0.05). */
  warmupFraction?: number;
  /** Paper: 0.01. */
  weightDecay?: number;
  clipNorm?: number | null;
  seed?: number;
  checkpoint?: { dir: string; everySteps: number; keep?: number };
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  parallel?: DataParallel;
}

/** The option names of JointTrainOptions (checked against it at compile time): any other key is an error. */
const JOINT_TRAIN_KEYS = optionKeys<JointTrainOptions>()(['model', 'task', 'batchSize', 'epochs', 'learningRate', 'warmupFraction', 'weightDecay', 'clipNorm', 'seed', 'checkpoint', 'signal', 'onProgress', 'parallel']);

/** The paper's settings for the joint T5. */
export const PAPER_T5_TRAINING = { batchSize: 128, epochs: 3, learningRate: 2e-3, weightDecay: 0.01 };

/**
 * Train on the task's training split (search and recommendation examples mixed in every batch).
 * @example await trainJointT5({ model, task, epochs: 3, checkpoint: { dir: 'runs/x/t5-ckpt', everySteps: 500 } });
 */
export async function trainJointT5(o: JointTrainOptions): Promise<TrainResult> {
  expectOptions<JointTrainOptions>('options', o, JOINT_TRAIN_KEYS);
  const batchSize = o.batchSize ?? PAPER_T5_TRAINING.batchSize;
  const epochs = o.epochs ?? PAPER_T5_TRAINING.epochs;
  const seed = o.seed ?? 42;
  const sizes = o.task.sizes('train');
  const perEpoch = epochBatches({ sizes, batchSize, seed, epoch: 0 }).count;
  const total = Math.max(1, perEpoch * epochs);
  const optimizer = new AdamW({
    learningRate: linearSchedule({ peak: o.learningRate ?? PAPER_T5_TRAINING.learningRate, warmupSteps: Math.round(total * (o.warmupFraction ?? 0.05)), totalSteps: total }),
    weightDecay: o.weightDecay ?? PAPER_T5_TRAINING.weightDecay,
    clipNorm: o.clipNorm === undefined ? 1 : o.clipNorm,
  });
  const start = o.model.config.decoderStartTokenId;
  return trainLoop({
    variables: o.model.params, optimizer, taskSizes: sizes, batchSize, epochs, seed,
    loss: (batch, ctx) => o.model.loss(o.task.batch(batch, 'train', start), { training: true, seed: ctx.step }),
    checkpoint: o.checkpoint && { ...o.checkpoint, metadata: { model: 't5', vocab: String(o.model.config.vocabSize) } },
    signal: o.signal, onProgress: o.onProgress, parallel: o.parallel,
  });
}
