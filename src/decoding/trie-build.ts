/**
 * Building a trie's arrays (the CSR layout of trie.ts) level by level with stable radix sorts:
 * O(tokens) time and a few int32 arrays of that size, where inserting into per-node maps took
 * ~8 s and ~800 MB for a million 3-token IDs. trie-build-reference.ts (the map insertion) is its
 * oracle: both number nodes breadth-first (roots in namespace order, children by token), so the
 * arrays are identical.
 */
import type { TrieInput } from './trie-input.js';

/** The arrays of an IdTrie (see IdTrie for their meaning). */
export interface TrieArrays {
  namespaces: string[];
  roots: Int32Array;
  childStart: Int32Array;
  childToken: Int32Array;
  childNode: Int32Array;
  terminal: Int32Array;
  parent: Int32Array;
  parentToken: Int32Array;
  depth: Int32Array;
  idStart: Int32Array;
  idItems: Int32Array;
  idNode: Int32Array;
}

/**
 * Stable sort of `rows` by `key` (key[i] belongs to rows[i]; both are permuted), keys in
 * [0, 2^31): LSD radix on 16-bit digits (one pass when every key is below 2^16). `scratch` has
 * room for rows.length.
 */
function radixSortBy(rows: Int32Array, key: Int32Array, scratch: Int32Array): Int32Array {
  let maxKey = 0;
  for (let i = 0; i < rows.length; ++i) if (key[i] > maxKey) maxKey = key[i];
  let src: Int32Array = rows, dst: Int32Array = scratch.subarray(0, rows.length);
  let srcKey: Int32Array = key, dstKey: Int32Array = new Int32Array(rows.length);
  const count = new Int32Array(65537);
  for (let shift = 0; shift === 0 || (shift < 32 && maxKey >>> shift > 0); shift += 16) {  // (>>> 32 would be >>> 0)
    count.fill(0);
    for (let i = 0; i < src.length; ++i) count[((srcKey[i] >>> shift) & 0xffff) + 1]++;
    for (let b = 0; b < 65536; ++b) count[b + 1] += count[b];
    for (let i = 0; i < src.length; ++i) {
      const at = count[(srcKey[i] >>> shift) & 0xffff]++;
      dst[at] = src[i];
      dstKey[at] = srcKey[i];
    }
    [src, dst] = [dst, src];
    [srcKey, dstKey] = [dstKey, srcKey];
  }
  if (src !== rows) rows.set(src);
  return rows;
}

/** Runs of at most this many IDs are sorted by insertion. */
const SMALL_SEGMENT = 32;

/**
 * The trie arrays of flattened IDs.
 * @example buildTrieArrays(flattenNamespaces({ codes: [[1, 2], [1, 3]] })).childToken // Int32Array [1, 2, 3]
 */
