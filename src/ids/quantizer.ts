/**
 * One interface for the quantizers of the ablation (fit, encode, decode, stats, save, load), and
 * the residual quantizers that need no training framework: RQ-KMeans (native, the default) and
 * ResidualLFQ. Mini-batch dictionary learning is in dictionary.ts, RQ-VAE (tfjs) in rqvae.ts.
 */
import { readFileSync } from 'node:fs';
import { Described, SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt } from '../kernels/validate.js';
import { writeFileAtomic } from '../io/atomic.js';
import { RQKMeans } from '../kernels/rqkmeans.js';
import { truncatedSvd } from '../linalg/svd.js';
import { gemm } from '../kernels/gemm.js';
import { codeStats, type CodeStats } from './stats.js';

export type QuantizerName = 'rqkmeans' | 'dictionary' | 'rlfq' | 'rqvae';

/** Bytes of a block of rows that the quantizers put through a product at a time (catalogues of
 * millions then never need more than a few blocks of memory, nor of the 4 GiB wasm heap). */
export const BLOCK_BYTES = 64 * 2 ** 20;

export interface QuantizerStats extends CodeStats {
  /** Per level: mean |x - x̂(0..l)|² / mean |x|². */
  relativeError: number[];
  totalRelativeError: number;
}

export interface QuantizerFitOptions {
  levels: number;
  codebookSize: number;
  seed?: number;
  /** Training passes (k-means iterations, dictionary epochs, RQ-VAE epochs). */
  iters?: number;
  signal?: AbortSignal;
}

export interface Quantizer {
  readonly name: QuantizerName;
  readonly levels: number;
  readonly codebookSize: number;
  readonly dim: number;
  /** Codes [n x levels] of rows x [n x dim]. */
  encode(x: Float32Array): Promise<Int32Array>;
  /** Reconstruction [n x dim] from the first `upTo` levels (default all). */
  decode(codes: Int32Array, upTo?: number): Promise<Float32Array>;
  /** Serialisable state (JSON-safe numbers). */
  toJSON(): Record<string, unknown>;
  /** Frees what it holds outside the JS heap (RQ-VAE: its TensorFlow.js variables); unusable after. */
  dispose?(): void;
}

/**
 * Reconstruction error per level, usage, perplexity and collisions of a quantizer on x.
 * @example (await quantizerStats(q, x)).relativeError // per level, e.g. [0.41, 0.27]
 */
export async function quantizerStats(q: Quantizer, x: Float32Array, codes?: Int32Array): Promise<QuantizerStats> {
  const c = codes ?? (await q.encode(x));
  let total = 0;
  for (const v of x) total += v * v;
  const relativeError: number[] = [];
  for (let l = 1; l <= q.levels; l++) {
    const rec = await q.decode(c, l);
    let err = 0;
    for (let i = 0; i < x.length; i++) err += (x[i] - rec[i]) ** 2;
    relativeError.push(total > 0 ? err / total : 0);
  }
  return { ...codeStats(c, q.levels, q.codebookSize), relativeError, totalRelativeError: relativeError[relativeError.length - 1] };
}

/**
 * Rows of x [n x dim], checked; returns n.
 * @example checkX(new Float32Array(6), 3) // 2
 */
export function checkX(x: Float32Array, dim: number): number {
  expectInt('dim', dim, 1, 2 ** 24);
  if (!(x instanceof Float32Array) || x.length % dim !== 0 || x.length === 0) throw new SemidArgumentError('x', `a non-empty Float32Array of rows of dimension ${dim}`, x);
  return x.length / dim;
}

/**
 * Rows of x [n x dim], checked as `checkX` does and every value finite (the error names the first
 * NaN or infinity by row and column, as the native kernels do). Returns n.
 * @example checkFiniteX(Float32Array.of(1, NaN), 2) // throws: finite values for x ... NaN at row 0, column 1
 */
export function checkFiniteX(x: Float32Array, dim: number): number {
  const n = checkX(x, dim);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) {
      const what = Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
      throw new SemidArgumentError('x', 'finite values', new Described(`${what} at row ${Math.floor(i / dim)}, column ${i % dim}`));
    }
  }
  return n;
}

