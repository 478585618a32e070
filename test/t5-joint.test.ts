// The joint task on T5: prompts as documented, a tiny model overfits a tiny joint set to exact
// generations, checkpoint folders round-trip, and bad inputs are named.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from './helpers.js';
import {
  AskBatcher, GenerativeRetriever, JointTask, PairTask, createAskServer, trainT5OnPairs, REC_TASK, SEARCH_TASK, T5Model, T5_PRESETS, defaultDecodeBatch, evaluateTask, generate, idTokenNames, initRuntime, itemTrie, loadT5Folder, resizeTokenEmbeddings, meanResizedRows,
  saveT5Folder, readGenerationSettings, trainJointT5, trainWordPieceTokenizer, type JointDataset,
} from '../src/index.js';

/** 6 items with 2-level IDs, one search query each, 4 recommendation examples. */
function tinyDataset(): JointDataset {
  const queries = ['funny dog movie', 'space robots', 'scary house', 'love in paris', 'war at sea', 'cowboy duel'];
  const items = queries.map((_, i) => ({ item: i, movieId: i + 1, rawTitle: `Item ${i}`, title: `Item ${i}`, titleNames: [`Item ${i}`], year: 2000, genres: [], tags: [], genomeTags: [], description: null, imdbId: null, tmdbId: null, text: '' }));
  const sequence = Int32Array.from([0, 1, 2, 3, 4, 5, 0, 2, 4]);
  // (user, historyStart, historyEnd, target): histories inside `sequence`
  const recTrain = Int32Array.from([0, 0, 2, 2, 0, 1, 3, 3, 0, 3, 5, 5, 1, 6, 8, 4]);
  return {
    manifest: {} as JointDataset['manifest'],
    items,
    interactions: { sequence } as JointDataset['interactions'],
    queries: [],
    search: { train: queries.map((q, i) => ({ id: `q${i + 1}.0`, item: i, query: q })), validation: [], test: [] },
    rec: { train: recTrain, validation: new Int32Array(0), test: new Int32Array(0) },
  };
}


/**
 * Answers of the same queries decoded in batches of other shapes: the same items, IDs and ranks,
 * and scores within float32 rounding of the logits (exact equality holds only for one batch shape).
 */
