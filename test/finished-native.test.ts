// A search's finished IDs on the native core against FinishedHypotheses' TypeScript, the oracle:
// the complete beams added after the last step (semid/beam.h add_complete_beams: the same store,
// admissions, evictions and order numbers, NaN and -0 included), and the ranking (rank_finished,
// gather_ranked_items: the same rows, order, ties, padding and items) on many random shapes;
// QueryResults built from those arrays against the TypeScript's own; bad input at the boundary.
import { describe, expect, it } from 'vitest';
import { IdTrie, constrainedBeamSearch } from '../src/index.js';
import { FinishedHypotheses } from '../src/decoding/finished-hypotheses.js';
import { addCompleteBeams } from '../src/decoding/search-bookkeeping.js';
import { queryResults } from '../src/decoding/query-results.js';
import { loadAddon } from '../src/native/loader.js';
import { rng } from './helpers.js';

const addon = loadAddon().addon as Required<ReturnType<typeof loadAddon>['addon']>;


/** A trie of colliding IDs (several items each) and a FinishedHypotheses filled as a search fills it. */
function randomCase(seed: number) {
  const rnd = rng(seed);
  const length = 1 + Math.floor(rnd() * 3), vocab = 2 + Math.floor(rnd() * 4);
  const codes = Array.from({ length: 30 + Math.floor(rnd() * 200) }, () => Array.from({ length }, () => Math.floor(rnd() * vocab)));
  const trie = IdTrie.build({ codes });
  const leaves: number[] = [];
  for (let u = 0; u < trie.nodes; ++u) if (trie.terminal[u] >= 0) leaves.push(u);
  const batch = Math.floor(rnd() * 40), groups = 1 + Math.floor(rnd() * 6), size = 1 + Math.floor(rnd() * 4);
  const maxLength = length + Math.floor(rnd() * 2), lengthPenalty = rnd() < 0.5 ? 1 : 0.5 + rnd();
  const h = new FinishedHypotheses(batch * groups, size, maxLength, lengthPenalty, false);
  const levels = [-1, -1.5, -2, -2.5, -3];  // few distinct sums: many ties
  const tokens = new Int32Array(maxLength).map(() => Math.floor(rnd() * vocab));
  let order = 0;
  for (let g = 0; g < batch * groups; ++g) {
    const offers = Math.floor(rnd() * (2 * size + 1));
    for (let k = 0; k < offers; ++k) {
      const sum = rnd() < 0.02 ? NaN : rnd() < 0.6 ? levels[Math.floor(rnd() * levels.length)] : -5 * rnd();
      const len = 1 + Math.floor(rnd() * maxLength);
      h.add(g, sum, len, leaves[Math.floor(rnd() * leaves.length)], tokens, len, 0, order++);
    }
  }
  const limit = 1 + Math.floor(rnd() * (groups * size + 2)) % (groups * size);
  return { trie, h, batch, groups, size, limit };
}

