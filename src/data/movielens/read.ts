/**
 * Readers for the MovieLens releases users have: the CSV releases (ML-20M, ML-25M, ML-32M,
 * ml-latest, ml-latest-small), the `::` releases (ML-1M, ML-10M) and ML-100K. Ratings and genome
 * scores stream into typed columns; the small string tables are parsed whole.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { isUtf8 } from 'node:buffer';
import { DataFormatError } from '../errors.js';
import { readNumericColumns } from '../numeric-columns.js';
import { readTextRecords, withoutByteOrderMark, type TextRecord } from '../text-records.js';
import { SemidArgumentError } from '../../kernels/errors.js';
import { expectOptions, optionKeys } from '../../kernels/validate.js';
import type { DropCount, GenomeTable, LinkTable, MovieLensData, MovieLensFormat, MovieTable, RatingTable, TagTable } from './types.js';

export interface ReadProgress {
  file: string;
  bytesRead: number;
  totalBytes: number;
  rows: number;
}

export interface ReadMovieLensOptions {
  /** Also read the tag genome when the release has it (default true). */
  genome?: boolean;
  /** Optional descriptions keyed by movieId: a CSV with columns movieId,description or a JSONL of {"movieId","description"}. */
  descriptions?: string;
  onProgress?: (p: ReadProgress) => void;
  signal?: AbortSignal;
}

/** The option names of ReadMovieLensOptions (checked against it at compile time): any other key is an error. */
const READ_MOVIE_LENS_KEYS = optionKeys<ReadMovieLensOptions>()(['genome', 'descriptions', 'onProgress', 'signal']);

const ML100K_GENRES = ['unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western'];

/**
 * Which MovieLens layout a folder holds, or null.
 * @example detectMovieLensFormat('data/ml-1m') // 'dat' (movies.dat, ratings.dat)
 */
export function detectMovieLensFormat(dir: string): MovieLensFormat | null {
  if (existsSync(join(dir, 'ratings.csv')) || existsSync(join(dir, 'movies.csv'))) return 'csv';
  if (existsSync(join(dir, 'ratings.dat')) || existsSync(join(dir, 'movies.dat'))) return 'dat';
  if (existsSync(join(dir, 'u.data')) || existsSync(join(dir, 'u.item'))) return 'ml-100k';
  return null;
}

const EXPECTED = `a MovieLens folder: movies.csv + ratings.csv (ML-20M/25M/32M, ml-latest, ml-latest-small), movies.dat + ratings.dat (ML-1M, ML-10M), or u.item + u.data (ML-100K)`;

/**
 * Read a MovieLens release from a folder (the format is detected from the file names).
 * @example
 * const ml = await readMovieLens('../shared/data/ml-latest-small');
 * console.log(ml.movies.movieId.length, ml.ratings.length); // 9742 100836
 */