function expectSameAnswers(got: Array<Array<{ score: number }>>, want: Array<Array<{ score: number }>>): void {
  const withoutScores = (xs: Array<Array<{ score: number }>>) => xs.map((a) => a.map(({ score: _score, ...rest }) => rest));
  expect(withoutScores(got)).toEqual(withoutScores(want));
  got.forEach((a, q) => a.forEach((x, k) => expect(Math.abs(x.score - want[q][k].score), `query ${q} rank ${k}`).toBeLessThan(1e-5)));
}
describe('T5 joint task', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  function setup() {
    const ds = tinyDataset();
    const tokenizer = trainWordPieceTokenizer(['search: recommend:', ...ds.search.train.map((e) => e.query)], { vocabSize: 200, minFrequency: 1 });
    const idIds = tokenizer.addTokens(idTokenNames(2, 4));
    const codes = [[0, 1], [0, 2], [1, 0], [1, 3], [2, 2], [3, 1]];
    const itemTokens = codes.map(([a, b]) => Int32Array.of(idIds[a], idIds[4 + b]));
    const task = new JointTask(tokenizer, ds, { search: itemTokens, rec: itemTokens }, { historyItems: 2 });
    return { ds, tokenizer, idIds, itemTokens, task };
  }

  it('builds prompts as documented', () => {
    const { tokenizer, itemTokens, task } = setup();
    const s = task.example(SEARCH_TASK, 1, 'train');
    expect(tokenizer.decode(s.source)).toBe('search : space robots');
    expect(s.source[s.source.length - 1]).toBe(1);
    expect(Array.from(s.target)).toEqual([...itemTokens[1], 1]);
    // rec example 2: history = sequence[3:5] = items 3, 4 -> target 5
    const r = task.example(REC_TASK, 2, 'train');
    const prefix = Array.from(tokenizer.encode('recommend:')).slice(0, -1);
    expect(Array.from(r.source)).toEqual([...prefix, ...itemTokens[3], ...itemTokens[4], 1]);
    expect(Array.from(r.target)).toEqual([...itemTokens[5], 1]);
    // historyItems = 2 keeps only the last two items
    const r0 = task.example(REC_TASK, 3, 'train'); // sequence[6:8] = items 0, 2
    expect(Array.from(r0.source)).toEqual([...prefix, ...itemTokens[0], ...itemTokens[2], 1]);
    // a source longer than maxSourceLength drops its oldest items whole, never half an ID
    const { ds } = setup();
    for (const room of [0, 1, 2, 3, 4, 5]) {
      const tight = new JointTask(tokenizer, ds, { search: itemTokens, rec: itemTokens }, { historyItems: 3, maxSourceLength: Math.max(4, prefix.length + 1 + room) });
      const src = Array.from(tight.recSource(Int32Array.of(1, 3, 4)));
      const kept = Math.floor(Math.max(4, prefix.length + 1 + room) - prefix.length - 1) >> 1;  // two tokens an item
      expect(src).toEqual([...prefix, ...[1, 3, 4].slice(3 - Math.min(3, kept)).flatMap((i) => Array.from(itemTokens[i])), 1]);
    }
    const b = task.batch({ task: Int32Array.of(0, 1), index: Int32Array.of(0, 0) }, 'train');
    expect(b.labels!.filter((l) => l === -100).length).toBe(0);
    expect(Array.from(b.decoderInputIds.subarray(0, 3))).toEqual([0, itemTokens[0][0], itemTokens[0][1]]);
  });

  it('a tiny model overfits the joint set to exact generations, and its folder round-trips', async () => {
    const { tokenizer, task, itemTokens } = setup();
    const model = T5Model.create({ ...T5_PRESETS.tiny, dropoutRate: 0, vocabSize: tokenizer.vocabSize }, 1);
    const result = await trainJointT5({ model, task, batchSize: 10, epochs: 150, learningRate: 1e-2, warmupFraction: 0.02, weightDecay: 0, seed: 3 });
    expect(result.epochLoss[result.epochLoss.length - 1]).toBeLessThan(0.05);
    const check = (m: T5Model) => {
      for (const [t, n] of [[SEARCH_TASK, 6], [REC_TASK, 4]]) {
        for (let i = 0; i < n; i++) {
          const ex = task.example(t, i, 'train');
          const out = generate(m, { batchSize: 1, sourceLength: ex.source.length, inputIds: ex.source, attentionMask: new Int32Array(ex.source.length).fill(1) }, { maxNewTokens: 3 });
          expect(out[0].slice(1)).toEqual([...itemTokens[ex.item], 1]);
        }
      }
    };
    check(model);
    // evaluateTask end to end (test split = the training queries): every target found first, the
    // same results whatever the decoding batch; the default batch is budgeted by the logits' size
    const { ds } = setup();
    ds.search.test = ds.search.train;
    const evalTask = new JointTask(tokenizer, ds, { search: itemTokens, rec: itemTokens }, { historyItems: 2 });
    const trie = itemTrie(itemTokens);
    const settings = { beams: 4, groups: 2, diversityPenalty: 0.25 };
    const whole = await evaluateTask(model, evalTask, SEARCH_TASK, [0, 1, 2, 3, 4, 5], trie, ds, settings);
    expect(whole.map((r) => [r.id, r.target, r.recall30, r.ndcg30])).toEqual(ds.search.train.map((e, i) => [e.id, i, 1, 1]));
    expect(await evaluateTask(model, evalTask, SEARCH_TASK, [0, 1, 2, 3, 4, 5], trie, ds, { ...settings, batch: 4 })).toEqual(whole);
    expect(defaultDecodeBatch(60, 8512)).toBe(128);
    expect(defaultDecodeBatch(60, 32128)).toBe(34);
    expect(defaultDecodeBatch(1000, 1e6)).toBe(1);
    const dir = mkdtempSync(join(tmpdir(), 'semid-t5-'));
    saveT5Folder(dir, model, tokenizer);
    const back = loadT5Folder(dir);
    expect(back.config).toEqual(model.config);
    expect(Array.from(back.tokenizer!.encode('search: space robots'))).toEqual(Array.from(tokenizer.encode('search: space robots')));
    check(back.model);
    // the folder alone, as a user's own model: GenerativeRetriever with the IDs as token names
    const names = itemTokens.map((t) => Array.from(t, (x) => tokenizer.tokenName(x)!));
    expect(names[1]).toEqual(['<id_0_0>', '<id_1_2>']);
    const queries = ds.search.train.map((e) => e.query);
    const opts = { beams: 4, groups: 2, top: 3 };
    const retriever = GenerativeRetriever.load({ model: dir, ids: names, prompt: (q) => `search: ${q}` });
    const got = await retriever.search(queries, opts);
    got.forEach((answers, i) => {
      expect(answers.length).toBeGreaterThan(0);
      expect(answers.length).toBeLessThanOrEqual(3);
      expect(answers[0]).toMatchObject({ rank: 1, item: i, id: names[i], idItems: 1 });  // every query's own item first
      answers.forEach((a, k) => { expect(a.id).toEqual(names[a.item]); if (k > 0) expect(a.score).toBeLessThanOrEqual(answers[k - 1].score); });
    });
    expect(retriever.generation).toEqual({});
    const [wide] = await retriever.search(queries.slice(0, 1));  // defaults: 60 beams, 30 groups, top 10: the 6 IDs there are
    expect(wide.map((a) => a.item).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const byIds = GenerativeRetriever.load({ model: dir, ids: itemTokens, prompt: (q) => `search: ${q}` });
    expect(await byIds.search(queries, opts)).toEqual(got);
    // alone, the query decodes in a batch of another shape: the same answers, scores within float rounding
    // (a BLAS such as OpenBLAS rounds a product differently with its shape)
    expectSameAnswers(await retriever.generateFrom([task.searchSource(queries[1])], opts), [got[1]]);
    byIds.dispose();
    // IDs of several lengths end with the end token; one that uses it is refused
    const raggedIds = [...names.slice(0, 5), [names[5][0]]];
    const ragged = GenerativeRetriever.load({ model: dir, ids: raggedIds, prompt: (q) => `search: ${q}` });
    const raggedGot = await ragged.search(queries, opts);
    expect(raggedGot.slice(0, 5).map((a) => a[0].item)).toEqual([0, 1, 2, 3, 4]);
    raggedGot.flat().forEach((a) => expect(a.id).toEqual(raggedIds[a.item]));
    const [all] = await ragged.search([queries[5]], { beams: 12, groups: 1, top: 12 });  // plain beam search wider than the catalogue: every ID
    expect(all.find((a) => a.item === 5)?.id).toEqual(['<id_0_3>']);  // the one-token ID, closed by the end token
    ragged.dispose();
    expect(() => GenerativeRetriever.load({ model: dir, ids: [['</s>'], names[0]] })).toThrow(/IDs without the end token <\/s> \(id 1\)/);
    expect(() => GenerativeRetriever.load({ model: dir, ids: [names[0], ['<id_0_0>', '<nope>']] })).toThrow(/a token of the model's tokenizer for ids\[1\]\[1\] but received "<nope>"/);
    expect(() => GenerativeRetriever.load({ model: dir, ids: [[0, 1e6]] })).toThrow(/ids\[0\]\[1\]/);
    expect(() => GenerativeRetriever.load({ model: join(dir, 'missing'), ids: names })).toThrow(/a T5 folder with config\.json for model/);
    expect(() => GenerativeRetriever.load({ model: dir, ids: [] })).toThrow(/non-empty list of IDs, one per item for ids/);
    expect(() => GenerativeRetriever.load({ model: dir, ids: names, beams: 4 } as never)).toThrow(/beams/);
    await expect(retriever.search(['  '])).rejects.toThrow(/non-empty list of non-empty strings for queries/);
    await expect(retriever.search(queries, { top: 5, beams: 4, groups: 2 })).rejects.toThrow(/top/);
    await expect(retriever.generateFrom([[4, 99999]])).rejects.toThrow(/token id below \d+ for sources\[0\]\[1\] but received 99999/);
    // the same from the command line: `semid search --model <folder> --ids <file>`
    if (existsSync(join(__dirname, '..', 'dist', 'cli', 'main.js'))) {
      const bin = join(__dirname, '..', 'bin', 'semid.js');
      const idsFile = join(dir, 'ids.json');
      writeFileSync(idsFile, JSON.stringify(names));
      const cli = spawnSync(process.execPath, [bin, 'search', queries[1], queries[2], '--model', dir, '--ids', idsFile, '--prompt', 'search: {query}', '--beams', '4', '--groups', '2', '--top', '3', '--json'], { encoding: 'utf8' });
      expect(cli.status, cli.stderr).toBe(0);
      const printed = JSON.parse(cli.stdout) as Array<{ query: string; answers: Array<{ score: number }> }>;
      expect(printed.map((x) => x.query)).toEqual([queries[1], queries[2]]);
      expectSameAnswers(printed.map((x) => x.answers), [got[1], got[2]]);
      const bad = (args: string[]) => spawnSync(process.execPath, [bin, 'search', 'x', ...args], { encoding: 'utf8' });
      expect(bad(['--model', dir, '--ids', idsFile, '--prompt', 'search:']).stderr).toMatch(/a template holding \{query\}.* for --prompt/);
      expect(bad(['--model', dir]).stderr).toMatch(/for --ids but received undefined/);
      expect(bad(['--run', dir, '--ids', idsFile]).stderr).toMatch(/--model beside it .*for --ids/);
      expect(bad(['--model', dir, '--ids', idsFile, '--strategy', 'rec']).stderr).toMatch(/--run beside it, not --model .*for --strategy/);
    }
    // served: a batcher of the retriever gives each query its own answers; the server answers
    // /search and /health, and /recommend (a run's users and movies) is no route
    const batcher = new AskBatcher(retriever);
    const batched = await Promise.all(queries.map((q) => batcher.search(q, opts)));
    expect(batched).toEqual(got);
    expect(batcher.stats()).toMatchObject({ answered: 6, batches: 1 });
    await expect(batcher.recommend([0, 1])).rejects.toThrow(/loaded without historyPrompt .*: it answers searches only/);
    const { server, close } = createAskServer(batcher);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const viaHttp = await (await fetch(`${base}/search?q=${encodeURIComponent(queries[3])}&beams=4&groups=2&top=3`)).json();
    expect(viaHttp.query).toBe(queries[3]);
    expectSameAnswers([viaHttp.answers], [got[3]]);
    const noRec = await fetch(`${base}/recommend?user=1`);
    expect(noRec.status).toBe(404);
    expect((await noRec.json()).error.message).toMatch(/no route \/recommend: try \/health, \/metrics, \/search$/);
    expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ status: 'ok', model: dir, items: 6, defaults: { beams: 60, groups: 30, top: 10 } });
    await close();
    // with a history prompt the retriever recommends: the study's rec prompts, item for item, and
    // the model trained on them gives each history's next item; served at /recommend?items=
    const recommender = GenerativeRetriever.load({ model: dir, ids: names, prompt: (q) => `search: ${q}`, historyPrompt: 'recommend: {history}', historyItems: 2 });
    const histories = [[0, 1], [1, 2], [3, 4], [0, 2], [5, 0, 2]];
    histories.forEach((h) => expect(Array.from(recommender.historySource(h))).toEqual(Array.from(task.recSource(Int32Array.from(h)))));
    const recs = await recommender.recommend(histories.slice(0, 4), opts);
    expect(recs.map((a) => a[0].item)).toEqual([2, 3, 5, 4]);
    expect(() => recommender.historySource([0, 6])).toThrow(/an item row below 6 for history\[1\] but received 6/);
    expect(() => GenerativeRetriever.load({ model: dir, ids: names, historyPrompt: 'recommend:' })).toThrow(/holding \{history\} once.* for historyPrompt/);
    const recBatcher = new AskBatcher(recommender);
    const recServer = createAskServer(recBatcher);
    await new Promise<void>((resolve) => recServer.server.listen(0, '127.0.0.1', resolve));
    const recBase = `http://127.0.0.1:${(recServer.server.address() as AddressInfo).port}`;
    const recHttp = await (await fetch(`${recBase}/recommend?items=0,1&beams=4&groups=2&top=3`)).json();
    expectSameAnswers([recHttp.answers], [recs[0]]);
    const byPost = await (await fetch(`${recBase}/recommend`, { method: 'POST', body: JSON.stringify({ items: [3, 4], beams: 4, groups: 2, top: 3 }) })).json();
    expectSameAnswers([byPost.answers], [recs[2]]);
    const byUser = await fetch(`${recBase}/recommend?user=1`);
    expect(byUser.status).toBe(400);
    expect((await byUser.json()).error).toMatchObject({ parameter: 'items', message: /item rows \(this model knows no users or movies\)/ });
    await recServer.close();
    recommender.dispose();
    // and `semid serve --model`
    if (existsSync(join(__dirname, '..', 'dist', 'cli', 'main.js'))) {
      const idsFile = join(dir, 'ids.json');
      const child = spawn(process.execPath, [join(__dirname, '..', 'bin', 'semid.js'), 'serve', '--model', dir, '--ids', idsFile, '--prompt', 'search: {query}', '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      child.stderr.on('data', (d) => { err += d; });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => { out += d; const at = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out); if (at) resolve(at[1]); });
        void exited.then((code) => reject(new Error(`semid serve exited ${code}: ${err}`)));
      });
      expect(out).toMatch(/semid serve: .* \(6 items\) on http/);
      expectSameAnswers([(await (await fetch(`${url}/search?q=${encodeURIComponent(queries[3])}&beams=4&groups=2&top=3`)).json()).answers], [got[3]]);
      child.kill('SIGTERM');
      expect(await exited, err).toBe(0);
      expect(out).toMatch(/stopped after 1 queries in 1 batches/);
    }
    retriever.dispose();
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config.feed_forward_proj).toBe('gated-gelu');
    // generation_config.json: token ids always; the decoding when given, in transformers' names
    expect(readGenerationSettings(dir)).toEqual({});
    saveT5Folder(dir, model, tokenizer, {}, { numBeams: 6, numBeamGroups: 3, diversityPenalty: 0.5, numReturnSequences: 6, maxNewTokens: 3 });
    expect(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8'))).toEqual({ decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0,
      num_beams: 6, num_beam_groups: 3, diversity_penalty: 0.5, num_return_sequences: 6, max_new_tokens: 3, do_sample: false });
    expect(readGenerationSettings(dir)).toEqual({ numBeams: 6, numBeamGroups: 3, diversityPenalty: 0.5, numReturnSequences: 6, maxNewTokens: 3 });
    saveT5Folder(dir, model, tokenizer, {}, { numBeams: 4, numBeamGroups: 1, diversityPenalty: 0.5 });  // transformers reads the penalty only with groups
    expect(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')).diversity_penalty).toBeUndefined();
    expect(() => saveT5Folder(dir, model, tokenizer, {}, { numBeams: 6, numBeamGroups: 4 })).toThrow(/a divisor of num_beams \(6\) for generation\.numBeamGroups \(num_beam_groups\) but received 4/);
    expect(() => saveT5Folder(dir, model, tokenizer, {}, { numBeams: 0 })).toThrow(/an integer in \[1, \d+\] for generation\.numBeams \(num_beams\) but received 0/);
    expect(() => saveT5Folder(dir, model, tokenizer, {}, { numBeams: 2, numReturnSequences: 3 })).toThrow(/at most num_beams \(2\) for generation\.numReturnSequences/);
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ num_beams: 4, diversity_penalty: -1 }));
    expect(() => readGenerationSettings(dir)).toThrow(/finite number >= 0 for .*generation_config\.json\.diversityPenalty \(diversity_penalty\) but received -1/);
    writeFileSync(join(dir, 'generation_config.json'), '{"num_beams": 4,');
    expect(() => readGenerationSettings(dir)).toThrow(/generation_config\.json is not JSON/);
    // a config that does not match the weights is refused with the reason
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, d_model: 64 }));
    expect(() => loadT5Folder(dir)).toThrow(/does not match .*config\.json.*shape \[\d+,64\]/);
    model.dispose();
    back.model.dispose();
  });

  it('trains on pairs of your own (trainT5OnPairs): each query then generates its item', async () => {
    const { ds, tokenizer, itemTokens } = setup();
    const queries = ds.search.train.map((e) => e.query);
    const model = T5Model.create({ ...T5_PRESETS.tiny, dropoutRate: 0, vocabSize: tokenizer.vocabSize }, 4);
    const pairs = queries.map((q, i) => ({ source: tokenizer.encode(q), target: Array.from(itemTokens[i]) }));  // the end token is appended
    const result = await trainT5OnPairs({ model, pairs, batchSize: 6, epochs: 120, learningRate: 1e-2, warmupFraction: 0.02, weightDecay: 0, seed: 5 });
    expect(result.steps).toBe(120);
    expect(result.epochLoss[result.epochLoss.length - 1]).toBeLessThan(0.05);
    queries.forEach((q, i) => {
      const source = tokenizer.encode(q);
      const out = generate(model, { batchSize: 1, sourceLength: source.length, inputIds: source, attentionMask: new Int32Array(source.length).fill(1) }, { maxNewTokens: 3 });
      expect(out[0].slice(1)).toEqual([...itemTokens[i], 1]);
    });
    // its pairs' batches are the study's padding (teacher forcing, end token, -100 labels)
    const task = new PairTask(pairs, { vocabSize: tokenizer.vocabSize, eos: 1 });
    expect(task.sizes()).toEqual([6]);
    const b = task.batch({ task: Int32Array.of(0, 0), index: Int32Array.of(0, 1) }, 'train', 0);
    expect(Array.from(b.labels!.subarray(0, 3))).toEqual([...itemTokens[0], 1]);
    expect(Array.from(b.decoderInputIds.subarray(0, 3))).toEqual([0, ...itemTokens[0]]);
    expect(() => new PairTask([], { vocabSize: 10, eos: 1 })).toThrow(/non-empty list of \{ source, target \}/);
    expect(() => new PairTask([{ source: [3, 99], target: [4] }], { vocabSize: 10, eos: 1 })).toThrow(/token id below the model's 10 for pairs\[0\]\.source\[1\] but received 99/);
    expect(() => new PairTask([{ source: [3], target: [] }], { vocabSize: 10, eos: 1 })).toThrow(/non-empty array of token ids for pairs\[0\]\.target/);
    await expect(trainT5OnPairs({ model, pairs, epochz: 3 } as never)).rejects.toThrow(/epochz/);
    // retrieved in memory, without saving a folder
    const retriever = GenerativeRetriever.create({ model, tokenizer, ids: itemTokens, generation: { numBeams: 4, numBeamGroups: 2 } });
    expect(retriever.modelDir).toBeNull();
    expect((await retriever.search(queries, { top: 1 })).map((a) => a[0].item)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => GenerativeRetriever.create({ model: {} as never, tokenizer, ids: itemTokens })).toThrow(/a T5Model for model/);
    expect(() => GenerativeRetriever.create({ model, tokenizer: null as never, ids: itemTokens })).toThrow(/a T5Tokenizer for tokenizer/);
    retriever.dispose();
  });

  it('grows the vocabulary for ID tokens and names bad inputs', () => {
    const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 20 }, 2);
    const grown = resizeTokenEmbeddings(model, 28, 1);
    expect(grown.config.vocabSize).toBe(28);
    const old = model.params.get('shared.weight')!.dataSync();
    const now = grown.params.get('shared.weight')!.dataSync();
    expect(Array.from(now.subarray(0, old.length))).toEqual(Array.from(old));
    // 20 rows in 32 dimensions: a singular covariance, so every new row is the rows' mean (transformers' fallback)
    const mean = Array.from({ length: 32 }, (_, j) => Array.from({ length: 20 }, (_, r) => old[r * 32 + j]).reduce((a, b) => a + b, 0) / 20);
    for (let r = 20; r < 28; r++) for (let j = 0; j < 32; j++) expect(now[r * 32 + j]).toBeCloseTo(mean[j], 6);
    const batch = { batchSize: 1, sourceLength: 3, inputIds: Int32Array.of(4, 25, 1), attentionMask: new Int32Array(3).fill(1) };
    expect(() => model.encode(batch)).toThrow(/Expected a token id between 0 and 19 \(unknown token: grow the vocabulary with resizeTokenEmbeddings\) for batch\.inputIds\[1\] but received 25/);
    const long = { batchSize: 1, sourceLength: 600, inputIds: new Int32Array(600).fill(3), attentionMask: new Int32Array(600).fill(1) };
    expect(() => model.encode(long)).toThrow(/Expected between 1 and 512 tokens \(the model's maxLength\) for length of inputIds but received 600/);
    expect(() => resizeTokenEmbeddings(model, 10)).toThrow(/at least the current 20/);
    model.dispose();
    grown.dispose();
  });

  it('draws new rows from N(mean, 1e-9 · covariance) of the old ones, as transformers does (mean_resizing)', () => {
    const d = 6, rows = 400, count = 3000;
    const r = rng(11);
    // correlated old rows: x = A·u + offset, so the covariance is A·Aᵀ (full, positive definite)
    const A = Array.from({ length: d * d }, () => r() * 2 - 1);
    const old = new Float32Array(rows * d);
    for (let i = 0; i < rows; i++) {
      const u = Array.from({ length: d }, () => r() * 2 - 1);
      for (let a = 0; a < d; a++) old[i * d + a] = 3 + a + A.slice(a * d, a * d + d).reduce((s, v, b) => s + v * u[b], 0);
    }
    const stats = (x: Float32Array, n: number) => {
      const m = Array.from({ length: d }, (_, a) => { let s = 0; for (let i = 0; i < n; i++) s += x[i * d + a]; return s / n; });
      const cov = Array.from({ length: d * d }, (_, ab) => {
        const a = Math.floor(ab / d), b = ab % d;
        let s = 0;
        for (let i = 0; i < n; i++) s += (x[i * d + a] - m[a]) * (x[i * d + b] - m[b]);
        return s / n;
      });
      return { m, cov };
    };
    const want = stats(old, rows);
    const added = meanResizedRows(old, rows, d, count, 5);
    const got = stats(added, count);
    // the mean, to float precision; the covariance 1e-9 times the old one (sampling error ~ 1/sqrt(3000))
    got.m.forEach((v, a) => expect(Math.abs(v - want.m[a])).toBeLessThan(1e-5 * Math.abs(want.m[a]) + 1e-6));
    for (let a = 0; a < d; a++) {
      const scale = Math.sqrt(want.cov[a * d + a] * 1e-9);
      for (let b = 0; b < d; b++) {
        const norm = scale * Math.sqrt(want.cov[b * d + b] * 1e-9);
        expect(Math.abs(got.cov[a * d + b] - 1e-9 * want.cov[a * d + b]) / norm, `cov[${a}][${b}]`).toBeLessThan(0.12);
      }
    }
    expect(Array.from(meanResizedRows(old, rows, d, 4, 5))).toEqual(Array.from(added.subarray(0, 4 * d)));  // seeded
    expect(Array.from(meanResizedRows(old, rows, d, 4, 6))).not.toEqual(Array.from(added.subarray(0, 4 * d)));
  });
});
