// Buffers a search reuses from one search to the next (ScratchPool), and beamStep writing into
// given outputs: the same results over stale memory, searches that share the pool (in turn and
// at once) unaffected by each other, and clear errors for outputs that do not fit.
import { describe, expect, it } from 'vitest';
import {
  IdTrie, allocateBeamStepOutput, beamStep, beamStepOutputBytes, constrainedBeamSearch, type BeamStepInput,
} from '../src/index.js';
import { ScratchPool } from '../src/decoding/scratch-pool.js';
import { hashModel, rng } from './helpers.js';

describe('ScratchPool', () => {
  it('reuses the smallest free buffer that fits (up to twice the size asked) and keeps at most maxBytes', () => {
    const pool = new ScratchPool(1000);
    const a = pool.take(300), b = pool.take(500);
    expect(a.byteLength).toBe(300);
    pool.give(a);
    pool.give(b);
    pool.give(b);  // twice: kept once
    expect(pool.take(400)).toBe(b);
    expect(pool.take(100)).not.toBe(a);  // 300 > 2 x 100: a new one
    expect(pool.take(200)).toBe(a);
    const x1 = new ArrayBuffer(600), x2 = new ArrayBuffer(600);
    pool.give(x1);
    pool.give(x2);  // 1,200 > 1,000: the older one, x1, leaves
    pool.give(new ArrayBuffer(5000));  // larger than the pool: not kept, and x2 stays
    expect(pool.take(600)).toBe(x2);
    const c = pool.take(600);
    expect(c).not.toBe(x1);
    expect(c.byteLength).toBe(600);
    const small = new ScratchPool(1000, 100), d = small.take(50);
    small.give(d);  // under minBytes: not kept
    expect(small.take(50)).not.toBe(d);
  });
});

describe('beamStep into given outputs', () => {
  const r = rng(5);
  const codes = Array.from({ length: 200 }, () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => Math.floor(r() * 8)));
  const trie = IdTrie.build({ codes });
  const batch = 6, beams = 8, groups = 4, vocab = 9;
  const input: BeamStepInput = {
    batch, beams, groups, vocab, inputBeams: beams, logits: true, penalty: 0.5, endToken: 8,
    scores: Float32Array.from({ length: batch * beams * vocab }, () => r() * 8 - 4),
    nodes: Int32Array.from({ length: batch * beams }, () => (r() < 0.1 ? -1 : Math.floor(r() * trie.nodes))),
    beamScores: Float32Array.from({ length: batch * beams }, () => -5 * r()),
  };

  it.each(['native', 'reference'] as const)('%s: the same outputs over a buffer of stale bytes', async (backend) => {
    const fresh = await beamStep(trie, input, { backend });
    const stale = new ArrayBuffer(beamStepOutputBytes(batch, beams, groups) + 64);
    new Uint8Array(stale).fill(0x7f);
    const out = allocateBeamStepOutput(batch, beams, groups, stale);
    const got = await beamStep(trie, input, { backend, out });
    expect(got).toBe(out);
    for (const k of ['nextNodes', 'nextScores', 'nextParents', 'nextTokens', 'finishedCount'] as const) expect(got[k]).toEqual(fresh[k]);
    const gs = beams / groups;
    for (let g = 0; g < batch * groups; ++g) {
      for (let f = 0; f < fresh.finishedCount[g]; ++f) {
        for (const k of ['finishedParent', 'finishedScore', 'finishedNode'] as const) expect(got[k][g * gs + f]).toBe(fresh[k][g * gs + f]);
      }
    }
    expect(Array.from(fresh.finishedCount).some((c) => c > 0)).toBe(true);  // the end token finished some IDs
  });

  it('rejects outputs of the wrong shape or in an input\'s memory', async () => {
    const short = allocateBeamStepOutput(batch, beams - 1, groups - 1);
    await expect(beamStep(trie, input, { out: short })).rejects.toThrow(/Int32Array of length 48 for out.nextNodes/);
    const out = allocateBeamStepOutput(batch, beams, groups);
    await expect(beamStep(trie, { ...input, nodes: out.nextNodes }, { out })).rejects.toThrow(/memory not shared with the step's inputs for out.nextNodes/);
    await expect(beamStep(trie, input, { out: {} as never })).rejects.toThrow(/out.nextNodes/);
  });
});

describe('searches sharing the scratch pool', () => {
  const r = rng(11);
  const codes = Array.from({ length: 400 }, () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => Math.floor(r() * 10)));
  const trie = IdTrie.build({ codes });
  const search = (batch: number, beams: number, groups: number, seed: number) => constrainedBeamSearch({
    trie, batch, beams, groups, diversityPenalty: 0.25, endToken: 10, step: hashModel(11, seed), format: 'arrays',
  });

  it('return what they return alone, in turn and at once, at shapes that reuse and outgrow the buffers', async () => {
    const shapes = [[20, 8, 4, 1], [3, 6, 3, 2], [40, 12, 4, 3], [20, 8, 4, 4]] as const;
    const alone = [];
    for (const [b, k, g, seed] of shapes) alone.push(await search(b, k, g, seed));
    for (let round = 0; round < 2; ++round) {
      for (let i = shapes.length - 1; i >= 0; --i) expect(await search(...shapes[i])).toEqual(alone[i]);
    }
    const together = await Promise.all(shapes.map((s) => search(...s)));
    together.forEach((got, i) => expect(got).toEqual(alone[i]));
  });
});
