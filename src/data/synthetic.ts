/**
 * The embedded default catalogue for machines without MovieLens: deterministic, in MovieLens's
 * shape (movies with titles, years, genres and tags; users with tastes rating over time), with
 * structure a model can learn (users prefer genres; tags follow genres; popularity is skewed).
 */
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';
import { mulberry32 } from './random.js';
import type { MovieLensData } from './movielens/types.js';

export interface SyntheticOptions {
  movies?: number;
  users?: number;
  /** Mean ratings per user (at least 5 each). */
  ratingsPerUser?: number;
  seed?: number;
}

/** The option names of SyntheticOptions (checked against it at compile time): any other key is an error. */
const SYNTHETIC_KEYS = optionKeys<SyntheticOptions>()(['movies', 'users', 'ratingsPerUser', 'seed']);

const GENRES = ['Action', 'Adventure', 'Animation', 'Children', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir',
  'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western'];
const GENRE_TAGS: Record<string, string[]> = {
  Action: ['explosions', 'car chase', 'martial arts', 'heist'], Adventure: ['treasure hunt', 'jungle', 'quest', 'sailing'],
  Animation: ['hand drawn', 'stop motion', 'talking animals'], Children: ['friendship', 'coming of age', 'school'],
  Comedy: ['satire', 'slapstick', 'witty dialogue', 'parody'], Crime: ['mafia', 'detective', 'corruption', 'prison'],
  Documentary: ['nature', 'biography', 'music history'], Drama: ['family drama', 'grief', 'small town', 'based on a true story'],
  Fantasy: ['dragons', 'wizards', 'fairy tale'], 'Film-Noir': ['femme fatale', 'black and white', 'rainy city'],
  Horror: ['haunted house', 'zombies', 'vampires', 'slasher'], Musical: ['broadway', 'dance', 'singing'],
  Mystery: ['twist ending', 'whodunit', 'amnesia'], Romance: ['love triangle', 'wedding', 'second chance'],
  'Sci-Fi': ['space travel', 'time travel', 'robots', 'aliens', 'dystopia'], Thriller: ['conspiracy', 'serial killer', 'hostage'],
  War: ['world war ii', 'vietnam', 'resistance'], Western: ['gunslinger', 'frontier', 'outlaws'],
};
const WORDS_A = ['Silent', 'Crimson', 'Last', 'Hidden', 'Broken', 'Golden', 'Midnight', 'Electric', 'Distant', 'Wild', 'Frozen', 'Burning', 'Lonely', 'Secret', 'Iron', 'Paper', 'Glass', 'Velvet', 'Hollow', 'Northern'];
const WORDS_B = ['River', 'Empire', 'Garden', 'Harbor', 'Machine', 'Letter', 'Mountain', 'Circus', 'Station', 'Kingdom', 'Orchard', 'Lantern', 'Engine', 'Island', 'Canyon', 'Mirror', 'Signal', 'Voyage', 'Bridge', 'Ember'];
const WORDS_C = ['Returns', 'Rising', 'Blues', 'Protocol', 'Diaries', 'Affair', 'Legacy', 'Run', 'Code', 'Song'];

/**
 * A synthetic MovieLens-shaped catalogue (default 1,200 movies, 400 users, ~60 ratings each).
 * @example const data = syntheticMovieLens({ seed: 7 }); data.format // 'synthetic'
 */
