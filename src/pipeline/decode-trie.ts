/** The decoding loop a run's model (decodeSources) and a GenerativeRetriever share. */
import { constrainedBeamSearch, type QueryResult } from '../decoding/beam-search.js';
import type { IdTrie } from '../decoding/trie.js';
import { defaultDecodeBatch } from '../eval/generative.js';
import { T5DecoderSession } from '../model/t5/decoder-session.js';
import { padBatch } from '../model/t5/joint-task.js';
import type { T5Model } from '../model/t5/model.js';

/**
 * Decode encoder inputs with the trie-constrained diverse beam search on a T5 (cached decoder),
 * as many at a time as keep one step's logits within 256 MB (the evaluation's batches); one
 * QueryResult per input, in order. The inputs are independent: each gets what it would get alone.
 * @example const [res] = await decodeWithTrie(model, trie, [tokenizer.encode('space robots')], { beams: 60, groups: 30, diversityPenalty: 0.25 });
 */
export async function decodeWithTrie(model: T5Model, trie: IdTrie, sources: Int32Array[],
  r: { beams: number; groups: number; diversityPenalty: number; signal?: AbortSignal }, endToken?: number): Promise<QueryResult[]> {
  const c = model.config;
  const out: QueryResult[] = [];
  const chunk = defaultDecodeBatch(r.beams, c.vocabSize);
  for (let s = 0; s < sources.length; s += chunk) {
    const part = sources.slice(s, s + chunk);
    const batch = padBatch(part.map((source) => ({ source, target: new Int32Array(0) })), c.padTokenId, c.decoderStartTokenId);
    const session = new T5DecoderSession(model, batch, { reuseLogits: true });
    try {
      out.push(...await constrainedBeamSearch({ trie, batch: part.length, beams: r.beams, groups: r.groups, diversityPenalty: r.diversityPenalty,
        endToken, step: (req) => session.step(req), signal: r.signal }));
    } finally {
      session.dispose();
    }
  }
  return out;
}
