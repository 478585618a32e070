// Truncated SVD: semid (the method auto picks, and the others) against scikit-learn
// TruncatedSVD (randomized and arpack), numpy's full SVD and numpy's Gram route, and ml-matrix's
// SVD, on the same data in the same run: 62,138 x {384, 640, 768} embedding-like rows to rank 256,
// and the TF-IDF matrix (words and bigrams, sublinear tf, L2 rows) of ml-latest-small's titles,
// genres and tags to rank 256. Time and relative reconstruction error 1 - |X Vᵀ|² / |X|².
// Targets: dense tall at most 1.0x numpy's Gram route at the optimal error; sparse at most 0.5x
// scikit-learn's randomized at equal error.
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { truncatedSvd } from '../dist/index.js';
import { appendResults, pythonHas, root, runPython, writeNpyF32 } from './lib.mjs';

const threads = os.cpus().length;
const dataDir = join(root, '.bench-data');

function embeddingLike(n, d, seed) {
  let a = seed >>> 0;
  const rnd = () => { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; return a / 4294967296; };
  const g = () => Math.sqrt(-2 * Math.log(rnd() || 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const topics = 2000, centres = Float32Array.from({ length: topics * d }, g);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const t = Math.floor(rnd() * topics);
    let norm = 0;
    for (let j = 0; j < d; j++) { const v = centres[t * d + j] + 0.8 * g(); x[i * d + j] = v; norm += v * v; }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) x[i * d + j] /= norm;
  }
  return x;
}

function relErr(x, projected) {
  let xx = 0, pp = 0;
  for (let i = 0; i < x.length; i++) xx += x[i] * x[i];
  for (let i = 0; i < projected.length; i++) pp += projected[i] * projected[i];
  return 1 - pp / xx;
}

/** TF-IDF (words + bigrams, sublinear tf, smooth idf, L2 rows) of ml-latest-small's item texts. */
function tfidfMovieLens() {
  const dir = join(root, '..', 'shared', 'data', 'ml-latest-small');
  if (!existsSync(join(dir, 'movies.csv'))) return null;
  const parseCsv = (text) => {
    const rows = [];
    let row = [], field = '', quoted = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else if (ch !== '\r') field += ch;
    }
    if (field || row.length) { row.push(field); rows.push(row); }
    return rows.slice(1);
  };
  const movies = parseCsv(readFileSync(join(dir, 'movies.csv'), 'utf8'));
  const text = new Map(movies.map(([id, title, genres]) => [id, `${title} ${genres.replaceAll('|', ' ')}`]));
  for (const [, movieId, tag] of parseCsv(readFileSync(join(dir, 'tags.csv'), 'utf8'))) if (text.has(movieId)) text.set(movieId, `${text.get(movieId)} ${tag}`);
  const docs = [...text.values()].map((t) => {
    const words = t.toLowerCase().match(/[a-z0-9]{2,}/g) ?? [];
    const terms = [...words];
    for (let i = 0; i + 1 < words.length; i++) terms.push(`${words[i]} ${words[i + 1]}`);
    return terms;
  });
  const vocab = new Map(), df = [];
  for (const terms of docs) for (const t of new Set(terms)) { if (!vocab.has(t)) { vocab.set(t, vocab.size); df.push(0); } df[vocab.get(t)]++; }
  const n = docs.length, d = vocab.size;
  const indptr = new Int32Array(n + 1), indices = [], values = [];
  docs.forEach((terms, i) => {
    const tf = new Map();
    for (const t of terms) tf.set(vocab.get(t), (tf.get(vocab.get(t)) ?? 0) + 1);
    const cols = [...tf.keys()].sort((a, b) => a - b);
    const w = cols.map((c) => (1 + Math.log(tf.get(c))) * (Math.log((1 + n) / (1 + df[c])) + 1));
    const norm = Math.sqrt(w.reduce((s, v) => s + v * v, 0));
    cols.forEach((c, k) => { indices.push(c); values.push(w[k] / norm); });
    indptr[i + 1] = indices.length;
  });
  return { rows: n, cols: d, indptr, indices: Int32Array.from(indices), values: Float32Array.from(values) };
}

async function time(fn) {
  const t = performance.now();
  const r = await fn();
  return { ms: performance.now() - t, r };
}

/** Median time of `runs` runs (this machine's speed drifts), with the last result. */
async function median(runs, fn) {
  const times = [];
  let r;
  for (let i = 0; i < runs; i++) ({ ms: times[i], r } = await time(fn));
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(runs / 2)], r };
}

