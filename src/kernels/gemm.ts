/** Dense float32 matrix products on the native core (CPU SIMD + threads, or CUDA). */
import { loadAddon } from '../native/loader.js';
import { cancelFlag } from './abort.js';
import { resolveDevice, type Device } from './device.js';
import { fromNative, SemidArgumentError } from './errors.js';
import {
  expectBoolean, expectFloat32Array, expectFloat32Length, expectInt, expectNumber, expectOptions, optionKeys,
  expectSignal, expectThreads,
} from './validate.js';

const MAX_DIM = 2 ** 31 - 1;

export interface GemmOptions {
  /** Rows of op(A) and of C. */
  m: number;
  /** Columns of op(B) and of C. */
  n: number;
  /** Columns of op(A) = rows of op(B). */
  k: number;
  /** Number of products (default 1). A or B holding a single matrix is broadcast over the batch. */
  batch?: number;
  /** A is stored k x m and used transposed (default false). */
  transA?: boolean;
  /** B is stored n x k and used transposed (default false): C = A·Bᵀ. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of the existing `out` added to the product (default 0; needs `out` when non-zero). */
  beta?: number;
  /** Output buffer [batch x m x n]; allocated when absent. */
  out?: Float32Array;
  /** 'auto' (default) uses CUDA when present and m·n·k >= 2^24, else the CPU. */
  device?: Device;
  /** CPU threads; 0 or absent = all cores. */
  threads?: number;
  /** Abort the product; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Reject NaN and infinity in A and B (default true). */
  checkFinite?: boolean;
  /** CPU implementation: 'auto' (OpenBLAS when linked, else ours) or 'native' (ours). */
  impl?: 'auto' | 'native';
}

/** The option names of GemmOptions (checked against it at compile time): any other key is an error. */
const GEMM_KEYS = optionKeys<GemmOptions>()(['m', 'n', 'k', 'batch', 'transA', 'transB', 'alpha', 'beta', 'out', 'device', 'threads', 'signal', 'checkFinite', 'impl']);

/**
 * C = alpha · op(A) · op(B) + beta · C for float32 row-major matrices, batched.
 * Shapes: A [batch|1][m x k] ([k x m] with transA), B [batch|1][k x n] ([n x k] with transB),
 * C [batch][m x n].
 *
 * @example
 * const a = new Float32Array([1, 2, 3, 4, 5, 6]); // 2 x 3
 * const b = new Float32Array([1, 0, 0, 1, 1, 1]); // 2 x 3, used transposed
 * const c = await gemm(a, b, { m: 2, n: 2, k: 3, transB: true }); // a·bᵀ = [1, 6, 4, 15]
 */
export async function gemm(a: Float32Array, b: Float32Array, options: GemmOptions): Promise<Float32Array> {
  const o = expectOptions<GemmOptions>('options', options, GEMM_KEYS);
  const m = expectInt('m', o.m, 0, MAX_DIM);
  const n = expectInt('n', o.n, 0, MAX_DIM);
  const k = expectInt('k', o.k, 0, MAX_DIM);
  const batch = expectInt('batch', o.batch ?? 1, 1, MAX_DIM);
  const transA = expectBoolean('transA', o.transA ?? false);
  const transB = expectBoolean('transB', o.transB ?? false);
  const alpha = expectNumber('alpha', o.alpha ?? 1);
  const beta = expectNumber('beta', o.beta ?? 0);
  const threads = expectThreads(o.threads);
  const signal = expectSignal('signal', o.signal);
  const checkFinite = expectBoolean('checkFinite', o.checkFinite ?? true);
  const impl = o.impl ?? 'auto';
  if (impl !== 'auto' && impl !== 'native') throw new SemidArgumentError('impl', '"auto" or "native"', impl);

  const aArr = expectFloat32Array('a', a);
  const bArr = expectFloat32Array('b', b);
  const aSize = m * k, bSize = k * n;
  const aShape = transA ? `${k} x ${m}` : `${m} x ${k}`;
  const bShape = transB ? `${n} x ${k}` : `${k} x ${n}`;
  const aBroadcast = batch > 1 && aArr.length === aSize;
  const bBroadcast = batch > 1 && bArr.length === bSize;
  if (!aBroadcast) expectFloat32Length('a', aArr, batch * aSize, batch > 1 ? `${batch} x ${aShape}, or one ${aShape} to broadcast` : aShape);
  if (!bBroadcast) expectFloat32Length('b', bArr, batch * bSize, batch > 1 ? `${batch} x ${bShape}, or one ${bShape} to broadcast` : bShape);
  let out: Float32Array;
  if (o.out !== undefined) {
    out = expectFloat32Length('out', o.out, batch * m * n, `${batch} x ${m} x ${n}`);
  } else {
    if (beta !== 0) throw new SemidArgumentError('out', 'a Float32Array when beta is non-zero', undefined);
    out = new Float32Array(batch * m * n);
  }
  const device = resolveDevice(o.device, m * n * k >= 2 ** 24);
  const cancel = cancelFlag(signal);
  try {
    await loadAddon().addon.gemm({
      a: aArr, b: bArr, c: out, batch, m, n, k, transA, transB,
      lda: Math.max(1, transA ? m : k), ldb: Math.max(1, transB ? k : n), ldc: Math.max(1, n),
      strideA: aBroadcast ? 0 : aSize, strideB: bBroadcast ? 0 : bSize, strideC: m * n,
      alpha, beta, device, threads, impl, checkFinite, cancel: cancel.flag,
    });
  } catch (err) {
    throw fromNative(err, signal);
  } finally {
    cancel.dispose();
  }
  return out;
}
