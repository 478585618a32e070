// Embeddings files quantized a chunk of rows at a time: the row reader against readNpyMatrix for
// every dtype and byte order, the seeded sample, and quantizeNpyFile against RQKMeans in memory.
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RQKMeans, openNpyRows, quantizeNpyFile, readNpyMatrix, writeNpy } from '../src/index.js';
import { mulberry32, sampleSorted } from '../src/data/random.js';
import { randomFloats, rawNpy } from './helpers.js';

const tmp = (name: string) => join(tmpdir(), `semid-qfile-${process.pid}-${name}`);

describe('npy row reader', () => {
  const rows = 37, cols = 5;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => (i % 7) - 3 + (i % 3) * 0.5);
  const files: Array<[string, Buffer]> = [];
  const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const swapped = (a: ArrayBufferView, size: number) => {
    const b = Buffer.from(bytesOf(a));
    for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
    return b;
  };
  const half = new Uint16Array(values.length);  // the values are exact in float16
  values.forEach((v, i) => {
    const sign = v < 0 ? 0x8000 : 0, a = Math.abs(v);
    if (a === 0) { half[i] = sign; return; }
    const e = Math.floor(Math.log2(a));
    half[i] = sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
  });
  files.push(['<f4', rawNpy('<f4', `(${rows}, ${cols})`, bytesOf(values))]);
  files.push(['>f4', rawNpy('>f4', `(${rows}, ${cols})`, swapped(values, 4))]);
  files.push(['<f8', rawNpy('<f8', `(${rows}, ${cols})`, bytesOf(Float64Array.from(values)), false, 2)]);
  files.push(['>f8', rawNpy('>f8', `(${rows}, ${cols})`, swapped(Float64Array.from(values), 8))]);
  files.push(['<f2', rawNpy('<f2', `(${rows}, ${cols})`, bytesOf(half))]);
  files.push(['<i2', rawNpy('<i2', `(${rows}, ${cols})`, bytesOf(Int16Array.from(values, Math.round)))]);
  files.push(['|i1', rawNpy('|i1', `(${rows}, ${cols})`, bytesOf(Int8Array.from(values, Math.round)))]);
  files.push(['<i8', rawNpy('<i8', `(${rows}, ${cols})`, bytesOf(BigInt64Array.from(values, (v) => BigInt(Math.round(v)))))]);

  it('reads ranges and picked rows as readNpyMatrix does, for every dtype and byte order', () => {
    for (const [descr, bytes] of files) {
      const path = tmp(`rows-${descr.replace(/[<>|]/g, '')}-${descr[0] === '>' ? 'be' : 'le'}.npy`);
      writeFileSync(path, bytes);
      const whole = readNpyMatrix(path);
      const reader = openNpyRows(path);
      expect([reader.rows, reader.cols], descr).toEqual([rows, cols]);
      for (const [start, count] of [[0, rows], [0, 1], [36, 1], [5, 11], [37, 0]]) {
        expect(Array.from(reader.read(start, count)), `${descr} ${start}+${count}`).toEqual(Array.from(whole.data.subarray(start * cols, (start + count) * cols)));
      }
      const picked = [0, 1, 2, 9, 10, 36, 3];
      const got = reader.readRows(picked);
      picked.forEach((r, i) => expect(Array.from(got.subarray(i * cols, (i + 1) * cols)), `${descr} row ${r}`).toEqual(Array.from(whole.data.subarray(r * cols, (r + 1) * cols))));
      reader.close();
      expect(() => reader.read(0, 1)).toThrow(/closed/);
    }
  });

  it('names what it cannot read', () => {
    const path = tmp('bad.npy');
    writeNpy(path, new Float32Array(24), [2, 3, 4]);
    expect(() => openNpyRows(path)).toThrow(/expected a 2-D array/);
    writeFileSync(path, rawNpy('<f4', '(3, 2)', new Uint8Array(24), true));
    expect(() => openNpyRows(path)).toThrow(/Fortran order.*ascontiguousarray/);
    expect(() => openNpyRows(tmp('missing.npy'))).toThrow(/no such file/);
    writeNpy(path, new Float32Array(6), [3, 2]);
    const reader = openNpyRows(path);
    expect(() => reader.read(2, 2)).toThrow(/row count in \[0, 1\] for count/);
    expect(() => reader.readRows([1, 2, 3])).toThrow(/indices\[2\]/);  // 3 would extend the run 1, 2
    expect(() => reader.readRows([-1])).toThrow(/indices\[0\]/);
    reader.close();
  });
});

