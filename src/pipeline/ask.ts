/**
 * Asking a trained study model: load the T5 a run trained for one strategy, quantizer and seed,
 * then search with free text or recommend from a history, decoding with the same trie-constrained
 * diverse beam search as the evaluation, and return items with their titles, scores and IDs.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt, expectNumber, expectOptions, expectSignal, optionKeys } from '../kernels/validate.js';
import { loadJointDataset, type JointDataset } from '../data/dataset.js';
import type { IdTrie } from '../decoding/trie.js';
import { itemTrie } from '../eval/generative.js';
import { expectCollisionPolicy, STRATEGIES, type CollisionPolicy, type Strategy } from '../ids/strategies.js';
import { idsDigest, idsName } from '../ids/store.js';
import { loadT5Folder, readGenerationSettings, type GenerationSettings } from '../model/t5/checkpoint-folder.js';
import { REC_TASK, SEARCH_TASK } from '../model/t5/joint-task.js';
import type { T5Model } from '../model/t5/model.js';
import { strategyTask, type StrategyTask } from './strategy-task.js';
import { decodeWithTrie } from './decode-trie.js';

/** A run's trained model for one strategy, quantizer and seed, with what decoding needs. */
export interface RunModel {
  out: string;
  strategy: Strategy;
  quantizer: string;
  seed: number;
  /** The collision policy of the IDs the model was trained on. */
  collisions: CollisionPolicy;
  /** The model's folder (<run>/t5/<strategy>-<quantizer>-seed<seed>-<settings hash>). */
  modelDir: string;
  model: T5Model;
  task: StrategyTask;
  dataset: JointDataset;
  /** One trie per namespace, built when first used. */
  tries: Map<number, IdTrie>;
  /** The decoding the run evaluated the model with (its generation_config.json; {} for models saved before it was written there): the defaults of AskOptions. */
  generation: GenerationSettings;
}

/** One answer: an item of the catalogue, its hypothesis's score (log-probability) and its Semantic ID. */
export interface Answer {
  rank: number;
  item: number;
  movieId: number;
  title: string;
  year: number | null;
  score: number;
  id: string[];
  /** Items the ID names (1 where it names this item alone; the items of one ID share its score and come in item order). */
  idItems: number;
}

export interface AskOptions {
  /** Items returned per query (default 10, at most beams). */
  top?: number;
  /** Beams and groups of the diverse beam search (default: what the run evaluated the model with, else 60 and 30 as in the paper). */
  beams?: number;
  groups?: number;
  diversityPenalty?: number;
  /** Stops between decoding steps. */
  signal?: AbortSignal;
}

/** loadRunModel's options. */
export interface RunModelOptions {
  strategy?: Strategy;
  quantizer?: string;
  seed?: number;
  /** The IDs' collision policy (`semid run --collisions`); default: whichever the newest usable model was trained on. */
  collisions?: CollisionPolicy;
}

const RUN_MODEL_KEYS = optionKeys<RunModelOptions>()(['strategy', 'quantizer', 'seed', 'collisions']);

/**
 * Load the model a run trained (`semid run`) for a strategy, quantizer and seed, on the run's
 * current IDs. Where the run holds several (runs with other settings), the newest is taken.
 * @example const m = loadRunModel('runs/quick', { strategy: 'multitask' }); const [answers] = await askSearch(m, ['space robots']);
 */
