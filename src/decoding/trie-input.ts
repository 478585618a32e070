/**
 * The namespaces given to IdTrie.build, checked and flattened: every ID's tokens (code + offset)
 * back to back, with its namespace and item. Both trie builders (trie-build.ts and its oracle,
 * trie-build-reference.ts) start from this, so they accept and reject exactly the same input.
 */
import { SemidArgumentError } from '../kernels/errors.js';
import { isCodes } from '../kernels/rqkmeans.js';
import { expectOptions, optionKeys } from '../kernels/validate.js';

/** One namespace of IDs to insert. */
export interface IdTrieNamespace {
  /** Namespace name (default "default"); decoding starts at its root. */
  name?: string;
  /**
   * The IDs: a flat integer array [items x length] of fixed-length codes (Int32Array, or the
   * Uint8/Uint16/Uint32/Int8/Int16Array a codes .npy reads as; with `length`), the
   * `Codes` that `RQKMeans.encode` returns (its `levels` is the length), or one array of codes
   * per item (variable length allowed).
   */
  codes: FlatCodes | { data: Int32Array; levels: number } | ArrayLike<number>[];
  /**
   * ID length, needed with a flat array of codes unless `offsets` holds one offset per level (their
   * count is the length); with `Codes` it must equal their levels when given.
   */
  length?: number;
  /**
   * Token = code + offset: one offset for every level, or one per level (e.g. [0, 256, 512] so
   * that every (level, code) is its own token). Default 0.
   */
  offsets?: number | ArrayLike<number>;
  /** Item number of each row (default: the row index). */
  items?: ArrayLike<number>;
}

/** The keys of IdTrieNamespace (checked against it at compile time): any other is an error. */
const NAMESPACE_KEYS = optionKeys<IdTrieNamespace>()(['name', 'codes', 'length', 'offsets', 'items']);

/** A flat array of fixed-length codes, as RQKMeans encodes or a codes .npy holds them. */
export type FlatCodes = Int32Array | Uint32Array | Uint16Array | Uint8Array | Int16Array | Int8Array;

function isFlatCodes(x: unknown): x is FlatCodes {
  return x instanceof Int32Array || x instanceof Uint32Array || x instanceof Uint16Array || x instanceof Uint8Array || x instanceof Int16Array || x instanceof Int8Array;
}

/** Tokens are below this. */
export const MAX_TOKEN = 2 ** 30;

/** Every ID of every namespace, in namespace order, then row order. */
export interface TrieInput {
  names: string[];
  /** [ids] namespace index of each ID. */
  rowNs: Int32Array;
  /** [ids + 1] ID r's tokens are tokens[rowStart[r] .. rowStart[r + 1]). */
  rowStart: Int32Array;
  /** [total tokens] code + offset of each position. */
  tokens: Int32Array;
  /** [ids] item number of each ID. */
  rowItem: Int32Array;
}

/**
 * Check and flatten the namespaces, in the order the checks name problems: per namespace its
 * name, codes, offsets and items, then per row its tokens and item.
 * @example flattenNamespaces([{ codes: [[1, 2], [3]] }]).tokens // Int32Array [1, 2, 3]
 */
