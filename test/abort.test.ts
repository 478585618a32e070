import { describe, expect, it } from 'vitest';
import { gemm, nearestCentroids } from '../src/index.js';
import { randomFloats } from './helpers.js';

describe('AbortSignal and the event loop', () => {
  const n = 200_000, d = 256, k = 512; // ~50 GFLOP: seconds of work on 2 cores
  const x = randomFloats(n * d, 1), c = randomFloats(k * d, 2);

  it('an already aborted signal rejects before any work', async () => {
    const err = await nearestCentroids(x, c, { dim: d, signal: AbortSignal.abort() }).catch((e) => e);
    expect(err.name).toBe('AbortError');
  });

  it('aborting mid-run rejects with the reason, and the event loop stays free meanwhile', async () => {
    const controller = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    setTimeout(() => controller.abort(new Error('stop now')), 100);
    const err = await nearestCentroids(x, c, { dim: d, signal: controller.signal, device: 'cpu' }).catch((e) => e);
    clearInterval(timer);
    expect(err.message).toBe('stop now');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(ticks).toBeGreaterThan(5);
  });

  it('gemm aborts too', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await gemm(x, c, { m: n, n: k, k: d, transB: true, signal: controller.signal, device: 'cpu', impl: 'native' }).catch((e) => e);
    expect(err.name).toBe('AbortError');
  });
});
