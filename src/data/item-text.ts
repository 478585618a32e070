/**
 * Item metadata and item text: title, year, genres, users' tags, genome tags above a relevance
 * threshold and an optional description, assembled into the one text the content encoders read.
 */
import { expectInt, expectNumber } from '../kernels/validate.js';
import type { Interactions } from './interactions.js';
import type { MovieLensData } from './movielens/types.js';
import { parseTitle } from './titles.js';

export interface ItemTextOptions {
  /** Most user tags kept per item, by how many taggings each got (default 10). */
  maxTags?: number;
  /** Genome tags with relevance >= this are kept (default 0.8). */
  genomeThreshold?: number;
  /** Most genome tags kept per item, by relevance (default 10). */
  maxGenomeTags?: number;
}

export const ITEM_TEXT_DEFAULTS: Required<ItemTextOptions> = { maxTags: 10, genomeThreshold: 0.8, maxGenomeTags: 10 };

export interface ItemMeta {
  /** Item index (row in every per-item array of the run). */
  item: number;
  movieId: number;
  /** Title as written in the movies file. */
  rawTitle: string;
  /** Title in reading order without the year. */
  title: string;
  /** All names of the movie (for the no-title rule of queries). */
  titleNames: string[];
  year: number | null;
  genres: string[];
  /** Users' tags, most used first, lower-cased. */
  tags: string[];
  /** Genome tags above the threshold, most relevant first. */
  genomeTags: string[];
  description: string | null;
  /** IMDb id ("0114709") and TMDB id from links.csv, when the release has them. */
  imdbId: string | null;
  tmdbId: number | null;
  /** The assembled item text. */
  text: string;
}

/**
 * The item text options with their defaults, checked (before any data is read).
 * @example checkItemTextOptions({}).maxTags // the default
 */
export function checkItemTextOptions(options: ItemTextOptions = {}): typeof ITEM_TEXT_DEFAULTS {
  const s = { ...ITEM_TEXT_DEFAULTS, ...options };
  expectInt('maxTags', s.maxTags, 0, 10000);
  expectNumber('genomeThreshold', s.genomeThreshold, 0, 1);
  expectInt('maxGenomeTags', s.maxGenomeTags, 0, 10000);
  return s;
}

/**
 * Metadata and text of every item of the catalogue, in item order.
 * @example
 * const items = buildItemMeta(ml, interactions);
 * items[0].text; // "Toy Story (1995). Genres: Adventure, Animation, ... Tags: pixar, fun."
 */
export function buildItemMeta(data: MovieLensData, interactions: Interactions, options: ItemTextOptions = {}): ItemMeta[] {
  const s = checkItemTextOptions(options);
  const nItems = interactions.itemMovieId.length;
  const itemOf = new Map<number, number>();
  interactions.itemMovieId.forEach((m, i) => itemOf.set(m, i));

  // user tags: count taggings per (item, lower-cased tag)
  const tagCounts: Array<Map<string, number> | undefined> = new Array(nItems);
  if (data.tags) {
    for (let r = 0; r < data.tags.length; r++) {
      const item = itemOf.get(data.tags.movieId[r]);
      if (item === undefined) continue;
      const tag = data.tags.tag[r].toLowerCase().replace(/\s+/g, ' ').trim();
      if (!tag) continue;
      const m = (tagCounts[item] ??= new Map());
      m.set(tag, (m.get(tag) ?? 0) + 1);
    }
  }
  // genome tags above the threshold
  const genome: Array<Array<[string, number]> | undefined> = new Array(nItems);
  if (data.genome) {
    const g = data.genome;
    for (let r = 0; r < g.length; r++) {
      if (g.relevance[r] < s.genomeThreshold) continue;
      const item = itemOf.get(g.movieId[r]);
      if (item === undefined) continue;
      const name = g.tagNames.get(g.tagId[r]);
      if (name === undefined) continue;
      (genome[item] ??= []).push([name, g.relevance[r]]);
    }
  }

  const linkRow = new Map<number, number>();
  data.links?.movieId.forEach((m, r) => linkRow.set(m, r));
  const out: ItemMeta[] = [];
  for (let item = 0; item < nItems; item++) {
    const row = interactions.itemMovieRow[item];
    const movieId = interactions.itemMovieId[item];
    const rawTitle = data.movies.title[row];
    const parsed = parseTitle(rawTitle);
    const genres = data.movies.genres[row];
    const tags = tagCounts[item]
      ? [...tagCounts[item]!.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, s.maxTags).map((e) => e[0])
      : [];
    const genomeTags = genome[item]
      ? genome[item]!.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, s.maxGenomeTags).map((e) => e[0])
      : [];
    const description = data.descriptions?.get(movieId) ?? null;
    const parts = [parsed.year !== null ? `${parsed.display} (${parsed.year}).` : `${parsed.display}.`];
    if (genres.length) parts.push(`Genres: ${genres.join(', ')}.`);
    if (tags.length) parts.push(`Tags: ${tags.join(', ')}.`);
    if (genomeTags.length) parts.push(`Themes: ${genomeTags.join(', ')}.`);
    if (description) parts.push(description);
    const lr = linkRow.get(movieId);
    const imdbId = lr === undefined || data.links!.imdbId[lr] === '' ? null : data.links!.imdbId[lr];
    const tmdbId = lr === undefined || data.links!.tmdbId[lr] < 0 ? null : data.links!.tmdbId[lr];
    out.push({ item, movieId, rawTitle, title: parsed.display, titleNames: parsed.names, year: parsed.year, genres, tags, genomeTags, description, imdbId, tmdbId, text: parts.join(' ') });
  }
  return out;
}
