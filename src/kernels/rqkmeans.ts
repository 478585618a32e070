/**
 * RQ-KMeans: residual quantization with k-means codebooks, the quantizer that turns item
 * embeddings into Semantic IDs (level l clusters what levels 0..l-1 left unexplained).
 */
import { loadAddon } from '../native/loader.js';
import { readNpy, writeNpy } from '../data/npy.js';
import { codeStats, type CodeStats } from '../ids/stats.js';
import { cancelFlag } from './abort.js';
import { resolveDevice, type Device } from './device.js';
import { fromNative, SemidArgumentError, SemidError } from './errors.js';
import { expectBoolean, expectFloat32Array, expectInt, expectNumber, expectOptions, optionKeys, expectSignal, expectThreads } from './validate.js';

/** Rows of float32 vectors: a Float32Array [rows x dim] with its dimension. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export interface RQProgress {
  level: number;
  iteration: number;
  /** Sum of squared distances of the training rows to their centroids at this level. */
  inertia: number;
  /** inertia relative to the training rows' total squared norm (the level's residual error). */
  relativeError: number;
  /** Rows that changed cluster in this iteration. */
  changed: number;
  /** Empty clusters re-seeded after this iteration. */
  splits: number;
}

export interface RQTrainOptions {
  /** Vector dimension when x is a flat Float32Array. */
  dim?: number;
  /** Levels (tokens per ID), 1..64; default 2. */
  levels?: number;
  /** Centroids per level, 2..65536; default 256. */
  codebookSize?: number;
  /** Lloyd iterations per level (cap), default 20. */
  iters?: number;
  /** Stop a level when the inertia improves by less than tol (relative); 0 runs every iteration. Default 1e-4. */
  tol?: number;
  /** Seed of every random choice (level l uses seed + l); default 0. */
  seed?: number;
  /** 'kmeans++' (default; on a sample of max(4096, 16·K) rows) or 'random' distinct rows. */
  init?: 'kmeans++' | 'random';
  /** Rows used by k-means++ (default max(4096, 16·K)). */
  initSample?: number;
  /**
   * Coarse-to-fine: run each level's k-means on a seeded sample of this many rows first and
   * start the iterations on all rows from its centroids: fewer full passes, but on noisy data
   * it can settle in a worse optimum (measured: +1.5% relative error with 64·K rows on
   * 62,138 x 384). Default 0 (off).
   */
  presample?: number;
  /** Beam width for encoding the training rows between levels (as FAISS's max_beam_size); default 1. */
  beam?: number;
  /** Train on a seeded sample of at most this many rows (default: all). */
  maxTrainPoints?: number;
  device?: Device;
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (event: RQProgress) => void;
  /** Reject NaN/Infinity in x (default true). */
  checkFinite?: boolean;
}

/** The option names of RQTrainOptions (checked against it at compile time): any other key is an error. */
const RQ_TRAIN_KEYS = optionKeys<RQTrainOptions>()(['dim', 'levels', 'codebookSize', 'iters', 'tol', 'seed', 'init', 'initSample', 'presample', 'beam', 'maxTrainPoints', 'device', 'threads', 'signal', 'onProgress', 'checkFinite']);

export interface RQEncodeOptions {
  /** Beam width (1 = greedy); default: the beam the model was trained with. */
  beam?: number;
  device?: Device;
  threads?: number;
  signal?: AbortSignal;
  checkFinite?: boolean;
}

/** The option names of RQEncodeOptions (checked against it at compile time): any other key is an error. */
const RQ_ENCODE_KEYS = optionKeys<RQEncodeOptions>()(['beam', 'device', 'threads', 'signal', 'checkFinite']);

/** Codes of n rows: data[i * levels + l] is row i's code at level l. */
export interface Codes {
  data: Int32Array;
  n: number;
  levels: number;
  /** Per level l: sum over rows of |x - reconstruction from levels 0..l|². */
  levelSquaredError: Float64Array;
}

/**
 * Whether x is a `Codes` object as `encode` returns it ({ data: Int32Array, levels, ... }), not a
 * flat array of codes.
 * @example isCodes({ data: new Int32Array(4), n: 2, levels: 2, levelSquaredError: new Float64Array(2) });  // true
 */
export function isCodes(x: unknown): x is Pick<Codes, 'data' | 'levels'> {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && !ArrayBuffer.isView(x) &&
    (x as { data?: unknown }).data instanceof Int32Array && typeof (x as { levels?: unknown }).levels === 'number';
}

