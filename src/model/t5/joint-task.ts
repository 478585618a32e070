/**
 * The joint search & recommendation task for T5, as the paper trains it:
 *   search:    "search: <query>"                         -> the item's ID tokens, then </s>
 *   recommend: "recommend:" + ID tokens of the last N items -> the next item's ID tokens, then </s>
 * Examples come from the joint data set (src/data/dataset.ts); batches mix both tasks and are
 * padded to their longest member (labels padded with -100, which the loss skips).
 */
import { SemidArgumentError } from '../../kernels/errors.js';
import { expectInt } from '../../kernels/validate.js';
import type { JointDataset, Split } from '../../data/dataset.js';
import type { Batch } from '../runtime/batches.js';
import type { T5Batch } from './model.js';
import type { T5Tokenizer } from './tokenizer.js';

export const SEARCH_TASK = 0;
export const REC_TASK = 1;

export interface JointTaskOptions {
  /** Longest encoder input in tokens (default 64); longer search prompts are cut (keeping the end token). */
  maxSourceLength?: number;
  /** Items of the history in a recommendation prompt, most recent last (default 20). */
  historyItems?: number;
  searchPrefix?: string;
  recPrefix?: string;
}

/** Token ids of each item's Semantic ID, per task (the same arrays for a shared ID space; different ones for Separate). */
export interface ItemTokenSpace {
  search: Int32Array[];
  rec: Int32Array[];
}

/**
 * Builds prompts and batches of the joint task.
 * @example
 * const task = new JointTask(tokenizer, dataset, { search: ids, rec: ids });
 * const t5batch = task.batch(plan.batch(0), 'train');
 */
export class JointTask {
  readonly maxSourceLength: number;
  readonly historyItems: number;
  private readonly eos: number;
  private readonly pad: number;
  private readonly searchCache = new Map<string, Int32Array>();
  private readonly recPrefixIds: Int32Array;
  private readonly searchPrefix: string;

  constructor(readonly tokenizer: T5Tokenizer, readonly dataset: JointDataset, readonly items: ItemTokenSpace, options: JointTaskOptions = {},
    tokens: { eos?: number; pad?: number } = {}) {
    this.maxSourceLength = expectInt('maxSourceLength', options.maxSourceLength ?? 64, 4, 1 << 16);
    this.historyItems = expectInt('historyItems', options.historyItems ?? 20, 1, 1 << 16);
    this.eos = tokens.eos ?? 1;
    this.pad = tokens.pad ?? 0;
    const n = dataset.items.length;
    for (const kind of ['search', 'rec'] as const) {
      if (!Array.isArray(items?.[kind]) || items[kind].length !== n) throw new SemidArgumentError(`items.${kind}`, `one Int32Array of ID tokens per item (${n})`, items?.[kind]);
    }
    this.searchPrefix = options.searchPrefix ?? 'search:';
    const rec = tokenizer.encode(options.recPrefix ?? 'recommend:');
    this.recPrefixIds = rec[rec.length - 1] === this.eos ? rec.subarray(0, rec.length - 1) : rec;
  }

  /** Examples per task in a split: [search, rec]. */
  sizes(split: Split): [number, number] {
    return [this.dataset.search[split].length, this.dataset.rec[split].length / 4];
  }

  /** The encoder input of a search query (cached). */
  searchSource(query: string): Int32Array {
    let ids = this.searchCache.get(query);
    if (!ids) {
      ids = this.tokenizer.encode(`${this.searchPrefix} ${query}`);
      if (ids.length > this.maxSourceLength) {
        ids = ids.slice(0, this.maxSourceLength);
        ids[ids.length - 1] = this.eos;
      }
      this.searchCache.set(query, ids);
    }
    return ids;
  }

