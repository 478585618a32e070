/** The table `semid quantize` prints for codes it wrote, whichever quantizer made them. */
import type { CodeStats } from '../ids/stats.js';
import { table } from './format.js';
import type { WrittenCodes } from './quantize-codes.js';

/**
 * Rows of items, reconstruction error per level, usage and perplexity, collisions, time and output.
 * @example process.stdout.write(quantizeReport({ items: '3000 x 16', quantizer: 'levels x codebook', ... }) + '\n');
 */
export function quantizeReport(o: { items: string; rows: number; quantizer: [string, string]; stats: CodeStats & { relativeError: number[] }; seconds: number; written: WrittenCodes; codes: string }): string {
  const { stats, written } = o;
  const dedup = written.dedup;
  return table([
    ['items', o.items],
    o.quantizer,
    ...stats.relativeError.map((e, l): [string, string] => [`relative error after level ${l + 1}`, e.toFixed(5)]),
    ...stats.usage.map((u, l): [string, string] => [`level ${l + 1} usage / perplexity`, `${(100 * u).toFixed(1)}% / ${stats.perplexity[l].toFixed(1)}`]),
    ['distinct IDs', String(stats.distinctIds)],
    ['items in colliding IDs', `${stats.itemsInCollidingIds} (${((100 * stats.itemsInCollidingIds) / Math.max(1, o.rows)).toFixed(2)}%)`],
    ['largest bucket', String(stats.largestBucket)],
    ...(dedup ? [['dedup level', `${dedup.suffixSize} codes (${dedup.sharedIds} shared IDs told apart; every item's ID is its own)`] as [string, string]] : []),
    ['time', `${o.seconds.toFixed(2)} s`],
    ['codes', `${o.codes} (${written.dtype}, ${written.levels} levels)`],
  ]);
}
