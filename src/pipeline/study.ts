/**
 * The study end to end: data -> embeddings -> Semantic IDs -> joint T5 -> constrained decoding ->
 * Recall@30, for every requested strategy and seed. Every stage writes its artifact atomically and
 * is skipped when its artifact (keyed by a hash of its settings) already exists, so a killed run
 * resumes where it stopped; T5 training also resumes from its last checkpoint.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readMovieLens } from '../data/movielens/read.js';
import { syntheticMovieLens } from '../data/synthetic.js';
import { resolveDataSource } from '../data/source.js';
import { buildJointDataset, loadJointDataset, writeJointDataset, type DatasetManifest, type JointDataset } from '../data/dataset.js';
import { templateQuerySource } from '../data/queries/template.js';
import { hashSeed, mulberry32, shuffleInPlace } from '../data/random.js';
import { embedStage } from '../embed/stages.js';
import { EMBEDDING_KINDS, type EmbeddingKind } from '../embed/store.js';
import { BIENCODER_PROFILES } from '../embed/biencoder.js';
import { ENMF_PROFILES } from '../embed/enmf.js';
import { buildIds, expectCollisionPolicy, QUANTIZERS, REC_SPACE, STRATEGIES, type CollisionPolicy, type Strategy } from '../ids/strategies.js';
import { idsDigest, idsName, loadIds, saveIds } from '../ids/store.js';
import type { QuantizerName } from '../ids/quantizer.js';
import { initRuntime } from '../model/runtime/backend.js';
import { T5Model } from '../model/t5/model.js';
import { T5_PRESETS, type T5Config } from '../model/t5/config.js';
import { trainWordPieceTokenizer } from '../model/t5/tokenizer.js';
import { REC_TASK, SEARCH_TASK } from '../model/t5/joint-task.js';
import { DecodePool, decodeWorkers } from '../eval/decode-pool.js';
import { strategyTask } from './strategy-task.js';
import { trainJointT5 } from '../model/t5/train-joint.js';
import { saveT5Folder, loadT5Folder, resizeTokenEmbeddings } from '../model/t5/checkpoint-folder.js';
import { safetensorsWeightsIn } from '../model/safetensors.js';
import { defaultDecodeBatch, evaluateTask, itemTrie, type ExampleResult } from '../eval/generative.js';
import { explainWasmHeapError } from '../model/runtime/wasm-heap.js';

export interface StudyProfile {
  name: string;
  /** release: the MovieLens release the profile is defined on (checked against the data found); absent: any. */
  data: { maxUsers: number | null; release?: string };
  embed: { profile: 'default' | 'paper'; searchEpochs?: number; enmfEpochs?: number };
  /**
   * collisions: 'dedup' appends TIGER's level numbering the items that share an ID (every ID
   * unique); absent: IDs keep their collisions (an ID names all its items), as the paper.
   */
  ids: { levels: number; codebook: number; collisions?: 'dedup' };
  /**
   * searchPerItem: training queries per item used for T5 (the data set has 10); recPerUser: the
   * most recent training windows per user used (absent or null: all).
   */
  t5: { preset: Omit<T5Config, 'vocabSize'>; epochs: number; batchSize: number; learningRate: number; vocab: number; searchPerItem: number; recPerUser?: number | null;
    /** Fine-tune this pretrained model (a local Hugging Face T5 folder of that name) instead of training `preset` from scratch. */
    pretrained?: string };
  eval: { searchQueries: number; users: number; beams: number; groups: number; penalty: number };
  seeds: number;
  /**
   * Quantizers run by default (absent: RQ-KMeans only). As in the paper's Table 3, quantizers other
   * than RQ-KMeans run on Multi-task only, unless strategies are named explicitly.
   */
  quantizers?: QuantizerName[];
}

/** quick: a 2.4M-parameter T5 (2+2 layers, d_model 128, with the 8,000-word vocabulary and ID tokens) that trains on ml-latest-small in minutes here. */
const quickT5 = { ...T5_PRESETS.small, dModel: 128, dKv: 32, dFf: 512, numLayers: 2, numDecoderLayers: 2, numHeads: 4 };
const tinyT5 = { ...T5_PRESETS.tiny, dModel: 64, dKv: 16, dFf: 128, numHeads: 4, dropoutRate: 0.1 };

