/**
 * One interface for the quantizers of the ablation (fit, encode, decode, stats, save, load), and
 * the residual quantizers that need no training framework: RQ-KMeans (native, the default),
 * mini-batch dictionary learning, and ResidualLFQ. RQ-VAE (tfjs) is in rqvae.ts.
 */
import { readFileSync } from 'node:fs';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt } from '../kernels/validate.js';
import { writeFileAtomic } from '../io/atomic.js';
import { RQKMeans } from '../kernels/rqkmeans.js';
import { truncatedSvd } from '../linalg/svd.js';
import { mulberry32 } from '../data/random.js';
import { codeStats, type CodeStats } from './stats.js';

export type QuantizerName = 'rqkmeans' | 'dictionary' | 'rlfq' | 'rqvae';

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
    const n = checkCodes(this, codes, upTo);
    if (upTo === this.levels) return this.model.decode(codes);
    const out = new Float32Array(n * this.dim);
    const cb = this.model.codebooks;
    const k = this.codebookSize;
    for (let i = 0; i < n; i++) for (let l = 0; l < upTo; l++) {
      const base = (l * k + codes[i * this.levels + l]) * this.dim;
      for (let j = 0; j < this.dim; j++) out[i * this.dim + j] += cb[base + j];
    }
    return out;
  }
  toJSON() { return { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, codebooks: Array.from(this.model.codebooks) }; }
}

/**
 * Mini-batch dictionary learning, one dictionary per level over the residuals. Each residual is
 * sparse-coded with one non-zero on its strongest atom (the largest correlation <r, d_k>): the ID
 * token of the level is that atom and the residual loses coef·d_k. Atoms (unit norm) are updated
 * per mini-batch as the normalised, exponentially decayed sum of the residuals they code (the
 * online dictionary update of Mairal et al. with one non-zero); an atom unused for an epoch is
 * re-seeded from a random residual. Decoding from IDs alone uses each atom's mean coefficient.
 * @example const q = await DictionaryQuantizer.fit(x, 64, { levels: 2, codebookSize: 256, iters: 10 }); const codes = await q.encode(x);
 */
export class DictionaryQuantizer implements Quantizer {
  readonly name = 'dictionary' as const;
  private constructor(readonly levels: number, readonly codebookSize: number, readonly dim: number, readonly atoms: Float32Array,
    /** [levels x K] mean coefficient of the training rows coded by each atom. */ readonly meanCoef: Float32Array) {}

  static async fit(x: Float32Array, dim: number, o: QuantizerFitOptions & { batchSize?: number }): Promise<DictionaryQuantizer> {
    const n = checkX(x, dim);
    const L = expectInt('levels', o.levels, 1, 64);
    const K = expectInt('codebookSize', o.codebookSize, 2, 1 << 16);
    const epochs = expectInt('iters', o.iters ?? 10, 1, 1e6);
    const batch = expectInt('batchSize', o.batchSize ?? 1024, 1, 1e9);
    const rand = mulberry32(o.seed ?? 0);
    const atoms = new Float32Array(L * K * dim);
    const meanCoef = new Float32Array(L * K);
    const resid = Float32Array.from(x);
    for (let l = 0; l < L; l++) {
      const A = atoms.subarray(l * K * dim, (l + 1) * K * dim);
      // spread-out init: each new atom is, among 32 random rows, the one least correlated with the atoms so far
      for (let k = 0; k < K; k++) {
        let bestRow = Math.floor(rand() * n);
        let bestCorr = Infinity;
        for (let c = 0; k > 0 && c < 32; c++) {
          const r = Math.floor(rand() * n);
          let norm = 0;
          for (let j = 0; j < dim; j++) norm += resid[r * dim + j] ** 2;
          norm = Math.sqrt(norm) || 1;
          let maxCorr = -Infinity;
          for (let a = 0; a < k; a++) {
            let dot = 0;
            for (let j = 0; j < dim; j++) dot += A[a * dim + j] * resid[r * dim + j];
            maxCorr = Math.max(maxCorr, dot / norm);
          }
          if (maxCorr < bestCorr) { bestCorr = maxCorr; bestRow = r; }
        }
        let s = 0;
        for (let j = 0; j < dim; j++) { A[k * dim + j] = resid[bestRow * dim + j] + 1e-3 * (rand() - 0.5); s += A[k * dim + j] ** 2; }
        s = Math.sqrt(s) || 1;
        for (let j = 0; j < dim; j++) A[k * dim + j] /= s;
      }
      const acc = new Float64Array(K * dim);
      const count = new Float64Array(K);
      for (let e = 0; e < epochs; e++) {
        const order = Int32Array.from({ length: n }, (_, i) => i);
        for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); const t = order[i]; order[i] = order[j]; order[j] = t; }
        for (let b0 = 0; b0 < n; b0 += batch) {
          if (o.signal?.aborted) throw o.signal.reason;
          const hits = new Int32Array(K);
          for (let bi = b0; bi < Math.min(n, b0 + batch); bi++) {
            const r = order[bi];
            const { atom } = strongestAtom(A, K, dim, resid, r);
            for (let j = 0; j < dim; j++) acc[atom * dim + j] = 0.9 * acc[atom * dim + j] + resid[r * dim + j];
            count[atom]++;
            hits[atom]++;
          }
          for (let k = 0; k < K; k++) {
            if (!hits[k]) continue;
            let s = 0;
            for (let j = 0; j < dim; j++) s += acc[k * dim + j] ** 2;
            s = Math.sqrt(s);
            if (s > 0) for (let j = 0; j < dim; j++) A[k * dim + j] = acc[k * dim + j] / s;
          }
        }
        // re-seed atoms nobody used in this epoch
        for (let k = 0; k < K; k++) {
          if (count[k] > 0) continue;
          const r = Math.floor(rand() * n);
          let s = 0;
          for (let j = 0; j < dim; j++) s += resid[r * dim + j] ** 2;
          s = Math.sqrt(s) || 1;
          for (let j = 0; j < dim; j++) A[k * dim + j] = resid[r * dim + j] / s;
        }
        count.fill(0);
      }
      const sum = new Float64Array(K);
      const cnt = new Float64Array(K);
      for (let r = 0; r < n; r++) {
        const { atom, coef } = strongestAtom(A, K, dim, resid, r);
        sum[atom] += coef;
        cnt[atom]++;
        for (let j = 0; j < dim; j++) resid[r * dim + j] -= coef * A[atom * dim + j];
      }
      for (let k = 0; k < K; k++) meanCoef[l * K + k] = cnt[k] ? sum[k] / cnt[k] : 0;
    }
    return new DictionaryQuantizer(L, K, dim, atoms, meanCoef);
  }

  /** Codes: level by level, the strongest atom of the residual (the residual loses coef·atom with its own coefficient). */
  async encode(x: Float32Array): Promise<Int32Array> {
    const n = checkX(x, this.dim);
    const resid = Float32Array.from(x);
    const codes = new Int32Array(n * this.levels);
    const K = this.codebookSize;
    for (let l = 0; l < this.levels; l++) {
      const A = this.atoms.subarray(l * K * this.dim, (l + 1) * K * this.dim);
      for (let r = 0; r < n; r++) {
        const { atom, coef } = strongestAtom(A, K, this.dim, resid, r);
        codes[r * this.levels + l] = atom;
        for (let j = 0; j < this.dim; j++) resid[r * this.dim + j] -= coef * A[atom * this.dim + j];
      }
    }
    return codes;
  }

  /** Reconstruction from IDs alone: Σ_l meanCoef[l, code] · atom[l, code]. */
  async decode(codes: Int32Array, upTo = this.levels): Promise<Float32Array> {
    const n = checkCodes(this, codes, upTo);
    const out = new Float32Array(n * this.dim);
    const K = this.codebookSize;
    for (let i = 0; i < n; i++) for (let l = 0; l < upTo; l++) {
      const k = codes[i * this.levels + l];
      const base = (l * K + k) * this.dim;
      const c = this.meanCoef[l * K + k];
      for (let j = 0; j < this.dim; j++) out[i * this.dim + j] += c * this.atoms[base + j];
    }
    return out;
  }

  toJSON() { return { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, atoms: Array.from(this.atoms), meanCoef: Array.from(this.meanCoef) }; }
}