export function flattenNamespaces(input: IdTrieNamespace | IdTrieNamespace[]): TrieInput {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new SemidArgumentError('namespaces', 'at least one namespace', list);
  const names: string[] = [];
  let rowNs = new Int32Array(1024), rowStart = new Int32Array(1025), rowItem = new Int32Array(1024), ids = 0;
  let tokens = new Int32Array(1024), used = 0;
  const grow = (a: Int32Array, need: number) => {
    const b = new Int32Array(Math.max(2 * a.length, need));
    b.set(a);
    return b;
  };
  for (let ns = 0; ns < list.length; ++ns) {
    const spec = list[ns];
    const at = Array.isArray(input) ? `namespaces[${ns}]` : 'namespace';  // how errors name it
    if (spec === null || typeof spec !== 'object') throw new SemidArgumentError(`${at}`, 'an object with codes', spec);
    expectOptions<IdTrieNamespace>(at, spec, NAMESPACE_KEYS);  // `offset: 256` must not pass for `offsets`
    const name = spec.name ?? 'default';
    if (typeof name !== 'string' || name.length === 0) throw new SemidArgumentError(`${at}.name`, 'a non-empty string', name);
    if (names.includes(name)) throw new SemidArgumentError(`${at}.name`, 'a name not used by another namespace', name);
    names.push(name);
    const rows = namespaceRows(spec, at);
    const offsetOf = offsetsFn(spec.offsets, at);
    const items = spec.items;
    if (items !== undefined && items.length !== rows.count) {
      throw new SemidArgumentError(`${at}.items`, `${rows.count} item numbers (one per ID)`, items);
    }
    const flat = rows.flat;  // fixed-length codes: read in place, without a view per row
    if (ids + rows.count > rowNs.length) {
      rowNs = grow(rowNs, ids + rows.count);
      rowItem = grow(rowItem, ids + rows.count);
      rowStart = grow(rowStart, ids + rows.count + 1);
    }
    if (flat && used + flat.data.length > tokens.length) tokens = grow(tokens, used + flat.data.length);
    for (let r = 0; r < rows.count; ++r) {
      if (flat) {
        const len = flat.length;
        for (let level = 0, k = r * len; level < len; ++level, ++k) {
          const code = flat.data[k];
          const token = code + offsetOf(level);
          if (code < 0 || token >= MAX_TOKEN) {
            throw new SemidArgumentError(`${at}.codes[${r}][${level}]`, 'a non-negative integer code whose token (code + offset) is below 2^30', code);
          }
          tokens[used++] = token;
        }
      } else {
        const seq = rows.row(r);
        if (seq === null || typeof seq !== 'object' || typeof seq.length !== 'number') {
          throw new SemidArgumentError(`${at}.codes[${r}]`, 'an array of codes', seq);
        }
        if (seq.length === 0) throw new SemidArgumentError(`${at}.codes[${r}]`, 'a non-empty ID', seq);
        if (used + seq.length > tokens.length) tokens = grow(tokens, used + seq.length);
        for (let level = 0; level < seq.length; ++level) {
          const code = seq[level];
          const token = code + offsetOf(level);
          if (!Number.isInteger(code) || code < 0 || !Number.isInteger(token) || token >= MAX_TOKEN) {
            throw new SemidArgumentError(`${at}.codes[${r}][${level}]`, 'a non-negative integer code whose token (code + offset) is below 2^30', code);
          }
          tokens[used++] = token;
        }
      }
      const item = items === undefined ? r : items[r];
      if (!Number.isInteger(item) || item < 0 || item >= 2 ** 31) {
        throw new SemidArgumentError(`${at}.items[${r}]`, 'a non-negative integer', item);
      }
      rowNs[ids] = ns;
      rowItem[ids] = item;
      rowStart[++ids] = used;
    }
  }
  return { names, rowNs: rowNs.slice(0, ids), rowStart: rowStart.slice(0, ids + 1), tokens: tokens.slice(0, used), rowItem: rowItem.slice(0, ids) };
}

function namespaceRows(spec: IdTrieNamespace, at: string): { count: number; row: (r: number) => ArrayLike<number>; flat?: { data: FlatCodes; length: number } } {
  const codes = spec.codes;
  if (isCodes(codes)) {  // RQKMeans' Codes: { data [n x levels], levels }
    if (spec.length !== undefined && spec.length !== codes.levels) {
      throw new SemidArgumentError(`${at}.length`, `the codes' levels (${codes.levels}) or nothing`, spec.length);
    }
    return namespaceRows({ ...spec, codes: codes.data, length: codes.levels }, at);
  }
  if (isFlatCodes(codes)) {
    // one offset per level gives the length: IdTrie.build({ codes, offsets: [0, 256] })
    const perLevel = spec.offsets !== undefined && typeof spec.offsets !== 'number' ? spec.offsets.length : undefined;
    const len = spec.length ?? perLevel;
    if (typeof len !== 'number' || !Number.isInteger(len) || len < 1 || codes.length % len !== 0) {
      throw new SemidArgumentError(`${at}.length`, `a positive integer dividing codes.length=${codes.length} (or one offset per level)`, len);
    }
    return { count: codes.length / len, row: (r) => codes.subarray(r * len, (r + 1) * len), flat: { data: codes, length: len } };
  }
  if (!Array.isArray(codes)) throw new SemidArgumentError(`${at}.codes`, 'an integer typed array [items x length] (Int32Array, Uint16Array, ...) or an array of code arrays', codes);
  return { count: codes.length, row: (r) => codes[r] };
}

function offsetsFn(offsets: IdTrieNamespace['offsets'], at: string): (level: number) => number {
  if (offsets === undefined) return () => 0;
  if (typeof offsets === 'number') {
    if (!Number.isInteger(offsets) || offsets < 0) throw new SemidArgumentError(`${at}.offsets`, 'a non-negative integer', offsets);
    return () => offsets;
  }
  const checked: number[] = [];  // each level's offset is checked once, when first used
  return (level) => {
    if (level < checked.length) return checked[level];
    const o = offsets[level];
    if (o === undefined) throw new SemidArgumentError(`${at}.offsets`, `an offset for level ${level}`, offsets);
    if (!Number.isInteger(o) || o < 0) throw new SemidArgumentError(`${at}.offsets[${level}]`, 'a non-negative integer', o);
    if (level === checked.length) checked.push(o);  // rows read their levels from 0 up
    return o;
  };
}
