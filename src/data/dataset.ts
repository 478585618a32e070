/**
 * The joint search & recommendation data set: search examples (query -> item) and recommendation
 * examples (earlier items of a user -> next item) for train, validation and test, with stable ids,
 * written atomically to `<run>/data/` and read back with `loadJointDataset`.
 *
 * Files (item order = movieId order; every .npy is readable by numpy):
 *   manifest.json            settings, source, counts, drops, and a sha256 per file
 *   items.jsonl              one item per line: item, movieId, title, year, genres, tags, genomeTags, text, popularity, head
 *   queries.jsonl            {"movieId", "item", "train": [10], "test": [10]}: the queries, split
 *   search_{train,validation,test}.jsonl   {"id": "q<movieId>.<k>", "item", "query"}
 *   users.npy                int32 [users] userId per user index
 *   user_offsets.npy         int32 [users + 1]: user u's interactions are sequence[off[u] : off[u+1]]
 *   sequence.npy             int32 [interactions] item index, per user in time order
 *   sequence_timestamps.npy  float64 [interactions] seconds since 1970
 *   popularity.npy           int32 [items] training interactions per item;  head.npy uint8 [items]
 *   rec_{train,validation,test}.npy  int32 [examples, 4]: (user, historyStart, historyEnd, target item),
 *                            the history being sequence[historyStart : historyEnd] (at most maxHistory
 *                            items); the stable id of an example is "u<userId>@<position of the target>".
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { encodeNpy, readNpy } from './npy.js';
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';
import { DataFormatError } from './errors.js';
import { buildInteractions, checkInteractionOptions, type InteractionOptions, type Interactions } from './interactions.js';
import { buildItemMeta, checkItemTextOptions, type ItemMeta, type ItemTextOptions } from './item-text.js';
import type { DropCount, MovieLensData } from './movielens/types.js';
import { parseTitle } from './titles.js';
import { hashSeed, mulberry32, shuffleInPlace } from './random.js';
import { QUERIES_PER_ITEM, TRAIN_QUERIES_PER_ITEM, type QuerySource, type QuerySourceOptions } from './queries/types.js';

export const DATASET_VERSION = 1;

export interface DatasetOptions extends InteractionOptions, ItemTextOptions {
  /** Most history items in a recommendation example (default 20). */
  maxHistory?: number;
  /** Train queries per item moved to a search validation split (default 0: the paper has none). */
  searchValidationQueries?: number;
}

export interface SearchExample {
  /** "q<movieId>.<k>", k the query's position in the source's list of 20. */
  id: string;
  item: number;
  query: string;
}

export type Split = 'train' | 'validation' | 'test';

export interface DatasetSummary {
  users: number;
  items: number;
  interactions: number;
  headItems: number;
  torsoItems: number;
  queries: number;
  search: Record<Split, number>;
  rec: Record<Split, number>;
  recTestHead: number;
  recTestTorso: number;
  meanHistory: number;
}

export interface DatasetManifest {
  version: number;
  source: { format: string; release: string; path: string; synthetic: boolean };
  queries: { source: string };
  settings: Record<string, unknown>;
  summary: DatasetSummary;
  dropped: DropCount[];
  files: Record<string, string>;
  /** A hash of what was asked for (source, query source, options), set by callers that reuse finished data. */
  request?: string;
}

export interface JointDataset {
  manifest: DatasetManifest;
  items: ItemMeta[];
  interactions: Interactions;
  /** [items] the 20 queries of each item: train first (10), then test (10), in split order. */
  queries: { train: string[]; test: string[] }[];
  search: Record<Split, SearchExample[]>;
  /** int32 [examples * 4] rows of (user, historyStart, historyEnd, target). */
  rec: Record<Split, Int32Array>;
}

