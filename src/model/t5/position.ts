/** T5's relative position buckets (transformers' T5Attention._relative_position_bucket), in float32 as torch computes them. */

/**
 * Bucket of a relative position (key position - query position).
 * @example relativePositionBucket(-3, true, 32, 128) // 3
 */
export function relativePositionBucket(relativePosition: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = 0;
  let n = numBuckets;
  let rp = relativePosition;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) buckets += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return buckets + rp;
  const f = Math.fround;
  const large = maxExact + Math.trunc(f(f(f(Math.log(f(rp / maxExact))) / f(Math.log(maxDistance / maxExact))) * (n - maxExact)));
  return buckets + Math.min(large, n - 1);
}

/**
 * Bucket indices [queryLength x keyLength] (row-major) for one attention layer.
 * @example positionBuckets(4, 4, true, 8, 20)
 */
export function positionBuckets(queryLength: number, keyLength: number, bidirectional: boolean, numBuckets: number, maxDistance: number,
  queryOffset = 0): Int32Array {
  const out = new Int32Array(queryLength * keyLength);
  for (let q = 0; q < queryLength; q++) {
    for (let k = 0; k < keyLength; k++) out[q * keyLength + k] = relativePositionBucket(k - (q + queryOffset), bidirectional, numBuckets, maxDistance);
  }
  return out;
}
