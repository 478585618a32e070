// Trie-constrained diverse beam search: the trie, the native step against the TypeScript oracle,
// and the driver against exhaustive scoring and plain beam search.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  IdTrie, beamStep, beamStepReference, constrainedBeamSearch, cudaAvailable, exhaustiveSearch,
  type BeamStepInput, type BeamStepOutput, type StepFn, type StepRequest,
} from '../src/index.js';
import { loadAddon } from '../src/native/loader.js';
import { hashModel, rng } from './helpers.js';

/** items x length random codes in [0, k) (collisions likely when items is large vs k^length). */
function randomCodes(items: number, length: number, k: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: items * length }, () => Math.floor(r() * k));
}

/** A random but valid step state for a trie: beams at random nodes (some inactive). */
function randomState(trie: IdTrie, batch: number, beams: number, groups: number, vocab: number, inputBeams: number,
  seed: number, opts: { endToken?: number; logits?: boolean; penalty?: number; inactive?: number } = {}): BeamStepInput {
  const r = rng(seed);
  const nodes = new Int32Array(batch * beams);
  for (let i = 0; i < nodes.length; ++i) {
    let u: number;
    // Any node with children, or an ID's node when there is an end token.
    do u = Math.floor(r() * trie.nodes);
    while (trie.childStart[u + 1] === trie.childStart[u] && (opts.endToken ?? -1) < 0);
    nodes[i] = r() < (opts.inactive ?? 0.1) ? -1 : u;
  }
  const beamScores = Float32Array.from({ length: batch * beams }, () => -r() * 10);
  const scores = Float32Array.from({ length: batch * inputBeams * vocab }, () => (opts.logits ? (r() * 2 - 1) * 5 : Math.log(r() + 1e-9)));
  return { batch, beams, groups, vocab, inputBeams, scores, logits: opts.logits ?? false, nodes, beamScores, penalty: opts.penalty ?? 0.25, endToken: opts.endToken ?? -1 };
}

/** Native step output equals the reference's: selections exactly, scores within tol, moves on the trie. */
function expectSameStep(trie: IdTrie, input: BeamStepInput, got: BeamStepOutput, want: BeamStepOutput, tol: number): void {
  expect(Array.from(got.nextNodes)).toEqual(Array.from(want.nextNodes));
  expect(Array.from(got.nextParents)).toEqual(Array.from(want.nextParents));
  expect(Array.from(got.nextTokens)).toEqual(Array.from(want.nextTokens));
  expect(Array.from(got.finishedCount)).toEqual(Array.from(want.finishedCount));
  const gs = input.beams / input.groups;
  const live = (arr: Int32Array | Float32Array, counts: Int32Array) => Array.from(arr).filter((_, i) => i % gs < counts[Math.floor(i / gs)]);
  expect(live(got.finishedParent, got.finishedCount)).toEqual(live(want.finishedParent, want.finishedCount));
  expect(live(got.finishedNode, got.finishedCount)).toEqual(live(want.finishedNode, want.finishedCount));
  const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let m = 0;
    for (let i = 0; i < a.length; ++i) if (a[i] !== b[i]) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  };
  expect(diff(got.nextScores, want.nextScores)).toBeLessThanOrEqual(tol);
  expect(diff(live(got.finishedScore, got.finishedCount), live(want.finishedScore, want.finishedCount))).toBeLessThanOrEqual(tol);
  for (let i = 0; i < got.nextNodes.length; ++i) {
    if (got.nextNodes[i] < 0) continue;
    const parentNode = input.nodes[Math.floor(i / input.beams) * input.beams + got.nextParents[i]];
    expect(trie.child(parentNode, got.nextTokens[i])).toBe(got.nextNodes[i]); // every move follows the trie
  }
}

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
}

