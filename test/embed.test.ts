// Item embeddings: MNRL and ENMF losses against hand and naive computations, fusions, training
// lowers the loss, the sanity margins on a synthetic catalogue, and bad inputs.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TfidfVectorizer, buildJointDataset, embedStage, enmfBatchLoss, fuseConcat, fuseSvd, initRuntime, mnrlLoss, syntheticMovieLens,
  templateQuerySource, trainEnmf, writeJointDataset, topK, readMovieLens, sharedMovieLensDir, SentenceEncoder, trainBiEncoder,
} from '../src/index.js';

const shared = sharedMovieLensDir();
import { rng } from './helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'semid-embed-'));

describe('embedding losses and fusions', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('MNRL equals the hand-computed cross-entropy of scaled cosines', () => {
    const a = [[1, 0], [0.6, 0.8], [0, 2]];
    const b = [[2, 0], [0, 1], [1, 1]];
    const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
    let want = 0;
    for (let i = 0; i < 3; i++) {
      const s = b.map((bj) => 20 * unit(a[i]).reduce((acc, x, k) => acc + x * unit(bj)[k], 0));
      const lse = Math.log(s.reduce((acc, x) => acc + Math.exp(x), 0));
      want += lse - s[i];
    }
    want /= 3;
    expect(mnrlLoss(tf.tensor2d(a), tf.tensor2d(b)).dataSync()[0]).toBeCloseTo(want, 4);
  });

  it('ENMF\'s efficient loss equals the naive whole-data loss', () => {
    const r = rng(3);
    const users = 5, items = 7, d = 4, c0 = 0.3;
    const P = tf.tensor2d(Float32Array.from({ length: users * d }, () => r() - 0.5), [users, d]);
    const Q = tf.tensor2d(Float32Array.from({ length: items * d }, () => r() - 0.5), [items, d]);
    const h = tf.tensor1d(Float32Array.from({ length: d }, () => r() + 0.5));
    const batch = Int32Array.of(1, 3, 4);
    const pos: Array<[number, number]> = [[0, 2], [0, 5], [1, 0], [2, 6], [2, 1]]; // (batch row, item)
    const got = enmfBatchLoss(P, Q, h, batch, Int32Array.from(pos.map((p) => p[0])), Int32Array.from(pos.map((p) => p[1])), c0).dataSync()[0];
    const p = P.arraySync(); const q = Q.arraySync(); const hv = h.arraySync();
    const yhat = (u: number, i: number) => p[u].reduce((s, x, k) => s + x * q[i][k] * hv[k], 0);
    // Σ_pos (1 - ŷ)² + c0 Σ_neg ŷ², minus the constant Σ_pos 1
    let naive = 0;
    batch.forEach((u, k) => {
      for (let i = 0; i < items; i++) {
        const y = yhat(u, i);
        const isPos = pos.some(([row, it]) => row === k && it === i);
        naive += isPos ? (1 - y) ** 2 - 1 : c0 * y * y;
      }
    });
    expect(got).toBeCloseTo(naive, 4);
  });

  it('fusions have the documented shapes and norms', async () => {
    const r = rng(5);
    const rows = 50;
    const a = Float32Array.from({ length: rows * 12 }, () => r() - 0.5);
    const b = Float32Array.from({ length: rows * 8 }, () => r() - 0.5);
    const c = fuseConcat(a, 12, b, 8, rows);
    expect(c.length).toBe(rows * 20);
    for (let i = 0; i < rows; i++) {
      const na = Math.hypot(...c.subarray(i * 20, i * 20 + 12));
      const nb = Math.hypot(...c.subarray(i * 20 + 12, i * 20 + 20));
      expect(na).toBeCloseTo(1, 5);
      expect(nb).toBeCloseTo(1, 5);
    }
    const s = await fuseSvd(a, 12, b, 8, rows);
    expect(s.dim).toBe(8);
    expect(s.embeddings.length).toBe(rows * 8);
    for (let i = 0; i < rows; i++) expect(Math.hypot(...s.embeddings.subarray(i * 8, i * 8 + 8))).toBeLessThanOrEqual(2 + 1e-5);
    expect(() => fuseConcat(a, 12, b, 9, rows)).toThrow(/Expected Float32Array \[50 x 9\] for b/);
    // fewer items than the smaller dimension: the rank is the item count, the rest of each row zero
    const few = await fuseSvd(a.subarray(0, 5 * 12), 12, b.subarray(0, 5 * 8), 8, 5);
    expect(few.dim).toBe(8);
    expect(few.embeddings.every(Number.isFinite)).toBe(true);
    const alone = await fuseSvd(a.subarray(0, 5 * 12), 12, new Float32Array(5 * 8), 8, 5);  // the rec part zero: the reduced search part alone
    for (let i = 0; i < 5; i++) {
      const row = alone.embeddings.subarray(i * 8, i * 8 + 8);
      expect(Math.hypot(...row)).toBeCloseTo(1, 5);
      expect(Array.from(row.subarray(5))).toEqual([0, 0, 0]);
    }
  });

  it('TF-IDF matches scikit-learn\'s sublinear, smooth-idf, L2 definition', () => {
    const v = TfidfVectorizer.fit(['funny dog movie', 'scary dog', 'dog dog dog'], { bigrams: false });
    const csr = v.transform(['dog dog funny']);
    const idfDog = Math.log(4 / 4) + 1;
    const idfFunny = Math.log(4 / 2) + 1;
    const wDog = (1 + Math.log(2)) * idfDog;
    const wFunny = idfFunny;
    const norm = Math.hypot(wDog, wFunny);
    const got = new Map(Array.from(csr.indices, (c, k) => [c, csr.values[k]]));
    expect(got.get(v.vocab.get('dog')!)).toBeCloseTo(wDog / norm, 6);
    expect(got.get(v.vocab.get('funny')!)).toBeCloseTo(wFunny / norm, 6);
    expect(Array.from(topK(Float32Array.of(0.1, 0.9, 0.5, 0.9), 2))).toEqual([1, 3]);
  });

  it('TF-IDF maxFeatures keeps the terms most frequent over the corpus, as scikit-learn does', () => {
    // 'aa' is in one document three times, 'bb' in two documents once each: by count aa (3) > bb (2) > cc (1)
    const docs = ['aa aa aa bb', 'bb cc'];
    expect(TfidfVectorizer.fit(docs, { bigrams: false, maxFeatures: 1 }).toJSON().terms).toEqual(['aa']);
    expect(TfidfVectorizer.fit(docs, { bigrams: false, maxFeatures: 2 }).toJSON().terms).toEqual(['aa', 'bb']);
    // minDf first: 'aa' is in one document only
    expect(TfidfVectorizer.fit(docs, { bigrams: false, maxFeatures: 1, minDf: 2 }).toJSON().terms).toEqual(['bb']);
    expect(() => TfidfVectorizer.fit(docs, { maxFeatures: 0 })).toThrow(/maxFeatures/);
  });
});

