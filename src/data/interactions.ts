/**
 * From ratings to the study's interactions: filters (minimum rating, user sample, k-core), the item
 * catalogue, per-user chronological sequences, the leave-last-out split, popularity and head/torso.
 */
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt, expectNumber } from '../kernels/validate.js';
import { mulberry32, shuffleInPlace } from './random.js';
import type { DropCount, MovieLensData } from './movielens/types.js';

export interface InteractionOptions {
  /** Keep ratings >= this many stars (default null: every rating is an interaction). */
  minRating?: number | null;
  /** Keep a seeded sample of this many users (default null: all users). The paper kept a sample of ML-25M's users. */
  maxUsers?: number | null;
  /** Iteratively drop users and items with fewer than k interactions (default 0: off). */
  kCore?: number;
  /** Users need at least this many interactions to be split (train, validation, test; default 3, the minimum). */
  minUserInteractions?: number;
  /** Catalogue: movies with an interaction after filtering ('interacted', default) or every movie in the movies file ('all'). */
  catalogue?: 'interacted' | 'all';
  /** Fraction of items (most popular in train) that form the head (default 0.01, the paper's top 1%). */
  headFraction?: number;
  seed?: number;
}

export const INTERACTION_DEFAULTS: Required<Omit<InteractionOptions, 'minRating' | 'maxUsers'>> & { minRating: number | null; maxUsers: number | null } = {
  minRating: null, maxUsers: null, kCore: 0, minUserInteractions: 3, catalogue: 'interacted', headFraction: 0.01, seed: 42,
};

export interface Interactions {
  settings: typeof INTERACTION_DEFAULTS;
  /** [items] movieId of each item index; items are ordered by movieId. */
  itemMovieId: Int32Array;
  /** [items] row of each item in the movies table. */
  itemMovieRow: Int32Array;
  /** [users] userId of each user index; users are ordered by userId. */
  userId: Int32Array;
  /** [users + 1] offsets into `sequence`: user u's interactions are sequence[userOffsets[u] .. userOffsets[u+1]). */
  userOffsets: Int32Array;
  /** [interactions] item index, each user's interactions in time order (ties: file order). */
  sequence: Int32Array;
  /** [interactions] seconds since 1970 of each entry of `sequence`. */
  sequenceTimestamp: Float64Array;
  /** [items] interactions in the training split (popularity). */
  popularity: Int32Array;
  /** [items] 1 for head items (top `headFraction` by train popularity, ties by item index), else 0. */
  isHead: Uint8Array;
  dropped: DropCount[];
}

/**
 * The interaction options with their defaults, checked (before any data is read).
 * @example checkInteractionOptions({ kCore: 5 }).headFraction // 0.01
 */
export function checkInteractionOptions(options: InteractionOptions = {}): typeof INTERACTION_DEFAULTS {
  const s = { ...INTERACTION_DEFAULTS, ...options };
  if (s.minRating !== null) expectNumber('minRating', s.minRating, 0, 10);
  if (s.maxUsers !== null) expectInt('maxUsers', s.maxUsers, 1, 2 ** 31 - 1);
  expectInt('kCore', s.kCore, 0, 1e9);
  expectInt('minUserInteractions', s.minUserInteractions, 3, 1e9);
  expectNumber('headFraction', s.headFraction, 0, 1);
  expectInt('seed', s.seed, 0, 2 ** 32 - 1);
  if (s.catalogue !== 'interacted' && s.catalogue !== 'all') throw new SemidArgumentError('catalogue', '"interacted" or "all"', s.catalogue);
  return s;
}

/**
 * Build the interactions of the study from a MovieLens release. Leave-last-out: for each user the
 * last interaction is the test target, the one before the validation target, the rest train.
 * @example
 * const ml = await readMovieLens('../shared/data/ml-latest-small');
 * const it = buildInteractions(ml, { minRating: null });
 * it.userOffsets.length - 1; // 610 users
 */
