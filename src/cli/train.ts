/** `semid train`: a T5 that generates Semantic IDs from text, trained on pairs of your own. */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { join, resolve } from 'node:path';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { initRuntime } from '../model/runtime/backend.js';
import { loadT5Folder, resizeTokenEmbeddings, saveT5Folder } from '../model/t5/checkpoint-folder.js';
import { T5_PRESETS } from '../model/t5/config.js';
import { T5Model } from '../model/t5/model.js';
import { trainT5OnPairs } from '../model/t5/pair-task.js';
import { T5Tokenizer, trainWordPieceTokenizer } from '../model/t5/tokenizer.js';
import { withoutByteOrderMark } from '../data/text-records.js';
import { hashSeed, mulberry32, shuffleInPlace } from '../data/random.js';
import { cutSource, GenerativeRetriever, historyTokens } from '../pipeline/retriever.js';
import { readIdsFile } from './ask-model.js';
import { numberFlag, withFlagNames } from './flags.js';

export const TRAIN_USAGE = `Usage: semid train --pairs <pairs.jsonl> --out <dir> [--ids <ids.json|codes.npy>] [--id-prefix id]
                   [--from <T5 folder> | --preset tiny|small] [--vocab 8000] [--prompt "{query}"]
                   [--epochs 3] [--batch 128] [--lr 2e-3] [--seed 0] [--max-source 512] [--holdout 0.1]
                   [--history-prompt "recommend: {history}"] [--history-items 20]

Trains a T5 to generate Semantic IDs from text. Each line of --pairs is {"query": "...", "item": i}
(item i's ID is row i of --ids, as semid search --model reads it), {"history": [rows, oldest first],
"item": i} (recommendation: the items' ID tokens fill {history} of --history-prompt, default
"recommend: {history}", the last --history-items 20 of them, as semid recommend --model builds it),
or {"source": "...", "target": ["<id_0_3>", "<id_1_7>"]}. --prompt is the encoder text of a query
or source, {query} standing for it.
The model is a T5 folder to fine-tune (--from, e.g. a local flan-t5-base; the ID tokens it lacks
are added to its tokenizer and embeddings) or a new T5 of --preset (default small) with a WordPiece
tokenizer of --vocab words trained on the sources. Every ID of --ids becomes a token, whether a
pair names it or not. AdamW with linear warm-up and decay, as the study (paper: 3 epochs, batch 128,
lr 2e-3). Writes <dir> as a T5 folder (config.json, model.safetensors, tokenizer.json,
generation_config.json with the paper's decoding), with checkpoints in <dir>/checkpoints: stopped
(Ctrl-C) or killed, the same command goes on from the last one. --holdout F keeps a seeded fraction
F of the pairs out of training and reports, once trained, how often the constrained beam search
(60 beams, 30 groups, penalty 0.25) puts their target ID in its top 10 and 30 (Recall@10, @30;
also in <dir>/eval.json). Then:
  semid search "<query>" --model <dir> --ids <ids file> --prompt "<the same prompt>"
  semid recommend --items <row,row,...> --model <dir> --ids <ids file> --history-prompt "<the same>"
`;