const fixtures = join(__dirname, '..', '..', 'shared', 'fixtures');

describe('sentence-transformers encoders', () => {
  for (const name of ['bert-tiny-st', 'mpnet-tiny-st']) {
    it.skipIf(!existsSync(join(fixtures, name)))(`match sentence-transformers on ${name} (tokens exactly, embeddings within 1e-4)`, async () => {
      await initRuntime({ backend: 'wasm' });
      const fx = JSON.parse(readFileSync(join(fixtures, name, 'fixture.json'), 'utf8'));
      const enc = SentenceEncoder.load(join(fixtures, name));
      expect(Array.from(enc.tokenize(fx.texts).ids)).toEqual(fx.input_ids.flat());
      const e = enc.encode(fx.texts);
      const ref = fx.sentence_embeddings.flat() as number[];
      let num = 0;
      let den = 0;
      ref.forEach((r, i) => { num = Math.max(num, Math.abs(e[i] - r)); den = Math.max(den, Math.abs(r)); });
      expect(num / den).toBeLessThan(1e-4);
      enc.dispose();
    });

    it.skipIf(!existsSync(join(fixtures, name)))(`truncates long texts as sentence-transformers does on ${name}: model_max_length, special tokens kept`, async () => {
      await initRuntime({ backend: 'wasm' });
      const enc = SentenceEncoder.load(join(fixtures, name));
      const max = JSON.parse(readFileSync(join(fixtures, name, 'tokenizer_config.json'), 'utf8')).model_max_length as number;
      expect(enc.config.maxSeqLength).toBe(max);
      const text = Array.from({ length: 200 }, (_, i) => ['space', 'comedy', 'robots', 'desert', 'dog'][i % 5]).join(' ');
      const full = Array.from(enc.tokenizer.encode(text));
      expect(full.length).toBeGreaterThan(max);
      const short = Array.from(enc.tokenize(['dog']).ids);  // [CLS] dog [SEP]
      const { ids, length } = enc.tokenize([text, 'dog']);
      expect(length).toBe(max);
      const cut = Array.from(ids.subarray(0, max));
      expect(cut[0]).toBe(short[0]);
      expect(cut[max - 1]).toBe(short[short.length - 1]);
      expect(cut.slice(0, max - 1)).toEqual(full.slice(0, max - 1));
      const e = enc.encode([text]);
      expect(e.every(Number.isFinite)).toBe(true);
      enc.dispose();
    });
  }
});

