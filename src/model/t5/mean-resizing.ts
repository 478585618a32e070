/**
 * Rows for tokens added to an embedding, as transformers' resize_token_embeddings draws them
 * (mean_resizing, its default since v4.46): from N(mean, 1e-9 · Σ) of the existing rows, with Σ
 * their covariance, where Σ is positive definite; else every new row is the mean. New tokens so
 * start at the centre of the model's tokens and barely apart.
 */
import { tryLoadAddon } from '../../native/loader.js';
import { mulberry32 } from '../../data/random.js';

/** transformers' scale of the covariance the new rows are drawn with. */
export const MEAN_RESIZING_SCALE = 1e-9;

/**
 * Σ = Xcᵀ·Xc / rows [d, d] in double, Xc the rows less their mean (natively where the addon loads).
 */
function covariance(centered: Float32Array, rows: number, d: number): Float64Array {
  const addon = tryLoadAddon();
  const out = new Float64Array(d * d);
  if (addon) {
    const c = new Float32Array(d * d);
    addon.gemmSync({ a: centered, b: centered, c, batch: 1, m: d, n: d, k: rows, transA: true, transB: false, device: 'cpu', threads: 0 });
    for (let i = 0; i < d * d; i++) out[i] = c[i] / rows;
    return out;
  }
  for (let r = 0; r < rows; r++) {
    const x = centered.subarray(r * d, (r + 1) * d);
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) out[i * d + j] += x[i] * x[j];
  }
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) out[j * d + i] = out[i * d + j] /= rows;
  return out;
}

/** The lower Cholesky factor of a [d, d] matrix, or null where it is not (numerically) positive definite. */
function cholesky(a: Float64Array, d: number): Float64Array | null {
  let maxDiag = 0;
  for (let i = 0; i < d; i++) maxDiag = Math.max(maxDiag, a[i * d + i]);
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j];
    for (let k = 0; k < j; k++) s -= l[j * d + k] ** 2;
    if (!(s > 1e-12 * maxDiag)) return null;
    const ljj = Math.sqrt(s);
    l[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j];
      for (let k = 0; k < j; k++) t -= l[i * d + k] * l[j * d + k];
      l[i * d + j] = t / ljj;
    }
  }
  return l;
}

/**
 * `count` new rows [count, d] for an embedding `old` [rows, d]: mean + sqrt(1e-9)·L·z, L the
 * Cholesky factor of the rows' covariance and z standard normal (seeded); the mean itself where
 * the covariance is not positive definite (fewer rows than dimensions, repeated rows).
 * @example const added = meanResizedRows(shared, 32128, 768, 484, 7); // rows for 484 new tokens
 */
export function meanResizedRows(old: Float32Array, rows: number, d: number, count: number, seed: number): Float32Array {
  const mean = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) mean[j] += old[r * d + j];
  for (let j = 0; j < d; j++) mean[j] /= rows;
  const out = new Float32Array(count * d);
  const centered = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) centered[r * d + j] = old[r * d + j] - mean[j];
  const l = rows > 1 ? cholesky(covariance(centered, rows, d), d) : null;
  if (l === null) {
    for (let r = 0; r < count; r++) for (let j = 0; j < d; j++) out[r * d + j] = mean[j];
    return out;
  }
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const scale = Math.sqrt(MEAN_RESIZING_SCALE);
  const z = new Float64Array(d);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < d; j++) z[j] = gauss();
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let k = 0; k <= i; k++) s += l[i * d + k] * z[k];
      out[r * d + i] = mean[i] + scale * s;
    }
  }
  return out;
}