export interface RQStats extends CodeStats {
  /** Per level: mean |x - x̂(0..l)|² / mean |x|². */
  relativeError: number[];
  /** relativeError of the last level. */
  totalRelativeError: number;
}

export interface RQTraining {
  /** Per level, per iteration: inertia, rows changed, splits. */
  iterations: Array<Array<{ inertia: number; changed: number; splits: number }>>;
  trainRows: number;
  seconds: number;
}

/**
 * Accept a Matrix, or a Float32Array with `dim`.
 * @example asMatrix(new Float32Array(6), 3) // { data, rows: 2, cols: 3 }
 */
export function asMatrix(x: unknown, dim: unknown, name = 'x'): Matrix {
  if (x && typeof x === 'object' && !ArrayBuffer.isView(x) && 'data' in x) {
    const m = x as Matrix;
    const data = expectFloat32Array(`${name}.data`, m.data);
    const rows = expectInt(`${name}.rows`, m.rows, 0, 2 ** 31 - 1);
    const cols = expectInt(`${name}.cols`, m.cols, 1, 2 ** 24);
    if (data.length !== rows * cols) throw new SemidArgumentError(`${name}.data`, `Float32Array of length ${rows * cols} (${rows} x ${cols})`, data);
    return { data, rows, cols };
  }
  const data = expectFloat32Array(name, x);
  const cols = expectInt('dim', dim, 1, 2 ** 24);
  if (data.length % cols !== 0) throw new SemidArgumentError(name, `a Float32Array whose length is a multiple of dim=${cols}`, data);
  return { data, rows: data.length / cols, cols };
}

