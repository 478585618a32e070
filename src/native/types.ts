/** The raw native module as the addon exports it. Use the validated API in src/kernels instead. */

/** Facts the addon reports about itself and the machine. */
export interface RawInfo {
  /** SIMD level the CPU kernels use now ("scalar" | "avx2+fma" | "avx512"). */
  simd: string;
  /** Best SIMD level the CPU supports (SEMID_SIMD can lower the one in use). */
  simdDetected: string;
  /** Default worker threads for CPU kernels (hardware concurrency or SEMID_THREADS). */
  threads: number;
  /** Microseconds an idle worker polls for the next loop before it sleeps (SEMID_SPIN_US; absent in older addons). */
  spinUs?: number;
  /** Whether this build links OpenBLAS for gemm. */
  openblas: boolean;
  cuda: {
    compiled: boolean;
    deviceCount: number;
    runtimeVersion: number;
    driverVersion: number;
    /** Why no device is usable, when deviceCount is 0. */
    reason: string;
    device?: {
      index: number;
      name: string;
      /** bytes */
      totalMemory: number;
      /** bytes */
      freeMemory: number;
      computeCapability: string;
      multiprocessors: number;
    };
  };
}

export interface RawGemmArgs {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  strideA: number;
  strideB: number;
  strideC: number;
  alpha: number;
  beta: number;
  device: 'cpu' | 'cuda';
  threads: number;
  impl?: 'auto' | 'native';
  checkFinite?: boolean;
  cancel?: Int32Array;
}

/** gemmSync's arguments: leading dimensions and strides default to the packed layout. */
export type RawGemmSyncArgs = Pick<RawGemmArgs, 'a' | 'b' | 'c' | 'batch' | 'm' | 'n' | 'k' | 'transA' | 'transB' | 'device' | 'threads'> & Partial<RawGemmArgs>;

export interface RawNearestArgs {
  x: Float32Array;
  centroids: Float32Array;
  n: number;
  d: number;
  k: number;
  topk: number;
  indices: Int32Array;
  distances: Float32Array;
  device: 'cpu' | 'cuda';
  threads: number;
  checkFinite?: boolean;
  cancel?: Int32Array;
}

export interface RawRqTrainArgs {
  x: Float32Array;
  n: number;
  d: number;
  levels: number;
  k: number;
  iters: number;
  tol: number;
  seed: number;
  init: 'kmeans++' | 'random';
  initSample: number;
  presample: number;
  beam: number;
  maxTrainPoints: number;
  device: 'cpu' | 'cuda';
  threads: number;
  checkFinite?: boolean;
  cancel?: Int32Array;
  onProgress?: (e: { level: number; iteration: number; inertia: number; changed: number; splits: number }) => void;
}

export interface RawRqTrainResult {
  /** [levels x k x d] */
  codebooks: Float32Array;
  iterations: Array<Array<{ inertia: number; changed: number; splits: number }>>;
  trainRows: number;
  /** [n x levels], present when every row was trained on. */
  codes?: Int32Array;
  levelError?: Float64Array;
}

export interface RawRqEncodeArgs {
  x: Float32Array;
  n: number;
  d: number;
  codebooks: Float32Array;
  levels: number;
  k: number;
  beam: number;
  device: 'cpu' | 'cuda';
  threads: number;
  checkFinite?: boolean;
  codes: Int32Array;
  levelError?: Float64Array;
  cancel?: Int32Array;
}

export interface RawRqDecodeArgs {
  codes: Int32Array;
  n: number;
  codebooks: Float32Array;
  levels: number;
  k: number;
  d: number;
  out: Float32Array;
  threads: number;
  cancel?: Int32Array;
}

/** A typed array on the host (a tensor's view). */
type HostArray = Float32Array | Int32Array | Uint8Array;

/** The fields shared by attentionForwardSync and attentionBackwardSync. */
export interface RawAttentionArgs {
  batch: number; heads: number; lq: number; lk: number; dkv: number; causal: boolean; rate: number; key: number;
  /** [batch·lq, heads·dkv] and [batch·lk, heads·dkv] (views of float32 tensors). */
  q: HostArray; k: HostArray; v: HostArray;
  posBias?: HostArray | null;
  keyMask?: HostArray | null;
  threads?: number;
}

