// sentence-transformers modules after the Transformer: every pooling mode (and a concatenation)
// against the formulas of sentence-transformers' Pooling applied to the fixture's reference
// hidden states, Dense + Normalize against the fixture's reference mean-pooled embeddings, and
// modules or settings we do not run named instead of skipped.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentenceEncoder, initRuntime, poolingModes, readSafetensors, writeSafetensors, type SafeTensor } from '../src/index.js';
import { rng } from './helpers.js';

const fixture = join(__dirname, '..', '..', 'shared', 'fixtures', 'bert-tiny-st');
type Fixture = { texts: string[]; attention_mask: number[][]; last_hidden_state: number[][][]; sentence_embeddings: number[][] };

/** A copy of the fixture folder with its modules and pooling config replaced. */
function variant(modules: Array<{ type: string; path: string }>, pooling: Record<string, unknown>, extra: (dir: string) => void = () => {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'semid-st-'));
  cpSync(fixture, dir, { recursive: true });
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules.map((m, i) => ({ idx: i, name: String(i), ...m }))));
  writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 32, ...pooling }));
  extra(dir);
  return dir;
}
const TRANSFORMER = { type: 'sentence_transformers.models.Transformer', path: '' };
const POOLING = { type: 'sentence_transformers.models.Pooling', path: '1_Pooling' };

/** sentence-transformers' Pooling.forward on plain arrays: hidden [len][d] and mask [len] of one text. */
function stPool(mode: string, h: number[][], mask: number[]): number[] {
  const d = h[0].length, len = h.length;
  const sum = (w: (t: number) => number) => Array.from({ length: d }, (_, j) => h.reduce((s, row, t) => s + row[j] * w(t), 0));
  const n = Math.max(mask.reduce((a, b) => a + b, 0), 1e-9);
  switch (mode) {
    case 'cls': return h[0];
    case 'max': return Array.from({ length: d }, (_, j) => Math.max(...h.map((row, t) => (mask[t] ? row[j] : -1e9))));
    case 'mean': return sum((t) => mask[t]).map((v) => v / n);
    case 'mean_sqrt_len_tokens': return sum((t) => mask[t]).map((v) => v / Math.sqrt(n));
    case 'weightedmean': {
      const wsum = Math.max(mask.reduce((s, m, t) => s + m * (t + 1), 0), 1e-9);
      return sum((t) => mask[t] * (t + 1)).map((v) => v / wsum);
    }
    case 'lasttoken': { let last = 0; for (let t = 0; t < len; t++) if (mask[t]) last = t; return h[last]; }
  }
  throw new Error(mode);
}

const close = (got: Float32Array, want: number[], what: string) => {
  const scale = Math.max(...want.map(Math.abs));
  want.forEach((w, i) => expect(Math.abs(got[i] - w) / scale, `${what}[${i}]`).toBeLessThan(1e-4));
};