const OPTIONS = {
  pairs: { type: 'string' }, out: { type: 'string' }, ids: { type: 'string' }, 'id-prefix': { type: 'string' },
  from: { type: 'string' }, preset: { type: 'string' }, vocab: { type: 'string' }, prompt: { type: 'string' },
  epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' }, 'max-source': { type: 'string' },
  holdout: { type: 'string' }, 'history-prompt': { type: 'string' }, 'history-items': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

/** One training line: the encoder text and the ID tokens to generate. */
interface TextPair {
  /** The query or source text ('' for a history). */
  text: string;
  target: string[];
  /** The row of --ids a {query, item} or {history, item} line names. */
  item?: number;
  /** A {history, item} line's items, rows of --ids, oldest first. */
  history?: number[];
}

/**
 * The pairs of a JSONL file: {"query", "item"} lines take item's ID from `ids`; {"source", "target"}
 * lines carry their own. A bad line is an error naming its number.
 * @example readPairs('pairs.jsonl', ids) // [{ text: 'space robots', target: ['<id_0_3>', '<id_1_7>'] }, ...]
 */
export function readPairs(path: string, ids: Array<string[] | number[]> | null): TextPair[] {
  let text: string;
  try { text = withoutByteOrderMark(readFileSync(path, 'utf8')); } catch (err) { throw new SemidArgumentError('--pairs', 'a JSONL file of training pairs', `${path} (${(err as Error).message})`); }
  const out: TextPair[] = [];
  text.split(/\r?\n/).forEach((line, k) => {
    if (line.trim() === '') return;
    const where = `${path} line ${k + 1}`;
    let j: Record<string, unknown>;
    try { j = JSON.parse(line); } catch { throw new SemidError('ERR_SEMID_DATA', `${where}: not JSON`); }
    if (typeof j !== 'object' || j === null) throw new SemidError('ERR_SEMID_DATA', `${where}: expected {"query", "item"} or {"source", "target"}`);
    if ('history' in j) {
      if (!ids) throw new SemidError('ERR_SEMID_INVALID_ARG', `${where} is a history of items: give the items' IDs with --ids (a JSON list of token lists, or a codes .npy)`);
      const h = j.history;
      if (!Array.isArray(h) || h.length === 0 || h.some((x) => !isRow(x, ids))) throw new SemidError('ERR_SEMID_DATA', `${where}: "history" must be a non-empty list of rows of --ids (0..${ids.length - 1})`);
      const item = rowOf(j.item, ids, where);
      out.push({ text: '', target: ids[item].map(String), item, history: h as number[] });
    } else if ('query' in j) {
      if (typeof j.query !== 'string' || j.query.trim() === '') throw new SemidError('ERR_SEMID_DATA', `${where}: "query" must be a non-empty string`);
      if (!ids) throw new SemidError('ERR_SEMID_INVALID_ARG', `${where} names item ${JSON.stringify(j.item)}: give the items' IDs with --ids (a JSON list of token lists, or a codes .npy)`);
      const item = rowOf(j.item, ids, where);
      out.push({ text: j.query, target: ids[item].map(String), item });
    } else if ('source' in j) {
      if (typeof j.source !== 'string' || j.source.trim() === '') throw new SemidError('ERR_SEMID_DATA', `${where}: "source" must be a non-empty string`);
      if (!Array.isArray(j.target) || j.target.length === 0 || j.target.some((t) => typeof t !== 'string')) throw new SemidError('ERR_SEMID_DATA', `${where}: "target" must be a non-empty list of token names`);
      out.push({ text: j.source, target: j.target as string[] });
    } else {
      throw new SemidError('ERR_SEMID_DATA', `${where}: expected {"query", "item"}, {"history", "item"} or {"source", "target"}`);
    }
  });
  if (out.length === 0) throw new SemidArgumentError('--pairs', 'a JSONL file with at least one pair', `${path} (empty)`);
  return out;
}

const isRow = (x: unknown, ids: unknown[]): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) < ids.length;

/** A line's "item": a row of --ids, or an error naming the line. */
function rowOf(x: unknown, ids: unknown[], where: string): number {
  if (!isRow(x, ids)) throw new SemidError('ERR_SEMID_DATA', `${where}: "item" must be a row of --ids (0..${ids.length - 1}), got ${JSON.stringify(x)}`);
  return x;
}

