// gemm: semid (our kernels, and OpenBLAS when linked) against ml-matrix, a plain JS loop and
// numpy's OpenBLAS sgemm, same data, same threads, same run. C = A·Bᵀ, A n x d, B 256 x d.
import { Matrix } from 'ml-matrix';
import os from 'node:os';
import { join } from 'node:path';
import { gemm, info } from '../dist/index.js';
import { appendResults, pythonHas, randomFloats, root, runPython, runSuite, writeNpyF32 } from './lib.mjs';

const threads = os.cpus().length;

function jsLoop(a, b, m, n, k) {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
    c[i * n + j] = s;
  }
  return c;
}

export async function run() {
  const rows = [];
  const openblas = info().openblas;
  for (const [m, withJs] of [[2048, true], [62138, false]]) {
    const n = 256, k = 768, shape = `${m}×${k} · (${n}×${k})ᵀ`;
    const a = randomFloats(m * k, 1), b = randomFloats(n * k, 2);
    console.log(`gemm ${shape}, ${threads} threads`);
    const cases = {
      'semid gemm (semid kernels)': () => gemm(a, b, { m, n, k, transB: true, device: 'cpu', impl: 'native', threads }),
    };
    if (openblas) cases['semid gemm (linked OpenBLAS)'] = () => gemm(a, b, { m, n, k, transB: true, device: 'cpu', threads });
    if (withJs) {
      const am = new Matrix(m, k), bt = new Matrix(k, n);
      for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) am.set(i, p, a[i * k + p]);
      for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) bt.set(p, j, b[j * k + p]);
      cases['ml-matrix mmul'] = () => am.mmul(bt);
      cases['plain JS loop'] = () => jsLoop(a, b, m, n, k);
    }
    const res = await runSuite(`gemm ${m}`, cases, { minSamples: withJs ? 3 : 5, maxTime: withJs ? 3 : 6 });
    for (const [name, r] of Object.entries(res)) rows.push({ name, shape, ms: r.meanMs });
    if (pythonHas('numpy')) {
      const ap = join(root, '.bench-data', `gemm-a-${m}.npy`), bp = join(root, '.bench-data', `gemm-b-${m}.npy`);
      writeNpyF32(ap, a, [m, k]);
      writeNpyF32(bp, b, [n, k]);
      const py = runPython('numpy_gemm.py', [ap, bp, '7'], threads);
      console.log(`  numpy sgemm (${py.blas}) ${py.sgemm_ms.toFixed(2)} ms`);
      rows.push({ name: `numpy ${py.numpy} X @ C.T (OpenBLAS sgemm)`, shape, ms: py.sgemm_ms });
    } else {
      console.log('  numpy: skipped (/usr/bin/python3 without numpy: apt-get install python3-numpy)');
    }
  }
  appendResults('gemm (CPU)', rows, 'semid gemm (semid kernels)', [`threads: ${threads} for semid and for OpenBLAS (OPENBLAS_NUM_THREADS)`]);
}