export async function readMovieLens(dir: string, options: ReadMovieLensOptions = {}): Promise<MovieLensData> {
  if (typeof dir !== 'string' || dir === '') throw new SemidArgumentError('dir', 'a folder path', dir);
  expectOptions<ReadMovieLensOptions>('options', options, READ_MOVIE_LENS_KEYS);
  const root = resolve(dir);
  if (!existsSync(root)) throw new DataFormatError(root, 0, `does not exist (expected ${EXPECTED})`);
  const format = detectMovieLensFormat(root);
  if (!format) throw new DataFormatError(root, 0, `holds no MovieLens files (expected ${EXPECTED})`);
  const need = (file: string, what: string) => {
    const p = join(root, file);
    if (!existsSync(p)) throw new DataFormatError(p, 0, `is missing (expected ${what} beside the other ${format === 'csv' ? 'CSV' : format} files)`);
    return p;
  };
  const progress = (file: string) => (bytesRead: number, totalBytes: number, rows: number) =>
    options.onProgress?.({ file, bytesRead, totalBytes, rows });
  const dropped: DropCount[] = [];
  let movies: MovieTable;
  let ratings: RatingTable;
  let tags: TagTable | null = null;
  let genome: GenomeTable | null = null;
  let links: LinkTable | null = null;

  if (format === 'csv') {
    movies = moviesFromCsv(await readTextRecords(need('movies.csv', 'movies.csv (movieId,title,genres)'),
      { separator: ',', quotes: true, encoding: 'utf8', formatName: 'MovieLens movies.csv' }), join(root, 'movies.csv'));
    ratings = await readRatings(need('ratings.csv', 'ratings.csv (userId,movieId,rating,timestamp)'), ',', true, 'MovieLens ratings.csv', progress('ratings.csv'), options.signal);
    if (existsSync(join(root, 'tags.csv'))) {
      tags = tagsFrom(await readTextRecords(join(root, 'tags.csv'), { separator: ',', quotes: true, encoding: 'utf8', formatName: 'MovieLens tags.csv' }),
        join(root, 'tags.csv'), true, dropped);
    }
    if (existsSync(join(root, 'links.csv'))) {
      links = linksFrom(await readTextRecords(join(root, 'links.csv'), { separator: ',', quotes: true, encoding: 'utf8', formatName: 'MovieLens links.csv' }), join(root, 'links.csv'));
    }
    if (options.genome !== false && existsSync(join(root, 'genome-scores.csv'))) {
      genome = await readGenome(root, progress('genome-scores.csv'), options.signal);
    }
  } else if (format === 'dat') {
    const moviesPath = need('movies.dat', 'movies.dat (MovieID::Title::Genres)');
    movies = moviesFromDat(splitRecords(await readTextAuto(moviesPath), '::'), moviesPath);
    ratings = await readRatings(need('ratings.dat', 'ratings.dat (UserID::MovieID::Rating::Timestamp)'), '::', false, 'MovieLens ratings.dat', progress('ratings.dat'), options.signal);
    if (existsSync(join(root, 'tags.dat'))) {
      tags = tagsFrom(splitRecords(await readTextAuto(join(root, 'tags.dat')), '::'), join(root, 'tags.dat'), false, dropped);
    }
  } else {
    const itemPath = need('u.item', 'u.item (movie id | title | release date | video release date | IMDb URL | 19 genre flags)');
    const genreNames = existsSync(join(root, 'u.genre'))
      ? splitRecords(await readTextAuto(join(root, 'u.genre')), '|').map((r) => r.fields[0])
      : ML100K_GENRES;
    movies = moviesFromUItem(splitRecords(await readTextAuto(itemPath), '|'), itemPath, genreNames);
    ratings = await readRatings(need('u.data', 'u.data (user id \\t item id \\t rating \\t timestamp)'), '\t', false, 'MovieLens u.data', progress('u.data'), options.signal);
  }

  const descriptions = options.descriptions ? await readDescriptions(options.descriptions) : null;
  return { format, source: root, release: basename(root), movies, ratings, tags, genome, links, descriptions, dropped };
}

async function readRatings(path: string, separator: ',' | '\t' | '::', header: boolean, formatName: string,
  onProgress: (b: number, t: number, r: number) => void, signal?: AbortSignal): Promise<RatingTable> {
  const names = header ? ['userId', 'movieId', 'rating', 'timestamp'] : ['user', 'movie', 'rating', 'timestamp'];
  const r = await readNumericColumns(path, {
    separator, header, formatName, onProgress, signal,
    columns: [{ name: names[0], type: 'int32' }, { name: names[1], type: 'int32' }, { name: names[2], type: 'float32' }, { name: names[3], type: 'float64' }],
  });
  return {
    length: r.rows,
    userId: r.columns[names[0]] as Int32Array,
    movieId: r.columns[names[1]] as Int32Array,
    rating: r.columns.rating as Float32Array,
    timestamp: r.columns.timestamp as Float64Array,
  };
}

async function readGenome(root: string, onProgress: (b: number, t: number, r: number) => void, signal?: AbortSignal): Promise<GenomeTable> {
  const tagsPath = join(root, 'genome-tags.csv');
  if (!existsSync(tagsPath)) throw new DataFormatError(tagsPath, 0, 'is missing (genome-scores.csv needs genome-tags.csv: tagId,tag)');
  const records = await readTextRecords(tagsPath, { separator: ',', quotes: true, encoding: 'utf8', formatName: 'MovieLens genome-tags.csv' });
  expectHeader(records, ['tagId', 'tag'], tagsPath);
  const tagNames = new Map<number, string>();
  for (const r of records.slice(1)) {
    if (r.fields.length !== 2) throw new DataFormatError(tagsPath, r.line, `found ${r.fields.length} fields, expected 2 (tagId,tag)`);
    tagNames.set(intField(r.fields[0], tagsPath, r.line, 'tagId'), r.fields[1]);
  }
  const g = await readNumericColumns(join(root, 'genome-scores.csv'), {
    separator: ',', header: true, formatName: 'MovieLens genome-scores.csv', onProgress, signal,
    columns: [{ name: 'movieId', type: 'int32' }, { name: 'tagId', type: 'int32' }, { name: 'relevance', type: 'float32' }],
  });
  return { length: g.rows, tagNames, movieId: g.columns.movieId as Int32Array, tagId: g.columns.tagId as Int32Array, relevance: g.columns.relevance as Float32Array };
}

