/** The TensorFlow.js runtime: backend choice, native kernels, AdamW, schedules, batches, training loop, checkpoints. */
export { initRuntime, ensureRuntime, requireRuntime, restoreStockKernels, runtimeInfo, type RuntimeInfo, type RuntimeOptions, type RuntimeBackend } from './backend.js';
export { AdamW, linearSchedule, cosineSchedule, type AdamWOptions, type AdamWStepInfo } from './adamw.js';
export { epochBatches, type Batch, type BatchPlan } from './batches.js';
export { trainLoop, type TrainLoopOptions, type TrainProgress, type TrainResult } from './train-loop.js';
export { saveCheckpoint, loadLatestCheckpoint, listCheckpoints, type LoopPosition } from './checkpoint.js';
export { wasmHeapBytes, explainWasmHeapError, WASM_HEAP_MAX_BYTES } from './wasm-heap.js';
export { batchMatMul, matMulSettings } from './kernels/batch-matmul.js';
export { unsortedSegmentSum } from './kernels/unsorted-segment-sum.js';
export { rmsNorm, gatedActivation, geluNew, fusedDropout, dropoutHash, fusedCrossEntropy, registerFusedKernels } from './fused-ops.js';
export { fusedAttention, fusedAttentionAvailable, registerAttentionKernels, type AttentionBias, type FusedAttentionOptions } from './fused-attention.js';
export { DataParallel, type DataParallelOptions, type Replica } from './data-parallel.js';
