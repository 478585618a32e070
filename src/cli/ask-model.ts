/** `semid search|serve --model <dir> --ids <file>`: a T5 of your own (GenerativeRetriever), not a run's. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readNpy } from '../data/npy.js';
import { withoutByteOrderMark } from '../data/text-records.js';
import { SemidArgumentError } from '../kernels/errors.js';
import { initRuntime } from '../model/runtime/backend.js';
import { GenerativeRetriever, type RetrievedItem } from '../pipeline/retriever.js';
import { numberFlag, withFlagNames } from './flags.js';
import { printAnswers } from './format.js';

/**
 * Items' IDs from a file: JSON (a list of IDs, each a list of token names or token ids), or a codes
 * .npy [items x levels] as `semid quantize` writes it, whose code c at level l is the token
 * `<{prefix}_{l}_{c}>` (the study's ID tokens, `idTokenNames`).
 * @example readIdsFile('codes.npy') // [['<id_0_3>', '<id_1_7>'], ...]
 */
export function readIdsFile(path: string, prefix = 'id'): Array<string[] | number[]> {
  if (path.endsWith('.npy')) {
    const { shape, data } = readNpy(path);
    if (shape.length !== 2 || shape[0] === 0 || shape[1] === 0) throw new SemidArgumentError('--ids', 'a codes .npy of shape [items, levels]', `shape [${shape.join(', ')}]`);
    const [n, levels] = shape;
    for (let i = 0; i < data.length; ++i) {
      const c = Number(data[i]);
      if (!Number.isInteger(c) || c < 0) throw new SemidArgumentError('--ids', `a codes .npy of non-negative integers (${path})`, `${data[i]} at row ${Math.floor(i / levels)}, level ${i % levels}`);
    }
    return Array.from({ length: n }, (_, i) => Array.from({ length: levels }, (_, l) => `<${prefix}_${l}_${data[i * levels + l]}>`));
  }
  let json: unknown;
  try {
    json = JSON.parse(withoutByteOrderMark(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new SemidArgumentError('--ids', 'a JSON file (a list of IDs, each a list of tokens) or a codes .npy', `${path} (${(err as Error).message})`);
  }
  if (!Array.isArray(json)) throw new SemidArgumentError('--ids', 'a JSON list of IDs, each a list of tokens', path);
  return json as Array<string[] | number[]>;
}

/**
 * The GenerativeRetriever of `--model <dir> --ids <file> [--prompt <template>] [--id-prefix id]
 * [--history-prompt <template>] [--history-items 20]`,
 * with the runtime started; a bad flag is an error naming it.
 * @example const r = await retrieverOfFlags({ model: 'my-t5', ids: 'ids.json', prompt: 'search: {query}' });
 */
export async function retrieverOfFlags(values: { [k: string]: string | boolean | undefined }): Promise<GenerativeRetriever> {
  if (typeof values.ids !== 'string') throw new SemidArgumentError('--ids', 'the items\' IDs with --model (a JSON list of token lists, or a codes .npy)', values.ids);
  const template = values.prompt ?? '{query}';
  if (typeof template !== 'string' || !template.includes('{query}')) throw new SemidArgumentError('--prompt', 'a template holding {query}, e.g. "search: {query}"', template);
  const ids = readIdsFile(resolve(values.ids), typeof values['id-prefix'] === 'string' ? values['id-prefix'] : 'id');
  const historyItems = numberFlag('history-items', values['history-items'] as string | undefined, { integer: true, min: 1 });
  await initRuntime();
  return withFlagNames(['model', 'ids', 'history-prompt', 'history-items'], { historyPrompt: 'history-prompt', historyItems: 'history-items' }, async () =>
    GenerativeRetriever.load({ model: resolve(values.model as string), ids, prompt: (q) => template.split('{query}').join(q),
      historyPrompt: values['history-prompt'] as string | undefined, historyItems }));
}

/**
 * Answer `queries` with the model folder and IDs file the flags name (`--prompt` a template
 * holding {query}), and print them as `semid search` does.
 * @example await searchWithModel(['space robots'], { model: 'my-t5', ids: 'ids.json' }, { top: 5 });
 */
export async function searchWithModel(queries: string[], values: { [k: string]: string | boolean | undefined },
  o: { top?: number; beams?: number; groups?: number; diversityPenalty?: number }): Promise<void> {
  const retriever = await retrieverOfFlags(values);
  try {
    const answers = await withFlagNames(['top', 'beams', 'groups', 'penalty'], { diversityPenalty: 'penalty' }, () => retriever.search(queries, o));
    print(queries, answers, values.json === true);
  } finally {
    retriever.dispose();
  }
}

/**
 * Recommend after one history of item rows with the model folder and IDs file the flags name
 * (--history-prompt required), and print it as `semid recommend` does.
 * @example await recommendWithModel([3, 17], { model: 'my-t5', ids: 'ids.json', 'history-prompt': 'recommend: {history}' }, { top: 5 });
 */
export async function recommendWithModel(items: number[], values: { [k: string]: string | boolean | undefined },
  o: { top?: number; beams?: number; groups?: number; diversityPenalty?: number }): Promise<void> {
  if (typeof values['history-prompt'] !== 'string') throw new SemidArgumentError('--history-prompt', 'the encoder text of a history, e.g. "recommend: {history}"', values['history-prompt']);
  const retriever = await retrieverOfFlags(values);
  try {
    const answers = await withFlagNames(['items', 'top', 'beams', 'groups', 'penalty'], { diversityPenalty: 'penalty', 'histories[0]': 'items' }, () => retriever.recommend([items], o));
    print([`after items ${items.join(', ')}`], answers, values.json === true);
  } finally {
    retriever.dispose();
  }
}

function print(queries: string[], answers: RetrievedItem[][], json: boolean): void {
  printAnswers(queries, answers, json, ['rank', 'item', 'score', 'Semantic ID', 'items of the ID'], (a) => [a.rank, a.item, a.score.toFixed(3), a.id.join(' '), a.idItems]);
}
