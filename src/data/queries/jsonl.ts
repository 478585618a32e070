/**
 * Queries imported from a JSONL file, one line per movie: {"movieId": 1, "queries": [20 strings]}.
 * Every catalogue item must be there, with exactly 20 distinct, non-empty queries none of which
 * contains the title; lines for movies outside the catalogue are counted, not silently used.
 */
import { readFile } from 'node:fs/promises';
import { DataFormatError } from '../errors.js';
import { withoutByteOrderMark } from '../text-records.js';
import type { ItemMeta } from '../item-text.js';
import { queryProblem, throwProblems, type QuerySource } from './types.js';

export interface JsonlQueryReport {
  /** Lines naming movies outside the catalogue (ignored, and reported). */
  unknownMovies: number;
}

/**
 * The JSONL source. `report` is filled when `generate` runs.
 * @example const queries = await jsonlQuerySource('queries.jsonl').generate(items);
 */
export function jsonlQuerySource(path: string): QuerySource & { report: JsonlQueryReport } {
  const report: JsonlQueryReport = { unknownMovies: 0 };
  return {
    name: `jsonl:${path}`,
    report,
    async generate(items: ItemMeta[]) {
      let text: string;
      try {
        text = withoutByteOrderMark(await readFile(path, 'utf8'));
      } catch (err) {
        throw new DataFormatError(path, 0, `cannot be read (${(err as Error).message}); expected a JSONL file of {"movieId": <int>, "queries": [20 strings]}`);
      }
      const byMovie = new Map<number, number>();
      items.forEach((it, i) => byMovie.set(it.movieId, i));
      const out: Array<string[] | undefined> = new Array(items.length);
      const lineOf = new Map<number, number>();
      const problems: Array<{ line: number; message: string }> = [];
      text.split('\n').forEach((raw, i) => {
        const line = i + 1;
        if (raw.trim() === '') return;
        let row: { movieId?: unknown; queries?: unknown };
        try {
          row = JSON.parse(raw);
        } catch {
          problems.push({ line, message: 'is not valid JSON (expected {"movieId": <int>, "queries": [...]})' });
          return;
        }
        if (!Number.isInteger(row?.movieId)) {
          problems.push({ line, message: `movieId is ${JSON.stringify(row?.movieId)}, expected an integer` });
          return;
        }
        const movieId = row.movieId as number;
        const item = byMovie.get(movieId);
        if (item === undefined) { report.unknownMovies++; return; }
        if (lineOf.has(movieId)) {
          problems.push({ line, message: `movieId ${movieId} appears again (first on line ${lineOf.get(movieId)})` });
          return;
        }
        lineOf.set(movieId, line);
        const problem = queryProblem(row.queries, items[item]);
        if (problem) problems.push({ line, message: `movieId ${movieId}: ${problem}` });
        else out[item] = (row.queries as string[]).map((q) => q.trim());
      });
      const missing = items.filter((_, i) => out[i] === undefined && !lineOf.has(items[i].movieId));
      if (missing.length) {
        problems.push({ line: 0, message: `${missing.length} catalogue movie${missing.length > 1 ? 's have' : ' has'} no line (first: movieId ${missing.slice(0, 5).map((m) => m.movieId).join(', ')})` });
      }
      throwProblems(path, problems);
      return out as string[][];
    },
  };
}
