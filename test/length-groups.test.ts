// The training loss in length groups: the partition is the best one (brute force), and running
// rows by length gives the loss and gradients of the padded batch (dropout off), for right-padded,
// left-padded and ragged-label batches; bad input still names the caller's row.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { T5Model, T5_PRESETS, initRuntime } from '../src/index.js';
import { lengthGroups, rowExtents, subBatch } from '../src/model/t5/length-groups.js';
import type { T5Batch } from '../src/model/t5/model.js';
import { mulberry32 } from '../src/data/random.js';

/** Fewest padded tokens over every split of the sorted lengths into at most g runs (exhaustive). */
function bruteForce(lengths: number[], g: number): number {
  const s = [...lengths].sort((a, b) => a - b);
  let best = Infinity;
  const rec = (start: number, left: number, acc: number) => {
    if (start === s.length) { best = Math.min(best, acc); return; }
    if (left === 0) return;
    for (let end = start + 1; end <= s.length; end++) rec(end, left - 1, acc + (end - start) * s[end - 1]);
  };
  rec(0, g, 0);
  return best;
}

const padded = (groups: ReturnType<typeof lengthGroups>) => groups.reduce((a, gr) => a + gr.rows.length * gr.sourceLength, 0);

describe('length groups', () => {
  it('rowExtents finds the last kept position, and keeps a row without any whole', () => {
    expect(Array.from(rowExtents(Int32Array.of(1, 1, 0, 1, 0, 0, 0, 0, 0), 3, 3, (v) => v !== 0))).toEqual([2, 1, 3]);
    expect(Array.from(rowExtents(Int32Array.of(0, 0, 1, 5, -100, -100), 2, 3, (v) => v !== -100))).toEqual([3, 1]);
  });

  it('takes the partition with the fewest padded tokens, every row once, and splits only where it pays', () => {
    const rand = mulberry32(3);
    for (let t = 0; t < 60; t++) {
      const n = 1 + Math.floor(rand() * 12);
      const src = Int32Array.from({ length: n }, () => 1 + Math.floor(rand() * (t % 2 ? 6 : 40)));
      const tgt = Int32Array.from({ length: n }, () => 1 + Math.floor(rand() * 4));
      for (const maxGroups of [1, 2, 3]) {
        const groups = lengthGroups(src, tgt, maxGroups, 0);
        const rows = groups.flatMap((g) => Array.from(g.rows)).sort((a, b) => a - b);
        expect(rows).toEqual(Array.from({ length: n }, (_, i) => i));
        for (const g of groups) {
          expect(g.sourceLength).toBe(Math.max(...Array.from(g.rows, (r) => src[r])));
          expect(g.targetLength).toBe(Math.max(...Array.from(g.rows, (r) => tgt[r])));
        }
        expect(groups.length).toBeLessThanOrEqual(maxGroups);
        expect(padded(groups)).toBe(bruteForce(Array.from(src), maxGroups));
      }
    }
    // equal lengths: one group; a saving under minSaving: one group; short and long rows: two
    expect(lengthGroups(Int32Array.of(7, 7, 7), Int32Array.of(2, 2, 2))).toHaveLength(1);
    expect(lengthGroups(Int32Array.of(39, 40, 40, 40), Int32Array.of(2, 2, 2, 2))).toHaveLength(1);
    // bad input is named
    expect(() => lengthGroups([5, 6] as never, Int32Array.of(1, 1))).toThrow(/sourceExtents/);
    expect(() => lengthGroups(Int32Array.of(5, 6), Int32Array.of(1))).toThrow(/at least 2 values[^]*for targetExtents/);
    expect(() => lengthGroups(Int32Array.of(5, 6), Int32Array.of(1, 1), 0)).toThrow(/maxGroups/);
    expect(() => lengthGroups(Int32Array.of(5, 6), Int32Array.of(1, 1), 2, 1.5)).toThrow(/minSaving/);
    expect(() => rowExtents(Int32Array.of(1, 1, 1), 2, 2, (v) => v !== 0)).toThrow(/at least 4 values[^]*for values/);
    const two = lengthGroups(Int32Array.of(5, 43, 6, 43, 7), Int32Array.of(3, 3, 3, 3, 3));
    expect(two.map((g) => [Array.from(g.rows), g.sourceLength])).toEqual([[[0, 2, 4], 7], [[1, 3], 43]]);
  });
});

