// IdTrie's array builder (radix sorts, level by level) against the map insertion it replaced (its
// test oracle), alternating rep by rep in one process on the same IDs; the arrays must be equal.
// Usage: node bench/trie-build.mjs [items=1000000] [levels=3] [codebook=256] [reps=3]
import { flattenNamespaces } from '../dist/decoding/trie-input.js';
import { buildTrieArrays } from '../dist/decoding/trie-build.js';
import { buildTrieArraysReference } from '../dist/decoding/trie-build-reference.js';
import { cpus } from 'node:os';

const items = Number(process.argv[2] ?? 1e6), levels = Number(process.argv[3] ?? 3), K = Number(process.argv[4] ?? 256), reps = Number(process.argv[5] ?? 3);
let a = 11 >>> 0;
const codes = new Int32Array(items * levels);
for (let i = 0; i < codes.length; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; codes[i] = Math.floor((a / 2 ** 32) * K); }
const offsets = Array.from({ length: levels }, (_, l) => l * K);
const input = flattenNamespaces({ codes, length: levels, offsets });
const fast = buildTrieArrays(input), slow = buildTrieArraysReference(input);
const same = Object.keys(slow).every((k) => fast[k].length === slow[k].length && Array.prototype.every.call(slow[k], (v, i) => fast[k][i] === v));
const T = { radix: [], map: [] };
for (let r = 0; r < reps; r++) {
  for (const [k, f] of r % 2 ? [['map', buildTrieArraysReference], ['radix', buildTrieArrays]] : [['radix', buildTrieArrays], ['map', buildTrieArraysReference]]) {
    const t0 = performance.now(); f(input); T[k].push(performance.now() - t0);
  }
}
const med = (v) => { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]; };
const ratios = T.radix.map((v, i) => T.map[i] / v);
console.log(`trie build, ${items} IDs of ${levels} x ${K} codes (${fast.terminal.length} nodes), ${cpus()[0].model}: radix ${(med(T.radix) / 1e3).toFixed(2)} s, map insertion ${(med(T.map) / 1e3).toFixed(2)} s (medians of ${reps}); map/radix per rep ${med(ratios).toFixed(1)}x; ${same ? 'same arrays' : 'ARRAYS DIFFER'}`);
