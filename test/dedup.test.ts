// TIGER's dedup level (dedupCodes): every item's ID made its own, numbered in item order, against
// a plain string-keyed count; a catalogue's numbers continued for new items; bad input named.
import { describe, expect, it } from 'vitest';
import { dedupCodes } from '../src/index.js';
import { rng } from './helpers.js';

/** The oracle: for each row, how many earlier rows had the same first `levels` codes. */
function bruteForce(codes: ArrayLike<number>, levels: number) {
  const seen = new Map<string, number>();
  const suffix: number[] = [];
  for (let i = 0; i < codes.length / levels; ++i) {
    const key = Array.from({ length: levels }, (_, l) => codes[i * levels + l]).join(',');
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    suffix.push(k);
  }
  const sizes = [...seen.values()];
  return { suffix, largest: Math.max(1, ...sizes), shared: sizes.filter((s) => s > 1).length };
}

describe('dedupCodes', () => {
  it('numbers the items that share an ID in item order, as TIGER\'s extra level', () => {
    const r = dedupCodes(new Int32Array([3, 1, 3, 1, 0, 2, 3, 1]), 2);
    expect(Array.from(r.codes)).toEqual([3, 1, 0, 3, 1, 1, 0, 2, 0, 3, 1, 2]);
    expect(r).toMatchObject({ levels: 3, suffixSize: 3, sharedIds: 1 });
    const alone = dedupCodes([5, 6, 7], 1);
    expect(Array.from(alone.codes)).toEqual([5, 0, 6, 0, 7, 0]);
    expect(alone).toMatchObject({ suffixSize: 1, sharedIds: 0 });
    expect(dedupCodes(new Int32Array(0), 2)).toMatchObject({ levels: 3, suffixSize: 1, sharedIds: 0 });
  });

  it('equals a string-keyed count for many shapes, input types and code ranges (numeric and string keys)', () => {
    const r = rng(11);
    for (let trial = 0; trial < 60; ++trial) {
      const levels = 1 + (trial % 4);
      const rows = 1 + Math.floor(r() * 3000);
      // small ranges collide a lot; codes up to 2^31 - 1 take the string key beyond 52 bits
      const range = [2, 7, 256, 65536, 2 ** 31 - 1][trial % 5];
      const codes = new Int32Array(rows * levels);
      for (let i = 0; i < codes.length; ++i) codes[i] = r() < 0.5 && i >= levels ? codes[i - levels] : Math.floor(r() * range);
      const input = trial % 3 === 0 ? Array.from(codes) : trial % 3 === 1 && range <= 65536 ? Uint32Array.from(codes) : codes;
      const got = dedupCodes(input, levels);
      const want = bruteForce(codes, levels);
      expect(got.levels).toBe(levels + 1);
      for (let i = 0; i < rows; ++i) {
        for (let l = 0; l < levels; ++l) expect(got.codes[i * (levels + 1) + l]).toBe(codes[i * levels + l]);
      }
      expect(Array.from({ length: rows }, (_, i) => got.codes[i * (levels + 1) + levels])).toEqual(want.suffix);
      expect(got.suffixSize).toBe(want.largest);
      expect(got.sharedIds).toBe(want.shared);
      // every item's ID is its own now
      expect(bruteForce(got.codes, levels + 1).largest).toBe(1);
    }
  });

  it('with `after`, numbers new items after the catalogue\'s: the same codes as deduplicating both at once', () => {
    const r = rng(5);
    for (const levels of [1, 2, 3]) {
      const n = 800, m = 300;
      const all = Int32Array.from({ length: (n + m) * levels }, () => Math.floor(r() * 6));
      const catalogue = dedupCodes(all.subarray(0, n * levels), levels);
      const fresh = dedupCodes(all.subarray(n * levels), levels, { after: { data: catalogue.codes, levels: levels + 1 } });
      const together = dedupCodes(all, levels);
      expect(Array.from(fresh.codes)).toEqual(Array.from(together.codes.subarray(n * (levels + 1))));
      expect(fresh.suffixSize).toBe(together.suffixSize);
      expect(fresh.sharedIds).toBe(together.sharedIds);
    }
    // a catalogue with gaps in its numbers (an item removed): new items go after its largest
    const gaps = dedupCodes([4, 4], 1, { after: { data: [4, 0, 4, 5, 9, 0], levels: 2 } });
    expect(Array.from(gaps.codes)).toEqual([4, 6, 4, 7]);
    expect(gaps).toMatchObject({ suffixSize: 8, sharedIds: 1 });
  });

  it('rejects bad input with the parameter named', () => {
    expect(() => dedupCodes([1, 2, 3], 2)).toThrow(/Expected a length divisible by levels=2 for codes but received 3/);
    expect(() => dedupCodes([1, -2], 1)).toThrow(/Expected a non-negative integer code for codes\[1\] but received -2/);
    expect(() => dedupCodes([1, 2.5], 2)).toThrow(/for codes\[1\] but received 2.5/);
    expect(() => dedupCodes([1, NaN], 2)).toThrow(/for codes\[1\]/);
    expect(() => dedupCodes([1, 2], 0)).toThrow(/levels/);
    expect(() => dedupCodes('12' as never, 1)).toThrow(/for codes/);
    expect(() => dedupCodes([1, 2], 2, { after: { data: [1, 2], levels: 2 } })).toThrow(/codes of 3 levels .* for options.after but received "2 levels"/);
    expect(() => dedupCodes([1, 2], 2, { after: { data: [1, 2, -1], levels: 3 } })).toThrow(/for options.after\[2\]/);
    expect(() => dedupCodes([1, 2], 2, { afterCodes: [] } as never)).toThrow(/option name among after for options.afterCodes/);
  });
});
