import { SemidArgumentError } from './errors.js';
import { expectFloat32Array, expectInt } from './validate.js';

/**
 * Plain TypeScript references of the kernels: the simplest correct versions, used as test oracles
 * and for tiny inputs. Float64 accumulation; same semantics and tie rules as the native kernels.
 */

/**
 * C = alpha·op(A)·op(B) + beta·C, one matrix (see gemm for shapes).
 * @example gemmReference(new Float32Array([1, 2]), new Float32Array([3, 4]), { m: 1, n: 1, k: 2 }) // [11]
 */
export function gemmReference(
  a: Float32Array, b: Float32Array,
  o: { m: number; n: number; k: number; transA?: boolean; transB?: boolean; alpha?: number; beta?: number; out?: Float32Array },
): Float32Array {
  const m = expectInt('m', o.m, 0, 2 ** 31 - 1), n = expectInt('n', o.n, 0, 2 ** 31 - 1), k = expectInt('k', o.k, 0, 2 ** 31 - 1);
  if (expectFloat32Array('a', a).length < m * k) throw new SemidArgumentError('a', `at least ${m * k} elements`, a);
  if (expectFloat32Array('b', b).length < k * n) throw new SemidArgumentError('b', `at least ${k * n} elements`, b);
  const c = o.out ?? new Float32Array(m * n);
  const alpha = o.alpha ?? 1, beta = o.beta ?? 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = o.transA ? a[p * m + i] : a[i * k + p];
        const bv = o.transB ? b[j * k + p] : b[p * n + j];
        s += av * bv;
      }
      c[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * n + j]);
    }
  }
  return c;
}

/**
 * Brute-force nearest centroids: exact (x − c)² in float64, ties to the lower index.
 * @example nearestReference(new Float32Array([0, 0]), new Float32Array([1, 1, 0, 1]), 2, 1) // indices [1]
 */
export function nearestReference(x: Float32Array, centroids: Float32Array, dim: number, topk: number): { indices: Int32Array; distances: Float64Array } {
  expectInt('dim', dim, 1, 2 ** 24);
  if (expectFloat32Array('x', x).length % dim !== 0) throw new SemidArgumentError('x', `a length that is a multiple of dim=${dim}`, x);
  if (expectFloat32Array('centroids', centroids).length % dim !== 0 || centroids.length === 0) {
    throw new SemidArgumentError('centroids', `a non-empty length that is a multiple of dim=${dim}`, centroids);
  }
  const n = x.length / dim, k = centroids.length / dim;
  expectInt('topk', topk, 1, k);
  const indices = new Int32Array(n * topk);
  const distances = new Float64Array(n * topk);
  const order = new Int32Array(k);
  const dist = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let p = 0; p < dim; p++) {
        const diff = x[i * dim + p] - centroids[j * dim + p];
        s += diff * diff;
      }
      dist[j] = s;
      order[j] = j;
    }
    order.sort((u, v) => dist[u] - dist[v] || u - v);
    for (let t = 0; t < topk; t++) {
      indices[i * topk + t] = order[t];
      distances[i * topk + t] = dist[order[t]];
    }
  }
  return { indices, distances };
}