describe('IdTrie', () => {
  it('builds a CSR trie with sorted children, lookups and collisions', () => {
    const codes = new Int32Array([3, 1, 0, 2, 3, 1, 0, 0]); // items 0 and 2 collide on (3, 1)
    const trie = IdTrie.build({ codes, length: 2 });
    expect(trie.nodes).toBe(1 + 2 + 3);
    expect(Array.from(trie.allowed(trie.root()))).toEqual([0, 3]);
    expect(Array.from(trie.lookup([3, 1]))).toEqual([0, 2]);
    expect(Array.from(trie.lookup([0, 0]))).toEqual([3]);
    expect(trie.lookup([1, 1]).length).toBe(0);
    expect(trie.lookup([3]).length).toBe(0);
    const s = trie.stats();
    expect(s).toMatchObject({ ids: 3, entries: 4, maxDepth: 2, collidingIds: 1, entriesInCollisions: 2, largestBucket: 2 });
    expect(s.levels[0]).toMatchObject({ nodes: 1, maxChildren: 2 });
    for (let id = 0; id < trie.ids; ++id) {
      const toks = trie.tokensOf(trie.idNode[id]);
      expect(trie.walk(toks)).toBe(trie.idNode[id]);
    }
  });

  it('applies per-level offsets and keeps namespaces apart', () => {
    const trie = IdTrie.build([
      { name: 'search', codes: new Int32Array([1, 2, 3, 4]), length: 2, offsets: [0, 10] },
      { name: 'rec', codes: [[5], [6, 7]], offsets: 100 },
    ]);
    expect(Array.from(trie.lookup([1, 12], 'search'))).toEqual([0]);
    expect(Array.from(trie.lookup([3, 14], 'search'))).toEqual([1]);
    expect(trie.lookup([1, 12], 'rec').length).toBe(0);
    expect(Array.from(trie.lookup([106, 107], 'rec'))).toEqual([1]);
    expect(trie.vocabSize).toBe(108);
    expect(() => trie.root('nope')).toThrow(/namespace/);
  });

  it('round-trips through a file and rejects corrupt files', () => {
    const trie = IdTrie.build({ codes: randomCodes(500, 3, 8, 1), length: 3, offsets: [0, 8, 16] });
    const dir = mkdtempSync(join(tmpdir(), 'semid-trie-'));
    const path = join(dir, 'ids.trie');
    trie.save(path);
    const back = IdTrie.load(path);
    for (const key of ['childStart', 'childToken', 'childNode', 'terminal', 'idStart', 'idItems', 'roots'] as const) {
      expect(Array.from(back[key])).toEqual(Array.from(trie[key]));
    }
    expect(back.stats()).toEqual(trie.stats());
    const buf = trie.toBuffer();
    writeFileSync(path, buf.subarray(0, buf.length - 8));
    expect(() => IdTrie.load(path)).toThrow(/truncated|trailing|malformed/);
    // one wrong entry in any array is found when the file is read, not while decoding
    const start = 10 + 4 + buf.readUInt32LE(10);  // magic "SEMIDTRIE1", header length, header
    expect(buf.toString('latin1', 0, 10)).toBe('SEMIDTRIE1');
    const names = ['roots', 'childStart', 'childToken', 'childNode', 'terminal', 'parent', 'parentToken', 'depth', 'idStart', 'idItems', 'idNode'] as const;
    let at = start;
    for (const name of names) {
      const arr = trie[name];
      for (const [index, value] of [[arr.length - 1, -7], [0, arr[0] + 1], [arr.length >> 1, arr[arr.length >> 1] - 1]]) {
        if (name === 'idItems' && value >= 0) continue;  // any non-negative item number is an item
        const bad = Buffer.from(buf);
        bad.writeInt32LE(value, at + 4 * index);
        expect(() => IdTrie.fromBuffer(bad, `${name}[${index}]`), `${name}[${index}] = ${value}`).toThrow(/malformed trie|not a semid trie/);
      }
      at += 4 * arr.length;
    }
    expect(at).toBe(buf.length);
    writeFileSync(path, Buffer.from('not a trie at all'));
    expect(() => IdTrie.load(path)).toThrow(/not a semid trie file/);
    expect(() => IdTrie.load(join(dir, 'missing.trie'))).toThrow(/missing\.trie/);
  });

  it('rejects bad IDs with the parameter named', () => {
    expect(() => IdTrie.build({ codes: new Int32Array([1, 2, 3]), length: 2 })).toThrow(/length/);
    expect(() => IdTrie.build({ codes: [[1], []] })).toThrow(/non-empty ID.*codes\[1\]/);
    expect(() => IdTrie.build({ codes: [[1, -4]] })).toThrow(/codes\[0\]\[1\]/);
    expect(() => IdTrie.build({ codes: [[1]], items: [1, 2] })).toThrow(/items/);
    expect(() => IdTrie.build([{ name: 'a', codes: [[1]] }, { name: 'a', codes: [[2]] }])).toThrow(/name/);
  });
});

