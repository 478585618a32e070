/**
 * BatchMatMul on our native GEMM: a [..., m, k] (or [..., k, m] transposed) times b [..., k, n]
 * (or [..., n, k]), batch dimensions broadcast as numpy does. Runs in place on the backend's host
 * memory; on CUDA builds with a device, large products go to the GPU.
 */
import { broadcast_util, getKernel, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { loadAddon } from '../../../native/loader.js';
import { hostOutput, hostView } from '../host-memory.js';

export interface MatMulSettings {
  /** Use the CUDA GEMM for products of at least this many multiply-adds (default 2^27), when a device exists. */
  cudaMinMacs: number;
  cuda: boolean;
  /** CPU threads (0: all). */
  threads: number;
}

export const matMulSettings: MatMulSettings = { cudaMinMacs: 2 ** 27, cuda: false, threads: 0 };

/** Where a product of `macs` multiply-adds runs: CUDA from cudaMinMacs when a device is in use. */
function gemmDevice(macs: number): 'cpu' | 'cuda' {
  return matMulSettings.cuda && macs >= matMulSettings.cudaMinMacs ? 'cuda' : 'cpu';
}

/** Offsets of each output batch into a and b under numpy broadcasting of the batch shapes. */
function broadcastOffsets(aDims: number[], bDims: number[], outDims: number[]): { a: Int32Array; b: Int32Array } {
  const total = util.sizeFromShape(outDims);
  const a = new Int32Array(total);
  const b = new Int32Array(total);
  const rank = outDims.length;
  const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
  const ad = pad(aDims);
  const bd = pad(bDims);
  const idx = new Array(rank).fill(0);
  for (let o = 0; o < total; o++) {
    let ao = 0;
    let bo = 0;
    for (let r = 0; r < rank; r++) {
      ao = ao * ad[r] + (ad[r] === 1 ? 0 : idx[r]);
      bo = bo * bd[r] + (bd[r] === 1 ? 0 : idx[r]);
    }
    a[o] = ao;
    b[o] = bo;
    for (let r = rank - 1; r >= 0; r--) {
      if (++idx[r] < outDims[r]) break;
      idx[r] = 0;
    }
  }
  return { a, b };
}

export const batchMatMul: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA = false, transposeB = false } = attrs as { transposeA?: boolean; transposeB?: boolean };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') throw new Error(`BatchMatMul: expected float32 tensors, got ${a.dtype} and ${b.dtype}`);
  const ar = a.shape.length;
  const br = b.shape.length;
  const k = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = transposeB ? b.shape[br - 1] : b.shape[br - 2];
  const m = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
  const n = transposeB ? b.shape[br - 2] : b.shape[br - 1];
  util.assert(k === kb, () => `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
  const aDims = a.shape.slice(0, -2);
  const bDims = b.shape.slice(0, -2);
  const outDims = broadcast_util.assertAndGetBroadcastShape(aDims, bDims);
  const batch = util.sizeFromShape(outDims);
  const out = hostOutput(backend, [...outDims, m, n], 'float32');
  const c = hostView(backend, out) as Float32Array;
  if (m * n === 0 || batch === 0) return out;
  if (k === 0) { c.fill(0); return out; }
  const av = hostView(backend, a) as Float32Array;
  const bv = hostView(backend, b) as Float32Array;
  const addon = loadAddon().addon;
  const device = gemmDevice(batch * m * n * k);
  const common = { m, n, k, transA: transposeA, transB: transposeB, threads: matMulSettings.threads, device };
  const aBatch = util.sizeFromShape(aDims);
  const bBatch = util.sizeFromShape(bDims);
  if ((aBatch === batch || aBatch === 1) && (bBatch === batch || bBatch === 1)) {
    addon.gemmSync({ ...common, a: av, b: bv, c, batch, strideA: aBatch === 1 ? 0 : m * k, strideB: bBatch === 1 ? 0 : k * n });
  } else {
    const off = broadcastOffsets(aDims, bDims, outDims);
    for (let o = 0; o < batch; o++) {
      addon.gemmSync({
        ...common, batch: 1,
        a: av.subarray(off.a[o] * m * k, (off.a[o] + 1) * m * k),
        b: bv.subarray(off.b[o] * k * n, (off.b[o] + 1) * k * n),
        c: c.subarray(o * m * n, (o + 1) * m * n),
      });
    }
  }
  return out;
};

/**
 * x [m, k] · w [n, k]ᵀ written into `out` [m, n] (host arrays, row-major) by the same GEMM call
 * BatchMatMul makes for that product, so the values are the kernel's to the bit. For a caller that
 * wants a large product in memory it owns (T5DecoderSession's logits) without a tensor and a copy.
 * @example matMulTransposedInto(h, headWeight, logits, rows, vocab, dModel);
 */
export function matMulTransposedInto(x: Float32Array, w: Float32Array, out: Float32Array, m: number, n: number, k: number): void {
  if (x.length < m * k || w.length < n * k || out.length < m * n) throw new Error(`matMulTransposedInto: buffers smaller than [${m}, ${k}] x [${n}, ${k}]ᵀ -> [${m}, ${n}]`);
  if (m * n === 0) return;
  if (k === 0) { out.fill(0, 0, m * n); return; }
  loadAddon().addon.gemmSync({ m, n, k, transA: false, transB: true, threads: matMulSettings.threads, device: gemmDevice(m * n * k), a: x, b: w, c: out, batch: 1, strideA: 0, strideB: 0 });
}

/** Whether tfjs's BatchMatMul on the active backend is this module's kernel (the native GEMM). */
export function nativeBatchMatMulActive(backendName: string): boolean {
  return getKernel('BatchMatMul', backendName)?.kernelFunc === batchMatMul;
}

/** BatchMatMul for a backend (register with tf.registerKernel). */
export function batchMatMulConfig(backendName: string): KernelConfig {
  return { kernelName: 'BatchMatMul', backendName, kernelFunc: batchMatMul };
}
