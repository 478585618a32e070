/**
 * TIGER's disambiguation level for Semantic ID codes: one more code per item, numbering the items
 * that share an ID (0 for the first in item order), so that every item gets an ID of its own.
 */
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';

/** Integer codes in a flat row-major array: [rows, levels]. */
export interface CodeRows {
  /** [rows * levels] non-negative integer codes. */
  data: ArrayLike<number>;
  levels: number;
}

export interface DedupOptions {
  /**
   * Codes an earlier dedupCodes wrote for the catalogue (levels + 1 columns): each new item is
   * numbered after the items of its ID there (cold start: new items never take an existing ID).
   */
  after?: CodeRows;
}

const DEDUP_KEYS = optionKeys<DedupOptions>()(['after']);

export interface DedupResult {
  /** [rows, levels] the codes with the item's number among the items of its ID as the last column. */
  codes: Int32Array;
  /** The input's levels + 1. */
  levels: number;
  /** Codes the new level uses: its largest number + 1 (1 when no two items share an ID). */
  suffixSize: number;
  /** IDs (of the input's levels) that two or more items share, counting `after`'s items. */
  sharedIds: number;
}

/**
 * Append a disambiguation level to codes [rows, levels], as TIGER does: the item's number among
 * the items that share its ID, in item order. Items alone in their ID get 0, so every ID keeps one
 * length. With `after` (the catalogue's codes from an earlier call), new items are numbered after
 * the catalogue's items of their ID.
 *
 * @example
 * dedupCodes(new Int32Array([3, 1, 3, 1, 0, 2]), 2).codes;  // Int32Array [3, 1, 0, 3, 1, 1, 0, 2, 0]
 */
export function dedupCodes(codes: ArrayLike<number>, levels: number, options: DedupOptions = {}): DedupResult {
  const o = expectOptions<DedupOptions>('options', options, DEDUP_KEYS);
  const L = expectInt('levels', levels, 1, 1 << 20);
  if (codes === null || typeof codes !== 'object' || typeof (codes as ArrayLike<number>).length !== 'number') {
    throw new SemidArgumentError('codes', 'an array of integer codes [rows x levels]', codes);
  }
  if (codes.length % L !== 0) throw new SemidArgumentError('codes', `a length divisible by levels=${L}`, codes.length);
  let base = checkCodes('codes', codes) + 1;
  const after = o.after;
  if (after !== undefined) {
    if (after === null || typeof after !== 'object' || after.data === undefined) throw new SemidArgumentError('options.after', 'codes { data, levels } from an earlier dedupCodes', after);
    if (after.levels !== L + 1) throw new SemidArgumentError('options.after', `codes of ${L + 1} levels (the ${L} of codes and a dedup level)`, `${after.levels} levels`);
    if (after.data.length % (L + 1) !== 0) throw new SemidArgumentError('options.after', `a length divisible by ${L + 1}`, after.data.length);
    base = Math.max(base, checkCodes('options.after', after.data) + 1);
  }
  const key = rowKey(L, base);
  // next number of each ID: after the catalogue's largest, then counted over the new items
  const next = new Map<number | string, number>();
  const shared = new Set<number | string>();
  if (after !== undefined) {
    const W = L + 1, rows = after.data.length / W;
    for (let i = 0; i < rows; ++i) {
      const k = key(after.data, i * W);
      const have = next.get(k);
      if (have !== undefined) shared.add(k);
      next.set(k, Math.max(have ?? 0, after.data[i * W + L] + 1));
    }
  }
  const rows = codes.length / L;
  const out = new Int32Array(rows * (L + 1));
  let suffixSize = 1;
  for (let i = 0; i < rows; ++i) {
    const k = key(codes, i * L);
    const n = next.get(k) ?? 0;
    if (n > 0) shared.add(k);
    next.set(k, n + 1);
    for (let l = 0; l < L; ++l) out[i * (L + 1) + l] = codes[i * L + l];
    out[i * (L + 1) + L] = n;
    if (n + 1 > suffixSize) suffixSize = n + 1;
  }
  return { codes: out, levels: L + 1, suffixSize, sharedIds: shared.size };
}

/** The largest code (-1 for none); throws unless every code is a non-negative integer below 2^31. */
function checkCodes(name: string, data: ArrayLike<number>): number {
  let max = -1;
  for (let i = 0; i < data.length; ++i) {
    const c = data[i];
    if (!Number.isInteger(c) || c < 0 || c > 2 ** 31 - 1) throw new SemidArgumentError(`${name}[${i}]`, 'a non-negative integer code', c);
    if (c > max) max = c;
  }
  return max;
}

/**
 * A key naming the ID of the row starting at `at` (its first `levels` codes): a number where
 * base^levels fits in a double's 53-bit integers (no string per row), else the codes joined.
 */
function rowKey(levels: number, base: number): (data: ArrayLike<number>, at: number) => number | string {
  if (levels * Math.log2(Math.max(2, base)) <= 52) {  // one bit to spare for log2's rounding
    return (data, at) => {
      let k = 0;
      for (let l = 0; l < levels; ++l) k = k * base + data[at + l];
      return k;
    };
  }
  return (data, at) => {
    let k = String(data[at]);
    for (let l = 1; l < levels; ++l) k += `,${data[at + l]}`;
    return k;
  };
}