describe('beam step: dense trie nodes (>= 32 children in 256 tokens) read contiguously', () => {
  // The native CPU step reads such nodes' rows whole (SIMD) instead of gathering the children;
  // every group size takes a different floor width (2, 4, 16 beams) or none (32).
  const cases = [
    { beams: 60, groups: 30, L: 2, vocab: 256, items: 20000, end: false },
    { beams: 16, groups: 4, L: 2, vocab: 256, items: 30000, end: true },
    { beams: 64, groups: 4, L: 3, vocab: 64, items: 20000, end: false },
    { beams: 64, groups: 2, L: 2, vocab: 300, items: 30000, end: true },
  ];
  for (const [ci, c] of cases.entries()) {
    for (const logits of [false, true]) {
      it(`beams=${c.beams} groups=${c.groups} L=${c.L} vocab=${c.vocab} items=${c.items}${c.end ? ' end' : ''}${logits ? ' logits' : ''}`, async () => {
        const k = c.end ? c.vocab - 1 : c.vocab;
        const trie = IdTrie.build({ codes: randomCodes(c.items, c.L, k, 77 + ci), length: c.L });
        const input = randomState(trie, 37, c.beams, c.groups, c.vocab, c.beams, 500 + ci,
          { endToken: c.end ? c.vocab - 1 : -1, logits, penalty: 0.25 });
        const dense: number[] = [];  // most beams stand on dense nodes
        for (let u = 0; u < trie.nodes; ++u) if (trie.childStart[u + 1] - trie.childStart[u] >= 32) dense.push(u);
        expect(dense.length).toBeGreaterThan(10);
        for (let i = 0; i < input.nodes.length; ++i) if (input.nodes[i] >= 0 && i % 5 !== 0) input.nodes[i] = dense[(i * 7919) % dense.length];
        expectSameStep(trie, input, await beamStep(trie, input), beamStepReference(trie, input), logits ? 1e-5 : 0);
      });
    }
  }
});

describe('beam step: exact ties take the reference\'s order', () => {
  // Log-probabilities and beam scores on a 1/64 grid sum exactly in float32, so candidates tie
  // often (equal scores, equal floors, equal penalised scores); the native step (dense rows and
  // gathers, SIMD floors, rule-outs) must break every tie as the reference does.
  const r = rng(4242);
  let tiedCases = 0;
  for (let c = 0; c < 24; ++c) {
    const beams = [2, 4, 8, 16, 60, 64][c % 6];
    const groups = divisors(beams)[Math.floor(r() * divisors(beams).length)];
    const vocab = [17, 64, 256, 300][Math.floor(r() * 4)];
    const end = c % 3 === 0;
    const items = [50, 5000, 30000][c % 3 === 1 ? 0 : Math.floor(r() * 3)];
    const first = c % 5 === 4;
    it(`beams=${beams} groups=${groups} vocab=${vocab} items=${items}${end ? ' end' : ''}${first ? ' first step' : ''}`, async () => {
      const k = end ? vocab - 1 : vocab;
      const trie = IdTrie.build({ codes: randomCodes(items, 2, k, 60 + c), length: 2 });
      const input = randomState(trie, 33, beams, groups, vocab, beams, 70 + c, { endToken: end ? vocab - 1 : -1, penalty: [0, 0.25, 0.5][c % 3] });
      const grid = (x: number) => Math.round(x * 64) / 64;
      input.scores.forEach((_, i) => { input.scores[i] = -grid(r() * 3); });
      input.beamScores.forEach((_, i) => { input.beamScores[i] = first ? (i % beams === 0 ? 0 : -1e9) : -grid(r() * 2); });
      if (first) input.nodes.fill(trie.root());
      const want = beamStepReference(trie, input);
      let tied = 0;  // the test is only as good as its ties: count selected scores met twice in a query
      for (let b = 0; b < 33; ++b) {
        const seen = new Set<number>();
        for (let j = 0; j < beams; ++j) { const v = want.nextScores[b * beams + j]; if (want.nextNodes[b * beams + j] >= 0 && seen.has(v)) ++tied; seen.add(v); }
      }
      if (tied > 0) ++tiedCases;
      for (const threads of [1, 2]) expectSameStep(trie, input, await beamStep(trie, input, { threads }), want, 0);
    });
  }
  it('most of those cases selected tied scores', () => expect(tiedCases).toBeGreaterThanOrEqual(16));
});

describe('beam step: beams beyond 64, up to the limit of 1,024', () => {
  // Group sizes past the floor's widest (32 beams), one beam a group, and the largest beam
  // count the step takes; most beams on dense nodes, some on sparse ones, some inactive.
  const cases = [
    { beams: 1024, groups: 8, batch: 2, end: false },
    { beams: 1024, groups: 1024, batch: 1, end: true },
    { beams: 200, groups: 200, batch: 3, end: false },
    { beams: 256, groups: 4, batch: 3, end: true },
    { beams: 96, groups: 3, batch: 4, end: false },
  ];
  for (const [ci, c] of cases.entries()) {
    const logits = ci % 2 === 0;
    it(`beams=${c.beams} groups=${c.groups} batch=${c.batch}${c.end ? ' end' : ''}${logits ? ' logits' : ''}`, async () => {
      const vocab = 256, k = c.end ? vocab - 1 : vocab;
      const trie = IdTrie.build({ codes: randomCodes(5000, 2, k, 900 + ci), length: 2 });
      const input = randomState(trie, c.batch, c.beams, c.groups, vocab, c.beams, 950 + ci,
        { endToken: c.end ? vocab - 1 : -1, logits, penalty: 0.25 });
      for (let i = 0; i < input.nodes.length; ++i) if (input.nodes[i] >= 0 && i % 3 !== 0) input.nodes[i] = trie.root();
      expectSameStep(trie, input, await beamStep(trie, input), beamStepReference(trie, input), logits ? 1e-5 : 0);
    });
  }
});

