/**
 * QueryResult objects (constrainedBeamSearch's default format) from the flat BeamSearchArrays of
 * the same search: one Hypothesis object per ranked hypothesis, each query's items copied out.
 */
import type { BeamSearchArrays, Hypothesis, QueryResult } from './beam-search.js';
import type { IdTrie } from './trie.js';

/**
 * Every query's QueryResult from `arrays` (row q: query q), with the same hypotheses, order,
 * scores and items; hypotheses' `items` are the trie's views (IdTrie.itemsOf).
 *
 * @example
 * const trie = IdTrie.build({ codes: new Int32Array([0, 1]), length: 1 });
 * const arrays = await constrainedBeamSearch({ trie, batch: 1, beams: 2, format: 'arrays',
 *   step: ({ rows }) => new Float32Array(rows * 2) });
 * queryResults(arrays, trie)[0].items;  // Int32Array [0, 1]
 */
export function queryResults(arrays: BeamSearchArrays, trie: IdTrie): QueryResult[] {
  const results: QueryResult[] = new Array(arrays.batch);
  for (let q = 0; q < arrays.batch; ++q) results[q] = queryResult(arrays, trie, q);
  return results;
}

function queryResult(a: BeamSearchArrays, trie: IdTrie, q: number): QueryResult {
  const n = a.counts[q], L = a.maxLength;
  const hypotheses: Hypothesis[] = new Array(n);
  for (let i = 0, o = q * a.numReturn; i < n; ++i, ++o) {
    const id = a.ids[o];
    hypotheses[i] = { tokens: tokenList(a.tokens, o * L, a.lengths[o]), score: a.scores[o], id, items: trie.itemsOf(id) };
  }
  const from = a.itemStart[q], to = a.itemStart[q + 1];
  return { hypotheses, items: a.items.slice(from, to), itemScores: a.itemScores.slice(from, to) };
}

/** t[from, from + len) as a plain array (a literal for short IDs: packed, no holes). */
function tokenList(t: Int32Array, from: number, len: number): number[] {
  switch (len) {
    case 1: return [t[from]];
    case 2: return [t[from], t[from + 1]];
    case 3: return [t[from], t[from + 1], t[from + 2]];
    case 4: return [t[from], t[from + 1], t[from + 2], t[from + 3]];
    default: {
      const out: number[] = [];
      for (let i = 0; i < len; ++i) out.push(t[from + i]);
      return out;
    }
  }
}
