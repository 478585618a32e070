// The study end to end: metrics on hand-computed cases, the t-test against SciPy, and a small run
// on the synthetic catalogue that fills the report, resumes after a kill with identical results,
// and names bad inputs.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { checkServing } from './serve-checks.js';
import { Canvas, bonferroni, encodePng, mean, ndcgAt, pairedTTest, recallAt, runStudy, std, writeReport, DecodePool,
  STUDY_PROFILES, resolvePretrained, loadRunModel, askSearch, askRecommend, userHistory, itemsOfMovies, BIENCODER_PROFILES, ENMF_PROFILES, PAPER_T5_TRAINING, T5Model, T5_PRESETS, trainWordPieceTokenizer, saveT5Folder, loadT5Folder, loadIds } from '../src/index.js';


describe('metrics and statistics', () => {
  it('Recall@k and NDCG@k count distinct items, shorter lists and collided IDs', () => {
    expect(recallAt([5, 3, 5, 9], 9, 3)).toBe(1); // distinct: 5, 3, 9
    expect(recallAt([5, 3, 5, 9], 9, 2)).toBe(0);
    expect(recallAt([1, 2], 7, 30)).toBe(0); // fewer than k results
    expect(recallAt([], 7, 30)).toBe(0);
    expect(recallAt([4, 8, 8, 2], 2, 3)).toBe(1); // a collided ID expanded twice counts once
    expect(ndcgAt([4, 9], 9, 30)).toBeCloseTo(1 / Math.log2(3), 12);
    expect(ndcgAt([9], 9, 30)).toBe(1);
  });

  it('the paired t-test equals scipy.stats.ttest_rel; Bonferroni caps at 1', () => {
    // scipy 1.x: ttest_rel(a, b) -> (2.2644882372722064, 0.04980985195181713)
    const r = pairedTTest([0.1, 0.4, 0.35, 0.8, 0.05, 0.6, 0.2, 0.0, 1.0, 0.3], [0.05, 0.3, 0.4, 0.6, 0.05, 0.5, 0.1, 0.1, 0.9, 0.1]);
    expect(r.statistic).toBeCloseTo(2.2644882372722064, 10);
    expect(r.pValue).toBeCloseTo(0.04980985195181713, 10);
    // binary per-example recalls: (1.4529663145135578, 0.16254999902972705)
    const b = pairedTTest([1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0]);
    expect(b.statistic).toBeCloseTo(1.4529663145135578, 10);
    expect(b.pValue).toBeCloseTo(0.16254999902972705, 10);
    // (-2.1650635094610973, 0.16278164172107853)
    expect(pairedTTest([1, 2, 3], [1.5, 2.1, 3.9]).pValue).toBeCloseTo(0.16278164172107853, 10);
    expect(pairedTTest([1, 1], [1, 1])).toMatchObject({ statistic: 0, pValue: 1 });
    const adj = bonferroni([0.01, 0.3, 0.6], 3);
    expect(adj[0]).toBeCloseTo(0.03, 12);
    expect(adj[1]).toBeCloseTo(0.9, 12);
    expect(adj[2]).toBe(1);
    expect(mean([1, 2, 3])).toBe(2);
    expect(std([1, 2, 3])).toBe(1);
    expect(() => pairedTTest([1, 2], [1])).toThrow(/Expected 2 values paired with a for b/);
  });
});

describe('PNG', () => {
  it('writes a valid RGBA PNG (signature, IHDR, CRCs, pixels after inflating)', () => {
    const png = encodePng(2, 1, Uint8Array.of(255, 0, 0, 255, 0, 0, 255, 128));
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.toString('latin1', 12, 16)).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.readUInt32BE(20)).toBe(1);
    const idatLen = png.readUInt32BE(33);
    expect(png.toString('latin1', 37, 41)).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(Array.from(raw)).toEqual([0, 255, 0, 0, 255, 0, 0, 255, 128]);
    const c = new Canvas(40, 12);
    c.text(1, 1, 'A1');
    expect(c.rgba.some((v, i) => i % 4 === 0 && v === 0)).toBe(true);
  });
});

