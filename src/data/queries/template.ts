/**
 * The built-in query generator: natural-language search queries made from an item's metadata
 * (genres, users' tags, genome tags, decade, description keywords) with paraphrased forms. Seeded
 * per item (seed + movieId), so an item's queries do not depend on the rest of the catalogue.
 */
import type { ItemMeta } from '../item-text.js';
import { hashSeed, mulberry32, shuffleInPlace } from '../random.js';
import { normalizeWords, titleMatcher } from '../titles.js';
import { QUERIES_PER_ITEM, type QuerySource, type QuerySourceOptions } from './types.js';

const GENRE_WORDS: Record<string, { adj: string[]; noun: string[] }> = {
  Action: { adj: ['action', 'action-packed'], noun: ['action movie', 'action film'] },
  Adventure: { adj: ['adventure', 'adventurous'], noun: ['adventure movie', 'adventure story'] },
  Animation: { adj: ['animated', 'cartoon'], noun: ['animated movie', 'animation'] },
  Children: { adj: ['family', 'kids'], noun: ['family movie', 'movie for kids'] },
  "Children's": { adj: ['family', 'kids'], noun: ['family movie', 'movie for kids'] },
  Comedy: { adj: ['funny', 'comedy'], noun: ['comedy', 'funny movie'] },
  Crime: { adj: ['crime', 'gangster'], noun: ['crime movie', 'crime story'] },
  Documentary: { adj: ['documentary', 'true story'], noun: ['documentary', 'doc'] },
  Drama: { adj: ['dramatic', 'drama'], noun: ['drama', 'serious drama'] },
  Fantasy: { adj: ['fantasy', 'magical'], noun: ['fantasy movie', 'fantasy tale'] },
  'Film-Noir': { adj: ['noir', 'film noir'], noun: ['film noir', 'noir'] },
  Horror: { adj: ['scary', 'horror'], noun: ['horror movie', 'scary movie'] },
  IMAX: { adj: ['imax', 'big screen'], noun: ['imax movie', 'big screen spectacle'] },
  Musical: { adj: ['musical', 'song and dance'], noun: ['musical', 'movie musical'] },
  Mystery: { adj: ['mystery', 'whodunit'], noun: ['mystery', 'whodunit'] },
  Romance: { adj: ['romantic', 'love story'], noun: ['romance', 'romantic movie'] },
  'Sci-Fi': { adj: ['sci-fi', 'science fiction'], noun: ['sci-fi movie', 'science fiction film'] },
  Thriller: { adj: ['suspenseful', 'thriller'], noun: ['thriller', 'tense thriller'] },
  War: { adj: ['war', 'wartime'], noun: ['war movie', 'war film'] },
  Western: { adj: ['western', 'cowboy'], noun: ['western', 'cowboy movie'] },
};

const NOUNS = ['movie', 'film', 'flick', 'picture'];
const ASKS = ['', '', '', 'i want a ', 'looking for a ', 'recommend a ', 'show me a ', 'suggest a '];
const TAG_STOPLIST = new Set(['netflix queue', 'bd-r', 'dvd', 'dvd-video', 'clv', 'seen', 'seen more than once', 'watched', 'to see', 'own', 'owned',
  'in netflix queue', 'imdb top 250', 'criterion', 'tivo', 'bd-video', 'boring', 'overrated', 'bad', 'good', 'great movie', 'favorite', 'library']);
const STOPWORDS = new Set(('a an the and or but of to in on at by for with from as is are was were be been being it its this that these those his her their ' +
  'he she they them him we you your i me my our who whom which what when where why how not no so than then there here into onto over under about ' +
  'after before while during up down out off again further once all any both each few more most other some such only own same too very can will just ' +
  'do does did has have had having would could should may might must one two new also film movie story').split(' '));

function decadePhrases(year: number): string[] {
  const decade = Math.floor(year / 10) * 10;
  const short = String(decade % 100).padStart(2, '0');
  const d = year % 10;
  const part = d <= 3 ? 'early' : d <= 6 ? 'mid' : 'late';
  return [`from the ${decade}s`, `from the ${short}s`, `${part} ${short}s`, `released in ${year}`, `from ${year}`, `${decade}s`];
}