describe('sampleSorted', () => {
  it('draws distinct ascending indices, all of them when m = n, uniformly', () => {
    const rand = mulberry32(3);
    for (const [n, m] of [[10, 0], [10, 10], [1000, 37], [5, 4]]) {
      const s = sampleSorted(n, m, rand);
      expect(s.length).toBe(m);
      for (let i = 1; i < m; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
      if (m > 0) expect(s[m - 1]).toBeLessThan(n);
    }
    expect(Array.from(sampleSorted(6, 6, rand))).toEqual([0, 1, 2, 3, 4, 5]);
    const hits = new Float64Array(20);
    for (let t = 0; t < 4000; t++) for (const i of sampleSorted(20, 5, rand)) hits[i]++;
    for (const h of hits) expect(Math.abs(h - 1000)).toBeLessThan(150);  // each index in a quarter of the draws
    expect(() => sampleSorted(3, 4, rand)).toThrow(RangeError);
  });
});

describe('quantizeNpyFile', () => {
  it('with every row as the sample, equals RQKMeans in memory (codebooks, codes, statistics)', async () => {
    const rows = 1501, dim = 12;
    const x = randomFloats(rows * dim, 8);
    const path = tmp('q.npy');
    writeNpy(path, x, [rows, dim]);
    const settings = { levels: 3, codebookSize: 16, seed: 5 };
    const memory = await RQKMeans.train(x, { ...settings, dim });
    const memoryCodes = memory.trainingCodes ?? (await memory.encode(x));
    const chunks: number[] = [];
    const r = await quantizeNpyFile(path, { train: { ...settings, maxTrainPoints: rows }, chunkRows: 400, onChunk: (done) => chunks.push(done) });
    expect(chunks).toEqual([400, 800, 1200, 1501]);
    expect(r.trainRows).toBe(rows);
    expect(Array.from(r.model.codebooks)).toEqual(Array.from(memory.codebooks));
    expect(Array.from(r.codes.data)).toEqual(Array.from(memoryCodes.data));
    const s = memory.stats(x, memoryCodes);
    r.stats.relativeError.forEach((e, l) => expect(e).toBeCloseTo(s.relativeError[l], 9));
    expect({ ...r.stats, relativeError: 0, totalRelativeError: 0 }).toEqual({ ...s, relativeError: 0, totalRelativeError: 0 });
  });

  it('trains on a seeded sample and encodes every row; given codebooks, only encodes', async () => {
    const rows = 3000, dim = 8;
    const x = randomFloats(rows * dim, 9);
    const path = tmp('sample.npy');
    writeNpy(path, Float64Array.from(x), [rows, dim]);  // float64 on disk, float32 rows
    const a = await quantizeNpyFile(path, { train: { levels: 2, codebookSize: 8, seed: 1, maxTrainPoints: 700 }, chunkRows: 1024 });
    const b = await quantizeNpyFile(path, { train: { levels: 2, codebookSize: 8, seed: 1, maxTrainPoints: 700 }, chunkRows: 333 });
    expect(a.trainRows).toBe(700);
    expect(Array.from(a.model.codebooks)).toEqual(Array.from(b.model.codebooks));  // the sample depends on the seed only
    expect(Array.from(a.codes.data)).toEqual(Array.from((await a.model.encode(x)).data));
    expect(Array.from(b.codes.data)).toEqual(Array.from(a.codes.data));
    const c = await quantizeNpyFile(path, { train: { levels: 2, codebookSize: 8, seed: 2, maxTrainPoints: 700 } });
    expect(Array.from(c.model.codebooks)).not.toEqual(Array.from(a.model.codebooks));
    const cold = await quantizeNpyFile(path, { model: a.model, chunkRows: 128 });
    expect(cold.trainRows).toBe(0);
    expect(Array.from(cold.codes.data)).toEqual(Array.from(a.codes.data));
    await expect(quantizeNpyFile(path, { model: new RQKMeans(new Float32Array(2 * 4 * 3), 2, 4, 3) })).rejects.toThrow(/dimension 8/);
    await expect(quantizeNpyFile(path, { chunkRows: 0 })).rejects.toThrow(/chunkRows/);
    const aborted = new AbortController();
    aborted.abort(new Error('stop here'));
    await expect(quantizeNpyFile(path, { model: a.model, signal: aborted.signal })).rejects.toThrow(/stop here/);
  });
});