/** Profiles: tiny (CI, minutes), quick (ml-latest-small, one seed), small (all, 5 seeds), paper (the paper's settings). */
export const STUDY_PROFILES: Record<'tiny' | 'quick' | 'small' | 'paper', StudyProfile> = {
  tiny: { name: 'tiny', data: { maxUsers: 40 }, embed: { profile: 'default', searchEpochs: 1, enmfEpochs: 30 }, ids: { levels: 2, codebook: 64 },
    t5: { preset: tinyT5, epochs: 2, batchSize: 128, learningRate: 5e-3, vocab: 2000, searchPerItem: 2 }, eval: { searchQueries: 200, users: 40, beams: 20, groups: 10, penalty: 0.25 }, seeds: 1 },
  quick: { name: 'quick', data: { maxUsers: null }, embed: { profile: 'default' }, ids: { levels: 2, codebook: 256 },
    t5: { preset: quickT5, epochs: 1, batchSize: 128, learningRate: 3e-3, vocab: 8000, searchPerItem: 5, recPerUser: 60 },
    eval: { searchQueries: 2000, users: 610, beams: 60, groups: 30, penalty: 0.25 }, seeds: 1 },
  // small: quick's model and training per setting (about 2.6 minutes here), 8 strategies + 3 quantizers x 5 seeds = 55 trainings: about 2.5 hours here
  small: { name: 'small', data: { maxUsers: null }, embed: { profile: 'default' }, ids: { levels: 2, codebook: 256 },
    t5: { preset: quickT5, epochs: 1, batchSize: 128, learningRate: 3e-3, vocab: 8000, searchPerItem: 5, recPerUser: 60 },
    eval: { searchQueries: 5000, users: 610, beams: 60, groups: 30, penalty: 0.25 }, seeds: 5,
    quantizers: ['rqkmeans', 'dictionary', 'rlfq', 'rqvae'] },
  paper: { name: 'paper', data: { maxUsers: null, release: 'ml-25m' }, embed: { profile: 'paper' }, ids: { levels: 2, codebook: 256 },
    t5: { preset: T5_PRESETS.small, pretrained: 'flan-t5-base', epochs: 3, batchSize: 128, learningRate: 2e-3, vocab: 32000, searchPerItem: 10, recPerUser: null },
    eval: { searchQueries: Number.MAX_SAFE_INTEGER, users: Number.MAX_SAFE_INTEGER, beams: 60, groups: 30, penalty: 0.25 }, seeds: 5,
    quantizers: ['rqkmeans', 'dictionary', 'rlfq', 'rqvae'] },
};

