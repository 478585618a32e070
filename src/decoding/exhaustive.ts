/**
 * Exact decoding for short IDs: score every valid ID of the trie (one batched step call per level
 * over all valid prefixes) and return the true top-k. The cost grows with the number of prefixes
 * (a 2-level, 256-code catalogue needs 1 + 256 rows per query), so it is the reference that beam
 * search is measured against, and a practical decoder when IDs are short.
 */
import { throwIfAborted } from '../kernels/abort.js';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt, expectNumber, expectOptions, optionKeys, expectSignal } from '../kernels/validate.js';
import { expectEndToken, rankItems, rootsFor, type Hypothesis, type QueryResult, type StepFn } from './beam-search.js';
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

/** The option names of ExhaustiveSearchOptions (checked against it at compile time): any other key is an error. */
const EXHAUSTIVE_SEARCH_KEYS = optionKeys<ExhaustiveSearchOptions>()(['trie', 'step', 'batch', 'topk', 'endToken', 'namespace', 'inputs', 'lengthPenalty', 'maxRows', 'signal']);

/**
 * Score every ID of the trie for every query and return each query's best `topk`.
 *
 * The frontier of prefixes lives in typed arrays (query, node, running sum, row) and each query
 * keeps only its best `topk` complete IDs (a buffer cut to its best topk when full): a 2-level, 256-code catalogue
 * of 62,138 IDs offers ~62,000 candidates per query, and an object and a token array for each of
 * them cost more than the scoring. Tokens are read back from the trie for the IDs returned.
 *
 * @example
 * const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0]), length: 2 });
 * const [r] = await exhaustiveSearch({ trie, batch: 1, topk: 2, step: ({ rows }) => new Float32Array(rows * 2) });
 * // r.hypotheses: both IDs, each scored log(1/2) (2 * log(1/2) over 2 tokens, lengthPenalty 1)
 */
export async function exhaustiveSearch(options: ExhaustiveSearchOptions): Promise<QueryResult[]> {
  const o = expectOptions<ExhaustiveSearchOptions>('options', options, EXHAUSTIVE_SEARCH_KEYS);
  const trie = o.trie;
  if (!trie || !(trie.childStart instanceof Int32Array)) throw new SemidArgumentError('trie', 'an IdTrie', trie);
  if (typeof o.step !== 'function') throw new SemidArgumentError('step', 'a function (request) => Float32Array', o.step);
  const batch = expectInt('batch', o.batch, 0, 2 ** 31 - 1);
  const topk = expectInt('topk', o.topk ?? 30, 1, 2 ** 31 - 1);
  const endToken = o.endToken === undefined ? -1 : expectEndToken(trie, o.endToken);
  const lengthPenalty = expectNumber('lengthPenalty', o.lengthPenalty ?? 1);
  const maxRows = expectInt('maxRows', o.maxRows ?? 8192, 1, 2 ** 31 - 1);
  const logits = (o.inputs ?? 'logits') === 'logits';
  if (o.inputs !== undefined && o.inputs !== 'logits' && o.inputs !== 'logprobs') throw new SemidArgumentError('inputs', '"logits" or "logprobs"', o.inputs);
  const signal = expectSignal('signal', o.signal);
  const roots = rootsFor(trie, batch, o.namespace);
  const best = new BestIds(trie, batch, Math.max(1, Math.min(topk, trie.ids)));  // no query has more IDs
  const { childStart, childToken, childNode, terminal } = trie;
  // The frontier: [prefixes] query, node, running sum (float) and row in the previous request.
  let fQuery = Int32Array.from({ length: batch }, (_, q) => q), fNode = Int32Array.from(roots);
  let fSum = new Float32Array(batch), fRow = new Int32Array(batch).fill(-1);
  let vocab = -1;
  for (let depth = 0; fQuery.length > 0; ++depth) {
    let room = 0;  // children of the frontier: the next frontier's most prefixes
    for (let p = 0; p < fNode.length; ++p) room += childStart[fNode[p] + 1] - childStart[fNode[p]];
    const nQuery = new Int32Array(room), nNode = new Int32Array(room), nSum = new Float32Array(room), nRow = new Int32Array(room);
    let n = 0;
    const norm = (depth + 1) ** lengthPenalty;  // a complete ID here has depth + 1 tokens (or depth and the end token)
    for (let start = 0; start < fQuery.length; start += maxRows) {
      throwIfAborted(signal);
      const rows = Math.min(maxRows, fQuery.length - start);
      const tokens = new Int32Array(rows * depth);
      for (let r = 0; r < rows; ++r) {  // each prefix's tokens, read back from the trie
        for (let u = fNode[start + r], t = depth - 1; t >= 0; u = trie.parent[u], --t) tokens[r * depth + t] = trie.parentToken[u];
      }
      const parents = fRow.slice(start, start + rows), queries = fQuery.slice(start, start + rows);
      const out = await o.step({ step: depth, rows, tokens, parents, queries, active: new Uint8Array(rows).fill(1) });
      if (!(out instanceof Float32Array) || out.length === 0 || out.length % rows !== 0) {
        throw new SemidArgumentError('step() result', `a Float32Array of rows=${rows} x vocab values`, out);
      }
      if (vocab < 0) {
        vocab = out.length / rows;
        if (vocab < trie.vocabSize || endToken >= vocab) throw new SemidArgumentError('step() result', `rows of at least ${Math.max(trie.vocabSize, endToken + 1)} scores`, out);
      } else if (out.length !== rows * vocab) throw new SemidArgumentError('step() result', `a Float32Array of ${rows} x ${vocab} values`, out);
      for (let r = 0; r < rows; ++r) {
        const p = start + r, q = fQuery[p], node = fNode[p], sum = fSum[p], off = r * vocab;
        const shift = logits ? Math.fround(logSumExp(out, off, vocab)) : 0;
        const lp = (t: number) => {
          const v = logits ? Math.fround(out[off + t] - shift) : out[off + t];
          if (Number.isNaN(v)) throw new SemidError('ERR_SEMID_NOT_FINITE', `scores hold NaN for query ${q}, token ${t} (a NaN log-probability, or logits that are -Infinity across the whole row)`);
          return v;
        };
        if (terminal[node] >= 0 && endToken >= 0 && depth > 0) {
          const s = Math.fround(lp(endToken) + sum);
          if (s > -Infinity) best.offer(q, s / norm, node);  // the end token counts: len = depth + 1
        }
        for (let e = childStart[node]; e < childStart[node + 1]; ++e) {
          const c = childNode[e];
          const s = Math.fround(lp(childToken[e]) + sum);
          if (!(s > -Infinity)) continue;
          if (terminal[c] >= 0 && endToken < 0) best.offer(q, s / norm, c);
          if (childStart[c + 1] > childStart[c] || (terminal[c] >= 0 && endToken >= 0)) {
            nQuery[n] = q; nNode[n] = c; nSum[n] = s; nRow[n] = p;
            ++n;
          }
        }
      }
    }
    fQuery = nQuery.subarray(0, n); fNode = nNode.subarray(0, n); fSum = nSum.subarray(0, n); fRow = nRow.subarray(0, n);
  }
  return best.results();
}

