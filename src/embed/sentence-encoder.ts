/**
 * Local sentence-transformers models (a folder with config.json, tokenizer.json, model.safetensors,
 * modules.json, 1_Pooling/config.json) run in tfjs: BERT (all-MiniLM-L6-v2 and the like), DistilBERT, RoBERTa and
 * XLM-R (all-distilroberta-v1, the multilingual paraphrase models) and MPNet (all-mpnet-base-v2), post-LN transformer encoders (hidden_act: the exact GELU, or gelu_new, relu, silu), then the folder's modules
 * as sentence-transformers runs them: Pooling (cls, max, mean, mean_sqrt_len_tokens, weightedmean,
 * lasttoken, concatenated in its order when several are set), Dense layers and Normalize.
 */
import * as tf from '@tensorflow/tfjs-core';
import { requireRuntime } from '../model/runtime/backend.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemidError } from '../kernels/errors.js';
import { readSafetensorsFolder, type SafeTensor } from '../model/safetensors.js';
import { T5Tokenizer } from '../model/t5/tokenizer.js';
import { relativePositionBucket } from '../model/t5/position.js';
import { activateT5, activationNamed, type T5Activation } from '../model/t5/activation.js';
import { sentenceHead, type SentenceDense, type SentenceHead, type SentencePooling } from './st-modules.js';

export interface SentenceEncoderConfig {
  /**
   * bert; distilbert (BERT layers under other names, no token types); roberta and xlm-roberta (BERT
   * layers, positions counted from padding_idx + 1); mpnet (those positions and a relative attention bias).
   */
  modelType: 'bert' | 'distilbert' | 'roberta' | 'xlm-roberta' | 'mpnet';
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  /** The feed-forward's activation (config.json's hidden_act; BERT and MPNet: the exact GELU). */
  hiddenAct: T5Activation;
  maxPositions: number;
  /**
   * Longest input in tokens, special tokens included, as sentence-transformers truncates: its
   * max_seq_length (sentence_bert_config.json), else the tokenizer's model_max_length
   * (tokenizer_config.json), capped by the position table (max_position_embeddings, less MPNet's
   * two padding offsets).
   */
  maxSeqLength: number;
  padTokenId: number;
  relativeBuckets: number;
  /** Pooling modes (sentence-transformers' order; several are concatenated). */
  pooling: SentencePooling[];
  /** Dense modules after the pooling, in order. */
  dense: SentenceDense[];
  /** Whether a Normalize module ends the model. */
  normalize: boolean;
}

/** DistilBERT's weight names in BERT's (the layers compute the same), others as they are. */
function weightName(name: string, modelType: string): string {
  if (modelType !== 'distilbert') return name;
  return name
    .replace(/^transformer\.layer\.(\d+)\.attention\.(q|k|v)_lin\./, (_, i, w) => `encoder.layer.${i}.attention.self.${{ q: 'query', k: 'key', v: 'value' }[w as 'q']}.`)
    .replace(/^transformer\.layer\.(\d+)\.attention\.out_lin\./, 'encoder.layer.$1.attention.output.dense.')
    .replace(/^transformer\.layer\.(\d+)\.sa_layer_norm\./, 'encoder.layer.$1.attention.output.LayerNorm.')
    .replace(/^transformer\.layer\.(\d+)\.ffn\.lin1\./, 'encoder.layer.$1.intermediate.dense.')
    .replace(/^transformer\.layer\.(\d+)\.ffn\.lin2\./, 'encoder.layer.$1.output.dense.')
    .replace(/^transformer\.layer\.(\d+)\.output_layer_norm\./, 'encoder.layer.$1.output.LayerNorm.');
}

/**
 * A loaded encoder. `encode(texts)` gives [texts x hidden] sentence embeddings.
 * @example const enc = SentenceEncoder.load('models/all-MiniLM-L6-v2'); const e = enc.encode(['a funny movie']);
 */