  /**
   * The encoder input of a history (item indices, oldest first): prefix, the ID tokens of the last
   * `historyItems` items, end. Where they do not fit in maxSourceLength, the oldest items are
   * dropped whole (never half an ID).
   * @example task.recSource(Int32Array.of(4, 9, 2)) // [...prefix, ...ID of 4, ...ID of 9, ...ID of 2, end]
   */
  recSource(history: ArrayLike<number>): Int32Array {
    const start = Math.max(0, history.length - this.historyItems);
    const budget = this.maxSourceLength - this.recPrefixIds.length - 1;  // tokens left for item IDs
    if (budget < 0) return Int32Array.from([...this.recPrefixIds.subarray(0, this.maxSourceLength - 1), this.eos]);
    let first = history.length;
    for (let used = 0; first > start; first--) {
      const len = this.items.rec[history[first - 1]].length;
      if (used + len > budget) break;
      used += len;
    }
    const parts: number[] = Array.from(this.recPrefixIds);
    for (let i = first; i < history.length; i++) for (const t of this.items.rec[history[i]]) parts.push(t);
    parts.push(this.eos);
    return Int32Array.from(parts);
  }

  /** One example: encoder input and target (ID tokens then end). */
  example(task: number, index: number, split: Split): { source: Int32Array; target: Int32Array; item: number } {
    if (task === SEARCH_TASK) {
      const ex = this.dataset.search[split][index];
      if (!ex) throw new SemidArgumentError('index', `a search example index below ${this.dataset.search[split].length}`, index);
      return { source: this.searchSource(ex.query), target: withEnd(this.items.search[ex.item], this.eos), item: ex.item };
    }
    if (task !== REC_TASK) throw new SemidArgumentError('task', `${SEARCH_TASK} (search) or ${REC_TASK} (rec)`, task);
    const rows = this.dataset.rec[split];
    if (index < 0 || index * 4 >= rows.length) throw new SemidArgumentError('index', `a rec example index below ${rows.length / 4}`, index);
    const start = rows[index * 4 + 1];
    const end = rows[index * 4 + 2];
    const item = rows[index * 4 + 3];
    return { source: this.recSource(this.dataset.interactions.sequence.subarray(start, end)), target: withEnd(this.items.rec[item], this.eos), item };
  }

  /** A padded T5 batch (teacher forcing: decoder input = start token + target without its last token). */
  batch(b: Batch, split: Split, decoderStart = 0): T5Batch {
    const exs = Array.from(b.task, (t, i) => this.example(t, b.index[i], split));
    return padBatch(exs, this.pad, decoderStart);
  }
}

function withEnd(ids: Int32Array, eos: number): Int32Array {
  const out = new Int32Array(ids.length + 1);
  out.set(ids);
  out[ids.length] = eos;
  return out;
}

/**
 * Pad examples into a T5 batch.
 * @example padBatch([{ source: Int32Array.of(5, 1), target: Int32Array.of(9, 1) }], 0, 0)
 */
export function padBatch(exs: Array<{ source: Int32Array; target: Int32Array }>, pad: number, decoderStart: number): T5Batch {
  const b = exs.length;
  const ls = Math.max(1, ...exs.map((e) => e.source.length));
  const lt = Math.max(1, ...exs.map((e) => e.target.length));
  const inputIds = new Int32Array(b * ls).fill(pad);
  const attentionMask = new Int32Array(b * ls);
  const decoderInputIds = new Int32Array(b * lt).fill(pad);
  const labels = new Int32Array(b * lt).fill(-100);
  exs.forEach((e, i) => {
    inputIds.set(e.source, i * ls);
    attentionMask.fill(1, i * ls, i * ls + e.source.length);
    labels.set(e.target, i * lt);
    decoderInputIds[i * lt] = decoderStart;
    decoderInputIds.set(e.target.subarray(0, Math.min(e.target.length, lt - 1)), i * lt + 1);
  });
  return { batchSize: b, sourceLength: ls, targetLength: lt, inputIds, attentionMask, decoderInputIds, labels };
}
