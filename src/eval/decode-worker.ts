/**
 * Piscina worker of DecodePool: loads the run's data set, the strategy's task and the trained T5
 * once (kept until a task names another model), then decodes and scores the chunk it is given.
 */
import { initRuntime } from '../model/runtime/backend.js';
import { loadJointDataset, type JointDataset } from '../data/dataset.js';
import { loadT5Folder } from '../model/t5/checkpoint-folder.js';
import type { T5Model } from '../model/t5/model.js';
import type { Strategy } from '../ids/strategies.js';
import type { IdTrie } from '../decoding/trie.js';
import { strategyTask, type StrategyTask } from '../pipeline/strategy-task.js';
import { SEARCH_TASK } from '../model/t5/joint-task.js';
import { evaluateTask, itemTrie, type DecodeSettings, type ExampleResult } from './generative.js';
import type { DecodeChunk } from './decode-pool.js';

let dataset: { out: string; ds: JointDataset } | null = null;
let loaded: { key: string; model: T5Model; st: StrategyTask; tries: Map<number, IdTrie> } | null = null;

export default async function decodeChunk(c: DecodeChunk): Promise<ExampleResult[]> {
  await initRuntime({ threads: c.threads });
  if (!dataset || dataset.out !== c.out) dataset = { out: c.out, ds: loadJointDataset(c.out) };
  const key = `${c.modelDir}|${c.tokenizerPath}|${c.strategy}|${c.quantizer}|${c.collisions ?? 'keep'}`;
  if (!loaded || loaded.key !== key) {
    loaded?.model.dispose();
    const st = strategyTask(c.out, c.tokenizerPath, c.strategy as Strategy, c.quantizer, dataset.ds, dataset.ds, c.collisions);
    loaded = { key, model: loadT5Folder(c.modelDir).model, st, tries: new Map() };
  }
  const { model, st, tries } = loaded;
  let trie = tries.get(c.kind);
  if (!trie) tries.set(c.kind, (trie = itemTrie(c.kind === SEARCH_TASK ? st.space.search : st.space.rec)));
  const settings: DecodeSettings = { ...c.decode, batch: c.indices.length };
  return evaluateTask(model, st.task, c.kind, c.indices, trie, dataset.ds, settings);
}
