// The README's library example, run with concrete data: its printed values and the calls it
// chains (RQ-KMeans codes straight into IdTrie.build, the trie into constrainedBeamSearch).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdTrie, RQKMeans, constrainedBeamSearch, gemm, nearestCentroids, readNpyMatrix, writeNpy, type StepRequest } from '../src/index.js';
import { rng } from './helpers.js';

describe('the README example', () => {
  it('gives the values its comments show', async () => {
    const x = new Float32Array([0, 0, 10, 10]);
    const centroids = new Float32Array([9, 9, 1, 0]);
    const { indices, distances } = await nearestCentroids(x, centroids, { dim: 2, topk: 1 });
    expect(Array.from(indices)).toEqual([1, 0]);
    expect(Array.from(distances)).toEqual([1, 2]);
    const c = await gemm(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([1, 0, 0, 1, 1, 1]), { m: 2, n: 2, k: 3, transB: true });
    expect(Array.from(c)).toEqual([1, 6, 4, 15]);
  });

  it('chains RQ-KMeans codes into a trie and a constrained beam search', async () => {
    const r = rng(5);
    const n = 600, dim = 8;
    const path = join(mkdtempSync(join(tmpdir(), 'semid-readme-')), 'embeddings.npy');
    writeNpy(path, new Float32Array(n * dim).map(() => r() * 2 - 1), [n, dim]);
    const emb = readNpyMatrix(path);
    const model = await RQKMeans.train(emb, { levels: 2, codebookSize: 16, seed: 1 });
    const codes = model.trainingCodes ?? (await model.encode(emb));
    expect(model.stats(emb, codes).distinctIds).toBeGreaterThan(1);
    const trie = IdTrie.build({ codes, offsets: [0, 256] });
    // The same trie as from the flat array and its length; a length that disagrees is an error.
    const flat = IdTrie.build({ codes: codes.data, length: 2, offsets: [0, 256] });
    expect(Array.from(trie.childToken)).toEqual(Array.from(flat.childToken));
    expect(Array.from(trie.idItems)).toEqual(Array.from(flat.idItems));
    expect(() => IdTrie.build({ codes, length: 3 })).toThrow(/namespace\.length/);
    // one offset per level is the length: no need to give it twice
    expect(Array.from(IdTrie.build({ codes: codes.data, offsets: [0, 256] }).childToken)).toEqual(Array.from(flat.childToken));
    expect(() => IdTrie.build({ codes: codes.data.subarray(1), offsets: [0, 256] })).toThrow(/dividing codes\.length=\d+ \(or one offset per level\) for namespace\.length/);
    expect(() => IdTrie.build([{ codes: codes.data }])).toThrow(/namespaces\[0\]\.length/);
    const eosId = 512, vocab = 513, queries = [0, 1, 2];
    const step = async ({ rows, step }: StepRequest) => new Float32Array(rows * vocab).map((_, i) => Math.sin(i * 0.37 + step));
    const results = await constrainedBeamSearch({ trie, batch: queries.length, beams: 60, groups: 30, diversityPenalty: 0.25, endToken: eosId, step });
    expect(results[0].items.length).toBeGreaterThan(0);
    const arrays = await constrainedBeamSearch({ trie, batch: queries.length, endToken: eosId, step, format: 'arrays' });
    expect(Array.from(arrays.items.subarray(arrays.itemStart[0], arrays.itemStart[1]))).toEqual(Array.from(results[0].items));
    for (const item of results[0].items) {  // every returned item's ID is its RQ-KMeans code
      const id = [codes.data[item * 2], codes.data[item * 2 + 1] + 256];
      expect(Array.from(trie.lookup(id))).toContain(item);
    }
  });
});
