/**
 * The training loop every model here uses: seeded mixed batches, one AdamW update per batch,
 * progress (loss, examples/s, ETA), an AbortSignal, periodic atomic checkpoints, and resume from
 * the newest checkpoint that gives the same parameters as a run that was never interrupted.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidArgumentError } from '../../kernels/errors.js';
import { expectInt } from '../../kernels/validate.js';
import type { AdamW, AdamWStepInfo } from './adamw.js';
import { epochBatches, type Batch } from './batches.js';
import { loadLatestCheckpoint, saveCheckpoint } from './checkpoint.js';
import type { DataParallel } from './data-parallel.js';

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Loss of this step and its running mean over the epoch so far. */
  loss: number;
  meanLoss: number;
  examplesPerSecond: number;
  etaSeconds: number;
  learningRate: number;
  gradNorm: number;
}

export interface TrainLoopOptions {
  /** Trainable variables by name (names are the checkpoint keys). */
  variables: Map<string, tf.Variable>;
  optimizer: AdamW;
  /** Examples per task (batches mix tasks in proportion). */
  taskSizes: number[];
  batchSize: number;
  epochs: number;
  seed: number;
  /**
   * The loss of a batch, a scalar. `step` (1-based update number) should seed any randomness
   * (dropout), so that a resumed run repeats it exactly.
   */
  loss: (batch: Batch, context: { step: number; epoch: number }) => tf.Scalar;
  /** Checkpoints: folder, every N updates (and at the end and on abort), newest `keep` kept (default 2). */
  checkpoint?: { dir: string; everySteps: number; keep?: number; metadata?: Record<string, string> };
  /** Resume from the newest checkpoint in checkpoint.dir when there is one (default true). */
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** Compute each batch's gradients on these data-parallel replicas instead of in this thread. */
  parallel?: DataParallel;
}

export interface TrainResult {
  steps: number;
  /** Mean loss of each epoch (only the batches run in this call for a resumed epoch). */
  epochLoss: number[];
  /** The checkpoint this run resumed from, if any. */
  resumedFrom: string | null;
  lastStep: AdamWStepInfo | null;
}

/**
 * Train until `epochs` are done.
 * @example
 * const result = await trainLoop({ variables, optimizer: new AdamW({ learningRate: 1e-3 }), taskSizes: [n],
 *   batchSize: 32, epochs: 3, seed: 1, loss: (b) => model.loss(b) });
 */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainResult> {
  if (!(o.variables instanceof Map) || o.variables.size === 0) throw new SemidArgumentError('variables', 'a non-empty Map of name -> tf.Variable', o.variables);
  expectInt('batchSize', o.batchSize, 1, 2 ** 31 - 1);
  expectInt('epochs', o.epochs, 0, 1e9);
  if (typeof o.loss !== 'function') throw new SemidArgumentError('loss', 'a function (batch, context) => tf.Scalar', o.loss);
  if (o.checkpoint) expectInt('checkpoint.everySteps', o.checkpoint.everySteps, 1, 2 ** 31 - 1);
  const plan0 = epochBatches({ sizes: o.taskSizes, batchSize: o.batchSize, seed: o.seed, epoch: 0 });
  const perEpoch = plan0.count;
  const totalSteps = perEpoch * o.epochs;

  let step = 0;
  let startEpoch = 0;
  let startBatch = 0;
  let resumedFrom: string | null = null;
  if (o.checkpoint && o.resume !== false) {
    const pos = loadLatestCheckpoint(o.checkpoint.dir, o.variables, o.optimizer);
    if (pos) {
      step = pos.step;
      startEpoch = pos.epoch;
      startBatch = pos.batch;
      resumedFrom = pos.path;
    }
  }
  const varList = [...o.variables.values()];
  const nameOf = new Map<string, string>();
  for (const [name, v] of o.variables) nameOf.set(v.name, name);
  const save = (epoch: number, batch: number) => {
    if (o.checkpoint) saveCheckpoint(o.checkpoint.dir, o.variables, o.optimizer, { step, epoch, batch }, o.checkpoint.metadata, o.checkpoint.keep ?? 2);
  };

  const epochLoss: number[] = [];
  let lastStep: AdamWStepInfo | null = null;
  const t0 = performance.now();
  let examplesDone = 0;
  const stepsAtStart = step;
  for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    const plan = epoch === 0 ? plan0 : epochBatches({ sizes: o.taskSizes, batchSize: o.batchSize, seed: o.seed, epoch });
    let lossSum = 0;
    let lossCount = 0;
    for (let b = epoch === startEpoch ? startBatch : 0; b < plan.count; b++) {
      if (o.signal?.aborted) {
        save(epoch, b);
        throw o.signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
      }
      const batch = plan.batch(b);
      const nextStep = step + 1;
      let loss: number;
      const named = new Map<string, tf.Tensor>();
      if (o.parallel) {
        const r = await o.parallel.gradients(batch, { step: nextStep, epoch });
        loss = r.loss;
        for (const [name, g] of r.grads) named.set(name, g);
      } else {
        const { value, grads } = tf.variableGrads(() => o.loss(batch, { step: nextStep, epoch }), varList);
        for (const [vname, g] of Object.entries(grads)) named.set(nameOf.get(vname)!, g);
        loss = (await value.data())[0];
        value.dispose();
      }
      if (!Number.isFinite(loss)) {
        tf.dispose([...named.values()]);
        throw new Error(`the loss is ${loss} at step ${nextStep} (epoch ${epoch}, batch ${b})`);
      }
      lastStep = o.optimizer.apply(o.variables, named);
      tf.dispose([...named.values()]);
      o.parallel?.publish();
      step = nextStep;
      lossSum += loss;
      lossCount++;
      examplesDone += batch.task.length;
      const elapsed = (performance.now() - t0) / 1000;
      const rate = examplesDone / Math.max(elapsed, 1e-9);
      const stepsLeft = totalSteps - step;
      const stepsDone = step - stepsAtStart;
      o.onProgress?.({
        step, totalSteps, epoch, loss, meanLoss: lossSum / lossCount, examplesPerSecond: rate,
        etaSeconds: stepsDone > 0 ? (elapsed / stepsDone) * stepsLeft : 0, learningRate: lastStep.learningRate, gradNorm: lastStep.gradNorm,
      });
      if (o.checkpoint && step % o.checkpoint.everySteps === 0) {
        const nb = b + 1;
        save(nb === plan.count ? epoch + 1 : epoch, nb === plan.count ? 0 : nb);
      }
      // yield to the event loop so aborts and progress output get through
      if ((step & 7) === 0) await new Promise((r) => setImmediate(r));
    }
    epochLoss.push(lossCount ? lossSum / lossCount : NaN);
  }
  if (o.checkpoint && step > stepsAtStart) save(o.epochs, 0);
  return { steps: step, epochLoss, resumedFrom, lastStep };
}
