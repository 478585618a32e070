// DictionaryQuantizer: the GEMM-based fit and encode against a plain loop-by-loop reference of the
// same algorithm (same random draws, float64 dot products), over shapes that cross the
// initialisation's blocks of 8 atoms and the mini-batches; input checks and cancellation.
import { describe, expect, it } from 'vitest';
import { DictionaryQuantizer } from '../src/index.js';
import { mulberry32 } from '../src/data/random.js';
import { maxAbsDiff, rng } from './helpers.js';

/** The algorithm written out plainly: returns atoms [L x K x dim], meanCoef [L x K] and the codes of encode(x). */
function referenceDictionary(x: Float32Array, dim: number, L: number, K: number, epochs: number, batch: number, seed: number) {
  const n = x.length / dim;
  const rand = mulberry32(seed);
  const atoms = new Float32Array(L * K * dim);
  const meanCoef = new Float32Array(L * K);
  const resid = Float32Array.from(x);
  const dot = (A: Float32Array, a: number, r: number) => { let s = 0; for (let j = 0; j < dim; j++) s += A[a * dim + j] * resid[r * dim + j]; return s; };
  const strongest = (A: Float32Array, r: number) => {
    let best = 0, bestDot = dot(A, 0, r);
    for (let k = 1; k < K; k++) { const d = dot(A, k, r); if (d > bestDot) { bestDot = d; best = k; } }
    return { atom: best, coef: bestDot };
  };
  for (let l = 0; l < L; l++) {
    const A = atoms.subarray(l * K * dim, (l + 1) * K * dim);
    for (let k0 = 0; k0 < K; k0 += 8) {
      const kEnd = Math.min(K, k0 + 8);
      const fallback: number[] = [], cand: number[][] = [];
      for (let k = k0; k < kEnd; k++) {
        fallback.push(Math.floor(rand() * n));
        cand.push(Array.from({ length: 32 }, () => Math.floor(rand() * n)));
      }
      for (let k = k0; k < kEnd; k++) {
        let bestRow = fallback[k - k0];
        if (k > 0) {
          let bestCorr = Infinity;
          for (const r of cand[k - k0]) {
            let norm = 0;
            for (let j = 0; j < dim; j++) norm += resid[r * dim + j] ** 2;
            norm = Math.sqrt(norm) || 1;
            let corr = -Infinity;
            for (let a = 0; a < k; a++) corr = Math.max(corr, dot(A, a, r) / norm);
            if (corr < bestCorr) { bestCorr = corr; bestRow = r; }
          }
        }
        let s = 0;
        for (let j = 0; j < dim; j++) { A[k * dim + j] = resid[bestRow * dim + j] + 1e-3 * (rand() - 0.5); s += A[k * dim + j] ** 2; }
        s = Math.sqrt(s) || 1;
        for (let j = 0; j < dim; j++) A[k * dim + j] /= s;
      }
    }
    const acc = new Float64Array(K * dim);
    const count = new Float64Array(K);
    for (let e = 0; e < epochs; e++) {
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
      for (let b0 = 0; b0 < n; b0 += batch) {
        const rows = order.slice(b0, b0 + batch);
        const coded = rows.map((r) => strongest(A, r).atom);
        const hit = new Set<number>();
        rows.forEach((r, i) => {
          const a = coded[i];
          for (let j = 0; j < dim; j++) acc[a * dim + j] = 0.9 * acc[a * dim + j] + resid[r * dim + j];
          count[a]++;
          hit.add(a);
        });
        for (const k of hit) {
          let s = 0;
          for (let j = 0; j < dim; j++) s += acc[k * dim + j] ** 2;
          s = Math.sqrt(s);
          if (s > 0) for (let j = 0; j < dim; j++) A[k * dim + j] = acc[k * dim + j] / s;
        }
      }
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
    const sum = new Float64Array(K), cnt = new Float64Array(K);
    for (let r = 0; r < n; r++) {
      const { atom, coef } = strongest(A, r);
      sum[atom] += coef;
      cnt[atom]++;
      for (let j = 0; j < dim; j++) resid[r * dim + j] -= coef * A[atom * dim + j];
    }
    for (let k = 0; k < K; k++) meanCoef[l * K + k] = cnt[k] ? sum[k] / cnt[k] : 0;
  }
  return { atoms, meanCoef };
}

function gaussianRows(n: number, dim: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n * dim }, () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r()));
}

