/**
 * The TensorFlow.js runtime every model here trains on: one call picks the best backend available
 * and says which. Order: @tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node (optional; absent is
 * normal), the wasm backend with our native kernels (BatchMatMul on our GEMM, UnsortedSegmentSum,
 * and the cpu kernels wasm lacks), then the plain cpu backend (also with the native BatchMatMul).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs'; // registers the gradients (and the cpu backend)
import { SemidArgumentError, SemidError } from '../../kernels/errors.js';
import { loadAddon } from '../../native/loader.js';
import { batchMatMulConfig, matMulSettings } from './kernels/batch-matmul.js';
import { unsortedSegmentSumConfig } from './kernels/unsorted-segment-sum.js';
import { gatherConfig } from './kernels/gather.js';
import { borrowMissingCpuKernels } from './kernels/borrow-cpu.js';
import { batchMatMulGradConfig } from './kernels/batch-matmul-grad.js';
import { gatherGradConfig } from './kernels/gather-grad.js';
import { FUSED_KERNELS, registerFusedKernels } from './fused-ops.js';
import { ATTENTION_KERNELS, registerAttentionKernels } from './fused-attention.js';
import { expectOptions, optionKeys } from '../../kernels/validate.js';

export type RuntimeBackend = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface RuntimeOptions {
  /** 'auto' (default) tries tfjs-node(-gpu), then wasm, then cpu. */
  backend?: RuntimeBackend;
  /** Register our native kernels on wasm/cpu (default true; false gives stock tfjs, for comparisons). */
  native?: boolean;
  /** Where BatchMatMul runs: 'auto' (CUDA for large products when a device is present), 'cpu' or 'cuda'. */
  gemmDevice?: 'auto' | 'cpu' | 'cuda';
  /** Smallest product (multiply-adds) sent to CUDA under 'auto' (default 2^27). */
  cudaMinMacs?: number;
  /** CPU threads for native kernels (0: all). */
  threads?: number;
}

/** The option names of RuntimeOptions (checked against it at compile time): any other key is an error. */
const RUNTIME_KEYS = optionKeys<RuntimeOptions>()(['backend', 'native', 'gemmDevice', 'cudaMinMacs', 'threads']);

export interface RuntimeInfo {
  /** The active tfjs backend: 'tensorflow', 'wasm' or 'cpu'. */
  backend: string;
  /** Kernels replaced or added with native/host implementations. */
  nativeKernels: string[];
  /** Kernels the backend lacked, borrowed from the cpu backend. */
  borrowedKernels: string[];
  /** Where BatchMatMul runs. */
  matmul: 'tfjs' | 'semid-cpu' | 'semid-cuda';
  /** Why better backends were not used. */
  skipped: string[];
  /** One line for logs: "wasm + semid native kernels (BatchMatMul on semid GEMM, CPU, AVX2, 2 threads)". */
  description: string;
}

const stock = new Map<string, tf.KernelConfig>();
let current: RuntimeInfo | null = null;

function override(config: tf.KernelConfig): void {
  const key = `${config.backendName}/${config.kernelName}`;
  const existing = tf.getKernel(config.kernelName, config.backendName);
  if (existing && !stock.has(key)) stock.set(key, existing);
  if (existing) tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel(config);
}

let gradRegistered = false;
/**
 * Our gradients, registered once: BatchMatMul's sums broadcast batch dimensions (tfjs's does not),
 * and GatherV2's along axis 0 skips tfjs's two identity transposes (each a full copy on wasm).
 */
function registerGradients(): void {
  if (gradRegistered) return;
  const warn = console.warn;
  console.warn = () => {}; // tfjs warns that a gradient is overridden: that is the point
  try {
    tf.registerGradient(batchMatMulGradConfig);
    tf.registerGradient(gatherGradConfig(tf.getGradient('GatherV2')));
  } finally { console.warn = warn; }
  gradRegistered = true;
}

/**
 * Put back the stock tfjs kernels replaced by `initRuntime` (for side-by-side measurements).
 * @example await initRuntime(); restoreStockKernels(); // tfjs' own BatchMatMul again, for an A/B timing
 */
