// The search's store of finished IDs (transformers' BeamHypotheses per group, in flat arrays):
// admission, eviction among equal worsts, is_done, and the final order with its ties.
import { describe, expect, it } from 'vitest';
import { IdTrie } from '../src/index.js';
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
    const ranked = h.ranked(trie, 0, 1, 2);
    expect(ranked.map((x) => x.tokens)).toEqual([[3], [1]]);
    expect(ranked.map((x) => x.score)).toEqual([-1, -2]);
    expect(Array.from(ranked[0].items)).toEqual([13]);
  });

  it('normalises by length ** lengthPenalty and answers is_done as transformers', () => {
    const h = new FinishedHypotheses(2, 1, 2, 2, false);
    h.add(1, -8, 2, nodeOf(0), new Int32Array([0, 0]), 1, 0, 0);  // -8 / 2^2 = -2
    expect(h.isDone(0, -1, 1)).toBe(false);  // group 0 is empty
    expect(h.isDone(1, -1, 1)).toBe(false);  // -1 would beat the worst, -2
    expect(h.isDone(1, -4, 1)).toBe(true);  // -4 cannot
    expect(h.ranked(trie, 1, 1, 1)[0].score).toBe(-2);
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
    expect(h.ranked(trie, 0, 3, 4).map((x) => x.tokens[0])).toEqual([3, 2, 1, 0]);
    expect(h.ranked(trie, 0, 2, 2).map((x) => x.tokens[0])).toEqual([2, 1]);
    expect(h.ranked(trie, 1, 1, 5).map((x) => x.id)).toEqual([trie.terminal[nodeOf(2)], trie.terminal[nodeOf(1)]]);
  });

  it.each([30, 40])('orders %i groups of 4 (insertion sort up to 128 slots, sort() beyond) as score, group, order', (groups) => {
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
    const ranked = h.ranked(trie, 0, groups, groups * size);
    expect(ranked.map((x) => [x.score, x.tokens[0]])).toEqual(expected.map((x) => [x.score, x.token]));
  });

  it('IdTrie.itemsOf reuses its views and rejects an index that is not an ID', () => {
    const id = trie.terminal[nodeOf(1)];
    expect(trie.itemsOf(id)).toBe(trie.itemsOf(id));
    expect(() => trie.itemsOf(4)).toThrow(/ID index in \[0, 4\) for id but received 4/);
    expect(() => trie.itemsOf(-1)).toThrow(/id/);
    expect(() => trie.itemsOf(0.5)).toThrow(/id/);
  });
});
