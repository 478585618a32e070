// The trie builder (radix sorts, level by level) against its oracle (map insertion): identical
// arrays on random namespaces of fixed and variable length, collisions, offsets, item numbers.
import { describe, expect, it } from 'vitest';
import { IdTrie } from '../src/index.js';
import { flattenNamespaces, type IdTrieNamespace } from '../src/decoding/trie-input.js';
import { buildTrieArrays } from '../src/decoding/trie-build.js';
import { buildTrieArraysReference } from '../src/decoding/trie-build-reference.js';
import { rng } from './helpers.js';

describe('trie builder', () => {
  it('gives the same arrays as map insertion, over 400 random catalogues', () => {
    const rand = rng(20261127);
    const int = (n: number) => Math.floor(rand() * n);
    for (let trial = 0; trial < 400; trial++) {
      const list: IdTrieNamespace[] = [];
      for (let ns = 0, count = 1 + int(3); ns < count; ns++) {
        const rows = int(trial % 50 === 0 ? 3000 : 40);
        const variable = rand() < 0.4;
        const length = 1 + int(4);
        const vocab = [1, 2, 5, 300, 70000, 2 ** 29][int(6)];
        const codes = Array.from({ length: rows }, () => Array.from({ length: variable ? 1 + int(4) : length }, () => int(vocab)));
        const spec: IdTrieNamespace = { name: `ns${ns}`, codes };
        if (rand() < 0.5) spec.items = Array.from({ length: rows }, () => int(rand() < 0.5 ? 5 : 2 ** 31 - 1));
        if (rand() < 0.3) spec.offsets = [int(1000), int(100000), int(5), int(3)];
        list.push(spec);
      }
      const input = flattenNamespaces(list);
      const fast = buildTrieArrays(input), slow = buildTrieArraysReference(input);
      for (const key of Object.keys(slow) as Array<keyof typeof slow>) {
        const a = fast[key], b = slow[key];
        expect(a.length, `${key} (trial ${trial})`).toBe(b.length);
        for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) expect(`${key}[${i}] = ${a[i]}`, `trial ${trial}`).toBe(`${key}[${i}] = ${b[i]}`);
      }
    }
  });

  it('builds a million 3-token IDs in seconds, and IdTrie.build uses it', () => {
    const n = 1_000_000;
    const codes = new Int32Array(3 * n);
    const rand = rng(7);
    for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(rand() * 256);
    const started = performance.now();
    const trie = IdTrie.build({ codes, length: 3, offsets: [0, 256, 512] });
    const seconds = (performance.now() - started) / 1e3;
    expect(seconds).toBeLessThan(20);  // ~1 s here; map insertion took ~8 s
    const stats = trie.stats();
    expect(stats.entries).toBe(n);
    expect(stats.levels.map((l) => l.depth)).toEqual([0, 1, 2, 3]);
    expect(Array.from(trie.lookup([codes[3 * 123], 256 + codes[3 * 123 + 1], 512 + codes[3 * 123 + 2]]))).toContain(123);
  });

  it('sorts a node with few children in time of its children, not of the token range (65,536-code levels)', () => {
    // 65,536 first-level nodes of ~3 children each spread over 65,536 tokens: counting each node's
    // run over the whole token range took ~10 s for a million IDs
    const n = 200_000, K = 65_536;
    const codes = new Int32Array(2 * n);
    const rand = rng(9);
    for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(rand() * K);
    const input = flattenNamespaces({ codes, offsets: [0, K] });
    const started = performance.now();
    const fast = buildTrieArrays(input);
    const seconds = (performance.now() - started) / 1e3;
    expect(seconds).toBeLessThan(1.5);  // ~0.1 s here, 3-4 s before
    const slow = buildTrieArraysReference(input);
    for (const key of Object.keys(slow) as Array<keyof typeof slow>) expect(Array.from(fast[key] as ArrayLike<unknown>), key).toEqual(Array.from(slow[key] as ArrayLike<unknown>));
  });

  it('takes codes as a codes .npy holds them (uint8, uint16, uint32, ...), and refuses negative codes', () => {
    const codes = Int32Array.from({ length: 2 * 500 }, (_, i) => (i * 37 + (i >> 3)) % 200);
    const want = IdTrie.build({ codes, offsets: [0, 256] });
    for (const C of [Uint8Array, Uint16Array, Uint32Array, Int16Array]) {
      const got = IdTrie.build({ codes: C.from(codes), offsets: [0, 256] });
      expect(Array.from(got.childToken), C.name).toEqual(Array.from(want.childToken));
      expect(Array.from(got.idItems), C.name).toEqual(Array.from(want.idItems));
    }
    // -1 + 256 is a valid token, but -1 is no code
    expect(() => IdTrie.build({ codes: Int32Array.of(0, -1), offsets: [0, 256] })).toThrow(/non-negative integer code.*namespace\.codes\[0\]\[1\] but received -1/);
    expect(() => IdTrie.build({ codes: [[0, -1]], offsets: [0, 256] })).toThrow(/namespace\.codes\[0\]\[1\] but received -1/);
    expect(() => IdTrie.build({ codes: Int8Array.of(3, -2), length: 2, offsets: 10 })).toThrow(/received -2/);
    expect(() => IdTrie.build({ codes: Uint32Array.of(2 ** 31, 0), length: 2 })).toThrow(/below 2\^30/);
  });
});
