/**
 * Mini-batch dictionary learning as a residual quantizer (one atom a level), with every
 * correlation taken by the native GEMM: a batch of residuals against all K atoms at once.
 */
import { expectInt } from '../kernels/validate.js';
import { gemm } from '../kernels/gemm.js';
import { mulberry32 } from '../data/random.js';
import { checkCodes, checkFiniteX, stateFloats, stateSizes, sumOfCodewords, type Quantizer, type QuantizerFitOptions } from './quantizer.js';

/** Candidate rows drawn for each new atom of the spread-out initialisation. */
const INIT_CANDIDATES = 32;
/** Atoms initialised together: their candidates' correlations with earlier atoms are one GEMM. */
const INIT_BLOCK = 8;
/** Correlations held at once when coding many rows: [rows x K] floats (16 MiB). */
const SCORE_FLOATS = 1 << 22;

/**
 * Mini-batch dictionary learning, one dictionary per level over the residuals. Each residual is
 * sparse-coded with one non-zero on its strongest atom (the largest correlation <r, d_k>, the
 * first on ties): the ID token of the level is that atom and the residual loses coef·d_k. Atoms
 * (unit norm) are updated per mini-batch as the normalised, exponentially decayed sum of the
 * residuals they code (the online dictionary update of Mairal et al. with one non-zero); an atom
 * unused for an epoch is re-seeded from a random residual. Decoding from IDs alone uses each atom's
 * mean coefficient. Correlations are float32 products (the native GEMM), so the same seed gives
 * the same atoms and codes on the same backend.
 * @example const q = await DictionaryQuantizer.fit(x, 64, { levels: 2, codebookSize: 256, iters: 10 }); const codes = await q.encode(x);
 */
export class DictionaryQuantizer implements Quantizer {
  readonly name = 'dictionary' as const;
  private constructor(readonly levels: number, readonly codebookSize: number, readonly dim: number,
    /** [levels x K x dim] unit-norm atoms. */ readonly atoms: Float32Array,
    /** [levels x K] mean coefficient of the training rows coded by each atom. */ readonly meanCoef: Float32Array) {}

  /**
   * Learn `levels` dictionaries of `codebookSize` atoms from rows x [n x dim].
   * @example const q = await DictionaryQuantizer.fit(x, 64, { levels: 2, codebookSize: 256, seed: 1, batchSize: 1024 });
   */
  static async fit(x: Float32Array, dim: number, o: QuantizerFitOptions & { batchSize?: number }): Promise<DictionaryQuantizer> {
    const n = checkFiniteX(x, dim);
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
      await initAtoms(A, K, dim, resid, n, rand, o.signal);
      await trainAtoms(A, K, dim, resid, n, epochs, batch, rand, o.signal);
      const { atom, coef } = await strongestAtoms(A, K, dim, resid, n, o.signal);
      const sum = new Float64Array(K);
      const cnt = new Float64Array(K);
      for (let r = 0; r < n; r++) {
        const a = atom[r], c = coef[r];
        sum[a] += c;
        cnt[a]++;
        for (let j = 0; j < dim; j++) resid[r * dim + j] -= c * A[a * dim + j];
      }
      for (let k = 0; k < K; k++) meanCoef[l * K + k] = cnt[k] ? sum[k] / cnt[k] : 0;
    }
    return new DictionaryQuantizer(L, K, dim, atoms, meanCoef);
  }

  /**
   * Codes: level by level, the strongest atom of the residual (the residual loses coef·atom with its own coefficient).
   * @example const codes = await q.encode(x); // Int32Array [n x levels]
   */
  async encode(x: Float32Array): Promise<Int32Array> {
    const n = checkFiniteX(x, this.dim);
    const resid = Float32Array.from(x);
    const codes = new Int32Array(n * this.levels);
    const K = this.codebookSize, dim = this.dim;
    for (let l = 0; l < this.levels; l++) {
      const A = this.atoms.subarray(l * K * dim, (l + 1) * K * dim);
      const { atom, coef } = await strongestAtoms(A, K, dim, resid, n);
      const last = l === this.levels - 1;  // the last level's residual is never read
      for (let r = 0; r < n; r++) {
        const a = atom[r], c = coef[r];
        codes[r * this.levels + l] = a;
        if (last) continue;
        const ro = r * dim, ao = a * dim;
        for (let j = 0; j < dim; j++) resid[ro + j] -= c * A[ao + j];
      }
    }
    return codes;
  }

  /**
   * Reconstruction from IDs alone: Σ_l meanCoef[l, code] · atom[l, code].
   * @example const xHat = await q.decode(codes, 1); // first level only
   */
  async decode(codes: Int32Array, upTo = this.levels): Promise<Float32Array> {
    checkCodes(this, codes, upTo);
    // meanCoef · atom is one codeword per (level, code): the sum is RQ-KMeans' native decode
    this.codewords ??= this.atoms.map((v, i) => v * this.meanCoef[Math.floor(i / this.dim)]);
    return sumOfCodewords(this.codewords, this.levels, this.codebookSize, this.dim, codes, upTo);
  }

  /** meanCoef[l, k] · atom[l, k] for every (level, code), made on first decode: [levels x K x dim]. */
  private codewords: Float32Array | undefined;

  toJSON() { return { name: this.name, levels: this.levels, codebookSize: this.codebookSize, dim: this.dim, atoms: Array.from(this.atoms), meanCoef: Array.from(this.meanCoef) }; }

  /** The quantizer a toJSON() state describes (`where` names it in errors). */
  static fromJSON(j: Record<string, unknown>, where = 'state'): DictionaryQuantizer {
    const { levels, codebookSize, dim } = stateSizes(j, where);
    return new DictionaryQuantizer(levels, codebookSize, dim, stateFloats(j, 'atoms', levels * codebookSize * dim, where), stateFloats(j, 'meanCoef', levels * codebookSize, where));
  }
}

