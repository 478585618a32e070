// CUDA backend parity against the CPU backend; skipped where no device is visible (CI, laptops).
import { describe, expect, it } from 'vitest';
import { cudaAvailable, gemm, nearestCentroids } from '../src/index.js';
import { maxAbsDiff, randomFloats, randomInts } from './helpers.js';

describe.skipIf(!cudaAvailable())('CUDA parity with the CPU backend', () => {
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [7, 5, 3], [130, 33, 517], [257, 300, 64], [1000, 256, 768]];
  for (const [m, n, k] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`gemm m=${m} n=${n} k=${k} tA=${transA} tB=${transB} (integers: exact)`, async () => {
          const a = randomInts(m * k, m + k), b = randomInts(k * n, n + k);
          const cpu = await gemm(a, b, { m, n, k, transA, transB, device: 'cpu', impl: 'native' });
          const gpu = await gemm(a, b, { m, n, k, transA, transB, device: 'cuda' });
          expect(maxAbsDiff(cpu, gpu)).toBe(0);
        });
      }
    }
  }
  for (const [n, d, k, topk] of [[1, 1, 1, 1], [333, 7, 300, 1], [500, 130, 257, 1], [129, 64, 256, 5], [200, 33, 1000, 32], [50, 16, 2000, 100], [5000, 768, 256, 1]]) {
    it(`nearest n=${n} d=${d} k=${k} topk=${topk} (integers: exact)`, async () => {
      const x = randomInts(n * d, n), c = randomInts(k * d, k);
      const cpu = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
      const gpu = await nearestCentroids(x, c, { dim: d, topk, device: 'cuda' });
      expect(Array.from(gpu.indices)).toEqual(Array.from(cpu.indices));
      expect(Array.from(gpu.distances)).toEqual(Array.from(cpu.distances));
    });
    it(`nearest n=${n} d=${d} k=${k} topk=${topk} (floats: distances within 1e-4)`, async () => {
      const x = randomFloats(n * d, n), c = randomFloats(k * d, k);
      const cpu = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
      const gpu = await nearestCentroids(x, c, { dim: d, topk, device: 'cuda' });
      expect(maxAbsDiff(cpu.distances, gpu.distances)).toBeLessThan(1e-4 * d);
    });
  }
});
