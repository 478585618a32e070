/** `semid ids <strategy> --run <dir>`: Semantic IDs of one strategy and quantizer, with their statistics. */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { SemidArgumentError } from '../kernels/errors.js';
import { initRuntime } from '../model/runtime/backend.js';
import { buildIds, QUANTIZERS, STRATEGIES, type Strategy, type NamespaceIds, type CollisionPolicy } from '../ids/strategies.js';
import type { QuantizerName } from '../ids/quantizer.js';
import { saveIds } from '../ids/store.js';
import { table } from './format.js';
import { numberFlag, withFlagNames } from './flags.js';

export const IDS_USAGE = `Usage: semid ids <${STRATEGIES.join('|')}> --run <dir>
                 [--quantizer ${QUANTIZERS.join('|')}] [--levels 2] [--codebook 256] [--collisions keep|dedup] [--seed 42] [--iters 20]

Quantizes the run's embeddings (semid embed) into each item's Semantic ID for search and for
recommendation, writes <dir>/ids/<strategy>-<quantizer>-<collisions>.json (+ codes .npy) and prints
reconstruction error, codebook usage and collisions.
`;

export async function ids(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { run: { type: 'string' }, quantizer: { type: 'string' }, levels: { type: 'string' }, codebook: { type: 'string' }, collisions: { type: 'string' }, seed: { type: 'string' }, iters: { type: 'string' }, help: { type: 'boolean', default: false } },
  });
  if (values.help || positionals.length === 0) { process.stdout.write(IDS_USAGE); return values.help ? 0 : 2; }
  const strategy = positionals[0] as Strategy;
  if (!STRATEGIES.includes(strategy)) throw new SemidArgumentError('strategy', STRATEGIES.join(', '), strategy);
  if (!values.run) throw new SemidArgumentError('--run', 'a run folder', values.run);
  const int = (name: string, v: string | undefined) => numberFlag(name, v, { integer: true });
  await initRuntime();
  const result = await withFlagNames(['quantizer', 'levels', 'codebook', 'collisions', 'seed', 'iters'], { codebookSize: 'codebook' }, () => buildIds(strategy, resolve(values.run!), {
    quantizer: values.quantizer as QuantizerName | undefined, levels: int('levels', values.levels), codebookSize: int('codebook', values.codebook),
    collisions: values.collisions as CollisionPolicy | undefined, seed: int('seed', values.seed), iters: int('iters', values.iters),
  }));
  const path = saveIds(resolve(values.run), result);
  const f = (x: number) => x.toFixed(4);
  const rows = [result.search, ...(result.rec === result.search ? [] : [result.rec])].map((ns) => [
    ns.name, ns.quality ? ns.quality.relativeError.map(f).join(' / ') : '-', ns.quality ? ns.quality.usage.map((u) => u.toFixed(2)).join(' / ') : '-',
    ns.quality ? ns.quality.perplexity.map((p) => p.toFixed(0)).join(' / ') : '-', ...collisionCells(ns),
  ]);
  process.stdout.write(`\n${strategy} with ${result.settings.quantizer} (${result.settings.levels} x ${result.settings.codebookSize}, collisions ${result.settings.collisions}): ${result.vocabulary.length} new tokens\n`);
  const before = result.settings.collisions === 'dedup' ? ' (before dedup)' : '';
  process.stdout.write(table(rows, ['namespace', 'rel. error per level', 'usage per level', 'perplexity', `distinct IDs${before}`, `items in colliding IDs${before}`, 'largest bucket']) + `\nwrote ${path}\n`);
  return 0;
}

/** Distinct IDs, items in colliding IDs and the largest bucket: with dedup, those its level told apart. */
function collisionCells(ns: NamespaceIds): number[] {
  const c = ns.collisionsBeforeDedup ?? ns.collisions;
  return [c.distinctIds, c.itemsInCollidingIds, c.largestBucket];
}
