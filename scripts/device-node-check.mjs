#!/usr/bin/env node
// GPU check through Node (for a device machine with node but no npm): the loader must pick the
// CUDA-enabled addon, and every CUDA entry point must agree with the CPU one. Needs dist/,
// build-cuda/ and build/ (the CPU addon) from this checkout. Ends with "N passed, N failed".
import { beamStep, constrainedBeamSearch, gemm, IdTrie, info, nearestCentroids, RQKMeans, truncatedSvd } from '../dist/index.js';

let passed = 0, failed = 0;
const check = (ok, name, detail = '') => { ok ? passed++ : failed++; console.log(`${ok ? 'OK  ' : 'FAIL'} ${name} ${detail}`); };
const ints = (n, seed) => { let s = seed; return Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return (s % 9) - 4; }); };
const floats = (n, seed) => { let s = seed; return Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 * 2 - 1; }); };

const i = info();
console.log(JSON.stringify({ addon: i.addonPath, backends: i.backends, device: i.cuda.device, simd: i.simd, threads: i.threads }));
check(i.backends.includes('cuda'), 'loader picked a CUDA-enabled addon that sees the device', i.addonPath);

for (const [m, n, k] of [[7, 5, 3], [130, 33, 517], [1000, 256, 768]]) {
  for (const transB of [false, true]) {
    const a = ints(m * k, m), b = ints(k * n, n);
    const cpu = await gemm(a, b, { m, n, k, transB, device: 'cpu', impl: 'native' });
    const gpu = await gemm(a, b, { m, n, k, transB, device: 'cuda' });
    check(cpu.every((v, e) => v === gpu[e]), `gemm ${m}x${n}x${k} transB=${transB}`);
  }
}
for (const [n, d, k, topk] of [[5000, 768, 256, 1], [200, 33, 1000, 32], [50, 16, 2000, 100]]) {
  const x = ints(n * d, n), c = ints(k * d, k);
  const cpu = await nearestCentroids(x, c, { dim: d, topk, device: 'cpu' });
  const gpu = await nearestCentroids(x, c, { dim: d, topk, device: 'cuda' });
  check(cpu.indices.every((v, e) => v === gpu.indices[e]) && cpu.distances.every((v, e) => v === gpu.distances[e]), `nearest n=${n} d=${d} k=${k} topk=${topk}`);
}
{
  const n = 62138, d = 768;
  const x = floats(n * d, 3);
  for (const device of ['cpu', 'cuda']) {
    const t = performance.now();
    const model = await RQKMeans.train(x, { dim: d, levels: 2, codebookSize: 256, iters: 20, tol: 0, seed: 1, device });
    const ms = performance.now() - t;
    const err = model.stats(x, model.trainingCodes).totalRelativeError;
    console.log(`RQKMeans ${device} 62138x768 2x256 train+codes ${ms.toFixed(1)} ms (from JS, host arrays), rel err ${err.toFixed(5)}`);
    globalThis[device] = err;
  }
  check(Math.abs(globalThis.cuda - globalThis.cpu) / globalThis.cpu < 0.01, 'RQKMeans cuda vs cpu relative error within 1%', `${globalThis.cpu} vs ${globalThis.cuda}`);
}
{
  // Beam search: the CUDA step equals the CPU step, and a whole search gives the same results.
  for (const [levels, batch, logits] of [[2, 256, true], [3, 64, false]]) {
    const codes = Int32Array.from(ints(62138 * levels, levels + 7), (v, e) => ((v + 4) * 31 + e * 17) % 256);
    const trie = IdTrie.build({ codes, length: levels });
    const depth1 = [];
    for (let u = 0; u < trie.nodes; u++) if (trie.depth[u] === 1) depth1.push(u);
    const input = {
      batch, beams: 60, groups: 30, vocab: 256, inputBeams: 60, logits, penalty: 0.25,
      scores: floats(batch * 60 * 256, 5).map((v) => (logits ? v * 4 : Math.log((v + 1) / 2 + 1e-6))),
      nodes: Int32Array.from({ length: batch * 60 }, (_, e) => depth1[(e * 7919) % depth1.length]),
      beamScores: floats(batch * 60, 9).map((v) => -Math.abs(v) * 5),
    };
    const cpu = await beamStep(trie, input, { device: 'cpu' });
    const gpu = await beamStep(trie, input, { device: 'cuda' });
    let maxErr = 0;
    for (let e = 0; e < cpu.nextScores.length; e++) if (cpu.nextScores[e] !== gpu.nextScores[e]) maxErr = Math.max(maxErr, Math.abs(cpu.nextScores[e] - gpu.nextScores[e]));
    check(cpu.nextTokens.every((v, e) => v === gpu.nextTokens[e]) && cpu.nextParents.every((v, e) => v === gpu.nextParents[e]) && maxErr <= (logits ? 1e-5 : 0),
      `beamStep cuda vs cpu L=${levels} batch=${batch} logits=${logits}`, `max score diff ${maxErr}`);
    const pool = floats(batch * 60 * 256, 11).map((v) => v * 4);
    const step = ({ rows }) => pool.subarray(0, rows * 256);
    const run = (device) => constrainedBeamSearch({ trie, step, batch, beams: 60, groups: 30, diversityPenalty: 0.25, device });
    const t0 = performance.now(); const a = await run('cpu'); const t1 = performance.now(); const b = await run('cuda'); const t2 = performance.now();
    const same = a.every((q, i) => q.items.length === b[i].items.length && q.items.every((v, e) => v === b[i].items[e]));
    check(same, `constrainedBeamSearch cuda vs cpu L=${levels} batch=${batch}`, `cpu ${(t1 - t0).toFixed(1)} ms, cuda ${(t2 - t1).toFixed(1)} ms (host logits, copies included)`);
  }
}
{
  // Truncated SVD with the dense products on the CUDA GEMM equals the CPU result.
  const n = 62138, d = 640, x = floats(n * d, 21);
  for (const method of ['gram', 'randomized']) {
    const t0 = performance.now();
    const cpu = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 256, method, device: 'cpu', powerIters: 2 });
    const t1 = performance.now();
    const gpu = await truncatedSvd({ data: x, rows: n, cols: d }, { rank: 256, method, device: 'cuda', powerIters: 2 });
    const t2 = performance.now();
    let m = 0;
    for (let i = 0; i < 256; i++) m = Math.max(m, Math.abs(cpu.singularValues[i] - gpu.singularValues[i]) / cpu.singularValues[i]);
    check(m < 1e-4, `truncatedSvd ${method} 62138x640 -> 256 cuda vs cpu`, `max rel diff ${m.toExponential(2)}; cpu ${(t1 - t0).toFixed(0)} ms, cuda ${(t2 - t1).toFixed(0)} ms`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