function squaredNorm(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/** Run a native call with an AbortSignal, turning native errors into SemidErrors. */
async function call<T>(signal: AbortSignal | undefined, fn: (cancel: Int32Array | undefined) => Promise<T>): Promise<T> {
  const cancel = cancelFlag(signal);
  try {
    return await fn(cancel.flag);
  } catch (err) {
    throw fromNative(err, signal);
  } finally {
    cancel.dispose();
  }
}

/**
 * A trained residual quantizer: `levels` codebooks of `codebookSize` centroids in `dim` dimensions.
 * @example const model = await RQKMeans.train(x, { dim: 64, levels: 2, codebookSize: 256 }); const codes = await model.encode(x);
 */
export class RQKMeans {
  /** [levels x codebookSize x dim] float32, level-major. */
  readonly codebooks: Float32Array;
  readonly levels: number;
  readonly codebookSize: number;
  readonly dim: number;
  /** Beam width used in training (the default for encode). */
  readonly beam: number;
  /** Training record, when this model was trained in this process. */
  training?: RQTraining;
  /**
   * Codes of the training rows when every row was trained on (free: no extra encoding pass): the
   * last assignment of training. On the CPU, training settles near ties in double as `encode`
   * does (ties to the lower index), and its pruning bounds allow for the worst-case float rounding
   * of the distances they come from, and a row tied at distance 0 between identical centroids
   * (duplicate rows, splits at the origin) takes the lowest of them, so these are the greedy
   * `encode` codes (no row differed in 13 runs on 62,138 rows, nor in random sweeps of 1,150
   * configurations with duplicate rows, grid data and offsets, 1-4 levels). The CUDA backend
   * assigns by the float argmin, so its training codes can differ from `encode` where two
   * centroids tie within float rounding.
   */
  trainingCodes?: Codes;

  constructor(codebooks: Float32Array, levels: number, codebookSize: number, dim: number, beam = 1) {
    expectFloat32Array('codebooks', codebooks);
    expectInt('levels', levels, 1, 64);
    expectInt('codebookSize', codebookSize, 1, 65536);
    expectInt('dim', dim, 1, 2 ** 24);
    if (codebooks.length !== levels * codebookSize * dim) {
      throw new SemidArgumentError('codebooks', `Float32Array of length ${levels * codebookSize * dim} (${levels} x ${codebookSize} x ${dim})`, codebooks);
    }
    this.codebooks = codebooks;
    this.levels = levels;
    this.codebookSize = codebookSize;
    this.dim = dim;
    this.beam = expectInt('beam', beam, 1, 1024);
  }

  /**
   * Train codebooks level by level on x (rows x dim).
   * @example
   * const model = await RQKMeans.train(embeddings, { dim: 768, levels: 2, codebookSize: 256, seed: 1 });
   * const codes = model.trainingCodes ?? (await model.encode(embeddings));
   */
  static async train(x: Float32Array | Matrix, options: RQTrainOptions = {}): Promise<RQKMeans> {
    const o = expectOptions<RQTrainOptions>('options', options, RQ_TRAIN_KEYS);
    const m = asMatrix(x, o.dim);
    const levels = expectInt('levels', o.levels ?? 2, 1, 64);
    const k = expectInt('codebookSize', o.codebookSize ?? 256, 2, 65536);
    const iters = expectInt('iters', o.iters ?? 20, 0, 100000);
    const tol = expectNumber('tol', o.tol ?? 1e-4, 0, 1);
    const seed = expectInt('seed', o.seed ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const init = o.init ?? 'kmeans++';
    if (init !== 'kmeans++' && init !== 'random') throw new SemidArgumentError('init', '"kmeans++" or "random"', init);
    const initSample = expectInt('initSample', o.initSample ?? 0, 0, 2 ** 31 - 1);
    const presample = expectInt('presample', o.presample ?? 0, 0, 2 ** 31 - 1);
    const beam = expectInt('beam', o.beam ?? 1, 1, 1024);
    const maxTrainPoints = expectInt('maxTrainPoints', o.maxTrainPoints ?? 0, 0, 2 ** 31 - 1);
    const threads = expectThreads(o.threads);
    const signal = expectSignal('signal', o.signal);
    const checkFinite = expectBoolean('checkFinite', o.checkFinite ?? true);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new SemidArgumentError('onProgress', 'function', o.onProgress);
    const trainRows = maxTrainPoints > 0 ? Math.min(maxTrainPoints, m.rows) : m.rows;
    if (trainRows < k) {
      throw new SemidArgumentError('codebookSize', `integer no larger than the ${trainRows} training rows`, k);
    }
    const device = resolveDevice(o.device);
    const normPerRow = m.rows ? squaredNorm(m.data) / m.rows : 0;
    // A throwing progress callback aborts the run and its error is what the promise rejects with.
    const inner = new AbortController();
    let progressError: unknown;
    const onAbort = () => inner.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) inner.abort(signal.reason);
    const onProgress = o.onProgress
      ? (e: { level: number; iteration: number; inertia: number; changed: number; splits: number }) => {
          if (progressError !== undefined) return;
          try {
            o.onProgress!({ ...e, relativeError: normPerRow > 0 ? e.inertia / (normPerRow * trainRows) : 0 });
          } catch (err) {
            progressError = err;
            inner.abort(err);
          }
        }
      : undefined;
    const started = performance.now();
    try {
      const res = await call(inner.signal, (cancel) =>
        loadAddon().addon.rqTrain({
          x: m.data, n: m.rows, d: m.cols, levels, k, iters, tol, seed, init, initSample, presample, beam, maxTrainPoints,
          device, threads, checkFinite, cancel, onProgress,
        }),
      );
      const model = new RQKMeans(res.codebooks, levels, k, m.cols, beam);
      model.training = { iterations: res.iterations, trainRows: res.trainRows, seconds: (performance.now() - started) / 1e3 };
      if (res.codes && res.levelError) model.trainingCodes = { data: res.codes, n: m.rows, levels, levelSquaredError: res.levelError };
      return model;
    } catch (err) {
      throw progressError ?? err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Codes of x (rows x dim): greedy, or a beam search of width `beam` over partial codes. Each
   * level's nearest centroids are exact (near ties re-ranked in double; see nearestCentroids).
   * @example const codes = await model.encode(newItems, { beam: 4 }); // codes.data: Int32Array [n x levels]
   */
  async encode(x: Float32Array | Matrix, options: RQEncodeOptions = {}): Promise<Codes> {
    const o = expectOptions<RQEncodeOptions>('options', options, RQ_ENCODE_KEYS);
    const m = asMatrix(x, this.dim);
    if (m.cols !== this.dim) throw new SemidArgumentError('x', `rows of dimension ${this.dim} (the codebooks' dimension)`, `rows of dimension ${m.cols}`);
    const beam = expectInt('beam', o.beam ?? this.beam, 1, 1024);
    const threads = expectThreads(o.threads);
    const signal = expectSignal('signal', o.signal);
    const checkFinite = expectBoolean('checkFinite', o.checkFinite ?? true);
    const device = resolveDevice(o.device);
    const codes = new Int32Array(m.rows * this.levels);
    const levelError = new Float64Array(this.levels);
    await call(signal, (cancel) =>
      loadAddon().addon.rqEncode({
        x: m.data, n: m.rows, d: this.dim, codebooks: this.codebooks, levels: this.levels, k: this.codebookSize,
        beam, device, threads, checkFinite, codes, levelError, cancel,
      }),
    );
    return { data: codes, n: m.rows, levels: this.levels, levelSquaredError: levelError };
  }

  /**
   * Reconstruct vectors from codes: the sum over levels of the chosen centroids.
   * Takes the flat codes [n x levels] or the `Codes` that `encode` returns.
   * @example const xhat = await model.decode(await model.encode(x)); // Float32Array [n x dim]
   */
  async decode(input: Int32Array | Uint16Array | Uint32Array | Uint8Array | Codes, options: { threads?: number; signal?: AbortSignal } = {}): Promise<Float32Array> {
    const codes = isCodes(input) ? input.data : input;
    if (!(codes instanceof Int32Array || codes instanceof Uint16Array || codes instanceof Uint32Array || codes instanceof Uint8Array)) {
      throw new SemidArgumentError('codes', 'Int32Array, Uint16Array, Uint32Array or Uint8Array, or the Codes encode returns', input);
    }
    if (codes !== input && (input as Codes).levels !== this.levels) {
      throw new SemidArgumentError('codes.levels', `${this.levels} (the model's levels)`, (input as Codes).levels);
    }
    if (codes.length % this.levels !== 0) throw new SemidArgumentError('codes', `a length that is a multiple of levels=${this.levels}`, codes);
    const o = expectOptions<{ threads?: number; signal?: AbortSignal }>('options', options, ['threads', 'signal']);
    const n = codes.length / this.levels;
    const asInt = codes instanceof Int32Array ? codes : Int32Array.from(codes, (v) => (v > 0x7fffffff ? -1 : v));
    const out = new Float32Array(n * this.dim);
    await call(expectSignal('signal', o.signal), (cancel) =>
      loadAddon().addon.rqDecode({
        codes: asInt, n, codebooks: this.codebooks, levels: this.levels, k: this.codebookSize, d: this.dim, out,
        threads: expectThreads(o.threads), cancel,
      }),
    );
    return out;
  }

  /**
   * Reconstruction error per level, codebook usage and perplexity, distinct IDs and collisions.
   * @example const s = model.stats(x, codes); console.log(s.totalRelativeError, s.itemsInCollidingIds);
   */
  stats(x: Float32Array | Matrix, codes: Codes): RQStats {
    const m = asMatrix(x, this.dim);
    if (codes.n !== m.rows) throw new SemidArgumentError('codes', `codes of the ${m.rows} rows of x`, `codes of ${codes.n} rows`);
    return this.statsOf(codes, squaredNorm(m.data));
  }

  /**
   * stats() from the codes and the sum of |x|² over their rows, for data seen a chunk at a time
   * (codes of the chunks joined, their levelSquaredError and |x|² summed).
   * @example const s = model.statsOf(allCodes, sumOfSquaredNorms); s.totalRelativeError
   */
  statsOf(codes: Codes, squaredNormOfX: number): RQStats {
    if (!isCodes(codes) || codes.levels !== this.levels) throw new SemidArgumentError('codes', `the Codes of ${this.levels} levels that encode returns`, codes);
    const total = expectNumber('squaredNormOfX', squaredNormOfX, 0);
    const relativeError = Array.from(codes.levelSquaredError, (e) => (total > 0 ? e / total : 0));
    return {
      ...codeStats(codes.data, this.levels, this.codebookSize),
      relativeError,
      totalRelativeError: relativeError[relativeError.length - 1] ?? 0,
    };
  }

  /**
   * Save the codebooks as a .npy of shape [levels, codebookSize, dim] (float32), atomically.
   * @example model.save('codebooks.npy'); const again = RQKMeans.load('codebooks.npy');
   */
  save(path: string): void {
    writeNpy(path, this.codebooks, [this.levels, this.codebookSize, this.dim]);
  }

  /** Load codebooks saved by save() (or any [levels, K, dim] float .npy). */
  static load(path: string): RQKMeans {
    const arr = readNpy(path);
    if (arr.shape.length !== 3) {
      throw new SemidError('ERR_SEMID_NPY', `${path}: expected codebooks of shape (levels, codebookSize, dim), got (${arr.shape.join(', ')})`);
    }
    const data = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data as ArrayLike<number | bigint>, Number);  // other dtypes (int64 too) as float32
    const [levels, k, dim] = arr.shape;
    return new RQKMeans(data, levels, k, dim);
  }
}
