/** Float64 reference SVD in plain TypeScript (one-sided Jacobi): the oracle of the SVD tests. */

/**
 * All singular values of a dense row-major n x d matrix, descending, and the right singular
 * vectors (rows of `v`, d each), computed in float64 by one-sided Jacobi rotations.
 *
 * @example
 * const { values } = svdReference(new Float64Array([3, 0, 0, 4]), 2, 2);  // [4, 3]
 */
export function svdReference(x: ArrayLike<number>, n: number, d: number, center = false): { values: Float64Array; v: Float64Array[] } {
  // Work on the columns of A = x (n x d) when n >= d, else on the columns of xᵀ.
  const wide = d > n;
  const cols = wide ? n : d, len = wide ? d : n;
  const mean = new Float64Array(d);
  if (center) {
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  }
  const A = Array.from({ length: cols }, () => new Float64Array(len));
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
    const v = x[i * d + j] - mean[j];
    if (wide) A[i][j] = v; else A[j][i] = v;
  }
  const V = Array.from({ length: cols }, (_, c) => { const r = new Float64Array(cols); r[c] = 1; return r; });
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let a = 0; a < cols - 1; a++) for (let b = a + 1; b < cols; b++) {
      const pa = A[a], pb = A[b];
      let alpha = 0, beta = 0, gamma = 0;
      for (let k = 0; k < len; k++) { alpha += pa[k] * pa[k]; beta += pb[k] * pb[k]; gamma += pa[k] * pb[k]; }
      if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
      rotated = true;
      const zeta = (beta - alpha) / (2 * gamma);
      const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + t * t), s = c * t;
      for (let k = 0; k < len; k++) { const u = pa[k], w = pb[k]; pa[k] = c * u - s * w; pb[k] = s * u + c * w; }
      const va = V[a], vb = V[b];
      for (let k = 0; k < cols; k++) { const u = va[k], w = vb[k]; va[k] = c * u - s * w; vb[k] = s * u + c * w; }
    }
    if (!rotated) break;
  }
  const norms = A.map((col) => Math.sqrt(col.reduce((s, v) => s + v * v, 0)));
  const order = norms.map((_, i) => i).sort((p, q) => norms[q] - norms[p]);
  const values = Float64Array.from(order, (i) => norms[i]);
  const v = order.map((i) => (wide ? A[i].map((e) => (norms[i] > 0 ? e / norms[i] : 0)) : V[i]));
  return { values, v };
}
