/** What semid runs on: the facts `semid doctor` prints. */
import { loadAddon } from '../native/loader.js';
import type { RawInfo } from '../native/types.js';

export interface SemidInfo {
  /** Absolute path of the loaded .node file. */
  addonPath: string;
  /** Backends that can run now: always 'cpu', plus 'cuda' when a device is usable. */
  backends: Array<'cpu' | 'cuda'>;
  /** Whether the loaded addon was built with CUDA kernels. */
  cudaBuild: boolean;
  /** CUDA device facts, or why there is none. */
  cuda: RawInfo['cuda'];
  /** SIMD level of the CPU kernels in use, and the best the CPU has. */
  simd: string;
  simdDetected: string;
  /** Default CPU worker threads. */
  threads: number;
  /** Microseconds an idle worker thread polls for the next parallel loop before it sleeps (SEMID_SPIN_US, default 0). */
  threadSpinUs: number;
  /** Whether gemm uses OpenBLAS (linked at build time when found). */
  openblas: boolean;
  node: string;
  platform: string;
  /** Addon candidates that failed to load, with why. */
  skipped: string[];
}

/**
 * Report the native backend: addon path, backends, CUDA device or why there is none, SIMD level,
 * threads, OpenBLAS.
 * @example console.log(info().backends) // ['cpu'] or ['cpu', 'cuda']
 */
export function info(): SemidInfo {
  const loaded = loadAddon();
  const raw = loaded.addon.info();
  if (loaded.cudaProbe && raw.cuda.deviceCount === 0) {
    raw.cuda.reason = `the CUDA build ${loaded.cudaProbe.path} found no device (${loaded.cudaProbe.reason})`;
  }
  return {
    addonPath: loaded.path,
    backends: raw.cuda.deviceCount > 0 ? ['cpu', 'cuda'] : ['cpu'],
    cudaBuild: loaded.cudaBuild,
    cuda: raw.cuda,
    simd: raw.simd,
    simdDetected: raw.simdDetected,
    threads: raw.threads,
    threadSpinUs: raw.spinUs ?? 0,
    openblas: raw.openblas,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    skipped: loaded.skipped,
  };
}