describe('beam step: native equals the TypeScript reference', () => {
  const r = rng(2024);
  const configs: Array<{ beams: number; groups: number; L: number; vocab: number; batch: number; end: boolean; logits: boolean; inputBeams1: boolean }> = [];
  for (const beams of [1, 2, 3, 6, 8, 60, 64]) {
    for (const groups of divisors(beams).filter((g, i, all) => i === 0 || i === all.length - 1 || r() < 0.3)) {
      const L = 1 + Math.floor(r() * 4);
      const vocab = [2, 3, 17, 256, 1024][Math.floor(r() * 5)];
      const batch = [1, 3, 37, 512][Math.floor(r() * 4)];
      configs.push({ beams, groups, L, vocab, batch: beams * batch > 8192 ? 37 : batch, end: r() < 0.4, logits: r() < 0.5, inputBeams1: r() < 0.2 });
    }
  }
  for (const [ci, c] of configs.entries()) {
    const name = `beams=${c.beams} groups=${c.groups} L=${c.L} vocab=${c.vocab} batch=${c.batch}${c.end ? ' end' : ''}${c.logits ? ' logits' : ''}${c.inputBeams1 ? ' 1-row' : ''}`;
    it(name, async () => {
      const tokenSpace = c.end ? c.vocab - 1 : c.vocab;
      const k = Math.max(1, Math.min(tokenSpace, 1 + Math.floor(r() * tokenSpace)));
      const items = 1 + Math.floor(r() * 300);
      const codes = c.end
        ? Array.from({ length: items }, () => Array.from({ length: 1 + Math.floor(r() * c.L) }, () => Math.floor(r() * k)))
        : null;
      const trie = codes ? IdTrie.build({ codes }) : IdTrie.build({ codes: randomCodes(items, c.L, k, ci), length: c.L });
      const input = randomState(trie, c.batch, c.beams, c.groups, c.vocab, c.inputBeams1 ? 1 : c.beams, 1000 + ci,
        { endToken: c.end ? c.vocab - 1 : -1, logits: c.logits, penalty: [0, 0.25, 1.5][ci % 3] });
      expectSameStep(trie, input, await beamStep(trie, input), beamStepReference(trie, input), c.logits ? 1e-5 : 0);
    });
  }

  it('penalises tokens chosen by earlier groups (hand-computed)', async () => {
    const trie = IdTrie.build({ codes: [[0], [1], [2]] });
    const lp = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    const input: BeamStepInput = {
      batch: 1, beams: 2, groups: 2, vocab: 3, inputBeams: 1, scores: lp, nodes: new Int32Array([0, 0]),
      beamScores: new Float32Array([0, 0]), penalty: 1,
    };
    const out = await beamStep(trie, input);
    // Group 0 takes token 0 (log 0.5); group 1 sees token 0 at log 0.5 - 1 < log 0.3: takes token 1.
    expect(Array.from(out.nextTokens)).toEqual([0, 1]);
    expect(out.nextScores[1]).toBe(Math.fround(Math.log(0.3)));
    const noPenalty = await beamStep(trie, { ...input, penalty: 0 });
    expect(Array.from(noPenalty.nextTokens)).toEqual([0, 0]);
  });
});

