/** Retrieval metrics of one example: Recall@k and NDCG@k of a ranked item list against one target. */

/**
 * Recall@k with one relevant item: 1 when the target is among the first k distinct items.
 * A ranked list may be shorter than k (fewer valid IDs) and may repeat items (two IDs, or a
 * collided ID expanded): only first occurrences count.
 * @example recallAt([5, 3, 5, 9], 9, 3) // 1 (distinct items 5, 3, 9)
 */
export function recallAt(ranked: ArrayLike<number>, target: number, k: number): number {
  const seen = new Set<number>();
  for (let i = 0; i < ranked.length && seen.size < k; i++) {
    if (seen.has(ranked[i])) continue;
    seen.add(ranked[i]);
    if (ranked[i] === target) return 1;
  }
  return 0;
}

/**
 * NDCG@k with one relevant item: 1 / log2(rank + 1) at the target's (1-based, distinct) rank.
 * @example ndcgAt([4, 9], 9, 30) // 1 / log2(3)
 */
export function ndcgAt(ranked: ArrayLike<number>, target: number, k: number): number {
  const seen = new Set<number>();
  for (let i = 0; i < ranked.length && seen.size < k; i++) {
    if (seen.has(ranked[i])) continue;
    seen.add(ranked[i]);
    if (ranked[i] === target) return 1 / Math.log2(seen.size + 1);
  }
  return 0;
}
