// The fused attention kernel against the tfjs composition it replaces (transposes, matMul, the
// bias additions, softmax, fusedDropout): values and the gradients of q, k, v and the position
// bias over random shapes, masks and dropout; and a whole T5's loss and gradients with the kernel
// on and off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { T5Model, T5_PRESETS, fusedAttention, fusedAttentionAvailable, fusedDropout, initRuntime, registerAttentionKernels } from '../src/index.js';
import { rng } from './helpers.js';
import { maxRel, randomTensor as rand } from './tensor-helpers.js';


interface Case { batch: number; heads: number; lq: number; lk: number; dk: number; pos: boolean; mask: boolean; causal: boolean; rate: number }

/** The composition of tfjs ops that T5Model used before the kernel (and still uses without it). */
function plainAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, pos: tf.Tensor | null, c: Case, keyMask: Int32Array | null, key: number): tf.Tensor {
  const heads = (x: tf.Tensor, len: number) => tf.transpose(tf.reshape(x, [c.batch, len, c.heads, c.dk]), [0, 2, 1, 3]);
  const parts: tf.Tensor[] = [];
  if (pos) parts.push(tf.expandDims(pos, 0));
  if (keyMask) parts.push(tf.tensor4d(Float32Array.from(keyMask, (m) => (m ? 0 : -1e9)), [c.batch, 1, 1, c.lk]));
  if (c.causal) {
    const causal = new Float32Array(c.lq * c.lk);
    for (let i = 0; i < c.lq; i++) for (let j = i + 1; j < c.lk; j++) causal[i * c.lk + j] = -1e9;
    parts.push(tf.tensor4d(causal, [1, 1, c.lq, c.lk]));
  }
  let scores = tf.matMul(heads(q, c.lq), heads(k, c.lk), false, true);
  if (parts.length) scores = tf.add(scores, parts.reduce((a, b) => tf.add(a, b)));
  let probs = tf.softmax(scores, -1);
  if (c.rate > 0) probs = fusedDropout(probs, c.rate, key);
  return tf.reshape(tf.transpose(tf.matMul(probs, heads(v, c.lk)), [0, 2, 1, 3]), [c.batch * c.lq, c.heads * c.dk]);
}

describe('fused attention (wasm + native)', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('is registered by initRuntime', () => {
    expect(fusedAttentionAvailable()).toBe(true);
  });

  const r = rng(2026);
  const pick = (n: number) => 1 + Math.floor(r() * n);
  const cases: Case[] = [
    { batch: 2, heads: 4, lq: 7, lk: 7, dk: 8, pos: true, mask: true, causal: false, rate: 0 },
    { batch: 3, heads: 2, lq: 5, lk: 5, dk: 16, pos: true, mask: false, causal: true, rate: 0.1 },
    { batch: 2, heads: 3, lq: 4, lk: 9, dk: 8, pos: false, mask: true, causal: false, rate: 0.25 },
    { batch: 1, heads: 1, lq: 1, lk: 1, dk: 1, pos: true, mask: false, causal: false, rate: 0 },
    { batch: 4, heads: 4, lq: 32, lk: 32, dk: 32, pos: true, mask: true, causal: false, rate: 0.1 },
  ];
  for (let i = 0; i < 20; i++) {
    const causal = r() < 0.3, lq = pick(12);
    cases.push({ batch: pick(5), heads: pick(4), lq, lk: causal ? lq : pick(13), dk: pick(17), pos: r() < 0.6, mask: r() < 0.6, causal, rate: r() < 0.4 ? 0.1 + 0.5 * r() : 0 });
  }
  cases.forEach((c, n) => {
    it(`values and gradients: batch ${c.batch} heads ${c.heads} lq ${c.lq} lk ${c.lk} dk ${c.dk}${c.pos ? ' pos' : ''}${c.mask ? ' mask' : ''}${c.causal ? ' causal' : ''}${c.rate ? ` dropout ${c.rate.toFixed(2)}` : ''}`, () => {
      const q = rand([c.batch * c.lq, c.heads * c.dk], 100 + n), k = rand([c.batch * c.lk, c.heads * c.dk], 200 + n), v = rand([c.batch * c.lk, c.heads * c.dk], 300 + n);
      const pos = rand([c.heads, c.lq, c.lk], 400 + n, 6);
      const dy = rand([c.batch * c.lq, c.heads * c.dk], 500 + n);
      // a mask with at least one key kept per row, and one fully masked row of keys where there are two rows
      const mr = rng(600 + n);
      const keyMask = c.mask ? Int32Array.from({ length: c.batch * c.lk }, (_, i) => (i % c.lk === 0 || mr() < 0.7 ? 1 : 0)) : null;
      if (keyMask && c.batch > 1) keyMask.fill(0, c.lk, 2 * c.lk);
      const key = 0x9e3779b9 + n;
      const fused = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, pi: tf.Tensor) => fusedAttention(qi, ki, vi, {
        batch: c.batch, heads: c.heads, lq: c.lq, lk: c.lk, dk: c.dk,
        bias: { position: c.pos ? pi : undefined, keyMask: keyMask ?? undefined, causal: c.causal },
        dropout: c.rate > 0 ? { rate: c.rate, key } : null,
      });
      const plain = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, pi: tf.Tensor) => plainAttention(qi, ki, vi, c.pos ? pi : null, c, keyMask, key);
      expect(maxRel(fused(q, k, v, pos).dataSync(), plain(q, k, v, pos).dataSync())).toBeLessThan(2e-5);
      // (the position bias is an input only where it is used: tf.grads refuses an unused one)
      const inputs = c.pos ? [q, k, v, pos] : [q, k, v];
      const gf = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(fused(t[0], t[1], t[2], t[3] ?? pos), dy)))(inputs);
      const gp = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(plain(t[0], t[1], t[2], t[3] ?? pos), dy)))(inputs);
      for (let g = 0; g < inputs.length; g++) expect(maxRel(gf[g].dataSync(), gp[g].dataSync()), ['dq', 'dk', 'dv', 'dpos'][g]).toBeLessThan(5e-5);
      tf.dispose([q, k, v, pos, dy, ...gf, ...gp]);
    });
  });

  it('the scalar path (SEMID_SIMD=scalar) agrees with the AVX2 one, values and gradients', () => {
    const c = { batch: 3, heads: 2, lq: 9, lk: 11, dk: 12 };
    const q = rand([c.batch * c.lq, c.heads * c.dk], 71), k = rand([c.batch * c.lk, c.heads * c.dk], 72), v = rand([c.batch * c.lk, c.heads * c.dk], 73);
    const pos = rand([c.heads, c.lq, c.lk], 74, 6), dy = rand([c.batch * c.lq, c.heads * c.dk], 75);
    const keyMask = Int32Array.from({ length: c.batch * c.lk }, (_, i) => (i % 4 === 3 ? 0 : 1));
    const run = () => tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, p: tf.Tensor) => tf.sum(tf.mul(fusedAttention(a, b, d, {
      ...c, bias: { position: p, keyMask, causal: false }, dropout: { rate: 0.2, key: 99 } }), dy)))([q, k, v, pos]);
    const best = run().map((g) => g.dataSync().slice());
    try {
      process.env.SEMID_SIMD = 'scalar';
      const scalar = run().map((g) => g.dataSync().slice());
      for (let g = 0; g < 4; g++) expect(maxRel(scalar[g], best[g])).toBeLessThan(2e-5);
    } finally {
      delete process.env.SEMID_SIMD;
    }
  });

  it('lets a NaN score through to its row, as softmax does', () => {
    const q = rand([2 * 3, 8], 7);
    const qs = q.dataSync().slice();
    qs[8 + 1] = Number.NaN; // batch 0, query 1, head 0
    const ctx = fusedAttention(tf.tensor(qs, [6, 8]), rand([6, 8], 8), rand([6, 8], 9), { batch: 2, heads: 2, lq: 3, lk: 3, dk: 4, bias: {} }).dataSync();
    expect(Number.isNaN(ctx[8])).toBe(true); // query 1, head 0
    expect(Number.isFinite(ctx[0]) && Number.isFinite(ctx[8 + 4])).toBe(true); // query 0; query 1's other head
  });

  it('checks its shapes', () => {
    const q = tf.zeros([6, 8]);
    expect(() => fusedAttention(q, q, q, { batch: 2, heads: 2, lq: 3, lk: 3, dk: 3, bias: {} })).toThrow(/do not match/);
    expect(() => fusedAttention(q, q, q, { batch: 2, heads: 2, lq: 3, lk: 3, dk: 4, bias: { keyMask: new Int32Array(5) } })).toThrow(/keyMask has 5 entries, not 6/);
    expect(() => fusedAttention(q, q, q, { batch: 2, heads: 2, lq: 3, lk: 3, dk: 4, bias: { position: tf.zeros([2, 3, 2]) } })).toThrow(/position bias/);
    expect(() => fusedAttention(q, q, q, { batch: 2, heads: 2, lq: 3, lk: 3, dk: 4, bias: {}, dropout: { rate: 1, key: 0 } })).toThrow(/rate/);
  });
});

