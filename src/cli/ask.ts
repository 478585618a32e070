/** `semid search` and `semid recommend`: ask a model that `semid run` trained (or, for search, a T5 folder of your own). */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SemidArgumentError } from '../kernels/errors.js';
import { initRuntime } from '../model/runtime/backend.js';
import { STRATEGIES, QUANTIZERS, type CollisionPolicy, type Strategy } from '../ids/strategies.js';
import { askRecommend, askSearch, itemsOfMovies, loadRunModel, userHistory, type Answer, type RunModel } from '../pipeline/ask.js';
import { numberFlag, withFlagNames } from './flags.js';
import { recommendWithModel, searchWithModel } from './ask-model.js';
import { printAnswers } from './format.js';

const COMMON = `--run <dir> [--strategy ${STRATEGIES.join('|')}] [--quantizer ${QUANTIZERS.join('|')}] [--seed 0]
                 [--collisions keep|dedup] [--top 10] [--beams B] [--groups G] [--penalty P] [--json]`;
const DEFAULTS = `Beams, groups and penalty default to the decoding the model was evaluated or saved with (its
generation_config.json; 60, 30 and 0.25 for models saved without them).`;

export const SEARCH_USAGE = `Usage: semid search ("<query>" ["<query>" ...] | -) ${COMMON}
       semid search ("<query>" ... | -) --model <T5 folder> --ids <ids.json|codes.npy> [--prompt "search: {query}"]
                 [--id-prefix id] [--top 10] [--beams B] [--groups G] [--penalty P] [--json]
${DEFAULTS}

Generates the items a query names with the T5 that \`semid run\` trained in <dir> for the strategy,
quantizer and seed (default multitask, rqkmeans, 0; --collisions: the IDs' policy of \`semid run
--collisions\`, default the newest model's), by the same trie-constrained diverse beam
search as the study's evaluation, and prints them best first with their scores and Semantic IDs.
With -, the queries are read from standard input, one a line.
With --model, a T5 folder of your own (config.json, model.safetensors, tokenizer.json) instead:
--ids holds item i's ID at row i, as JSON (a list of token lists, names or ids) or as a codes .npy
of \`semid quantize\` (code c at level l is the token <id_l_c>; --id-prefix changes "id"), and
--prompt the encoder text, {query} standing for the query (default: the query alone).
`;

export const RECOMMEND_USAGE = `Usage: semid recommend (--user <userId> | --movies <movieId,movieId,...>) ${COMMON}
       semid recommend --items <row,row,...> --model <T5 folder> --ids <ids.json|codes.npy> --history-prompt "recommend: {history}"
                 [--history-items 20] [--id-prefix id] [--top 10] [--beams B] [--groups G] [--penalty P] [--json]
${DEFAULTS}

Generates the items to recommend after a user's whole history in the run's data set (--user) or
after a list of movies, oldest first (--movies; the last 20 are used, as in training), with the T5
that \`semid run\` trained in <dir>, and prints them best first with their scores and Semantic IDs.
With --model, a T5 folder of your own (as semid search --model): the history is rows of --ids,
oldest first, whose ID tokens fill {history} of --history-prompt (the last --history-items of them).
`;

const OPTIONS = {
  run: { type: 'string' }, strategy: { type: 'string' }, quantizer: { type: 'string' }, seed: { type: 'string' }, collisions: { type: 'string' },
  top: { type: 'string' }, beams: { type: 'string' }, groups: { type: 'string' }, penalty: { type: 'string' },
  json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
} as const;
const MODEL_OPTIONS = { model: { type: 'string' }, ids: { type: 'string' }, prompt: { type: 'string' }, 'id-prefix': { type: 'string' }, 'history-prompt': { type: 'string' }, 'history-items': { type: 'string' } } as const;
const SEARCH_OPTIONS = { ...OPTIONS, ...MODEL_OPTIONS } as const;
const RECOMMEND_OPTIONS = { ...OPTIONS, ...MODEL_OPTIONS, user: { type: 'string' }, movies: { type: 'string' }, items: { type: 'string' } } as const;

