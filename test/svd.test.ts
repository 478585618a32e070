// Truncated SVD against the float64 one-sided Jacobi reference, on random, low-rank and
// ill-conditioned matrices; orthonormality, reconstruction, method agreement, sparse vs dense.
import { describe, expect, it } from 'vitest';
import { TruncatedSVD, cudaAvailable, svdReference, truncatedSvd, type CsrMatrix, type SvdMethod } from '../src/index.js';
import { rng } from './helpers.js';

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
}

/** Orthonormal columns (n x k) by Gram-Schmidt on Gaussian vectors, float64. */
function orthonormal(n: number, k: number, seed: number): Float64Array[] {
  const r = rng(seed);
  const cols: Float64Array[] = [];
  while (cols.length < k) {
    const v = Float64Array.from({ length: n }, () => gaussian(r));
    for (const c of cols) { let dot = 0; for (let i = 0; i < n; i++) dot += v[i] * c[i]; for (let i = 0; i < n; i++) v[i] -= dot * c[i]; }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    cols.push(v.map((x) => x / norm));
  }
  return cols;
}

/** n x d matrix U diag(s) Vᵀ (+ Gaussian noise of the given scale). */
function withSpectrum(n: number, d: number, s: number[], seed: number, noise = 0): Float32Array {
  const U = orthonormal(n, s.length, seed), V = orthonormal(d, s.length, seed + 1);
  const r = rng(seed + 2);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
    let v = noise ? noise * gaussian(r) : 0;
    for (let c = 0; c < s.length; c++) v += U[c][i] * s[c] * V[c][j];
    x[i * d + j] = v;
  }
  return x;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>, count: number): number {
  let m = 0;
  for (let i = 0; i < count; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  return m;
}

const decaying = (k: number, base = 10, ratio = 0.8) => Array.from({ length: k }, (_, i) => base * ratio ** i);

describe('truncatedSvd', () => {
  const methods: SvdMethod[] = ['exact', 'gram', 'randomized'];
  for (const method of methods) {
    for (const [n, d] of [[400, 60], [60, 300]] as const) {
      it(`${method}: singular values match the float64 reference (${n} x ${d}, well-separated spectrum)`, async () => {
        const x = withSpectrum(n, d, decaying(20), n + d, 1e-3);
        const ref = svdReference(x, n, d);
        const r = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 8, method, powerIters: 6 });
        expect(r.method).toBe(method);
        expect(relErr(r.singularValues, ref.values, 8)).toBeLessThan(1e-4);
        // Components equal the reference's right vectors up to sign (fixed by the largest entry).
        for (let c = 0; c < 8; c++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += r.components[c * d + j] * ref.v[c][j];
          expect(Math.abs(Math.abs(dot) - 1)).toBeLessThan(1e-3);
        }
      });
    }
  }

  it('random Gaussian matrix: gram and exact agree with the reference; components orthonormal', async () => {
    const n = 500, d = 48, r0 = rng(3);
    const x = Float32Array.from({ length: n * d }, () => gaussian(r0));
    const ref = svdReference(x, n, d);
    for (const method of ['gram', 'exact'] as const) {
      const r = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 20, method });
      expect(relErr(r.singularValues, ref.values, 20)).toBeLessThan(1e-4);
      for (let a = 0; a < 20; a++) for (let b = 0; b < 20; b++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += r.components[a * d + j] * r.components[b * d + j];
        expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-4);
      }
      // Signs: the largest-magnitude entry of each component is positive.
      for (let c = 0; c < 20; c++) {
        const row = Array.from(r.components.subarray(c * d, (c + 1) * d));
        const big = row.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
        expect(big).toBeGreaterThan(0);
      }
    }
  });

  it('repeated singular values and rank < requested rank: orthonormal components, exact values, same bits on 1 or 2 threads', async () => {
    const n = 300, d = 40, x = withSpectrum(n, d, [5, 5, 5, 2, 2], 21);
    for (const method of ['gram', 'randomized'] as const) {
      const r = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 10, method, threads: 2 });
      const want = [5, 5, 5, 2, 2];
      // The zero values come out at float32 noise level (the Gram route squares it: ~sqrt(eps) * sigma_max).
      for (let c = 0; c < 10; c++) expect(Math.abs(r.singularValues[c] - (want[c] ?? 0))).toBeLessThan(c < 5 ? 1e-3 : 1e-2);
      for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += r.components[a * d + j] * r.components[b * d + j];
        expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-4);
      }
      const one = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 10, method, threads: 1 });
      expect(Array.from(one.components)).toEqual(Array.from(r.components));
      expect(Array.from(one.singularValues)).toEqual(Array.from(r.singularValues));
    }
  });

  it('reconstruction error equals the tail energy', async () => {
    const n = 300, d = 40;
    const x = withSpectrum(n, d, decaying(30, 5, 0.85), 9, 1e-2);
    const ref = svdReference(x, n, d);
    for (const method of ['gram', 'exact', 'randomized'] as const) {
      const rank = 10;
      const r = await truncatedSvd({ data: x, rows: n, cols: d }, { rank, method, powerIters: 8 });
      let err = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
        let v = 0;
        for (let c = 0; c < rank; c++) v += r.projected[i * rank + c] * r.components[c * d + j];
        err += (x[i * d + j] - v) ** 2;
      }
      const tail = Array.from(ref.values).slice(rank).reduce((s, v) => s + v * v, 0);
      expect(Math.abs(err - tail) / tail).toBeLessThan(1e-3);
    }
  });

  it('recovers an exactly low-rank matrix', async () => {
    const n = 200, d = 50;
    const x = withSpectrum(n, d, [7, 5, 3, 2, 1], 4);
    const r = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 5, method: 'gram' });
    expect(relErr(r.singularValues, [7, 5, 3, 2, 1], 5)).toBeLessThan(1e-4);
  });

  it('randomized on a matrix that is zero, or zero once centred: zeros, orthonormal unit components, no error', async () => {
    // Identical rows are exactly zero once centred; their range sampled in float is rounding
    // noise, which CholeskyQR failed on ("the sampled range is degenerate") or blew up to ~1e23.
    const r = rng(9);
    const row = Float32Array.from({ length: 17 }, () => gaussian(r) * 3 + 1);
    const cases: Array<{ x: Float32Array; n: number; d: number; center: boolean }> = [
      { x: new Float32Array(1000 * 3), n: 1000, d: 3, center: false },
      { x: new Float32Array(30 * 64), n: 30, d: 64, center: true },
      { x: Float32Array.from({ length: 5 * 17 }, (_, i) => row[i % 17]), n: 5, d: 17, center: true },
      { x: Float32Array.from({ length: 200 * 17 }, (_, i) => row[i % 17]), n: 200, d: 17, center: true },
      { x: Float32Array.of(2.5), n: 1, d: 1, center: true },
    ];
    for (const { x, n, d, center } of cases) {
      const rank = Math.min(n, d, 4);
      const got = await truncatedSvd({ data: x, rows: n, cols: d }, { rank, center, method: 'randomized' });
      expect(Array.from(got.singularValues)).toEqual(new Array(rank).fill(0));
      expect(Array.from(got.projected).every((v) => v === 0)).toBe(true);
      for (let i = 0; i < rank; i++) for (let j = 0; j < d; j++) expect(got.components[i * d + j]).toBe(i === j ? 1 : 0);
    }
    // Sparse: every row the same three non-zeros.
    const n = 300, d = 40;
    const indptr = Int32Array.from({ length: n + 1 }, (_, i) => 3 * i);
    const indices = Int32Array.from({ length: 3 * n }, (_, e) => [1, 5, 9][e % 3]);
    const values = Float32Array.from({ length: 3 * n }, (_, e) => [1, 2, 3][e % 3]);
    const sparse = await truncatedSvd({ indptr, indices, values, rows: n, cols: d }, { rank: 3, center: true });
    expect(Array.from(sparse.singularValues)).toEqual([0, 0, 0]);
    const raw = await truncatedSvd({ indptr, indices, values, rows: n, cols: d }, { rank: 3 });  // rank 1, not zero
    expect(raw.singularValues[0]).toBeCloseTo(Math.sqrt(14 * n), 3);
    expect(raw.singularValues[1]).toBeLessThan(1e-5);
  });

  it('ill-conditioned: exact keeps every singular value; the Gram route only down to ~1e-3 of the largest (documented)', async () => {
    const n = 200, d = 30;
    const s = Array.from({ length: 12 }, (_, i) => 10 ** (1 - i * 0.6)); // 10 ... 2.5e-6
    const x = withSpectrum(n, d, s, 21);
    const ref = svdReference(x, n, d);
    const exact = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 12, method: 'exact' });
    // Relative to the reference computed on the same float32 matrix.
    expect(relErr(exact.singularValues, ref.values, 12)).toBeLessThan(1e-6);
    const gram = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 12, method: 'gram' });
    const wellConditioned = ref.values.filter((v) => v >= 1e-2 * ref.values[0]).length;
    expect(relErr(gram.singularValues, ref.values, wellConditioned)).toBeLessThan(1e-4);
    expect(Math.abs(gram.singularValues[11] - ref.values[11]) / ref.values[11]).toBeGreaterThan(1e-2);
  });

  it('the Gram route on a wide matrix gives unit components also past its conditioning (values ~1e-3 of the largest)', async () => {
    // n < d: the components are Xᵀu / s; near s ~ 1e-3 s_max that vector's norm is off by ~1e-3
    // (0.9983 before each was scaled by its own norm), at every centring and for every shape
    for (const [n, d, center] of [[33, 39, false], [40, 300, true], [12, 64, false]] as const) {
      const r = rng(n * d);
      const x = new Float32Array(n * d).map(() => 100 + (r() * 2 - 1));  // one large direction, the rest ~1e-3 of it
      const res = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: Math.min(6, n), method: 'gram', center });
      for (let k = 0; k < res.rank; k++) {
        let norm2 = 0;
        for (let j = 0; j < d; j++) norm2 += res.components[k * d + j] ** 2;
        expect(Math.abs(Math.sqrt(norm2) - 1), `n=${n} d=${d} component ${k}`).toBeLessThan(1e-6);
      }
    }
  });

  it('centred (PCA): equals the reference on centred data; transform reproduces the projection', async () => {
    const n = 250, d = 35, r0 = rng(5);
    const x = withSpectrum(n, d, decaying(10), 6, 0.01).map((v, i) => v + (i % d) * 0.5 + gaussian(r0) * 0);
    const ref = svdReference(x, n, d, true);
    const model = await TruncatedSVD.fit({ data: x, rows: n, cols: d }, { rank: 6, center: true, method: 'gram' });
    expect(relErr(model.singularValues, ref.values, 6)).toBeLessThan(1e-4);
    expect(model.result.mean).not.toBeNull();
    const again = await model.transform({ data: x, rows: n, cols: d });
    let m = 0;
    for (let i = 0; i < again.length; i++) m = Math.max(m, Math.abs(again[i] - model.result.projected[i]));
    expect(m).toBeLessThan(1e-3);
    const total = model.result.explainedVarianceRatio.reduce((s, v) => s + v, 0);
    expect(total).toBeGreaterThan(0.9);
    expect(total).toBeLessThanOrEqual(1 + 1e-6);
  });

  it('sparse CSR equals the dense result (randomized, same seed) without densifying', async () => {
    const n = 300, d = 150, r0 = rng(8);
    const dense = new Float32Array(n * d);
    const indptr = new Int32Array(n + 1), indices: number[] = [], values: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        if (r0() < 0.05 || j === i % 17) { const v = r0() + (j % 7 === 0 ? 2 : 0); dense[i * d + j] = v; indices.push(j); values.push(v); }
      }
      indptr[i + 1] = indices.length;
    }
    const csr: CsrMatrix = { rows: n, cols: d, indptr, indices: Int32Array.from(indices), values: Float32Array.from(values) };
    for (const center of [false, true]) {
      const sp = await truncatedSvd(csr, { rank: 10, seed: 3, center, powerIters: 6 });
      expect(sp.method).toBe('randomized');
      const de = await truncatedSvd({ data: dense, rows: n, cols: d }, { rank: 10, seed: 3, center, method: 'randomized', powerIters: 6 });
      expect(relErr(sp.singularValues, de.singularValues, 10)).toBeLessThan(1e-4);
      const exact = svdReference(dense, n, d, center);
      expect(relErr(sp.singularValues, exact.values, 3)).toBeLessThan(1e-3);
    }
  });

  it('picks the method by shape and says which', async () => {
    const small = await truncatedSvd(new Float32Array(20 * 5).map((_, i) => Math.sin(i)), { rank: 2, dim: 5 });
    expect(small.method).toBe('exact');
    const tall = await truncatedSvd({ data: new Float32Array(20000 * 64).map((_, i) => Math.sin(i * 0.37)), rows: 20000, cols: 64 }, { rank: 4 });
    expect(tall.method).toBe('gram');
  });

  it('rejects bad input with the parameter named', async () => {
    const x = { data: new Float32Array(12).fill(1), rows: 4, cols: 3 };
    await expect(truncatedSvd(x, { rank: 4 })).rejects.toThrow(/rank/);
    await expect(truncatedSvd(x, { rank: 0 })).rejects.toThrow(/rank/);
    await expect(truncatedSvd({ ...x, data: new Float32Array(12).fill(NaN) }, { rank: 1 })).rejects.toThrow(/finite.*row 0/);
    await expect(truncatedSvd({ data: new Float32Array(0), rows: 0, cols: 3 }, { rank: 1 })).rejects.toThrow(/non-empty|rank/);
    await expect(truncatedSvd(x, { rank: 1, method: 'qr' as SvdMethod })).rejects.toThrow(/method/);
    const csr: CsrMatrix = { rows: 2, cols: 2, indptr: new Int32Array([0, 1, 2]), indices: new Int32Array([0, 5]), values: new Float32Array([1, 1]) };
    await expect(truncatedSvd(csr, { rank: 1 })).rejects.toThrow(/indices\[1\]/);
    await expect(truncatedSvd(csr, { rank: 1, method: 'gram' })).rejects.toThrow(/sparse/);
  });
});

describe.skipIf(!cudaAvailable())('truncatedSvd on CUDA equals the CPU', () => {
  for (const method of ['gram', 'randomized'] as const) {
    it(method, async () => {
      const n = 5000, d = 200;
      const x = withSpectrum(n, d, decaying(40), 77, 1e-2);
      const cpu = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 20, method, device: 'cpu' });
      const gpu = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 20, method, device: 'cuda' });
      expect(relErr(gpu.singularValues, cpu.singularValues, 20)).toBeLessThan(1e-4);
    });
  }
});