export class SentenceEncoder {
  private constructor(readonly config: SentenceEncoderConfig, readonly tokenizer: T5Tokenizer, private readonly w: Map<string, tf.Tensor>) {}

  /** The weights as trainable variables (when loaded with trainable: true). */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [k, v] of this.w) if (v instanceof tf.Variable) out.set(k, v);
    return out;
  }

  /** The sentence embedding's dimension: the last Dense module's outputs, else hidden size x pooling modes. */
  get dim(): number {
    const { dense, hiddenSize, pooling } = this.config;
    return dense.length > 0 ? dense[dense.length - 1].outFeatures : hiddenSize * pooling.length;
  }

  /** Differentiable embeddings [texts x dim] (pooled, through the Dense modules; not normalised), for fine-tuning. */
  embedTexts(texts: string[]): tf.Tensor2D {
    const { ids, mask, length } = this.tokenize(texts);
    return tf.tidy(() => this.denseLayers(this.pool(this.hiddenStates(ids, mask, texts.length, length), mask, texts.length, length)));
  }

  /** Each pooling mode over the mask [batch, hidden], concatenated [batch, hidden x modes], as sentence-transformers computes them. */
  private pool(hs: tf.Tensor3D, mask: Int32Array, batch: number, length: number): tf.Tensor2D {
    const d = this.config.hiddenSize;
    const m = tf.tensor3d(Float32Array.from(mask), [batch, length, 1]);
    const count = () => tf.maximum(tf.sum(m, 1), 1e-9);
    const parts = this.config.pooling.map((mode) => {
      switch (mode) {
        case 'cls': return tf.reshape(tf.slice(hs, [0, 0, 0], [batch, 1, d]), [batch, d]);
        case 'max': return tf.max(tf.where(tf.cast(tf.tile(m, [1, 1, d]), 'bool'), hs, tf.fill([batch, length, d], -1e9)), 1);
        case 'mean': return tf.div(tf.sum(tf.mul(hs, m), 1), count());
        case 'mean_sqrt_len_tokens': return tf.div(tf.sum(tf.mul(hs, m), 1), tf.sqrt(count()));
        case 'weightedmean': {
          const w = tf.mul(m, tf.reshape(tf.range(1, length + 1, 1, 'float32'), [1, length, 1]));  // positions from 1
          return tf.div(tf.sum(tf.mul(hs, w), 1), tf.maximum(tf.sum(w, 1), 1e-9));
        }
        case 'lasttoken': {
          // each row's last token under the mask (the first row position where a row has none)
          const last = new Int32Array(batch);
          for (let b = 0; b < batch; b++) for (let t = 0; t < length; t++) if (mask[b * length + t]) last[b] = b * length + t; else if (t === 0) last[b] = b * length;
          return tf.gather(tf.reshape(hs, [batch * length, d]), tf.tensor1d(last, 'int32'));
        }
      }
    });
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D;
  }

  /** The Dense modules, in order: act(x·Wᵀ + b). */
  private denseLayers(x: tf.Tensor2D): tf.Tensor2D {
    let y: tf.Tensor2D = x;
    this.config.dense.forEach((dense, i) => {
      const lin = tf.matMul(y, this.p(`dense.${i}.linear.weight`), false, true);
      const z = dense.bias ? tf.add(lin, this.p(`dense.${i}.linear.bias`)) : lin;
      y = (dense.activation === 'tanh' ? tf.tanh(z) : z) as tf.Tensor2D;
    });
    return y;
  }

  static load(dir: string, options: { trainable?: boolean } = {}): SentenceEncoder {
    requireRuntime('SentenceEncoder.load');
    const need = (f: string) => {
      const p = join(dir, f);
      if (!existsSync(p)) throw new SemidError('ERR_SEMID_ENCODER', `${p} is missing (expected a sentence-transformers folder: config.json, tokenizer.json, model.safetensors)`);
      return p;
    };
    const raw = JSON.parse(readFileSync(need('config.json'), 'utf8'));
    if (!['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'].includes(raw.model_type)) {
      throw new SemidError('ERR_SEMID_ENCODER', `${join(dir, 'config.json')}: model_type "${raw.model_type}" is not supported (bert, distilbert, roberta, xlm-roberta, mpnet)`);
    }
    // DistilBERT's config names the same sizes otherwise (its layer norms' epsilon is fixed at 1e-12)
    const c = raw.model_type === 'distilbert'
      ? { ...raw, hidden_size: raw.dim, num_hidden_layers: raw.n_layers, num_attention_heads: raw.n_heads, hidden_act: raw.activation, layer_norm_eps: 1e-12 }
      : raw;
    const act = activationNamed(c.hidden_act ?? 'gelu');
    if (act === undefined) throw new SemidError('ERR_SEMID_ENCODER', `${join(dir, 'config.json')}: hidden_act "${c.hidden_act}" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)`);
    if (c.position_embedding_type && c.position_embedding_type !== 'absolute') {
      throw new SemidError('ERR_SEMID_ENCODER', `position_embedding_type "${c.position_embedding_type}" is not supported (absolute)`);
    }
    const readJson = (f: string) => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) : {});
    const head: SentenceHead = sentenceHead(dir);
    const dense = head.steps.flatMap((s) => (s.kind === 'dense' ? [s.dense] : []));
    const normalizeAt = head.steps.findIndex((s) => s.kind === 'normalize');
    if (normalizeAt >= 0 && normalizeAt !== head.steps.length - 1) throw new SemidError('ERR_SEMID_ENCODER', `${join(dir, 'modules.json')}: Normalize must be the last module`);
    if (head.poolingInput !== undefined && head.poolingInput !== c.hidden_size) {
      throw new SemidError('ERR_SEMID_ENCODER', `${dir}: the Pooling module expects token embeddings of ${head.poolingInput}, the transformer gives ${c.hidden_size}`);
    }
    let width = c.hidden_size * head.pooling.length;
    for (const d of dense) {
      if (d.inFeatures !== width) throw new SemidError('ERR_SEMID_ENCODER', `${join(dir, d.path, 'config.json')}: in_features is ${d.inFeatures}, the module before it gives ${width}`);
      width = d.outFeatures;
    }
    const countsPositions = c.model_type !== 'bert' && c.model_type !== 'distilbert';  // position ids from padding_idx + 1, padding at padding_idx
    const positions = c.max_position_embeddings - (countsPositions ? (c.pad_token_id ?? 1) + 1 : 0);
    const wanted = [readJson('sentence_bert_config.json').max_seq_length, readJson('tokenizer_config.json').model_max_length]
      .find((v) => Number.isInteger(v) && v > 0);
    const config: SentenceEncoderConfig = {
      modelType: c.model_type, hiddenSize: c.hidden_size, numLayers: c.num_hidden_layers, numHeads: c.num_attention_heads,
      layerNormEps: c.layer_norm_eps ?? 1e-12, hiddenAct: act, maxPositions: c.max_position_embeddings,
      maxSeqLength: Math.max(2, Math.min(positions, wanted ?? positions)), padTokenId: c.pad_token_id ?? 0,
      relativeBuckets: c.relative_attention_num_buckets ?? 32, pooling: head.pooling, dense, normalize: normalizeAt >= 0,
    };
    const tokenizer = T5Tokenizer.load(need('tokenizer.json'));
    const w = new Map<string, tf.Tensor>();
    const add = (key: string, t: SafeTensor) => {
      // integer buffers (a checkpoint's position_ids in I64) become floats; we compute positions ourselves
      const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number | bigint>, Number);
      const value = tf.tensor(data, t.shape, 'float32');
      if (options.trainable && !key.startsWith('pooler.')) {
        w.set(key, tf.variable(value, true, `st/${key}/${Math.random().toString(36).slice(2)}`));
        value.dispose();
      } else w.set(key, value);
    };
    try {
      for (const [name, t] of readSafetensorsFolder(dir).tensors) add(weightName(name.replace(/^(bert|distilbert|roberta|mpnet|model)\./, ''), c.model_type), t);
      dense.forEach((d, i) => {
        const { tensors } = readSafetensorsFolder(join(dir, d.path));
        const expect = (name: string, shape: number[]) => {
          const t = tensors.get(name);
          if (!t || t.shape.join(',') !== shape.join(',')) {
            throw new SemidError('ERR_SEMID_ENCODER', `${join(dir, d.path)}: expected ${name} of shape [${shape}], got ${t ? `[${t.shape}]` : 'none'}`);
          }
          add(`dense.${i}.${name}`, t);
        };
        expect('linear.weight', [d.outFeatures, d.inFeatures]);
        if (d.bias) expect('linear.bias', [d.outFeatures]);
      });
    } catch (err) {
      tf.dispose([...w.values()]);  // the weights read before the error
      throw err;
    }
    return new SentenceEncoder(config, tokenizer, w);
  }

  private p(name: string): tf.Tensor {
    const t = this.w.get(name);
    if (!t) throw new SemidError('ERR_SEMID_ENCODER', `the encoder has no weight ${name}`);
    return t;
  }

  private linear(x: tf.Tensor, name: string): tf.Tensor {
    return tf.add(tf.matMul(x, this.p(`${name}.weight`), false, true), this.p(`${name}.bias`));
  }

  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, this.config.layerNormEps))), this.p(`${name}.weight`)), this.p(`${name}.bias`));
  }

  /** Last hidden states [batch, length, hidden] of token ids with a mask. */
  hiddenStates(ids: Int32Array, mask: Int32Array, batch: number, length: number): tf.Tensor3D {
    const c = this.config;
    const h = c.numHeads;
    const dh = c.hiddenSize / h;
    return tf.tidy(() => {
      const pos = new Int32Array(batch * length);
      if (c.modelType !== 'bert' && c.modelType !== 'distilbert') {
        // MPNet, RoBERTa, XLM-R: positions count non-padding tokens from padding_idx + 1
        for (let b = 0; b < batch; b++) { let k = 0; for (let t = 0; t < length; t++) { const on = ids[b * length + t] !== c.padTokenId; if (on) k++; pos[b * length + t] = on ? k + c.padTokenId : c.padTokenId; } }
      } else {
        for (let b = 0; b < batch; b++) for (let t = 0; t < length; t++) pos[b * length + t] = t;
      }
      let x = tf.add(tf.gather(this.p('embeddings.word_embeddings.weight'), tf.tensor1d(ids, 'int32')), tf.gather(this.p('embeddings.position_embeddings.weight'), tf.tensor1d(pos, 'int32')));
      if (c.modelType !== 'mpnet' && c.modelType !== 'distilbert') x = tf.add(x, tf.gather(this.p('embeddings.token_type_embeddings.weight'), tf.zeros([batch * length], 'int32')));
      x = this.layerNorm(x, 'embeddings.LayerNorm');
      const maskBias = tf.tensor4d(Float32Array.from(mask, (m) => (m ? 0 : -1e9)), [batch, 1, 1, length]);
      let bias: tf.Tensor = maskBias;
      if (c.modelType === 'mpnet') {
        const buckets = new Int32Array(length * length);
        for (let q = 0; q < length; q++) for (let k = 0; k < length; k++) buckets[q * length + k] = relativePositionBucket(k - q, true, c.relativeBuckets, 128);
        const rel = tf.transpose(tf.reshape(tf.gather(this.p('encoder.relative_attention_bias.weight'), tf.tensor1d(buckets, 'int32')), [length, length, h]), [2, 0, 1]);
        bias = tf.add(tf.expandDims(rel, 0), maskBias);
      }
      const heads = (y: tf.Tensor) => tf.transpose(tf.reshape(y, [batch, length, h, dh]), [0, 2, 1, 3]);
      for (let i = 0; i < c.numLayers; i++) {
        const pre = `encoder.layer.${i}`;
        const [qn, kn, vn, on, ln] = c.modelType !== 'mpnet'
          ? [`${pre}.attention.self.query`, `${pre}.attention.self.key`, `${pre}.attention.self.value`, `${pre}.attention.output.dense`, `${pre}.attention.output.LayerNorm`]
          : [`${pre}.attention.attn.q`, `${pre}.attention.attn.k`, `${pre}.attention.attn.v`, `${pre}.attention.attn.o`, `${pre}.attention.LayerNorm`];
        const scores = tf.add(tf.div(tf.matMul(heads(this.linear(x, qn)), heads(this.linear(x, kn)), false, true), Math.sqrt(dh)), bias);
        const ctx = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores, -1), heads(this.linear(x, vn))), [0, 2, 1, 3]), [batch * length, c.hiddenSize]);
        x = this.layerNorm(tf.add(this.linear(ctx, on), x), ln);
        const inter = this.linear(x, `${pre}.intermediate.dense`);
        x = this.layerNorm(tf.add(this.linear(activateT5(inter, c.hiddenAct), `${pre}.output.dense`), x), `${pre}.output.LayerNorm`);
      }
      return tf.reshape(x, [batch, length, c.hiddenSize]) as tf.Tensor3D;
    });
  }

  /** How many special tokens the tokenizer puts before and after a text ([CLS] ... [SEP]: 1 and 1). */
  private specials(): { lead: number; trail: number } {
    if (!this.specialCounts) {
      const none = this.tokenizer.encode('');
      const some = this.tokenizer.encode('a');
      let lead = 0;
      while (lead < none.length && lead < some.length && none[lead] === some[lead]) lead++;
      this.specialCounts = { lead, trail: none.length - lead };
    }
    return this.specialCounts;
  }
  private specialCounts: { lead: number; trail: number } | undefined;

  /**
   * Token ids of texts, padded (ids and mask [batch x length]). A text longer than maxSeqLength
   * keeps its special tokens and loses the tokens past the limit, as Hugging Face truncation does.
   * @example enc.tokenize(['a funny movie']).ids // Int32Array [CLS id, ..., SEP id]
   */
  tokenize(texts: string[]): { ids: Int32Array; mask: Int32Array; length: number } {
    const max = this.config.maxSeqLength;
    const enc = texts.map((t) => {
      const e = this.tokenizer.encode(t);
      if (e.length <= max) return e;
      const { lead, trail } = this.specials();
      if (lead + trail >= max) return e.slice(0, max);  // no room for text between them
      const out = new Int32Array(max);
      out.set(e.subarray(0, max - trail));
      out.set(e.subarray(e.length - trail), max - trail);
      return out;
    });
    const length = enc.reduce((m, e) => Math.max(m, e.length), 1);
    const ids = new Int32Array(texts.length * length).fill(this.config.padTokenId);
    const mask = new Int32Array(texts.length * length);
    enc.forEach((e, i) => { ids.set(e, i * length); mask.fill(1, i * length, i * length + e.length); });
    return { ids, mask, length };
  }

  /** Sentence embeddings [texts x dim] (pooled, through the Dense modules, normalised when the model has a Normalize module). */
  encode(texts: string[], batchSize = 64): Float32Array {
    const d = this.dim;
    const out = new Float32Array(texts.length * d);
    for (let s = 0; s < texts.length; s += batchSize) {
      const chunk = texts.slice(s, s + batchSize);
      const { ids, mask, length } = this.tokenize(chunk);
      const emb = tf.tidy(() => {
        const pooled = this.denseLayers(this.pool(this.hiddenStates(ids, mask, chunk.length, length), mask, chunk.length, length));
        return this.config.normalize ? tf.div(pooled, tf.maximum(tf.norm(pooled, 2, 1, true), 1e-12)) : pooled;
      });
      out.set(emb.dataSync() as Float32Array, s * d);
      emb.dispose();
    }
    return out;
  }

  dispose(): void {
    tf.dispose([...this.w.values()]);
    this.w.clear();
  }
}