/**
 * Each query's best complete IDs: score descending, then tokens ascending (the order a full sort
 * of every candidate gives), at most `size` each. Candidates go into a buffer of 2 * size per
 * query; a full buffer is sorted and cut to its best `size`, whose last then bars every candidate
 * that does not rank before it (O(log size) amortised per candidate, for any topk).
 */
class BestIds {
  private readonly score: Float64Array;  // [batch, 2 * size]
  private readonly node: Int32Array;     // [batch, 2 * size]
  private readonly count: Int32Array;    // [batch] candidates held
  private readonly barred: Uint8Array;   // [batch] 1 once cut: the size-th best bars the rest
  private readonly order: number[] = [];

  constructor(private readonly trie: IdTrie, private readonly batch: number, private readonly size: number) {
    this.score = new Float64Array(batch * 2 * size);
    this.node = new Int32Array(batch * 2 * size);
    this.count = new Int32Array(batch);
    this.barred = new Uint8Array(batch);
  }

  /** True when (score a, node a) ranks before (score b, node b). */
  private before(sa: number, na: number, sb: number, nb: number): boolean {
    const d = sb - sa;
    if (d !== 0 && !Number.isNaN(d)) return d < 0;
    return compareTokens(this.trie.tokensOf(na), this.trie.tokensOf(nb)) < 0;
  }

  /** Offers query q the complete ID ending at `node` with length-normalised `score`. */
  offer(q: number, score: number, node: number): void {
    const base = q * 2 * this.size, last = base + this.size - 1;
    if (this.barred[q] && !this.before(score, node, this.score[last], this.node[last])) return;
    const n = this.count[q];
    this.score[base + n] = score;
    this.node[base + n] = node;
    this.count[q] = n + 1;
    if (n + 1 === 2 * this.size) this.cut(q);
  }

  /** Sorts query q's candidates and keeps its best `size`. */
  private cut(q: number): void {
    const base = q * 2 * this.size, n = this.count[q], order = this.order;
    order.length = n;
    for (let i = 0; i < n; ++i) order[i] = base + i;
    const score = this.score, node = this.node;
    order.sort((a, b) => (this.before(score[a], node[a], score[b], node[b]) ? -1 : this.before(score[b], node[b], score[a], node[a]) ? 1 : 0));
    const keep = Math.min(n, this.size);
    const s = order.slice(0, keep).map((i) => score[i]), u = order.slice(0, keep).map((i) => node[i]);
    for (let i = 0; i < keep; ++i) {
      score[base + i] = s[i];
      node[base + i] = u[i];
    }
    this.count[q] = keep;
    if (keep === this.size) this.barred[q] = 1;
  }

  results(): QueryResult[] {
    const out: QueryResult[] = [];
    for (let q = 0; q < this.batch; ++q) {
      this.cut(q);
      const hypotheses: Hypothesis[] = [];
      for (let i = 0, base = q * 2 * this.size; i < this.count[q]; ++i) {
        const node = this.node[base + i], id = this.trie.terminal[node];
        hypotheses.push({ tokens: this.trie.tokensOf(node), score: this.score[base + i], id, items: this.trie.itemsOf(id) });
      }
      out.push(rankItems(hypotheses));
    }
    return out;
  }
}

function compareTokens(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); ++i) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