function cleanTag(tag: string): string | null {
  const t = tag.toLowerCase().replace(/[_"“”]/g, ' ').replace(/\s+/g, ' ').trim();
  if (t.length < 3 || t.length > 40 || TAG_STOPLIST.has(t)) return null;
  if (/^[\d\s.:/-]+$/.test(t) || /https?:/.test(t)) return null;
  if (t.split(' ').length > 4) return null;
  return t;
}

function keywords(text: string | null, max: number): string[] {
  if (!text) return [];
  const counts = new Map<string, number>();
  for (const w of normalizeWords(text)) {
    if (w.length < 4 || STOPWORDS.has(w) || /^\d+$/.test(w)) continue;
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, max).map((e) => e[0]);
}

/** Candidate queries for one item, grouped in families (tags, genome, genres, description, time). */
function candidates(item: ItemMeta, rand: () => number): string[][] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const noun = () => pick(NOUNS);
  const ask = () => pick(ASKS);
  const genres = item.genres.filter((g) => GENRE_WORDS[g]);
  const adj = (g: string) => pick(GENRE_WORDS[g].adj);
  const gnoun = (g: string) => pick(GENRE_WORDS[g].noun);
  const times = item.year !== null ? decadePhrases(item.year) : [];
  const time = () => (times.length ? pick(times) : '');
  const prefixTime = () => pick([times[2], times[5]]); // "mid 90s", "1990s": forms that read well before a noun
  const tags = [...new Set(item.tags.map(cleanTag).filter((t): t is string => t !== null))];
  const genome = [...new Set(item.genomeTags.map(cleanTag).filter((t): t is string => t !== null))].filter((t) => !tags.includes(t));
  const kws = keywords(item.description, 8);
  const g0 = genres[0];

  const tagFamily = (list: string[]): string[] => {
    const out: string[] = [];
    list.forEach((t, i) => {
      out.push(`${ask()}${noun()} about ${t}`);
      out.push(`${t} ${noun()}`);
      if (g0) out.push(`${adj(g0)} ${noun()} with ${t}`);
      if (times.length) out.push(`${t} ${noun()} ${time()}`);
      const t2 = list[(i + 1) % list.length];
      if (list.length > 1 && t2 !== t) {
        out.push(`${noun()}s with ${t} and ${t2}`);
        out.push(`something ${t} and ${t2}`);
      }
      out.push(`${noun()}s like this: ${t}`);
    });
    return out;
  };
  const genreFamily: string[] = [];
  genres.forEach((g, i) => {
    genreFamily.push(`${ask()}${adj(g)} ${noun()}`);
    genreFamily.push(`good ${gnoun(g)} to watch`);
    if (times.length) {
      genreFamily.push(`${adj(g)} ${noun()} ${time()}`);
      genreFamily.push(`${prefixTime()} ${gnoun(g)}`);
      genreFamily.push(`best ${gnoun(g)}s ${time()}`);
    }
    const h = genres[(i + 1) % genres.length];
    if (genres.length > 1 && h !== g) {
      genreFamily.push(`${adj(g)} ${adj(h)} ${noun()}`);
      genreFamily.push(`${noun()} that mixes ${gnoun(g)} and ${gnoun(h)}`);
      genreFamily.push(`${gnoun(h)} with ${adj(g)} elements`);
    }
  });
  if (genres.length > 2) genreFamily.push(`${genres.slice(0, 3).map(adj).join(' ')} ${noun()}`);
  const descFamily: string[] = [];
  kws.forEach((k, i) => {
    const k2 = kws[(i + 1) % kws.length];
    descFamily.push(`${noun()} about ${k}`);
    if (k2 !== k) descFamily.push(`${noun()} with ${k} and ${k2}`);
    if (g0) descFamily.push(`${adj(g0)} ${noun()} about ${k}`);
  });
  const timeFamily: string[] = [];
  for (const t of times) {
    timeFamily.push(`${noun()}s ${t}`);
    if (g0) timeFamily.push(`${ask()}${adj(g0)} ${noun()} ${t}`);
    if (t.startsWith('from')) timeFamily.push(`what to watch ${t}`);
  }
  return [tagFamily(tags), tagFamily(genome), genreFamily, descFamily, timeFamily];
}

/** Generic fallbacks for items with little metadata (still made specific by genre or decade when known). */
function fallbacks(item: ItemMeta): string[] {
  const out: string[] = [];
  const g = item.genres.find((x) => GENRE_WORDS[x]);
  const base = ['lesser known movie', 'hidden gem film', 'movie to watch tonight', 'film for a quiet evening', 'something to watch this weekend',
    'underrated picture', 'film i have not seen', 'movie recommendation', 'a film worth watching', 'older movie to discover',
    'movie night pick', 'something different to watch', 'film for tonight', 'obscure picture', 'interesting flick',
    'a movie to unwind', 'film club pick', 'a forgotten film', 'cult picture', 'rare movie', 'movie for a rainy day',
    'a film to talk about', 'one more movie', 'classic to catch up on', 'film suggestion'];
  for (const b of base) {
    out.push(b);
    if (g) out.push(`${GENRE_WORDS[g].adj[0]} ${b}`);
    if (item.year !== null) out.push(`${b} ${decadePhrases(item.year)[0]}`);
  }
  return out;
}

/**
 * Exactly `QUERIES_PER_ITEM` distinct queries for an item, none containing its title.
 * @example templateQueries(item, 42).length // 20
 */
export function templateQueries(item: ItemMeta, seed: number): string[] {
  const rand = mulberry32(hashSeed(seed, item.movieId));
  const seen = new Set<string>();
  const hasTitle = titleMatcher(item.titleNames);
  const ok = (q: string) => {
    const text = q.replace(/\s+/g, ' ').trim().toLowerCase().replace(/\ba ([aeiou])/g, 'an $1');
    if (!text) return null;
    const key = normalizeWords(text).join(' ');
    if (!key || seen.has(key) || hasTitle(text)) return null;
    return { text, key };
  };
  const families = candidates(item, rand).map((f) => shuffleInPlace(f, rand));
  const order = shuffleInPlace(families.map((_, i) => i), rand);
  const chosen: string[] = [];
  // round robin over families so the queries cover all the metadata
  for (let round = 0; chosen.length < QUERIES_PER_ITEM; round++) {
    let added = false;
    for (const f of order) {
      while (families[f].length && chosen.length < QUERIES_PER_ITEM) {
        const q = ok(families[f].shift()!);
        if (!q) continue;
        seen.add(q.key);
        chosen.push(q.text);
        added = true;
        break;
      }
    }
    if (!added) break;
  }
  for (const q0 of shuffleInPlace(fallbacks(item), rand)) {
    if (chosen.length >= QUERIES_PER_ITEM) break;
    const q = ok(q0);
    if (!q) continue;
    seen.add(q.key);
    chosen.push(q.text);
  }
  for (let k = 1; chosen.length < QUERIES_PER_ITEM; k++) {
    const q = ok(`catalogue pick number ${k}`);
    if (q) { seen.add(q.key); chosen.push(q.text); }
  }
  return chosen;
}

/**
 * The template source: deterministic queries from metadata, seeded.
 * @example const queries = await templateQuerySource(42).generate(items);
 */
export function templateQuerySource(seed: number): QuerySource {
  return {
    name: 'template',
    async generate(items: ItemMeta[], options: QuerySourceOptions = {}) {
      const out: string[][] = [];
      for (let i = 0; i < items.length; i++) {
        if ((i & 1023) === 0) {
          if (options.signal?.aborted) throw options.signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
          options.onProgress?.({ done: i, total: items.length });
          await new Promise((r) => setImmediate(r));
        }
        out.push(templateQueries(items[i], seed));
      }
      options.onProgress?.({ done: items.length, total: items.length });
      return out;
    },
  };
}
