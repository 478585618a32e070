/**
 * Generative retrieval with a T5 of your own: a model folder (saveT5Folder's, or a Hugging Face T5
 * saved with its tokenizer.json) and each item's Semantic ID, decoded by the same trie-constrained
 * diverse beam search as the study, without a `semid run` folder around them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IdTrie } from '../decoding/trie.js';
import { SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectInt, expectOptions, optionKeys } from '../kernels/validate.js';
import { loadT5Folder, readGenerationSettings, type GenerationSettings } from '../model/t5/checkpoint-folder.js';
import type { T5Model } from '../model/t5/model.js';
import type { T5Tokenizer } from '../model/t5/tokenizer.js';
import { resolveAskOptions, type AskOptions, type ResolvedAskOptions } from './ask.js';
import { decodeWithTrie } from './decode-trie.js';

export interface RetrieverOptions {
  /** A T5 folder: config.json, model.safetensors (or its shards) and tokenizer.json. */
  model: string;
  /**
   * Item i's Semantic ID: its tokens as the folder's tokenizer names them (`['<id_0_25>', '<id_1_5>']`)
   * or as token ids. IDs may differ in length (the tokenizer's end token then closes each one); items
   * with the same ID share it (both are returned, at its score).
   */
  ids: ReadonlyArray<ReadonlyArray<string> | ArrayLike<number>>;
  /** The encoder text of a query (default: the query itself), e.g. `(q) => \`search: ${q}\``. */
  prompt?: (query: string) => string;
  /** Longest encoder input in tokens (default 512); a longer one is cut, its end token kept. */
  maxSourceLength?: number;
  /**
   * The encoder text of a history of items, for recommend: a template whose `{history}` stands for
   * the items' ID tokens, oldest first, space-separated (e.g. "recommend: {history}", the study's
   * form). Without it the retriever answers searches only.
   */
  historyPrompt?: string;
  /** Most recent items of a history kept (default 20, as the study); older ones go first when the input is too long. */
  historyItems?: number;
}

const RETRIEVER_KEYS = optionKeys<RetrieverOptions>()(['model', 'ids', 'prompt', 'maxSourceLength', 'historyPrompt', 'historyItems']);

/** One generated item: its rank, the score of its ID (a log-probability), and the ID. */
export interface RetrievedItem {
  rank: number;
  /** Index into RetrieverOptions.ids. */
  item: number;
  score: number;
  /** The ID's tokens as the tokenizer names them. */
  id: string[];
  /** Items the ID names (1 where it names this item alone). */
  idItems: number;
}

/**
 * A T5 and a catalogue of Semantic IDs, ready to generate items for queries (or for any encoder
 * input: a user's history as tokens, for recommendation). Decoding options default to the folder's
 * generation_config.json (num_beams, num_beam_groups, diversity_penalty), else beam 60, 30 groups,
 * penalty 0.25, as the paper.
 *
 * @example
 * await initRuntime();
 * const r = GenerativeRetriever.load({ model: 'models/my-t5', ids: [['<id_0_3>', '<id_1_7>'], ['<id_0_3>', '<id_1_9>']] });
 * const [answers] = await r.search(['a funny space movie'], { top: 5 });  // answers[0].item, .score, .id
 * r.dispose();
 */
export class GenerativeRetriever {
  private constructor(
    /** The model's folder (null for a retriever made with create). */
    readonly modelDir: string | null,
    readonly model: T5Model,
    readonly tokenizer: T5Tokenizer,
    /** The catalogue's IDs (item i = row i of RetrieverOptions.ids). */
    readonly trie: IdTrie,
    /** The decoding the folder asks for (its generation_config.json; {} without one). */
    readonly generation: GenerationSettings,
    private readonly endToken: number | undefined,
    private readonly itemTokens: Int32Array[],
    private readonly prompt: (query: string) => string,
    private readonly maxSourceLength: number,
    /** The history template (RetrieverOptions.historyPrompt), or undefined: no recommend. */
    readonly historyPrompt: string | undefined,
    private readonly historyItems: number,
  ) {}