/**
 * Codes [n x levels] given to a quantizer's decode, checked: an Int32Array of whole rows, every
 * code in [0, codebookSize), and 0 <= upTo <= levels. Returns n.
 * @example checkCodes({ levels: 2, codebookSize: 256 }, Int32Array.of(1, 2, 3, 4), 2) // 2
 */
export function checkCodes(q: Pick<Quantizer, 'levels' | 'codebookSize'>, codes: Int32Array, upTo: number): number {
  if (!(codes instanceof Int32Array) || codes.length % q.levels !== 0) {
    throw new SemidArgumentError('codes', `an Int32Array of rows of ${q.levels} codes`, codes);
  }
  expectInt('upTo', upTo, 0, q.levels);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c < 0 || c >= q.codebookSize) {
      throw new SemidArgumentError('codes', `codes in [0, ${q.codebookSize}) (row ${Math.floor(i / q.levels)}, level ${i % q.levels})`, c);
    }
  }
  return codes.length / q.levels;
}

/**
 * Σ_{l < upTo} codebooks[l][codes[i, l]] for every row i of codes [n x levels] (codebooks
 * [levels x K x dim]), on the native RQ-KMeans decode: [n x dim].
 * @example await sumOfCodewords(codebooks, 2, 256, 64, codes, 1) // the first level's codewords
 */
export async function sumOfCodewords(codebooks: Float32Array, levels: number, K: number, dim: number, codes: Int32Array, upTo = levels): Promise<Float32Array> {
  const n = codes.length / levels;
  if (upTo === 0) return new Float32Array(n * dim);
  let first = codes;
  if (upTo < levels) {
    first = new Int32Array(n * upTo);
    for (let i = 0; i < n; i++) for (let l = 0; l < upTo; l++) first[i * upTo + l] = codes[i * levels + l];
  }
  return new RQKMeans(codebooks.subarray(0, upTo * K * dim), upTo, K, dim).decode(first);
}

/**
 * RQ-KMeans through the native kernels.
 * @example const q = await RQKMeansQuantizer.fit(x, 64, { levels: 2, codebookSize: 256 }); const codes = await q.encode(x);
 */
export class RQKMeansQuantizer implements Quantizer {
  readonly name = 'rqkmeans' as const;
  private constructor(private readonly model: RQKMeans) {}
  get levels(): number { return this.model.levels; }
  get codebookSize(): number { return this.model.codebookSize; }
  get dim(): number { return this.model.dim; }

  static async fit(x: Float32Array, dim: number, o: QuantizerFitOptions): Promise<RQKMeansQuantizer> {
    checkX(x, dim);
    return new RQKMeansQuantizer(await RQKMeans.train(x, { dim, levels: o.levels, codebookSize: o.codebookSize, seed: o.seed ?? 0, iters: o.iters ?? 20, signal: o.signal }));
  }
  async encode(x: Float32Array): Promise<Int32Array> { return (await this.model.encode(x)).data; }
  async decode(codes: Int32Array, upTo = this.levels): Promise<Float32Array> {
    checkCodes(this, codes, upTo);
    return sumOfCodewords(this.model.codebooks, this.levels, this.codebookSize, this.dim, codes, upTo);
  }
  toJSON() { return { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, codebooks: Array.from(this.model.codebooks) }; }

  /** The quantizer a toJSON() state describes (`where` names it in errors). */
  static fromJSON(j: Record<string, unknown>, where = 'state'): RQKMeansQuantizer {
    const { levels, codebookSize, dim } = stateSizes(j, where);
    return new RQKMeansQuantizer(new RQKMeans(stateFloats(j, 'codebooks', levels * codebookSize * dim, where), levels, codebookSize, dim));
  }
}

/**
 * ResidualLFQ: lookup-free quantization per level. Level l projects the residual onto b = log2(K)
 * directions (the residuals' top principal directions, from our SVD), takes the sign of each
 * coordinate as one bit (the code is the b-bit integer), and reconstructs sign·scale along each
 * direction (scale = mean |coordinate| of the training residuals); the next level quantizes what is
 * left. No codebook is stored: every sign pattern is a code.
 * @example const q = await ResidualLFQ.fit(x, 64, { levels: 2, codebookSize: 256 }); // 8 sign bits a level
 */
