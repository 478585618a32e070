// Semantic ID quantizers and strategies: planted clusters recovered, honest statistics, RQ-VAE
// without collapse, the namespaces and token counts of each construction, collisions policies.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  DictionaryQuantizer, RQKMeansQuantizer, ResidualLFQ, RqVaeQuantizer, buildIds, fitContentEncoder, initRuntime, loadIds, quantizerStats,
  readMovieLens, saveEmbeddings, saveIds, sharedMovieLensDir, saveQuantizer, loadQuantizer, type Quantizer,
} from '../src/index.js';
import { rng } from './helpers.js';

const shared = sharedMovieLensDir();

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
}

/** n points around `centers` [k x dim] with noise; labels returned. */
function planted(centers: number[][], perCluster: number, noise: number, seed: number) {
  const r = rng(seed);
  const dim = centers[0].length;
  const x = new Float32Array(centers.length * perCluster * dim);
  const labels: number[] = [];
  centers.forEach((c, k) => {
    for (let i = 0; i < perCluster; i++) {
      const row = k * perCluster + i;
      for (let j = 0; j < dim; j++) x[row * dim + j] = c[j] + noise * gauss(r);
      labels.push(k);
    }
  });
  return { x, labels, dim };
}

/** Level-0 codes are one per cluster and different across clusters. */
function expectRecovered(codes: Int32Array, levels: number, labels: number[], k: number) {
  const codeOf = new Map<number, Map<number, number>>();
  labels.forEach((l, i) => {
    const m = codeOf.get(l) ?? new Map<number, number>();
    m.set(codes[i * levels], (m.get(codes[i * levels]) ?? 0) + 1);
    codeOf.set(l, m);
  });
  const majority = new Set<number>();
  for (const [, m] of codeOf) {
    const [code, count] = [...m.entries()].sort((a, b) => b[1] - a[1])[0];
    expect(count / [...m.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(0.95);
    majority.add(code);
  }
  expect(majority.size).toBe(k);
}

/** The four quantizers of the ablation, 2 levels of 8 codes, fitted briefly (`iters` where they train). */
function fitAllFour(x: Float32Array, dim: number, iters: number): Promise<Quantizer[]> {
  return Promise.all<Quantizer>([
    RQKMeansQuantizer.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1 }),
    DictionaryQuantizer.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1, iters }),
    ResidualLFQ.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1 }),
    RqVaeQuantizer.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1, iters, hidden: 8, latent: 4 }),
  ]);
}

