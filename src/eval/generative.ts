/**
 * Generative retrieval evaluation: for each test query / test user, decode the trained T5 with the
 * trie-constrained diverse beam search (beam 60, 30 groups, penalty 0.25 by default) over the IDs
 * of the task's namespace, expand IDs to items (an ID that names several items names them all),
 * and score Recall@30, Recall@10 and NDCG@30 per example.
 */
import { IdTrie } from '../decoding/trie.js';
import { constrainedBeamSearch } from '../decoding/beam-search.js';
import type { JointDataset } from '../data/dataset.js';
import { T5DecoderSession } from '../model/t5/decoder-session.js';
import type { T5Model } from '../model/t5/model.js';
import { padBatch, REC_TASK, SEARCH_TASK, type JointTask } from '../model/t5/joint-task.js';
import { ndcgAt, recallAt } from './metrics.js';

export interface DecodeSettings {
  beams?: number;
  groups?: number;
  diversityPenalty?: number;
  /** Queries decoded together (default: defaultDecodeBatch(beams, the model's vocabulary)). */
  batch?: number;
}

/**
 * Queries to decode together by default: as many as keep one step's logits (queries x beams x
 * vocab floats) within 256 MB, at most 128. Larger batches make fewer, larger GEMMs: 128 queries
 * took 0.85x the time of 32 on the `quick` model, with the same results.
 * @example defaultDecodeBatch(60, 8512) // 128; defaultDecodeBatch(60, 32128) // 34
 */
export function defaultDecodeBatch(beams: number, vocab: number): number {
  return Math.max(1, Math.min(128, Math.floor(2 ** 26 / (Math.max(1, beams) * Math.max(1, vocab)))));
}

export interface ExampleResult {
  id: string;
  target: number;
  recall30: number;
  recall10: number;
  ndcg30: number;
  /** Rec only: whether the target is a head item. */
  head?: boolean;
}

/**
 * A trie over items' ID token sequences (token ids), items numbered by item index.
 * @example itemTrie([new Int32Array([3, 5]), new Int32Array([3, 6])]).lookup([3, 6]) // Int32Array [1]
 */
export function itemTrie(itemTokens: Int32Array[]): IdTrie {
  return IdTrie.build({ codes: itemTokens.map((t) => Array.from(t)) });
}

/**
 * Decode and score examples of one task.
 * @example const results = await evaluateTask(model, task, SEARCH_TASK, indices, trie);
 */
export async function evaluateTask(model: T5Model, task: JointTask, kind: number, indices: ArrayLike<number>, trie: IdTrie,
  ds: JointDataset, o: DecodeSettings & { onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<ExampleResult[]> {
  const beams = o.beams ?? 60;
  const groups = o.groups ?? 30;
  const batch = o.batch ?? defaultDecodeBatch(beams, model.config.vocabSize);
  const out: ExampleResult[] = [];
  for (let s = 0; s < indices.length; s += batch) {
    if (o.signal?.aborted) throw o.signal.reason;
    const idx = Array.from({ length: Math.min(batch, indices.length - s) }, (_, i) => indices[s + i]);
    const exs = idx.map((i) => task.example(kind, i, 'test'));
    const b = padBatch(exs, model.config.padTokenId, model.config.decoderStartTokenId);
    const session = new T5DecoderSession(model, b, { reuseLogits: true });
    try {
      const results = await constrainedBeamSearch({
        trie, batch: exs.length, beams, groups, diversityPenalty: o.diversityPenalty ?? 0.25, endToken: undefined,
        step: (req) => session.step(req),
      });
      results.forEach((r, k) => {
        const ex = exs[k];
        const i = idx[k];
        const id = kind === SEARCH_TASK ? ds.search.test[i].id : `u${ds.interactions.userId[ds.rec.test[i * 4]]}@test`;
        const res: ExampleResult = { id, target: ex.item, recall30: recallAt(r.items, ex.item, 30), recall10: recallAt(r.items, ex.item, 10), ndcg30: ndcgAt(r.items, ex.item, 30) };
        if (kind === REC_TASK) res.head = ds.interactions.isHead[ex.item] === 1;
        out.push(res);
      });
    } finally {
      session.dispose();
    }
    o.onProgress?.(Math.min(indices.length, s + batch), indices.length);
  }
  return out;
}
