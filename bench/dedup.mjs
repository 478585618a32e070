// dedupCodes (TIGER's level numbering the items that share an ID) against the numpy a user would
// write (unique rows or one int64 key per row, stable sort, count within each run), on the same codes in one run; the
// numbers must be equal. Usage: node bench/dedup.mjs [rows=2200000] [levels=2] [codebook=256] [reps=5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dedupCodes, readNpy, writeNpy } from '../dist/index.js';
import { appendResults, pythonHas, runPython } from './lib.mjs';

const rows = Number(process.argv[2] ?? 2_200_000), levels = Number(process.argv[3] ?? 2), K = Number(process.argv[4] ?? 256), reps = Number(process.argv[5] ?? 5);
// codes with RQ-KMeans-like skew: a few heavy cells and a long tail, so that many IDs are shared
let a = 7 >>> 0;
const next = () => { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; return a / 2 ** 32; };
const codes = new Int32Array(rows * levels);
for (let i = 0; i < codes.length; i++) codes[i] = Math.min(K - 1, Math.floor(K * next() ** 2));
const ours = [];
let result;
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  result = dedupCodes(codes, levels);
  ours.push(performance.now() - t0);
}
const med = (v) => { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]; };
const shape = `${rows} x ${levels} (codebook ${K})`;
const table = [{ name: 'dedupCodes', shape, ms: med(ours) }];
const notes = [`${result.sharedIds} IDs shared by several rows, largest bucket ${result.suffixSize}; medians of ${reps} reps`];
if (pythonHas('numpy')) {
  const dir = mkdtempSync(join(tmpdir(), 'semid-bench-dedup-'));
  try {
    writeNpy(join(dir, 'codes.npy'), codes, [rows, levels]);
    const peer = runPython('numpy_dedup.py', [join(dir, 'codes.npy'), join(dir, 'numbers.npy'), String(reps)], 1);
    const numbers = readNpy(join(dir, 'numbers.npy')).data;
    let same = numbers.length === rows;
    for (let i = 0; same && i < rows; i++) same = numbers[i] === result.codes[i * (levels + 1) + levels];
    table.push({ name: 'numpy: np.unique over rows, stable argsort, run counts', shape, ms: med(peer.rows) });
    table.push({ name: 'numpy: one int64 key per row, np.unique, stable argsort, run counts', shape, ms: med(peer.key) });
    notes.push(same ? 'numpy gives the same numbers' : 'NUMBERS DIFFER from numpy');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  notes.push('numpy peer not run (/usr/bin/python3 without numpy)');
}
appendResults('Dedup level (dedupCodes) against numpy (bench/dedup)', table, 'dedupCodes', notes);
