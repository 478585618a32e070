/**
 * Truncated SVD of a float32 matrix, dense (n x d) or sparse (CSR), to rank r, on the native core.
 * The method follows the shape (and is reported): `exact` (one-sided Jacobi in float64) for small
 * matrices, `gram` (XᵀX or XXᵀ accumulated in float64, a float64 symmetric eigensolver, a
 * projection) for tall or wide matrices whose narrow side is at most 4,096, `randomized` (range
 * finder with oversampling and re-orthonormalised power iterations) for the rest and for sparse
 * input, which is never densified. `center: true` gives PCA; false, scikit-learn's TruncatedSVD.
 * Signs are fixed: the largest-magnitude entry of each right singular vector is positive.
 *
 * Conditioning: the Gram route squares the condition number, so singular values below about
 * 1e-3 · σ_max lose relative accuracy (float32 products summed in 1,024-row blocks); use
 * `method: 'exact'` (small matrices) or `'randomized'` with power iterations for such tails.
 * A matrix that is zero to float32 precision (all zeros, or identical rows with `center`: its
 * centred sum of squares at most 1e-12 of the raw one) has singular values 0 and components
 * e_0, e_1, ... from the randomized method (its range cannot be sampled) as from `exact`.
 */
import { loadAddon } from '../native/loader.js';
import { cancelFlag } from '../kernels/abort.js';
import { resolveDevice, type Device } from '../kernels/device.js';
import { fromNative, SemidArgumentError } from '../kernels/errors.js';
import { asMatrix, type Matrix } from '../kernels/rqkmeans.js';
import { expectBoolean, expectInt, expectOptions, optionKeys, expectSignal, expectThreads } from '../kernels/validate.js';