function print(questions: string[], answers: Answer[][], json: boolean): void {
  printAnswers(questions, answers, json, ['rank', 'title', 'movieId', 'score', 'Semantic ID', 'items of the ID'],
    (a) => [a.rank, a.title, a.movieId, a.score.toFixed(3), a.id.join(' '), a.idItems]);
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
  return withFlagNames(['strategy', 'quantizer', 'seed', 'collisions'], {}, async () =>
    loadRunModel(resolve(values.run as string), { strategy: values.strategy as Strategy | undefined, quantizer: values.quantizer as string | undefined, seed,
      collisions: values.collisions as CollisionPolicy | undefined }));
}

/**
 * --run and its flags, or --model and its: not both, and none of one set without its flag.
 * @example checkModelFlags({ model: 'my-t5', ids: 'ids.json' }) // ok; with strategy: 'rec' it throws
 */
export function checkModelFlags(values: { [k: string]: string | boolean | undefined }): void {
  if (values.model !== undefined && values.run !== undefined) throw new SemidArgumentError('--model', 'either --model (with --ids) or --run, not both', values.model);
  for (const flag of ['ids', 'prompt', 'id-prefix', 'history-prompt', 'history-items']) {
    if (values.model === undefined && values[flag] !== undefined) throw new SemidArgumentError(`--${flag}`, '--model beside it (it describes a T5 folder of your own)', values[flag]);
  }
  for (const flag of ['strategy', 'quantizer', 'seed', 'collisions']) {
    if (values.model !== undefined && values[flag] !== undefined) throw new SemidArgumentError(`--${flag}`, '--run beside it, not --model (it picks one of a run\'s models)', values[flag]);
  }
}

/** --top, --beams, --groups and --penalty, checked. */
function decodeFlags(values: { [k: string]: string | boolean | undefined }): { top?: number; beams?: number; groups?: number; diversityPenalty?: number } {
  const int = (name: string) => numberFlag(name, values[name] as string | undefined, { integer: true, min: 1 });
  return { top: int('top'), beams: int('beams'), groups: int('groups'), diversityPenalty: numberFlag('penalty', values.penalty as string | undefined, { min: 0 }) };
}

async function withModel(values: { [k: string]: string | boolean | undefined }, work: (m: RunModel, o: { top?: number; beams?: number; groups?: number; diversityPenalty?: number }) => Promise<void>): Promise<void> {
  const o = decodeFlags(values);
  const m = await modelOfFlags(values);
  try {
    await withFlagNames(['top', 'beams', 'groups', 'penalty'], { diversityPenalty: 'penalty' }, () => work(m, o));
  } finally {
    m.model.dispose();
  }
}

/** `semid search "<query>" --run <dir>`. */
export async function search(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: SEARCH_OPTIONS });
  if (values.help || positionals.length === 0) { process.stdout.write(SEARCH_USAGE); return values.help ? 0 : 2; }
  checkModelFlags(values);
  const queries = positionals.length === 1 && positionals[0] === '-'
    ? readFileSync(0, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
    : positionals;
  if (queries.length === 0) throw new SemidArgumentError('standard input', 'one query a line', 'no lines');
  if (values.model !== undefined) {
    await searchWithModel(queries, values, decodeFlags(values));
    return 0;
  }
  await withModel(values, async (m, o) => print(queries, await askSearch(m, queries, o), values.json ?? false));
  return 0;
}

/** `semid recommend --user <userId> --run <dir>`. */
export async function recommend(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: RECOMMEND_OPTIONS });
  if (values.help || (values.user === undefined && values.movies === undefined && values.items === undefined)) { process.stdout.write(RECOMMEND_USAGE); return values.help ? 0 : 2; }
  if (positionals.length > 0) throw new SemidArgumentError('arguments', 'none besides the flags (--user or --movies)', positionals.join(' '));
  checkModelFlags(values);
  if (values.model !== undefined) {
    if (values.items === undefined || values.user !== undefined || values.movies !== undefined) throw new SemidArgumentError('--items', 'the history as item rows of --ids with --model (it knows no users or movies)', values.items);
    const items = values.items.split(',').map((s) => numberFlag('items', s.trim(), { integer: true, min: 0 })!);
    await recommendWithModel(items, values, decodeFlags(values));
    return 0;
  }
  if (values.items !== undefined) throw new SemidArgumentError('--items', '--model beside it (a run\'s model takes --user or --movies)', values.items);
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