describe('bi-encoder training with a sentence-transformers tower', () => {
  it.skipIf(!existsSync(join(fixtures, 'bert-tiny-st')))('fine-tunes the encoder on search and item pairs (one pass through the tower a batch): the loss falls', async () => {
    await initRuntime({ backend: 'wasm' });
    const enc = SentenceEncoder.load(join(fixtures, 'bert-tiny-st'), { trainable: true });
    const itemTexts = ['a dog in space', 'robots in the desert', 'a comedy about dogs', 'space robots', 'desert comedy', 'the dog and the robot'];
    const searchPairs = [
      { query: 'space dog', item: 0 }, { query: 'desert robots', item: 1 }, { query: 'funny dogs', item: 2 },
      { query: 'robots in space', item: 3 }, { query: 'comedy in the desert', item: 4 }, { query: 'dog robot', item: 5 },
    ];
    const itemPairs: Array<[number, number]> = [[0, 2], [1, 3], [4, 1], [5, 0]];
    const losses = await trainBiEncoder(enc, { searchPairs, itemPairs, itemTexts, epochs: 12, batchSize: 10, learningRate: 5e-3, seed: 3 });
    expect(losses).toHaveLength(12);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[11]).toBeLessThan(losses[0]);
    enc.dispose();
  }, 60_000);
});

describe('embedding stages on a synthetic catalogue', () => {
  it('train for real; stages need their inputs; fusions combine them', async () => {
    await initRuntime({ backend: 'wasm' });
    const run = tmp();
    const ml = syntheticMovieLens({ movies: 300, users: 300, ratingsPerUser: 40, seed: 4 });
    writeJointDataset(await buildJointDataset(ml, templateQuerySource(4), { seed: 4 }), run);
    await expect(embedStage('search', run, { epochs: 1 })).rejects.toThrow(/content-model\.json is missing: .*semid embed content --run/);
    await expect(embedStage('fused-svd', run)).rejects.toThrow(/search\.npy is missing/);
    await embedStage('content', run, { seed: 1 });
    const search = await embedStage('search', run, { seed: 1, epochs: 1 });
    const losses: number[] = [];
    const rec = await embedStage('rec', run, { seed: 1, epochs: 40, onProgress: (_s, p) => losses.push(p.meanLoss) });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(rec.metrics.popularityRecall30).not.toBeNull();
    const fused = await embedStage('fused-concat', run);
    expect(fused.dim).toBe(search.dim + rec.dim);
    // a local pretrained sentence-transformers encoder is fine-tuned instead of our tower
    if (existsSync(join(fixtures, 'bert-tiny-st'))) {
      const ft: number[] = [];
      const tuned = await embedStage('search', run, { encoder: join(fixtures, 'bert-tiny-st'), profile: 'default', epochs: 2, seed: 1, onProgress: (_s, p) => ft.push(p.loss) });
      expect(tuned.dim).toBe(32);
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      expect(mean(ft.slice(-5))).toBeLessThan(mean(ft.slice(0, 5)));
    }
  }, 240_000);

  it.skipIf(!existsSync(join(shared, 'ratings.csv')))('search-tuned beats content on search (a slice of ml-latest-small)', async () => {
    await initRuntime({ backend: 'wasm' });
    const run = tmp();
    const ml = await readMovieLens(shared);
    writeJointDataset(await buildJointDataset(ml, templateQuerySource(4), { seed: 4, maxUsers: 60 }), run);
    const content = await embedStage('content', run, { seed: 1, evalSample: 3000 });
    const search = await embedStage('search', run, { seed: 1, epochs: 1, evalSample: 3000 });
    expect(search.metrics.searchRecall30!).toBeGreaterThan(content.metrics.searchRecall30! * 1.5);
  }, 240_000);

  it.skipIf(!existsSync(join(shared, 'ratings.csv')))('ENMF beats popularity by a clear margin (ml-latest-small, 300 users)', async () => {
    await initRuntime({ backend: 'wasm' });
    const run = tmp();
    const ml = await readMovieLens(shared);
    writeJointDataset(await buildJointDataset(ml, templateQuerySource(4), { seed: 4, maxUsers: 300 }), run);
    const rec = await embedStage('rec', run, { seed: 1, epochs: 60 });
    expect(rec.metrics.recRecall30!).toBeGreaterThan(rec.metrics.popularityRecall30! * 1.2);
  }, 240_000);

  it('ENMF training lowers its loss', async () => {
    await initRuntime({ backend: 'wasm' });
    const offsets = Int32Array.of(0, 2, 3, 5);
    const itemIds = Int32Array.of(0, 1, 1, 2, 3);
    const seen: number[] = [];
    await trainEnmf({ users: 3, items: 4, offsets, itemIds }, { dim: 8, epochs: 30, batchSize: 3, learningRate: 0.05, seed: 1, onProgress: (p) => seen.push(p.loss) });
    expect(seen[seen.length - 1]).toBeLessThan(seen[0]);
    // an aborted training leaves no tensor behind
    const tensorsBefore = tf.memory().numTensors;
    const stop = new AbortController();
    await expect(trainEnmf({ users: 3, items: 4, offsets, itemIds }, { dim: 8, epochs: 30, batchSize: 1, seed: 1, signal: stop.signal, onProgress: (p) => { if (p.step === 3) stop.abort(new Error('stopped')); } })).rejects.toThrow(/stopped/);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