export function buildInteractions(data: MovieLensData, options: InteractionOptions = {}): Interactions {
  const s = checkInteractionOptions(options);

  const { ratings, movies } = data;
  const n = ratings.length;
  const dropped: DropCount[] = [];
  const file = data.format === 'csv' ? 'ratings.csv' : data.format === 'dat' ? 'ratings.dat' : data.format === 'ml-100k' ? 'u.data' : 'ratings';
  const drop = (reason: string, rows: number) => { if (rows > 0) dropped.push({ file, reason, rows }); };

  // compact indices per row: movie row in the movies table (-1: unknown movie), user rank
  const movieRowOf = compactLookup(movies.movieId);
  const rowMovie = new Int32Array(n);
  for (let i = 0; i < n; i++) rowMovie[i] = movieRowOf(ratings.movieId[i]);
  const allUsers = distinctSorted(ratings.userId, null);
  const userRankOf = compactLookup(allUsers);
  const rowUserRank = new Int32Array(n);
  for (let i = 0; i < n; i++) rowUserRank[i] = userRankOf(ratings.userId[i]);

  // 1. rows kept by row-wise filters
  const keep = new Uint8Array(n);
  let unknown = 0;
  let below = 0;
  for (let i = 0; i < n; i++) {
    if (rowMovie[i] < 0) { unknown++; continue; }
    if (s.minRating !== null && ratings.rating[i] < s.minRating) { below++; continue; }
    keep[i] = 1;
  }
  drop('movieId not in the movies file', unknown);
  drop(`rating below minRating ${s.minRating}`, below);

  // 2. user sample (seeded, over sorted distinct user ids)
  if (s.maxUsers !== null) {
    const present = new Uint8Array(allUsers.length);
    for (let i = 0; i < n; i++) if (keep[i]) present[rowUserRank[i]] = 1;
    const candidates = Int32Array.from(present.keys()).filter((r) => present[r] === 1);
    if (candidates.length > s.maxUsers) {
      shuffleInPlace(candidates, mulberry32(s.seed));
      const chosen = new Uint8Array(allUsers.length);
      for (let k = 0; k < s.maxUsers; k++) chosen[candidates[k]] = 1;
      let out = 0;
      for (let i = 0; i < n; i++) if (keep[i] && !chosen[rowUserRank[i]]) { keep[i] = 0; out++; }
      drop(`user not in the sample of ${s.maxUsers} users (seed ${s.seed})`, out);
    }
  }

  // 3. k-core and the minimum per user, iterated to a fixed point
  const minUser = Math.max(s.kCore, s.minUserInteractions);
  const minItem = s.kCore;
  let kcoreDropped = 0;
  let shortUsers = 0;
  const userCount = new Int32Array(allUsers.length);
  const itemCount = new Int32Array(movies.movieId.length);
  for (;;) {
    userCount.fill(0);
    itemCount.fill(0);
    for (let i = 0; i < n; i++) if (keep[i]) { userCount[rowUserRank[i]]++; itemCount[rowMovie[i]]++; }
    let removed = 0;
    for (let i = 0; i < n; i++) {
      if (!keep[i]) continue;
      const uc = userCount[rowUserRank[i]];
      const ic = itemCount[rowMovie[i]];
      if (uc < minUser || ic < minItem) {
        keep[i] = 0;
        removed++;
        if (ic >= minItem && uc >= s.kCore) shortUsers++; else kcoreDropped++;
      }
    }
    if (removed === 0) break;
  }
  drop(`k-core ${s.kCore} (users or items with fewer interactions)`, kcoreDropped);
  drop(`user with fewer than ${s.minUserInteractions} interactions (cannot be split train/validation/test)`, shortUsers);

  // 4. catalogue (ordered by movieId) and users (ordered by userId)
  const itemMovieId = s.catalogue === 'all' ? Int32Array.from(movies.movieId).sort() : distinctSorted(ratings.movieId, keep);
  const itemOfMovieRow = new Int32Array(movies.movieId.length).fill(-1);
  const itemMovieRow = Int32Array.from(itemMovieId, (m) => movieRowOf(m));
  itemMovieRow.forEach((row, item) => (itemOfMovieRow[row] = item));
  const userIds = distinctSorted(ratings.userId, keep);
  const userOfRank = new Int32Array(allUsers.length).fill(-1);
  userIds.forEach((u, i) => (userOfRank[userRankOf(u)] = i));

  // 5. counting sort rows by user (stable: file order), then each user's rows by (timestamp, file order)
  const nu = userIds.length;
  const userOffsets = new Int32Array(nu + 1);
  for (let i = 0; i < n; i++) if (keep[i]) userOffsets[userOfRank[rowUserRank[i]] + 1]++;
  for (let u = 0; u < nu; u++) userOffsets[u + 1] += userOffsets[u];
  const total = userOffsets[nu];
  const rowsByUser = new Int32Array(total);
  const fill = userOffsets.slice(0, nu);
  for (let i = 0; i < n; i++) if (keep[i]) rowsByUser[fill[userOfRank[rowUserRank[i]]]++] = i;
  const ts = ratings.timestamp;
  const byTime = (a: number, b: number) => (ts[a] - ts[b]) || (a - b);
  for (let u = 0; u < nu; u++) {
    const seg = rowsByUser.subarray(userOffsets[u], userOffsets[u + 1]);
    let sorted = true;
    for (let k = 1; k < seg.length; k++) if (byTime(seg[k - 1], seg[k]) > 0) { sorted = false; break; }
    if (!sorted) seg.sort(byTime);
  }
  const sequence = new Int32Array(total);
  const sequenceTimestamp = new Float64Array(total);
  for (let k = 0; k < total; k++) {
    const r = rowsByUser[k];
    sequence[k] = itemOfMovieRow[rowMovie[r]];
    sequenceTimestamp[k] = ts[r];
  }

  // 6. popularity in train and the head
  const popularity = new Int32Array(itemMovieId.length);
  for (let u = 0; u < nu; u++) for (let k = userOffsets[u]; k < userOffsets[u + 1] - 2; k++) popularity[sequence[k]]++;
  const isHead = headItems(popularity, s.headFraction);
  return { settings: s, itemMovieId, itemMovieRow, userId: userIds, userOffsets, sequence, sequenceTimestamp, popularity, isHead, dropped };
}