describe('quantizers', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });
  const r = rng(11);
  const dirs = Array.from({ length: 8 }, () => { const v = Array.from({ length: 16 }, () => gauss(r)); const n = Math.hypot(...v); return v.map((x) => (5 * x) / n); });

  const cases: Array<[string, (x: Float32Array, dim: number) => Promise<Quantizer>, number]> = [
    ['rqkmeans', (x, dim) => RQKMeansQuantizer.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1 }), 0.05],
    ['dictionary', (x, dim) => DictionaryQuantizer.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1, iters: 5 }), 0.05],
    // the decoder is a small MLP: its reconstruction is looser than a codebook's
    ['rqvae', (x, dim) => RqVaeQuantizer.fit(x, dim, { levels: 2, codebookSize: 8, seed: 1, iters: 30, hidden: 64, latent: 8, batchSize: 128 }), 0.15],
  ];
  for (const [name, fit, bound] of cases) {
    it(`${name} recovers planted clusters and reports honest statistics`, async () => {
      const { x, labels, dim } = planted(dirs, 60, 0.1, 3);
      const q = await fit(x, dim);
      const codes = await q.encode(x);
      expectRecovered(codes, 2, labels, 8);
      const s = await quantizerStats(q, x, codes);
      expect(s.usage[0]).toBe(1);
      expect(s.relativeError[0]).toBeLessThan(bound);
      expect(s.relativeError[1]).toBeLessThanOrEqual(s.relativeError[0] + 1e-6);
      expect(s.n).toBe(480);
    }, 120_000);
  }

  it('ResidualLFQ recovers clusters at the corners of a cube (one sign bit per direction)', async () => {
    const corners: number[][] = [];
    // unequal sides (4, 3, 2) so the principal directions are the cube's axes
    for (let c = 0; c < 8; c++) corners.push(Array.from({ length: 12 }, (_, j) => (j < 3 ? ((c >> j) & 1 ? 1 : -1) * (4 - j) : 0)));
    const { x, labels, dim } = planted(corners, 50, 0.2, 5);
    const q = await ResidualLFQ.fit(x, dim, { levels: 1, codebookSize: 8, seed: 1 });
    const codes = await q.encode(x);
    expectRecovered(codes, 1, labels, 8);
    const s = await quantizerStats(q, x, codes);
    expect(s.totalRelativeError).toBeLessThan(0.05);
    await expect(ResidualLFQ.fit(x, dim, { levels: 1, codebookSize: 12 })).rejects.toThrow(/a power of two for ResidualLFQ/);
  });

  it('every quantizer saves and loads back to the same codes and reconstructions (cold start); bad files are named', async () => {
    const { x, dim } = planted(dirs, 10, 0.1, 4);
    const dir = mkdtempSync(join(tmpdir(), 'semid-quantizer-'));
    for (const q of await fitAllFour(x, dim, 2)) {
      const path = join(dir, `${q.name}.json`);
      saveQuantizer(path, q);
      const back = loadQuantizer(path);
      expect([back.name, back.levels, back.codebookSize, back.dim]).toEqual([q.name, q.levels, q.codebookSize, q.dim]);
      const codes = await q.encode(x);
      expect(Array.from(await back.encode(x)), q.name).toEqual(Array.from(codes));
      expect(Array.from(await back.decode(codes)), q.name).toEqual(Array.from(await q.decode(codes)));
      const state = JSON.parse(readFileSync(path, 'utf8'));
      const key = Object.keys(state).find((k) => Array.isArray(state[k]))!;
      writeFileSync(path, JSON.stringify({ ...state, [key]: state[key].slice(1) }));
      expect(() => loadQuantizer(path), q.name).toThrow(new RegExp(`${q.name}\\.json: ${key} must be ${state[key].length} finite numbers, got ${state[key].length - 1} values`));
    }
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ name: 'pq' }));
    expect(() => loadQuantizer(join(dir, 'other.json'))).toThrow(/not a saved quantizer/);
  });

  it('decode checks its codes and levels; ResidualLFQ names the rows it lacks', async () => {
    const { x, dim } = planted(dirs, 10, 0.1, 4);
    for (const q of await fitAllFour(x, dim, 1)) {
      const codes = await q.encode(x.subarray(0, 3 * dim));
      expect(Array.from(await q.decode(codes, 0))).toEqual(new Array(3 * dim).fill(q.name === 'rqvae' ? expect.any(Number) : 0));
      await expect(q.decode(Int32Array.from([0, 8]))).rejects.toThrow(/codes in \[0, 8\) \(row 0, level 1\).*received 8/);
      await expect(q.decode(Int32Array.from([-1, 0]), 1)).rejects.toThrow(/codes in \[0, 8\)/);
      await expect(q.decode(Int32Array.from([0, 1, 2]))).rejects.toThrow(/rows of 2 codes/);
      await expect(q.decode(codes, 3)).rejects.toThrow(/upTo/);
      await expect(q.encode(x.subarray(0, dim - 1))).rejects.toThrow(/rows of dimension 16|multiple of dim=16/);
    }
    await expect(ResidualLFQ.fit(x.subarray(0, 5 * dim), dim, { levels: 1, codebookSize: 64 })).rejects.toThrow(/at most 2\^5 with 5 training rows/);
    await expect(RqVaeQuantizer.fit(x, 0, { levels: 1, codebookSize: 8 })).rejects.toThrow(/dim/);
    const withNaN = Float32Array.from(x);
    withNaN[2 * dim + 5] = Number.NaN;
    await expect(RqVaeQuantizer.fit(withNaN, dim, { levels: 1, codebookSize: 8 })).rejects.toThrow(/finite values for x but received NaN at row 2, column 5/);
  }, 60_000);

  it('RQ-VAE decodes millions of values at once without tf.tidy walking the result (7.7M values: seconds before)', async () => {
    const n = 20_000, dim = 384;
    const x = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.7));
    const q = await RqVaeQuantizer.fit(x.subarray(0, 2000 * dim), dim, { levels: 2, codebookSize: 16, iters: 1, hidden: 32, latent: 8 });
    const codes = await q.encode(x);
    const started = performance.now();
    const back = await q.decode(codes);
    expect(performance.now() - started).toBeLessThan(1000);  // ~0.1 s here, ~3 s before
    expect(back.length).toBe(n * dim);
    const one = await q.decode(codes.subarray(0, 2));  // row 0 alone: the same values up to the GEMM's blocking
    for (let j = 0; j < dim; j++) expect(Math.abs(back[j] - one[j])).toBeLessThan(1e-5);
    // rows go through the networks a block at a time (millions of rows never fill the wasm heap):
    // blocks of 777 rows give the same codes and reconstructions as one block
    expect(q.blockRows).toBeGreaterThanOrEqual(n);  // 64 MiB of the widest layer here
    q.blockRows = 777;
    const blockedCodes = await q.encode(x);
    let codeDiffs = 0;
    for (let i = 0; i < codes.length; i++) if (blockedCodes[i] !== codes[i]) codeDiffs++;
    expect(codeDiffs).toBeLessThanOrEqual(2);  // a row on a tie between codes may round the other way
    const blockedBack = await q.decode(codes);
    let worst = 0;
    for (let i = 0; i < back.length; i++) worst = Math.max(worst, Math.abs(blockedBack[i] - back[i]));
    expect(worst).toBeLessThan(1e-4);
    q.dispose();
  }, 60_000);

  it.skipIf(!existsSync(join(shared, 'movies.csv')))('RQ-VAE does not collapse on real embeddings (usage >= 0.5 per level)', async () => {
    const ml = await readMovieLens(shared);
    const texts = ml.movies.title.slice(0, 3000).map((t, i) => `${t} ${ml.movies.genres[i].join(' ')}`);
    const { embeddings, model } = await fitContentEncoder(texts, { dim: 64, seed: 1 });
    const q = await RqVaeQuantizer.fit(embeddings, model.dim, { levels: 2, codebookSize: 64, iters: 8, seed: 2, batchSize: 256 });
    const s = await quantizerStats(q, embeddings);
    for (const u of s.usage) expect(u).toBeGreaterThanOrEqual(0.5);
  }, 120_000);
});

