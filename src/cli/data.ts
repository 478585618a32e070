/**
 * `semid data prepare`: MovieLens (or the synthetic catalogue) -> the joint search & recommendation
 * data set in a run folder; `semid data download`: fetch an official MovieLens archive.
 */
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { readMovieLens } from '../data/movielens/read.js';
import { syntheticMovieLens } from '../data/synthetic.js';
import { resolveDataSource } from '../data/source.js';
import { buildJointDataset, checkDatasetOptions, writeJointDataset, type DatasetManifest, type DatasetOptions } from '../data/dataset.js';
import { templateQuerySource } from '../data/queries/template.js';
import { jsonlQuerySource } from '../data/queries/jsonl.js';
import { llmQuerySource } from '../data/queries/llm.js';
import type { QuerySource } from '../data/queries/types.js';
import { downloadMovieLens, MOVIELENS_RELEASES } from '../data/download.js';
import { bytes, table } from './format.js';
import { ProgressLine } from './progress.js';
import { numberFlag, withFlagNames } from './flags.js';

export const DATA_USAGE = `Usage:
  semid data prepare --out <run dir> [--movielens <dir>] [--queries template|<file.jsonl>|llm]
                     [--llm-endpoint URL --llm-model NAME [--llm-key-env OPENAI_API_KEY] [--llm-concurrency 4]]
                     [--descriptions <file.csv|file.jsonl>] [--min-rating X] [--max-users N] [--k-core K]
                     [--max-history 20] [--search-validation 0] [--head-fraction 0.01] [--catalogue interacted|all]
                     [--genome-threshold 0.8] [--no-genome] [--seed 42] [--force] [--json]
  semid data download <${MOVIELENS_RELEASES.join('|')}> [--to data]

prepare reads MovieLens from --movielens, else $SEMID_DATA, else ../shared/data/ml-latest-small,
else uses an embedded synthetic catalogue (said loudly), and writes <run dir>/data/: items, queries
(20 per item, 10 train / 10 test, never containing the title), leave-last-out splits, and the
search and recommendation examples. A finished data folder with the same request is reused.
`;

const num = (name: string, v: string | undefined) => numberFlag(name, v);

const PREPARE_OPTIONS = {
  out: { type: 'string' }, movielens: { type: 'string' }, queries: { type: 'string', default: 'template' },
  'llm-endpoint': { type: 'string' }, 'llm-model': { type: 'string' }, 'llm-key-env': { type: 'string' }, 'llm-concurrency': { type: 'string' },
  descriptions: { type: 'string' }, 'min-rating': { type: 'string' }, 'max-users': { type: 'string' }, 'k-core': { type: 'string' },
  'max-history': { type: 'string' }, 'search-validation': { type: 'string' }, 'head-fraction': { type: 'string' }, catalogue: { type: 'string' },
  'genome-threshold': { type: 'string' }, 'no-genome': { type: 'boolean', default: false }, seed: { type: 'string' },
  force: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
} as const;

/** The flags of DatasetOptions / llmQuerySource parameters whose names differ from the parameter's. */
const PREPARE_FLAG_OF_PARAMETER = { searchValidationQueries: 'search-validation', concurrency: 'llm-concurrency' };

export async function data(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'prepare') return withFlagNames(Object.keys(PREPARE_OPTIONS), PREPARE_FLAG_OF_PARAMETER, () => prepare(rest));
  if (sub === 'download') return download(rest);
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') { process.stdout.write(DATA_USAGE); return 0; }
  process.stderr.write(`semid data: unknown subcommand "${sub}"\n\n${DATA_USAGE}`);
  return 2;
}