export function syntheticMovieLens(options: SyntheticOptions = {}): MovieLensData {
  expectOptions<SyntheticOptions>('options', options, SYNTHETIC_KEYS);
  const nm = expectInt('movies', options.movies ?? 1200, 10, 1e7);
  const nu = expectInt('users', options.users ?? 400, 3, 1e7);
  const per = expectInt('ratingsPerUser', options.ratingsPerUser ?? 60, 5, 1e6);
  const seed = expectInt('seed', options.seed ?? 42, 0, 2 ** 32 - 1);
  const rand = mulberry32(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];

  const movieId = new Int32Array(nm);
  const title: string[] = [];
  const genres: string[][] = [];
  const year = new Int32Array(nm);
  const primary = new Int32Array(nm);
  const appeal = new Float64Array(nm);
  const used = new Set<string>();
  for (let m = 0; m < nm; m++) {
    movieId[m] = m + 1;
    const g0 = Math.floor(rand() * GENRES.length);
    const gs = new Set([GENRES[g0]]);
    while (rand() < 0.45 && gs.size < 4) gs.add(pick(GENRES));
    genres.push([...gs].sort());
    primary[m] = g0;
    year[m] = 1930 + Math.floor(rand() ** 0.6 * 90);
    let name: string;
    do {
      name = rand() < 0.5 ? `${pick(WORDS_A)} ${pick(WORDS_B)}` : `The ${pick(WORDS_A)} ${pick(WORDS_B)}${rand() < 0.3 ? ' ' + pick(WORDS_C) : ''}`;
    } while (used.has(`${name}|${year[m]}`) && used.size < nm * 4);
    used.add(`${name}|${year[m]}`);
    const filed = name.startsWith('The ') ? `${name.slice(4)}, The` : name;
    title.push(`${filed} (${year[m]})`);
    appeal[m] = Math.pow(rand(), 3); // skewed popularity
  }
  const byGenre: number[][] = GENRES.map(() => []);
  for (let m = 0; m < nm; m++) byGenre[primary[m]].push(m);

  const uId: number[] = [];
  const mId: number[] = [];
  const rating: number[] = [];
  const stamp: number[] = [];
  const tu: number[] = [];
  const tm: number[] = [];
  const tt: string[] = [];
  const ts: number[] = [];
  const start = Date.UTC(2005, 0, 1) / 1000;
  for (let u = 0; u < nu; u++) {
    const tastes = [Math.floor(rand() * GENRES.length), Math.floor(rand() * GENRES.length), Math.floor(rand() * GENRES.length)];
    const count = 5 + Math.floor(rand() * 2 * (per - 5));
    const seen = new Set<number>();
    let t = start + Math.floor(rand() * 3e8);
    for (let k = 0; k < count && seen.size < nm; k++) {
      let m: number;
      if (rand() < 0.75) {
        const pool = byGenre[tastes[Math.floor(rand() * (rand() < 0.6 ? 1 : 3))]];
        m = pool.length ? pool[Math.floor(Math.pow(rand(), 1.5) * pool.length)] : Math.floor(rand() * nm);
        if (rand() < 0.5) { const alt = Math.floor(rand() * nm); if (appeal[alt] > appeal[m]) m = alt; }
      } else {
        m = Math.floor(rand() * nm);
      }
      if (seen.has(m)) continue;
      seen.add(m);
      t += 60 + Math.floor(rand() * 86400 * 3);
      uId.push(u + 1);
      mId.push(m + 1);
      const liked = tastes.includes(primary[m]);
      rating.push(Math.max(0.5, Math.min(5, Math.round((liked ? 4 : 3) + (rand() - 0.5) * 3) / 1 - (rand() < 0.5 ? 0.5 : 0))));
      stamp.push(t);
      if (rand() < 0.08) {
        const g = genres[m][Math.floor(rand() * genres[m].length)];
        tu.push(u + 1); tm.push(m + 1); tt.push(pick(GENRE_TAGS[g])); ts.push(t + 30);
      }
    }
  }
  return {
    format: 'synthetic',
    source: '(synthetic)',
    release: `synthetic-${nm}x${nu}-seed${seed}`,
    movies: { movieId, title, genres },
    ratings: { length: uId.length, userId: Int32Array.from(uId), movieId: Int32Array.from(mId), rating: Float32Array.from(rating), timestamp: Float64Array.from(stamp) },
    tags: { length: tu.length, userId: Int32Array.from(tu), movieId: Int32Array.from(tm), tag: tt, timestamp: Float64Array.from(ts) },
    genome: null,
    links: null,
    descriptions: null,
    dropped: [],
  };
}
