/**
 * Hugging Face checkpoint folders (config.json, model.safetensors, tokenizer.json,
 * generation_config.json) in and out, and the vocabulary growth that adds Semantic ID tokens.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemidArgumentError, SemidError } from '../../kernels/errors.js';
import { expectInt } from '../../kernels/validate.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readSafetensorsFolder, writeSafetensors, type SafeTensor } from '../safetensors.js';
import { t5ConfigFromHf, t5ConfigToHf, type T5Config } from './config.js';
import { T5Model } from './model.js';
import { meanResizedRows } from './mean-resizing.js';
import { T5Tokenizer } from './tokenizer.js';

/**
 * Load a folder written by transformers' save_pretrained (or by saveT5Folder); sharded weights
 * (model.safetensors.index.json) are read too.
 * @example const { model, tokenizer } = loadT5Folder('models/flan-t5-small');
 */
export function loadT5Folder(dir: string): { model: T5Model; tokenizer: T5Tokenizer | null; config: T5Config } {
  const need = (f: string) => {
    const p = join(dir, f);
    if (!existsSync(p)) throw new SemidError('ERR_SEMID_CHECKPOINT', `${p} is missing (expected a Hugging Face T5 folder: config.json, model.safetensors or its shards, tokenizer.json)`);
    return p;
  };
  const hf = JSON.parse(readFileSync(need('config.json'), 'utf8'));
  if (hf.model_type && hf.model_type !== 't5') throw new SemidError('ERR_SEMID_CHECKPOINT', `${join(dir, 'config.json')}: model_type is "${hf.model_type}", expected "t5"`);
  const config = t5ConfigFromHf(hf);
  const { tensors, files } = readSafetensorsFolder(dir);
  let model: T5Model;
  try {
    model = T5Model.fromTensors(config, tensors).model;
  } catch (err) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', `${files.length === 1 ? files[0] : `the ${files.length} shards in ${dir}`} do${files.length === 1 ? 'es' : ''} not match ${join(dir, 'config.json')}: ${(err as Error).message}`);
  }
  const tokPath = join(dir, 'tokenizer.json');
  const tokenizer = existsSync(tokPath) ? T5Tokenizer.load(tokPath) : null;
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', `${tokPath} has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${config.vocabSize}`);
  }
  return { model, tokenizer, config };
}

/**
 * How a model decodes by default, as generation_config.json holds it (transformers' names in
 * brackets): what `semid run` evaluated the model with, and what `semid search` / `serve` use when
 * a request does not say.
 */
export interface GenerationSettings {
  /** Beams of the (diverse) beam search [num_beams]. */
  numBeams?: number;
  /** Groups of the diverse beam search; 1 is plain beam search [num_beam_groups]. */
  numBeamGroups?: number;
  /** Hamming diversity penalty between groups [diversity_penalty]. */
  diversityPenalty?: number;
  /** Hypotheses returned per input [num_return_sequences]. */
  numReturnSequences?: number;
  /** Tokens generated after the decoder start: the longest Semantic ID [max_new_tokens]. */
  maxNewTokens?: number;
}

const GENERATION_KEYS: [keyof GenerationSettings, string, number, number][] = [
  ['numBeams', 'num_beams', 1, 1 << 20], ['numBeamGroups', 'num_beam_groups', 1, 1 << 20],
  ['diversityPenalty', 'diversity_penalty', 0, Infinity], ['numReturnSequences', 'num_return_sequences', 1, 1 << 20],
  ['maxNewTokens', 'max_new_tokens', 1, 1 << 20],
];

/**
 * Write a folder transformers can load (T5ForConditionalGeneration.from_pretrained): config.json,
 * model.safetensors (our parameter names are transformers'), generation_config.json (the token ids,
 * and the decoding `generation` gives, so that model.generate() starts from the same beam settings),
 * tokenizer.json.
 * @example saveT5Folder('runs/x/t5', model, tokenizer, {}, { numBeams: 60, numBeamGroups: 30, diversityPenalty: 0.25 });
 */
export function saveT5Folder(dir: string, model: T5Model, tokenizer: T5Tokenizer | null, metadata: Record<string, string> = {}, generation: GenerationSettings = {}): void {
  mkdirSync(dir, { recursive: true });
  const c = model.config;
  const g = checkGeneration(generation, 'generation');
  writeSafetensors(join(dir, 'model.safetensors'), model.toTensors(), { format: 'pt', ...metadata });
  const hfGeneration: Record<string, number | boolean> = { decoder_start_token_id: c.decoderStartTokenId, eos_token_id: c.eosTokenId, pad_token_id: c.padTokenId };
  // transformers reads diversity_penalty only in group beam search (num_beam_groups > 1)
  for (const [ours, theirs] of GENERATION_KEYS) if (g[ours] !== undefined && (ours !== 'diversityPenalty' || (g.numBeamGroups ?? 1) > 1)) hfGeneration[theirs] = g[ours]!;
  if (g.numBeams !== undefined) hfGeneration.do_sample = false;
  writeFileAtomic(join(dir, 'generation_config.json'), [Buffer.from(JSON.stringify(hfGeneration, null, 2))]);
  if (tokenizer) tokenizer.save(join(dir, 'tokenizer.json'));
  writeFileAtomic(join(dir, 'config.json'), [Buffer.from(JSON.stringify(t5ConfigToHf(c), null, 2))]);
}

