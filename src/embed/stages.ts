/**
 * The embedding stage of a run: each kind reads `<run>/data` (and the stages it builds on), trains
 * for real, writes `<run>/embeddings/<kind>.npy` + sidecar, and measures its own retrieval quality
 * (dense search Recall@30 on test queries, dense recommendation Recall@30 on test users, with the
 * popularity baseline beside the rec numbers).
 */
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectOptions, optionKeys } from '../kernels/validate.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readNpyMatrix, writeNpy } from '../data/npy.js';
import { loadJointDataset, type JointDataset } from '../data/dataset.js';
import { hashSeed, mulberry32, shuffleInPlace } from '../data/random.js';
import type { TrainProgress } from '../model/runtime/train-loop.js';
import { fitContentEncoder, encodeContent, type ContentModel } from './content.js';
import { TfidfVectorizer } from './tfidf.js';
import { BIENCODER_PROFILES, TextTower, trainBiEncoder } from './biencoder.js';
import { ENMF_PROFILES, trainEnmf } from './enmf.js';
import { fuseConcat, fuseSvd } from './fusion.js';
import { popularityRecall, testTargets, trainUserItems } from './histories.js';
import { recallAtK } from './retrieval.js';
import { EMBEDDING_KINDS, loadEmbeddings, saveEmbeddings, type EmbeddingKind } from './store.js';
import { normalizeRows } from './vectors.js';
import { SentenceEncoder } from './sentence-encoder.js';

export interface EmbedOptions {
  profile?: 'default' | 'paper';
  epochs?: number;
  seed?: number;
  /** Test queries / users sampled for the sanity metrics (default 5,000 each). */
  evalSample?: number;
  /** Multi-task item pairs cap (default: as many as search pairs). */
  maxPairs?: number;
  /** content: a local sentence-transformers folder to use instead of TF-IDF + SVD. */
  encoder?: string;
  signal?: AbortSignal;
  onProgress?: (stage: string, p: TrainProgress) => void;
}

/** The option names of EmbedOptions (checked against it at compile time): any other key is an error. */
const EMBED_KEYS = optionKeys<EmbedOptions>()(['profile', 'epochs', 'seed', 'evalSample', 'maxPairs', 'encoder', 'signal', 'onProgress']);

export interface EmbedResult {
  kind: EmbeddingKind;
  dim: number;
  metrics: { searchRecall30: number | null; recRecall30: number | null; popularityRecall30: number | null };
  path: string;
  seconds: number;
}

function sample(n: number, max: number, seed: number): Int32Array {
  const all = Int32Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  return shuffleInPlace(all, mulberry32(seed)).slice(0, max).sort();
}

/** Search Recall@30 of sampled test queries, given a query encoder. */
async function searchRecall(ds: JointDataset, items: Float32Array, dim: number, encode: (q: string[]) => Float32Array, max: number, seed: number): Promise<number> {
  const idx = sample(ds.search.test.length, max, hashSeed(seed, 'search-eval'));
  const qs = Array.from(idx, (i) => ds.search.test[i]);
  return recallAtK(encode(qs.map((e) => e.query)), items, qs.map((e) => e.item), dim, 30);
}

/** Rec Recall@30 of sampled test users with user vectors; seen (train + validation) items excluded. */
async function recRecall(ds: JointDataset, users: Float32Array, items: Float32Array, dim: number, max: number, seed: number): Promise<number> {
  const seen = trainUserItems(ds, 'validation');
  const idx = sample(seen.users, max, hashSeed(seed, 'rec-eval'));
  const targets = testTargets(ds);
  const sub = new Float32Array(idx.length * dim);
  idx.forEach((u, k) => sub.set(users.subarray(u * dim, (u + 1) * dim), k * dim));
  return recallAtK(sub, items, Array.from(idx, (u) => targets[u]), dim, 30, (k) => new Set(seen.itemIds.subarray(seen.offsets[idx[k]], seen.offsets[idx[k] + 1])));
}

