// Fused ops against the plain tfjs composition (values and gradients), and our T5 against the
// logits and encoder states Hugging Face computed for the fixtures in ../shared/fixtures.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { T5Model, dropoutHash, fusedDropout, gatedActivation, geluNew, registerFusedKernels, tokenCrossEntropy, initRuntime, readSafetensors, relativePositionBucket, rmsNorm, t5ConfigFromHf, T5_PRESETS } from '../src/index.js';
import { rng } from './helpers.js';
import { maxRel, randomTensor as rand } from './tensor-helpers.js';

const fixtures = join(__dirname, '..', '..', 'shared', 'fixtures');


describe('fused ops (wasm + native)', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('rmsNorm equals x·rsqrt(mean(x²)+eps)·w, gradients included', () => {
    const x = rand([7, 33], 1); const w = rand([33], 2); const dy = rand([7, 33], 3);
    const plain = (a: tf.Tensor, b: tf.Tensor) => tf.mul(tf.mul(a, tf.rsqrt(tf.add(tf.mean(tf.square(a), -1, true), 1e-6))), b);
    expect(maxRel(rmsNorm(x, w, 1e-6).dataSync(), plain(x, w).dataSync())).toBeLessThan(1e-6);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a, b, 1e-6), dy)))([x, w]);
    const [px, pw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(plain(a, b), dy)))([x, w]);
    expect(maxRel(gx.dataSync(), px.dataSync())).toBeLessThan(1e-5);
    expect(maxRel(gw.dataSync(), pw.dataSync())).toBeLessThan(1e-5);
  });

  it('gated GELU and ReLU equal act(a)·b, gradients included, across SIMD tails', () => {
    for (const n of [1, 7, 8, 9, 1000, 40000]) {
      const a = rand([n], 10 + n, 8); const b = rand([n], 20 + n); const dy = rand([n], 30 + n);
      for (const act of ['gelu', 'relu'] as const) {
        const plain = (p: tf.Tensor, q: tf.Tensor) => tf.mul(act === 'gelu' ? geluNew(p) : tf.relu(p), q);
        expect(maxRel(gatedActivation(a, b, act).dataSync(), plain(a, b).dataSync())).toBeLessThan(2e-6);
        const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(gatedActivation(p, q, act), dy)))([a, b]);
        const [pa, pb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(plain(p, q), dy)))([a, b]);
        expect(maxRel(ga.dataSync(), pa.dataSync())).toBeLessThan(1e-5);
        expect(maxRel(gb.dataSync(), pb.dataSync())).toBeLessThan(1e-5);
      }
    }
  });
});

describe('fused dropout', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('native mask equals the JavaScript hash, keeps 1 - rate, and its gradient is the same mask', () => {
    for (const [n, rate, key] of [[1, 0.5, 7], [1000, 0.1, 123456789], [70001, 0.25, 0xffffffff], [4096, 0.9, 0]] as const) {
      const x = rand([n], 40 + n, 4);
      const y = fusedDropout(x, rate, key).dataSync();
      const xs = x.dataSync();
      const threshold = Math.round(rate * 2 ** 24), scale = Math.fround(1 / (1 - rate));
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const keep = dropoutHash(i, key) >>> 8 >= threshold;
        expect(y[i], `n ${n} element ${i}`).toBe(Math.fround(xs[i] * (keep ? scale : 0)));
        kept += keep ? 1 : 0;
      }
      if (n >= 1000) expect(Math.abs(kept / n - (1 - rate))).toBeLessThan(4 * Math.sqrt(rate * (1 - rate) / n));
      const dy = rand([n], 50 + n);
      const [gx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(fusedDropout(a, rate, key), dy)))([x]);
      const g = gx.dataSync(), dys = dy.dataSync();
      for (let i = 0; i < n; i += 97) expect(g[i]).toBe(Math.fround(dys[i] * (dropoutHash(i, key) >>> 8 >= threshold ? scale : 0)));
    }
    // two keys give two masks; rate 0 is the identity
    const ones = tf.ones([2000]);
    const a = fusedDropout(ones, 0.5, 1).dataSync(), b = fusedDropout(ones, 0.5, 2).dataSync();
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(fusedDropout(ones, 0, 1)).toBe(ones);
    expect(() => fusedDropout(ones, 1, 1)).toThrow(/rate/);
    // without the native kernel: the same mask in JavaScript, the same gradient
    const x = rand([3, 333], 60);
    const native = fusedDropout(x, 0.3, 99).dataSync();
    const [nativeGrad] = tf.grads((a: tf.Tensor) => tf.sum(tf.square(fusedDropout(a, 0.3, 99))))([x]);
    tf.unregisterKernel('SemidDropout', 'wasm');
    try {
      expect(Array.from(fusedDropout(x, 0.3, 99).dataSync())).toEqual(Array.from(native));
      const [jsGrad] = tf.grads((a: tf.Tensor) => tf.sum(tf.square(fusedDropout(a, 0.3, 99))))([x]);
      expect(Array.from(jsGrad.dataSync())).toEqual(Array.from(nativeGrad.dataSync()));
    } finally {
      registerFusedKernels('wasm');
    }
  });
});

