import { describe, expect, it } from 'vitest';
import { Piscina } from 'piscina';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nearestCentroids } from '../src/index.js';
import { randomFloats } from './helpers.js';

const worker = fileURLToPath(new URL('./fixtures/nearest-worker.mjs', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)));

describe.skipIf(!built)('the addon in worker threads (context-aware)', () => {
  it('loads in several piscina workers at once and gives the main thread\'s answer', async () => {
    const pool = new Piscina({ filename: worker, minThreads: 3, maxThreads: 3 });
    try {
      const d = 16, x = randomFloats(500 * d, 1), centroids = randomFloats(64 * d, 2);
      const want = await nearestCentroids(x, centroids, { dim: d, device: 'cpu' });
      const results = await Promise.all([0, 1, 2, 3, 4, 5].map(() => pool.run({ x, centroids, dim: d })));
      for (const r of results) expect(Array.from(r.indices)).toEqual(Array.from(want.indices));
    } finally {
      await pool.destroy();
    }
  });
});
