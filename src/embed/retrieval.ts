/**
 * The sanity checks of an embedding space: dense search Recall@k (each test query against every
 * item) and dense recommendation Recall@k (a user vector against every item, the user's training
 * items excluded), by inner product through our GEMM, top-k per row.
 */
import { gemm } from '../kernels/gemm.js';

/**
 * Indices of the k largest entries of row (ties to the lower index), skipping `exclude`.
 * @example topK(new Float32Array([0.1, 0.9, 0.5, 0.9]), 2) // Int32Array [1, 3]; with exclude new Set([1]): [3, 2]
 */
export function topK(row: Float32Array, k: number, exclude?: Set<number>): Int32Array {
  const idx: number[] = [];
  const val: number[] = [];
  for (let j = 0; j < row.length; j++) {
    if (exclude?.has(j)) continue;
    const v = row[j];
    if (idx.length === k && v <= val[k - 1]) continue;
    let p = idx.length < k ? idx.length : k - 1;
    while (p > 0 && val[p - 1] < v) p--;
    idx.splice(p, 0, j);
    val.splice(p, 0, v);
    if (idx.length > k) { idx.pop(); val.pop(); }
  }
  return Int32Array.from(idx);
}

/**
 * Recall@k of one target per query: the share of queries whose target is in the top k by inner
 * product of query and item vectors (with unit vectors, cosine).
 * @example const r = await recallAtK(queries, items, targets, 384, 30);
 */
export async function recallAtK(queries: Float32Array, items: Float32Array, targets: ArrayLike<number>, dim: number, k: number,
  exclude?: (query: number) => Set<number> | undefined, chunk = 1024): Promise<number> {
  const nq = queries.length / dim;
  const ni = items.length / dim;
  let hits = 0;
  for (let start = 0; start < nq; start += chunk) {
    const rows = Math.min(chunk, nq - start);
    const scores = await gemm(queries.subarray(start * dim, (start + rows) * dim), items, { m: rows, n: ni, k: dim, transB: true });
    for (let r = 0; r < rows; r++) {
      const top = topK(scores.subarray(r * ni, (r + 1) * ni), k, exclude?.(start + r));
      if (top.includes(targets[start + r])) hits++;
    }
  }
  return nq ? hits / nq : 0;
}