describe('constrained beam search', () => {
  it('returns only IDs of the trie, ranked by score', async () => {
    const trie = IdTrie.build({ codes: randomCodes(3000, 3, 32, 7), length: 3 });
    const res = await constrainedBeamSearch({ trie, step: hashModel(32, 1), batch: 5, beams: 12, groups: 4, diversityPenalty: 0.25 });
    for (const q of res) {
      expect(q.hypotheses.length).toBe(12);
      for (const h of q.hypotheses) {
        expect(Array.from(trie.lookup(h.tokens))).toEqual(Array.from(h.items));
        expect(h.items.length).toBeGreaterThan(0);
      }
      for (let i = 1; i < q.hypotheses.length; ++i) expect(q.hypotheses[i].score).toBeLessThanOrEqual(q.hypotheses[i - 1].score);
      expect(new Set(q.items).size).toBe(q.items.length);
    }
  });

  it('exhaustive search: each topk is the head of the full ranking, ties (equal scores) by tokens', async () => {
    const codes = randomCodes(300, 2, 8, 77);
    const trie = IdTrie.build({ codes, length: 2 });
    const quantised: StepFn = (req) => hashModel(8, 5)(req).map((v) => Math.round(v));  // many equal scores
    const all = await exhaustiveSearch({ trie, step: quantised, batch: 3, topk: trie.ids });
    for (const topk of [1, 3, 7, 20, trie.ids - 1]) {
      const some = await exhaustiveSearch({ trie, step: quantised, batch: 3, topk, maxRows: 5 });
      for (let q = 0; q < 3; ++q) {
        expect(some[q].hypotheses.map((h) => [h.tokens, h.score])).toEqual(all[q].hypotheses.slice(0, topk).map((h) => [h.tokens, h.score]));
      }
    }
    for (let q = 0; q < 3; ++q) {
      const h = all[q].hypotheses;
      expect(h).toHaveLength(trie.ids);
      for (let i = 1; i < h.length; ++i) {
        const a = h[i - 1], b = h[i];
        expect(a.score > b.score || (a.score === b.score && (a.tokens[0] < b.tokens[0] || (a.tokens[0] === b.tokens[0] && a.tokens[1] < b.tokens[1])))).toBe(true);
      }
    }
  });

  for (const [levels, k, withEnd] of [[1, 9, false], [2, 6, false], [3, 4, false], [2, 5, true]] as const) {
    it(`equals exhaustive scoring when beams >= IDs (levels=${levels} k=${k}${withEnd ? ' end token' : ''})`, async () => {
      const vocab = k + (withEnd ? 1 : 0);
      const codes = randomCodes(40, levels, k, levels * 10 + k);
      const trie = withEnd
        ? IdTrie.build({ codes: Array.from({ length: 40 }, (_, i) => Array.from(codes.subarray(i * levels, i * levels + 1 + (i % levels)))) })
        : IdTrie.build({ codes, length: levels });
      const beams = Math.max(trie.ids, 2);
      const model = hashModel(vocab, 3);
      const opts = { trie, step: model, batch: 4, endToken: withEnd ? k : undefined };
      const exact = await exhaustiveSearch({ ...opts, topk: trie.ids });
      const beam = await constrainedBeamSearch({ ...opts, beams, groups: 1, diversityPenalty: 0 });
      for (let q = 0; q < 4; ++q) {
        const b = beam[q].hypotheses.filter((h) => h.score > -1e8);
        expect(b.map((h) => h.tokens)).toEqual(exact[q].hypotheses.map((h) => h.tokens));
        for (let i = 0; i < b.length; ++i) expect(b[i].score).toBeCloseTo(exact[q].hypotheses[i].score, 4);
      }
    });
  }

  it('with penalty 0 every group runs the plain beam search of groupSize beams', async () => {
    const trie = IdTrie.build({ codes: randomCodes(2000, 3, 16, 11), length: 3 });
    const step = hashModel(16, 5);
    const grouped = await constrainedBeamSearch({ trie, step, batch: 3, beams: 12, groups: 3, diversityPenalty: 0 });
    const plain = await constrainedBeamSearch({ trie, step, batch: 3, beams: 4, groups: 1, diversityPenalty: 0 });
    // An independent plain beam search: expand every beam, keep the best 4 by score.
    for (let q = 0; q < 3; ++q) {
      let beams: Array<{ tokens: number[]; node: number; score: number }> = [{ tokens: [], node: trie.root(), score: 0 }];
      for (let level = 0; level < 3; ++level) {
        const logits = step({ step: level, rows: beams.length, tokens: Int32Array.from(beams.flatMap((b) => b.tokens)), parents: new Int32Array(beams.length), queries: new Int32Array(beams.length).fill(q), active: new Uint8Array(beams.length).fill(1) }) as Float32Array;
        const cand: typeof beams = [];
        beams.forEach((b, i) => {
          const row = logits.subarray(i * 16, (i + 1) * 16);
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
          for (const t of trie.allowed(b.node)) cand.push({ tokens: [...b.tokens, t], node: trie.child(b.node, t), score: Math.fround(Math.fround(row[t] - Math.fround(lse)) + b.score) });
        });
        cand.sort((a, b) => b.score - a.score);
        beams = cand.slice(0, 4);
      }
      expect(plain[q].hypotheses.map((h) => h.tokens)).toEqual(beams.map((b) => b.tokens));
      const distinct = [...new Map(grouped[q].hypotheses.map((h) => [h.tokens.join(','), h])).values()];
      expect(distinct.map((h) => h.tokens)).toEqual(beams.map((b) => b.tokens));
    }
  });

  it('diversity spreads the groups over more distinct first tokens', async () => {
    const trie = IdTrie.build({ codes: randomCodes(3000, 2, 64, 3), length: 2 });
    const step = hashModel(64, 9, 1.5);
    const firstTokens = async (penalty: number) => {
      const [r] = await constrainedBeamSearch({ trie, step, batch: 1, beams: 20, groups: 10, diversityPenalty: penalty });
      return new Set(r.hypotheses.map((h) => h.tokens.join(','))).size;
    };
    expect(await firstTokens(2)).toBeGreaterThan(await firstTokens(0));
  });

  it('decodes each query in its own namespace', async () => {
    const trie = IdTrie.build([
      { name: 'search', codes: randomCodes(200, 2, 8, 1), length: 2, offsets: [0, 8] },
      { name: 'rec', codes: randomCodes(200, 2, 8, 2), length: 2, offsets: [16, 24] },
    ]);
    const res = await constrainedBeamSearch({ trie, step: hashModel(32, 2), batch: 2, beams: 6, groups: 3, diversityPenalty: 0.25, namespace: ['search', 'rec'] });
    for (const h of res[0].hypotheses) expect(h.tokens.every((t) => t < 16)).toBe(true);
    for (const h of res[1].hypotheses) expect(h.tokens.every((t) => t >= 16)).toBe(true);
  });

  it('rejects bad parameters with the parameter named', async () => {
    const trie = IdTrie.build({ codes: randomCodes(50, 2, 8, 1), length: 2 });
    const step = hashModel(8, 1);
    await expect(constrainedBeamSearch({ trie, step, batch: 1, beams: 10, groups: 3 })).rejects.toThrow(/groups/);
    await expect(constrainedBeamSearch({ trie, step, batch: 1, beams: 4, groups: 2, diversityPenalty: -1 })).rejects.toThrow(/diversityPenalty/);
    await expect(constrainedBeamSearch({ trie, step: hashModel(4, 1), batch: 1, beams: 4, groups: 2 })).rejects.toThrow(/vocab/);
    await expect(constrainedBeamSearch({ trie, step: () => new Float32Array(3), batch: 2, beams: 4, groups: 2 })).rejects.toThrow(/step\(\) result/);
    const varTrie = IdTrie.build({ codes: [[1], [1, 2]] });
    await expect(constrainedBeamSearch({ trie: varTrie, step, batch: 1, beams: 2, groups: 1 })).rejects.toThrow(/endToken/);
    const input = randomState(trie, 2, 4, 2, 8, 4, 1);
    await expect(beamStep(trie, { ...input, scores: new Float32Array(5) })).rejects.toThrow(/scores/);
    await expect(beamStep(trie, { ...input, nodes: new Int32Array(8).fill(trie.nodes) })).rejects.toThrow(/nodes\[0\]/);
    const nan = Float32Array.from(input.scores);
    nan.fill(NaN);
    await expect(beamStep(trie, { ...input, scores: nan, logits: true })).rejects.toThrow(/NaN/);
  });

  it('reports a malformed trie instead of decoding without constraint', async () => {
    const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0]), length: 2 });
    const leaf = trie.idNode[0];
    trie.terminal[leaf] = -1; // a leaf that ends no ID
    const input: BeamStepInput = {
      batch: 1, beams: 1, groups: 1, vocab: 2, inputBeams: 1, scores: new Float32Array(2), nodes: new Int32Array([leaf]),
      beamScores: new Float32Array(1), penalty: 0,
    };
    await expect(beamStep(trie, input)).rejects.toMatchObject({ code: 'ERR_SEMID_TRIE' });
    expect(() => beamStepReference(trie, input)).toThrow(/no children and ends no ID/);
  });

  it('asks for an end token when an ID is a prefix of another (found once per trie)', async () => {
    const trie = IdTrie.build({ codes: [[1], [1, 2], [3, 0]] });  // [1] ends where [1, 2] goes on
    const prefix = trie.walk([1]);
    expect(trie.prefixNode).toBe(prefix);
    expect(IdTrie.build({ codes: [[1, 2], [3, 0]] }).prefixNode).toBe(-1);
    const step = ({ rows }: { rows: number }) => new Float32Array(rows * 5).fill(0.5);
    for (let attempt = 0; attempt < 2; ++attempt) {  // the second time from the cached node
      await expect(constrainedBeamSearch({ trie, step, batch: 1, beams: 2, groups: 1 }))
        .rejects.toThrow(new RegExp(`prefix of another \\(node ${prefix}\\): pass endToken`));
    }
    const found = await constrainedBeamSearch({ trie, step, batch: 1, beams: 4, groups: 1, endToken: 4 });
    expect([...new Set(found[0].hypotheses.map((h) => h.tokens.join(',')))].sort()).toEqual(['1', '1,2', '3,0']);
  });

  it('without an end token, decodes namespaces whose IDs differ in length, alone or in one batch', async () => {
    const trie = IdTrie.build([
      { name: 'search', codes: [[0, 1], [1, 0], [1, 1]] }, { name: 'rec', codes: [[2, 2, 2], [2, 1, 0], [0, 0, 1]] },
      { name: 'mixed', codes: [[0], [1, 2]] },
    ]);
    expect(trie.idLengths(0)).toEqual({ min: 2, max: 2, prefixNode: -1 });
    expect(trie.idLengths(1)).toEqual({ min: 3, max: 3, prefixNode: -1 });
    expect(trie.idLengths(2)).toEqual({ min: 1, max: 2, prefixNode: -1 });
    // A row's logits follow its query, beam (r % 4: four beams) and step, the same in every batch below.
    const step = ({ step: s, rows, queries }: StepRequest) => {
      const out = new Float32Array(rows * 3);
      for (let r = 0; r < rows; ++r) for (let t = 0; t < 3; ++t) out[r * 3 + t] = Math.sin(1 + 7 * queries[r] + 3 * (r % 4) + 5 * s + t);
      return out;
    };
    for (const backend of ['native', 'reference'] as const) {
      const options = { trie, step, beams: 4, groups: 2, diversityPenalty: 0.5, backend };
      const search = await constrainedBeamSearch({ ...options, batch: 2, namespace: 'search' });
      const rec = await constrainedBeamSearch({ ...options, batch: 2, namespace: 'rec' });
      const both = await constrainedBeamSearch({ ...options, batch: 2, namespace: ['search', 'rec'] });
      expect(search[0].hypotheses.every((h) => h.tokens.length === 2)).toBe(true);
      expect(both[0]).toEqual(search[0]);  // each query as it decodes alone
      expect(both[1]).toEqual(rec[1]);
      await expect(constrainedBeamSearch({ ...options, batch: 1, namespace: 'mixed' }))
        .rejects.toThrow(/namespace "mixed" have 1 to 2 tokens: pass endToken/);
      await expect(constrainedBeamSearch({ ...options, batch: 1, namespace: 'mixed', endToken: 3, step: ({ rows }: StepRequest) => new Float32Array(rows * 4) }))
        .resolves.toHaveLength(1);
    }
  });

  it('takes an end token only outside the IDs\' tokens', async () => {
    const trie = IdTrie.build({ codes: [[0, 1], [1, 0], [1, 1, 2]] });
    expect([0, 1, 2, 3].map((t) => trie.usesToken(t))).toEqual([true, true, true, false]);
    const step = ({ rows }: { rows: number }) => new Float32Array(rows * 4).map((_, i) => Math.sin(i));
    const wrong = /a token that no ID uses .* for endToken but received 2/;
    await expect(constrainedBeamSearch({ trie, step, batch: 1, beams: 2, groups: 1, endToken: 2 })).rejects.toThrow(wrong);
    await expect(exhaustiveSearch({ trie, step, batch: 1, topk: 2, endToken: 2 })).rejects.toThrow(wrong);
    await expect(constrainedBeamSearch({ trie, step, batch: 1, beams: 2, groups: 1, endToken: 3 })).resolves.toHaveLength(1);
    await expect(exhaustiveSearch({ trie, step, batch: 1, topk: 2, endToken: 3 })).resolves.toHaveLength(1);
  });

  it('reports NaN scores, and rows of logits that are -Infinity everywhere, for both backends', async () => {
    const trie = IdTrie.build({ codes: [[0, 1], [1, 0]] });
    const nan = ({ rows }: { rows: number }) => new Float32Array(rows * 2).fill(NaN);
    const dead = ({ rows }: { rows: number }) => new Float32Array(rows * 2).fill(-Infinity);
    for (const backend of ['native', 'reference'] as const) {
      await expect(constrainedBeamSearch({ trie, step: nan, batch: 1, beams: 2, groups: 1, backend }))
        .rejects.toMatchObject({ code: 'ERR_SEMID_NOT_FINITE', message: expect.stringMatching(/holds NaN or \+Infinity/) });
      await expect(constrainedBeamSearch({ trie, step: dead, batch: 1, beams: 2, groups: 1, backend }))
        .rejects.toMatchObject({ code: 'ERR_SEMID_NOT_FINITE', message: expect.stringMatching(/-Infinity across the whole row/) });
    }
  });

  it('names the first query whose row is dead, whatever the thread count', async () => {
    // every row of queries 63 and 64 is -Infinity: 63 ends a block of queries a thread takes and
    // 64 starts the next (at 1-16 threads), so 64 is usually met first; the error is still the
    // lowest query's, as the reference reports it
    const trie = IdTrie.build({ codes: randomCodes(500, 2, 16, 3), length: 2 });
    const input = randomState(trie, 1024, 4, 2, 16, 4, 11, { logits: true, inactive: 0 });
    for (const q of [63, 64]) input.scores.fill(-Infinity, q * 4 * 16, (q + 1) * 4 * 16);
    const want = (() => { try { beamStepReference(trie, input); } catch (e) { return (e as Error).message; } return ''; })();
    expect(want).toMatch(/query 63\b/);
    for (let rep = 0; rep < 20; ++rep) {
      for (const threads of [1, 2, 4, 16]) await expect(beamStep(trie, input, { threads })).rejects.toThrow(want);
    }
  });

  it('the addon\'s positional beamStep rejects a wrong argument count or array type with a TypeError', async () => {
    const addon = loadAddon().addon as unknown as { beamStep: (...args: unknown[]) => Promise<void> };
    expect(() => addon.beamStep({ batch: 1 })).toThrow(/beamStep takes 31 arguments, got 1/);
    const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0]), length: 2 });
    const i32 = (n: number) => new Int32Array(n), f32 = (n: number) => new Float32Array(n);
    const args: unknown[] = [trie.nodes, trie.edges, undefined, trie.childStart, trie.childToken, trie.childNode, trie.terminal, undefined,
      1, 1, 1, 2, 1, true, 0, -1, f32(2), new Int32Array([trie.root()]), f32(1), undefined,
      i32(1), f32(1), i32(1), i32(1), i32(1), i32(1), f32(1), i32(1), 'cpu', 1, undefined];
    await expect(addon.beamStep(...args)).resolves.toBeUndefined();
    args[17] = f32(1);  // nodes
    expect(() => addon.beamStep(...args)).toThrow(/Expected Int32Array for nodes/);
    // An addon built before this convention (no beamStepArgs) is named as stale, not misread.
    const raw = loadAddon().addon as { beamStepArgs?: number };
    const saved = raw.beamStepArgs;
    delete raw.beamStepArgs;
    try {
      const input: BeamStepInput = { batch: 1, beams: 1, groups: 1, vocab: 2, inputBeams: 1, scores: f32(2), nodes: new Int32Array([trie.root()]), beamScores: f32(1), penalty: 0 };
      await expect(beamStep(trie, input)).rejects.toMatchObject({ code: 'ERR_SEMID_STALE_ADDON', message: expect.stringMatching(/npm install/) });
    } finally {
      raw.beamStepArgs = saved;
    }
  });

  it('stops on an aborted signal', async () => {
    const trie = IdTrie.build({ codes: randomCodes(50, 2, 8, 1), length: 2 });
    const ac = new AbortController();
    ac.abort();
    await expect(constrainedBeamSearch({ trie, step: hashModel(8, 1), batch: 1, beams: 4, groups: 2, signal: ac.signal })).rejects.toThrow(/abort/i);
  });
});

