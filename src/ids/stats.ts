/** Statistics of Semantic ID codes: codebook usage, perplexity, collisions. */
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt } from '../kernels/validate.js';

export interface CodeStats {
  /** Rows encoded. */
  n: number;
  levels: number;
  codebookSize: number;
  /** Per level: fraction of the codebook's entries used by at least one row. */
  usage: number[];
  /** Per level: exp(entropy) of the code distribution (codebookSize when perfectly uniform). */
  perplexity: number[];
  /** Distinct full IDs (tuples of codes). */
  distinctIds: number;
  /** Rows whose ID is shared with at least one other row. */
  itemsInCollidingIds: number;
  /** Rows behind the most shared ID. */
  largestBucket: number;
}

/**
 * Usage, perplexity and collisions of codes [n x levels] with values in [0, codebookSize).
 * @example codeStats(new Int32Array([0, 1, 0, 1, 2, 3]), 2, 4).distinctIds // 2
 */
export function codeStats(codes: ArrayLike<number>, levels: number, codebookSize: number): CodeStats {
  expectInt('levels', levels, 1, 1024);
  expectInt('codebookSize', codebookSize, 1, 2 ** 31 - 1);
  if (codes === null || typeof codes !== 'object' || typeof (codes as ArrayLike<number>).length !== 'number') {
    throw new SemidArgumentError('codes', 'an array or typed array of codes', codes);
  }
  if (codes.length % levels !== 0) throw new SemidArgumentError('codes', `a length that is a multiple of levels=${levels}`, codes);
  for (let e = 0; e < codes.length; e++) {
    const v = codes[e];
    if (!Number.isInteger(v) || v < 0 || v >= codebookSize) {
      throw new SemidArgumentError('codes', `integers in [0, ${codebookSize})`, `${v} at row ${Math.floor(e / levels)}, level ${e % levels}`);
    }
  }
  const n = codes.length / levels;
  const usage: number[] = [], perplexity: number[] = [];
  const hist = new Float64Array(codebookSize);
  for (let l = 0; l < levels; l++) {
    hist.fill(0);
    for (let i = 0; i < n; i++) hist[codes[i * levels + l]]++;
    let used = 0, entropy = 0;
    for (let c = 0; c < codebookSize; c++) {
      if (hist[c] === 0) continue;
      used++;
      const p = hist[c] / n;
      entropy -= p * Math.log(p);
    }
    usage.push(n ? used / codebookSize : 0);
    perplexity.push(n ? Math.exp(entropy) : 0);
  }
  // Bucket rows by full ID: a number key when it fits in 2^53, else a string.
  const numeric = levels * Math.log2(Math.max(2, codebookSize)) <= 53;
  const buckets = new Map<number | string, number>();
  for (let i = 0; i < n; i++) {
    let key: number | string;
    if (numeric) {
      key = 0;
      for (let l = 0; l < levels; l++) key = key * codebookSize + codes[i * levels + l];
    } else {
      key = Array.prototype.slice.call(codes, i * levels, (i + 1) * levels).join(',');
    }
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
  }
  let colliding = 0, largest = 0;
  for (const size of buckets.values()) {
    if (size > 1) colliding += size;
    largest = Math.max(largest, size);
  }
  return { n, levels, codebookSize, usage, perplexity, distinctIds: buckets.size, itemsInCollidingIds: colliding, largestBucket: largest };
}
