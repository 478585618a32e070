import { describe, expect, it, afterEach } from 'vitest';
import { gemm, gemmReference } from '../src/index.js';
import { loadAddon } from '../src/native/loader.js';
import { maxAbsDiff, randomFloats, randomInts } from './helpers.js';

const shapes: Array<[number, number, number]> = [
  [1, 1, 1], [1, 7, 1], [5, 1, 3], [7, 5, 3], [6, 16, 256], [13, 17, 300], [67, 129, 65], [130, 33, 517], [145, 2049, 9],
];

describe('gemm parity with the TypeScript reference', () => {
  for (const [m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`m=${m} n=${n} k=${k} transA=${transA} transB=${transB} (integers: exact)`, async () => {
          const a = randomInts(m * k, m * 31 + k), b = randomInts(k * n, n * 17 + k);
          const want = gemmReference(a, b, { m, n, k, transA, transB });
          for (const impl of ['native', 'auto'] as const) {
            const got = await gemm(a, b, { m, n, k, transA, transB, impl, device: 'cpu' });
            expect(maxAbsDiff(got, want)).toBe(0);
          }
        });
      }
    }
  }

  it('random floats: relative error within float32 rounding', async () => {
    const m = 97, n = 203, k = 771;
    const a = randomFloats(m * k, 1), b = randomFloats(n * k, 2);
    const want = gemmReference(a, b, { m, n, k, transB: true });
    const got = await gemm(a, b, { m, n, k, transB: true, impl: 'native', device: 'cpu' });
    // |error| <= k * eps * sum|a||b| bound; sum|a||b| ~ k/4 for uniform [-1,1).
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * Math.sqrt(k));
  });

  it('alpha, beta and an existing output', async () => {
    const m = 9, n = 11, k = 13;
    const a = randomInts(m * k, 3), b = randomInts(k * n, 4), c0 = randomInts(m * n, 5);
    const want = gemmReference(a, b, { m, n, k, alpha: 2, beta: -0.5, out: c0.slice() });
    const got = await gemm(a, b, { m, n, k, alpha: 2, beta: -0.5, out: c0.slice(), device: 'cpu', impl: 'native' });
    expect(maxAbsDiff(got, want)).toBe(0);
  });

  it('batched, with B broadcast and with A broadcast', async () => {
    const batch = 3, m = 10, n = 20, k = 30;
    const aBatch = randomInts(batch * m * k, 6), bOne = randomInts(k * n, 7);
    const got = await gemm(aBatch, bOne, { m, n, k, batch, device: 'cpu', impl: 'native' });
    for (let i = 0; i < batch; i++) {
      const want = gemmReference(aBatch.subarray(i * m * k, (i + 1) * m * k), bOne, { m, n, k });
      expect(maxAbsDiff(got.subarray(i * m * n, (i + 1) * m * n), want)).toBe(0);
    }
    const aOne = randomInts(m * k, 8), bBatch = randomInts(batch * n * k, 9);
    const got2 = await gemm(aOne, bBatch, { m, n, k, batch, transB: true, device: 'cpu' });
    for (let i = 0; i < batch; i++) {
      const want = gemmReference(aOne, bBatch.subarray(i * n * k, (i + 1) * n * k), { m, n, k, transB: true });
      expect(maxAbsDiff(got2.subarray(i * m * n, (i + 1) * m * n), want)).toBe(0);
    }
  });

  it('k = 0 gives beta * C; m = 0 gives an empty result', async () => {
    const c = new Float32Array([1, 2, 3, 4]);
    const got = await gemm(new Float32Array(0), new Float32Array(0), { m: 2, n: 2, k: 0, beta: 2, out: c });
    expect(Array.from(got)).toEqual([2, 4, 6, 8]);
    expect((await gemm(new Float32Array(0), new Float32Array(6), { m: 0, n: 2, k: 3 })).length).toBe(0);
    // Every empty operand, stored either way and batched: a 0 x k or m x 0 matrix holds nothing
    // (they were refused as too short, "a has 0 elements, needs 64", whenever one was transposed).
    for (const transA of [false, true]) for (const transB of [false, true]) for (const batch of [1, 3]) {
      expect((await gemm(new Float32Array(0), new Float32Array(batch * 31 * 64), { m: 0, n: 31, k: 64, transA, transB, batch })).length).toBe(0);
      expect((await gemm(new Float32Array(batch * 5 * 9), new Float32Array(0), { m: 5, n: 0, k: 9, transA, transB, batch })).length).toBe(0);
      const out = new Float32Array(batch * 3 * 2).fill(1);
      expect(Array.from(await gemm(new Float32Array(0), new Float32Array(0), { m: 3, n: 2, k: 0, transA, transB, batch, beta: 0.5, out })))
        .toEqual(new Array(batch * 6).fill(0.5));
    }
  });

  it('writes nothing outside the output (sentinels around it)', async () => {
    const m = 37, n = 45, k = 19, pad = 64;
    const big = new Float32Array(m * n + 2 * pad).fill(-12345);
    const out = big.subarray(pad, pad + m * n);
    await gemm(randomFloats(m * k, 10), randomFloats(k * n, 11), { m, n, k, out, device: 'cpu', impl: 'native' });
    for (let i = 0; i < pad; i++) {
      expect(big[i]).toBe(-12345);
      expect(big[pad + m * n + i]).toBe(-12345);
    }
  });

  it('threads = 1 and threads = N give identical results', async () => {
    const m = 301, n = 257, k = 300;
    const a = randomFloats(m * k, 12), b = randomFloats(k * n, 13);
    const one = await gemm(a, b, { m, n, k, threads: 1, impl: 'native', device: 'cpu' });
    for (const threads of [2, 3, 8]) {
      const many = await gemm(a, b, { m, n, k, threads, impl: 'native', device: 'cpu' });
      expect(maxAbsDiff(one, many)).toBe(0);
    }
  });

  describe('SIMD paths agree (SEMID_SIMD lowers the path)', () => {
    afterEach(() => { delete process.env.SEMID_SIMD; });
    it('scalar equals the detected path on integer data', async () => {
      const m = 50, n = 70, k = 90;
      const a = randomInts(m * k, 14), b = randomInts(k * n, 15);
      const best = await gemm(a, b, { m, n, k, impl: 'native', device: 'cpu' });
      process.env.SEMID_SIMD = 'scalar';
      expect(loadAddon().addon.info().simd).toBe('scalar');
      const scalar = await gemm(a, b, { m, n, k, impl: 'native', device: 'cpu' });
      expect(maxAbsDiff(best, scalar)).toBe(0);
    });
  });
});