export interface StudyOptions {
  profile?: keyof typeof STUDY_PROFILES;
  strategies?: Strategy[];
  quantizers?: QuantizerName[];
  seeds?: number;
  /**
   * Collisions (two items, one ID): 'keep' (default, as the paper: an ID names all its items and
   * evaluation scores them all) or 'dedup' (TIGER's extra level numbering the items of an ID).
   */
  collisions?: CollisionPolicy;
  out: string;
  movielens?: string;
  /** 'synthetic' forces the embedded catalogue (tests); default: the usual source order. */
  data?: 'auto' | 'synthetic';
  /** Settings that replace the profile's (experiments and tests), merged field by field. */
  override?: { [K in keyof StudyProfile]?: Partial<StudyProfile[K]> };
  /**
   * A local Hugging Face T5 folder (config.json, model.safetensors or its shards, tokenizer.json) to fine-tune;
   * default for a profile that names one (paper: flan-t5-base): $SEMID_MODELS/<name>.
   */
  pretrained?: string;
  /** Decoding workers (default: cores / 2, at least 1); 0 decodes in this thread. */
  workers?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** The option names of StudyOptions (checked against it at compile time): any other key is an error. */
const STUDY_KEYS = optionKeys<StudyOptions>()(['profile', 'strategies', 'quantizers', 'seeds', 'collisions', 'out', 'movielens', 'data', 'override', 'pretrained', 'workers', 'signal', 'log']);

export interface StrategyResult {
  strategy: Strategy;
  quantizer: QuantizerName;
  seed: number;
  search: ExampleResult[];
  rec: ExampleResult[];
  seconds: Record<string, number>;
  /**
   * Mean training loss of the T5's last epoch: over its batches run since a resume where training
   * was resumed inside that epoch; absent for models trained before it was recorded.
   */
  trainLoss?: number;
}

/**
 * The training examples a profile uses: the first `searchPerItem` training queries of every item
 * and the last `recPerUser` sliding windows of every user (null: all).
 * @example const train = trainingSubset(loadJointDataset('runs/quick'), 5, 60); // quick's T5 training set
 */
export function trainingSubset(ds: JointDataset, searchPerItem: number, recPerUser: number | null): JointDataset {
  const perItem = new Map<number, number>();
  const search = searchPerItem >= 10 ? ds.search.train
    : ds.search.train.filter((e) => { const c = perItem.get(e.item) ?? 0; perItem.set(e.item, c + 1); return c < searchPerItem; });
  let rec = ds.rec.train;
  if (recPerUser !== null) {
    const rows = rec.length / 4;
    const keep: number[] = [];
    const seen = new Map<number, number>();
    for (let r = rows - 1; r >= 0; r--) {
      const u = rec[r * 4];
      const c = seen.get(u) ?? 0;
      seen.set(u, c + 1);
      if (c < recPerUser) keep.push(r);
    }
    keep.reverse();
    rec = new Int32Array(keep.length * 4);
    keep.forEach((r, i) => rec.set(ds.rec.train.subarray(r * 4, r * 4 + 4), i * 4));
  }
  return { ...ds, search: { ...ds.search, train: search }, rec: { ...ds.rec, train: rec } };
}

/**
 * The pretrained T5 folder a run fine-tunes: the one given, else $SEMID_MODELS/<name> for a profile
 * that names a model; null: train the profile's preset from scratch.
 * @example resolvePretrained(STUDY_PROFILES.paper, 'models/flan-t5-base'); // the absolute folder, checked
 */
export function resolvePretrained(profile: StudyProfile, given?: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const need = ['config.json', 'model.safetensors', 'tokenizer.json'];
  const check = (dir: string, what: string) => {
    const missing = need.filter((f) => (f === 'model.safetensors' ? safetensorsWeightsIn(dir) === null : !existsSync(join(dir, f))));  // weights may be sharded
    if (missing.length) throw new SemidError('ERR_SEMID_INVALID_ARG', `Expected a Hugging Face T5 folder (${need.join(', ')}) for ${what} but ${dir} is missing ${missing.join(', ')}`);
    return resolve(dir);
  };
  if (given) return check(given, 'pretrained');
  const name = profile.t5.pretrained;
  if (!name) return null;
  if (env.SEMID_MODELS) return check(join(env.SEMID_MODELS, name), `$SEMID_MODELS/${name}`);
  throw new SemidArgumentError('pretrained', `the folder of ${name} for profile ${profile.name} (pass --pretrained <dir> or set SEMID_MODELS to the folder that holds ${name}/; weights cannot be downloaded at run time)`, undefined);
}

/** Whether a finished embedding stage was made for this data set and these settings. */
function embeddingCurrent(out: string, kind: EmbeddingKind, profile: StudyProfile, items: number): boolean {
  const meta = join(out, 'embeddings', `${kind}.json`);
  if (!existsSync(join(out, 'embeddings', `${kind}.npy`)) || !existsSync(meta)) return false;
  const j = JSON.parse(readFileSync(meta, 'utf8')) as { rows: number; settings: { profile?: string; training?: { epochs?: number } } };
  if (j.rows !== items || j.settings.profile !== profile.embed.profile) return false;
  const p = profile.embed.profile;
  const epochs = kind === 'rec' ? profile.embed.enmfEpochs ?? ENMF_PROFILES[p].epochs
    : kind === 'search' || kind === 'multitask' ? profile.embed.searchEpochs ?? BIENCODER_PROFILES[p].epochs : undefined;
  return epochs === undefined || j.settings.training?.epochs === epochs;
}

/** Wrap f so that it runs at most once every `seconds` (progress lines). */
function every<T>(seconds: number, f: (x: T) => void): (x: T) => void {
  let last = performance.now();
  return (x) => { const now = performance.now(); if (now - last >= seconds * 1000) { last = now; f(x); } };
}
const clock = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : '?');
/** Seconds as "1h05m" (or "12m" under an hour), for the whole study's ETA. */
const hoursClock = (s: number) => (!Number.isFinite(s) ? '?' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.max(1, Math.round(s / 60))}m`);

const hash = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);

/**
 * Embedding spaces a strategy needs.
 * @example spacesFor('multitask') // ['content', 'multitask']
 */
export function spacesFor(strategy: Strategy): EmbeddingKind[] {
  switch (strategy) {
    case 'separate': case 'prefix-share': case 'fused-concat': case 'fused-svd': return ['content', 'search', 'rec', ...(strategy.startsWith('fused') ? [strategy as EmbeddingKind] : [])];
    case 'search': case 'multitask': return ['content', strategy];
    default: return [strategy];
  }
}

/**
 * A study's results; `counterparts`: the results the run folder holds for the other collision
 * policy (`keep` for a dedup run and the other way round) with every other setting the same, for
 * the report's comparison of the two.
 */
type StudyOutcome = { results: StrategyResult[]; counterparts: StrategyResult[]; profile: StudyProfile; manifest: DatasetManifest; timings: Record<string, number> };

/**
 * Run (or resume) the study. The wasm heap running out is reported as such (ERR_SEMID_WASM_HEAP).
 * @example const results = await runStudy({ profile: 'tiny', out: 'runs/tiny' });
 */
export async function runStudy(options: StudyOptions): Promise<StudyOutcome> {
  try {
    return await studyRun(options);
  } catch (err) {
    throw explainWasmHeapError(err);
  }
}

async function studyRun(options: StudyOptions): Promise<StudyOutcome> {
  const o = expectOptions<StudyOptions>('options', options, STUDY_KEYS) as StudyOptions;
  if (typeof o.out !== 'string' || o.out === '') throw new SemidArgumentError('out', 'a folder for the run', o.out);
  const base = Object.hasOwn(STUDY_PROFILES, o.profile ?? 'tiny') ? STUDY_PROFILES[o.profile ?? 'tiny'] : undefined;
  if (!base) throw new SemidArgumentError('profile', Object.keys(STUDY_PROFILES).join(', '), o.profile);
  const profile = { ...base } as StudyProfile;
  for (const [k, v] of Object.entries(o.override ?? {})) (profile as unknown as Record<string, unknown>)[k] = typeof v === 'object' ? { ...(base as unknown as Record<string, object>)[k], ...v } : v;
  const strategies = o.strategies ?? [...STRATEGIES];
  for (const s of strategies) if (!STRATEGIES.includes(s)) throw new SemidArgumentError('strategies', STRATEGIES.join(', '), s);
  const quantizers = o.quantizers ?? profile.quantizers ?? ['rqkmeans'];
  for (const q of quantizers) if (!QUANTIZERS.includes(q)) throw new SemidArgumentError('quantizers', QUANTIZERS.join(', '), q);
  const collisions = expectCollisionPolicy('collisions', o.collisions ?? profile.ids.collisions ?? 'keep');
  // only a dedup run's settings name it: the keys of runs made before the option stay as they were
  const { collisions: _policy, ...idSettings } = profile.ids;
  profile.ids = collisions === 'dedup' ? { ...idSettings, collisions } : idSettings;
  const strategiesOf = (q: QuantizerName) => (q === 'rqkmeans' || o.strategies ? strategies : strategies.filter((s) => s === 'multitask'));
  const seeds = expectInt('seeds', o.seeds ?? profile.seeds, 1, 1000);
  const log = o.log ?? (() => {});
  const out = o.out;
  mkdirSync(out, { recursive: true });
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    timings[name] = (timings[name] ?? 0) + (performance.now() - t0) / 1000;
    return r;
  };
  await initRuntime();

  // 1. data
  const source = o.data === 'synthetic' ? { dir: null, origin: 'synthetic' as const } : resolveDataSource(o.movielens);
  if (profile.data.release && (!source.dir || basename(source.dir).toLowerCase() !== profile.data.release)) {
    log(`WARNING: profile ${profile.name} is defined on ${profile.data.release}; running on ${source.dir ?? 'the synthetic catalogue'} (pass --movielens <${profile.data.release} folder>; \`semid data download ${profile.data.release}\` fetches it)`);
  }
  const pretrainedDir = resolvePretrained(profile, o.pretrained);
  if (o.workers !== 0) decodeWorkers(o.workers);
  const dataKey = hash({ source: source.dir ?? 'synthetic', maxUsers: profile.data.maxUsers, v: 1 });
  const manifestPath = join(out, 'data', 'manifest.json');
  const dataRebuilt = !existsSync(manifestPath) || JSON.parse(readFileSync(manifestPath, 'utf8')).request !== dataKey;
  if (dataRebuilt) {
    await timed('data', async () => {
      log(source.dir ? `data: MovieLens from ${source.dir}` : 'data: NO MovieLens found; using the embedded SYNTHETIC catalogue');
      const ml = source.dir ? await readMovieLens(source.dir, { signal: o.signal }) : syntheticMovieLens({ seed: 42 });
      const ds = await buildJointDataset(ml, templateQuerySource(42), { seed: 42, maxUsers: source.dir ? profile.data.maxUsers : null });
      ds.manifest.request = dataKey;
      writeJointDataset(ds, out);
    });
  } else log('data: reusing the finished data set');
  const ds = loadJointDataset(out);

  // 2. embeddings the strategies need
  const spaces = new Set<EmbeddingKind>();
  for (const s of strategies) for (const k of spacesFor(s)) spaces.add(k);
  const rebuilt = new Set<EmbeddingKind>();
  for (const k of EMBEDDING_KINDS) {
    if (!spaces.has(k)) continue;
    const stale = (k === 'fused-concat' || k === 'fused-svd') && (rebuilt.has('search') || rebuilt.has('rec'));
    if (!stale && !dataRebuilt && embeddingCurrent(out, k, profile, ds.items.length)) { log(`embed ${k}: reusing`); continue; }
    rebuilt.add(k);
    await timed(`embed:${k}`, async () => {
      log(`embed ${k} ...`);
      const epochs = k === 'rec' ? profile.embed.enmfEpochs : k === 'search' || k === 'multitask' ? profile.embed.searchEpochs : undefined;
      const r = await embedStage(k, out, { profile: profile.embed.profile, epochs, seed: 42, signal: o.signal });
      log(`embed ${k}: search R@30 ${r.metrics.searchRecall30?.toFixed(4) ?? '-'}, rec R@30 ${r.metrics.recRecall30?.toFixed(4) ?? '-'}`);
    });
  }

  // 3. the base tokenizer (corpus: prompts, queries, item texts)
  const tokPath = pretrainedDir ? join(pretrainedDir, 'tokenizer.json') : join(out, `tokenizer-${profile.t5.vocab}.json`);
  if (!pretrainedDir && (dataRebuilt || !existsSync(tokPath))) {
    const corpus = ['search: recommend:', ...ds.search.train.map((e) => e.query), ...ds.items.map((m) => m.text)];
    trainWordPieceTokenizer(corpus, { vocabSize: profile.t5.vocab, minFrequency: 2 }).save(tokPath);
  }

  // 4-6. per strategy, quantizer and seed: IDs, T5, decoding
  const results: StrategyResult[] = [];
  const counterparts: StrategyResult[] = [];
  // a unit's key: its settings and the IDs it was trained on (the same settings with the other
  // collision policy's IDs name its counterpart)
  const keyOf = (strategy: Strategy, quantizer: QuantizerName, seed: number, ids: StudyProfile['ids'], digest: string) =>
    hash({ strategy, quantizer, seed, ids, idsDigest: digest, t5: profile.t5, eval: profile.eval, data: dataKey, ...(pretrainedDir ? { pretrainedDir } : {}) });
  const otherPolicy: CollisionPolicy = collisions === 'keep' ? 'dedup' : 'keep';
  const otherIds: StudyProfile['ids'] = otherPolicy === 'dedup' ? { ...idSettings, collisions: 'dedup' } : idSettings;
  const rand = mulberry32(hashSeed(42, 'eval'));
  const searchEval = shuffleInPlace(Int32Array.from({ length: ds.search.test.length }, (_, i) => i), rand).slice(0, profile.eval.searchQueries).sort();
  const recEval = Int32Array.from({ length: Math.min(profile.eval.users, ds.rec.test.length / 4) }, (_, i) => i);
  const trainDs = trainingSubset(ds, profile.t5.searchPerItem, profile.t5.recPerUser ?? null);
  let pool: DecodePool | null = null; // started on first use (a fully reused run starts no workers)
  // the study's progress: [unit/units] on each line, and an ETA from the units trained in this process
  const units = quantizers.reduce((n, q) => n + strategiesOf(q).length, 0) * seeds;
  let unitNumber = 0;
  let unitsRun = 0;
  let unitSeconds = 0;
  try {
    for (const quantizer of quantizers) {
      for (const strategy of strategiesOf(quantizer)) {
        // IDs (once per strategy and quantizer: they do not depend on the seed): reused when made with
        // these settings from embeddings not rebuilt in this run
        const t0 = performance.now();
        try {
          if (spacesFor(strategy).some((k) => rebuilt.has(k))) throw new Error('embeddings rebuilt');
          const settings = (loadIds(out, strategy, quantizer, collisions).raw as { settings: { codebookSize: number; levels: number; recSpace?: string } }).settings;
          if (settings.codebookSize !== profile.ids.codebook || settings.levels !== profile.ids.levels) throw new Error('other settings');
          if ((strategy === 'rec' || strategy === 'separate') && settings.recSpace !== REC_SPACE) throw new Error('made from the raw rec space');
        } catch {
          saveIds(out, await buildIds(strategy, out, { quantizer, levels: profile.ids.levels, codebookSize: profile.ids.codebook, collisions, seed: 42, signal: o.signal }));
        }
        const idsSeconds = (performance.now() - t0) / 1000;
        // everything after the IDs is keyed by the IDs themselves, so new IDs never meet an old model or result
        const idsDigestNow = idsDigest(out, strategy, quantizer, collisions);
        const otherDigest = existsSync(join(out, 'ids', `${idsName(strategy, quantizer, otherPolicy)}.json`)) ? idsDigest(out, strategy, quantizer, otherPolicy) : undefined;
        for (let seed = 0; seed < seeds; seed++) {
          const name = `[${++unitNumber}/${units}] ${strategy}/${quantizer}/seed ${seed}`;
          const unitStart = performance.now();
          const key = keyOf(strategy, quantizer, seed, profile.ids, idsDigestNow);
          const resultPath = join(out, 'results', `${strategy}-${quantizer}-seed${seed}-${key}.json`);
          if (otherDigest !== undefined) {
            const counterpart = join(out, 'results', `${strategy}-${quantizer}-seed${seed}-${keyOf(strategy, quantizer, seed, otherIds, otherDigest)}.json`);
            if (existsSync(counterpart)) counterparts.push(JSON.parse(readFileSync(counterpart, 'utf8')));
          }
          if (existsSync(resultPath)) { results.push(JSON.parse(readFileSync(resultPath, 'utf8'))); log(`${name}: reusing results`); continue; }
          const seconds: Record<string, number> = { ids: idsSeconds };
          // tokenizer + ID tokens, model
          const { tokenizer, space, task } = strategyTask(out, tokPath, strategy, quantizer, ds, trainDs, collisions);
          const modelDir = join(out, 't5', `${strategy}-${quantizer}-seed${seed}-${key}`);
          let model: T5Model | null = null;
          // disposed however this ends (an abort mid-training included): a service that retries in
          // one process must not keep a model per try
          try {
            const t1 = performance.now();
            if (!existsSync(join(modelDir, 'done.json'))) {
              if (pretrainedDir) {
                // the pretrained model grows to hold the ID tokens (its padding rows first, as Hugging Face's resize does)
                const base = loadT5Folder(pretrainedDir).model;
                model = base.config.vocabSize >= tokenizer.vocabSize ? base : resizeTokenEmbeddings(base, tokenizer.vocabSize, hashSeed(seed, strategy));
                if (model !== base) base.dispose();
              } else {
                model = T5Model.create({ ...profile.t5.preset, vocabSize: tokenizer.vocabSize }, hashSeed(seed, strategy));
              }
              log(`${name}: training T5 (${(model.size / 1e6).toFixed(2)}M parameters, ${task.sizes('train').join(' + ')} examples an epoch)`);
              const trained = await trainJointT5({ model, task, batchSize: profile.t5.batchSize, epochs: profile.t5.epochs, learningRate: profile.t5.learningRate, seed: seed + 1,
                checkpoint: { dir: join(modelDir, 'checkpoints'), everySteps: 200 }, signal: o.signal,
                onProgress: every(30, (p) => log(`${name}: T5 step ${p.step}/${p.totalSteps} (epoch ${p.epoch + 1}), loss ${p.meanLoss.toFixed(3)}, ${p.examplesPerSecond.toFixed(0)} ex/s, ETA ${clock(p.etaSeconds)}`)) });
              // the decoding it is evaluated with, so that model.generate() and `semid search` start from it
              const longestId = Math.max(...[space.search, space.rec].map((ids) => ids.reduce((m, t) => Math.max(m, t.length), 0)));
              saveT5Folder(modelDir, model, tokenizer, {}, { numBeams: profile.eval.beams, numBeamGroups: profile.eval.groups, diversityPenalty: profile.eval.penalty,
                numReturnSequences: profile.eval.beams, maxNewTokens: longestId > 0 ? longestId : undefined });
              // the IDs it was trained on, so that loadRunModel can tell a model of other IDs
              const training = { steps: trained.steps, epochLoss: trained.epochLoss, resumedFrom: trained.resumedFrom, idsDigest: idsDigestNow };
              writeFileAtomic(join(modelDir, 'done.json'), [Buffer.from(JSON.stringify(training))]);
            }
            const epochLoss = (JSON.parse(readFileSync(join(modelDir, 'done.json'), 'utf8')) as { epochLoss?: number[] }).epochLoss;
            seconds.t5 = (performance.now() - t1) / 1000;
            // decoding and metrics (in the worker pool, or here with workers: 0)
            const t2 = performance.now();
            const dec = { beams: profile.eval.beams, groups: profile.eval.groups, diversityPenalty: profile.eval.penalty };
            const decodeProgress = (what: string) => {
              const tStart = performance.now();
              return every(30, ([done, total]: [number, number]) => {
                const rate = done / ((performance.now() - tStart) / 1000);
                log(`${name}: decoding ${what} ${done}/${total}, ${rate.toFixed(1)} ex/s, ETA ${clock((total - done) / rate)}`);
              });
            };
            const evaluate = async (kind: number, indices: Int32Array, what: string): Promise<ExampleResult[]> => {
              const progress = decodeProgress(what);
              const onProgress = (d: number, t: number) => progress([d, t]);
              if (o.workers !== 0) {
                pool ??= new DecodePool({ workers: o.workers });
                model?.dispose();
                model = null;
                const batch = defaultDecodeBatch(dec.beams, tokenizer.vocabSize);
                return pool.evaluate({ out, modelDir, tokenizerPath: tokPath, strategy, quantizer, collisions, kind, decode: dec }, indices, { batch, signal: o.signal, onProgress });
              }
              model ??= loadT5Folder(modelDir).model;
              return evaluateTask(model, task, kind, indices, itemTrie(kind === SEARCH_TASK ? space.search : space.rec), ds, { ...dec, signal: o.signal, onProgress });
            };
            const search = await evaluate(SEARCH_TASK, searchEval, 'search');
            const rec = await evaluate(REC_TASK, recEval, 'rec');
            seconds.decode = (performance.now() - t2) / 1000;
            (model as T5Model | null)?.dispose();
            model = null;
            const r: StrategyResult = { strategy, quantizer, seed, search, rec, seconds, ...(epochLoss?.length ? { trainLoss: epochLoss[epochLoss.length - 1] } : {}) };
            mkdirSync(join(out, 'results'), { recursive: true });
            writeFileAtomic(resultPath, [Buffer.from(JSON.stringify(r))]);
            const m = (xs: ExampleResult[]) => (xs.reduce((s, x) => s + x.recall30, 0) / Math.max(1, xs.length)).toFixed(4);
            log(`${name}: search R@30 ${m(search)}, rec R@30 ${m(rec)}${r.trainLoss !== undefined ? `, training loss ${r.trainLoss.toFixed(3)}` : ''} (${Object.entries(seconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')})`);
            results.push(r);
            unitsRun++;
            unitSeconds += (performance.now() - unitStart) / 1000;
            if (unitNumber < units) log(`study: ${unitNumber}/${units} trained and decoded, about ${hoursClock((units - unitNumber) * (unitSeconds / unitsRun))} to go`);
          } finally {
            (model as T5Model | null)?.dispose();
          }
        }
      }
    }
  } finally {
    await (pool as DecodePool | null)?.close();
  }
  return { results, counterparts, profile, manifest: ds.manifest, timings };
}