describe('strategies', () => {
  let run: string;
  beforeAll(async () => {
    await initRuntime({ backend: 'wasm' });
    run = mkdtempSync(join(tmpdir(), 'semid-ids-'));
    const r = rng(21);
    const n = 700;
    const emb = (dim: number) => Float32Array.from({ length: n * dim }, () => gauss(r));
    for (const [name, dim] of [['content', 24], ['search', 24], ['rec', 16], ['multitask', 24], ['fused-concat', 40], ['fused-svd', 16]] as const) {
      saveEmbeddings(run, name, emb(dim), dim, {});
    }
  });

  it('single-space strategies share one 512-token ID space between the tasks', async () => {
    const ids = await buildIds('multitask', run, { levels: 2, codebookSize: 256 });
    expect(ids.vocabulary.length).toBe(512);
    expect(ids.rec).toBe(ids.search);
    expect(ids.search.tokens[0][0]).toMatch(/^<id_0_\d+>$/);
    expect(ids.search.collisions.n).toBe(700);
  });

  it('Separate keeps the namespaces apart (2 x 512 tokens)', async () => {
    const ids = await buildIds('separate', run, { levels: 2, codebookSize: 256 });
    expect(ids.vocabulary.length).toBe(1024);
    for (const t of ids.search.tokens) for (const tok of t) expect(tok).toMatch(/^<s_/);
    for (const t of ids.rec.tokens) for (const tok of t) expect(tok).toMatch(/^<r_/);
  });

  it('the rec space is quantised on unit rows: ENMF-like norms (popularity) do not pile rare items into one ID', async () => {
    // directions in 8 planted clusters; norms spread over 3 orders of magnitude like ENMF's
    const dir = mkdtempSync(join(tmpdir(), 'semid-ids-rec-'));
    const r = rng(5);
    const n = 800, dim = 16;
    const centres = Array.from({ length: 8 }, () => Float32Array.from({ length: dim }, () => gauss(r)));
    const x = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const c = centres[i % 8];
      const scale = 10 ** (-3 * r()); // 1 .. 0.001
      for (let j = 0; j < dim; j++) x[i * dim + j] = (c[j] + 0.3 * gauss(r)) * scale;
    }
    saveEmbeddings(dir, 'rec', x, dim, {});
    const ids = await buildIds('rec', dir, { levels: 1, codebookSize: 8, seed: 1 });
    expect(ids.settings.recSpace).toBe('l2-normalised');
    // on unit rows the 8 cells are the 8 directions, whatever the norms
    const cellOf = new Map<number, string>();
    ids.search.tokens.forEach((t, i) => { const c = i % 8; if (!cellOf.has(c)) cellOf.set(c, t[0]); expect(t[0]).toBe(cellOf.get(c)); });
    expect(new Set(cellOf.values()).size).toBe(8);
  });

  it('Prefix-share shares its first code between the tasks (256 + 512 tokens)', async () => {
    const ids = await buildIds('prefix-share', run, { levels: 2, codebookSize: 256 });
    expect(ids.vocabulary.length).toBe(768);
    ids.search.tokens.forEach((t, i) => {
      expect(t[0]).toMatch(/^<p_0_\d+>$/);
      expect(ids.rec.tokens[i][0]).toBe(t[0]);
      expect(t[1]).toMatch(/^<s_1_/);
      expect(ids.rec.tokens[i][1]).toMatch(/^<r_1_/);
    });
    await expect(buildIds('prefix-share', run, { levels: 1 })).rejects.toThrow(/at least 2 for prefix-share/);
  });

  it('dedup makes every ID unique; keep reports the collisions; IDs round-trip through the run folder', async () => {
    const tensorsBefore = tf.memory().numTensors;
    await buildIds('content', run, { levels: 1, codebookSize: 8, quantizer: 'rqvae', iters: 2 });  // its model is freed with the IDs made
    const stop = new AbortController();
    stop.abort(new Error('stopped'));
    await expect(RqVaeQuantizer.fit(new Float32Array(64 * 4).map(Math.random), 4, { levels: 1, codebookSize: 4, signal: stop.signal })).rejects.toThrow(/stopped/);
    expect(tf.memory().numTensors).toBe(tensorsBefore);  // and an aborted fit leaves nothing either
    const keep = await buildIds('content', run, { levels: 1, codebookSize: 16 });
    expect(keep.search.collisions.itemsInCollidingIds).toBeGreaterThan(0);
    const dedup = await buildIds('content', run, { levels: 1, codebookSize: 16, collisions: 'dedup' });
    expect(dedup.search.collisions.distinctIds).toBe(700);
    expect(dedup.search.collisions.itemsInCollidingIds).toBe(0);
    expect(dedup.vocabulary.filter((t) => t.startsWith('<dup_')).length).toBe(keep.search.collisions.largestBucket);
    saveIds(run, dedup);
    const back = loadIds(run, 'content', 'rqkmeans', 'dedup');
    expect(back.search[5]).toEqual(dedup.search.tokens[5]);
    await expect(buildIds('nope' as never, run)).rejects.toThrow(/Expected content, search, rec/);
    await expect(buildIds('content', run, { quantizer: 'pq' as never })).rejects.toThrow(/Expected rqkmeans, dictionary, rlfq, rqvae for quantizer/);
    expect(() => loadIds(run, 'separate')).toThrow(/separate-rqkmeans-keep\.json is missing: run `semid ids separate/);
  });

  it('semid ids prints the statistics table', () => {
    const bin = fileURLToPath(new URL('../bin/semid.js', import.meta.url));
    if (!existsSync(fileURLToPath(new URL('../dist/cli/ids.js', import.meta.url)))) return;
    const r = spawnSync(process.execPath, [bin, 'ids', 'rec', '--run', run, '--codebook', '32'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rec with rqkmeans \(2 x 32, collisions keep\): 64 new tokens/);
    expect(r.stdout).toMatch(/distinct IDs/);
    // with dedup, the collisions its level told apart (those of keep)
    const row = (out: string) => out.split('\n').find((l) => /^r\s/.test(l) || /^id\s/.test(l))!.trim().split(/\s{2,}/).slice(-3);
    const d = spawnSync(process.execPath, [bin, 'ids', 'rec', '--run', run, '--codebook', '32', '--collisions', 'dedup'], { encoding: 'utf8' });
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/distinct IDs \(before dedup\)/);
    expect(row(d.stdout)).toEqual(row(r.stdout));
  });
});