/** The option names of DatasetOptions, its own and those it extends (checked at compile time): any other key is an error. */
const DATASET_KEYS = optionKeys<DatasetOptions>()(['maxHistory', 'searchValidationQueries', 'minRating', 'maxUsers', 'kCore', 'minUserInteractions',
  'catalogue', 'headFraction', 'seed', 'maxTags', 'genomeThreshold', 'maxGenomeTags']);

/**
 * Check every option of the joint data set (interactions, item texts, examples) before any data is
 * read, so that a bad one fails at once instead of after reading a large ratings file.
 * @example checkDatasetOptions({ maxHistory: 20, kCore: 5 }).maxHistory // 20
 */
export function checkDatasetOptions(options: DatasetOptions = {}): { maxHistory: number; searchValidation: number } {
  expectOptions<DatasetOptions>('options', options, DATASET_KEYS);
  checkInteractionOptions(options);
  checkItemTextOptions(options);
  return {
    maxHistory: expectInt('maxHistory', options.maxHistory ?? 20, 1, 1e6),
    searchValidation: expectInt('searchValidationQueries', options.searchValidationQueries ?? 0, 0, TRAIN_QUERIES_PER_ITEM - 1),
  };
}

/**
 * Build the joint data set in memory.
 * @example
 * const ml = await readMovieLens('../shared/data/ml-latest-small');
 * const ds = await buildJointDataset(ml, templateQuerySource(42), { seed: 42 });
 * ds.manifest.summary.search.train; // 97240
 */
export async function buildJointDataset(data: MovieLensData, querySource: QuerySource, options: DatasetOptions = {},
  run: QuerySourceOptions = {}): Promise<JointDataset> {
  const { maxHistory, searchValidation } = checkDatasetOptions(options);
  const interactions = buildInteractions(data, options);
  const seed = interactions.settings.seed;
  const items = buildItemMeta(data, interactions, options);
  const generated = await querySource.generate(items, run);
  if (generated.length !== items.length) throw new Error(`query source ${querySource.name} returned ${generated.length} lists for ${items.length} items`);

  // queries: seeded split per item, independent of the catalogue order
  const queries: { train: string[]; test: string[] }[] = [];
  const search: Record<Split, SearchExample[]> = { train: [], validation: [], test: [] };
  items.forEach((item, i) => {
    const list = generated[i];
    if (list.length !== QUERIES_PER_ITEM) throw new Error(`query source ${querySource.name} gave ${list.length} queries for movieId ${item.movieId}`);
    const order = shuffleInPlace(Array.from({ length: QUERIES_PER_ITEM }, (_, k) => k), mulberry32(hashSeed(seed, `split:${item.movieId}`)));
    const train = order.slice(0, TRAIN_QUERIES_PER_ITEM);
    const test = order.slice(TRAIN_QUERIES_PER_ITEM);
    queries.push({ train: train.map((k) => list[k]), test: test.map((k) => list[k]) });
    train.forEach((k, j) => {
      const split: Split = j >= TRAIN_QUERIES_PER_ITEM - searchValidation ? 'validation' : 'train';
      search[split].push({ id: `q${item.movieId}.${k}`, item: i, query: list[k] });
    });
    for (const k of test) search.test.push({ id: `q${item.movieId}.${k}`, item: i, query: list[k] });
  });

  // recommendation: sliding windows over each user's train items, then validation and test targets
  const { userOffsets, sequence } = interactions;
  const nu = interactions.userId.length;
  let nTrain = 0;
  for (let u = 0; u < nu; u++) nTrain += Math.max(0, userOffsets[u + 1] - userOffsets[u] - 3);
  const rec: Record<Split, Int32Array> = { train: new Int32Array(nTrain * 4), validation: new Int32Array(nu * 4), test: new Int32Array(nu * 4) };
  let r = 0;
  let historySum = 0;
  const put = (arr: Int32Array, row: number, u: number, end: number) => {
    const start = Math.max(userOffsets[u], end - maxHistory);
    arr[row * 4] = u;
    arr[row * 4 + 1] = start;
    arr[row * 4 + 2] = end;
    arr[row * 4 + 3] = sequence[end];
    return end - start;
  };
  let recTestHead = 0;
  for (let u = 0; u < nu; u++) {
    const off = userOffsets[u];
    const end = userOffsets[u + 1];
    for (let t = off + 1; t < end - 2; t++) put(rec.train, r++, u, t);
    put(rec.validation, u, u, end - 2);
    historySum += put(rec.test, u, u, end - 1);
    if (interactions.isHead[sequence[end - 1]]) recTestHead++;
  }

  let headItems = 0;
  for (const h of interactions.isHead) headItems += h;
  const summary: DatasetSummary = {
    users: nu,
    items: items.length,
    interactions: sequence.length,
    headItems,
    torsoItems: items.length - headItems,
    queries: items.length * QUERIES_PER_ITEM,
    search: { train: search.train.length, validation: search.validation.length, test: search.test.length },
    rec: { train: nTrain, validation: nu, test: nu },
    recTestHead,
    recTestTorso: nu - recTestHead,
    meanHistory: nu ? Math.round((historySum / nu) * 100) / 100 : 0,
  };
  const manifest: DatasetManifest = {
    version: DATASET_VERSION,
    source: { format: data.format, release: data.release, path: data.source, synthetic: data.format === 'synthetic' },
    queries: { source: querySource.name },
    settings: { ...interactions.settings, maxHistory, searchValidationQueries: searchValidation, ...itemTextSettings(options) },
    summary,
    dropped: [...data.dropped, ...interactions.dropped],
    files: {},
  };
  return { manifest, items, interactions, queries, search, rec };
}

