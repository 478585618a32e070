// Whole-search time of an older checkout (its dist/ and its addon: `npm install` there, or
// `npm run build && npm run build:native`) against this work tree's, alternating rep by rep in one
// process on the same trie and logits; the results must be the same.
// Usage: node bench/search-ab.mjs <old checkout> [levels=2] [batch=1024] [reps=10] [format=objects]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import * as NEW from '../dist/index.js';

if (!process.argv[2]) {
  console.error('usage: node bench/search-ab.mjs <old checkout, built> [levels=2] [batch=1024] [reps=10] [format=objects]');
  process.exit(2);
}
const OLD = await import(pathToFileURL(resolve(process.argv[2], 'dist/index.js')).href);
const beams = 60, groups = 30, penalty = 0.25, V = 256, items = 62138;
const levels = Number(process.argv[3] ?? 2), batch = Number(process.argv[4] ?? 1024), reps = Number(process.argv[5] ?? 10);
const format = process.argv[6] ?? 'objects';
let a = 9 >>> 0;
const codes = new Int32Array(items * levels);
for (let i = 0; i < codes.length; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; codes[i] = a >>> 24; }
const tn = NEW.IdTrie.build({ codes, length: levels }), to = OLD.IdTrie.build({ codes, length: levels });
const pool = new Float32Array(batch * beams * V);
for (let i = 0; i < pool.length; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; pool[i] = (a / 2 ** 32 - 0.5) * 8; }
const step = ({ rows: r }) => pool.subarray(0, r * V);
const run = (M, trie) => M.constrainedBeamSearch({ trie, step, batch, beams, groups, diversityPenalty: penalty, format });
const ro = await run(OLD, to), rn = await run(NEW, tn);
const same = isDeepStrictEqual(JSON.parse(JSON.stringify(ro)), JSON.parse(JSON.stringify(rn)));
const T = { old: [], new: [] };
for (let r = 0; r < reps; r++) {
  for (const [k, M, trie] of r % 2 ? [['new', NEW, tn], ['old', OLD, to]] : [['old', OLD, to], ['new', NEW, tn]]) {
    const t0 = performance.now(); await run(M, trie); T[k].push(performance.now() - t0);
  }
}
const med = (v) => { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]; };
const ratios = T.new.map((v, i) => v / T.old[i]);
console.log(`search L=${levels} batch=${batch} ${format}: old ${med(T.old).toFixed(1)} ms, new ${med(T.new).toFixed(1)} ms (medians of ${reps}); new/old per rep ${med(ratios).toFixed(2)}; ${(batch / med(T.new) * 1e3).toFixed(0)} vs ${(batch / med(T.old) * 1e3).toFixed(0)} queries/s; ${same ? 'same results' : 'RESULTS DIFFER'}`);