function expectHeader(records: TextRecord[], names: string[], path: string): void {
  const got = records[0]?.fields.map((f) => f.trim().toLowerCase());
  if (!got || got.length !== names.length || got.some((g, i) => g !== names[i].toLowerCase())) {
    throw new DataFormatError(path, records[0]?.line ?? 0, `header is "${records[0]?.fields.join(',') ?? ''}", expected "${names.join(',')}"`);
  }
}

function intField(text: string, path: string, line: number, name: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || Math.abs(v) > 2147483647) throw new DataFormatError(path, line, `${name} is "${text.slice(0, 40)}", not an integer`);
  return v;
}

function numberField(text: string, path: string, line: number, name: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new DataFormatError(path, line, `${name} is "${text.slice(0, 40)}", not a number`);
  return v;
}

function moviesFromRows(rows: Array<{ line: number; id: string; title: string; genres: string[] }>, path: string): MovieTable {
  const movieId = new Int32Array(rows.length);
  const title: string[] = [];
  const genres: string[][] = [];
  const seen = new Map<number, number>();
  rows.forEach((r, i) => {
    const id = intField(r.id, path, r.line, 'movieId');
    const prev = seen.get(id);
    if (prev !== undefined) throw new DataFormatError(path, r.line, `movieId ${id} appears again (first on line ${prev})`);
    seen.set(id, r.line);
    movieId[i] = id;
    title.push(r.title.trim());
    genres.push(r.genres);
  });
  return { movieId, title, genres };
}

function splitGenres(text: string): string[] {
  const t = text.trim();
  if (t === '' || t === '(no genres listed)') return [];
  return t.split('|').map((g) => g.trim()).filter((g) => g !== '');
}

function moviesFromCsv(records: TextRecord[], path: string): MovieTable {
  expectHeader(records, ['movieId', 'title', 'genres'], path);
  return moviesFromRows(records.slice(1).map((r) => {
    if (r.fields.length !== 3) throw new DataFormatError(path, r.line, `found ${r.fields.length} fields, expected 3 (movieId,title,genres)`);
    return { line: r.line, id: r.fields[0], title: r.fields[1], genres: splitGenres(r.fields[2]) };
  }), path);
}

function moviesFromDat(records: TextRecord[], path: string): MovieTable {
  return moviesFromRows(records.map((r) => {
    if (r.fields.length !== 3) throw new DataFormatError(path, r.line, `found ${r.fields.length} fields, expected 3 (MovieID::Title::Genres)`);
    return { line: r.line, id: r.fields[0], title: r.fields[1], genres: splitGenres(r.fields[2]) };
  }), path);
}

function moviesFromUItem(records: TextRecord[], path: string, genreNames: string[]): MovieTable {
  return moviesFromRows(records.map((r) => {
    const f = r.fields;
    if (f.length !== 5 + genreNames.length) {
      throw new DataFormatError(path, r.line, `found ${f.length} fields, expected ${5 + genreNames.length} (id|title|release date|video release date|IMDb URL|${genreNames.length} genre flags)`);
    }
    const genres: string[] = [];
    for (let g = 0; g < genreNames.length; g++) {
      const flag = f[5 + g].trim();
      if (flag !== '0' && flag !== '1') throw new DataFormatError(path, r.line, `genre flag ${genreNames[g]} is "${flag}", expected 0 or 1`);
      if (flag === '1' && genreNames[g] !== 'unknown') genres.push(genreNames[g]);
    }
    // ML-100K titles carry the year like the other releases; fall back to the release date's year.
    let title = f[1].trim();
    const year = /(\d{4})\s*$/.exec(f[2].trim());
    if (!/\(\d{4}\)\s*$/.test(title) && year) title = `${title} (${year[1]})`;
    return { line: r.line, id: f[0], title, genres };
  }), path);
}