describe('native ranking of finished hypotheses', () => {
  it.each(Array.from({ length: 60 }, (_, i) => i + 1))('equals the TypeScript ranking (case %i)', async (seed) => {
    const { trie, h, batch, groups, limit } = randomCase(seed);
    const expected = h.rankedArrays(trie, batch, groups, limit);
    for (const threads of [1, 3]) {
      const got = await h.rankedArraysNative(addon, trie, batch, groups, limit, threads);
      expect(got).toEqual(expected);
    }
    const objects = queryResults(expected, trie);
    for (let q = 0; q < batch; ++q) expect(objects[q]).toEqual(h.ranked(trie, q * groups, groups, limit));
  });

  it.each([[30, 2], [8, 40], [1, 1]])('ranks %i groups of %i with distinct scores (the counting rank) as the TypeScript', async (groups, size) => {
    const trie = IdTrie.build({ codes: Array.from({ length: 50 }, (_, i) => [i % 7, i % 5]) });
    const leaves: number[] = [];
    for (let u = 0; u < trie.nodes; ++u) if (trie.terminal[u] >= 0) leaves.push(u);
    const rnd = rng(groups * 131 + size), batch = 20;
    const h = new FinishedHypotheses(batch * groups, size, 2, 1, false);
    let order = 0;
    for (let g = 0; g < batch * groups; ++g) {
      for (let k = 0; k < size; ++k) h.add(g, -10 * rnd(), 2, leaves[Math.floor(rnd() * leaves.length)], new Int32Array([1, 2]), 2, 0, order++);
    }
    for (const limit of [1, groups * size]) {
      expect(await h.rankedArraysNative(addon, trie, batch, groups, limit, 2)).toEqual(h.rankedArrays(trie, batch, groups, limit));
    }
  });

  it('rejects a count, node or length out of range instead of reading past the arrays', async () => {
    const { trie, h, batch, groups, limit } = randomCase(7);
    expect(batch).toBeGreaterThan(0);
    const priv = h as unknown as { count: Int32Array; node: Int32Array; length: Int32Array };
    const g = priv.count.findIndex((c) => c > 0), slot = g * (h as unknown as { size: number }).size;
    for (const [field, index, bad, message] of [
      [priv.count, g, 99, /finished count of group/],
      [priv.node, slot, trie.nodes, /ends at node/],
      [priv.node, slot, trie.root(), /which ends no ID/],
      [priv.length, slot, 99, /tokens, expected/],
    ] as const) {
      const keep = field[index];
      field[index] = bad;
      await expect(h.rankedArraysNative(addon, trie, batch, groups, limit, 1)).rejects.toMatchObject({ code: 'ERR_SEMID_INVALID_ARG', message: expect.stringMatching(message) });
      field[index] = keep;
    }
    const ok = await h.rankedArraysNative(addon, trie, batch, groups, limit, 1);
    expect(ok).toEqual(h.rankedArrays(trie, batch, groups, limit));
    // The native boundary: arity, array types and lengths.
    expect(() => (addon.rankFinished as (...a: unknown[]) => unknown)()).toThrow(/takes 24 arguments, got 0/);
    const items = new Int32Array(ok.itemStart[batch] + 1), scores = new Float32Array(ok.itemStart[batch] + 1);
    const first = new Uint8Array(batch * limit);
    expect(() => addon.gatherRankedItems(trie.idStart, trie.ids, trie.idItems, batch, limit, ok.counts, ok.ids, ok.scores, first,
      new Int32Array(batch), items, scores, 1)).toThrow(/itemStart has \d+ elements, needs/);
    const shifted = ok.itemStart.map((v) => v + 5);
    expect(() => addon.gatherRankedItems(trie.idStart, trie.ids, trie.idItems, batch, limit, ok.counts, ok.ids, ok.scores, first,
      shifted, items, scores, 1)).toThrow(/itemStart does not fit items/);
  });

  it('a search of 16+ queries (ranked natively) returns what the reference backend returns', async () => {
    const rnd = rng(17);
    const codes = Array.from({ length: 300 }, () => Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => Math.floor(rnd() * 6)));
    const trie = IdTrie.build({ codes });
    const step = ({ rows }: { rows: number }) => {
      const out = new Float32Array(rows * 7);
      for (let i = 0; i < out.length; ++i) out[i] = rnd() * 6 - 3;
      return out;
    };
    const logits = new Map<number, Float32Array>();  // the same logits for both backends, by step
    const replay = (r: { step: number; rows: number }) => {
      if (!logits.has(r.step)) logits.set(r.step, step(r));
      return logits.get(r.step)!;
    };
    const options = { trie, batch: 24, beams: 8, groups: 4, diversityPenalty: 0.5, endToken: 6, numReturn: 6, step: replay };
    for (const format of ['objects', 'arrays'] as const) {
      const native = await constrainedBeamSearch({ ...options, format });
      const reference = await constrainedBeamSearch({ ...options, format, backend: 'reference' });
      expect(native).toEqual(reference);
    }
  });
});