export function loadRunModel(out: string, options: RunModelOptions = {}): RunModel {
  const o = expectOptions<RunModelOptions>('options', options, RUN_MODEL_KEYS);
  const strategy = o.strategy ?? 'multitask';
  if (!STRATEGIES.includes(strategy)) throw new SemidArgumentError('strategy', STRATEGIES.join(', '), strategy);
  const quantizer = o.quantizer ?? 'rqkmeans';
  const seed = expectInt('seed', o.seed ?? 0, 0, 1e6);
  if (o.collisions !== undefined) expectCollisionPolicy('collisions', o.collisions);
  const t5 = join(out, 't5');
  const all = existsSync(t5) ? readdirSync(t5).filter((d) => existsSync(join(t5, d, 'done.json'))) : [];
  const prefix = `${strategy}-${quantizer}-seed${seed}-`;
  const mine = all.filter((d) => d.startsWith(prefix) && /^[0-9a-f]+$/.test(d.slice(prefix.length)));
  if (mine.length === 0) {
    const have = all.map((d) => d.replace(/-[0-9a-f]+$/, '')).sort();
    throw new SemidError('ERR_SEMID_STAGE', `${t5} holds no finished model for ${strategy} / ${quantizer} / seed ${seed} (run \`semid run\` first)` +
      (have.length ? `; it has: ${have.join(', ')}` : ''));
  }
  // Models record the IDs they were trained on (done.json's idsDigest; runs before it was recorded
  // have none and are taken as trained on the kept IDs): one trained on IDs since rebuilt is never used.
  const policies = o.collisions !== undefined ? [o.collisions] : (['keep', 'dedup'] as const).filter((c) => existsSync(join(out, 'ids', `${idsName(strategy, quantizer, c)}.json`)));
  const policyOf = new Map<string, CollisionPolicy>();  // digest -> policy
  for (const c of policies.length > 0 ? policies : (['keep'] as const)) policyOf.set(idsDigest(out, strategy, quantizer, c), c);
  const trainedOnOf = new Map(mine.map((d) => [d, (JSON.parse(readFileSync(join(t5, d, 'done.json'), 'utf8')) as { idsDigest?: string }).idsDigest]));
  const policyOfModel = (d: string): CollisionPolicy | undefined => {
    const digest = trainedOnOf.get(d);
    if (digest === undefined) return policies.includes('keep') ? 'keep' : undefined;
    return policyOf.get(digest);
  };
  const usable = mine.filter((d) => policyOfModel(d) !== undefined);
  if (usable.length === 0) {
    throw new SemidError('ERR_SEMID_STAGE', `${t5}: the models for ${strategy} / ${quantizer} / seed ${seed}${o.collisions ? ` (collisions ${o.collisions})` : ''} were trained on IDs that have since been rebuilt (run \`semid run\` again to train on the new ones)`);
  }
  const doneAt = new Map(usable.map((d) => [d, statSync(join(t5, d, 'done.json')).mtimeMs]));
  const recorded = (d: string) => (trainedOnOf.get(d) !== undefined ? 1 : 0);
  const chosen = usable.sort((a, b) => recorded(b) - recorded(a) || doneAt.get(b)! - doneAt.get(a)!)[0];
  const modelDir = join(t5, chosen);
  const collisions = policyOfModel(chosen)!;
  const dataset = loadJointDataset(out);
  // The model folder's tokenizer holds the strategy's ID tokens already: adding them again keeps their ids.
  const task = strategyTask(out, join(modelDir, 'tokenizer.json'), strategy, quantizer, dataset, dataset, collisions);
  const { model } = loadT5Folder(modelDir);
  if (task.tokenizer.vocabSize > model.config.vocabSize) {
    model.dispose();
    throw new SemidError('ERR_SEMID_STAGE', `${modelDir}: its tokenizer and the run's IDs make ${task.tokenizer.vocabSize} tokens, the model has ${model.config.vocabSize}: the IDs were rebuilt after it was trained`);
  }
  let generation: GenerationSettings;
  try {
    generation = readGenerationSettings(modelDir);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { out, strategy, quantizer, seed, collisions, modelDir, model, task, dataset, tries: new Map(), generation };
}

/** The option names of AskOptions (checked against it at compile time): any other key is an error. */
const ASK_KEYS = optionKeys<AskOptions>()(['top', 'beams', 'groups', 'diversityPenalty', 'signal']);

/** AskOptions checked, with the study's defaults filled in. */
export interface ResolvedAskOptions {
  top: number;
  beams: number;
  groups: number;
  diversityPenalty: number;
  signal: AbortSignal | undefined;
}

/**
 * Check AskOptions and fill in the defaults: those of `defaults` (a model's generation settings,
 * `RunModel.generation`) where it has them, else beams 60, groups 30 when beams is not given else 1,
 * penalty 0.25; top 10 (at most beams). A bad value is a SemidArgumentError naming it.
 * @example resolveAskOptions({ beams: 8, groups: 4, top: 5 }) // { top: 5, beams: 8, groups: 4, diversityPenalty: 0.25, signal: undefined }
 */
export function resolveAskOptions(options: AskOptions = {}, defaults: GenerationSettings = {}): ResolvedAskOptions {
  const o = expectOptions<AskOptions>('options', options, ASK_KEYS);
  // the model's groups go with its beams: beams given alone means plain beam search, as before
  const fromModel = o.beams === undefined || o.beams === defaults.numBeams;
  const beams = expectInt('beams', o.beams ?? defaults.numBeams ?? 60, 1, 1024);
  const groups = expectInt('groups', o.groups ?? (fromModel ? (defaults.numBeamGroups ?? (o.beams === undefined ? 30 : 1)) : 1), 1, beams);
  const top = expectInt('top', o.top ?? Math.min(10, beams), 1, beams);
  const diversityPenalty = expectNumber('diversityPenalty', o.diversityPenalty ?? defaults.diversityPenalty ?? 0.25, 0);
  const signal = expectSignal('signal', o.signal);
  return { top, beams, groups, diversityPenalty, signal };
}

/**
 * The encoder input of a free-text query (a blank query is an error naming `name`).
 * @example searchSourceOf(m, 'space robots') // Int32Array of token ids
 */
export function searchSourceOf(m: RunModel, query: unknown, name = 'query'): Int32Array {
  if (typeof query !== 'string' || query.trim() === '') throw new SemidArgumentError(name, 'a non-empty string', query);
  return m.task.task.searchSource(query);
}

/**
 * The encoder input of a history of item indices, oldest first (a bad index is an error naming it).
 * @example recSourceOf(m, [0, 224]) // Int32Array of token ids
 */
export function recSourceOf(m: RunModel, history: unknown, name = 'history'): Int32Array {
  const items = m.dataset.items.length;
  const h = history as ArrayLike<number> | null | undefined;
  if (!h || typeof h !== 'object' || typeof h.length !== 'number' || h.length === 0) throw new SemidArgumentError(name, 'a non-empty list of item indices', history);
  for (let k = 0; k < h.length; k++) if (!Number.isInteger(h[k]) || h[k] < 0 || h[k] >= items) throw new SemidArgumentError(`${name}[${k}]`, `an item index below ${items}`, h[k]);
  return m.task.task.recSource(h);
}

/**
 * Decode encoder inputs of one task (SEARCH_TASK or REC_TASK) with the constrained diverse beam
 * search, in batches of the evaluation's size; `tops[i]` answers are kept for source i (each at
 * most `r.beams`). The batch's queries are independent: each gets what it would get alone.
 * @example await decodeSources(m, SEARCH_TASK, [searchSourceOf(m, 'space robots')], resolveAskOptions(), [10])
 */
export async function decodeSources(m: RunModel, kind: number, sources: Int32Array[], r: Omit<ResolvedAskOptions, 'top'>, tops: number[]): Promise<Answer[][]> {
  let trie = m.tries.get(kind);
  if (!trie) m.tries.set(kind, (trie = itemTrie(kind === SEARCH_TASK ? m.task.space.search : m.task.space.rec)));
  const ids = kind === SEARCH_TASK ? m.task.idsFile.search : m.task.idsFile.rec;
  const tokens = kind === SEARCH_TASK ? m.task.space.search : m.task.space.rec;
  const results = await decodeWithTrie(m.model, trie, sources, r);
  return results.map((res, q) => Array.from(res.items.subarray(0, tops[q]), (item, k) => {
    const meta = m.dataset.items[item];
    const idItems = trie!.lookup(Array.from(tokens[item])).length;
    return { rank: k + 1, item, movieId: meta.movieId, title: meta.rawTitle, year: meta.year, score: res.itemScores[k], id: ids[item], idItems };
  }));
}

/**
 * Search: the items the model generates for each free-text query, best first.
 * @example const [answers] = await askSearch(loadRunModel('runs/quick'), ['funny space robots']); answers[0].title
 */
export async function askSearch(m: RunModel, queries: string[], o: AskOptions = {}): Promise<Answer[][]> {
  if (!Array.isArray(queries) || queries.length === 0 || queries.some((q) => typeof q !== 'string' || q.trim() === '')) {
    throw new SemidArgumentError('queries', 'a non-empty list of non-empty strings', queries);
  }
  const r = resolveAskOptions(o, m.generation);
  return decodeSources(m, SEARCH_TASK, queries.map((q, i) => searchSourceOf(m, q, `queries[${i}]`)), r, queries.map(() => r.top));
}

/**
 * Recommendation: the items the model generates after each history (item indices, oldest first;
 * the last 20 are used, as in training), best first.
 * @example const [answers] = await askRecommend(m, [userHistory(m, 42)]);
 */
export async function askRecommend(m: RunModel, histories: ArrayLike<number>[], o: AskOptions = {}): Promise<Answer[][]> {
  if (!Array.isArray(histories) || histories.length === 0) throw new SemidArgumentError('histories', 'a non-empty list of item-index lists', histories);
  const sources = histories.map((h, i) => recSourceOf(m, h, `histories[${i}]`));
  const r = resolveAskOptions(o, m.generation);
  return decodeSources(m, REC_TASK, sources, r, histories.map(() => r.top));
}

/**
 * A MovieLens user's whole history in the run (item indices, oldest first).
 * @example userHistory(m, 42) // Int32Array of item indices
 */
export function userHistory(m: RunModel, userId: number): Int32Array {
  const { userId: ids, userOffsets, sequence } = m.dataset.interactions;
  const u = ids.indexOf(userId);
  if (u < 0) throw new SemidArgumentError('user', `a userId of the run's data set (${ids.length} users, ${ids[0]}..${ids[ids.length - 1]})`, userId);
  return sequence.slice(userOffsets[u], userOffsets[u + 1]);
}

/**
 * Item indices of MovieLens movieIds (an unknown movieId is an error naming it).
 * @example itemsOfMovies(m, [1, 260]) // Int32Array [0, 224]
 */
export function itemsOfMovies(m: RunModel, movieIds: number[]): Int32Array {
  const index = new Map<number, number>();
  m.dataset.interactions.itemMovieId.forEach((id, i) => index.set(id, i));
  return Int32Array.from(movieIds, (id, k) => {
    const i = index.get(id);
    if (i === undefined) throw new SemidArgumentError(`movies[${k}]`, "a movieId of the run's catalogue", id);
    return i;
  });
}
