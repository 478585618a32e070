// Trie-constrained diverse beam search at the paper's settings (beam 60, 30 groups, penalty 0.25),
// vocab 256 per level, 2- and 3-level IDs over a 62,138-item trie: the native step against the
// TypeScript reference and against one JS pass reading the same logits (the floor a JS caller
// pays just to look at them), and the whole search (queries per second) with a model whose step
// costs nothing (precomputed logits), so that only decoding is measured. The native multi-thread
// read floor and the CUDA step are measured by the native benchmark (SEMID_BENCH_BEAM_ONLY=1
// build-native/semid_bench_native), which runs without Node on the device.
import os from 'node:os';
import { IdTrie, allocateBeamStepOutput, beamStep, constrainedBeamSearch, exhaustiveSearch } from '../dist/index.js';
import { appendResults, randomFloats, runSuite } from './lib.mjs';

const beams = 60, groups = 30, penalty = 0.25, V = 256, items = 62138;

function trieOf(levels, seed) {
  let a = seed >>> 0;
  const codes = new Int32Array(items * levels);
  for (let i = 0; i < codes.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    codes[i] = a >>> 24;
  }
  return IdTrie.build({ codes, length: levels });
}

export async function run() {
  const rows = [];
  const notes = [`threads: ${os.cpus().length} (native step); the TypeScript reference and the JS read pass run on one thread`];
  for (const levels of [2, 3]) {
    const trie = trieOf(levels, 7 + levels);
    const depth1 = [];
    for (let u = 0; u < trie.nodes; u++) if (trie.depth[u] === 1) depth1.push(u);
    console.log(`beam: ${items} items, ${levels} levels, ${trie.nodes} nodes`);
    for (const batch of [1, 16, 128, 1024]) {
      const shape = `L=${levels} batch=${batch}`;
      const logits = randomFloats(batch * beams * V, batch + levels).map((v) => v * 4);
      const nodes = Int32Array.from({ length: batch * beams }, (_, i) => depth1[(i * 7919) % depth1.length]);
      const beamScores = randomFloats(batch * beams, 3).map((v) => -Math.abs(v) * 5);
      const input = { batch, beams, groups, vocab: V, inputBeams: beams, logits: true, scores: logits, nodes, beamScores, penalty };
      let sink = 0;
      const out = allocateBeamStepOutput(batch, beams, groups);
      const cases = {
        'semid step (native)': () => beamStep(trie, input),
        'semid step (native), outputs reused (options.out)': () => beamStep(trie, input, { out }),
        'JS read pass (1 thread, not the memory floor)': () => { let s = 0; for (let i = 0; i < logits.length; i++) s += logits[i]; sink += s; },
        'TypeScript reference step': () => beamStep(trie, input, { backend: 'reference' }),
      };
      const res = await runSuite(`beam step ${shape}`, cases, { minSamples: 3, maxTime: batch >= 128 ? 2 : 1 });
      for (const [name, r] of Object.entries(res)) rows.push({ name: `step: ${name}`, shape, ms: r.meanMs });
      if (sink === 42) console.log('');
    }
    for (const batch of [1, 128, 1024]) {
      const shape = `L=${levels} search batch=${batch}`;
      const pool = randomFloats(batch * beams * V, 99 + batch).map((v) => v * 4);
      const step = ({ rows: r }) => pool.subarray(0, r * V);
      const search = (backend, format) => () => constrainedBeamSearch({ trie, step, batch, beams, groups, diversityPenalty: penalty, backend, format });
      const cases = { 'semid search (native step)': search('native'), "semid search (native step), format 'arrays'": search('native', 'arrays') };
      if (batch <= 128) cases['search on the TypeScript reference step'] = search('reference');
      // The exact mode scores every ID (1 + 256 rows a query at L=2): the model's cost, not
      // decoding's, rules it out at L=3, so it is timed at L=2 only.
      if (levels === 2 && batch <= 128) {
        cases['exact search (exhaustiveSearch, top 30; 257 rows a query)'] = () => exhaustiveSearch({ trie, step, batch, topk: 30, maxRows: batch * beams });
      }
      const res = await runSuite(`beam search ${shape}`, cases, { minSamples: 3, maxTime: 2 });
      for (const [name, r] of Object.entries(res)) {
        rows.push({ name: `${name}`, shape, ms: r.meanMs });
        notes.push(`${shape}, ${name}: ${(batch / r.meanMs * 1e3).toFixed(0)} queries/s`);
      }
    }
  }
  appendResults('Trie-constrained diverse beam search (CPU)', rows, (r) => r.name.startsWith('step: semid') || r.name.startsWith('semid search'), notes);
}
