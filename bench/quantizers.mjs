// The four quantizers of the study's ablation at catalogue scale, in one process: each fitted on
// 20,000 rows, then encoding and decoding 1,000,000 rows of 768 floats (3 levels of 256 codes),
// with the wasm heap they left (RQ-VAE runs in TensorFlow.js; the others on the host and native
// core). `node bench/quantizers.mjs [rows]`.
import { join } from 'node:path';
import { appendResults, root } from './lib.mjs';

const { initRuntime, RQKMeansQuantizer, DictionaryQuantizer, ResidualLFQ, RqVaeQuantizer, wasmHeapBytes } = await import(join(root, 'dist', 'index.js'));

export async function run(n = Number(process.argv[2] ?? 1_000_000)) {
  await initRuntime();
  const dim = 768, fitRows = 20_000;
  const x = new Float32Array(n * dim);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) + ((i * 2654435761) % 1000) / 1000;
  const o = { levels: 3, codebookSize: 256, seed: 1 };
  const quantizers = [
    ['RQ-KMeans (native)', (t) => RQKMeansQuantizer.fit(t, dim, o)],
    ['Dictionary', (t) => DictionaryQuantizer.fit(t, dim, { ...o, iters: 1 })],
    ['ResidualLFQ', (t) => ResidualLFQ.fit(t, dim, o)],
    ['RQ-VAE (TensorFlow.js)', (t) => RqVaeQuantizer.fit(t, dim, { ...o, iters: 1 })],
  ];
  const rows = [];
  const notes = [`${n.toLocaleString('en')} rows x ${dim} floats (${(n * dim * 4 / 2 ** 30).toFixed(1)} GiB), 3 levels x 256 codes; each fitted on the first ${fitRows.toLocaleString('en')} rows (1 training pass where it trains)`];
  for (const [name, fit] of quantizers) {
    let t = performance.now();
    const q = await fit(x.subarray(0, fitRows * dim));
    const fitMs = performance.now() - t;
    t = performance.now();
    const codes = await q.encode(x);
    const encodeMs = performance.now() - t;
    t = performance.now();
    await q.decode(codes);
    const decodeMs = performance.now() - t;
    q.dispose?.();
    rows.push({ name: `${name}: encode`, shape: `${n} x ${dim}`, ms: encodeMs });
    rows.push({ name: `${name}: decode`, shape: `${n} x ${dim} (decode)`, ms: decodeMs });
    notes.push(`${name}: fit ${(fitMs / 1e3).toFixed(1)} s, encode ${(n / (encodeMs / 1e3)).toFixed(0)} rows/s, decode ${(n / (decodeMs / 1e3)).toFixed(0)} rows/s`);
    console.log(notes[notes.length - 1]);
  }
  notes.push(`wasm heap after all four: ${((wasmHeapBytes() ?? 0) / 2 ** 20).toFixed(0)} MiB (RQ-VAE works a block of rows at a time; one [n x dim] tensor of this input does not fit the 4 GiB heap)`);
  appendResults('The ablation\'s quantizers at catalogue scale (bench/quantizers)', rows, (r) => r.name.startsWith('RQ-KMeans'), notes, 'RQ-KMeans');
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
