// The T5 feed-forward's activation as transformers resolves it from feed_forward_proj and
// dense_act_fn: the resolution table, the functions' values, config.json in and out, and models
// that use each one (their cached decoding is checked in t5-generate.test.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { T5Model, T5_PRESETS, activateT5, initRuntime, t5Activation, t5ConfigFromHf, t5ConfigToHf } from '../src/index.js';

describe('T5 feed-forward activation', () => {
  beforeAll(async () => { await initRuntime({ backend: 'wasm' }); });

  it('resolves feed_forward_proj and dense_act_fn as transformers does', () => {
    const cases: Array<[string, string | undefined, string, boolean]> = [
      ['gated-gelu', undefined, 'gelu_new', true],  // T5 v1.1, flan-t5: the special case
      ['gelu', undefined, 'gelu', false],           // any other "gelu" is the exact GELU
      ['relu', undefined, 'relu', false],
      ['gated-relu', undefined, 'relu', true],
      ['gated-silu', undefined, 'silu', true],
      ['gated-gelu_new', undefined, 'gelu_new', true],
      ['gelu', 'gelu_new', 'gelu_new', false],      // dense_act_fn wins
      ['gated-gelu', 'gelu', 'gelu', true],
      ['gated-gelu', 'gelu_pytorch_tanh', 'gelu_new', true],
      ['swish', undefined, 'silu', false],
    ];
    for (const [feedForwardProj, denseActFn, act, gated] of cases) {
      expect(t5Activation({ feedForwardProj, denseActFn }), `${feedForwardProj} / ${denseActFn}`).toEqual({ act, gated });
    }
    for (const bad of ['tanh', 'gated-tanh', 'fancy-gelu', 'gated-gelu-x', '']) {
      expect(() => t5Activation({ feedForwardProj: bad }), bad).toThrow(/config\.feedForwardProj/);
    }
    expect(() => t5Activation({ feedForwardProj: 'gelu', denseActFn: 'tanh' })).toThrow(/config\.denseActFn.*tanh/);
  });

  it('computes the exact GELU, gelu_new, ReLU and SiLU', () => {
    const x = tf.tensor1d([-3, -1, -0.5, 0, 0.5, 1, 2, 4]);
    const xs = [-3, -1, -0.5, 0, 0.5, 1, 2, 4];
    // GELU(x) = x·Φ(x), Φ from erfc in double (Math has no erf: a 60-term Taylor series is exact here)
    const erf = (z: number) => { let s = 0, t = z; for (let n = 0; n < 60; n++) { s += t / (2 * n + 1); t *= (-z * z) / (n + 1); } return (2 / Math.sqrt(Math.PI)) * s; };
    const want: Record<string, (v: number) => number> = {
      gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
      gelu_new: (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
      relu: (v) => Math.max(0, v),
      silu: (v) => v / (1 + Math.exp(-v)),
    };
    for (const act of ['gelu', 'gelu_new', 'relu', 'silu'] as const) {
      const got = activateT5(x, act).dataSync();
      xs.forEach((v, i) => expect(Math.abs(got[i] - want[act](v)), `${act}(${v})`).toBeLessThan(2e-6 * Math.max(1, Math.abs(v))));
    }
    // the two GELUs differ where a model would see it
    expect(Math.abs(activateT5(tf.scalar(1), 'gelu').dataSync()[0] - 0.8413447)).toBeLessThan(1e-6);
    expect(Math.abs(activateT5(tf.scalar(1), 'gelu_new').dataSync()[0] - 0.8411920)).toBeLessThan(1e-6);
    x.dispose();
  });

  it('reads and writes config.json with the activation transformers would use', () => {
    const hf = { ...t5ConfigToHf({ ...T5_PRESETS.tiny, vocabSize: 50 }) };
    expect(hf.dense_act_fn).toBe('gelu_new');
    const plain = t5ConfigFromHf({ ...hf, feed_forward_proj: 'gelu', dense_act_fn: undefined, is_gated_act: false });
    expect(plain.denseActFn).toBeUndefined();
    expect(t5ConfigToHf(plain)).toMatchObject({ feed_forward_proj: 'gelu', dense_act_fn: 'gelu', is_gated_act: false });
    const named = t5ConfigFromHf({ ...hf, feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu' });
    expect(named.denseActFn).toBe('gelu');
    expect(t5ConfigFromHf({ ...hf, feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_pytorch_tanh' }).denseActFn).toBeUndefined();  // what gated-gelu implies
    expect(t5Activation(t5ConfigFromHf(t5ConfigToHf(named)))).toEqual({ act: 'gelu', gated: true });
    expect(() => t5ConfigFromHf({ ...hf, feed_forward_proj: 'gated-tanh' })).toThrow(/config\.feed_forward_proj/);
    expect(() => t5ConfigFromHf({ ...hf, dense_act_fn: 'gelu_fast' })).toThrow(/config\.dense_act_fn.*gelu_fast/);
    expect(() => T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 20, feedForwardProj: 'gated-tanh' })).toThrow(/config\.feedForwardProj/);
  });

  it('a model uses the activation its config names', () => {
    const batch = { batchSize: 2, sourceLength: 4, inputIds: Int32Array.from([3, 4, 5, 1, 6, 7, 1, 0]), attentionMask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 0]) };
    const encode = (feedForwardProj: string, denseActFn?: string) => {
      const base = T5Model.create({ ...T5_PRESETS.tiny, vocabSize: 20, dropoutRate: 0, feedForwardProj: 'gelu' }, 3);
      const { model } = T5Model.fromTensors({ ...base.config, feedForwardProj, ...(denseActFn ? { denseActFn } : {}) }, base.toTensors());
      const out = model.encode(batch);
      const data = out.dataSync().slice();
      tf.dispose(out);
      model.dispose();
      base.dispose();
      return data;
    };
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    const exact = encode('gelu'), tanh = encode('gelu', 'gelu_new'), silu = encode('silu'), again = encode('gelu', 'gelu');
    expect(maxDiff(exact, again)).toBe(0);
    expect(maxDiff(exact, tanh)).toBeGreaterThan(1e-6);  // gelu_new is not the exact GELU
    expect(maxDiff(exact, silu)).toBeGreaterThan(1e-3);
  });
});