export function restoreStockKernels(): void {
  for (const [key, config] of stock) {
    const [backendName, kernelName] = key.split('/');
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel(config);
  }
  stock.clear();
  for (const backendName of ['wasm', 'cpu']) {
    for (const name of [...FUSED_KERNELS, ...ATTENTION_KERNELS]) {
      if (tf.getKernel(name, backendName)) tf.unregisterKernel(name, backendName);
    }
  }
  matMulSettings.cuda = false;
  if (current) current = { ...current, nativeKernels: [], matmul: 'tfjs', description: `${current.backend} (stock kernels)` };
}

async function tryTfjsNode(skipped: string[]): Promise<boolean> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
    } catch (err) {
      skipped.push(`${pkg}: not installed`);
      continue;
    }
    if (!tf.findBackend('tensorflow')) {
      skipped.push(`${pkg}: installed, but it registered its backend with another copy of @tensorflow/tfjs-core (install versions matching ${tf.version_core})`);
      continue;
    }
    if (await tf.setBackend('tensorflow')) return true;
    skipped.push(`${pkg}: the tensorflow backend failed to initialise`);
  }
  return false;
}

/**
 * Choose and initialise the tfjs backend, registering our native kernels where they apply.
 * @example
 * const rt = await initRuntime();
 * console.log(rt.description); // "wasm + semid native kernels (BatchMatMul on semid GEMM, cpu)"
 */
export async function initRuntime(options: RuntimeOptions = {}): Promise<RuntimeInfo> {
  expectOptions<RuntimeOptions>('options', options, RUNTIME_KEYS);
  const want = options.backend ?? 'auto';
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(want)) throw new SemidArgumentError('backend', '"auto", "tensorflow", "wasm" or "cpu"', want);
  const gemmDevice = options.gemmDevice ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(gemmDevice)) throw new SemidArgumentError('gemmDevice', '"auto", "cpu" or "cuda"', gemmDevice);
  restoreStockKernels();
  registerGradients();
  const skipped: string[] = [];
  let backend: string | null = null;
  if (want === 'auto' || want === 'tensorflow') {
    if (await tryTfjsNode(skipped)) backend = 'tensorflow';
    else if (want === 'tensorflow') throw new Error(`the tensorflow backend is not available: ${skipped.join('; ')}`);
  }
  if (!backend && (want === 'auto' || want === 'wasm')) {
    try {
      if (await tf.setBackend('wasm')) backend = 'wasm';
      else skipped.push('wasm: failed to initialise');
    } catch (err) {
      skipped.push(`wasm: ${(err as Error).message}`);
    }
    if (!backend && want === 'wasm') throw new Error(`the wasm backend is not available: ${skipped.join('; ')}`);
  }
  if (!backend) {
    await tf.setBackend('cpu');
    backend = 'cpu';
    // initRuntime reports the backend itself; skip tfjs's "install tfjs-node" banner
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  await tf.ready();

  const nativeKernels: string[] = [];
  const stockIdentity = tf.getKernel('Identity', 'wasm');
  let borrowedKernels: string[] = [];
  let matmul: RuntimeInfo['matmul'] = 'tfjs';
  let addonNote = '';
  if (backend === 'wasm' || backend === 'cpu') {
    if (backend === 'wasm') {
      override(unsortedSegmentSumConfig('wasm'));
      nativeKernels.push('UnsortedSegmentSum');
      // Identity shares the data (tensors are immutable; the cpu backend does the same) instead of
      // copying it: gradients pass through hundreds of identities per training step.
      if (options.native !== false) override({
        kernelName: 'Identity', backendName: 'wasm',
        kernelFunc: ({ inputs, backend: b }) => {
          const x = (inputs as { x: tf.TensorInfo }).x;
          if (x.dtype === 'string') return stockIdentity!.kernelFunc({ inputs, backend: b, attrs: {} });
          (b as unknown as { incRef(id: object): void }).incRef(x.dataId);
          return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
        },
      });
      if (options.native !== false) {
        nativeKernels.push('Identity (shared data)');
        override(gatherConfig('wasm', stock.get('wasm/GatherV2') ?? tf.getKernel('GatherV2', 'wasm')));
        nativeKernels.push('GatherV2 (block copies)');
      }
      borrowedKernels = borrowMissingCpuKernels('wasm', new Set(['UnsortedSegmentSum']));
    }
    if (options.native !== false) {
      try {
        const { addon, cudaBuild } = loadAddon();
        const info = addon.info();
        const cudaOk = cudaBuild && info.cuda.deviceCount > 0;
        if (gemmDevice === 'cuda' && !cudaOk) throw new SemidArgumentError('gemmDevice', 'a CUDA device (none is available)', 'cuda');
        matMulSettings.cuda = gemmDevice !== 'cpu' && cudaOk;
        matMulSettings.cudaMinMacs = gemmDevice === 'cuda' ? 0 : options.cudaMinMacs ?? 2 ** 27;
        matMulSettings.threads = options.threads ?? 0;
        override(batchMatMulConfig(backend));
        nativeKernels.push('BatchMatMul');
        if (registerFusedKernels(backend)) nativeKernels.push('SemidRmsNorm', 'SemidGated', ...['SemidDropout', 'SemidCrossEntropy'].filter((k) => tf.getKernel(k, backend)));
        if (registerAttentionKernels(backend)) nativeKernels.push('SemidAttention');
        matmul = matMulSettings.cuda ? 'semid-cuda' : 'semid-cpu';
        addonNote = `BatchMatMul on semid GEMM (${matMulSettings.cuda ? 'CUDA for large products, ' : ''}CPU ${info.simd}, ${matMulSettings.threads || info.threads} threads)`;
      } catch (err) {
        if (err instanceof SemidArgumentError) throw err;
        skipped.push(`native kernels: ${(err as Error).message.split('\n')[0]}`);
      }
    } else skipped.push('native kernels: turned off (native: false)');
  }
  const extras = nativeKernels.filter((k) => k !== 'BatchMatMul');
  const description = backend === 'tensorflow'
    ? 'tensorflow (tfjs-node: libtensorflow kernels)'
    : nativeKernels.length
      ? `${backend} + semid kernels (${[addonNote || 'stock BatchMatMul', ...extras].join('; ')})`
      : `${backend} (stock kernels)`;
  current = { backend, nativeKernels, borrowedKernels, matmul, skipped, description };
  return current;
}