  /**
   * Load the folder and build the trie of the IDs; every bad argument is named.
   * @example const r = GenerativeRetriever.load({ model: 'runs/quick/t5/multitask-rqkmeans-seed0-3f2a', ids, prompt: (q) => `search: ${q}` });
   */
  static load(options: RetrieverOptions): GenerativeRetriever {
    const o = expectOptions<RetrieverOptions>('options', options, RETRIEVER_KEYS);
    if (typeof o.model !== 'string' || !existsSync(join(o.model, 'config.json'))) throw new SemidArgumentError('model', 'a T5 folder with config.json', o.model);
    if (!existsSync(join(o.model, 'tokenizer.json'))) throw new SemidArgumentError('model', 'a T5 folder with tokenizer.json (queries are tokenized with it)', o.model);
    const settings = checkSettings(o);
    const { model, tokenizer } = loadT5Folder(o.model);
    try {
      return GenerativeRetriever.build(o.model, model, tokenizer!, readGenerationSettings(o.model), o.ids, settings);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }

  /**
   * A retriever over a model and tokenizer in memory (one trainT5OnPairs just trained, say), with
   * the same options as load (`generation`: the decoding defaults, else the paper's). The
   * retriever's dispose() frees the model.
   * @example const r = GenerativeRetriever.create({ model, tokenizer, ids, prompt: (q) => `search: ${q}` });
   */
  static create(options: Omit<RetrieverOptions, 'model'> & { model: T5Model; tokenizer: T5Tokenizer; generation?: GenerationSettings }): GenerativeRetriever {
    const o = expectOptions<Omit<RetrieverOptions, 'model'> & { model: T5Model; tokenizer: T5Tokenizer; generation?: GenerationSettings }>('options', options, [...RETRIEVER_KEYS, 'tokenizer', 'generation']);
    if (!o.model || typeof o.model !== 'object' || !o.model.config || !(o.model.params instanceof Map)) throw new SemidArgumentError('model', 'a T5Model', o.model);
    if (!o.tokenizer || typeof o.tokenizer.encode !== 'function' || typeof o.tokenizer.tokenId !== 'function') throw new SemidArgumentError('tokenizer', 'a T5Tokenizer', o.tokenizer);
    if (o.generation !== undefined && (typeof o.generation !== 'object' || o.generation === null)) throw new SemidArgumentError('generation', 'GenerationSettings ({ numBeams, numBeamGroups, diversityPenalty, ... })', o.generation);
    return GenerativeRetriever.build(null, o.model, o.tokenizer, o.generation ?? {}, o.ids, checkSettings(o));
  }

  private static build(modelDir: string | null, model: T5Model, tokenizer: T5Tokenizer, generation: GenerationSettings, ids: RetrieverOptions['ids'] | undefined,
    settings: ReturnType<typeof checkSettings>): GenerativeRetriever {
    if (!Array.isArray(ids) || ids.length === 0) throw new SemidArgumentError('ids', 'a non-empty list of IDs, one per item', ids);
    const vocab = Math.min(model.config.vocabSize, tokenizer.vocabSize);
    const itemTokens = ids.map((id, i) => idTokens(id, i, tokenizer, vocab));
    const oneLength = itemTokens.every((t) => t.length === itemTokens[0].length);
    const trie = oneLength  // fixed-length IDs as one flat array (a catalogue of millions builds in a second)
      ? IdTrie.build({ codes: flatten(itemTokens), length: itemTokens[0].length })
      : IdTrie.build({ codes: itemTokens.map((t) => Array.from(t)) });
    const eos = model.config.eosTokenId;
    if (!oneLength && trie.usesToken(eos)) {
      throw new SemidArgumentError('ids', `IDs of one length, or IDs without the end token ${tokenizer.tokenName(eos) ?? ''} (id ${eos}): IDs of several lengths end with it`, 'IDs of several lengths that use it');
    }
    return new GenerativeRetriever(modelDir, model, tokenizer, trie, generation, oneLength ? undefined : eos, itemTokens,
      settings.prompt, settings.maxSourceLength, settings.historyPrompt, settings.historyItems);
  }

  /**
   * The items generated for each query, best first (`top` of them, default 10).
   * @example const [answers] = await retriever.search(['space robots'], { top: 10, beams: 60, groups: 30 });
   */
  async search(queries: string[], options: AskOptions = {}): Promise<RetrievedItem[][]> {
    if (!Array.isArray(queries) || queries.length === 0 || queries.some((q) => typeof q !== 'string' || q.trim() === '')) {
      throw new SemidArgumentError('queries', 'a non-empty list of non-empty strings', queries);
    }
    const sources = queries.map((q, i) => this.searchSource(q, `queries[${i}]`));
    return this.decode(sources, options);
  }

  /** Items in the catalogue (rows of RetrieverOptions.ids). */
  get items(): number {
    return this.itemTokens.length;
  }

  /**
   * The encoder input of a query: its prompt, tokenized and cut to maxSourceLength (a blank query
   * is an error naming `name`).
   * @example retriever.searchSource('space robots') // Int32Array of token ids, the end token last
   */
  searchSource(query: unknown, name = 'query'): Int32Array {
    if (typeof query !== 'string' || query.trim() === '') throw new SemidArgumentError(name, 'a non-empty string', query);
    const text = this.prompt(query);
    if (typeof text !== 'string') throw new SemidArgumentError(`prompt(${name})`, 'a string', text);
    return this.cut(this.tokenizer.encode(text));
  }

  /**
   * The items generated after each history of items (rows of RetrieverOptions.ids, oldest first),
   * with the historyPrompt the retriever was loaded with.
   * @example const [recs] = await retriever.recommend([[3, 17, 42]], { top: 10 });
   */
  async recommend(histories: ArrayLike<number>[], options: AskOptions = {}): Promise<RetrievedItem[][]> {
    if (!Array.isArray(histories) || histories.length === 0) throw new SemidArgumentError('histories', 'a non-empty list of item lists', histories);
    return this.decode(histories.map((h, i) => this.historySource(h, `histories[${i}]`)), options);
  }

  /**
   * The encoder input of a history: its last historyItems items' ID tokens in the historyPrompt,
   * the oldest dropped whole while it is longer than maxSourceLength.
   * @example retriever.historySource([3, 17]) // Int32Array: 'recommend: <id_0_1> <id_1_4> <id_0_2> <id_1_0>' tokenized
   */
  historySource(history: unknown, name = 'history'): Int32Array {
    if (this.historyPrompt === undefined) {
      throw new SemidError('ERR_SEMID_UNSUPPORTED', 'this retriever was loaded without historyPrompt (e.g. "recommend: {history}"): it answers searches only');
    }
    const h = history as ArrayLike<number> | null | undefined;
    if (!h || typeof h !== 'object' || typeof h.length !== 'number' || h.length === 0) throw new SemidArgumentError(name, 'a non-empty list of item rows', history);
    for (let k = 0; k < h.length; k++) if (!Number.isInteger(h[k]) || h[k] < 0 || h[k] >= this.items) throw new SemidArgumentError(`${name}[${k}]`, `an item row below ${this.items}`, h[k]);
    return historyTokens(this.tokenizer, this.historyPrompt, Array.from(h, (item) => this.itemTokens[item]),
      { eos: this.model.config.eosTokenId, maxSourceLength: this.maxSourceLength, historyItems: this.historyItems });
  }

  /**
   * The items generated for encoder inputs given as token ids (each should end with the end
   * token, as the tokenizer's encode gives), e.g. a recommendation prompt of a user's history.
   * @example const [answers] = await retriever.generateFrom([retriever.tokenizer.encode('recommend: <id_0_3> <id_1_7>')]);
   */
  async generateFrom(sources: ArrayLike<number>[], options: AskOptions = {}): Promise<RetrievedItem[][]> {
    if (!Array.isArray(sources) || sources.length === 0) throw new SemidArgumentError('sources', 'a non-empty list of token id arrays', sources);
    const vocab = this.model.config.vocabSize;
    const checked = sources.map((s, i) => {
      if (!s || typeof s !== 'object' || typeof s.length !== 'number' || s.length === 0) throw new SemidArgumentError(`sources[${i}]`, 'a non-empty array of token ids', s);
      for (let k = 0; k < s.length; k++) if (!Number.isInteger(s[k]) || s[k] < 0 || s[k] >= vocab) throw new SemidArgumentError(`sources[${i}][${k}]`, `a token id below ${vocab}`, s[k]);
      return this.cut(Int32Array.from(s));
    });
    return this.decode(checked, options);
  }

  /** Free the model's tensors; the retriever is unusable after. */
  dispose(): void {
    this.model.dispose();
  }

  private cut(ids: Int32Array): Int32Array {
    return cutSource(ids, this.maxSourceLength, this.model.config.eosTokenId);
  }

  private decode(sources: Int32Array[], options: AskOptions): Promise<RetrievedItem[][]> {
    const r = resolveAskOptions(options, this.generation);
    return this.decodeSources(sources, r, sources.map(() => r.top));
  }

  /**
   * Decode encoder inputs (checked token ids) with resolved options; `tops[i]` answers for source i
   * (at most `r.beams`). The batch's inputs are independent: each gets what it would get alone.
   * @example await retriever.decodeSources([retriever.searchSource('space robots')], resolveAskOptions({}, retriever.generation), [10]);
   */
  async decodeSources(sources: Int32Array[], r: Omit<ResolvedAskOptions, 'top'>, tops: number[]): Promise<RetrievedItem[][]> {
    const results = await decodeWithTrie(this.model, this.trie, sources, r, this.endToken);
    return results.map((res, q) => Array.from(res.items.subarray(0, tops[q]), (item, k) => {
      const tokens = this.itemTokens[item];
      return { rank: k + 1, item, score: res.itemScores[k], id: Array.from(tokens, (t) => this.tokenizer.tokenName(t) ?? String(t)),
        idItems: this.trie.lookup(Array.from(tokens)).length };
    }));
  }
}

/** Item i's ID as token ids: names looked up in the tokenizer, or ids checked against the vocabulary. */
function idTokens(id: ReadonlyArray<string> | ArrayLike<number>, i: number, tokenizer: T5Tokenizer, vocab: number): Int32Array {
  if (!id || typeof id !== 'object' || typeof id.length !== 'number' || id.length === 0) throw new SemidArgumentError(`ids[${i}]`, 'a non-empty list of tokens', id);
  const out = new Int32Array(id.length);
  for (let k = 0; k < id.length; k++) {
    const t = id[k];
    if (typeof t === 'string') {
      const tid = tokenizer.tokenId(t);
      if (tid === undefined) throw new SemidArgumentError(`ids[${i}][${k}]`, 'a token of the model\'s tokenizer', t);
      out[k] = tid;
    } else if (Number.isInteger(t) && t >= 0 && t < vocab) {
      out[k] = t;
    } else {
      throw new SemidArgumentError(`ids[${i}][${k}]`, `a token name or a token id below ${vocab}`, t);
    }
    if (out[k] >= vocab) throw new SemidError('ERR_SEMID_INVALID_ARG', `ids[${i}][${k}] = ${JSON.stringify(t)} is token ${out[k]}, outside the model's ${vocab} embeddings (grow them with resizeTokenEmbeddings)`);
  }
  return out;
}

/** Rows of one length, back to back. */
function flatten(rows: Int32Array[]): Int32Array {
  const out = new Int32Array(rows.length * rows[0].length);
  rows.forEach((r, i) => out.set(r, i * r.length));
  return out;
}

/**
 * The encoder input of a history as the study builds its prompts: the template's text around
 * `{history}` tokenized on its own, the last `historyItems` items' ID tokens spliced in as they
 * are (oldest first; the oldest dropped whole while the input is longer than maxSourceLength), the
 * end token last. semid train builds its history pairs with it, and GenerativeRetriever.recommend.
 * @example historyTokens(tokenizer, 'recommend: {history}', [Int32Array.of(2003, 2260)], { eos: 1, maxSourceLength: 512, historyItems: 20 })
 */
export function historyTokens(tokenizer: T5Tokenizer, template: string, history: Int32Array[], o: { eos: number; maxSourceLength: number; historyItems: number }): Int32Array {
  const [before, after] = template.split('{history}');
  const pre = Array.from(tokenizer.encode(before));
  if (pre[pre.length - 1] === o.eos) pre.pop();
  const post = Array.from(tokenizer.encode(after ?? ''));
  if (post[post.length - 1] !== o.eos) post.push(o.eos);
  let first = Math.max(0, history.length - o.historyItems);
  const length = () => { let n = pre.length + post.length; for (let k = first; k < history.length; k++) n += history[k].length; return n; };
  while (first < history.length - 1 && length() > o.maxSourceLength) first++;  // the oldest go first, whole
  const out: number[] = [...pre];
  for (let k = first; k < history.length; k++) out.push(...history[k]);
  out.push(...post);
  return cutSource(Int32Array.from(out), o.maxSourceLength, o.eos);
}

/**
 * An encoder input cut to `max` tokens, its end token kept last (the input itself when it fits).
 * @example cutSource(Int32Array.of(5, 6, 7, 1), 3, 1) // Int32Array [5, 6, 1]
 */
export function cutSource(ids: Int32Array, max: number, eos: number): Int32Array {
  if (ids.length <= max) return ids;
  const out = ids.slice(0, max);
  out[max - 1] = eos;
  return out;
}

/** The prompt, length and history settings of RetrieverOptions, checked, with their defaults. */
function checkSettings(o: Pick<RetrieverOptions, 'prompt' | 'maxSourceLength' | 'historyPrompt' | 'historyItems'>) {
  if (o.prompt !== undefined && typeof o.prompt !== 'function') throw new SemidArgumentError('prompt', 'a function (query) => text', o.prompt);
  const maxSourceLength = expectInt('maxSourceLength', o.maxSourceLength ?? 512, 2, 1 << 20);
  if (o.historyPrompt !== undefined && (typeof o.historyPrompt !== 'string' || o.historyPrompt.split('{history}').length !== 2)) {
    throw new SemidArgumentError('historyPrompt', 'a template holding {history} once, e.g. "recommend: {history}"', o.historyPrompt);
  }
  const historyItems = expectInt('historyItems', o.historyItems ?? 20, 1, 1 << 20);
  return { prompt: o.prompt ?? ((q: string) => q), maxSourceLength, historyPrompt: o.historyPrompt, historyItems };
}