export class ResidualLFQ implements Quantizer {
  readonly name = 'rlfq' as const;
  private constructor(readonly levels: number, readonly codebookSize: number, readonly dim: number, readonly bits: number,
    /** [levels][bits x dim] */ readonly directions: Float32Array, /** [levels][bits] */ readonly scales: Float32Array) {}

  static async fit(x: Float32Array, dim: number, o: QuantizerFitOptions): Promise<ResidualLFQ> {
    const n = checkX(x, dim);
    const L = expectInt('levels', o.levels, 1, 64);
    const K = expectInt('codebookSize', o.codebookSize, 2, 1 << 30);
    const bits = Math.log2(K);
    if (!Number.isInteger(bits)) throw new SemidArgumentError('codebookSize', 'a power of two for ResidualLFQ (codes are sign bits)', K);
    if (bits > dim) throw new SemidArgumentError('codebookSize', `at most 2^${dim} (one bit per dimension)`, K);
    if (bits > n) throw new SemidArgumentError('codebookSize', `at most 2^${n} with ${n} training rows (one principal direction per bit)`, K);
    const directions = new Float32Array(L * bits * dim);
    const scales = new Float32Array(L * bits);
    const resid = Float32Array.from(x);
    for (let l = 0; l < L; l++) {
      const svd = await truncatedSvd(resid, { rank: bits, dim, center: false, seed: (o.seed ?? 0) + l, signal: o.signal });
      directions.set(svd.components, l * bits * dim);
      for (let b = 0; b < bits; b++) {
        let s = 0;
        for (let r = 0; r < n; r++) s += Math.abs(svd.projected[r * bits + b]);
        scales[l * bits + b] = s / n;
      }
      const q = new ResidualLFQ(l + 1, K, dim, bits, directions.slice(0, (l + 1) * bits * dim), scales.slice(0, (l + 1) * bits));
      await q.levelStep(resid, l);
    }
    return new ResidualLFQ(L, K, dim, bits, directions, scales);
  }

  /** Rows a block of the products holds (its [rows x dim] residuals within 64 MiB). */
  private blockRows(): number {
    return Math.max(1, Math.floor(BLOCK_BYTES / (4 * this.dim)));
  }

  /**
   * One level on residuals [n x dim], a block of rows at a time on the native GEMM: the level's
   * codes, and `resid` less the level's reconstruction (in place).
   *   Z = resid · Dᵀ [rows x bits]; bit b = Z[r, b] >= 0; resid -= (±scale_b)[rows x bits] · D
   */
  private async levelStep(resid: Float32Array, l: number): Promise<Int32Array> {
    const { dim, bits } = this;
    const n = resid.length / dim;
    const codes = new Int32Array(n);
    const D = this.directions.subarray(l * bits * dim, (l + 1) * bits * dim);
    const scale = this.scales.subarray(l * bits, (l + 1) * bits);
    for (let from = 0, rows = this.blockRows(); from < n; from += rows) {
      const m = Math.min(rows, n - from);
      const block = resid.subarray(from * dim, (from + m) * dim);
      const z = await gemm(block, D, { m, n: bits, k: dim, transB: true, checkFinite: false });
      const signed = new Float32Array(m * bits);
      for (let r = 0; r < m; r++) {
        let code = 0;
        for (let b = 0; b < bits; b++) {
          const bit = z[r * bits + b] >= 0 ? 1 : 0;
          code |= bit << b;
          signed[r * bits + b] = bit ? scale[b] : -scale[b];
        }
        codes[from + r] = code;
      }
      await gemm(signed, D, { m, n: dim, k: bits, alpha: -1, beta: 1, out: block, checkFinite: false });
    }
    return codes;
  }

