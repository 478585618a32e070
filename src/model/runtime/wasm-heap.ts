/**
 * The wasm backend's heap: how large it has grown, and what running out of it looks like. A
 * WebAssembly heap holds at most 4 GiB; past that TensorFlow.js fails with "offset is out of
 * bounds" (a RangeError) or "memory access out of bounds" (a trap), which name neither the heap
 * nor a remedy.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemidError } from '../../kernels/errors.js';

/** The most a WebAssembly (wasm32) heap can hold, in bytes (4 GiB less one 64 KiB page, as tfjs builds it). */
export const WASM_HEAP_MAX_BYTES = 4294901760;

/**
 * Bytes of the wasm backend's heap now (it only grows), or null where the backend is not wasm.
 * @example wasmHeapBytes() // 312475648 after a small T5's first training steps
 */
export function wasmHeapBytes(): number | null {
  try {
    // the active backend's name, without starting one where none is
    if (tf.engine().backendName !== 'wasm') return null;
    return (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.length ?? null;
  } catch {
    return null;
  }
}

/** Whether an error is how the wasm backend fails when its heap cannot hold what was asked. */
function looksLikeHeapExhaustion(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const trap = typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError && /memory access out of bounds|table index is out of bounds/.test(err.message);
  return trap || (err instanceof RangeError && /offset is out of bounds|Array buffer allocation failed/.test(err.message));
}

/**
 * The error to show for `err`: where it is the wasm heap running out (the heap, `heap` bytes, within
 * 512 MiB of its 4 GiB), a SemidError saying so and what to do, with `err` as its cause; else `err` itself.
 * @example try { await train(); } catch (err) { throw explainWasmHeapError(err); }
 */
export function explainWasmHeapError(err: unknown, heap: number | null = wasmHeapBytes()): unknown {
  if (heap === null || !looksLikeHeapExhaustion(err) || heap < WASM_HEAP_MAX_BYTES - 512 * 2 ** 20) return err;
  const mib = (x: number) => `${Math.round(x / 2 ** 20)} MiB`;
  return new SemidError('ERR_SEMID_WASM_HEAP',
    `the TensorFlow.js wasm heap is full (${mib(heap)} of at most ${mib(WASM_HEAP_MAX_BYTES)}): ${(err as Error).message}. ` +
    'Use smaller batches (training or decoding), or install @tensorflow/tfjs-node (used first where present; it has no such limit). ' +
    'Where a long run grows until this, please report it: every stage is meant to free what it allocates.', { cause: err });
}
