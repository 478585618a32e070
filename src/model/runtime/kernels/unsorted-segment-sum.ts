/**
 * UnsortedSegmentSum on host memory (the wasm backend has none, and the gradient of tf.gather,
 * hence of every embedding lookup, needs it): out[s, ...] = sum of x[i, ...] over i with
 * segmentIds[i] = s; ids outside [0, numSegments) are skipped, as in TensorFlow.
 */
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { hostOutput, hostView } from '../host-memory.js';
import { tryLoadAddon } from '../../../native/loader.js';

export const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as { numSegments: number };
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: x must be float32 or int32, got ${x.dtype}`);
  const idRank = segmentIds.shape.length;
  util.assert(
    segmentIds.shape.every((d, i) => d === x.shape[i]),
    () => `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`,
  );
  const inner = util.sizeFromShape(x.shape.slice(idRank));
  const rows = util.sizeFromShape(segmentIds.shape);
  const out = hostOutput(backend, [numSegments, ...x.shape.slice(idRank)], x.dtype);
  const o = hostView(backend, out) as Float32Array | Int32Array;
  const xv = hostView(backend, x) as Float32Array | Int32Array;
  const ids = hostView(backend, segmentIds) as Int32Array;
  const addon = tryLoadAddon();
  if (x.dtype === 'float32' && typeof addon?.segmentSumSync === 'function') {
    // natively: the zero fill and the sums over threads (float32, rows added in order)
    addon.segmentSumSync({ x: xv as Float32Array, ids, out: o as Float32Array, rows, inner, segments: numSegments });
    return out;
  }
  o.fill(0);
  for (let r = 0; r < rows; r++) {
    const s = ids[r];
    if (s < 0 || s >= numSegments) continue;
    const src = r * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xv[src + j];
  }
  return out;
};

export function unsortedSegmentSumConfig(backendName: string): KernelConfig {
  return { kernelName: 'UnsortedSegmentSum', backendName, kernelFunc: unsortedSegmentSum };
}