/** For text spaces: a user is the mean of the embeddings of the items seen before the test item. */
function meanHistoryVectors(ds: JointDataset, items: Float32Array, dim: number): Float32Array {
  const seen = trainUserItems(ds, 'validation');
  const out = new Float32Array(seen.users * dim);
  for (let u = 0; u < seen.users; u++) {
    for (let p = seen.offsets[u]; p < seen.offsets[u + 1]; p++) {
      const i = seen.itemIds[p];
      for (let j = 0; j < dim; j++) out[u * dim + j] += items[i * dim + j];
    }
  }
  return normalizeRows(out, dim);
}

function saveContentModel(runDir: string, model: ContentModel): void {
  const dir = join(runDir, 'embeddings');
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'content-model.json'), [Buffer.from(JSON.stringify({ dim: model.dim, vectorizer: model.vectorizer.toJSON() }))]);
  writeNpy(join(dir, 'content-terms.npy'), model.termVectors, [model.vectorizer.size, model.dim]);
}

function loadContentModel(runDir: string): ContentModel {
  const p = join(runDir, 'embeddings', 'content-model.json');
  if (!existsSync(p)) throw new SemidError('ERR_SEMID_STAGE', `${p} is missing: the bi-encoders start from the content model; run \`semid embed content --run ${runDir}\` first`);
  const j = JSON.parse(readFileSync(p, 'utf8'));
  return { dim: j.dim, vectorizer: TfidfVectorizer.fromJSON(j.vectorizer), termVectors: readNpyMatrix(join(runDir, 'embeddings', 'content-terms.npy')).data };
}

/**
 * Run one embedding stage.
 * @example const r = await embedStage('content', 'runs/default'); r.metrics.searchRecall30
 */
