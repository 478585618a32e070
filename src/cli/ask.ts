/** `semid search` and `semid recommend`: ask a model that `semid run` trained. */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SemidArgumentError } from '../kernels/errors.js';
import { initRuntime } from '../model/runtime/backend.js';
import { STRATEGIES, QUANTIZERS, type Strategy } from '../ids/strategies.js';
import { askRecommend, askSearch, itemsOfMovies, loadRunModel, userHistory, type Answer, type RunModel } from '../pipeline/ask.js';
import { numberFlag, withFlagNames } from './flags.js';
import { table } from './format.js';

const COMMON = `--run <dir> [--strategy ${STRATEGIES.join('|')}] [--quantizer ${QUANTIZERS.join('|')}] [--seed 0]
                 [--top 10] [--beams B] [--groups G] [--penalty P] [--json]
Beams, groups and penalty default to the decoding the run evaluated the model with (its
generation_config.json; 60, 30 and 0.25 for models saved without them).`;

export const SEARCH_USAGE = `Usage: semid search ("<query>" ["<query>" ...] | -) ${COMMON}

Generates the items a query names with the T5 that \`semid run\` trained in <dir> for the strategy,
quantizer and seed (default multitask, rqkmeans, 0), by the same trie-constrained diverse beam
search as the study's evaluation, and prints them best first with their scores and Semantic IDs.
With -, the queries are read from standard input, one a line.
`;

export const RECOMMEND_USAGE = `Usage: semid recommend (--user <userId> | --movies <movieId,movieId,...>) ${COMMON}

Generates the items to recommend after a user's whole history in the run's data set (--user) or
after a list of movies, oldest first (--movies; the last 20 are used, as in training), with the T5
that \`semid run\` trained in <dir>, and prints them best first with their scores and Semantic IDs.
`;

const OPTIONS = {
  run: { type: 'string' }, strategy: { type: 'string' }, quantizer: { type: 'string' }, seed: { type: 'string' },
  top: { type: 'string' }, beams: { type: 'string' }, groups: { type: 'string' }, penalty: { type: 'string' },
  json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
} as const;
const RECOMMEND_OPTIONS = { ...OPTIONS, user: { type: 'string' }, movies: { type: 'string' } } as const;

function print(questions: string[], answers: Answer[][], json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(questions.map((q, i) => ({ query: q, answers: answers[i] })), null, 2) + '\n');
    return;
  }
  questions.forEach((q, i) => {
    process.stdout.write(`\n${q}\n`);
    process.stdout.write(table(answers[i].map((a) => [a.rank, a.title, a.movieId, a.score.toFixed(3), a.id.join(' '), a.idItems]), ['rank', 'title', 'movieId', 'score', 'Semantic ID', 'items of the ID']) + '\n');
  });
}

/**
 * The model of `--run <dir>` (and `--strategy`, `--quantizer`, `--seed`), with the runtime started;
 * a bad flag is an error naming it.
 * @example const m = await modelOfFlags({ run: 'runs/quick' });
 */
export async function modelOfFlags(values: { [k: string]: string | boolean | undefined }): Promise<RunModel> {
  if (typeof values.run !== 'string') throw new SemidArgumentError('--run', 'a run folder (semid run --out <dir>)', values.run);
  const seed = numberFlag('seed', values.seed as string | undefined, { integer: true, min: 0 });
  await initRuntime();
  return withFlagNames(['strategy', 'quantizer', 'seed'], {}, async () =>
    loadRunModel(resolve(values.run as string), { strategy: values.strategy as Strategy | undefined, quantizer: values.quantizer as string | undefined, seed }));
}

async function withModel(values: { [k: string]: string | boolean | undefined }, work: (m: RunModel, o: { top?: number; beams?: number; groups?: number; diversityPenalty?: number }) => Promise<void>): Promise<void> {
  const int = (name: string) => numberFlag(name, values[name] as string | undefined, { integer: true, min: 1 });
  const m = await modelOfFlags(values);
  try {
    await withFlagNames(['top', 'beams', 'groups', 'penalty'], { diversityPenalty: 'penalty' }, () =>
      work(m, { top: int('top'), beams: int('beams'), groups: int('groups'), diversityPenalty: numberFlag('penalty', values.penalty as string | undefined, { min: 0 }) }));
  } finally {
    m.model.dispose();
  }
}

/** `semid search "<query>" --run <dir>`. */
export async function search(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (values.help || positionals.length === 0) { process.stdout.write(SEARCH_USAGE); return values.help ? 0 : 2; }
  const queries = positionals.length === 1 && positionals[0] === '-'
    ? readFileSync(0, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
    : positionals;
  if (queries.length === 0) throw new SemidArgumentError('standard input', 'one query a line', 'no lines');
  await withModel(values, async (m, o) => print(queries, await askSearch(m, queries, o), values.json ?? false));
  return 0;
}

/** `semid recommend --user <userId> --run <dir>`. */
export async function recommend(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: RECOMMEND_OPTIONS });
  if (values.help || (values.user === undefined && values.movies === undefined)) { process.stdout.write(RECOMMEND_USAGE); return values.help ? 0 : 2; }
  if (positionals.length > 0) throw new SemidArgumentError('arguments', 'none besides the flags (--user or --movies)', positionals.join(' '));
  if (values.user !== undefined && values.movies !== undefined) throw new SemidArgumentError('--user', 'either --user or --movies, not both', values.user);
  await withModel(values, async (m, o) => {
    let history: Int32Array;
    let question: string;
    if (values.user !== undefined) {
      const user = numberFlag('user', values.user, { integer: true, min: 0 })!;
      history = await withFlagNames(['user'], {}, async () => userHistory(m, user));
      question = `user ${user} (${history.length} movies, the last: ${m.dataset.items[history[history.length - 1]].rawTitle})`;
    } else {
      const ids = values.movies!.split(',').map((s) => numberFlag('movies', s.trim(), { integer: true, min: 0 })!);
      history = await withFlagNames(['movies'], {}, async () => itemsOfMovies(m, ids));
      question = `after ${Array.from(history, (i) => m.dataset.items[i].rawTitle).join('; ')}`;
    }
    print([question], await askRecommend(m, [history], o), values.json ?? false);
  });
  return 0;
}
