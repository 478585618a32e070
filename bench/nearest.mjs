// nearestCentroids: semid's fused kernel against the floor (numpy's OpenBLAS sgemm of the same
// product), numpy's full assignment, ml-matrix (mmul + argmin) and a plain JS loop; same data,
// same threads, same run. Target: semid within 1.5x of the numpy sgemm time on 62,138 x 768.
import { Matrix } from 'ml-matrix';
import os from 'node:os';
import { join } from 'node:path';
import { nearestCentroids } from '../dist/index.js';
import { appendResults, pythonHas, randomFloats, root, runPython, runSuite, writeNpyF32 } from './lib.mjs';

const threads = os.cpus().length;

function jsNearest(x, c, n, k, d) {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = Infinity, bi = 0;
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let p = 0; p < d; p++) { const t = x[i * d + p] - c[j * d + p]; s += t * t; }
      if (s < best) { best = s; bi = j; }
    }
    idx[i] = bi;
  }
  return idx;
}

/**
 * Exactness on data far from the origin (4,096 x 64 vs 256 centroids, every value 100 + U(-1, 1)),
 * where the float32 expansion |x|² − 2x·c + |c|² rounds by more than the gap between neighbours:
 * rows whose nearest centroid differs from the exact (float64) argmin, per method, same data.
 */
async function exactness() {
  const n = 4096, d = 64, k = 256;
  const x = randomFloats(n * d, 5).map((v) => 100 + v), c = randomFloats(k * d, 6).map((v) => 100 + v);
  const xp = join(root, '.bench-data', 'near-offset-x.npy'), cp = join(root, '.bench-data', 'near-offset-c.npy');
  writeNpyF32(xp, x, [n, d]);
  writeNpyF32(cp, c, [k, d]);
  const py = runPython('nearest_exactness.py', [xp, cp], threads);
  const ours = await nearestCentroids(x, c, { dim: d, device: 'cpu', threads });
  let wrong = 0;
  for (let i = 0; i < n; i++) wrong += Number(ours.indices[i] !== py.exact[i]);
  const peers = ['numpy_expansion', 'faiss', 'sklearn'].filter((m) => m in py).map((m) => `${m.replace('_', ' ')} ${py[m]}`);
  return `exactness on ${n}×${d} vs ${k} centroids, every value 100 + U(-1, 1): rows whose nearest centroid is not the exact (float64) one: semid ${wrong}, ${peers.join(', ')}`;
}

export async function run() {
  const rows = [];
  const notes = [`threads: ${threads} for semid and for OpenBLAS (OPENBLAS_NUM_THREADS)`];
  for (const [n, withJs] of [[2048, true], [62138, false]]) {
    const k = 256, d = 768, shape = `${n}×${d} vs ${k} centroids`;
    const x = randomFloats(n * d, 3), c = randomFloats(k * d, 4);
    console.log(`nearest ${shape}, ${threads} threads`);
    const cases = { 'semid nearestCentroids': () => nearestCentroids(x, c, { dim: d, device: 'cpu', threads }) };
    if (withJs) {
      const xm = new Matrix(n, d), ct = new Matrix(d, k);
      for (let i = 0; i < n; i++) for (let p = 0; p < d; p++) xm.set(i, p, x[i * d + p]);
      for (let j = 0; j < k; j++) for (let p = 0; p < d; p++) ct.set(p, j, c[j * d + p]);
      cases['ml-matrix mmul + argmin'] = () => {
        const dots = xm.mmul(ct);
        const out = new Int32Array(n);
        for (let i = 0; i < n; i++) {
          let best = Infinity;
          for (let j = 0; j < k; j++) { const v = -2 * dots.get(i, j); if (v < best) { best = v; out[i] = j; } }
        }
        return out;
      };
      cases['plain JS loop'] = () => jsNearest(x, c, n, k, d);
    }
    const res = await runSuite(`nearest ${n}`, cases, { minSamples: withJs ? 3 : 5, maxTime: withJs ? 3 : 6 });
    for (const [name, r] of Object.entries(res)) rows.push({ name, shape, ms: r.meanMs });
    if (pythonHas('numpy')) {
      const xp = join(root, '.bench-data', `near-x-${n}.npy`), cp = join(root, '.bench-data', `near-c-${n}.npy`);
      writeNpyF32(xp, x, [n, d]);
      writeNpyF32(cp, c, [k, d]);
      const py = runPython('numpy_gemm.py', [xp, cp, '7'], threads);
      rows.push({ name: `numpy X @ C.T (sgemm floor)`, shape, ms: py.sgemm_ms });
      rows.push({ name: `numpy full assignment (norms, sgemm, argmin)`, shape, ms: py.assign_ms });
      if (n === 62138) {
        const ours = res['semid nearestCentroids'].meanMs;
        const ratio = ours / py.sgemm_ms;
        notes.push(`target: semid nearestCentroids / numpy sgemm on ${shape} = ${ratio.toFixed(2)} (goal <= 1.5): ${ratio <= 1.5 ? 'met' : 'NOT met'}; numpy BLAS: ${py.blas}`);
      }
    } else {
      notes.push('numpy peer skipped: /usr/bin/python3 has no numpy (apt-get install python3-numpy)');
    }
  }
  if (pythonHas('numpy')) notes.push(await exactness());
  appendResults('nearestCentroids (CPU)', rows, 'semid nearestCentroids', notes);
}