export async function embedStage(kind: EmbeddingKind, runDir: string, o: EmbedOptions = {}): Promise<EmbedResult> {
  if (!EMBEDDING_KINDS.includes(kind)) throw new SemidArgumentError('kind', EMBEDDING_KINDS.join(', '), kind);
  expectOptions<EmbedOptions>('options', o, EMBED_KEYS);
  const t0 = performance.now();
  const ds = loadJointDataset(runDir);
  const seed = o.seed ?? 42;
  const max = o.evalSample ?? 5000;
  const n = ds.items.length;
  const texts = ds.items.map((m) => m.text);
  const progress = (stage: string) => (p: TrainProgress) => o.onProgress?.(stage, p);
  let emb: Float32Array;
  let dim: number;
  let search: number | null = null;
  let rec: number | null = null;
  let pop: number | null = null;
  const settings: Record<string, unknown> = { seed, profile: o.profile ?? 'default' };
  if (kind === 'content' && o.encoder) {
    const enc = SentenceEncoder.load(o.encoder);
    emb = normalizeRows(enc.encode(texts), enc.dim);
    dim = enc.dim;
    settings.encoder = { kind: 'sentence-transformers', folder: o.encoder, model: enc.config.modelType, pooling: enc.config.pooling };
    search = await searchRecall(ds, emb, dim, (q) => normalizeRows(enc.encode(q), dim), max, seed);
    rec = await recRecall(ds, meanHistoryVectors(ds, emb, dim), emb, dim, max, seed);
    enc.dispose();
  } else if (kind === 'content') {
    const { model, embeddings } = await fitContentEncoder(texts, { seed, signal: o.signal });
    saveContentModel(runDir, model);
    emb = embeddings;
    dim = model.dim;
    settings.encoder = { kind: 'tfidf-svd', terms: model.vectorizer.size, bigrams: true, sublinearTf: true };
    search = await searchRecall(ds, emb, dim, (q) => encodeContent(model, q), max, seed);
    rec = await recRecall(ds, meanHistoryVectors(ds, emb, dim), emb, dim, max, seed);
  } else if (kind === 'search' || kind === 'multitask') {
    // a local pretrained encoder is fine-tuned (paper profile by default); else our tower starts from the content model
    const pretrained = o.encoder ? SentenceEncoder.load(o.encoder, { trainable: true }) : null;
    const prof = { ...BIENCODER_PROFILES[o.profile ?? (pretrained ? 'paper' : 'default')], ...(o.epochs ? { epochs: o.epochs } : {}) };
    const tower = pretrained ?? new TextTower(loadContentModel(runDir));
    const searchPairs = ds.search.train.map((e) => ({ query: e.query, item: e.item }));
    let itemPairs: Array<[number, number]> = [];
    if (kind === 'multitask') {
      const { userOffsets, sequence } = ds.interactions;
      for (let u = 0; u + 1 < userOffsets.length; u++) for (let k = userOffsets[u]; k + 1 < userOffsets[u + 1] - 2; k++) if (sequence[k] !== sequence[k + 1]) itemPairs.push([sequence[k], sequence[k + 1]]);
      const cap = o.maxPairs ?? searchPairs.length;
      if (itemPairs.length > cap) itemPairs = Array.from(shuffleInPlace(itemPairs, mulberry32(hashSeed(seed, 'pairs'))).slice(0, cap));
    }
    try {
      const losses = await trainBiEncoder(tower, { searchPairs, itemPairs, itemTexts: texts, ...prof, seed, signal: o.signal, onProgress: progress(kind) });
      dim = tower.dim;
      const encodeUnit = (t: string[]) => normalizeRows(tower.encode(t), dim);
      emb = encodeUnit(texts);
      settings.training = { ...prof, tower: pretrained ? { kind: 'sentence-transformers', folder: o.encoder } : 'tfidf-terms', loss: 'MNRL', scale: 20, searchPairs: searchPairs.length, itemPairs: itemPairs.length, epochLoss: losses };
      search = await searchRecall(ds, emb, dim, encodeUnit, max, seed);
      rec = await recRecall(ds, meanHistoryVectors(ds, emb, dim), emb, dim, max, seed);
    } finally {
      tower.dispose();  // an abort mid-training included
    }
  } else if (kind === 'rec') {
    const prof = { ...ENMF_PROFILES[o.profile ?? 'default'], ...(o.epochs ? { epochs: o.epochs } : {}) };
    const train = trainUserItems(ds);
    const model = await trainEnmf(train, { ...prof, seed, signal: o.signal, onProgress: progress('rec') });
    emb = model.itemEmbeddings;
    dim = model.dim;
    settings.training = { model: 'ENMF (user-based, whole-data loss)', negativeWeight: 0.5, ...prof };
    const uv = new Float32Array(model.userEmbeddings.length);
    for (let u = 0; u < train.users; u++) for (let j = 0; j < dim; j++) uv[u * dim + j] = model.userEmbeddings[u * dim + j] * model.h[j];
    rec = await recRecall(ds, uv, emb, dim, max, seed);
    pop = popularityRecall(ds, 30);
  } else {
    const a = loadEmbeddings(runDir, 'search');
    const b = loadEmbeddings(runDir, 'rec');
    if (a.rows !== n || b.rows !== n) throw new SemidError('ERR_SEMID_STAGE', `embeddings have ${a.rows} and ${b.rows} rows but the data set has ${n} items: rebuild them`);
    if (kind === 'fused-concat') { emb = fuseConcat(a.data, a.dim, b.data, b.dim, n); dim = a.dim + b.dim; } else { const f = await fuseSvd(a.data, a.dim, b.data, b.dim, n, seed); emb = f.embeddings; dim = f.dim; }
    settings.fusion = { of: ['search', 'rec'], method: kind };
    rec = await recRecall(ds, meanHistoryVectors(ds, normalizeRows(Float32Array.from(emb), dim), dim), normalizeRows(Float32Array.from(emb), dim), dim, max, seed);
  }
  const metrics = { searchRecall30: search, recRecall30: rec, popularityRecall30: pop };
  const path = saveEmbeddings(runDir, kind, emb, dim, { settings, metrics });
  return { kind, dim, metrics, path, seconds: (performance.now() - t0) / 1000 };
}
