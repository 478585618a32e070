// RQ-KMeans (2 x 256, greedy, 20 iterations per level) on 62,138 x {384, 768}: semid against
// FAISS ResidualQuantizer and scikit-learn KMeans per level (random and k-means++ init) through
// /usr/bin/python3, same .npy data, same threads, same run; and against ml-kmeans per level on a
// smaller shape (pure JS is too slow for the full one). Target: total time <= 0.5 x the fastest
// peer at relative error <= that peer's + 0.5% (absolute).
import { kmeans } from 'ml-kmeans';
import os from 'node:os';
import { join } from 'node:path';
import { RQKMeans } from '../dist/index.js';
import { appendResults, pythonHas, root, runPython, writeNpyF32 } from './lib.mjs';

const threads = os.cpus().length;
const LEVELS = 2, K = 256, ITERS = 20;

/** Embedding-like data: 2,000 latent topics, noisy members, rows L2-normalised. */
export function embeddingLike(n, d, seed) {
  let s = seed >>> 0;
  const uni = () => { s = (s + 0x6d2b79f5) >>> 0; let t = Math.imul(s ^ (s >>> 15), s | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(uni() || 1e-12)) * Math.cos(2 * Math.PI * uni());
  const topics = 2000;
  const centres = new Float32Array(topics * d).map(() => gauss());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(uni() * topics);
    let norm = 0;
    for (let j = 0; j < d; j++) { const v = centres[c * d + j] + 0.8 * gauss(); x[i * d + j] = v; norm += v * v; }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) x[i * d + j] /= norm;
  }
  return x;
}

async function semid(x, d, device, tol = 0) {
  await RQKMeans.train(x.subarray(0, 4096 * d), { dim: d, levels: 1, codebookSize: K, iters: 2, threads, device }); // warm-up
  const t0 = performance.now();
  const model = await RQKMeans.train(x, { dim: d, levels: LEVELS, codebookSize: K, iters: ITERS, tol, seed: 1, threads, device });
  const train = (performance.now() - t0) / 1e3;
  const t1 = performance.now();
  const codes = await model.encode(x, { threads, device });
  const encode = (performance.now() - t1) / 1e3;
  return { train, encode, total: train, relErr: model.stats(x, model.trainingCodes ?? codes).totalRelativeError };
}

function mlKmeansRq(x, n, d) {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(x.subarray(i * d, (i + 1) * d)));
  let sq = 0;
  for (const r of rows) for (const v of r) sq += v * v;
  const t0 = performance.now();
  for (let level = 0; level < LEVELS; level++) {
    // ml-kmeans's own k-means++ took 12.8 s for 2,048 x 128 here: random init.
    const res = kmeans(rows, K, { maxIterations: ITERS, initialization: 'random', seed: level + 1, tolerance: 0 });
    for (let i = 0; i < n; i++) {
      const c = res.centroids[res.clusters[i]];
      for (let j = 0; j < d; j++) rows[i][j] -= c[j];
    }
  }
  const train = (performance.now() - t0) / 1e3;
  let err = 0;
  for (const r of rows) for (const v of r) err += v * v;
  return { train, encode: 0, total: train, relErr: err / sq };
}

