/** T5 configuration: Hugging Face's config.json fields, presets, and checks. */
import { SemidArgumentError } from '../../kernels/errors.js';
import { t5Activation } from './activation.js';

export interface T5Config {
  vocabSize: number;
  dModel: number;
  dKv: number;
  dFf: number;
  numLayers: number;
  numDecoderLayers: number;
  numHeads: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  dropoutRate: number;
  layerNormEpsilon: number;
  /**
   * HF's feed_forward_proj: 'gated-gelu' (T5 v1.1 / flan-t5: gelu_new(x·wi_0) * (x·wi_1)), 'relu'
   * (original T5), or any '<act>' / 'gated-<act>' with act gelu (exact), gelu_new, relu or silu.
   */
  feedForwardProj: 'gated-gelu' | 'relu' | 'gated-relu' | 'gelu' | 'gated-silu' | 'silu' | (string & {});
  /** HF's dense_act_fn where config.json names one (it overrides what feedForwardProj implies): gelu, gelu_new, gelu_pytorch_tanh, relu, silu. */
  denseActFn?: string;
  /** Original T5: the LM head is the shared embedding, output scaled by d_model^-0.5. */
  tieWordEmbeddings: boolean;
  decoderStartTokenId: number;
  padTokenId: number;
  eosTokenId: number;
  initializerFactor: number;
  /** Longest encoder or decoder sequence accepted (HF n_positions; T5's relative positions need no table, this is a guard). */
  maxLength: number;
}

/** Presets: `tiny` for tests, `small` for the default from-scratch study model, `bench` for bench/train. */
export const T5_PRESETS: Record<'tiny' | 'small' | 'bench', Omit<T5Config, 'vocabSize'>> = {
  tiny: { dModel: 32, dKv: 8, dFf: 64, numLayers: 2, numDecoderLayers: 2, numHeads: 4, relativeAttentionNumBuckets: 8, relativeAttentionMaxDistance: 20,
    dropoutRate: 0.1, layerNormEpsilon: 1e-6, feedForwardProj: 'gated-gelu', tieWordEmbeddings: false, decoderStartTokenId: 0, padTokenId: 0, eosTokenId: 1, initializerFactor: 1, maxLength: 512 },
  small: { dModel: 256, dKv: 64, dFf: 1024, numLayers: 4, numDecoderLayers: 4, numHeads: 4, relativeAttentionNumBuckets: 32, relativeAttentionMaxDistance: 128,
    dropoutRate: 0.1, layerNormEpsilon: 1e-6, feedForwardProj: 'gated-gelu', tieWordEmbeddings: false, decoderStartTokenId: 0, padTokenId: 0, eosTokenId: 1, initializerFactor: 1, maxLength: 512 },
  bench: { dModel: 256, dKv: 64, dFf: 1024, numLayers: 2, numDecoderLayers: 2, numHeads: 4, relativeAttentionNumBuckets: 32, relativeAttentionMaxDistance: 128,
    dropoutRate: 0.1, layerNormEpsilon: 1e-6, feedForwardProj: 'gated-gelu', tieWordEmbeddings: false, decoderStartTokenId: 0, padTokenId: 0, eosTokenId: 1, initializerFactor: 1, maxLength: 512 },
};

/**
 * Our config from a Hugging Face T5 config.json object (T5 v1.1, flan-t5, original T5).
 * @example const config = t5ConfigFromHf(JSON.parse(readFileSync('flan-t5-small/config.json', 'utf8')));
 */
export function t5ConfigFromHf(hf: Record<string, unknown>): T5Config {
  const num = (k: string, fallback?: number) => {
    const v = hf[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SemidArgumentError(`config.${k}`, 'a number', v);
    return v;
  };
  const proj = hf.feed_forward_proj ?? 'relu';
  const named = hf.dense_act_fn === undefined || hf.dense_act_fn === null ? undefined : hf.dense_act_fn;
  const fields = { proj: 'config.feed_forward_proj', act: 'config.dense_act_fn' };
  const { act } = t5Activation({ feedForwardProj: proj as string, denseActFn: named as string | undefined }, fields);
  // dense_act_fn is kept only where it changes what feed_forward_proj implies (so that a config
  // written by t5ConfigToHf reads back equal)
  const denseActFn = named !== undefined && t5Activation({ feedForwardProj: proj as string }, fields).act !== act ? named : undefined;
  return {
    vocabSize: num('vocab_size'), dModel: num('d_model'), dKv: num('d_kv'), dFf: num('d_ff'), numLayers: num('num_layers'),
    numDecoderLayers: num('num_decoder_layers', num('num_layers')), numHeads: num('num_heads'),
    relativeAttentionNumBuckets: num('relative_attention_num_buckets', 32), relativeAttentionMaxDistance: num('relative_attention_max_distance', 128),
    dropoutRate: num('dropout_rate', 0.1), layerNormEpsilon: num('layer_norm_epsilon', 1e-6), feedForwardProj: proj as string,
    ...(denseActFn !== undefined ? { denseActFn: denseActFn as string } : {}),
    tieWordEmbeddings: hf.tie_word_embeddings === undefined ? true : Boolean(hf.tie_word_embeddings),
    decoderStartTokenId: num('decoder_start_token_id', 0), padTokenId: num('pad_token_id', 0), eosTokenId: num('eos_token_id', 1),
    initializerFactor: num('initializer_factor', 1),
    maxLength: num('n_positions', 512),
  };
}

/**
 * The config as Hugging Face writes it (for export).
 * @example writeFileSync('config.json', JSON.stringify(t5ConfigToHf(model.config))) // model: a T5Model
 */
export function t5ConfigToHf(c: T5Config): Record<string, unknown> {
  const { act, gated } = t5Activation(c);
  return {
    architectures: ['T5ForConditionalGeneration'], model_type: 't5', vocab_size: c.vocabSize, d_model: c.dModel, d_kv: c.dKv, d_ff: c.dFf,
    num_layers: c.numLayers, num_decoder_layers: c.numDecoderLayers, num_heads: c.numHeads,
    relative_attention_num_buckets: c.relativeAttentionNumBuckets, relative_attention_max_distance: c.relativeAttentionMaxDistance,
    dropout_rate: c.dropoutRate, layer_norm_epsilon: c.layerNormEpsilon, feed_forward_proj: c.feedForwardProj,
    dense_act_fn: act, is_gated_act: gated,
    tie_word_embeddings: c.tieWordEmbeddings, decoder_start_token_id: c.decoderStartTokenId, pad_token_id: c.padTokenId,
    eos_token_id: c.eosTokenId, initializer_factor: c.initializerFactor, n_positions: c.maxLength, is_encoder_decoder: true, torch_dtype: 'float32',
  };
}