/** `semid train --pairs <file> --out <dir>`. */
export async function train(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (values.help || values.pairs === undefined || values.out === undefined) { process.stdout.write(TRAIN_USAGE); return values.help ? 0 : 2; }
  if (positionals.length > 0) throw new SemidArgumentError('arguments', 'none besides the flags', positionals.join(' '));
  if (values.from !== undefined && values.preset !== undefined) throw new SemidArgumentError('--preset', 'either --from (fine-tune a folder) or --preset (a new T5), not both', values.preset);
  const preset = (values.preset ?? 'small') as keyof typeof T5_PRESETS;
  if (!['tiny', 'small'].includes(preset)) throw new SemidArgumentError('--preset', 'tiny or small', values.preset);
  const template = values.prompt ?? '{query}';
  if (!template.includes('{query}')) throw new SemidArgumentError('--prompt', 'a template holding {query}, e.g. "search: {query}"', template);
  const int = (name: string, min = 1) => numberFlag(name, values[name as keyof typeof values] as string | undefined, { integer: true, min });
  const epochs = int('epochs') ?? 3, batchSize = int('batch') ?? 128, seed = int('seed', 0) ?? 0, vocab = int('vocab', 100) ?? 8000, maxSource = int('max-source', 2) ?? 512;
  const learningRate = numberFlag('lr', values.lr, { min: 0 }) ?? 2e-3;
  const holdout = numberFlag('holdout', values.holdout, { min: 0 }) ?? 0;
  if (holdout >= 1) throw new SemidArgumentError('--holdout', 'a fraction below 1 (e.g. 0.1)', values.holdout);
  const ids = values.ids !== undefined ? readIdsFile(resolve(values.ids), values['id-prefix'] ?? 'id') : null;
  ids?.forEach((id, i) => {
    if (!Array.isArray(id) || id.length === 0 || id.some((t) => typeof t !== 'string')) {
      throw new SemidArgumentError(`--ids[${i}]`, 'a non-empty list of token names (the tokens are made here, so ids cannot be numbers)', id);
    }
  });
  const all = readPairs(resolve(values.pairs), ids);
  // a seeded fraction held out for the recall check (the same pairs on a resumed run)
  const order = shuffleInPlace(Array.from(all.keys()), mulberry32(hashSeed(seed, 'holdout')));
  const heldOut = holdout > 0 ? Math.min(all.length - 1, Math.max(1, Math.round(holdout * all.length))) : 0;
  const held = order.slice(0, heldOut).sort((a, b) => a - b).map((i) => all[i]);
  const pairs = heldOut > 0 ? order.slice(heldOut).sort((a, b) => a - b).map((i) => all[i]) : all;
  const historyPrompt = values['history-prompt'] ?? 'recommend: {history}';
  if (historyPrompt.split('{history}').length !== 2) throw new SemidArgumentError('--history-prompt', 'a template holding {history} once, e.g. "recommend: {history}"', historyPrompt);
  const historyItems = int('history-items') ?? 20;
  const sources = pairs.map((p) => (p.history ? '' : template.split('{query}').join(p.text)));
  // every ID's tokens, those of --ids included: the retriever builds its trie of all of them
  const idTokens = [...new Set([...(ids ?? []).flatMap((id) => id.map(String)), ...all.flatMap((p) => p.target)])];
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  await initRuntime();

  // The tokenizer is written before training and reused by a resumed run, so that its checkpoints fit.
  const tokenizerPath = join(out, 'tokenizer.json');
  const resumed = existsSync(tokenizerPath) && existsSync(join(out, 'checkpoints'));
  let tokenizer: T5Tokenizer;
  let model: T5Model;
  if (values.from !== undefined) {
    const from = await withFlagNames(['from'], {}, async () => loadT5Folder(resolve(values.from!)));
    if (!from.tokenizer) { from.model.dispose(); throw new SemidArgumentError('--from', 'a T5 folder with tokenizer.json', values.from); }
    tokenizer = resumed ? T5Tokenizer.load(tokenizerPath) : from.tokenizer;
    tokenizer.addTokens(idTokens);
    model = tokenizer.vocabSize > from.model.config.vocabSize ? resizeTokenEmbeddings(from.model, tokenizer.vocabSize, seed) : from.model;
    if (model !== from.model) from.model.dispose();
  } else {
    // the words of the queries, and of the history prompt around its items
    tokenizer = resumed ? T5Tokenizer.load(tokenizerPath) : trainWordPieceTokenizer([...sources.filter((t) => t !== ''), ...historyPrompt.split('{history}')], { vocabSize: vocab });
    tokenizer.addTokens(idTokens);
    model = T5Model.create({ ...T5_PRESETS[preset], vocabSize: tokenizer.vocabSize }, seed);
  }
  tokenizer.save(tokenizerPath);
  const controller = new AbortController();
  const onSigint = () => controller.abort(new SemidError('ERR_SEMID_ABORTED', `interrupted (the same command goes on from ${join(out, 'checkpoints')})`));
  process.once('SIGINT', onSigint);
  try {
    const tokenPairs = pairs.map((p, i) => {
      if (p.history) {  // as GenerativeRetriever.recommend builds it
        const source = historyTokens(tokenizer, historyPrompt, p.history.map((item) => Int32Array.from(ids![item].map((t) => tokenizer.tokenId(String(t))!))),
          { eos: model.config.eosTokenId, maxSourceLength: maxSource, historyItems });
        return { source, target: p.target.map((t) => tokenizer.tokenId(t)!) };
      }
      return { source: cutSource(tokenizer.encode(sources[i]), maxSource, model.config.eosTokenId), target: p.target.map((t) => tokenizer.tokenId(t)!) };
    });
    process.stderr.write(`semid train: ${pairs.length} pairs${heldOut ? ` (${heldOut} more held out)` : ''}, ${idTokens.length} ID tokens, T5 ${(model.size / 1e6).toFixed(2)}M parameters (${values.from ?? `preset ${preset}`}), ${epochs} epochs of batch ${batchSize}\n`);
    let last = 0;
    const result = await trainT5OnPairs({ model, pairs: tokenPairs, batchSize, epochs, learningRate, seed: seed + 1, signal: controller.signal,
      checkpoint: { dir: join(out, 'checkpoints'), everySteps: 200 },
      onProgress: (p) => {
        if (performance.now() - last < 10_000 && p.step !== p.totalSteps) return;
        last = performance.now();
        process.stderr.write(`semid train: step ${p.step}/${p.totalSteps} (epoch ${p.epoch + 1}), loss ${p.meanLoss.toFixed(3)}, ${p.examplesPerSecond.toFixed(0)} ex/s, ETA ${Math.round(p.etaSeconds)} s\n`);
      } });
    // the decoding semid search and serve start from: the paper's, and the longest ID (with its end token where lengths vary)
    const lengths = [...all.map((p) => p.target.length), ...(ids ?? []).map((id) => id.length)];
    const longest = Math.max(...lengths) + (lengths.every((n) => n === lengths[0]) ? 0 : 1);
    saveT5Folder(out, model, tokenizer, {}, { numBeams: 60, numBeamGroups: 30, diversityPenalty: 0.25, numReturnSequences: 60, maxNewTokens: longest });
    const loss = result.epochLoss[result.epochLoss.length - 1];
    process.stdout.write(`semid train: ${out} (${result.steps} steps${result.resumedFrom ? `, resumed from ${result.resumedFrom}` : ''}${loss !== undefined ? `, last epoch's loss ${loss.toFixed(3)}` : ''})\n`);
    if (held.length > 0) {
      const r = await heldOutRecall(model, tokenizer, held, ids, all, template, { historyPrompt, historyItems, maxSourceLength: maxSource }, controller.signal);
      writeFileAtomic(join(out, 'eval.json'), [Buffer.from(JSON.stringify({ heldOut: held.length, recall10: r.recall10, recall30: r.recall30, decoding: { beams: 60, groups: 30, diversityPenalty: 0.25 } }, null, 2) + '\n')]);
      process.stdout.write(`semid train: held-out pairs (${held.length}): Recall@10 ${r.recall10.toFixed(4)}, Recall@30 ${r.recall30.toFixed(4)} (${join(out, 'eval.json')})\n`);
    }
    const idsFlag = values.ids ? ` --ids ${values.ids}` : ' --ids <ids file>';
    process.stdout.write(`semid train: ask it: semid search "<query>" --model ${values.out}${idsFlag}${values.prompt ? ` --prompt "${values.prompt}"` : ''}\n`);
    if (all.some((p) => p.history)) process.stdout.write(`semid train: and: semid recommend --items <row,row,...> --model ${values.out}${idsFlag} --history-prompt "${historyPrompt}"\n`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    model.dispose();
  }
}

/**
 * How often the trained model's constrained beam search (the paper's decoding) puts each held-out
 * pair's target ID in its top 10 and top 30. The catalogue is every ID of `ids`, or of the pairs.
 * The model and tokenizer are the ones just trained, in memory (not read back from the folder).
 * @example await heldOutRecall(model, tokenizer, held, ids, all, 'search: {query}', history) // { recall10: 0.41, recall30: 0.63 }
 */
export async function heldOutRecall(model: T5Model, tokenizer: T5Tokenizer, held: TextPair[], ids: Array<string[] | number[]> | null, all: TextPair[], template: string,
  history: { historyPrompt: string; historyItems: number; maxSourceLength: number }, signal?: AbortSignal): Promise<{ recall10: number; recall30: number }> {
  const catalogue = ids ? (ids as string[][]) : [...new Map(all.map((p) => [p.target.join(' '), p.target])).values()];
  // not disposed here: the model is the caller's
  const retriever = GenerativeRetriever.create({ model, tokenizer, ids: catalogue, prompt: (q) => template.split('{query}').join(q), ...history });
  const decoding = { top: 30, beams: 60, groups: 30, diversityPenalty: 0.25, signal };
  const sources = held.map((p) => (p.history ? retriever.historySource(p.history) : retriever.searchSource(p.text)));
  const answers = await retriever.decodeSources(sources, decoding, held.map(() => 30));
  let hit10 = 0, hit30 = 0;
  held.forEach((p, i) => {
    // the pair's item where it names one (items behind one ID count in their ranked order), else its ID
    const want = p.target.join(' ');
    const rank = answers[i].findIndex((a) => (p.item !== undefined && ids ? a.item === p.item : a.id.join(' ') === want));
    if (rank >= 0 && rank < 10) hit10++;
    if (rank >= 0) hit30++;
  });
  return { recall10: hit10 / held.length, recall30: hit30 / held.length };
}