function tagsFrom(records: TextRecord[], path: string, header: boolean, dropped: DropCount[]): TagTable {
  if (header) expectHeader(records, ['userId', 'movieId', 'tag', 'timestamp'], path);
  const rows = header ? records.slice(1) : records;
  const userId = new Int32Array(rows.length);
  const movieId = new Int32Array(rows.length);
  const timestamp = new Float64Array(rows.length);
  const tag: string[] = [];
  let n = 0;
  let empty = 0;
  for (const r of rows) {
    if (r.fields.length !== 4) throw new DataFormatError(path, r.line, `found ${r.fields.length} fields, expected 4 (userId,movieId,tag,timestamp)`);
    const text = r.fields[2].trim();
    if (text === '') { empty++; continue; }
    userId[n] = intField(r.fields[0], path, r.line, 'userId');
    movieId[n] = intField(r.fields[1], path, r.line, 'movieId');
    timestamp[n] = numberField(r.fields[3], path, r.line, 'timestamp');
    tag.push(text);
    n++;
  }
  if (empty) dropped.push({ file: basename(path), reason: 'empty tag text', rows: empty });
  return { length: n, userId: userId.slice(0, n), movieId: movieId.slice(0, n), tag, timestamp: timestamp.slice(0, n) };
}

function linksFrom(records: TextRecord[], path: string): LinkTable {
  expectHeader(records, ['movieId', 'imdbId', 'tmdbId'], path);
  const rows = records.slice(1);
  const movieId = new Int32Array(rows.length);
  const tmdbId = new Int32Array(rows.length);
  const imdbId: string[] = [];
  rows.forEach((r, i) => {
    if (r.fields.length !== 3) throw new DataFormatError(path, r.line, `found ${r.fields.length} fields, expected 3 (movieId,imdbId,tmdbId)`);
    movieId[i] = intField(r.fields[0], path, r.line, 'movieId');
    imdbId.push(r.fields[1].trim());
    tmdbId[i] = r.fields[2].trim() === '' ? -1 : intField(r.fields[2], path, r.line, 'tmdbId');
  });
  return { movieId, imdbId, tmdbId };
}

/** Read a file as UTF-8 when it is valid UTF-8, else as Latin-1 (ML-1M and ML-100K are Latin-1). */
async function readTextAuto(path: string): Promise<{ path: string; text: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DataFormatError(path, 0, `cannot be read: ${(err as Error).message}`);
  }
  return { path, text: withoutByteOrderMark(isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1')) };
}

function splitRecords(file: { text: string }, separator: string): TextRecord[] {
  const out: TextRecord[] = [];
  const lines = file.text.split('\n');
  lines.forEach((raw, i) => {
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (l.trim() !== '') out.push({ line: i + 1, fields: l.split(separator) });
  });
  return out;
}

/**
 * Descriptions keyed by movieId from a CSV (header movieId,description) or a JSONL file
 * ({"movieId": 1, "description": "..."} per line).
 * @example const d = await readDescriptions('plots.jsonl'); d.get(1)
 */
export async function readDescriptions(path: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (/\.jsonl?$/i.test(path)) {
    const { text } = await readTextAuto(path);
    text.split('\n').forEach((raw, i) => {
      if (raw.trim() === '') return;
      let row: { movieId?: unknown; description?: unknown };
      try { row = JSON.parse(raw); } catch { throw new DataFormatError(path, i + 1, 'is not valid JSON (expected {"movieId": <int>, "description": <text>})'); }
      if (!Number.isInteger(row.movieId) || typeof row.description !== 'string') {
        throw new DataFormatError(path, i + 1, 'expected {"movieId": <int>, "description": <text>}');
      }
      out.set(row.movieId as number, (row.description as string).trim());
    });
    return out;
  }
  const records = await readTextRecords(path, { separator: ',', quotes: true, encoding: 'utf8', formatName: 'descriptions CSV (movieId,description)' });
  expectHeader(records, ['movieId', 'description'], path);
  for (const r of records.slice(1)) {
    if (r.fields.length !== 2) throw new DataFormatError(path, r.line, `found ${r.fields.length} fields, expected 2 (movieId,description)`);
    out.set(intField(r.fields[0], path, r.line, 'movieId'), r.fields[1].trim());
  }
  return out;
}