describe('report', () => {
  it('Table 3 marks quantizers against RQ-KMeans; Table 2 marks strategies against Multi-task', () => {
    const dir = mkdtempSync(join(tmpdir(), 'semid-report-'));
    const n = 200;
    const ex = (hit: (i: number) => boolean) => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, target: i, recall30: hit(i) ? 1 : 0, recall10: 0, ndcg30: 0, head: i < 5 }));
    const res = (strategy: string, quantizer: string, search: (i: number) => boolean, rec: (i: number) => boolean) =>
      ({ strategy, quantizer, seed: 0, search: ex(search), rec: ex(rec), seconds: { t5: 1 } }) as never;
    const results = [
      { ...(res('multitask', 'rqkmeans', (i) => i % 10 === 0, (i) => i % 10 === 0) as object), trainLoss: 2.71828 } as never,
      res('search', 'rqkmeans', (i) => i % 2 === 0, (i) => i % 10 === 0), // far better on search
      res('multitask', 'dictionary', (i) => i % 10 === 0, (i) => i % 11 === 0), // about the same
      res('multitask', 'rlfq', () => false, (i) => i % 10 === 0), // worse on search
      res('multitask', 'rqvae', (i) => i % 10 === 0, (i) => i % 2 === 0), // better on rec
    ];
    const manifest = { source: { synthetic: true }, queries: { source: 'template' }, summary: { users: 1, items: 1, interactions: 1 }, settings: {} } as never;
    const md = readFileSync(writeReport(dir, results, STUDY_PROFILES.tiny, manifest, {}), 'utf8');
    expect(md).toMatch(/\| Search-based \| 0\.500 ▲ \| 0\.100 \|/);
    expect(md).toMatch(/\| dictionary \| 0\.100 \| 0\.095 \|/);
    expect(md).toMatch(/\| rlfq \| 0\.000 ▼ \| 0\.100 \|/);
    expect(md).toMatch(/\| rqvae \| 0\.100 \| 0\.500 ▲ \|/);
    // the training loss where a result has one (results written before it was recorded have none)
    expect(md).toMatch(/## T5 training loss[^]*\| multitask\/rqkmeans\/seed 0 \| 2\.718 \|/);
    expect(md.match(/^\| [a-z-]+\/[a-z]+\/seed 0 \| \d/gm)).toHaveLength(1);
  });

  it('several seeds: mean ± sample std per strategy, and the tests on per-example means over the seeds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'semid-report-'));
    const n = 300;
    const ex = (hit: (i: number) => boolean) => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, target: i, recall30: hit(i) ? 1 : 0, recall10: 0, ndcg30: 0, head: i < 150 }));
    const results = [0, 1, 2].flatMap((seed) => [
      // Multi-task: each seed finds another tenth of the examples
      { strategy: 'multitask', quantizer: 'rqkmeans', seed, search: ex((i) => i % 10 === seed), rec: ex((i) => i % 10 === seed), seconds: { t5: 1 }, trainLoss: 1 + seed },
      // Search-based: far better on search, its Recall@30 moving from seed to seed (1/2, 1/3, 1/4)
      { strategy: 'search', quantizer: 'rqkmeans', seed, search: ex((i) => i % (2 + seed) === 0), rec: ex((i) => i % 10 === seed), seconds: { t5: 1 } },
      // Content: as good as Multi-task in every seed, on other examples. Its per-example means differ
      // from Multi-task's (1/3 on other tenths) but average the same: no mark.
      { strategy: 'content', quantizer: 'rqkmeans', seed, search: ex((i) => i % 10 === seed + 3), rec: ex((i) => i % 10 === seed), seconds: { t5: 1 } },
    ]) as never[];
    const manifest = { source: { synthetic: true }, queries: { source: 'template' }, summary: { users: 1, items: 1, interactions: 1 }, settings: {} } as never;
    const md = readFileSync(writeReport(dir, results, STUDY_PROFILES.small, manifest, {}), 'utf8');
    expect(md).toMatch(/^Seeds: 3\. /m);
    const searchSd = std([1 / 2, 1 / 3, 1 / 4]);
    expect(searchSd).toBeCloseTo(0.1273, 4);
    // mean 0.361 ± sample std 0.127, significantly above Multi-task; rec the same as Multi-task's
    expect(md).toMatch(/\| Search-based \| 0\.361 ± 0\.127 ▲ \| 0\.100 ± 0\.000 \| 0\.100 ± 0\.000 \| 0\.100 ± 0\.000 \|/);
    expect(md).toMatch(/\| Content \| 0\.100 ± 0\.000 \| 0\.100 ± 0\.000 \|/);
    expect(md).toMatch(/\| Multi-task \| 0\.100 ± 0\.000 \| 0\.100 ± 0\.000 \|/);
    // one loss row per trained seed
    expect(md.match(/^\| multitask\/rqkmeans\/seed \d \| \d\.000 \|$/gm)).toHaveLength(3);
    const saved = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(saved.results).toHaveLength(9);
  });
});