/** A CSR sparse matrix: row i holds values[indptr[i] .. indptr[i + 1]) at columns indices[...]. */
export interface CsrMatrix {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

export type SvdMethod = 'auto' | 'gram' | 'randomized' | 'exact';

export interface SvdOptions {
  /** Number of singular triplets, 1 <= rank <= min(n, d). */
  rank: number;
  /** Columns of a dense Float32Array x (not needed with a Matrix or CsrMatrix). */
  dim?: number;
  method?: SvdMethod;
  /** Extra columns of the randomized range finder (default 10). */
  oversample?: number;
  /** Power iterations of the randomized method (default 4). */
  powerIters?: number;
  /** Subtract the column means first (PCA); default false (TruncatedSVD semantics). */
  center?: boolean;
  /** Seed of the randomized method's test matrix (default 0). */
  seed?: number;
  /**
   * 'cpu' (default) or 'cuda'. With 'cuda' the randomized method runs its whole range finder on
   * the GPU (X, the n x q and d x q bases and every product stay on the card; only q x q
   * matrices come back for the float64 Cholesky and eigen steps), which is the fast GPU path
   * for dense input (62,138 x 640 to 256: 30 ms device-resident on an H100, 90 ms from host
   * arrays); the Gram route moves only its products to the GPU. Sparse input runs on the CPU.
   */
  device?: Device;
  threads?: number;
  signal?: AbortSignal;
}

/** The option names of SvdOptions (checked against it at compile time): any other key is an error. */
const SVD_KEYS = optionKeys<SvdOptions>()(['rank', 'dim', 'method', 'oversample', 'powerIters', 'center', 'seed', 'device', 'threads', 'signal']);

export interface SvdResult {
  /** The method that ran. */
  method: 'gram' | 'randomized' | 'exact';
  rows: number;
  cols: number;
  rank: number;
  /** [rank] descending. */
  singularValues: Float64Array;
  /** [rank x cols] right singular vectors (rows), unit norm. */
  components: Float32Array;
  /** [rank] variance of each projected column (ddof 1 when centred, as PCA; ddof 0 otherwise, as TruncatedSVD). */
  explainedVariance: Float64Array;
  /** [rank] explainedVariance over the total variance of the columns of x (same ddof). */
  explainedVarianceRatio: Float64Array;
  /** [cols] column means when centred, else null. */
  mean: Float32Array | null;
  /** [rows x rank] projected rows (x - mean) Vᵀ = U S. */
  projected: Float32Array;
}

function isCsr(x: unknown): x is CsrMatrix {
  return !!x && typeof x === 'object' && 'indptr' in (x as object);
}

function checkCsr(x: CsrMatrix): CsrMatrix {
  const rows = expectInt('x.rows', x.rows, 1, 2 ** 31 - 1);
  const cols = expectInt('x.cols', x.cols, 1, 2 ** 31 - 1);
  if (!(x.indptr instanceof Int32Array) || x.indptr.length !== rows + 1) throw new SemidArgumentError('x.indptr', `Int32Array of length rows + 1 = ${rows + 1}`, x.indptr);
  const nnz = x.indptr[rows];
  if (!(x.indices instanceof Int32Array) || x.indices.length !== nnz) throw new SemidArgumentError('x.indices', `Int32Array of length nnz = indptr[rows] = ${nnz}`, x.indices);
  if (!(x.values instanceof Float32Array) || x.values.length !== nnz) throw new SemidArgumentError('x.values', `Float32Array of length nnz = ${nnz}`, x.values);
  return { rows, cols, indptr: x.indptr, indices: x.indices, values: x.values };
}

/**
 * Truncated SVD of x to `rank`.
 *
 * @example
 * const x = { data: new Float32Array([3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]), rows: 4, cols: 3 };
 * const r = await truncatedSvd(x, { rank: 2 });
 * // r.singularValues = [3, 2]; r.components rows are ±e0, ±e1 (signs fixed positive)
 */
export async function truncatedSvd(x: Matrix | CsrMatrix | Float32Array, options: SvdOptions): Promise<SvdResult> {
  const o = expectOptions<SvdOptions>('options', options, SVD_KEYS);
  const sparse = isCsr(x) ? checkCsr(x) : null;
  const dense = sparse ? null : asMatrix(x, o.dim);
  const n = sparse ? sparse.rows : dense!.rows;
  const d = sparse ? sparse.cols : dense!.cols;
  if (n < 1 || d < 1) throw new SemidArgumentError('x', 'a non-empty matrix', x);
  const rank = expectInt('rank', o.rank, 1, Math.min(n, d));
  const method = o.method ?? 'auto';
  if (!['auto', 'gram', 'randomized', 'exact'].includes(method)) throw new SemidArgumentError('method', '"auto", "gram", "randomized" or "exact"', method);
  if (sparse && method !== 'auto' && method !== 'randomized') throw new SemidArgumentError('method', '"auto" or "randomized" for a sparse matrix', method);
  const oversample = expectInt('oversample', o.oversample ?? 10, 0, 1 << 20);
  const powerIters = expectInt('powerIters', o.powerIters ?? 4, 0, 1000);
  const center = expectBoolean('center', o.center ?? false);
  const seed = expectInt('seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
  const threads = expectThreads(o.threads);
  const signal = expectSignal('signal', o.signal);
  const device = resolveDevice(o.device ?? 'cpu');
  // Non-finite values are found natively (threaded) and reported with their row and column.
  const cancel = cancelFlag(signal);
  let raw;
  try {
    raw = await loadAddon().addon.truncatedSvd({
      ...(sparse ? { indptr: sparse.indptr, indices: sparse.indices, values: sparse.values } : { x: dense!.data }),
      n, d, rank, method, oversample, powerIters, center, seed, device, threads, cancel: cancel.flag,
    });
  } catch (err) {
    throw fromNative(err, signal);
  } finally {
    cancel.dispose();
  }
  // Explained variance (computed natively): PCA (centred, ddof 1) or TruncatedSVD (variance of the projection, ddof 0).
  const explainedVariance: Float64Array = raw.explainedVariance;
  const ddof = center ? 1 : 0;
  const total = raw.totalVariance * (n / Math.max(1, n - ddof));
  const explainedVarianceRatio = explainedVariance.map((v) => (total > 0 ? v / total : 0));
  return {
    method: raw.method as SvdResult['method'], rows: n, cols: d, rank, singularValues: raw.singularValues,
    components: raw.components, explainedVariance, explainedVarianceRatio, mean: raw.mean, projected: raw.projected,
  };
}

/**
 * A fitted truncated SVD that projects new rows: `transform(x) = (x - mean) Vᵀ`.
 *
 * @example
 * const svd = await TruncatedSVD.fit(embeddings, { rank: 256, center: false });
 * const reduced = await svd.transform(newRows);   // Float32Array [rows x 256]
 */
export class TruncatedSVD {
  private constructor(readonly result: SvdResult) {}

  static async fit(x: Matrix | CsrMatrix | Float32Array, options: SvdOptions): Promise<TruncatedSVD> {
    return new TruncatedSVD(await truncatedSvd(x, options));
  }

  get components(): Float32Array { return this.result.components; }
  get singularValues(): Float64Array { return this.result.singularValues; }
  get rank(): number { return this.result.rank; }
  get cols(): number { return this.result.cols; }

  /** Project rows of a dense matrix with the fitted components (native GEMM). */
  async transform(x: Matrix | Float32Array, options: { device?: Device; threads?: number; signal?: AbortSignal } = {}): Promise<Float32Array> {
    const m = asMatrix(x, this.cols);
    if (m.cols !== this.cols) throw new SemidArgumentError('x', `rows of ${this.cols} columns (the fitted dimension)`, x);
    const { gemm } = await import('../kernels/gemm.js');
    const out = await gemm(m.data, this.components, { m: m.rows, n: this.rank, k: this.cols, transB: true, device: options.device ?? 'cpu', threads: options.threads, signal: options.signal });
    const mean = this.result.mean;
    if (mean) {
      const shift = new Float64Array(this.rank);
      for (let c = 0; c < this.rank; c++) for (let j = 0; j < this.cols; j++) shift[c] += mean[j] * this.components[c * this.cols + j];
      for (let i = 0; i < m.rows; i++) for (let c = 0; c < this.rank; c++) out[i * this.rank + c] -= shift[c];
    }
    return out;
  }
}
