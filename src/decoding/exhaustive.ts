/**
 * Exact decoding for short IDs: score every valid ID of the trie (one batched step call per level
 * over all valid prefixes) and return the true top-k. The cost grows with the number of prefixes
 * (a 2-level, 256-code catalogue needs 1 + 256 rows per query), so it is the reference that beam
 * search is measured against, and a practical decoder when IDs are short.
 */
import { throwIfAborted } from '../kernels/abort.js';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt, expectNumber, expectOptions, expectSignal } from '../kernels/validate.js';
import { rankItems, rootsFor, type Hypothesis, type QueryResult, type StepFn } from './beam-search.js';
import { logSumExp } from './beam-step-reference.js';
import type { IdTrie } from './trie.js';

export interface ExhaustiveSearchOptions {
  trie: IdTrie;
  step: StepFn;
  batch: number;
  /** IDs returned per query (default 30). */
  topk?: number;
  /** Token that ends an ID: its log-probability is added after the last ID token. */
  endToken?: number;
  namespace?: string | string[];
  inputs?: 'logits' | 'logprobs';
  /** Same normalisation as beam search: score = sum / tokens ** lengthPenalty (default 1). */
  lengthPenalty?: number;
  /** Most rows per step call (default 8192). */
  maxRows?: number;
  signal?: AbortSignal;
}

interface Prefix { query: number; node: number; sum: number; tokens: number[]; row: number }

/**
 * Score every ID of the trie for every query and return each query's best `topk`.
 *
 * @example
 * const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0]), length: 2 });
 * const [r] = await exhaustiveSearch({ trie, batch: 1, topk: 2, step: ({ rows }) => new Float32Array(rows * 2) });
 * // r.hypotheses: both IDs, each scored 2 * log(1/2)
 */
export async function exhaustiveSearch(options: ExhaustiveSearchOptions): Promise<QueryResult[]> {
  const o = expectOptions<ExhaustiveSearchOptions>('options', options);
  const trie = o.trie;
  if (!trie || !(trie.childStart instanceof Int32Array)) throw new SemidArgumentError('trie', 'an IdTrie', trie);
  if (typeof o.step !== 'function') throw new SemidArgumentError('step', 'a function (request) => Float32Array', o.step);
  const batch = expectInt('batch', o.batch, 0, 2 ** 31 - 1);
  const topk = expectInt('topk', o.topk ?? 30, 1, 2 ** 31 - 1);
  const endToken = o.endToken === undefined ? -1 : expectInt('endToken', o.endToken, 0, 2 ** 30 - 1);
  const lengthPenalty = expectNumber('lengthPenalty', o.lengthPenalty ?? 1);
  const maxRows = expectInt('maxRows', o.maxRows ?? 8192, 1, 2 ** 31 - 1);
  const logits = (o.inputs ?? 'logits') === 'logits';
  if (o.inputs !== undefined && o.inputs !== 'logits' && o.inputs !== 'logprobs') throw new SemidArgumentError('inputs', '"logits" or "logprobs"', o.inputs);
  const signal = expectSignal('signal', o.signal);
  const roots = rootsFor(trie, batch, o.namespace);
  const complete: Array<Array<{ score: number; node: number; tokens: number[] }>> = Array.from({ length: batch }, () => []);
  let frontier: Prefix[] = Array.from(roots, (node, q) => ({ query: q, node, sum: 0, tokens: [], row: -1 }));
  let vocab = -1;
  for (let depth = 0; frontier.length > 0; ++depth) {
    const next: Prefix[] = [];
    for (let start = 0; start < frontier.length; start += maxRows) {
      throwIfAborted(signal);
      const chunk = frontier.slice(start, start + maxRows);
      const rows = chunk.length;
      const tokens = new Int32Array(rows * depth), parents = new Int32Array(rows), queries = new Int32Array(rows);
      chunk.forEach((p, r) => { tokens.set(p.tokens, r * depth); parents[r] = p.row; queries[r] = p.query; });
      const out = await o.step({ step: depth, rows, tokens, parents, queries, active: new Uint8Array(rows).fill(1) });
      if (!(out instanceof Float32Array) || out.length === 0 || out.length % rows !== 0) {
        throw new SemidArgumentError('step() result', `a Float32Array of rows=${rows} x vocab values`, out);
      }
      if (vocab < 0) {
        vocab = out.length / rows;
        if (vocab < trie.vocabSize || endToken >= vocab) throw new SemidArgumentError('step() result', `rows of at least ${Math.max(trie.vocabSize, endToken + 1)} scores`, out);
      } else if (out.length !== rows * vocab) throw new SemidArgumentError('step() result', `a Float32Array of ${rows} x ${vocab} values`, out);
      for (let r = 0; r < rows; ++r) {
        const p = chunk[r], off = r * vocab;
        const lse = logits ? logSumExp(out, off, vocab) : 0;
        const lp = (t: number) => {
          const v = logits ? Math.fround(out[off + t] - Math.fround(lse)) : out[off + t];
          if (Number.isNaN(v)) throw new SemidError('ERR_SEMID_NOT_FINITE', `scores hold NaN for query ${p.query}, token ${t}`);
          return v;
        };
        const atId = trie.terminal[p.node] >= 0;
        if (atId && endToken >= 0 && depth > 0) {
          const s = Math.fround(lp(endToken) + p.sum);
          if (s > -Infinity) complete[p.query].push({ score: s / (depth + 1) ** lengthPenalty, node: p.node, tokens: p.tokens });
        }
        const c0 = trie.childStart[p.node], c1 = trie.childStart[p.node + 1];
        for (let e = c0; e < c1; ++e) {
          const t = trie.childToken[e], c = trie.childNode[e];
          const s = Math.fround(lp(t) + p.sum);
          if (!(s > -Infinity)) continue;
          const toks = [...p.tokens, t];
          const leaf = trie.childStart[c + 1] === trie.childStart[c];
          if (trie.terminal[c] >= 0 && endToken < 0) complete[p.query].push({ score: s / (depth + 1) ** lengthPenalty, node: c, tokens: toks });
          if (!leaf || (trie.terminal[c] >= 0 && endToken >= 0)) next.push({ query: p.query, node: c, sum: s, tokens: toks, row: start + r });
        }
      }
    }
    frontier = next;
  }
  return complete.map((list) => {
    list.sort((a, b) => b.score - a.score || compareTokens(a.tokens, b.tokens));
    const hypotheses: Hypothesis[] = list.slice(0, topk).map((h) => {
      const id = trie.terminal[h.node];
      return { tokens: h.tokens, score: h.score, id, items: trie.itemsOf(id) };
    });
    return rankItems(hypotheses);
  });
}

function compareTokens(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); ++i) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