/**
 * What `initRuntime` chose last, or null before it ran.
 * @example await initRuntime(); runtimeInfo()?.description // e.g. 'wasm + semid kernels (...)'
 */
export function runtimeInfo(): RuntimeInfo | null {
  return current;
}

/** Whether TensorFlow.js has a backend ready: initRuntime ran, or the caller set one up itself. */
function backendReady(): boolean {
  if (current) return true;
  // tfjs sets backendInstance once a backend is initialised (tf.setBackend, tf.ready); reading
  // tf.getBackend() instead would start initialising one, which for wasm fails synchronously
  return (tf.engine() as unknown as { backendInstance?: unknown }).backendInstance != null;
}

/**
 * Throw a clear error, naming what needed it, when no TensorFlow.js backend is ready: without
 * one tfjs fails deep inside with "backend 'wasm' has not yet been initialized".
 * @example requireRuntime('T5Model.create');  // after `await initRuntime()`: returns
 */
export function requireRuntime(what: string): void {
  if (!backendReady()) {
    throw new SemidError('ERR_SEMID_NO_RUNTIME', `${what} runs on TensorFlow.js, which is not set up yet: call \`await initRuntime()\` first (it picks the backend and registers semid's native kernels)`);
  }
}

/**
 * Run initRuntime() with its defaults when no TensorFlow.js backend is ready, for async entry
 * points that need one (a backend the caller chose is kept).
 * @example await ensureRuntime(); // then tensors can be made
 */
export async function ensureRuntime(): Promise<void> {
  if (!backendReady()) await initRuntime();
}
