/** What every query source returns, and the checks every set of queries must pass. */
import { DataFormatError } from '../errors.js';
import type { ItemMeta } from '../item-text.js';
import { normalizeWords, titleMatcher } from '../titles.js';

/** Queries per item and how they split (the paper: 20 per item, 10 train / 10 test). */
export const QUERIES_PER_ITEM = 20;
export const TRAIN_QUERIES_PER_ITEM = 10;

export interface QueryProgress {
  done: number;
  total: number;
}

export interface QuerySourceOptions {
  signal?: AbortSignal;
  onProgress?: (p: QueryProgress) => void;
}

/** A source of exactly QUERIES_PER_ITEM queries per item (returned in item order). */
export interface QuerySource {
  /** "template", "jsonl:<path>" or "llm:<model>". */
  readonly name: string;
  generate(items: ItemMeta[], options?: QuerySourceOptions): Promise<string[][]>;
}

/**
 * Why a list of queries is not acceptable for an item, or null when it is.
 * @example queryProblem(['heat and crime'], item, 1) // 'query 1 "heat and crime" contains the title "Heat (1995)"' for item Heat (1995)
 */
export function queryProblem(queries: unknown, item: ItemMeta, count = QUERIES_PER_ITEM): string | null {
  if (!Array.isArray(queries)) return `queries is not a list`;
  if (queries.length !== count) return `has ${queries.length} queries, expected exactly ${count}`;
  const seen = new Set<string>();
  const hasTitle = titleMatcher(item.titleNames);
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i];
    if (typeof q !== 'string' || q.trim() === '') return `query ${i + 1} is empty`;
    if (hasTitle(q)) return `query ${i + 1} "${q}" contains the title "${item.title}"`;
    const key = normalizeWords(q).join(' ');
    if (seen.has(key)) return `query ${i + 1} "${q}" repeats an earlier one`;
    seen.add(key);
  }
  return null;
}

/** Throw one error listing the first problems (file and line when known). */
export function throwProblems(path: string, problems: Array<{ line: number; message: string }>): void {
  if (problems.length === 0) return;
  const shown = problems.slice(0, 10).map((p) => (p.line > 0 ? `  line ${p.line}: ${p.message}` : `  ${p.message}`)).join('\n');
  const more = problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : '';
  throw new DataFormatError(path, problems[0].line, `${problems.length} problem${problems.length > 1 ? 's' : ''} in the queries:\n${shown}${more}`);
}
