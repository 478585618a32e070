// The whole search with the CPU step ruling beams out and without (SEMID_BEAM_RULE_OUT, read per
// step), alternating rep by rep in one process.
// Usage: node bench/search-rule-out.mjs [levels=2] [batch=1024] [reps=12] [logits|logprobs]
import { IdTrie, constrainedBeamSearch } from '../dist/index.js';
const beams = 60, groups = 30, penalty = 0.25, V = 256, items = 62138;
const levels = Number(process.argv[2] ?? 2), batch = Number(process.argv[3] ?? 1024), reps = Number(process.argv[4] ?? 12);
const inputs = process.argv[5] ?? 'logits';
let a = 9 >>> 0;
const codes = new Int32Array(items * levels);
for (let i = 0; i < codes.length; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; codes[i] = a >>> 24; }
const trie = IdTrie.build({ codes, length: levels });
const pool = new Float32Array(batch * beams * V);
for (let i = 0; i < pool.length; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; pool[i] = (a / 2 ** 32 - 0.5) * 8; }
if (inputs === 'logprobs') for (let r = 0; r < pool.length / V; r++) { let m = -Infinity, s = 0; for (let t = 0; t < V; t++) m = Math.max(m, pool[r * V + t]); for (let t = 0; t < V; t++) s += Math.exp(pool[r * V + t] - m); const l = m + Math.log(s); for (let t = 0; t < V; t++) pool[r * V + t] -= l; }
const step = ({ rows: r }) => pool.subarray(0, r * V);
const T = { on: [], off: [] };
for (let r = 0; r < reps; r++) {
  for (const k of r % 2 ? ['on', 'off'] : ['off', 'on']) {
    process.env.SEMID_BEAM_RULE_OUT = k === 'on' ? '1' : '0';
    const t0 = performance.now();
    await constrainedBeamSearch({ trie, step, batch, beams, groups, diversityPenalty: penalty, format: 'arrays', inputs });
    T[k].push(performance.now() - t0);
  }
}
const med = (v) => { const s = [...v].sort((x, y) => x - y); return s[s.length >> 1]; };
console.log(`search L=${levels} batch=${batch} ${inputs}: rule-out on ${med(T.on).toFixed(1)} ms, off ${med(T.off).toFixed(1)} ms, on/off per rep ${med(T.on.map((v, i) => v / T.off[i])).toFixed(3)}`);