function itemTextSettings(o: ItemTextOptions) {
  return { maxTags: o.maxTags ?? 10, genomeThreshold: o.genomeThreshold ?? 0.8, maxGenomeTags: o.maxGenomeTags ?? 10 };
}

const jsonl = (rows: unknown[]) => Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''), 'utf8');

/**
 * Write the data set to `<runDir>/data/` (each file atomically; the manifest last, so a data folder
 * with a manifest is complete).
 * @example writeJointDataset(ds, 'runs/ml-small');
 */
export function writeJointDataset(ds: JointDataset, runDir: string): string {
  const dir = join(runDir, 'data');
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Uint8Array[]> = {};
  const it = ds.interactions;
  files['items.jsonl'] = [jsonl(ds.items.map((m) => ({
    item: m.item, movieId: m.movieId, title: m.title, rawTitle: m.rawTitle, year: m.year, genres: m.genres, tags: m.tags,
    genomeTags: m.genomeTags, description: m.description, imdbId: m.imdbId, tmdbId: m.tmdbId, text: m.text,
    popularity: it.popularity[m.item], head: it.isHead[m.item] === 1,
  })))];
  files['queries.jsonl'] = [jsonl(ds.items.map((m, i) => ({ movieId: m.movieId, item: i, train: ds.queries[i].train, test: ds.queries[i].test })))];
  for (const split of ['train', 'validation', 'test'] as const) {
    files[`search_${split}.jsonl`] = [jsonl(ds.search[split])];
    files[`rec_${split}.npy`] = encodeNpy(ds.rec[split], [ds.rec[split].length / 4, 4]);
  }
  files['users.npy'] = encodeNpy(it.userId, [it.userId.length]);
  files['user_offsets.npy'] = encodeNpy(it.userOffsets, [it.userOffsets.length]);
  files['sequence.npy'] = encodeNpy(it.sequence, [it.sequence.length]);
  files['sequence_timestamps.npy'] = encodeNpy(it.sequenceTimestamp, [it.sequenceTimestamp.length]);
  files['popularity.npy'] = encodeNpy(it.popularity, [it.popularity.length]);
  files['head.npy'] = encodeNpy(it.isHead, [it.isHead.length]);
  const hashes: Record<string, string> = {};
  for (const [name, chunks] of Object.entries(files)) {
    writeFileAtomic(join(dir, name), chunks);
    const h = createHash('sha256');
    for (const c of chunks) h.update(c);
    hashes[name] = h.digest('hex');
  }
  ds.manifest.files = hashes;
  writeFileAtomic(join(dir, 'manifest.json'), [Buffer.from(JSON.stringify(ds.manifest, null, 2) + '\n')]);
  return dir;
}