/**
 * Spread-out initialisation of A [K x dim]: atom 0 is a random residual; each later atom is, among
 * 32 random residuals, the one whose largest correlation with the atoms before it is smallest
 * (plus a 1e-3 jitter, then unit norm). Atoms are placed INIT_BLOCK at a time: the block's
 * candidates are drawn first, their correlations with the atoms of earlier blocks are one GEMM,
 * and only those with the block's own earlier atoms are summed here.
 */
async function initAtoms(A: Float32Array, K: number, dim: number, resid: Float32Array, n: number, rand: () => number, signal?: AbortSignal): Promise<void> {
  const C = INIT_CANDIDATES;
  const candRows = new Float32Array(INIT_BLOCK * C * dim);
  for (let k0 = 0; k0 < K; k0 += INIT_BLOCK) {
    if (signal?.aborted) throw signal.reason;
    const kEnd = Math.min(K, k0 + INIT_BLOCK);
    const m = (kEnd - k0) * C;
    const fallback = new Int32Array(kEnd - k0);
    const cand = new Int32Array(m);
    for (let k = k0; k < kEnd; k++) {
      fallback[k - k0] = Math.floor(rand() * n);
      for (let c = 0; c < C; c++) cand[(k - k0) * C + c] = Math.floor(rand() * n);
    }
    const invNorm = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const src = cand[i] * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) { const v = resid[src + j]; candRows[i * dim + j] = v; s += v * v; }
      invNorm[i] = 1 / (Math.sqrt(s) || 1);
    }
    // largest correlation of each candidate with the atoms of earlier blocks
    const maxCorr = new Float64Array(m).fill(-Infinity);
    if (k0 > 0) {
      const dots = await gemm(candRows.subarray(0, m * dim), A.subarray(0, k0 * dim), { m, n: k0, k: dim, transB: true, signal });
      for (let i = 0; i < m; i++) {
        let best = -Infinity;
        for (let a = 0; a < k0; a++) best = Math.max(best, dots[i * k0 + a]);
        maxCorr[i] = best * invNorm[i];
      }
    }
    for (let k = k0; k < kEnd; k++) {
      let bestRow = fallback[k - k0];
      if (k > 0) {
        let bestCorr = Infinity;
        for (let c = 0; c < C; c++) {
          const i = (k - k0) * C + c;
          let corr = maxCorr[i];
          for (let a = k0; a < k; a++) {
            let dot = 0;
            for (let j = 0; j < dim; j++) dot += A[a * dim + j] * candRows[i * dim + j];
            corr = Math.max(corr, dot * invNorm[i]);
          }
          if (corr < bestCorr) { bestCorr = corr; bestRow = cand[i]; }
        }
      }
      let s = 0;
      for (let j = 0; j < dim; j++) { A[k * dim + j] = resid[bestRow * dim + j] + 1e-3 * (rand() - 0.5); s += A[k * dim + j] ** 2; }
      s = Math.sqrt(s) || 1;
      for (let j = 0; j < dim; j++) A[k * dim + j] /= s;
    }
  }
}