describe('T5 loss in length groups', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  /** A batch of rows with random source extents, padded right (or left) and ragged labels. */
  function batchOf(seed: number, rows: number, vocab: number, leftPadRow = -1, oddRows = false): T5Batch {
    const rand = mulberry32(seed);
    const ls = 19, lt = 4;
    const inputIds = new Int32Array(rows * ls);
    const attentionMask = new Int32Array(rows * ls);
    const labels = new Int32Array(rows * lt).fill(-100);
    const decoderInputIds = new Int32Array(rows * lt);
    for (let r = 0; r < rows; r++) {
      const len = r % 3 === 0 ? ls - Math.floor(rand() * 3) : 2 + Math.floor(rand() * 5);
      for (let t = 0; t < len; t++) {
        const at = r === leftPadRow ? ls - len + t : t;
        inputIds[r * ls + at] = 2 + Math.floor(rand() * (vocab - 2));
        attentionMask[r * ls + at] = 1;
      }
      const tl = 1 + Math.floor(rand() * lt);
      for (let t = 0; t < tl; t++) labels[r * lt + t] = 2 + Math.floor(rand() * (vocab - 2));
      if (r === 1) labels[r * lt] = -100; // an ignored label before kept ones
      if (oddRows && r === 4) attentionMask.fill(0, r * ls, (r + 1) * ls); // a row without tokens
      if (oddRows && r === 5) attentionMask[r * ls + 1] = 0; // a masked token inside a row
      if (oddRows && r === 7) labels.fill(-100, r * lt, (r + 1) * lt); // a row without labels
      for (let t = 1; t < lt; t++) decoderInputIds[r * lt + t] = Math.max(0, labels[r * lt + t - 1]);
    }
    return { batchSize: rows, sourceLength: ls, targetLength: lt, inputIds, attentionMask, decoderInputIds, labels };
  }

  for (const [name, leftPad, odd] of [['right-padded', -1, false], ['one row padded on the left', 2, false], ['rows without tokens, with a gap, without labels', -1, true]] as const) {
    it(`gives the padded batch's loss and gradients (${name})`, () => {
      const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 50 }, 5);
      const batch = batchOf(11, 13, 50, leftPad, odd);
      const extents = (a: Int32Array, len: number, keep: (v: number) => boolean) => rowExtents(a, 13, len, keep);
      expect(lengthGroups(extents(batch.attentionMask, 19, (m) => m !== 0), extents(batch.labels!, 4, (l) => l !== -100)).length).toBeGreaterThan(1);
      const vars = [...model.params.values()];
      const run = (lengthGroups: boolean) => tf.variableGrads(() => model.loss(batch, { lengthGroups }), vars);
      const whole = run(false);
      const grouped = run(true);
      expect(grouped.value.dataSync()[0]).toBeCloseTo(whole.value.dataSync()[0], 5);
      let checked = 0;
      for (const [k, g] of Object.entries(whole.grads)) {
        const a = g.dataSync();
        const b = grouped.grads[k].dataSync();
        let scale = 1e-6;
        for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]) / scale).toBeLessThan(2e-5);
        checked++;
      }
      expect(checked).toBe(vars.length);
      tf.dispose([whole.value, grouped.value, ...Object.values(whole.grads), ...Object.values(grouped.grads)]);
      model.dispose();
    });
  }

  it('trains with dropout in groups (seeded, finite) and names a bad id by its row in the caller\'s batch', () => {
    const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 50 }, 5);
    const batch = batchOf(12, 9, 50);
    const a = model.loss(batch, { training: true, seed: 3 }).dataSync()[0];
    const b = model.loss(batch, { training: true, seed: 3 }).dataSync()[0];
    const c = model.loss(batch, { training: true, seed: 4 }).dataSync()[0];
    expect(Number.isFinite(a)).toBe(true);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    const bad = { ...batch, labels: batch.labels!.slice() };
    bad.labels[4 * 4 + 0] = 77;
    expect(() => model.loss(bad)).toThrow(/batch\.labels\[16\].*77/);
    const badIds = { ...batch, inputIds: batch.inputIds.slice() };
    badIds.inputIds[8 * 19] = 99;
    expect(() => model.loss(badIds)).toThrow(/batch\.inputIds\[152\]/);
    expect(() => model.loss({ ...batch, labels: batch.labels!.subarray(1) })).toThrow(/batch\.labels/);
    expect(() => subBatch(batch, { rows: Int32Array.of(0, 9), sourceLength: 5, targetLength: 2 })).toThrow(/group\.rows\[1\]/);
    expect(() => subBatch(batch, { rows: Int32Array.of(0), sourceLength: 20, targetLength: 2 })).toThrow(/group\.sourceLength/);
    model.dispose();
  });
});