describe('fused cross-entropy', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('equals log-softmax and gather in tfjs ops, value and gradient, with ignored rows', () => {
    for (const [n, v, scale] of [[1, 2, 1], [7, 33, 4], [384, 2128, 8], [5, 1000, 40]] as const) {
      const logits = rand([n, v], 70 + v, scale);
      const labels = Int32Array.from({ length: n }, (_, i) => (i % 3 === 1 ? -100 : (i * 7919) % v));
      const fused = tokenCrossEntropy(logits, labels);
      const [gFused] = tf.grads((x: tf.Tensor) => tf.mul(tokenCrossEntropy(x, labels), 3))([logits]);
      tf.unregisterKernel('SemidCrossEntropy', 'wasm');
      try {
        const plain = tokenCrossEntropy(logits, labels);
        const [gPlain] = tf.grads((x: tf.Tensor) => tf.mul(tokenCrossEntropy(x, labels), 3))([logits]);
        expect(Math.abs(fused.dataSync()[0] - plain.dataSync()[0]), `n ${n} v ${v}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(plain.dataSync()[0])));
        expect(maxRel(gFused.dataSync(), gPlain.dataSync()), `n ${n} v ${v}`).toBeLessThan(1e-5);
      } finally {
        registerFusedKernels('wasm');
      }
      // ignored rows get no gradient
      const g = gFused.dataSync();
      for (let i = 1; i < n; i += 3) for (let j = 0; j < v; j += 13) expect(g[i * v + j]).toBe(0);
    }
    expect(tokenCrossEntropy(tf.zeros([2, 4]), new Int32Array([1, -100])).dataSync()[0]).toBeCloseTo(Math.log(4), 6);
    expect(() => tokenCrossEntropy(tf.zeros([2, 4]), new Int32Array([4, 0]))).toThrow(/labels\[0\]/);
  });
});

describe('T5', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('relative position buckets follow transformers', () => {
    // worked by hand from transformers' formula, num_buckets 32, max_distance 128
    expect([-1, -5, -8, -9, -20, -64, -200].map((p) => relativePositionBucket(p, true, 32, 128))).toEqual([1, 5, 8, 8, 10, 14, 15]);
    expect([1, 5, 8, 20, 200].map((p) => relativePositionBucket(p, true, 32, 128))).toEqual([17, 21, 24, 26, 31]);
    expect([-1, -16, -17, -40, -127, -500, 3].map((p) => relativePositionBucket(p, false, 32, 128))).toEqual([1, 16, 16, 23, 31, 31, 0]);
  });

  for (const name of ['t5-tiny', 't5-tiny-tied']) {
    it.skipIf(!existsSync(join(fixtures, name)))(`matches Hugging Face's encoder states and logits on ${name}`, () => {
      const dir = join(fixtures, name);
      const fx = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8'));
      const config = t5ConfigFromHf(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
      const { model, unused } = T5Model.fromTensors(config, readSafetensors(join(dir, 'model.safetensors')).tensors);
      expect(unused).toEqual([]);
      const b = fx.input_ids.length;
      const batch = {
        batchSize: b, sourceLength: fx.input_ids[0].length, targetLength: fx.decoder_input_ids[0].length,
        inputIds: Int32Array.from(fx.input_ids.flat()), attentionMask: Int32Array.from(fx.attention_mask.flat()),
        decoderInputIds: Int32Array.from(fx.decoder_input_ids.flat()),
      };
      expect(maxRel(model.encode(batch).dataSync(), fx.encoder_last_hidden_state.flat(2))).toBeLessThan(1e-4);
      expect(maxRel(model.forward(batch).dataSync(), fx.logits.flat(2))).toBeLessThan(1e-4);
      model.dispose();
    });
  }

  it('trains: the loss of a tiny model falls on a fixed batch, and dropout is seeded', () => {
    const model = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 50 }, 3);
    const r = rng(4);
    const ids = (n: number) => Int32Array.from({ length: n }, () => 2 + Math.floor(r() * 48));
    const labels = ids(8);
    const dec = new Int32Array(8);
    for (let i = 0; i < 2; i++) for (let t = 1; t < 4; t++) dec[i * 4 + t] = labels[i * 4 + t - 1];
    const batch = { batchSize: 2, sourceLength: 6, targetLength: 4, inputIds: ids(12), attentionMask: new Int32Array(12).fill(1), decoderInputIds: dec, labels };
    const a = model.loss(batch, { training: true, seed: 5 }).dataSync()[0];
    const b = model.loss(batch, { training: true, seed: 5 }).dataSync()[0];
    const c = model.loss(batch, { training: true, seed: 6 }).dataSync()[0];
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    const vars = [...model.params.values()];
    const first = model.loss(batch).dataSync()[0];
    for (let s = 0; s < 30; s++) {
      const { grads } = tf.variableGrads(() => model.loss(batch), vars);
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.05)));
      tf.dispose(Object.values(grads));
    }
    expect(model.loss(batch).dataSync()[0]).toBeLessThan(first * 0.7);
    model.dispose();
  });
});