/**
 * `epochs` shuffled passes of mini-batches: each batch's rows are coded against the atoms as the
 * batch starts (one GEMM), each coded row is added to its atom's decayed sum (×0.9 per hit), and
 * the atoms hit are set to their normalised sums. Atoms unused for an epoch are re-seeded.
 */
async function trainAtoms(A: Float32Array, K: number, dim: number, resid: Float32Array, n: number, epochs: number, batch: number, rand: () => number, signal?: AbortSignal): Promise<void> {
  const acc = new Float64Array(K * dim);
  const count = new Float64Array(K);
  const rowsPerGemm = Math.max(1, Math.min(batch, n, Math.floor(SCORE_FLOATS / K)));
  const rows = new Float32Array(rowsPerGemm * dim);
  const scores = new Float32Array(rowsPerGemm * K);
  const hits = new Int32Array(K);
  for (let e = 0; e < epochs; e++) {
    const order = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); const t = order[i]; order[i] = order[j]; order[j] = t; }
    for (let b0 = 0; b0 < n; b0 += batch) {
      if (signal?.aborted) throw signal.reason;
      const bEnd = Math.min(n, b0 + batch);
      hits.fill(0);
      // the atoms stay fixed within a batch: code its rows a GEMM at a time, then update
      const coded = new Int32Array(bEnd - b0);
      for (let c0 = b0; c0 < bEnd; c0 += rowsPerGemm) {
        const m = Math.min(rowsPerGemm, bEnd - c0);
        for (let i = 0; i < m; i++) rows.set(resid.subarray(order[c0 + i] * dim, (order[c0 + i] + 1) * dim), i * dim);
        await gemm(rows.subarray(0, m * dim), A, { m, n: K, k: dim, transB: true, out: scores.subarray(0, m * K), signal });
        for (let i = 0; i < m; i++) coded[c0 - b0 + i] = argmaxRow(scores, i * K, K);
      }
      for (let bi = b0; bi < bEnd; bi++) {
        const r = order[bi], atom = coded[bi - b0];
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
}

/**
 * For each row of x [n x dim], its strongest atom of A [K x dim] (largest correlation, first on
 * ties) and that correlation: GEMMs of up to 2^22 / K rows at a time.
 */
async function strongestAtoms(A: Float32Array, K: number, dim: number, x: Float32Array, n: number, signal?: AbortSignal): Promise<{ atom: Int32Array; coef: Float32Array }> {
  const atom = new Int32Array(n);
  const coef = new Float32Array(n);
  const rowsPerGemm = Math.max(1, Math.min(n, Math.floor(SCORE_FLOATS / K)));
  const scores = new Float32Array(rowsPerGemm * K);
  for (let r0 = 0; r0 < n; r0 += rowsPerGemm) {
    const m = Math.min(rowsPerGemm, n - r0);
    await gemm(x.subarray(r0 * dim, (r0 + m) * dim), A, { m, n: K, k: dim, transB: true, out: scores.subarray(0, m * K), signal });
    for (let i = 0; i < m; i++) {
      const a = argmaxRow(scores, i * K, K);
      atom[r0 + i] = a;
      coef[r0 + i] = scores[i * K + a];
    }
  }
  return { atom, coef };
}

/** Index in [0, K) of the largest of s[offset .. offset + K) (the first on ties). */
function argmaxRow(s: Float32Array, offset: number, K: number): number {
  let best = 0;
  let bestValue = s[offset];
  for (let k = 1; k < K; k++) if (s[offset + k] > bestValue) { bestValue = s[offset + k]; best = k; }
  return best;
}
