// Child process of bench/t5.mjs. argv: <mode: train|train-stock|decode|decode-nocache>
// The `small` T5 (4+4 layers, d_model 256, gated-GELU 1024), vocabulary 8,192 words + 512 ID tokens.
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, IdTrie, T5DecoderSession, T5Model, T5_PRESETS, constrainedBeamSearch, initRuntime } from '../dist/index.js';

const mode = process.argv[2];
await initRuntime({ backend: 'wasm', native: mode !== 'train-stock' });
const vocab = 8192 + 512;
const model = T5Model.create({ ...T5_PRESETS.small, vocabSize: vocab }, 1);
let s = 11;
const rnd = (n, lo, hi) => Int32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) >>> 0; return lo + (s % (hi - lo)); });
const LS = 24, LT = 3;

if (mode === 'train-mixed') {
  // a batch like the study's: about two thirds short search prompts (5-12 tokens), the rest
  // recommendation histories (mostly the full 43); the loss in length groups against the padded batch, alternating
  const B = 128, LS = 43;
  const inputIds = new Int32Array(B * LS), attentionMask = new Int32Array(B * LS);
  for (let b = 0; b < B; b++) {
    const u = rnd(1, 0, 100)[0];
    const len = u < 65 ? rnd(1, 5, 13)[0] : u < 95 ? LS : rnd(1, 15, LS)[0];
    inputIds.set(rnd(len, 3, 8192), b * LS);
    attentionMask.fill(1, b * LS, b * LS + len);
  }
  const labels = Int32Array.from({ length: B * LT }, (_, i) => (i % LT === LT - 1 ? 1 : rnd(1, 8192, vocab)[0]));
  const dec = new Int32Array(B * LT);
  for (let b = 0; b < B; b++) for (let t = 1; t < LT; t++) dec[b * LT + t] = labels[b * LT + t - 1];
  const batch = { batchSize: B, sourceLength: LS, targetLength: LT, inputIds, attentionMask, decoderInputIds: dec, labels };
  const opt = new AdamW({ learningRate: 2e-3, weightDecay: 0.01, clipNorm: 1 });
  const vars = [...model.params.values()];
  const names = new Map([...model.params].map(([n, v]) => [v.name, n]));
  const step = (k, lengthGroups) => {
    const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed: k, lengthGroups }), vars);
    opt.apply(model.params, new Map(Object.entries(grads).map(([n, g]) => [names.get(n), g])));
    tf.dispose([value, ...Object.values(grads)]);
  };
  step(0, true); step(0, false);
  const ms = { grouped: 0, padded: 0 };
  for (let r = 0; r < 4; r++) for (const [name, on] of [['padded', false], ['grouped', true]]) {
    const t = performance.now();
    for (let k = 1; k <= 2; k++) step(k, on);
    ms[name] += (performance.now() - t) / 8;
  }
  let real = 0, shortRows = 0;
  for (const m of attentionMask) real += m;
  for (let b = 0; b < B; b++) if (attentionMask[b * LS + 12] === 0) shortRows++;
  console.log(JSON.stringify({ mode, groupedMs: ms.grouped, paddedMs: ms.padded, realTokens: real, paddedTokens: B * LS, shortRows, rows: B }));
} else if (mode.startsWith('train')) {
  const B = 128;
  const labels = Int32Array.from({ length: B * LT }, (_, i) => (i % LT === LT - 1 ? 1 : rnd(1, 8192, vocab)[0]));
  const dec = new Int32Array(B * LT);
  for (let b = 0; b < B; b++) for (let t = 1; t < LT; t++) dec[b * LT + t] = labels[b * LT + t - 1];
  const batch = { batchSize: B, sourceLength: LS, targetLength: LT, inputIds: rnd(B * LS, 3, 8192), attentionMask: new Int32Array(B * LS).fill(1), decoderInputIds: dec, labels };
  const opt = new AdamW({ learningRate: 2e-3, weightDecay: 0.01, clipNorm: 1, impl: mode === 'train-stock' ? 'ops' : 'auto' });
  const vars = [...model.params.values()];
  const names = new Map([...model.params].map(([n, v]) => [v.name, n]));
  const step = (k) => {
    const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed: k }), vars);
    opt.apply(model.params, new Map(Object.entries(grads).map(([n, g]) => [names.get(n), g])));
    tf.dispose([value, ...Object.values(grads)]);
  };
  const steps = mode === 'train-stock' ? 1 : 5;
  if (mode !== 'train-stock') step(0);
  const t = performance.now();
  for (let k = 1; k <= steps; k++) step(k);
  const ms = (performance.now() - t) / steps;
  console.log(JSON.stringify({ mode, msPerStep: ms, examplesPerSecond: (B * 1000) / ms, params: model.size }));
} else {
  // constrained diverse beam search (beam 60, 30 groups, 0.25) over a 2 x 256 ID trie of 20,000 items, 16 queries
  const Q = 16, items = 20000;
  const codes = new Int32Array(items * 2);
  for (let i = 0; i < items * 2; i++) codes[i] = rnd(1, 0, 256)[0];
  const trie = IdTrie.build({ codes, length: 2, offsets: [8192, 8192 + 256] });
  const batch = { batchSize: Q, sourceLength: LS, inputIds: rnd(Q * LS, 3, 8192), attentionMask: new Int32Array(Q * LS).fill(1) };
  let steps = 0;
  let stepMs = 0;
  const t = performance.now();
  if (mode === 'decode') {
    const session = new T5DecoderSession(model, batch);
    await constrainedBeamSearch({ trie, batch: Q, beams: 60, groups: 30, diversityPenalty: 0.25, step: (req) => {
      const t0 = performance.now(); const out = session.step(req); stepMs += performance.now() - t0; steps++; return out;
    } });
    session.dispose();
  } else {
    // no cache: every step recomputes the whole prefix of every row with model.forward
    const states = model.encode(batch);
    await constrainedBeamSearch({ trie, batch: Q, beams: 60, groups: 30, diversityPenalty: 0.25, step: (req) => {
      const t0 = performance.now();
      const out = tf.tidy(() => {
        const lt = req.step + 1;
        const dec = new Int32Array(req.rows * lt);
        for (let r = 0; r < req.rows; r++) for (let j = 0; j < req.step; j++) dec[r * lt + j + 1] = req.tokens[r * req.step + j];
        const rowsQ = tf.tensor1d(req.queries, 'int32');
        const mask = Int32Array.from(Array.from(req.queries).flatMap((q) => Array.from(batch.attentionMask.subarray(q * LS, (q + 1) * LS))));
        const logits = model.decode(tf.gather(states, rowsQ), { batchSize: req.rows, sourceLength: LS, targetLength: lt, decoderInputIds: dec, attentionMask: mask });
        return tf.reshape(tf.slice(logits, [0, lt - 1, 0], [req.rows, 1, vocab]), [req.rows, vocab]);
      });
      const data = out.dataSync(); out.dispose();
      stepMs += performance.now() - t0; steps++;
      return data;
    } });
    states.dispose();
  }
  const total = performance.now() - t;
  console.log(JSON.stringify({ mode, queriesPerSecond: (Q * 1000) / total, modelStepMs: stepMs / steps, steps, rowsPerStep: Q * 60, totalMs: total }));
}