/**
 * The decoding settings of a model folder's generation_config.json (those it holds; {} where the
 * file is missing). A value of the wrong kind is an ERR_SEMID_CHECKPOINT naming the file and key.
 * @example readGenerationSettings('runs/quick/t5/multitask-rqkmeans-seed0-3f2a') // { numBeams: 60, numBeamGroups: 30, diversityPenalty: 0.25, ... }
 */
export function readGenerationSettings(dir: string): GenerationSettings {
  const path = join(dir, 'generation_config.json');
  if (!existsSync(path)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', `${path} is not JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SemidError('ERR_SEMID_CHECKPOINT', `${path} is not a JSON object`);
  const hf = raw as Record<string, unknown>;
  const out: GenerationSettings = {};
  for (const [ours, theirs] of GENERATION_KEYS) if (hf[theirs] !== undefined && hf[theirs] !== null) (out as Record<string, unknown>)[ours] = hf[theirs];
  try {
    return checkGeneration(out, path);
  } catch (err) {
    throw new SemidError('ERR_SEMID_CHECKPOINT', (err as Error).message);
  }
}

/** GenerationSettings checked (integers in range, a non-negative finite penalty, groups dividing beams). */
function checkGeneration(g: GenerationSettings, where: string): GenerationSettings {
  if (!g || typeof g !== 'object') throw new SemidArgumentError(where, 'an object of generation settings', g);
  for (const [ours, theirs, lo, hi] of GENERATION_KEYS) {
    const v = g[ours];
    if (v === undefined) continue;
    const ok = typeof v === 'number' && (ours === 'diversityPenalty' ? Number.isFinite(v) && v >= lo : Number.isInteger(v) && v >= lo && v <= hi);
    if (!ok) throw new SemidArgumentError(`${where}.${ours} (${theirs})`, ours === 'diversityPenalty' ? 'a finite number >= 0' : `an integer in [${lo}, ${hi}]`, v);
  }
  const beams = g.numBeams ?? 1;
  if (g.numBeamGroups !== undefined && beams % g.numBeamGroups !== 0) throw new SemidArgumentError(`${where}.numBeamGroups (num_beam_groups)`, `a divisor of num_beams (${beams})`, g.numBeamGroups);
  if (g.numReturnSequences !== undefined && g.numReturnSequences > beams) throw new SemidArgumentError(`${where}.numReturnSequences (num_return_sequences)`, `at most num_beams (${beams})`, g.numReturnSequences);
  return g;
}

/**
 * Token names for Semantic IDs: one per (level, code), "<{prefix}_{level}_{code}>" (e.g. <id_0_17>;
 * prefixes "s" and "r" give the Separate strategy's two namespaces).
 * @example idTokenNames(2, 256, 'id').length // 512
 */
export function idTokenNames(levels: number, codebook: number, prefix = 'id'): string[] {
  expectInt('levels', levels, 1, 64);
  expectInt('codebook', codebook, 1, 1 << 20);
  const out: string[] = [];
  for (let l = 0; l < levels; l++) for (let c = 0; c < codebook; c++) out.push(`<${prefix}_${l}_${c}>`);
  return out;
}

/**
 * A model whose vocabulary grew to `vocabSize`: existing rows kept; the new rows of the embedding
 * (and of an untied head) drawn as transformers' resize_token_embeddings draws them by default
 * (mean_resizing): from N(mean, 1e-9 · covariance) of the existing rows, the mean itself where the
 * covariance is singular (`meanResizedRows`, seeded). New ID tokens so start at the centre of the
 * model's tokens.
 * @example const bigger = resizeTokenEmbeddings(model, tokenizer.vocabSize, 42);
 */
export function resizeTokenEmbeddings(model: T5Model, vocabSize: number, seed = 0): T5Model {
  const c = model.config;
  expectInt('vocabSize', vocabSize, 1, 1 << 24);
  if (vocabSize < c.vocabSize) throw new SemidArgumentError('vocabSize', `at least the current ${c.vocabSize}`, vocabSize);
  const tensors = new Map<string, SafeTensor>(model.toTensors());
  ['shared.weight', 'lm_head.weight'].forEach((name, k) => {
    const t = tensors.get(name);
    if (!t) return;
    const [rows, d] = t.shape;
    const grown = new Float32Array(vocabSize * d);
    grown.set(t.data as Float32Array);
    grown.set(meanResizedRows(t.data as Float32Array, rows, d, vocabSize - rows, seed + k), rows * d);
    tensors.set(name, { dtype: 'F32', shape: [vocabSize, d], data: grown });
  });
  const { model: out } = T5Model.fromTensors({ ...c, vocabSize }, tensors);
  return out;
}