export interface RawAddon {
  abiVersion: number;
  info(): RawInfo;
  gemm(args: RawGemmArgs): Promise<void>;
  /** The same product on the calling thread (for synchronous callers such as tfjs kernels). */
  gemmSync(args: RawGemmSyncArgs): void;
  /** torch.optim.AdamW's update in place over host float32 buffers. */
  adamwSync(args: { p: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array; n: number; gradScale: number; beta1: number; beta2: number;
    decayFactor: number; stepSize: number; invSqrtBc2: number; eps: number; threads?: number }): void;
  /** T5 RMS norm forward: y [rows x d], rstd [rows]. */
  rmsNormForwardSync(args: { x: Float32Array; w: Float32Array; y: Float32Array; rstd: Float32Array; rows: number; d: number; eps: number; threads?: number }): void;
  rmsNormBackwardSync(args: { dy: Float32Array; x: Float32Array; w: Float32Array; rstd: Float32Array; dx: Float32Array; dw: Float32Array; rows: number; d: number; threads?: number }): void;
  /** act(a)·b; act 0 = gelu_new, 1 = relu. */
  gatedForwardSync(args: { a: Float32Array; b: Float32Array; out: Float32Array; n: number; act: 0 | 1; threads?: number }): void;
  gatedBackwardSync(args: { dy: Float32Array; a: Float32Array; b: Float32Array; da: Float32Array; db: Float32Array; n: number; act: 0 | 1; threads?: number }): void;
  dropoutSync(args: { x: Float32Array; y: Float32Array; n: number; rate: number; key: number; threads?: number }): void;
  /** Row log-sum-exps into lse; returns the sum over kept rows (label >= 0) of lse - logit[label]. */
  crossEntropyForwardSync(args: { logits: Float32Array; labels: Int32Array; lse: Float32Array; n: number; v: number; threads?: number }): number;
  /** out[s] = sum of the rows of x whose id is s (ids outside [0, segments) skipped). */
  segmentSumSync(args: { x: Float32Array; ids: Int32Array; out: Float32Array; rows: number; inner: number; segments: number; threads?: number }): void;
  /** Fused attention core (semid/attention.h): ctx [batch·lq, heads·dk] and the softmax probs [batch, heads, lq, lk]. */
  attentionForwardSync(args: RawAttentionArgs & { ctx: HostArray; probs: HostArray }): void;
  /** Its gradients: dq, dk, dv like q, k, v; dpos [heads, lq, lk] when given. */
  attentionBackwardSync(args: RawAttentionArgs & { dctx: HostArray; probs: HostArray; dq: HostArray; dk: HostArray; dv: HostArray; dpos: HostArray | null }): void;
  crossEntropyBackwardSync(args: { logits: Float32Array; lse: Float32Array; labels: Int32Array; dlogits: Float32Array; n: number; v: number; scale: number; threads?: number }): void;
  /** Sum of squares in float64. */
  sumSquaresSync(x: Float32Array, threads?: number): number;
  nearest(args: RawNearestArgs): Promise<void>;
  rqTrain(args: RawRqTrainArgs): Promise<RawRqTrainResult>;
  rqEncode(args: RawRqEncodeArgs): Promise<void>;
  rqDecode(args: RawRqDecodeArgs): Promise<void>;
  beamStep(...args: RawBeamStepArgs): Promise<void>;
  /** beamStep's argument count (31); absent from addons built before the positional convention. */
  beamStepArgs?: number;
  /** The dense-node rows of a trie (native/include/semid/beam.h, trie_dense_rows); absent from addons built before it. */
  trieDenseRows?(args: { trieNodes: number; trieEdges: number; childStart: Int32Array; childToken: Int32Array }): Uint32Array;
  /** Each query's finished hypotheses ranked (semid/beam.h rank_finished); absent from addons built before it. */
  rankFinished?(...args: RawRankFinishedArgs): Promise<void>;
  /** The items of rankFinished's rows (semid/beam.h gather_ranked_items); absent from addons built before it. */
  gatherRankedItems?(...args: RawGatherRankedItemsArgs): Promise<void>;
  /** A search's complete beams into its finished store (semid/beam.h add_complete_beams); absent from addons built before it. */
  addCompleteBeams?(...args: RawAddCompleteBeamsArgs): Promise<void>;
  truncatedSvd(args: RawSvdArgs): Promise<RawSvdResult>;
}