/** Every array a FinishedHypotheses holds (its private fields). */
function storeOf(h: FinishedHypotheses) {
  const p = h as unknown as Record<string, Float64Array | Int32Array>;
  return ['count', 'worst', 'score', 'order', 'node', 'length', 'tokens'].map((k) => Array.from(p[k]));
}

describe('native complete beams into the finished store', () => {
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('equal the TypeScript addCompleteBeams (case %i)', async (seed) => {
    const { trie, h, batch, groups, size } = randomCase(seed);
    const rnd = rng(1000 + seed);
    const gsChoices = [1, 2, 3].filter((k) => k <= size + 1);
    const gs = gsChoices[Math.floor(rnd() * gsChoices.length)], beams = gs * groups;
    const maxLength = (h as unknown as { maxLength: number }).maxLength, length = 1 + Math.floor(rnd() * maxLength);
    const leafOrInner = () => (rnd() < 0.15 ? -1 : Math.floor(rnd() * trie.nodes));  // some inactive, some not at an ID
    const nodes = Int32Array.from({ length: batch * beams }, leafOrInner);
    const levels = [-1, -2, 0, -0];  // ties with the store's scores, and signed zeros
    const scores = Float32Array.from({ length: batch * beams }, () => (rnd() < 0.03 ? NaN : rnd() < 0.4 ? levels[Math.floor(rnd() * 4)] : -4 * rnd()));
    const tokens = Int32Array.from({ length: batch * beams * length }, () => Math.floor(rnd() * 9));
    const done = Uint8Array.from({ length: batch * groups }, () => (rnd() < 0.2 ? 1 : 0));
    const twin = new FinishedHypotheses(batch * groups, size, maxLength, (h as unknown as { lengthPenalty: number }).lengthPenalty, false);
    const tp = twin as unknown as Record<string, Float64Array | Int32Array>, hp = h as unknown as Record<string, Float64Array | Int32Array>;
    for (const k of ['count', 'worst', 'score', 'order', 'node', 'length', 'tokens']) tp[k].set(hp[k]);
    const order0 = 1 + Math.floor(rnd() * 50);
    const expectedOrder = addCompleteBeams(h, done, nodes, scores, tokens, length, trie.terminal, batch, groups, beams, order0);
    const gotOrder = await twin.addCompleteBeamsNative(addon, trie, done, nodes, scores, tokens, length, batch, groups, beams, order0);
    expect(gotOrder).toBe(expectedOrder);
    expect(storeOf(twin)).toEqual(storeOf(h));
    for (const [i, v] of (tp.worst as Float64Array).entries()) expect(Object.is(v, (hp.worst as Float64Array)[i])).toBe(true);  // -0 stays -0
  });

  it('rejects a node or count out of range', async () => {
    const { trie, h, batch, groups } = randomCase(7);
    const beams = groups, nodes = new Int32Array(batch * beams).fill(-1), scores = new Float32Array(batch * beams), done = new Uint8Array(batch * groups);
    nodes[0] = trie.nodes;
    await expect(h.addCompleteBeamsNative(addon, trie, done, nodes, scores, new Int32Array(batch * beams), 1, batch, groups, beams, 0))
      .rejects.toMatchObject({ code: 'ERR_SEMID_INVALID_ARG', message: expect.stringMatching(/nodes holds \d+, the trie has/) });
    nodes[0] = -1;
    const count = (h as unknown as { count: Int32Array }).count, keep = count[0];
    count[0] = 99;
    await expect(h.addCompleteBeamsNative(addon, trie, done, nodes, scores, new Int32Array(batch * beams), 1, batch, groups, beams, 0))
      .rejects.toMatchObject({ code: 'ERR_SEMID_INVALID_ARG', message: expect.stringMatching(/finished count of group 0 is 99/) });
    count[0] = keep;
    expect(() => (addon.addCompleteBeams as (...a: unknown[]) => unknown)(1)).toThrow(/takes 23 arguments, got 1/);
  });
});