describe.skipIf(!cudaAvailable())('beam step: CUDA equals the CPU', () => {
  for (const [beams, groups, L, vocab, batch, end] of [[60, 30, 3, 256, 64, false], [64, 1, 2, 1024, 16, false], [8, 4, 4, 17, 512, true], [1, 1, 1, 2, 3, false], [60, 30, 2, 256, 1024, true]] as const) {
    it(`beams=${beams} groups=${groups} L=${L} vocab=${vocab} batch=${batch}${end ? ' end' : ''}`, async () => {
      const tokenSpace = end ? vocab - 1 : vocab;
      const trie = IdTrie.build({ codes: randomCodes(5000, L, tokenSpace, beams), length: L });
      for (const logits of [false, true]) {
        const input = randomState(trie, batch, beams, groups, vocab, beams, vocab + batch, { endToken: end ? vocab - 1 : -1, logits });
        const cpu = await beamStep(trie, input, { device: 'cpu' });
        const gpu = await beamStep(trie, input, { device: 'cuda' });
        expect(Array.from(gpu.nextTokens)).toEqual(Array.from(cpu.nextTokens));
        expect(Array.from(gpu.nextParents)).toEqual(Array.from(cpu.nextParents));
        expect(Array.from(gpu.finishedCount)).toEqual(Array.from(cpu.finishedCount));
        let m = 0;
        for (let i = 0; i < cpu.nextScores.length; ++i) if (cpu.nextScores[i] !== gpu.nextScores[i]) m = Math.max(m, Math.abs(cpu.nextScores[i] - gpu.nextScores[i]));
        expect(m).toBeLessThanOrEqual(logits ? 1e-5 : 0);
      }
    });
  }
});