/** addCompleteBeams' arguments, in order: the trie's terminal, FinishedHypotheses' arrays, the beams, sizes. */
export type RawAddCompleteBeamsArgs = [
  terminal: Int32Array, trieNodes: number,
  count: Int32Array, worst: Float64Array, score: Float64Array, order: Float64Array, node: Int32Array, length: Int32Array, tokens: Int32Array,
  groupsTotal: number, size: number, maxLength: number,
  done: Uint8Array, nodes: Int32Array, scores: Float32Array, beamTokens: Int32Array, tokenLength: number, norm: number,
  batch: number, groups: number, beams: number, orderStart: number, orderOut: Float64Array,
];

/** rankFinished's arguments, in order: the trie's ID tables, FinishedHypotheses' arrays, sizes, the outputs. */
export type RawRankFinishedArgs = [
  terminal: Int32Array, trieNodes: number, idStart: Int32Array, ids: number,
  count: Int32Array, score: Float64Array, order: Float64Array, node: Int32Array, length: Int32Array, tokens: Int32Array,
  groupsTotal: number, size: number, maxLength: number, batch: number, groups: number, limit: number,
  counts: Int32Array, outIds: Int32Array, outScores: Float64Array, outLengths: Int32Array, outTokens: Int32Array,
  first: Uint8Array, itemStart: Int32Array, threads: number,
];

/** gatherRankedItems' arguments, in order: the trie's item tables, rankFinished's outputs, the item arrays. */
export type RawGatherRankedItemsArgs = [
  idStart: Int32Array, ids: number, idItems: Int32Array, batch: number, limit: number,
  counts: Int32Array, outIds: Int32Array, outScores: Float64Array, first: Uint8Array, itemStart: Int32Array,
  items: Int32Array, itemScores: Float32Array, threads: number,
];

export interface RawSvdArgs {
  x?: Float32Array;
  indptr?: Int32Array;
  indices?: Int32Array;
  values?: Float32Array;
  n: number;
  d: number;
  rank: number;
  method: string;
  oversample: number;
  powerIters: number;
  center: boolean;
  seed: number;
  device: 'cpu' | 'cuda';
  threads: number;
  cancel?: Int32Array;
}

export interface RawSvdResult {
  method: string;
  singularValues: Float64Array;
  /** [rank] variance of each projected column (ddof 1 when centred, else 0). */
  explainedVariance: Float64Array;
  components: Float32Array;
  projected: Float32Array;
  mean: Float32Array | null;
  totalVariance: number;
}

/**
 * beamStep's arguments, in order (positional: the addon reads them without ~30 named property
 * lookups, which cost more than a small step). Optional ones may be undefined.
 */
export type RawBeamStepArgs = [
  trieNodes: number, trieEdges: number,
  /** Number naming this (immutable) trie: the CUDA step keeps its device copy between steps. */
  trieKey: number | undefined,
  childStart: Int32Array, childToken: Int32Array, childNode: Int32Array, terminal: Int32Array,
  /** Rows from trieDenseRows: the CPU step reads dense nodes' scores contiguously. */
  denseRows: Uint32Array | undefined,
  batch: number, beams: number, groups: number, vocab: number, inputBeams: number, logits: boolean,
  penalty: number, endToken: number,
  scores: Float32Array, nodes: Int32Array, beamScores: Float32Array, groupDone: Uint8Array | undefined,
  nextNodes: Int32Array, nextScores: Float32Array, nextParents: Int32Array, nextTokens: Int32Array,
  finishedCount: Int32Array, finishedParent: Int32Array, finishedScore: Float32Array, finishedNode: Int32Array,
  device: 'cpu' | 'cuda', threads: number, cancel: Int32Array | undefined,
];
