import { describe, expect, it, afterEach } from 'vitest';
import { nearestCentroids, nearestReference } from '../src/index.js';
import { loadAddon } from '../src/native/loader.js';
import { randomFloats, randomInts } from './helpers.js';

const cases: Array<[number, number, number, number]> = [
  // n, d, k, topk
  [1, 1, 1, 1], [100, 1, 7, 1], [333, 7, 300, 1], [97, 130, 257, 1], [129, 64, 256, 5],
  [200, 33, 1000, 32], [77, 20, 300, 50], [50, 16, 700, 100], [300, 768, 256, 1], [10, 3, 5, 5],
];

describe('nearestCentroids parity with the TypeScript reference', () => {
  for (const [n, d, k, topk] of cases) {
    it(`n=${n} d=${d} k=${k} topk=${topk}, integer data: exact indices and distances`, async () => {
      const x = randomInts(n * d, n + d), c = randomInts(k * d, k + d);
      const want = nearestReference(x, c, d, topk);
      const got = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
      expect(got.n).toBe(n);
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      expect(Array.from(got.distances)).toEqual(Array.from(want.distances));
    });

    it(`n=${n} d=${d} k=${k} topk=${topk}, float data: same ranking up to rounding`, async () => {
      const x = randomFloats(n * d, 2 * n + d), c = randomFloats(k * d, 2 * k + d);
      const want = nearestReference(x, c, d, topk);
      const got = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
      for (let e = 0; e < n * topk; e++) {
        const tol = 1e-5 * (want.distances[e] + d);
        expect(Math.abs(got.distances[e] - want.distances[e])).toBeLessThan(tol);
        // A different index can only be a near-tie: its exact distance equals the reference's.
        if (got.indices[e] !== want.indices[e]) {
          const i = Math.floor(e / topk);
          const j = got.indices[e];
          let s = 0;
          for (let p = 0; p < d; p++) s += (x[i * d + p] - c[j * d + p]) ** 2;
          expect(Math.abs(s - want.distances[e])).toBeLessThan(tol);
        }
      }
    });
  }

  for (const [n, d, k, topk] of [[1500, 64, 256, 1], [400, 7, 300, 4], [200, 1, 1000, 2]] as const) {
    it(`n=${n} d=${d} k=${k} topk=${topk}, data far from the origin: the exact nearest, not the rounded expansion's`, async () => {
      // x, c = 100 + U(-1, 1): |x|² - 2x·c + |c|² in float rounds by more than the gaps.
      const shift = (v: Float32Array) => v.map((e) => 100 + e);
      const x = shift(randomFloats(n * d, 3 * n + d)), c = shift(randomFloats(k * d, 3 * k + d));
      const want = nearestReference(x, c, d, topk);
      const got = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      for (let e = 0; e < n * topk; e++) expect(Math.abs(got.distances[e] - want.distances[e])).toBeLessThanOrEqual(2 ** -24 * (2 * d + 8) * 4e4 * d);
    });
  }

  for (const [n, d, k, topk] of [[300, 130, 2, 1], [300, 64, 3, 2], [300, 17, 5, 4], [300, 8, 5, 5]] as const) {
    it(`n=${n} d=${d} k=${k} topk=${topk}, every centroid a candidate, far from the origin: still the exact nearest`, async () => {
      // k <= topk + the extra candidates: the expanded search hands over all k, which says nothing
      // about which of them are nearest (it returned the rounded ranking: distances of ~2e4
      // for true ones of ~1e-4). x, c = 1e4 + 1e-3 U(-1, 1), so the values sit a few ulps apart.
      const shift = (v: Float32Array) => v.map((e) => 1e4 + 1e-3 * e);
      const x = shift(randomFloats(n * d, 5 * n + d)), c = shift(randomFloats(k * d, 5 * k + d));
      const want = nearestReference(x, c, d, topk);
      const got = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      for (let e = 0; e < n * topk; e++) expect(Math.abs(got.distances[e] - want.distances[e])).toBeLessThanOrEqual(1e-6 * want.distances[e] + 1e-9);
    });
  }

  it('a tie goes to the lower index', async () => {
    const x = new Float32Array([0, 0]);
    const c = new Float32Array([5, 5, 1, 0, 0, 1, -1, 0]);
    const got = await nearestCentroids(x, c, { dim: 2, topk: 3 });
    expect(Array.from(got.indices)).toEqual([1, 2, 3]);
    expect(Array.from(got.distances)).toEqual([1, 1, 1]);
  });

  it('the documented example', async () => {
    const got = await nearestCentroids(new Float32Array([0, 0, 10, 10]), new Float32Array([9, 9, 1, 0]), { dim: 2 });
    expect(Array.from(got.indices)).toEqual([1, 0]);
    expect(Array.from(got.distances)).toEqual([1, 2]);
  });

  it('n = 0 gives empty results', async () => {
    const got = await nearestCentroids(new Float32Array(0), new Float32Array(6), { dim: 3, topk: 2 });
    expect(got.n).toBe(0);
    expect(got.indices.length).toBe(0);
  });

  it('threads = 1 and threads = N give identical results', async () => {
    const n = 1000, d = 50, k = 300;
    const x = randomFloats(n * d, 20), c = randomFloats(k * d, 21);
    for (const topk of [1, 7]) {
      const one = await nearestCentroids(x, c, { dim: d, topk, threads: 1, device: 'cpu' });
      for (const threads of [2, 5]) {
        const many = await nearestCentroids(x, c, { dim: d, topk, threads, device: 'cpu' });
        expect(Array.from(many.indices)).toEqual(Array.from(one.indices));
        expect(Array.from(many.distances)).toEqual(Array.from(one.distances));
      }
    }
  });

  it('writes nothing past its outputs (raw addon with sentinel padding)', async () => {
    const n = 101, d = 9, k = 40, topk = 3, pad = 16;
    const indices = new Int32Array(n * topk + pad).fill(-7);
    const distances = new Float32Array(n * topk + pad).fill(-12345);
    await loadAddon().addon.nearest({
      x: randomFloats(n * d, 22), centroids: randomFloats(k * d, 23), n, d, k, topk, indices, distances, device: 'cpu', threads: 0,
    });
    for (let i = n * topk; i < n * topk + pad; i++) {
      expect(indices[i]).toBe(-7);
      expect(distances[i]).toBe(-12345);
    }
    for (let i = 0; i < n * topk; i++) expect(indices[i]).toBeGreaterThanOrEqual(0);
  });

  describe('SIMD paths agree', () => {
    afterEach(() => { delete process.env.SEMID_SIMD; });
    it('scalar equals the detected path on integer data', async () => {
      const n = 200, d = 40, k = 100;
      const x = randomInts(n * d, 24), c = randomInts(k * d, 25);
      const best = await nearestCentroids(x, c, { dim: d, topk: 4, device: 'cpu' });
      process.env.SEMID_SIMD = 'scalar';
      const scalar = await nearestCentroids(x, c, { dim: d, topk: 4, device: 'cpu' });
      expect(Array.from(scalar.indices)).toEqual(Array.from(best.indices));
      expect(Array.from(scalar.distances)).toEqual(Array.from(best.distances));
    });
  });
});
