/**
 * Direct access to tensor memory for the backends that keep it on the host: the wasm backend (its
 * WebAssembly heap) and the cpu backend (JS typed arrays). Native kernels read and write these
 * views in place, without copies.
 */
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';

/** Any tfjs backend object (kernels receive it untyped). */
type KernelBackend = object;

type HostArray = Float32Array | Int32Array | Uint8Array;

interface WasmLike {
  typedArrayFromHeap(t: TensorInfo): HostArray;
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number, values?: unknown): TensorInfo;
}
interface CpuLike {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values?: unknown): TensorInfo;
}

/** Which host layout a backend has: 'wasm', 'cpu', or null (device memory: tfjs-node, webgl). */
export function hostKind(backend: KernelBackend): 'wasm' | 'cpu' | null {
  const b = backend as unknown as Partial<WasmLike & CpuLike>;
  if (typeof b.typedArrayFromHeap === 'function' && typeof b.makeOutput === 'function') return 'wasm';
  if (b.data && typeof b.makeTensorInfo === 'function') return 'cpu';
  return null;
}

/**
 * A view of a tensor's elements. On wasm the view is into the heap: take it after the last
 * allocation of the kernel (allocating may grow the heap and detach earlier views).
 */
export function hostView(backend: KernelBackend, t: TensorInfo): HostArray {
  if (hostKind(backend) === 'wasm') return (backend as unknown as WasmLike).typedArrayFromHeap(t);
  const values = (backend as unknown as CpuLike).data.get(t.dataId)?.values;
  if (!(values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array)) {
    throw new Error(`tensor of dtype ${t.dtype} has no host typed array on this backend`);
  }
  return values;
}

/** A new output tensor of `shape` (contents undefined until written). */
export function hostOutput(backend: KernelBackend, shape: number[], dtype: DataType): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  if (hostKind(backend) === 'wasm') return (backend as unknown as WasmLike).makeOutput(shape, dtype);
  const values = dtype === 'int32' ? new Int32Array(size) : dtype === 'bool' ? new Uint8Array(size) : new Float32Array(size);
  return (backend as unknown as CpuLike).makeTensorInfo(shape, dtype, values);
}
