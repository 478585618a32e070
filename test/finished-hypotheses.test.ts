// The search's store of finished IDs (transformers' BeamHypotheses per group, in flat arrays):
// admission, eviction among equal worsts, is_done, and the final order with its ties.
import { describe, expect, it } from 'vitest';
import { IdTrie, constrainedBeamSearch, rankItems } from '../src/index.js';
import { IdSet } from '../src/decoding/id-set.js';
import { FinishedHypotheses } from '../src/decoding/finished-hypotheses.js';

// Four 1-token IDs: token t ends at the node for ID t, which names item 10 + t.
const trie = IdTrie.build({ codes: new Int32Array([0, 1, 2, 3]), length: 1, items: [10, 11, 12, 13] });
const nodeOf = (t: number) => trie.walk([t]);
const row = (t: number) => new Int32Array([t]);

describe('FinishedHypotheses', () => {
  it('keeps the best `size` per group; of equal worsts the earliest added leaves', () => {
    const h = new FinishedHypotheses(1, 2, 1, 1, false);
    h.add(0, -2, 1, nodeOf(0), row(0), 1, 0, 0);
    h.add(0, -2, 1, nodeOf(1), row(1), 1, 0, 1);  // ties the first
    h.add(0, -3, 1, nodeOf(2), row(2), 1, 0, 2);  // not above the worst: refused
    h.add(0, -1, 1, nodeOf(3), row(3), 1, 0, 3);  // evicts token 0 (the earlier of the two -2s)
    const result = h.ranked(trie, 0, 1, 2), ranked = result.hypotheses;
    expect(ranked.map((x) => x.tokens)).toEqual([[3], [1]]);
    expect(ranked.map((x) => x.score)).toEqual([-1, -2]);
    expect(Array.from(ranked[0].items)).toEqual([13]);
    expect(Array.from(result.items)).toEqual([13, 11]);
    expect(Array.from(result.itemScores)).toEqual([-1, -2]);
  });

  it('normalises by length ** lengthPenalty and answers is_done as transformers', () => {
    const h = new FinishedHypotheses(2, 1, 2, 2, false);
    h.add(1, -8, 2, nodeOf(0), new Int32Array([0, 0]), 1, 0, 0);  // -8 / 2^2 = -2
    expect(h.isDone(0, -1, 1)).toBe(false);  // group 0 is empty
    expect(h.isDone(1, -1, 1)).toBe(false);  // -1 would beat the worst, -2
    expect(h.isDone(1, -4, 1)).toBe(true);  // -4 cannot
    expect(h.ranked(trie, 1, 1, 1).hypotheses[0].score).toBe(-2);
    const early = new FinishedHypotheses(1, 1, 1, 1, true);
    early.add(0, -5, 1, nodeOf(2), row(2), 1, 0, 0);
    expect(early.isDone(0, 0, 1)).toBe(true);
  });

  it('ranks equal scores by the later group, then the later added, and cuts to the limit', () => {
    const h = new FinishedHypotheses(3, 2, 1, 1, false);
    h.add(0, -1, 1, nodeOf(0), row(0), 1, 0, 5);
    h.add(1, -1, 1, nodeOf(1), row(1), 1, 0, 1);
    h.add(1, -1, 1, nodeOf(2), row(2), 1, 0, 2);
    h.add(2, -0.5, 1, nodeOf(3), row(3), 1, 0, 0);
    expect(h.ranked(trie, 0, 3, 4).hypotheses.map((x) => x.tokens[0])).toEqual([3, 2, 1, 0]);
    expect(h.ranked(trie, 0, 2, 2).hypotheses.map((x) => x.tokens[0])).toEqual([2, 1]);
    expect(h.ranked(trie, 1, 1, 5).hypotheses.map((x) => x.id)).toEqual([trie.terminal[nodeOf(2)], trie.terminal[nodeOf(1)]]);
  });

  it.each([1, 3, 30, 40])('orders %i groups of 4 (a merge sort: runs of every length) as score, group, order', (groups) => {
    const size = 4;
    const h = new FinishedHypotheses(groups, size, 1, 1, false);
    const expected: { score: number; group: number; order: number; token: number }[] = [];
    let order = 0;
    for (let g = 0; g < groups; ++g) {
      for (let k = 0; k < size; ++k) {
        const score = -((g * 7 + k * 3) % 5);
        expected.push({ score, group: g, order, token: k });
        h.add(g, score, 1, nodeOf(k), row(k), 1, 0, order++);
      }
    }
    expected.sort((a, b) => b.score - a.score || b.group - a.group || b.order - a.order);
    const ranked = h.ranked(trie, 0, groups, groups * size).hypotheses;
    expect(ranked.map((x) => [x.score, x.tokens[0]])).toEqual(expected.map((x) => [x.score, x.token]));
  });

  it('lists each ID\'s items once, at its best hypothesis, as rankItems does', () => {
    const shared = IdTrie.build({ codes: new Int32Array([0, 1, 0, 2]), length: 1, items: [20, 21, 22, 23] });  // ID [0] names 20 and 22
    const h = new FinishedHypotheses(2, 2, 1, 1, false);
    const node0 = shared.walk([0]), node1 = shared.walk([1]);
    h.add(0, -1, 1, node0, row(0), 1, 0, 0);
    h.add(0, -2, 1, node1, row(1), 1, 0, 1);
    h.add(1, -1.5, 1, node0, row(0), 1, 0, 2);  // the same ID again, lower
    const result = h.ranked(shared, 0, 2, 4);
    expect(result.hypotheses.map((x) => x.score)).toEqual([-1, -1.5, -2]);
    expect(Array.from(result.items)).toEqual([20, 22, 21]);
    expect(Array.from(result.itemScores)).toEqual([-1, -1, -2]);
    const viaRankItems = rankItems(result.hypotheses);
    expect(Array.from(viaRankItems.items)).toEqual(Array.from(result.items));
    expect(Array.from(viaRankItems.itemScores)).toEqual(Array.from(result.itemScores));
  });

  it('IdTrie.itemsOf reuses its views and rejects an index that is not an ID', () => {
    const id = trie.terminal[nodeOf(1)];
    expect(trie.itemsOf(id)).toBe(trie.itemsOf(id));
    expect(() => trie.itemsOf(4)).toThrow(/ID index in \[0, 4\) for id but received 4/);
    expect(() => trie.itemsOf(-1)).toThrow(/id/);
    expect(() => trie.itemsOf(0.5)).toThrow(/id/);
  });
});