describe.skipIf(!existsSync(fixture))('sentence-transformers modules', () => {
  const fx: Fixture = existsSync(fixture) ? JSON.parse(readFileSync(join(fixture, 'fixture.json'), 'utf8')) : ({} as Fixture);

  it('pools as sentence-transformers does: every mode, boolean and pooling_mode forms, and a concatenation', async () => {
    await initRuntime({ backend: 'wasm' });
    const flags: Record<string, string> = {
      cls: 'pooling_mode_cls_token', max: 'pooling_mode_max_tokens', mean: 'pooling_mode_mean_tokens',
      mean_sqrt_len_tokens: 'pooling_mode_mean_sqrt_len_tokens', weightedmean: 'pooling_mode_weightedmean_tokens', lasttoken: 'pooling_mode_lasttoken',
    };
    const cases: Array<[string[], Record<string, unknown>]> = [
      ...Object.keys(flags).map((m): [string[], Record<string, unknown>] => [[m], { pooling_mode: m }]),
      ...Object.keys(flags).map((m): [string[], Record<string, unknown>] => [[m], Object.fromEntries(Object.entries(flags).map(([k, f]) => [f, k === m]))]),
      // several: concatenated in sentence-transformers' order (cls, max, mean, ...), whatever the config's key order
      [['cls', 'max', 'mean'], { pooling_mode_mean_tokens: true, pooling_mode_cls_token: true, pooling_mode_max_tokens: true }],
    ];
    for (const [modes, config] of cases) {
      const enc = SentenceEncoder.load(variant([TRANSFORMER, POOLING], config));
      expect(enc.config.pooling, JSON.stringify(config)).toEqual(modes);
      expect(enc.dim).toBe(32 * modes.length);
      const got = enc.encode(fx.texts);
      const want = fx.texts.flatMap((_, i) => modes.flatMap((m) => stPool(m, fx.last_hidden_state[i], fx.attention_mask[i])));
      close(got, want, JSON.stringify(config));
      enc.dispose();
    }
  });

  it('runs Dense (tanh) and Normalize after the pooling, and checks their shapes', async () => {
    await initRuntime({ backend: 'wasm' });
    const r = rng(5);
    const out = 16;
    const W = Float32Array.from({ length: out * 32 }, () => r() - 0.5), b = Float32Array.from({ length: out }, () => r() - 0.5);
    const dense = (cfg: Record<string, unknown>) => (dir: string) => {
      mkdirSync(join(dir, '2_Dense'));
      writeFileSync(join(dir, '2_Dense', 'config.json'), JSON.stringify({ in_features: 32, out_features: out, bias: true, activation_function: 'torch.nn.modules.activation.Tanh', ...cfg }));
      writeSafetensors(join(dir, '2_Dense', 'model.safetensors'), new Map([['linear.weight', { dtype: 'F32', shape: [out, 32], data: W }], ['linear.bias', { dtype: 'F32', shape: [out], data: b }]]));
    };
    const DENSE = { type: 'sentence_transformers.models.Dense', path: '2_Dense' };
    const NORMALIZE = { type: 'sentence_transformers.models.Normalize', path: '3_Normalize' };
    const enc = SentenceEncoder.load(variant([TRANSFORMER, POOLING, DENSE, NORMALIZE], { pooling_mode: 'mean' }, dense({})));
    expect(enc.dim).toBe(out);
    const got = enc.encode(fx.texts);
    const want = fx.sentence_embeddings.flatMap((x) => {  // the fixture's reference mean pooling, then the layer and the norm
      const y = Array.from({ length: out }, (_, o) => Math.tanh(x.reduce((s, v, j) => s + W[o * 32 + j] * v, b[o])));
      const norm = Math.hypot(...y);
      return y.map((v) => v / norm);
    });
    close(got, want, 'dense+normalize');
    expect(enc.embedTexts(fx.texts).shape).toEqual([fx.texts.length, out]);
    enc.dispose();
    // identity activation, no bias
    const plain = SentenceEncoder.load(variant([TRANSFORMER, POOLING, DENSE], {}, dense({ bias: false, activation_function: 'torch.nn.modules.linear.Identity' })));
    close(plain.encode(fx.texts), fx.sentence_embeddings.flatMap((x) => Array.from({ length: out }, (_, o) => x.reduce((s, v, j) => s + W[o * 32 + j] * v, 0))), 'dense identity');
    plain.dispose();
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING, DENSE], {}, dense({ in_features: 64 })))).toThrow(/in_features is 64, the module before it gives 32/);
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING, DENSE], {}, dense({ activation_function: 'torch.nn.modules.activation.ReLU' })))).toThrow(/activation_function "torch\.nn\.modules\.activation\.ReLU" is not supported/);
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING, NORMALIZE, DENSE], {}, dense({})))).toThrow(/Normalize must be the last module/);
    // weights that disagree with the config: named, and nothing read before the error is left behind
    const before = tf.memory().numTensors;
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING, DENSE], {}, dense({ out_features: 8 })))).toThrow(/expected linear\.weight of shape \[8,32\], got \[16,32\]/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names what it does not run instead of skipping it', () => {
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING, { type: 'sentence_transformers.models.LayerNorm', path: '2_LayerNorm' }], {}))).toThrow(/module 2 \("sentence_transformers\.models\.LayerNorm"\) is not supported/);
    expect(() => SentenceEncoder.load(variant([TRANSFORMER], {}))).toThrow(/no Pooling module/);
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING], { pooling_mode: 'median' }))).toThrow(/pooling_mode "median" is not one of cls, max, mean/);
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING], { pooling_mode_mean_tokens: false, pooling_mode_cls_token: false }))).toThrow(/no pooling mode is set/);
    expect(poolingModes({ word_embedding_dimension: 8 })).toEqual(['mean']);  // sentence-transformers' default
    expect(() => SentenceEncoder.load(variant([TRANSFORMER, POOLING], { word_embedding_dimension: 48 }))).toThrow(/Pooling module expects token embeddings of 48, the transformer gives 32/);
    const dir = variant([TRANSFORMER, POOLING], {});
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, position_embedding_type: 'relative_key' }));
    expect(() => SentenceEncoder.load(dir)).toThrow(/position_embedding_type "relative_key" is not supported/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_act: 'quick_gelu' }));
    expect(() => SentenceEncoder.load(dir)).toThrow(/hidden_act "quick_gelu" is not supported/);
  });

  it('runs RoBERTa and XLM-R: the BERT fixture as either, its position table shifted past padding_idx, gives the reference embeddings', async () => {
    await initRuntime({ backend: 'wasm' });
    for (const modelType of ['roberta', 'xlm-roberta']) {
      const dir = variant([TRANSFORMER, POOLING], {}, (d) => {
        const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        const pad = cfg.pad_token_id as number;  // RoBERTa counts positions from padding_idx + 1
        writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, model_type: modelType, architectures: ['RobertaModel'], max_position_embeddings: cfg.max_position_embeddings + pad + 1 }));
        const { tensors } = readSafetensors(join(d, 'model.safetensors'));
        const renamed = new Map([...tensors].map(([k, t]) => [`roberta.${k}`, t]));
        const table = tensors.get('embeddings.position_embeddings.weight')!;
        const [rows, width] = table.shape;
        const shifted = new Float32Array((rows + pad + 1) * width).fill(7);  // rows 0..padding_idx: never read by a token
        shifted.set(table.data as Float32Array, (pad + 1) * width);
        renamed.set('roberta.embeddings.position_embeddings.weight', { dtype: 'F32', shape: [rows + pad + 1, width], data: shifted });
        writeSafetensors(join(d, 'model.safetensors'), renamed);
      });
      const enc = SentenceEncoder.load(dir);
      expect(enc.config.modelType).toBe(modelType);
      const bert = SentenceEncoder.load(fixture);
      expect(enc.config.maxSeqLength).toBe(bert.config.maxSeqLength);
      bert.dispose();
      close(enc.encode(fx.texts), fx.sentence_embeddings.flat(), modelType);
      enc.dispose();
    }
  });

  it('runs DistilBERT: the BERT fixture under its names, token type folded into the positions, gives the reference embeddings', async () => {
    await initRuntime({ backend: 'wasm' });
    const dir = variant([TRANSFORMER, POOLING], {}, (d) => {
      const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      writeFileSync(join(d, 'config.json'), JSON.stringify({
        model_type: 'distilbert', architectures: ['DistilBertModel'], dim: cfg.hidden_size, n_layers: cfg.num_hidden_layers, n_heads: cfg.num_attention_heads,
        hidden_dim: cfg.intermediate_size, activation: cfg.hidden_act, max_position_embeddings: cfg.max_position_embeddings, pad_token_id: cfg.pad_token_id, vocab_size: cfg.vocab_size,
      }));
      const { tensors } = readSafetensors(join(d, 'model.safetensors'));
      const names: Array<[RegExp, string]> = [
        [/^encoder\.layer\.(\d+)\.attention\.self\.query\./, 'transformer.layer.$1.attention.q_lin.'],
        [/^encoder\.layer\.(\d+)\.attention\.self\.key\./, 'transformer.layer.$1.attention.k_lin.'],
        [/^encoder\.layer\.(\d+)\.attention\.self\.value\./, 'transformer.layer.$1.attention.v_lin.'],
        [/^encoder\.layer\.(\d+)\.attention\.output\.dense\./, 'transformer.layer.$1.attention.out_lin.'],
        [/^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\./, 'transformer.layer.$1.sa_layer_norm.'],
        [/^encoder\.layer\.(\d+)\.intermediate\.dense\./, 'transformer.layer.$1.ffn.lin1.'],
        [/^encoder\.layer\.(\d+)\.output\.dense\./, 'transformer.layer.$1.ffn.lin2.'],
        [/^encoder\.layer\.(\d+)\.output\.LayerNorm\./, 'transformer.layer.$1.output_layer_norm.'],
      ];
      const out = new Map<string, SafeTensor>();
      for (const [k, t] of tensors) {
        if (k === 'embeddings.token_type_embeddings.weight' || k.startsWith('pooler.')) continue;
        const renamed = names.reduce((n, [re, to]) => n.replace(re, to), k);
        out.set(`distilbert.${renamed}`, t);
      }
      // BERT adds token type 0 to every token: DistilBERT has none, so it goes into the position table
      const pos = tensors.get('embeddings.position_embeddings.weight')!, type0 = tensors.get('embeddings.token_type_embeddings.weight')!.data as Float32Array;
      const width = pos.shape[1];
      const folded = Float32Array.from(pos.data as Float32Array, (v, i) => v + type0[i % width]);
      out.set('distilbert.embeddings.position_embeddings.weight', { dtype: 'F32', shape: pos.shape, data: folded });
      writeSafetensors(join(d, 'model.safetensors'), out);
    });
    const enc = SentenceEncoder.load(dir);
    expect(enc.config.modelType).toBe('distilbert');
    expect(enc.config.numLayers).toBe(2);
    close(enc.encode(fx.texts), fx.sentence_embeddings.flat(), 'distilbert');
    enc.dispose();
  });

  it('runs the feed-forward activation config.json names (hidden_act)', async () => {
    await initRuntime({ backend: 'wasm' });
    const embed = (hiddenAct: string | undefined) => {
      const dir = variant([TRANSFORMER, POOLING], {});
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_act: hiddenAct }));
      const enc = SentenceEncoder.load(dir);
      const e = enc.encode(fx.texts);
      enc.dispose();
      return e;
    };
    const gelu = embed('gelu'), tanhApprox = embed('gelu_new'), relu = embed('relu'), absent = embed(undefined);
    close(gelu, fx.sentence_embeddings.flat(), 'gelu');  // the fixture's own activation
    expect(Array.from(absent)).toEqual(Array.from(gelu));  // BERT's default
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    expect(maxDiff(gelu, tanhApprox)).toBeGreaterThan(1e-6);
    expect(maxDiff(gelu, tanhApprox)).toBeLessThan(1e-2);
    expect(maxDiff(gelu, relu)).toBeGreaterThan(1e-3);
  });
});