describe('DictionaryQuantizer', () => {
  // [n, dim, levels, K, epochs, batch]: K across the blocks of 8, batches smaller and larger than n
  const shapes: Array<[number, number, number, number, number, number]> = [
    [40, 5, 1, 3, 1, 1024], [120, 12, 2, 8, 2, 16], [150, 16, 2, 9, 3, 7], [300, 24, 3, 20, 2, 64],
    [400, 8, 2, 40, 2, 1024], [500, 48, 2, 64, 1, 100],
  ];
  for (const [n, dim, L, K, epochs, batch] of shapes) {
    it(`matches the plain reference: n=${n} dim=${dim} levels=${L} K=${K} epochs=${epochs} batch=${batch}`, async () => {
      const x = gaussianRows(n, dim, n + dim + K);
      const seed = 7 * K + L;
      const q = await DictionaryQuantizer.fit(x, dim, { levels: L, codebookSize: K, iters: epochs, batchSize: batch, seed });
      const ref = referenceDictionary(x, dim, L, K, epochs, batch, seed);
      expect(maxAbsDiff(q.atoms, ref.atoms)).toBeLessThan(1e-4);
      expect(maxAbsDiff(q.meanCoef, ref.meanCoef)).toBeLessThan(1e-4);
      // encode with the reference's own atoms gives the same codes, level by level
      const codes = await q.encode(x);
      const resid = Float32Array.from(x);
      for (let l = 0; l < L; l++) {
        for (let r = 0; r < n; r++) {
          let best = 0, bestDot = -Infinity;
          for (let k = 0; k < K; k++) {
            let d = 0;
            for (let j = 0; j < dim; j++) d += q.atoms[(l * K + k) * dim + j] * resid[r * dim + j];
            if (d > bestDot) { bestDot = d; best = k; }
          }
          expect(codes[r * L + l]).toBe(best);
          for (let j = 0; j < dim; j++) resid[r * dim + j] -= bestDot * q.atoms[(l * K + best) * dim + j];
        }
      }
    }, 60_000);
  }

  it('fits more atoms than rows (atoms repeat rows; every code in range, the error small)', async () => {
    const x = gaussianRows(30, 8, 9);
    const q = await DictionaryQuantizer.fit(x, 8, { levels: 2, codebookSize: 70, iters: 2, seed: 4 });
    const codes = await q.encode(x);
    expect(codes.every((c) => c >= 0 && c < 70)).toBe(true);
    expect(q.atoms.every(Number.isFinite)).toBe(true);
    const xHat = await q.decode(codes);
    let err = 0, total = 0;
    for (let i = 0; i < x.length; i++) { err += (x[i] - xHat[i]) ** 2; total += x[i] ** 2; }
    expect(err / total).toBeLessThan(0.3);
  });

  it('gives the same atoms and codes for the same seed, and others for another', async () => {
    const x = gaussianRows(200, 16, 3);
    const fit = (seed: number) => DictionaryQuantizer.fit(x, 16, { levels: 2, codebookSize: 16, iters: 2, seed });
    const [a, b, c] = await Promise.all([fit(1), fit(1), fit(2)]);
    expect(Array.from(b.atoms)).toEqual(Array.from(a.atoms));
    expect(Array.from(await b.encode(x))).toEqual(Array.from(await a.encode(x)));
    expect(maxAbsDiff(c.atoms, a.atoms)).toBeGreaterThan(0.01);
  });

  it('names x and the first non-finite value; honours an abort signal', async () => {
    const x = gaussianRows(50, 4, 5);
    x[4 * 7 + 2] = Number.NaN;
    await expect(DictionaryQuantizer.fit(x, 4, { levels: 1, codebookSize: 4 })).rejects.toThrow(/Expected finite values for x but received NaN at row 7, column 2/);
    const ok = gaussianRows(50, 4, 5);
    const q = await DictionaryQuantizer.fit(ok, 4, { levels: 1, codebookSize: 4, iters: 1 });
    ok[3] = -Infinity;
    await expect(q.encode(ok)).rejects.toThrow(/finite values for x but received -Infinity at row 0, column 3/);
    const controller = new AbortController();
    controller.abort(new Error('stop here'));
    await expect(DictionaryQuantizer.fit(gaussianRows(50, 4, 6), 4, { levels: 1, codebookSize: 4, signal: controller.signal })).rejects.toThrow(/stop here/);
  });
});