describe('IdSet', () => {
  it('answers "new?" like a Set, across clears, growth past its capacity and colliding keys', () => {
    const set = new IdSet();
    let seed = 5;
    for (let round = 0; round < 20; ++round) {
      const n = 1 + (round * 37) % 300, told = round % 3 === 0 ? 1 : n;  // some rounds add far more than clear() was told
      set.clear(told);
      const ref = new Set<number>();
      for (let i = 0; i < n; ++i) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const id = round % 2 === 0 ? (seed % 50) * 4096 : seed % 2147483647;  // multiples of 4096; wide
        expect(set.add(id)).toBe(!ref.has(id));
        ref.add(id);
      }
    }
    expect(IdSet.fits(0) && IdSet.fits(2 ** 31 - 2)).toBe(true);
    expect(IdSet.fits(-1) || IdSet.fits(2 ** 31 - 1) || IdSet.fits(0.5)).toBe(false);
  });
});

describe("constrainedBeamSearch format: 'arrays'", () => {
  /** Pseudo-random logits from (row, step, token): deterministic, the same for both formats. */
  const model = (vocab: number, seed: number) => ({ rows, step }: { rows: number; step: number }) => {
    const out = new Float32Array(rows * vocab);
    let h = (seed * 2654435761 + step * 40503) >>> 0;
    for (let i = 0; i < out.length; ++i) {
      h = (Math.imul(h, 1103515245) + 12345) >>> 0;
      out[i] = (h / 2 ** 32) * 6 - 3;
    }
    return out;
  };

  it.each([
    { name: 'fixed length, colliding IDs', beams: 12, groups: 4, numReturn: 12, variable: false },
    { name: 'variable length with an end token, numReturn < beams', beams: 8, groups: 2, numReturn: 5, variable: true },
  ])('holds what the QueryResults hold ($name)', async ({ beams, groups, numReturn, variable }) => {
    let seed = 3;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const codes: number[][] = Array.from({ length: 400 }, () => Array.from({ length: variable ? 1 + Math.floor(rnd() * 3) : 2 }, () => Math.floor(rnd() * 6)));
    const trie = IdTrie.build({ codes });
    const endToken = variable ? 6 : undefined, vocab = 7;
    const options = { trie, batch: 5, beams, groups, diversityPenalty: 0.25, numReturn, endToken, step: model(vocab, 11) };
    const objects = await constrainedBeamSearch(options);
    const arrays = await constrainedBeamSearch({ ...options, format: 'arrays' });
    expect(arrays.batch).toBe(5);
    expect(arrays.numReturn).toBe(numReturn);
    for (let q = 0; q < 5; ++q) {
      const hyps = objects[q].hypotheses;
      expect(arrays.counts[q]).toBe(hyps.length);
      for (let i = 0; i < numReturn; ++i) {
        const o = q * numReturn + i;
        if (i >= hyps.length) {
          expect([arrays.ids[o], arrays.lengths[o], Number.isNaN(arrays.scores[o])]).toEqual([-1, 0, true]);
          continue;
        }
        expect(arrays.ids[o]).toBe(hyps[i].id);
        expect(arrays.scores[o]).toBe(hyps[i].score);
        expect(Array.from(arrays.tokens.subarray(o * arrays.maxLength, o * arrays.maxLength + arrays.lengths[o]))).toEqual(hyps[i].tokens);
        expect(Array.from(arrays.tokens.subarray(o * arrays.maxLength + arrays.lengths[o], (o + 1) * arrays.maxLength)).every((t) => t === -1)).toBe(true);
      }
      const span = [arrays.itemStart[q], arrays.itemStart[q + 1]] as const;
      expect(Array.from(arrays.items.subarray(...span))).toEqual(Array.from(objects[q].items));
      expect(Array.from(arrays.itemScores.subarray(...span))).toEqual(Array.from(objects[q].itemScores));
    }
    await expect(constrainedBeamSearch({ ...options, format: 'table' as 'arrays' })).rejects.toThrow(/"objects" or "arrays" for format but received "table"/);
  });
});