function strongestAtom(A: Float32Array, K: number, dim: number, x: Float32Array, row: number): { atom: number; coef: number } {
  let best = 0;
  let bestAbs = -Infinity;
  let bestCoef = 0;
  const o = row * dim;
  for (let k = 0; k < K; k++) {
    let dot = 0;
    const a = k * dim;
    for (let j = 0; j < dim; j++) dot += A[a + j] * x[o + j];
    if (dot > bestAbs) { bestAbs = dot; best = k; bestCoef = dot; }
  }
  return { atom: best, coef: bestCoef };
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
      const level = q.levelStep(resid, l);
      for (let i = 0; i < resid.length; i++) resid[i] -= level.recon[i];
    }
    return new ResidualLFQ(L, K, dim, bits, directions, scales);
  }

  /** One level on residuals: codes and the level's reconstruction. */
  private levelStep(resid: Float32Array, l: number): { codes: Int32Array; recon: Float32Array } {
    const n = resid.length / this.dim;
    const codes = new Int32Array(n);
    const recon = new Float32Array(resid.length);
    const D = this.directions.subarray(l * this.bits * this.dim, (l + 1) * this.bits * this.dim);
    for (let r = 0; r < n; r++) {
      let code = 0;
      for (let b = 0; b < this.bits; b++) {
        let z = 0;
        for (let j = 0; j < this.dim; j++) z += D[b * this.dim + j] * resid[r * this.dim + j];
        const bit = z >= 0 ? 1 : 0;
        code |= bit << b;
        const v = (bit ? 1 : -1) * this.scales[l * this.bits + b];
        for (let j = 0; j < this.dim; j++) recon[r * this.dim + j] += v * D[b * this.dim + j];
      }
      codes[r] = code;
    }
    return { codes, recon };
  }

  async encode(x: Float32Array): Promise<Int32Array> {
    const n = checkX(x, this.dim);
    const resid = Float32Array.from(x);
    const out = new Int32Array(n * this.levels);
    for (let l = 0; l < this.levels; l++) {
      const { codes, recon } = this.levelStep(resid, l);
      for (let r = 0; r < n; r++) out[r * this.levels + l] = codes[r];
      for (let i = 0; i < resid.length; i++) resid[i] -= recon[i];
    }
    return out;
  }

  async decode(codes: Int32Array, upTo = this.levels): Promise<Float32Array> {
    const n = checkCodes(this, codes, upTo);
    const out = new Float32Array(n * this.dim);
    for (let r = 0; r < n; r++) for (let l = 0; l < upTo; l++) {
      const code = codes[r * this.levels + l];
      const D = this.directions.subarray(l * this.bits * this.dim, (l + 1) * this.bits * this.dim);
      for (let b = 0; b < this.bits; b++) {
        const v = ((code >> b) & 1 ? 1 : -1) * this.scales[l * this.bits + b];
        for (let j = 0; j < this.dim; j++) out[r * this.dim + j] += v * D[b * this.dim + j];
      }
    }
    return out;
  }

  toJSON() { return { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, directions: Array.from(this.directions), scales: Array.from(this.scales) }; }
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