export async function run() {
  const rows = [];
  const notes = [`threads: ${threads} for every peer; ${LEVELS} levels x ${K}, ${ITERS} iterations per level, greedy encoding; semid tol=0 stops early only when no row changes cluster, tol 1e-3 when an iteration lowers the inertia by less than 0.1%`,
    'semid total = training, which returns the training rows\' codes; its separate encode pass is listed for reference'];
  const havePeers = pythonHas('numpy', 'faiss', 'sklearn');
  if (!havePeers) notes.push('FAISS / scikit-learn peers skipped: apt-get install python3-faiss python3-sklearn (run with /usr/bin/python3)');
  for (const d of [384, 768]) {
    const n = 62138, shape = `${n}×${d}`;
    const x = embeddingLike(n, d, 42 + d);
    console.log(`rqkmeans ${shape}`);
    // semid runs before and after the peers; its time is the mean of the two (the machine's
    // speed drifts for minutes at a time). Two settings: tol 0 (every level runs its 20
    // iterations, as the peers do) and tol 1e-3 (a level stops once an iteration lowers the
    // inertia by less than 0.1%; the error must still be within the target's allowance).
    const configs = [{ tol: 0, name: 'semid RQKMeans (CPU)' }, { tol: 1e-3, name: 'semid RQKMeans (CPU), tol 1e-3' }];
    const ours = [];
    for (const c of configs) {
      const before = await semid(x, d, 'cpu', c.tol);
      console.log(`  ${c.name}: train ${before.train.toFixed(2)} s, encode ${before.encode.toFixed(2)} s, rel err ${before.relErr.toFixed(4)}`);
      const r = { ...before, before: before.train };
      ours.push({ ...c, r });
      rows.push({ name: c.name, shape, ms: r.total * 1e3, extra: r });
    }
    if (havePeers) {
      const path = join(root, '.bench-data', `rq-${n}-${d}.npy`);
      writeNpyF32(path, x, [n, d]);
      const py = runPython('rq_peers.py', [path, String(LEVELS), String(K), String(ITERS), String(threads), 'faiss,sklearn_random,sklearn_k-means++'], threads);
      for (const [name, label] of [['faiss', `FAISS ${py.faiss?.version} ResidualQuantizer`], ['sklearn_random', 'scikit-learn KMeans per level, random init'], ['sklearn_k-means++', 'scikit-learn KMeans per level, k-means++']]) {
        const r = py[name];
        if (!r) continue;
        console.log(`  ${label}: train ${r.train_s.toFixed(2)} s, encode ${r.encode_s.toFixed(2)} s, rel err ${r.rel_err.toFixed(4)}`);
        rows.push({ name: label, shape, ms: (r.train_s + r.encode_s) * 1e3, extra: { train: r.train_s, encode: r.encode_s, relErr: r.rel_err } });
      }
      const peers = rows.filter((r) => r.shape === shape && !r.name.startsWith('semid'));
      const fastest = peers.reduce((a, b) => (a.ms < b.ms ? a : b));
      for (const o of ours) {
        const after = await semid(x, d, 'cpu', o.tol);
        console.log(`  ${o.name} again: train ${after.train.toFixed(2)} s`);
        o.r.train = o.r.total = (o.r.before + after.train) / 2;
        rows.find((r) => r.extra === o.r).ms = o.r.total * 1e3;
        notes.push(`${o.name} on ${shape}: ${o.r.before.toFixed(2)} s before the peers, ${after.train.toFixed(2)} s after; the table uses the mean`);
        const ratio = o.r.total * 1e3 / fastest.ms;
        const errOk = o.r.relErr <= fastest.extra.relErr + 0.005;
        notes.push(`target on ${shape}, ${o.name}: semid / fastest peer (${fastest.name}) = ${ratio.toFixed(2)} (goal <= 0.5), rel err ${o.r.relErr.toFixed(4)} vs ${fastest.extra.relErr.toFixed(4)} (+0.005 allowed): ${ratio <= 0.5 && errOk ? 'met' : 'NOT met'}`);
      }
    }
  }
  // ml-kmeans (pure JS) on a shape it can finish.
  {
    const n = 4096, d = 128, shape = `${n}×${d}`;
    const x = embeddingLike(n, d, 7);
    console.log(`rqkmeans ${shape} (ml-kmeans comparison)`);
    const ours = await semid(x, d, 'cpu');
    rows.push({ name: 'semid RQKMeans (CPU)', shape, ms: ours.total * 1e3, extra: ours });
    const js = mlKmeansRq(x, n, d);
    console.log(`  semid ${ours.total.toFixed(2)} s (rel err ${ours.relErr.toFixed(4)}), ml-kmeans ${js.total.toFixed(2)} s (rel err ${js.relErr.toFixed(4)})`);
    rows.push({ name: 'ml-kmeans per level (random init)', shape, ms: js.total * 1e3, extra: js });
  }
  for (const r of rows) r.name = `${r.name} — train ${r.extra.train.toFixed(2)} s, encode ${r.extra.encode.toFixed(2)} s, rel err ${r.extra.relErr.toFixed(4)}`;
  appendResults('RQ-KMeans training + encoding (CPU)', rows, (r) => r.name.startsWith('semid RQKMeans'), notes, 'semid RQKMeans');
}
