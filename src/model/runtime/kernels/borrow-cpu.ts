/**
 * Kernels a backend lacks, borrowed from the cpu backend: the inputs are copied into a private
 * cpu backend, the cpu kernel runs there, and the outputs are copied back. Slow but complete, so
 * an op the wasm backend misses (Einsum, FFT, ...) works instead of failing.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { getKernel, getKernelsForBackend, registerKernel, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

interface Readable { readSync(dataId: object): unknown; makeOutput?(shape: number[], dtype: string, offset?: number, values?: unknown): TensorInfo }

/**
 * Register, for `backendName`, every cpu kernel it has no kernel for (except those in `skip`).
 * Returns the names registered.
 * @example borrowMissingCpuKernels('wasm', new Set(['UnsortedSegmentSum']))
 */
export function borrowMissingCpuKernels(backendName: string, skip: Set<string> = new Set()): string[] {
  const have = new Set(getKernelsForBackend(backendName).map((k) => k.kernelName));
  const cpu = new MathBackendCPU();
  (cpu as unknown as { firstUse: boolean }).firstUse = false; // no "install tfjs-node" banner for this private backend
  const borrowed: string[] = [];
  for (const k of getKernelsForBackend('cpu')) {
    if (have.has(k.kernelName) || skip.has(k.kernelName)) continue;
    const cpuKernel = getKernel(k.kernelName, 'cpu')!;
    registerKernel({
      kernelName: k.kernelName,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const host = backend as unknown as Readable & KernelBackend;
        const created: TensorInfo[] = [];
        const toCpu = (t: TensorInfo | undefined) => {
          if (!t) return t;
          const values = host.readSync(t.dataId) as Float32Array;
          const info = { dataId: cpu.write(values.slice(), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
          created.push(info);
          return info;
        };
        // some kernels (Einsum) take an array of inputs, the others a named map
        const cpuInputs = Array.isArray(inputs)
          ? (inputs as TensorInfo[]).map(toCpu)
          : Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, toCpu(t)]));
        try {
          const result = cpuKernel.kernelFunc({ inputs: cpuInputs as tf.NamedTensorInfoMap, attrs, backend: cpu });
          const list = Array.isArray(result) ? result : [result];
          const outs = list.map((o) => {
            const values = cpu.readSync(o.dataId);
            created.push(o);
            return host.makeOutput!(o.shape, o.dtype, undefined, values);
          });
          return Array.isArray(result) ? outs : outs[0];
        } finally {
          for (const t of created) cpu.disposeData(t.dataId, true);
        }
      },
    });
    borrowed.push(k.kernelName);
  }
  return borrowed;
}