/**
 * Head flags: the ceil(fraction * items) most popular items (ties broken by lower item index).
 * @example headItems(new Int32Array([5, 9, 1, 9]), 0.5) // Uint8Array [0, 1, 0, 1]
 */
export function headItems(popularity: Int32Array, fraction: number): Uint8Array {
  const order = Array.from(popularity.keys()).sort((a, b) => popularity[b] - popularity[a] || a - b);
  const headCount = Math.min(order.length, Math.ceil(fraction * order.length));
  const isHead = new Uint8Array(popularity.length);
  for (let i = 0; i < headCount; i++) isHead[order[i]] = 1;
  return isHead;
}

function distinctSorted(values: Int32Array, keep: Uint8Array | null): Int32Array {
  const set = new Set<number>();
  for (let i = 0; i < values.length; i++) if (!keep || keep[i]) set.add(values[i]);
  return Int32Array.from(set).sort();
}

/** value -> its position in `keys` (distinct ints), or -1; a dense table when the range is small. */
function compactLookup(keys: Int32Array): (value: number) => number {
  let min = Infinity;
  let max = -Infinity;
  for (const k of keys) { if (k < min) min = k; if (k > max) max = k; }
  if (keys.length > 0 && max - min < 1 << 26) {
    const table = new Int32Array(max - min + 1).fill(-1);
    keys.forEach((k, i) => (table[k - min] = i));
    return (v) => (v < min || v > max ? -1 : table[v - min]);
  }
  const map = new Map<number, number>();
  keys.forEach((k, i) => map.set(k, i));
  return (v) => map.get(v) ?? -1;
}
