/**
 * The joint task of one strategy: the base tokenizer with the strategy's ID tokens added, each
 * item's ID as token ids in both namespaces, and the JointTask that builds examples from them.
 * Shared by the study (training and evaluation) and the decoding workers, so both see the same
 * token ids.
 */
import type { JointDataset } from '../data/dataset.js';
import { loadIds } from '../ids/store.js';
import type { CollisionPolicy, Strategy } from '../ids/strategies.js';
import { T5Tokenizer } from '../model/t5/tokenizer.js';
import { JointTask } from '../model/t5/joint-task.js';

export interface StrategyTask {
  tokenizer: T5Tokenizer;
  idsFile: ReturnType<typeof loadIds>;
  /** Per item (item index order): its ID as token ids, for search and for recommendation. */
  space: { search: Int32Array[]; rec: Int32Array[] };
  /** Examples from `trainDs` (training) or the full data set (evaluation). */
  task: JointTask;
}

/** History items in a recommendation prompt. */
export const HISTORY_ITEMS = 20;

/**
 * Build the task of one strategy from a run folder (its IDs of that collision policy: `keep`, or `dedup`'s unique IDs).
 * @example const { task, space } = strategyTask('runs/quick', 'runs/quick/tokenizer-8000.json', 'multitask', 'rqkmeans', loadJointDataset('runs/quick'));
 */
export function strategyTask(out: string, tokenizerPath: string, strategy: Strategy, quantizer: string, ds: JointDataset, trainDs: JointDataset = ds,
                             collisions: CollisionPolicy = 'keep'): StrategyTask {
  const idsFile = loadIds(out, strategy, quantizer, collisions);
  const tokenizer = T5Tokenizer.load(tokenizerPath);
  const idIds = tokenizer.addTokens(idsFile.vocabulary);
  const idOf = new Map(idsFile.vocabulary.map((t, i) => [t, idIds[i]]));
  const toIds = (tokens: string[][]) => tokens.map((t) => Int32Array.from(t, (x) => idOf.get(x)!));
  const space = { search: toIds(idsFile.search), rec: toIds(idsFile.rec) };
  return { tokenizer, idsFile, space, task: new JointTask(tokenizer, trainDs, space, { historyItems: HISTORY_ITEMS }) };
}