export function buildTrieArrays(input: TrieInput): TrieArrays {
  const { names, rowNs, rowStart, tokens, rowItem } = input;
  const ns = names.length, rows = rowNs.length;
  const maxNodes = ns + tokens.length;
  const parent = new Int32Array(maxNodes).fill(-1);
  const parentToken = new Int32Array(maxNodes).fill(-1);
  const depth = new Int32Array(maxNodes);
  const nodeOf = new Int32Array(rows);  // [rows] the node where each ID ends
  let nodes = ns;
  // The IDs still going at this depth, in breadth-first order of their node (all of them at the
  // roots, which namespace order sorts), with what each carries along: its row, its node, the
  // position of its token at this depth, and its tokens left.
  let count = rows;
  const row = new Int32Array(rows), node = new Int32Array(rows), pos = new Int32Array(rows), left = new Int32Array(rows);
  const row2 = new Int32Array(rows), node2 = new Int32Array(rows), pos2 = new Int32Array(rows), left2 = new Int32Array(rows);
  const tok = new Int32Array(rows), tok2 = new Int32Array(rows);
  for (let r = 0; r < rows; ++r) {
    row[r] = r; node[r] = rowNs[r]; pos[r] = rowStart[r]; left[r] = rowStart[r + 1] - rowStart[r];
  }
  let bucket = new Int32Array(1 << 16);
  /** Stable sort of entries [lo, hi) by tok, all four companions moved with it (via the *2 arrays). */
  const sortSegment = (lo: number, hi: number) => {
    if (hi - lo < 2) return;
    let min = tok[lo], max = min, sorted = true;
    for (let i = lo + 1; i < hi; ++i) {
      const t = tok[i];
      if (t < tok[i - 1]) sorted = false;
      if (t < min) min = t; else if (t > max) max = t;
    }
    if (sorted) return;
    const n = hi - lo;
    if (n <= SMALL_SEGMENT) {  // insertion sort (stable): a node's few children, whatever their token range
      for (let i = lo + 1; i < hi; ++i) {
        const t = tok[i], r = row[i], v = node[i], p = pos[i], l = left[i];
        let j = i - 1;
        for (; j >= lo && tok[j] > t; --j) {
          tok[j + 1] = tok[j]; row[j + 1] = row[j]; node[j + 1] = node[j]; pos[j + 1] = pos[j]; left[j + 1] = left[j];
        }
        tok[j + 1] = t; row[j + 1] = r; node[j + 1] = v; pos[j + 1] = p; left[j + 1] = l;
      }
      return;
    }
    // counting sort on (token - min), least significant digit first, with digits of about log2(n)
    // bits (8 to 16): each pass costs O(n + 2^bits), never O(token range) for a small run
    const bits = Math.min(16, Math.max(8, Math.ceil(Math.log2(n))));
    const mask = (1 << bits) - 1;
    for (let shift = 0; shift === 0 || (shift < 32 && (max - min) >>> shift > 0); shift += bits) {
      const range = Math.min(1 << bits, ((max - min) >>> shift) + 1);
      if (bucket.length < range + 1) bucket = new Int32Array(range + 1);
      bucket.fill(0, 0, range + 1);
      for (let i = lo; i < hi; ++i) bucket[(((tok[i] - min) >>> shift) & mask) + 1]++;
      for (let b = 0; b < range; ++b) bucket[b + 1] += bucket[b];
      for (let i = lo; i < hi; ++i) {
        const at = lo + bucket[((tok[i] - min) >>> shift) & mask]++;
        tok2[at] = tok[i]; row2[at] = row[i]; node2[at] = node[i]; pos2[at] = pos[i]; left2[at] = left[i];
      }
      tok.set(tok2.subarray(lo, hi), lo); row.set(row2.subarray(lo, hi), lo); node.set(node2.subarray(lo, hi), lo);
      pos.set(pos2.subarray(lo, hi), lo); left.set(left2.subarray(lo, hi), lo);
    }
  };
  for (let d = 0; count > 0; ++d) {
    for (let i = 0; i < count; ++i) tok[i] = tokens[pos[i]];
    // Sort each node's run by token (runs are contiguous: entries are in node order).
    for (let lo = 0; lo < count;) {
      let hi = lo + 1;
      while (hi < count && node[hi] === node[lo]) ++hi;
      sortSegment(lo, hi);
      lo = hi;
    }
    // A new node for each distinct (node, token), numbered in that order: breadth-first.
    let prevNode = -1, prevToken = -1, child = -1, going = 0;
    for (let i = 0; i < count; ++i) {
      const p = node[i], t = tok[i];
      if (p !== prevNode || t !== prevToken) {
        child = nodes++;
        parent[child] = p;
        parentToken[child] = t;
        depth[child] = d + 1;
        prevNode = p;
        prevToken = t;
      }
      if (left[i] === 1) { nodeOf[row[i]] = child; continue; }
      // in place (going <= i), keeping node order
      row[going] = row[i]; node[going] = child; pos[going] = pos[i] + 1; left[going] = left[i] - 1; ++going;
    }
    count = going;
  }
  const edges = nodes - ns;
  const childStart = new Int32Array(nodes + 1);
  for (let v = ns; v < nodes; ++v) childStart[parent[v] + 1]++;
  for (let u = 0; u < nodes; ++u) childStart[u + 1] += childStart[u];
  const childNode = new Int32Array(edges);
  for (let e = 0; e < edges; ++e) childNode[e] = ns + e;
  const childToken = parentToken.slice(ns, nodes);
  // Items of each ID: rows sorted by (end node, item), repeats of an item dropped.
  const byItem = new Int32Array(rows);
  let itemsAscending = true;
  for (let r = 0; r < rows; ++r) {
    byItem[r] = r;
    if (r > 0 && rowItem[r] < rowItem[r - 1]) itemsAscending = false;
  }
  if (!itemsAscending) radixSortBy(byItem, Int32Array.from(rowItem), new Int32Array(rows));  // (item numbers are often the row order)
  const endCount = new Int32Array(nodes + 1);
  for (let r = 0; r < rows; ++r) endCount[nodeOf[r] + 1]++;
  for (let u = 0; u < nodes; ++u) endCount[u + 1] += endCount[u];
  const ending = new Int32Array(rows);
  const fill = endCount.slice(0, nodes);
  for (let i = 0; i < rows; ++i) ending[fill[nodeOf[byItem[i]]]++] = byItem[i];
  const terminal = new Int32Array(nodes).fill(-1);
  const idNode = new Int32Array(rows);
  const idStart = new Int32Array(rows + 1);
  const idItems = new Int32Array(rows);
  let ids = 0, held = 0;
  for (let u = 0; u < nodes; ++u) {
    if (endCount[u + 1] === endCount[u]) continue;
    terminal[u] = ids;
    idNode[ids++] = u;
    for (let k = endCount[u]; k < endCount[u + 1]; ++k) {
      const item = rowItem[ending[k]];
      if (k === endCount[u] || item !== idItems[held - 1]) idItems[held++] = item;
    }
    idStart[ids] = held;
  }
  return {
    namespaces: names, roots: Int32Array.from(names, (_, i) => i), childStart, childToken, childNode, terminal,
    parent: parent.slice(0, nodes), parentToken: parentToken.slice(0, nodes), depth: depth.slice(0, nodes),
    idStart: idStart.slice(0, ids + 1), idItems: idItems.slice(0, held), idNode: idNode.slice(0, ids),
  };
}
