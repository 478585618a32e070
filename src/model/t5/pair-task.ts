/**
 * Training a T5 on (source, target) pairs of your own, e.g. (query -> the ID of the item it names)
 * for a catalogue that is not MovieLens: the same training loop, schedule and checkpoints as the
 * study's joint task (trainJointT5), fed from a list of token pairs.
 */
import { SemidArgumentError } from '../../kernels/errors.js';
import type { Batch } from '../runtime/batches.js';
import type { TrainResult } from '../runtime/train-loop.js';
import type { T5Batch, T5Model } from './model.js';
import { padBatch } from './joint-task.js';
import { trainJointT5, type JointTrainOptions } from './train-joint.js';

/** One example: encoder input and the target to generate, as token ids. */
export interface TokenPair {
  source: ArrayLike<number>;
  target: ArrayLike<number>;
}

/**
 * Pairs as a training task (what trainJointT5 reads: sizes and padded batches). Targets get the
 * end token appended where they lack it, as the study's targets have it.
 * @example const task = new PairTask([{ source: tok.encode('search: space robots'), target: [2003, 2260] }], { vocabSize: 2600, eos: 1 });
 */
export class PairTask {
  private readonly sources: Int32Array[];
  private readonly targets: Int32Array[];
  private readonly pad: number;

  constructor(pairs: ReadonlyArray<TokenPair>, o: { vocabSize: number; eos: number; pad?: number }) {
    if (!Array.isArray(pairs) || pairs.length === 0) throw new SemidArgumentError('pairs', 'a non-empty list of { source, target } token id arrays', pairs);
    const ids = (x: unknown, name: string): Int32Array => {
      const a = x as ArrayLike<number> | null | undefined;
      if (!a || typeof a !== 'object' || typeof a.length !== 'number' || a.length === 0) throw new SemidArgumentError(name, 'a non-empty array of token ids', x);
      for (let k = 0; k < a.length; k++) if (!Number.isInteger(a[k]) || a[k] < 0 || a[k] >= o.vocabSize) throw new SemidArgumentError(`${name}[${k}]`, `a token id below the model's ${o.vocabSize}`, a[k]);
      return Int32Array.from(a);
    };
    this.sources = pairs.map((p, i) => ids(p?.source, `pairs[${i}].source`));
    this.targets = pairs.map((p, i) => {
      const t = ids(p?.target, `pairs[${i}].target`);
      if (t[t.length - 1] === o.eos) return t;
      const out = new Int32Array(t.length + 1);
      out.set(t);
      out[t.length] = o.eos;
      return out;
    });
    this.pad = o.pad ?? 0;
  }

  /** Examples per task: one task, all the pairs. */
  sizes(): [number] {
    return [this.sources.length];
  }

  /** A padded T5 batch of the pairs `b` names (teacher forcing, as JointTask.batch). */
  batch(b: Batch, _split?: unknown, decoderStart = 0): T5Batch {
    return padBatch(Array.from(b.index, (i) => ({ source: this.sources[i], target: this.targets[i] })), this.pad, decoderStart);
  }
}

/**
 * Train `model` on token pairs with the study's loop (AdamW, linear warm-up and decay, clipping,
 * checkpoints and resume, progress, AbortSignal); options and defaults as trainJointT5's (paper:
 * batch 128, 3 epochs, lr 2e-3, weight decay 0.01).
 * @example await trainT5OnPairs({ model, pairs: queries.map((q, i) => ({ source: tok.encode(q), target: itemIds[i] })), epochs: 3 });
 */
export async function trainT5OnPairs(o: Omit<JointTrainOptions, 'task'> & { pairs: ReadonlyArray<TokenPair> }): Promise<TrainResult> {
  if (!o || typeof o !== 'object') throw new SemidArgumentError('options', 'an object with model and pairs', o);
  const { pairs, ...rest } = o;
  const model = rest.model as T5Model;
  if (!model || typeof model !== 'object' || !model.config) throw new SemidArgumentError('model', 'a T5Model', model);
  const task = new PairTask(pairs, { vocabSize: model.config.vocabSize, eos: model.config.eosTokenId, pad: model.config.padTokenId });
  return trainJointT5({ ...rest, task });
}
