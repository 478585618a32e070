/** Small dense helpers for embedding matrices (row-major Float32Array [rows x dim]). */

/** L2-normalise each row in place (zero rows stay zero). @example normalizeRows(x, 384) */
export function normalizeRows(x: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[r * dim + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) x[r * dim + j] *= inv;
  }
  return x;
}

/** CSR [rows x cols] times a dense [cols x k]: out [rows x k]. @example csrTimesDense(csr, w, 384) */
export function csrTimesDense(csr: { rows: number; indptr: Int32Array; indices: Int32Array; values: Float32Array }, dense: Float32Array, k: number): Float32Array {
  const out = new Float32Array(csr.rows * k);
  for (let r = 0; r < csr.rows; r++) {
    const o = r * k;
    for (let p = csr.indptr[r]; p < csr.indptr[r + 1]; p++) {
      const base = csr.indices[p] * k;
      const v = csr.values[p];
      for (let j = 0; j < k; j++) out[o + j] += v * dense[base + j];
    }
  }
  return out;
}

/** Transpose [rows x cols] to [cols x rows]. */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}