describe('T5 with and without the fused attention kernel', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });
  afterAll(() => { registerAttentionKernels('wasm'); });

  it('gives the same loss and gradients (training, dropout on; padded sources)', () => {
    const model = T5Model.create({ ...T5_PRESETS.tiny, dModel: 32, dKv: 8, dFf: 64, numHeads: 4, dropoutRate: 0.1, vocabSize: 50 }, 3);
    const b = 3, ls = 6, lt = 4;
    const r = rng(9);
    const ids = (n: number) => Int32Array.from({ length: n }, () => 2 + Math.floor(r() * 48));
    const attentionMask = Int32Array.from({ length: b * ls }, (_, i) => (i % ls < ls - (i < ls ? 0 : 2) ? 1 : 0));
    const labels = ids(b * lt);
    const decoderInputIds = new Int32Array(b * lt);
    for (let i = 0; i < b; i++) for (let t = 1; t < lt; t++) decoderInputIds[i * lt + t] = labels[i * lt + t - 1];
    const batch = { batchSize: b, sourceLength: ls, targetLength: lt, inputIds: ids(b * ls), attentionMask, decoderInputIds, labels };
    const vars = [...model.params.values()];
    const run = () => {
      const { value, grads } = tf.variableGrads(() => model.loss(batch, { training: true, seed: 5 }), vars);
      const out = { loss: value.dataSync()[0], grads: new Map(Object.entries(grads).map(([name, g]) => [name, g.dataSync().slice()])) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    expect(fusedAttentionAvailable()).toBe(true);
    const fused = run();
    tf.unregisterKernel('SemidAttention', 'wasm');
    expect(fusedAttentionAvailable()).toBe(false);
    const plain = run();
    registerAttentionKernels('wasm');
    expect(Math.abs(fused.loss - plain.loss) / Math.abs(plain.loss)).toBeLessThan(1e-5);
    for (const [name, g] of plain.grads) expect(maxRel(fused.grads.get(name)!, g), name).toBeLessThan(2e-4);
    // the position tables get gradients through the kernel
    const posGrad = [...fused.grads].find(([name]) => name.includes('encoder.block.0.layer.0.SelfAttention.relative_attention_bias'))!;
    expect(Array.from(posGrad[1]).some((x) => x !== 0)).toBe(true);
  });
});