describe('profiles', () => {
  it("paper holds the paper's settings and fine-tunes flan-t5-base from a local folder", () => {
    const p = STUDY_PROFILES.paper;
    expect(p.data.release).toBe('ml-25m');
    expect(p.embed.profile).toBe('paper');
    expect(BIENCODER_PROFILES.paper).toEqual({ epochs: 5, batchSize: 512, learningRate: 2e-5 });
    expect(ENMF_PROFILES.paper).toMatchObject({ dim: 256, epochs: 30, batchSize: 512, learningRate: 1e-3 });
    expect(p.ids).toEqual({ levels: 2, codebook: 256 });
    expect(p.t5).toMatchObject({ pretrained: 'flan-t5-base', epochs: 3, batchSize: 128, learningRate: 2e-3, searchPerItem: 10, recPerUser: null });
    expect(PAPER_T5_TRAINING.weightDecay).toBe(0.01);
    expect(p.eval).toMatchObject({ beams: 60, groups: 30, penalty: 0.25 });
    expect(p.eval.searchQueries).toBeGreaterThan(1e9); // every test query and every test user
    expect(p.eval.users).toBeGreaterThan(1e9);
    expect(p.seeds).toBe(5);
    expect(STUDY_PROFILES.small.seeds).toBe(5);
    expect(STUDY_PROFILES.small.quantizers).toEqual(['rqkmeans', 'dictionary', 'rlfq', 'rqvae']); // Table 3 (on Multi-task)
    expect(p.quantizers).toEqual(['rqkmeans', 'dictionary', 'rlfq', 'rqvae']);
    expect(STUDY_PROFILES.quick.seeds).toBe(1);
    expect(() => resolvePretrained(p, undefined, {})).toThrow(/flan-t5-base for profile paper \(pass --pretrained <dir> or set SEMID_MODELS/);
    expect(() => resolvePretrained(p, undefined, { SEMID_MODELS: '/nonexistent' })).toThrow(/for \$SEMID_MODELS\/flan-t5-base but \/nonexistent\/flan-t5-base is missing config\.json, model\.safetensors, tokenizer\.json/);
    expect(resolvePretrained(STUDY_PROFILES.quick, undefined, {})).toBeNull();
    // sharded weights stand in for model.safetensors
    const models = mkdtempSync(join(tmpdir(), 'semid-models-'));
    mkdirSync(join(models, 'flan-t5-base'));
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors.index.json']) writeFileSync(join(models, 'flan-t5-base', f), '{}');
    expect(resolvePretrained(p, undefined, { SEMID_MODELS: models })).toBe(join(models, 'flan-t5-base'));
  });
});

describe('semid run (synthetic catalogue, two strategies)', () => {
  const override = {
    t5: { epochs: 1, searchPerItem: 1, batchSize: 128, recPerUser: 5 },
    eval: { searchQueries: 60, users: 40, beams: 8, groups: 4 },
    embed: { searchEpochs: 1, enmfEpochs: 10 },
  };
  const strategies = ['multitask', 'separate'] as const;

  it('fills the report, resumes after a kill with identical results, and names bad inputs', async () => {
    const a = mkdtempSync(join(tmpdir(), 'semid-study-'));
    // decoded by a pool of two workers here, and in the main thread (workers: 0) in the resumed run below
    const full = await runStudy({ profile: 'tiny', out: a, data: 'synthetic', strategies: [...strategies], override, workers: 2 });
    const report = readFileSync(writeReport(a, full.results, full.profile, full.manifest, full.timings), 'utf8');
    expect(report).toMatch(/## Table 2/);
    expect(report).toMatch(/\| Multi-task \| \d\.\d{3}/);
    expect(report).toMatch(/\| Separate \| \d\.\d{3}/);
    expect(report).not.toMatch(/NaN/);
    expect(existsSync(join(a, 'figure1.svg'))).toBe(true);
    expect(readFileSync(join(a, 'figure1.png')).subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(JSON.parse(readFileSync(join(a, 'results.json'), 'utf8')).results.length).toBe(2);

    // asking the trained models (semid search / recommend): the library and the CLI
    const asked = loadRunModel(a, { strategy: 'multitask' });
    const query = asked.dataset.search.test[0].query;
    const [answers] = await askSearch(asked, [query], { top: 5, beams: 8, groups: 4 });
    expect(answers.map((x) => x.rank)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(answers.map((x) => x.item)).size).toBe(5);
    answers.forEach((x, k) => {
      expect(x.id).toEqual(asked.task.idsFile.search[x.item]);  // the item's own search ID
      expect(x.movieId).toBe(asked.dataset.items[x.item].movieId);
      if (k > 0) expect(x.score).toBeLessThanOrEqual(answers[k - 1].score);
    });
    expect((await askSearch(asked, [query], { top: 5, beams: 8, groups: 4 }))[0]).toEqual(answers);  // deterministic
    // the model's folder records the decoding the run evaluated it with, and asking defaults to it
    expect(asked.generation).toEqual({ numBeams: 8, numBeamGroups: 4, diversityPenalty: 0.25, numReturnSequences: 8, maxNewTokens: 2 });
    const [byDefault] = await askSearch(asked, [query]);
    expect(byDefault).toHaveLength(8);
    expect(byDefault.slice(0, 5)).toEqual(answers);
    // more queries than one decoding batch (128 at this vocabulary): every one answered, in order
    const many = asked.dataset.search.test.slice(0, 130).map((e) => e.query);
    const manyAnswers = await askSearch(asked, many, { top: 2, beams: 8, groups: 4 });
    expect(manyAnswers).toHaveLength(130);
    expect(manyAnswers.every((a) => a.length === 2 && a[0].rank === 1)).toBe(true);
    const user = asked.dataset.interactions.userId[0];
    const [recs] = await askRecommend(asked, [userHistory(asked, user)], { top: 3, beams: 8, groups: 4 });
    expect(recs).toHaveLength(3);
    recs.forEach((x) => expect(x.id).toEqual(asked.task.idsFile.rec[x.item]));
    expect(Array.from(itemsOfMovies(asked, [asked.dataset.items[7].movieId]))).toEqual([7]);
    expect(() => itemsOfMovies(asked, [-4])).toThrow(/movies\[0\].*-4/);
    expect(() => userHistory(asked, -1)).toThrow(/userId of the run's data set/);
    await expect(askSearch(asked, [''])).rejects.toThrow(/non-empty list of non-empty strings/);
    await expect(askSearch(asked, [query], { top: 9, beams: 8, groups: 4 })).rejects.toThrow(/top/);
    asked.model.dispose();
    // a model trained on IDs since rebuilt is never used
    const doneFile = join(asked.modelDir, 'done.json');
    const done = readFileSync(doneFile, 'utf8');
    expect(JSON.parse(done).idsDigest).toMatch(/^[0-9a-f]{16}$/);
    writeFileSync(doneFile, JSON.stringify({ ...JSON.parse(done), idsDigest: '0123456789abcdef' }));
    expect(() => loadRunModel(a, { strategy: 'multitask' })).toThrow(/trained on IDs that have since been rebuilt/);
    writeFileSync(doneFile, done);
    expect(() => loadRunModel(a, { strategy: 'content' })).toThrow(/no finished model for content \/ rqkmeans \/ seed 0.*it has: multitask-rqkmeans-seed0, separate-rqkmeans-seed0/);
    const bin = join(__dirname, '..', 'bin', 'semid.js');
    if (existsSync(join(__dirname, '..', 'dist', 'cli', 'main.js'))) {  // the CLI runs the build (npm install makes it)
      const cli = spawnSync(process.execPath, [bin, 'search', query, '--run', a, '--top', '5', '--beams', '8', '--groups', '4', '--json'], { encoding: 'utf8' });
      expect(cli.status, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout)[0].answers.map((x: { item: number }) => x.item)).toEqual(answers.map((x) => x.item));
      const stdinCli = spawnSync(process.execPath, [bin, 'search', '-', '--run', a, '--top', '5', '--beams', '8', '--groups', '4', '--json'], { encoding: 'utf8', input: `${query}\n\n${many[1]}\n` });
      expect(stdinCli.status, stdinCli.stderr).toBe(0);
      expect(JSON.parse(stdinCli.stdout).map((x: { query: string }) => x.query)).toEqual([query, many[1]]);
      const recCli = spawnSync(process.execPath, [bin, 'recommend', '--user', String(user), '--run', a, '--top', '3', '--beams', '8', '--groups', '4'], { encoding: 'utf8' });
      expect(recCli.status, recCli.stderr).toBe(0);
      expect(recCli.stdout).toMatch(new RegExp(`user ${user} .*\\n.*rank +title`));
      const badTop = spawnSync(process.execPath, [bin, 'search', query, '--run', a, '--top', '0'], { encoding: 'utf8' });
      expect(badTop.status).toBe(1);
      expect(badTop.stderr).toMatch(/--top/);
    }

    // serving it: batched queries, the HTTP server and `semid serve`
    await checkServing(a);
    expect(tf.memory().numTensors).toBe(0);  // asking, serving and the batch stopped mid-decoding left nothing behind

    // a second run directory, killed during T5 training of the first strategy, then resumed. The kill
    // comes at the training loop's first turn of the event loop (after its 8th step), not on a clock,
    // so it lands at the same place on a machine of any speed (a 1.5 s timer once let a fast machine
    // finish the first model before the kill)
    const b = mkdtempSync(join(tmpdir(), 'semid-study-'));
    const controller = new AbortController();
    await expect(runStudy({ profile: 'tiny', out: b, data: 'synthetic', strategies: [...strategies], override, signal: controller.signal,
      log: (line) => { if (/training T5/.test(line)) setImmediate(() => controller.abort(new Error('killed'))); } })).rejects.toThrow(/killed/);
    const killedModel = readdirSync(join(b, 't5'));
    expect(killedModel).toHaveLength(1);
    expect(existsSync(join(b, 't5', killedModel[0], 'done.json'))).toBe(false);  // killed before it finished
    expect(existsSync(join(b, 'embeddings', 'multitask.npy'))).toBe(true); // finished stages stay
    // the killed run and this resumed one (trained and decoded here) leave no tensor behind: a leak
    // of one tensor a parameter a step once filled the wasm heap of a resumed small profile
    const tensorsBefore = tf.memory().numTensors;
    expect(tensorsBefore).toBe(0);
    const resumedLog: string[] = [];
    const resumed = await runStudy({ profile: 'tiny', out: b, data: 'synthetic', strategies: [...strategies], override, workers: 0, log: (l) => resumedLog.push(l) });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // each line names its unit of the study, and a finished unit gives the study's ETA
    expect(resumedLog.some((l) => /^\[1\/2\] multitask\/rqkmeans\/seed 0: training T5/.test(l))).toBe(true);
    expect(resumedLog.some((l) => /^\[2\/2\] separate\/rqkmeans\/seed 0: search R@30/.test(l))).toBe(true);
    expect(resumedLog.filter((l) => /^study: /.test(l))).toEqual([expect.stringMatching(/^study: 1\/2 trained and decoded, about \d+m to go$/)]);
    // its training went on from the checkpoint the kill saved, mid-epoch, and ends where an unbroken run does
    const resumedFrom = JSON.parse(readFileSync(join(b, 't5', killedModel[0], 'done.json'), 'utf8')).resumedFrom as string;
    expect(resumedFrom).toMatch(/checkpoint-00000008\.safetensors$/);  // of 25 steps
    for (let i = 0; i < 2; i++) {
      expect(resumed.results[i].search).toEqual(full.results[i].search);
      expect(resumed.results[i].rec).toEqual(full.results[i].rec);
    }
    expect(() => new DecodePool({ workers: 0 })).toThrow(/positive integer for workers/);
    const pool = new DecodePool({ workers: 1 });
    const stop = new AbortController();
    stop.abort(new Error('stopped by the caller'));
    const job = { out: a, modelDir: join(a, 't5', readdirSync(join(a, 't5'))[0]), tokenizerPath: join(a, 'tokenizer-2000.json'), strategy: 'multitask', quantizer: 'rqkmeans', kind: 0, decode: {} };
    await expect(pool.evaluate(job, [0, 1, 2], { signal: stop.signal })).rejects.toThrow(/stopped by the caller/);
    await pool.close();

    // fine-tuning a pretrained T5 folder (here one we save; paper: flan-t5-base) instead of training from scratch
    const pre = mkdtempSync(join(tmpdir(), 'semid-pretrained-'));
    const tok = trainWordPieceTokenizer(['search: recommend: a pretrained vocabulary of words', 'movies about space and time'], { vocabSize: 300, minFrequency: 1 });
    const base = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: tok.vocabSize + 5 }, 3);
    saveT5Folder(pre, base, tok);
    const lines: string[] = [];
    const tuned = await runStudy({ profile: 'tiny', out: a, data: 'synthetic', strategies: ['multitask'], override, pretrained: pre, workers: 0, log: (l) => lines.push(l) });
    expect(tuned.results[0].search.length).toBe(60);
    expect(lines.some((l) => /multitask.*training T5/.test(l))).toBe(true); // a new model (the key names the pretrained folder)
    const saved = readdirSync(join(a, 't5')).map((d) => { const { model } = loadT5Folder(join(a, 't5', d)); model.dispose(); return model.config.vocabSize; });
    expect(saved).toContain(tok.vocabSize + 2 * 64); // 2 x 64 ID tokens after the tokenizer's words, reusing the model's 5 padding rows first
    base.dispose();
    expect(tf.memory().numTensors).toBe(0);  // fine-tuning a pretrained folder (resized, trained, decoded here) left nothing behind

    // --collisions dedup: TIGER's level makes every ID unique; a model of its own, asked by policy
    const dedupLog: string[] = [];
    const dedup = await runStudy({ profile: 'tiny', out: a, data: 'synthetic', strategies: ['multitask'], override, collisions: 'dedup', workers: 0, log: (l) => dedupLog.push(l) });
    expect(dedupLog.some((l) => /multitask.*training T5/.test(l))).toBe(true);
    expect(dedup.profile.ids).toEqual({ levels: 2, codebook: 64, collisions: 'dedup' });
    expect(dedup.results[0].search.length).toBe(60);
    const dedupIds = loadIds(a, 'multitask', 'rqkmeans', 'dedup');
    expect(new Set(dedupIds.search.map((t) => t.join(' '))).size).toBe(dedupIds.search.length);
    expect(dedupIds.search.every((t) => t.length === 3 && /^<dup_\d+>$/.test(t[2]))).toBe(true);
    const keptIds = loadIds(a, 'multitask', 'rqkmeans', 'keep');
    expect(dedupIds.search.map((t) => t.slice(0, 2))).toEqual(keptIds.search);  // the same codes, one level more
    // the folder's keep result for the same unit is its counterpart, and the report compares the two
    expect(full.counterparts).toEqual([]);
    expect(dedup.counterparts).toEqual([full.results[0]]);
    const dedupReport = readFileSync(writeReport(a, dedup.results, dedup.profile, dedup.manifest, dedup.timings, dedup.counterparts), 'utf8');
    const r30 = (xs: { recall30: number }[]) => (xs.reduce((t, x) => t + x.recall30, 0) / xs.length).toFixed(3);
    expect(dedupReport).toMatch(/## Collisions kept vs deduplicated/);
    expect(JSON.parse(readFileSync(join(a, 'results.json'), 'utf8'))).toMatchObject({ profile: 'tiny', collisions: 'dedup' });
    expect(dedupReport).toContain(`| Multi-task | rqkmeans | ${r30(full.results[0].search)} | ${r30(dedup.results[0].search)} | `);
    expect(dedupReport).toMatch(/IDs deduplicated \(TIGER's extra level\)/);
    expect(dedupReport).toMatch(/\| Multi-task \| id \| \d+ \| \d+ \| \d+ \|/);  // the collisions the level told apart
    const byPolicy = loadRunModel(a, { strategy: 'multitask', collisions: 'dedup' });
    expect(byPolicy.collisions).toBe('dedup');
    const [unique] = await askSearch(byPolicy, [query], { top: 3, beams: 8, groups: 4 });
    unique.forEach((x) => { expect(x.id).toEqual(dedupIds.search[x.item]); expect(x.idItems).toBe(1); });
    byPolicy.model.dispose();
    const newest = loadRunModel(a, { strategy: 'multitask' });  // by default the newest model: this one
    expect([newest.collisions, newest.modelDir]).toEqual(['dedup', byPolicy.modelDir]);
    newest.model.dispose();
    const kept = loadRunModel(a, { strategy: 'multitask', collisions: 'keep' });
    expect(kept.collisions).toBe('keep');
    expect(kept.modelDir).not.toBe(byPolicy.modelDir);
    kept.model.dispose();
    if (existsSync(join(__dirname, '..', 'dist', 'cli', 'main.js'))) {
      const cli = spawnSync(process.execPath, [bin, 'search', query, '--run', a, '--collisions', 'dedup', '--top', '3', '--beams', '8', '--groups', '4', '--json'], { encoding: 'utf8' });
      expect(cli.status, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout)[0].answers.map((x: { id: string[] }) => x.id)).toEqual(unique.map((x) => x.id));
      expect(spawnSync(process.execPath, [bin, 'search', query, '--run', a, '--collisions', 'some'], { encoding: 'utf8' }).stderr).toMatch(/"keep" or "dedup" for --collisions but received "some"/);
    }
    expect(() => loadRunModel(a, { strategy: 'separate', collisions: 'dedup' })).toThrow(/separate-rqkmeans-dedup\.json is missing: run `semid ids separate --quantizer rqkmeans --collisions dedup/);
    await expect(runStudy({ profile: 'tiny', out: a, collisions: 'unique' as never })).rejects.toThrow(/Expected "keep" or "dedup" for collisions but received "unique"/);
    expect(tf.memory().numTensors).toBe(0);

    await expect(runStudy({ profile: 'tiny', out: b, strategies: ['best' as never] })).rejects.toThrow(/Expected content, search, rec, multitask/);
    await expect(runStudy({ profile: 'tiny', out: b, movielens: join(b, 'nope') })).rejects.toThrow(/nope: does not exist \(given by --movielens\)/);
    writeFileSync(join(b, 'data', 'sequence.npy'), 'garbage');
    await expect(runStudy({ profile: 'tiny', out: b, data: 'synthetic', strategies: [...strategies], override })).rejects.toThrow(/sequence\.npy: does not match the manifest/);
    expect(existsSync(join(b, 'embeddings', 'multitask.npy'))).toBe(true);
  }, 600_000);
});