  async encode(x: Float32Array): Promise<Int32Array> {
    const n = checkX(x, this.dim);
    const resid = Float32Array.from(x);
    const out = new Int32Array(n * this.levels);
    for (let l = 0; l < this.levels; l++) {
      const codes = await this.levelStep(resid, l);
      for (let r = 0; r < n; r++) out[r * this.levels + l] = codes[r];
    }
    return out;
  }

  async decode(codes: Int32Array, upTo = this.levels): Promise<Float32Array> {
    const n = checkCodes(this, codes, upTo);
    const { dim, bits } = this;
    const width = upTo * bits;
    const out = new Float32Array(n * dim);
    // out = (±scale)[rows x levels·bits] · D[levels·bits x dim], one product a block of rows
    for (let from = 0, rows = this.blockRows(); from < n; from += rows) {
      const m = Math.min(rows, n - from);
      const signed = new Float32Array(m * width);
      for (let r = 0; r < m; r++) for (let l = 0; l < upTo; l++) {
        const code = codes[(from + r) * this.levels + l];
        for (let b = 0; b < bits; b++) signed[r * width + l * bits + b] = (code >> b) & 1 ? this.scales[l * bits + b] : -this.scales[l * bits + b];
      }
      await gemm(signed, this.directions.subarray(0, width * dim), { m, n: dim, k: width, out: out.subarray(from * dim, (from + m) * dim), checkFinite: false });
    }
    return out;
  }

  toJSON() { return { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, directions: Array.from(this.directions), scales: Array.from(this.scales) }; }

  /** The quantizer a toJSON() state describes (`where` names it in errors). */
  static fromJSON(j: Record<string, unknown>, where = 'state'): ResidualLFQ {
    const { levels, codebookSize, dim } = stateSizes(j, where);
    const bits = Math.log2(codebookSize);
    if (!Number.isInteger(bits) || bits > dim) throw new SemidError('ERR_SEMID_IDS', `${where}: codebookSize must be a power of two of at most 2^dim, got ${codebookSize}`);
    return new ResidualLFQ(levels, codebookSize, dim, bits, stateFloats(j, 'directions', levels * bits * dim, where), stateFloats(j, 'scales', levels * bits, where));
  }
}

/**
 * A numeric array field of a saved quantizer's state, as float32, checked for its length; and
 * its sizes (levels, codebookSize, dim), checked as integers. `where` names the file in errors.
 * @example const codebooks = stateFloats(j, 'codebooks', 2 * 256 * 64, 'q.json');
 */
export function stateFloats(j: Record<string, unknown>, key: string, length: number, where: string): Float32Array {
  const v = j[key];
  if (!Array.isArray(v) || v.length !== length || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new SemidError('ERR_SEMID_IDS', `${where}: ${key} must be ${length} finite numbers, got ${Array.isArray(v) ? `${v.length} values` : typeof v}`);
  }
  return Float32Array.from(v);
}

/** A positive integer field of a saved quantizer's state (`where` names the file in errors). */
export function stateInt(j: Record<string, unknown>, key: string, where: string): number {
  const v = j[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new SemidError('ERR_SEMID_IDS', `${where}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** The sizes every saved quantizer holds. */
export function stateSizes(j: Record<string, unknown>, where: string): { levels: number; codebookSize: number; dim: number } {
  return { levels: stateInt(j, 'levels', where), codebookSize: stateInt(j, 'codebookSize', where), dim: stateInt(j, 'dim', where) };
}

/**
 * Save any quantizer's state as JSON (atomically).
 * @example saveQuantizer('ids/rlfq.json', q); readQuantizerFile('ids/rlfq.json').name // 'rlfq'
 */
export function saveQuantizer(path: string, q: Quantizer): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(q.toJSON()))]);
}

/**
 * Read back the kind of a saved quantizer (the state itself is kept for inspection and reuse).
 * @example readQuantizerFile('ids/rlfq.json').levels // 2
 */
export function readQuantizerFile(path: string): Record<string, unknown> {
  const j = JSON.parse(readFileSync(path, 'utf8'));
  if (!['rqkmeans', 'dictionary', 'rlfq', 'rqvae'].includes(j?.name)) throw new SemidError('ERR_SEMID_IDS', `${path}: not a saved quantizer`);
  return j;
}