export async function run() {
  mkdirSync(dataDir, { recursive: true });
  const rows = [];
  const havePy = pythonHas('numpy', 'sklearn', 'scipy');
  const notes = [`threads: ${threads} for semid and for OpenBLAS (OPENBLAS_NUM_THREADS); errors: 1 - |X Vᵀ|² / |X|²; semid auto and numpy-gram: median of 3 runs, the others one run`];
  if (!havePy) notes.push('Python peers skipped: /usr/bin/python3 with numpy, scikit-learn and scipy not found (apt-get install python3-sklearn python3-scipy)');
  const n = 62138, rank = 256;
  for (const d of [384, 640, 768]) {
    const x = embeddingLike(n, d, d);
    const shape = `${n}×${d} → ${rank}`;
    const path = join(dataDir, `svd-${d}.npy`);
    writeNpyF32(path, x, [n, d]);
    console.log(`svd ${shape}`);
    for (const method of ['auto', 'randomized']) {
      // The Gram route (cheap) is timed 3 times and reported by its median, as numpy's Gram route is.
      const { ms, r } = await median(method === 'auto' ? 3 : 1, () => truncatedSvd({ data: x, rows: n, cols: d }, { rank, method, threads, powerIters: method === 'randomized' ? 5 : undefined }));
      const err = relErr(x, r.projected);
      rows.push({ name: `semid ${method === 'auto' ? `auto (${r.method})` : `${method}, 5 power iterations`}`, shape, ms, err });
      console.log(`  semid ${method} (${r.method}) ${ms.toFixed(0)} ms err ${err.toFixed(6)}`);
    }
    if (havePy) {
      const peers = runPython('svd_peers.py', ['dense', path, String(rank), 'numpy-gram,numpy-svd,sklearn-randomized' + (d === 384 ? ',sklearn-arpack' : '')], threads);
      for (const [name, p] of Object.entries(peers)) { rows.push({ name, shape, ms: p.seconds * 1e3, err: p.rel_err }); console.log(`  ${name} ${(p.seconds * 1e3).toFixed(0)} ms err ${p.rel_err.toFixed(6)}`); }
    }
  }
  {
    // ml-matrix's full SVD on a slice it can finish (it is a plain JS Golub-Kahan).
    const m = 4000, d = 384, x = embeddingLike(m, d, 5), shape = `${m}×${d} → 64 (ml-matrix slice)`;
    const mm = new Matrix(m, d);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) mm.set(i, j, x[i * d + j]);
    const ours = await time(() => truncatedSvd({ data: x, rows: m, cols: d }, { rank: 64, threads }));
    rows.push({ name: `semid auto (${ours.r.method})`, shape, ms: ours.ms, err: relErr(x, ours.r.projected) });
    const t = performance.now();
    const svd = new SingularValueDecomposition(mm, { computeLeftSingularVectors: false, autoTranspose: true });
    const ms = performance.now() - t;
    const V = svd.rightSingularVectors;
    const proj = new Float32Array(m * 64);
    for (let i = 0; i < m; i++) for (let c = 0; c < 64; c++) { let s = 0; for (let j = 0; j < d; j++) s += x[i * d + j] * V.get(j, c); proj[i * 64 + c] = s; }
    rows.push({ name: 'ml-matrix SingularValueDecomposition', shape, ms, err: relErr(x, proj) });
  }
  const tfidf = tfidfMovieLens();
  if (tfidf) {
    const shape = `TF-IDF ml-latest-small ${tfidf.rows}×${tfidf.cols}, nnz ${tfidf.values.length} → ${rank}`;
    console.log(`svd ${shape}`);
    const prefix = join(dataDir, 'tfidf');
    writeNpyF32(`${prefix}.data.npy`, tfidf.values, [tfidf.values.length]);
    writeFileSync(`${prefix}.indices.npy`, npyInt32(tfidf.indices));
    writeFileSync(`${prefix}.indptr.npy`, npyInt32(tfidf.indptr));
    writeFileSync(`${prefix}.shape.npy`, npyInt32(Int32Array.from([tfidf.rows, tfidf.cols])));
    let xx = 0;
    for (const v of tfidf.values) xx += v * v;
    for (const powerIters of [5, 7]) {
      const { ms, r } = await time(() => truncatedSvd(tfidf, { rank, threads, powerIters }));
      let pp = 0;
      for (const v of r.projected) pp += v * v;
      rows.push({ name: `semid sparse randomized, ${powerIters} power iterations`, shape, ms, err: 1 - pp / xx });
      console.log(`  semid sparse (${powerIters}) ${ms.toFixed(0)} ms err ${(1 - pp / xx).toFixed(6)}`);
    }
    if (havePy) {
      const peers = runPython('svd_peers.py', ['sparse', prefix, String(rank), 'sklearn-randomized,sklearn-arpack'], threads);
      for (const [name, p] of Object.entries(peers)) rows.push({ name, shape, ms: p.seconds * 1e3, err: p.rel_err });
    }
  } else {
    notes.push('TF-IDF case skipped: ../shared/data/ml-latest-small not found');
  }
  for (const r of rows) r.name = `${r.name} (err ${r.err.toFixed(6)})`;
  appendResults('Truncated SVD (CPU)', rows, (r) => r.name.startsWith('semid auto') || r.name.startsWith('semid sparse randomized, 5'), notes);
}

function npyInt32(arr) {
  let header = `{'descr': '<i4', 'fortran_order': False, 'shape': (${arr.length},), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)]);
}