/**
 * Read a data set written by `writeJointDataset` (checks every file against the manifest's sha256).
 * @example const ds = loadJointDataset('runs/ml-small'); ds.search.test.length
 */
export function loadJointDataset(runDir: string): JointDataset {
  const dir = join(runDir, 'data');
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new DataFormatError(manifestPath, 0, 'is missing: run `semid data prepare --out <run dir>` first');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as DatasetManifest;
  if (manifest.version !== DATASET_VERSION) throw new DataFormatError(manifestPath, 0, `has version ${manifest.version}, expected ${DATASET_VERSION}; prepare the data again`);
  const read = (name: string) => {
    const bytes = readFileSync(join(dir, name));
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (manifest.files[name] !== sha) throw new DataFormatError(join(dir, name), 0, 'does not match the manifest (changed or damaged); prepare the data again');
    return bytes;
  };
  const lines = (name: string) => read(name).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  const npy = (name: string) => readNpy(new Uint8Array(read(name))).data;
  const itemRows = lines('items.jsonl') as Array<ItemMeta & { popularity: number; head: boolean }>;
  const items: ItemMeta[] = itemRows.map((r) => ({
    item: r.item, movieId: r.movieId, rawTitle: r.rawTitle, title: r.title, titleNames: parseTitle(r.rawTitle).names, year: r.year, genres: r.genres, tags: r.tags,
    genomeTags: r.genomeTags, description: r.description, imdbId: r.imdbId, tmdbId: r.tmdbId, text: r.text,
  }));
  const queries = (lines('queries.jsonl') as Array<{ train: string[]; test: string[] }>).map((q) => ({ train: q.train, test: q.test }));
  const userId = npy('users.npy') as Int32Array;
  const popularity = npy('popularity.npy') as Int32Array;
  const interactions: Interactions = {
    settings: manifest.settings as Interactions['settings'],
    itemMovieId: Int32Array.from(items, (m) => m.movieId),
    itemMovieRow: new Int32Array(items.length).fill(-1),
    userId,
    userOffsets: npy('user_offsets.npy') as Int32Array,
    sequence: npy('sequence.npy') as Int32Array,
    sequenceTimestamp: npy('sequence_timestamps.npy') as Float64Array,
    popularity,
    isHead: npy('head.npy') as Uint8Array,
    dropped: manifest.dropped,
  };
  const search = {
    train: lines('search_train.jsonl'), validation: lines('search_validation.jsonl'), test: lines('search_test.jsonl'),
  } as Record<Split, SearchExample[]>;
  const rec = { train: npy('rec_train.npy'), validation: npy('rec_validation.npy'), test: npy('rec_test.npy') } as Record<Split, Int32Array>;
  return { manifest, items, interactions, queries, search, rec };
}

/**
 * One recommendation example: the history (item indices, oldest first), the target and its stable id.
 * @example const ex = recExample(ds, 'test', 0); ex.id // "u1@231"
 */
export function recExample(ds: JointDataset, split: Split, index: number): { id: string; user: number; history: Int32Array; target: number } {
  const rows = ds.rec[split];
  const u = rows[index * 4];
  const start = rows[index * 4 + 1];
  const end = rows[index * 4 + 2];
  return {
    id: `u${ds.interactions.userId[u]}@${end - ds.interactions.userOffsets[u]}`,
    user: u,
    history: ds.interactions.sequence.subarray(start, end),
    target: rows[index * 4 + 3],
  };
}
