// T5 generation: greedy and beam search equal Hugging Face's on the fixtures; cached incremental
// decoding equals full recomputation; the session drives the constrained beam search.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GenerativeRetriever, IdTrie, T5DecoderSession, T5Model, T5Tokenizer, T5_PRESETS, constrainedBeamSearch, generate, initRuntime, readSafetensors, t5ConfigFromHf } from '../src/index.js';

const fixtures = join(__dirname, '..', '..', 'shared', 'fixtures');

function fixtureModel(name: string) {
  const dir = join(fixtures, name);
  const fx = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8'));
  const config = t5ConfigFromHf(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const { model } = T5Model.fromTensors(config, readSafetensors(join(dir, 'model.safetensors')).tensors);
  const batch = {
    batchSize: fx.input_ids.length, sourceLength: fx.input_ids[0].length,
    inputIds: Int32Array.from(fx.input_ids.flat() as number[]), attentionMask: Int32Array.from(fx.attention_mask.flat() as number[]),
  };
  return { fx, model, batch };
}

describe('T5 generation', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  for (const name of ['t5-tiny', 't5-tiny-tied']) {
    it.skipIf(!existsSync(join(fixtures, name)))(`greedy and 4-beam generations equal transformers' on ${name}`, () => {
      const { fx, model, batch } = fixtureModel(name);
      const newTokens = fx.greedy_generate[0].length - 1;
      expect(generate(model, batch, { maxNewTokens: newTokens })).toEqual(fx.greedy_generate);
      expect(generate(model, batch, { maxNewTokens: newTokens, numBeams: 4, numReturnSequences: 4 })).toEqual(fx.beam4_generate);
      model.dispose();
    });
  }

  it.skipIf(!existsSync(join(fixtures, 't5-tiny')))('GenerativeRetriever on a Hugging Face folder: its tokenizer and model, the IDs its beam search found, in its order', async () => {
    const dir = join(fixtures, 't5-tiny');
    const fx = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8'));
    // text 0's four beams (6 new tokens each, no end token) as the catalogue, given as token names
    const retrieverIds = (fx.beam4_generate.slice(0, 4) as number[][]).map((seq) => seq.slice(1));
    const tokenizer = T5Tokenizer.load(join(dir, 'tokenizer.json'));
    const names = retrieverIds.map((ids) => ids.map((t) => tokenizer.tokenName(t)!));
    expect(Array.from(tokenizer.encode(fx.texts[0]))).toEqual(fx.input_ids[0].filter((_: number, k: number) => fx.attention_mask[0][k] === 1));
    const r = GenerativeRetriever.load({ model: dir, ids: [...names, names[0]] });  // item 4 shares item 0's ID
    const [answers] = await r.search([fx.texts[0]], { beams: 4, groups: 1, top: 4 });
    expect(answers.map((a) => a.item)).toEqual([0, 4, 1, 2]);  // transformers' order; the shared ID's items in item order
    expect(answers[0].idItems).toBe(2);
    expect(answers[0].score).toBe(answers[1].score);
    expect(answers.map((a) => a.id)).toEqual([names[0], names[0], names[1], names[2]]);
    const [all] = await r.search([fx.texts[0]], { beams: 8, groups: 1, top: 5 });
    expect(all.map((a) => a.item)).toEqual([0, 4, 1, 2, 3]);
    r.dispose();
  });

  for (const feedForwardProj of ['gated-gelu', 'gelu', 'gated-silu', 'relu']) it(`cached incremental decoding equals recomputing the whole prefix, with reordered beams (${feedForwardProj})`, () => {
    const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 40, dropoutRate: 0, feedForwardProj }, 9);
    const batch = { batchSize: 2, sourceLength: 5, inputIds: Int32Array.from([3, 4, 5, 6, 1, 7, 8, 9, 1, 0]), attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]) };
    const session = new T5DecoderSession(model, batch);
    const v = 40;
    // 2 queries x 3 beams; the prefixes of each row after reordering by parents
    const prefixes: number[][] = [];
    let logits = session.step({ step: 0, rows: 2, tokens: new Int32Array(0), parents: Int32Array.of(-1, -1), queries: Int32Array.of(0, 1), active: Uint8Array.of(1, 1) });
    const steps = [
      { parents: [0, 0, 0, 1, 1, 1], next: [5, 6, 7, 8, 9, 10] },
      { parents: [2, 0, 0, 5, 3, 4], next: [11, 12, 13, 14, 15, 16] },
      { parents: [1, 1, 2, 3, 5, 5], next: [17, 18, 19, 20, 21, 22] },
    ];
    let rows = [[], []] as number[][];
    steps.forEach((s, i) => {
      rows = s.parents.map((p, r) => [...rows[p], s.next[r]]);
      prefixes.splice(0, prefixes.length, ...rows);
      const t = i + 1;
      const tokens = Int32Array.from(rows.flat());
      logits = session.step({ step: t, rows: 6, tokens, parents: Int32Array.from(s.parents), queries: Int32Array.of(0, 0, 0, 1, 1, 1), active: new Uint8Array(6).fill(1) });
      // full recomputation of each row's last position
      const dec = Int32Array.from(rows.flatMap((p) => [0, ...p]));
      const full = model.decode(model.encode({ ...batch, batchSize: 2, inputIds: batch.inputIds, attentionMask: batch.attentionMask }).gather(tf.tensor1d([0, 0, 0, 1, 1, 1], 'int32')) as tf.Tensor3D,
        { batchSize: 6, sourceLength: 5, targetLength: t + 1, decoderInputIds: dec, attentionMask: Int32Array.from([0, 0, 0, 1, 1, 1].flatMap((q) => Array.from(batch.attentionMask.subarray(q * 5, q * 5 + 5)))) });
      const fd = full.dataSync();
      for (let r = 0; r < 6; r++) {
        for (let j = 0; j < v; j++) expect(Math.abs(logits[r * v + j] - fd[(r * (t + 1) + t) * v + j])).toBeLessThan(1e-4);
      }
    });
    expect(() => session.step({ step: 9, rows: 6, tokens: new Int32Array(54), parents: new Int32Array(6), queries: new Int32Array(6), active: new Uint8Array(6) })).toThrow(/Expected step 4/);
    session.dispose();
    model.dispose();
  });

  it('reuseLogits returns the same logits in one buffer, tied and untied heads', () => {
    for (const tied of [false, true]) {
      const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 37, dropoutRate: 0, tieWordEmbeddings: tied, feedForwardProj: tied ? 'relu' : 'gated-gelu' }, 4);
      const batch = { batchSize: 2, sourceLength: 4, inputIds: Int32Array.from([3, 4, 5, 1, 6, 7, 1, 0]), attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0]) };
      const run = (reuseLogits: boolean) => {
        const session = new T5DecoderSession(model, batch, { reuseLogits });
        const first = session.step({ step: 0, rows: 2, tokens: new Int32Array(0), parents: Int32Array.of(-1, -1), queries: Int32Array.of(0, 1), active: Uint8Array.of(1, 1) });
        const kept = first.slice();
        const second = session.step({ step: 1, rows: 4, tokens: Int32Array.of(9, 10, 11, 12), parents: Int32Array.of(0, 0, 1, 1), queries: Int32Array.of(0, 0, 1, 1), active: new Uint8Array(4).fill(1) });
        const keptSecond = second.slice();
        const third = session.step({ step: 2, rows: 4, tokens: Int32Array.of(9, 13, 10, 14, 11, 15, 12, 16), parents: Int32Array.of(0, 1, 2, 3), queries: Int32Array.of(0, 0, 1, 1), active: new Uint8Array(4).fill(1) });
        const out = { kept, second: keptSecond, secondAfter: second.slice(), third: third.slice(), shared: second.buffer === third.buffer };
        session.dispose();
        return out;
      };
      const fresh = run(false);
      const reused = run(true);
      expect(fresh.kept.length).toBe(2 * 37);
      expect(fresh.second.length).toBe(4 * 37);
      expect(Array.from(reused.kept)).toEqual(Array.from(fresh.kept));
      expect(Array.from(reused.second)).toEqual(Array.from(fresh.second));
      expect(Array.from(reused.third)).toEqual(Array.from(fresh.third));
      expect(fresh.shared).toBe(false);
      expect(Array.from(fresh.secondAfter)).toEqual(Array.from(fresh.second)); // a new array each step
      expect(reused.shared).toBe(true); // one buffer (grown when a step has more rows): the next step overwrote the view
      expect(Array.from(reused.secondAfter)).toEqual(Array.from(reused.third));
      expect(Array.from(reused.third)).not.toEqual(Array.from(reused.second));
      model.dispose();
    }
  });

  it('drives the trie-constrained diverse beam search', async () => {
    const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 30, dropoutRate: 0 }, 2);
    // 6 items with 2-token IDs over tokens 10..19
    const codes = Int32Array.from([0, 0, 0, 1, 1, 0, 1, 2, 2, 3, 3, 3]);
    const trie = IdTrie.build({ codes, length: 2, offsets: [10, 15] });
    const batch = { batchSize: 2, sourceLength: 3, inputIds: Int32Array.from([4, 5, 1, 6, 7, 1]), attentionMask: new Int32Array(6).fill(1) };
    const session = new T5DecoderSession(model, batch);
    const results = await constrainedBeamSearch({ trie, step: (req) => session.step(req), batch: 2, beams: 4, groups: 2, diversityPenalty: 0.25 });
    session.dispose();
    for (const r of results) {
      expect(r.items.length).toBeGreaterThan(0);
      for (const h of r.hypotheses) expect(trie.lookup(h.tokens).length).toBeGreaterThan(0);
    }
    model.dispose();
  });
});