async function prepare(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: PREPARE_OPTIONS });
  if (values.help) { process.stdout.write(DATA_USAGE); return 0; }
  if (!values.out) throw new SemidArgumentError('--out', 'a run folder', values.out);
  const runDir = resolve(values.out);
  const options: DatasetOptions = {
    minRating: num('min-rating', values['min-rating']) ?? null,
    maxUsers: num('max-users', values['max-users']) ?? null,
    kCore: num('k-core', values['k-core']),
    maxHistory: num('max-history', values['max-history']),
    searchValidationQueries: num('search-validation', values['search-validation']),
    headFraction: num('head-fraction', values['head-fraction']),
    catalogue: values.catalogue as DatasetOptions['catalogue'],
    genomeThreshold: num('genome-threshold', values['genome-threshold']),
    seed: num('seed', values.seed),
  };
  for (const k of Object.keys(options) as Array<keyof DatasetOptions>) if (options[k] === undefined) delete options[k];
  checkDatasetOptions(options);

  const source = resolveDataSource(values.movielens);
  const progress = new ProgressLine();
  const controller = new AbortController();
  const onSigint = () => controller.abort(new SemidError('ERR_SEMID_ABORTED', 'interrupted'));
  process.once('SIGINT', onSigint);
  try {
    let querySource: QuerySource;
    const q = values.queries!;
    if (q === 'template') querySource = templateQuerySource(options.seed ?? 42);
    else if (q === 'llm') {
      if (!values['llm-endpoint'] || !values['llm-model']) throw new SemidArgumentError('--queries llm', '--llm-endpoint URL and --llm-model NAME', values['llm-endpoint'] ?? 'neither');
      querySource = llmQuerySource({
        endpoint: values['llm-endpoint'], model: values['llm-model'], apiKeyEnv: values['llm-key-env'],
        concurrency: num('llm-concurrency', values['llm-concurrency']), cachePath: join(runDir, 'queries.llm-cache.jsonl'),
      });
    } else if (/\.jsonl?$/i.test(q)) {
      if (!existsSync(q)) throw new SemidArgumentError('--queries', 'template, llm, or an existing .jsonl file', q);
      querySource = jsonlQuerySource(resolve(q));
    } else throw new SemidArgumentError('--queries', 'template, llm, or a .jsonl file', q);

    const request = createHash('sha256').update(JSON.stringify({
      source: source.dir ?? 'synthetic', queries: querySource.name, options, genome: !values['no-genome'], descriptions: values.descriptions ?? null,
    })).digest('hex');
    const manifestPath = join(runDir, 'data', 'manifest.json');
    if (!values.force && existsSync(manifestPath)) {
      const old = JSON.parse(readFileSync(manifestPath, 'utf8')) as DatasetManifest;
      if (old.request === request) {
        process.stderr.write(`semid data: ${join(runDir, 'data')} already holds this data set (use --force to rebuild)\n`);
        report(old, values.json!, runDir);
        return 0;
      }
    }

    if (source.dir === null) {
      process.stderr.write('\n*** No MovieLens data found (no --movielens, no $SEMID_DATA, no ../shared/data/ml-latest-small).\n' +
        '*** Using the EMBEDDED SYNTHETIC catalogue: results are NOT MovieLens results.\n' +
        '*** Get real data with `semid data download ml-latest-small` and pass --movielens data/ml-latest-small.\n\n');
    } else {
      process.stderr.write(`semid data: reading MovieLens from ${source.dir} (${source.origin === 'argument' ? '--movielens' : source.origin})\n`);
    }
    const ml = source.dir === null
      ? syntheticMovieLens({ seed: options.seed ?? 42 })
      : await readMovieLens(source.dir, {
        genome: !values['no-genome'], descriptions: values.descriptions, signal: controller.signal,
        onProgress: (p) => progress.update(p.totalBytes ? p.bytesRead / p.totalBytes : 0, `${p.file} ${bytes(p.bytesRead)} / ${bytes(p.totalBytes)}, ${p.rows.toLocaleString('en-US')} rows`),
      });
    progress.done();
    const t0 = performance.now();
    const ds = await buildJointDataset(ml, querySource, options, {
      signal: controller.signal,
      onProgress: (p) => progress.update(p.total ? p.done / p.total : 1, `queries (${querySource.name}) ${p.done.toLocaleString('en-US')} / ${p.total.toLocaleString('en-US')} items`),
    });
    progress.done();
    ds.manifest.request = request;
    const dir = writeJointDataset(ds, runDir);
    process.stderr.write(`semid data: wrote ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    report(ds.manifest, values.json!, runDir);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function report(m: DatasetManifest, json: boolean, runDir: string): void {
  if (json) { process.stdout.write(JSON.stringify({ runDir, ...m }, null, 2) + '\n'); return; }
  const s = m.summary;
  const n = (x: number) => x.toLocaleString('en-US');
  process.stdout.write(`\nData set (${m.source.synthetic ? 'SYNTHETIC catalogue' : `${m.source.release}, ${m.source.format}`}; queries: ${m.queries.source})\n`);
  process.stdout.write(table([
    ['users', n(s.users)], ['items', n(s.items)], ['interactions', n(s.interactions)],
    ['head items (top ' + (Number(m.settings.headFraction) * 100) + '%)', n(s.headItems)], ['torso items', n(s.torsoItems)],
    ['queries (20 per item)', n(s.queries)],
    ['search train / validation / test', `${n(s.search.train)} / ${n(s.search.validation)} / ${n(s.search.test)}`],
    ['rec train / validation / test', `${n(s.rec.train)} / ${n(s.rec.validation)} / ${n(s.rec.test)}`],
    ['rec test targets head / torso', `${n(s.recTestHead)} / ${n(s.recTestTorso)}`],
    ['mean test history length', String(s.meanHistory)],
  ], ['count', 'value']) + '\n');
  if (m.dropped.length) {
    process.stdout.write('\nRows not used\n' + table(m.dropped.map((d) => [d.file, d.reason, n(d.rows)]), ['file', 'reason', 'rows']) + '\n');
  }
}

async function download(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { to: { type: 'string', default: 'data' } } });
  const release = positionals[0];
  if (!release) throw new SemidArgumentError('release', `one of ${MOVIELENS_RELEASES.join(', ')}`, release);
  const progress = new ProgressLine();
  const dir = await downloadMovieLens(release, {
    to: values.to, onProgress: (r, t) => progress.update(t ? r / t : 0, `${release}.zip ${bytes(r)}${t ? ' / ' + bytes(t) : ''}`),
  });
  progress.done(`semid data: ${release} is in ${dir}; use --movielens ${dir}`);
  return 0;
}
