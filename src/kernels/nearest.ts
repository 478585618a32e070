/** Fused nearest-centroid search (the assignment step of k-means and residual quantization). */
import { loadAddon } from '../native/loader.js';
import { cancelFlag } from './abort.js';
import { resolveDevice, type Device } from './device.js';
import { fromNative, SemidArgumentError } from './errors.js';
import { expectBoolean, expectFloat32Array, expectInt, expectOptions, optionKeys, expectSignal, expectThreads } from './validate.js';

export interface NearestOptions {
  /** Vector dimension d: x is [n x d], centroids [k x d], row-major. */
  dim: number;
  /** How many nearest centroids per row (1 <= topk <= k; default 1). */
  topk?: number;
  /** 'auto' (default: CUDA when present), 'cpu' or 'cuda'. */
  device?: Device;
  /** CPU threads; 0 or absent = all cores. */
  threads?: number;
  signal?: AbortSignal;
  /** Reject NaN and infinity in x and centroids (default true). */
  checkFinite?: boolean;
}

/** The option names of NearestOptions (checked against it at compile time): any other key is an error. */
const NEAREST_KEYS = optionKeys<NearestOptions>()(['dim', 'topk', 'device', 'threads', 'signal', 'checkFinite']);

export interface NearestResult {
  /** Rows of x. */
  n: number;
  topk: number;
  /** [n x topk] centroid indices, nearest first by the exact distance; exact ties go to the lower index. */
  indices: Int32Array;
  /**
   * [n x topk] squared Euclidean distances, ascending: exact (rounded to float) where near ties
   * were settled, otherwise the tiled |x|² − 2x·c + |c|² within its rounding bound, clamped at 0.
   */
  distances: Float32Array;
}

/**
 * For each row of x, the `topk` nearest rows of `centroids` by squared L2 distance, computed
 * tile by tile (|x|² − 2x·c + |c|²) without holding the n x k distance matrix. In float that
 * form rounds by up to about 2d·2⁻²⁴·(|x|² + |c|²), which on data far from the origin (a large
 * common offset) exceeds the gap between neighbours; rows whose ranking is within that bound are
 * re-ranked by direct (x − c)² sums in double, so the indices are the exact nearest ones (FAISS's
 * flat search returns the expanded ranking; scikit-learn upcasts float32 to float64 for this).
 *
 * @example
 * const x = new Float32Array([0, 0, 10, 10]);       // two points in 2-D
 * const c = new Float32Array([9, 9, 1, 0]);         // two centroids
 * const { indices, distances } = await nearestCentroids(x, c, { dim: 2 });
 * // indices = [1, 0], distances = [1, 2]
 */
export async function nearestCentroids(x: Float32Array, centroids: Float32Array, options: NearestOptions): Promise<NearestResult> {
  const o = expectOptions<NearestOptions>('options', options, NEAREST_KEYS);
  const d = expectInt('dim', o.dim, 1, 2 ** 24);
  const xArr = expectFloat32Array('x', x);
  const cArr = expectFloat32Array('centroids', centroids);
  if (xArr.length % d !== 0) throw new SemidArgumentError('x', `a Float32Array whose length is a multiple of dim=${d}`, xArr);
  if (cArr.length === 0 || cArr.length % d !== 0) {
    throw new SemidArgumentError('centroids', `a non-empty Float32Array whose length is a multiple of dim=${d}`, cArr);
  }
  const n = xArr.length / d, k = cArr.length / d;
  if (k > 2 ** 31 - 1) throw new SemidArgumentError('centroids', 'at most 2^31 - 1 rows', cArr);
  const topk = expectInt('topk', o.topk ?? 1, 1, k);
  const threads = expectThreads(o.threads);
  const signal = expectSignal('signal', o.signal);
  const checkFinite = expectBoolean('checkFinite', o.checkFinite ?? true);
  const device = resolveDevice(o.device);
  const indices = new Int32Array(n * topk);
  const distances = new Float32Array(n * topk);
  const cancel = cancelFlag(signal);
  try {
    await loadAddon().addon.nearest({
      x: xArr, centroids: cArr, n, d, k, topk, indices, distances, device, threads, checkFinite, cancel: cancel.flag,
    });
  } catch (err) {
    throw fromNative(err, signal);
  } finally {
    cancel.dispose();
  }
  return { n, topk, indices, distances };
}
