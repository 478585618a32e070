/**
 * RQ-KMeans Semantic IDs for an embeddings .npy of any size: the rows are read a chunk at a time
 * (never the whole file), the codebooks are trained on a seeded sample of rows (or given), and
 * every row is encoded chunk by chunk. Memory: one chunk of float32 rows, the sample, the codes.
 */
import { totalmem } from 'node:os';
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';
import { RQKMeans, type Codes, type RQStats, type RQTrainOptions, type RQEncodeOptions } from '../kernels/rqkmeans.js';
import { openNpyRows } from '../data/npy-rows.js';
import { mulberry32, sampleSorted } from '../data/random.js';
import type { NpyDtype } from '../data/npy.js';

/** Rows of float32 per chunk by default: about this many bytes. */
const CHUNK_BYTES = 256 * 2 ** 20;

export interface QuantizeFileOptions {
  /** Codebooks to encode with (cold-start items); without them, codebooks are trained. */
  model?: RQKMeans;
  /**
   * Training settings when no model is given. maxTrainPoints is the size of the seeded sample of
   * rows trained on (default: 256·codebookSize rows, FAISS's max_points_per_centroid, at most the
   * rows and at most a quarter of this machine's memory as float32).
   */
  train?: Omit<RQTrainOptions, 'dim' | 'signal'>;
  /** Rows read and encoded at a time (default: about 256 MiB of float32 rows). */
  chunkRows?: number;
  /** Encoding: beam width, device, threads (as RQKMeans.encode). */
  encode?: Omit<RQEncodeOptions, 'signal'>;
  signal?: AbortSignal;
  /** Called after each chunk is encoded. */
  onChunk?: (done: number, rows: number) => void;
}

/** The option names of QuantizeFileOptions (checked against it at compile time): any other key is an error. */
const QUANTIZE_FILE_KEYS = optionKeys<QuantizeFileOptions>()(['model', 'train', 'chunkRows', 'encode', 'signal', 'onChunk']);

export interface QuantizeFileResult {
  model: RQKMeans;
  /** Codes of every row of the file, with levelSquaredError summed over the chunks. */
  codes: Codes;
  stats: RQStats;
  /** Rows of the training sample (0 when a model was given). */
  trainRows: number;
  rows: number;
  cols: number;
  /** The file's element type. */
  dtype: NpyDtype;
}

/**
 * Whether an embeddings file is better quantized chunk by chunk: its rows as float32 would take
 * more than a quarter of this machine's memory.
 * @example if (shouldStream(rows, cols)) await quantizeNpyFile(path, { train: { levels: 2 } });
 */
export function shouldStream(rows: number, cols: number): boolean {
  return rows * cols * 4 > totalmem() / 4;
}

/**
 * Quantize the rows of a 2-D .npy file (any float or integer dtype, C order) chunk by chunk.
 * @example
 * const { codes, stats } = await quantizeNpyFile('embeddings.npy', { train: { levels: 2, codebookSize: 256, seed: 1 } });
 * // codes.data: Int32Array [rows x 2]; stats.totalRelativeError
 */
export async function quantizeNpyFile(path: string, options: QuantizeFileOptions = {}): Promise<QuantizeFileResult> {
  const o = expectOptions<QuantizeFileOptions>('options', options, QUANTIZE_FILE_KEYS);
  const reader = openNpyRows(path);
  try {
    const { rows, cols } = reader;
    if (rows === 0 || cols === 0) throw new SemidArgumentError('path', 'a .npy file with at least one row and one column', `${path} of shape (${rows}, ${cols})`);
    const chunkRows = expectInt('chunkRows', o.chunkRows ?? Math.max(1, Math.floor(CHUNK_BYTES / (4 * cols))), 1, 2 ** 31 - 1);
    let model = o.model;
    let trainRows = 0;
    if (model) {
      if (!(model instanceof RQKMeans)) throw new SemidArgumentError('model', 'an RQKMeans', model);
      if (model.dim !== cols) throw new SemidArgumentError('model', `codebooks of dimension ${cols} (the file's rows)`, `codebooks of dimension ${model.dim}`);
    } else {
      const t = o.train ?? {};
      const K = expectInt('codebookSize', t.codebookSize ?? 256, 2, 65536);
      const fitsMemory = Math.max(K, Math.floor(totalmem() / 4 / (4 * cols)));
      trainRows = Math.min(rows, expectInt('maxTrainPoints', t.maxTrainPoints || Math.min(256 * K, fitsMemory), 1, 2 ** 31 - 1));
      const seed = expectInt('seed', t.seed ?? 0, 0, 2 ** 32 - 1);
      const sample = trainRows === rows ? reader.read(0, rows) : reader.readRows(sampleSorted(rows, trainRows, mulberry32(seed ^ 0x5eed)));
      model = await RQKMeans.train(sample, { ...t, dim: cols, maxTrainPoints: 0, signal: o.signal });
    }
    const levels = model.levels;
    const data = new Int32Array(rows * levels);
    const levelSquaredError = new Float64Array(levels);
    let squaredNormOfX = 0;
    for (let start = 0; start < rows; start += chunkRows) {
      if (o.signal?.aborted) throw o.signal.reason;
      const count = Math.min(chunkRows, rows - start);
      const x = reader.read(start, count);
      const c = await model.encode(x, { ...o.encode, signal: o.signal });
      data.set(c.data, start * levels);
      for (let l = 0; l < levels; l++) levelSquaredError[l] += c.levelSquaredError[l];
      for (let i = 0; i < x.length; i++) squaredNormOfX += x[i] * x[i];
      o.onChunk?.(start + count, rows);
    }
    const codes: Codes = { data, n: rows, levels, levelSquaredError };
    return { model, codes, stats: model.statsOf(codes, squaredNormOfX), trainRows, rows, cols, dtype: reader.dtype };
  } finally {
    reader.close();
  }
}
