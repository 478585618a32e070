/**
 * Trie-constrained diverse beam search over a catalogue: drives any model through a `step`
 * callback (the T5 in tfjs, or anything that maps prefixes to next-token scores) and returns, for
 * each query, the ranked IDs with their scores and the items they name.
 *
 * Bookkeeping follows Hugging Face transformers' group beam search: the first beam of each group
 * starts at score 0 and the others at -1e9; every group keeps up to groupSize finished hypotheses,
 * scored sum_logprobs / generated_len ** lengthPenalty (generated_len = tokens generated, the end
 * token included, as transformers >= 4.36), and stops when they cannot be beaten (earlyStopping
 * false) or are full (true).
 * When the longest ID (plus the end token) has been generated, every unfinished group adds its
 * beams that stand at a complete ID; beams in the middle of an ID are never returned.
 * The final list is all groups' hypotheses sorted by score (ties: the later group, then the later
 * finisher first, as transformers' sort-and-pop), cut to numReturn; `items` expands it to items in that order, each ID once.
 */
import { throwIfAborted } from '../kernels/abort.js';
import type { Device } from '../kernels/device.js';
import { fromNative, SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectBoolean, expectInt, expectNumber, expectOptions, optionKeys, expectSignal, expectThreads } from '../kernels/validate.js';
import { loadAddon } from '../native/loader.js';
import type { RawAddon } from '../native/types.js';
import { beamStep } from './beam-step.js';
import { allocateBeamStepOutput, beamStepOutputBytes } from './beam-step-reference.js';
import { BufferViews } from './buffer-views.js';
import { FinishedHypotheses } from './finished-hypotheses.js';
import { IdSet } from './id-set.js';
import { queryResults } from './query-results.js';
import { searchScratch } from './scratch-pool.js';
import { addCompleteBeams, allSet, collectFinished, fillStepRows, finishQueries, reorderHistories } from './search-bookkeeping.js';
import type { IdTrie } from './trie.js';

/** What the model is asked at each step. */
export interface StepRequest {
  /** Step number: 0 for the first token. */
  step: number;
  /** Rows to score: batch at step 0 (one per query), batch * beams after. */
  rows: number;
  /** [rows x step] tokens generated so far for each row (0 in inactive rows). */
  tokens: Int32Array;
  /** [rows] the row of the previous request each row extends (-1 at step 0): reorder caches by it. */
  parents: Int32Array;
  /** [rows] the query each row belongs to. */
  queries: Int32Array;
  /** [rows] 1 when the row's beam is alive; inactive rows' scores are ignored. */
  active: Uint8Array;
}

/** Returns [rows x vocab] next-token logits (or log-probabilities with inputs: 'logprobs'). */
export type StepFn = (request: StepRequest) => Float32Array | Promise<Float32Array>;

export interface BeamSearchOptions {
  trie: IdTrie;
  step: StepFn;
  /** Number of queries. */
  batch: number;
  /** Beams per query (paper: 60). */
  beams?: number;
  /** Diversity groups (paper: 30); must divide beams. */
  groups?: number;
  /** Hamming diversity penalty (paper: 0.25). */
  diversityPenalty?: number;
  /** Token ending an ID (e.g. the model's EOS), one that no ID uses; needed when the IDs of a namespace differ in length. */
  endToken?: number;
  /** Namespace to decode in: one for all queries, or one per query (default: the first). */
  namespace?: string | string[];
  /** What step returns: 'logits' (default) or 'logprobs'. */
  inputs?: 'logits' | 'logprobs';
  /** Exponent on the ID length when ranking finished IDs (default 1, as transformers). */
  lengthPenalty?: number;
  earlyStopping?: boolean;
  /** Hypotheses returned per query (default: beams). */
  numReturn?: number;
  /**
   * 'objects' (default): a QueryResult per query. 'arrays': one BeamSearchArrays for the batch,
   * flat typed arrays (as FAISS returns distances and labels) and no object per hypothesis; at
   * batch 1,024 x beam 60 building ~61,000 objects costs about as much as the native steps.
   */
  format?: 'objects' | 'arrays';
  backend?: 'native' | 'reference';
  device?: Device;
  threads?: number;
  signal?: AbortSignal;
}

/** The option names of BeamSearchOptions (checked against it at compile time): any other key is an error. */
const BEAM_SEARCH_KEYS = optionKeys<BeamSearchOptions>()(['trie', 'step', 'batch', 'beams', 'groups', 'diversityPenalty', 'endToken', 'namespace', 'inputs', 'lengthPenalty', 'earlyStopping', 'numReturn', 'format', 'backend', 'device', 'threads', 'signal']);

export interface Hypothesis {
  /** The ID's tokens. */
  tokens: number[];
  /** Length-normalised score (sum of log-probabilities / length ** lengthPenalty). */
  score: number;
  /** Index of the ID in the trie, and the items it names. */
  id: number;
  items: Int32Array;
}

export interface QueryResult {
  /** Ranked hypotheses, best first (an ID can appear twice when two beams reached it). */
  hypotheses: Hypothesis[];
  /** Items in rank order, each ID expanded once; itemScores are their hypotheses' scores. */
  items: Int32Array;
  itemScores: Float32Array;
}

/**
 * Every query's ranked hypotheses in flat arrays (format: 'arrays'): the same hypotheses, order,
 * scores and items as the QueryResults, row q of each [batch, numReturn] array for query q.
 */
export interface BeamSearchArrays {
  batch: number;
  /** Columns of the [batch, numReturn] arrays. */
  numReturn: number;
  /** The last dimension of `tokens`: the most tokens a hypothesis can hold. */
  maxLength: number;
  /** [batch] hypotheses returned for each query (<= numReturn; the rest of its row is padding). */
  counts: Int32Array;
  /** [batch, numReturn] ID (index in the trie) of each hypothesis, best first; -1 as padding. */
  ids: Int32Array;
  /** [batch, numReturn] length-normalised scores (Hypothesis.score); NaN as padding. */
  scores: Float64Array;
  /** [batch, numReturn] tokens in each hypothesis' ID (0 as padding). */
  lengths: Int32Array;
  /** [batch, numReturn, maxLength] each hypothesis' ID tokens; -1 past its length. */
  tokens: Int32Array;
  /** [batch + 1] query q's ranked items are items[itemStart[q] .. itemStart[q + 1]). */
  itemStart: Int32Array;
  /** [itemStart[batch]] items in rank order per query, each ID expanded once (QueryResult.items). */
  items: Int32Array;
  /** [itemStart[batch]] each item's hypothesis score (QueryResult.itemScores). */
  itemScores: Float32Array;
}

/**
 * Decode every query with trie-constrained diverse beam search.
 *
 * From 16 queries up the finished IDs are kept and ranked on the native core (the same results
 * as the TypeScript, which the reference backend uses). Internal buffers of 64 KiB or more (the
 * finished IDs, the steps' outputs: ~6 MiB at batch 1,024 x beam 60) are kept for the next
 * search, up to 64 MiB in all; nothing returned points into them.
 *
 * @example
 * const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0, 1, 1]), length: 2 });
 * const results = await constrainedBeamSearch({
 *   trie, batch: 1, beams: 2, groups: 2, diversityPenalty: 0.25,
 *   step: ({ rows }) => new Float32Array(rows * 2).fill(0),  // uniform logits over 2 tokens
 * });
 * // results[0].items: the items of the two best IDs
 * // with format: 'arrays', one BeamSearchArrays: ids[q * numReturn + i], items[itemStart[q] ..]
 */
export async function constrainedBeamSearch(options: BeamSearchOptions & { format: 'arrays' }): Promise<BeamSearchArrays>;
export async function constrainedBeamSearch(options: BeamSearchOptions & { format?: 'objects' }): Promise<QueryResult[]>;
export async function constrainedBeamSearch(options: BeamSearchOptions): Promise<QueryResult[] | BeamSearchArrays>;
export async function constrainedBeamSearch(options: BeamSearchOptions): Promise<QueryResult[] | BeamSearchArrays> {
  const o = expectOptions<BeamSearchOptions>('options', options, BEAM_SEARCH_KEYS);
  const trie = o.trie;
  if (!trie || typeof trie !== 'object' || !(trie.childStart instanceof Int32Array)) throw new SemidArgumentError('trie', 'an IdTrie', trie);
  if (typeof o.step !== 'function') throw new SemidArgumentError('step', 'a function (request) => Float32Array', o.step);
  const batch = expectInt('batch', o.batch, 0, 2 ** 31 - 1);
  const beams = expectInt('beams', o.beams ?? 60, 1, 1024);
  const groups = expectInt('groups', o.groups ?? (o.beams === undefined ? 30 : 1), 1, beams);
  if (beams % groups !== 0) throw new SemidArgumentError('groups', `a divisor of beams=${beams}`, groups);
  const penalty = expectNumber('diversityPenalty', o.diversityPenalty ?? (o.beams === undefined ? 0.25 : 0), 0);
  const endToken = o.endToken === undefined ? -1 : expectEndToken(trie, o.endToken);
  const lengthPenalty = expectNumber('lengthPenalty', o.lengthPenalty ?? 1);
  const early = expectBoolean('earlyStopping', o.earlyStopping ?? false);
  const numReturn = expectInt('numReturn', o.numReturn ?? beams, 1, beams);
  const format = o.format ?? 'objects';
  if (format !== 'objects' && format !== 'arrays') throw new SemidArgumentError('format', '"objects" or "arrays"', format);
  const inputs = o.inputs ?? 'logits';
  if (inputs !== 'logits' && inputs !== 'logprobs') throw new SemidArgumentError('inputs', '"logits" or "logprobs"', inputs);
  const signal = expectSignal('signal', o.signal);
  const threads = expectThreads(o.threads);
  const roots = rootsFor(trie, batch, o.namespace);
  const { maxLength, queryLength } = searchLengths(trie, roots, endToken);
  const gs = beams / groups;
  const maxSteps = maxLength + (endToken >= 0 ? 1 : 0);
  const plan: SearchPlan = {
    trie, step: o.step, batch, beams, groups, penalty, endToken, lengthPenalty, early, numReturn, format,
    logits: inputs === 'logits', backend: o.backend, device: o.device, threads, signal, roots, maxSteps, queryLength,
  };
  // The store of finished IDs and two sets of step outputs (a step reads the last one's) reuse
  // buffers from search to search: fresh ones cost a page fault per 4 KiB on first touch (~4 us
  // each on this project's VM: ~6 MiB, 3-6 ms, at batch 1,024). The results never point into them.
  const scratch = [FinishedHypotheses.bytes(batch * groups, gs, maxSteps), beamStepOutputBytes(batch, beams, groups),
                   beamStepOutputBytes(batch, beams, groups)].map((n) => searchScratch.take(n));
  try {
    return await decode(plan, scratch);
  } finally {
    for (const b of scratch) searchScratch.give(b);
  }
}

/** A search's settings, validated by constrainedBeamSearch. */
interface SearchPlan {
  trie: IdTrie;
  step: StepFn;
  batch: number;
  beams: number;
  groups: number;
  penalty: number;
  endToken: number;
  lengthPenalty: number;
  early: boolean;
  numReturn: number;
  format: 'objects' | 'arrays';
  logits: boolean;
  backend: 'native' | 'reference' | undefined;
  device: Device | undefined;
  threads: number;
  signal: AbortSignal | undefined;
  /** [batch] each query's root node. */
  roots: Int32Array;
  /** Tokens generated at most: the longest ID the queries decode, and the end token when there is one. */
  maxSteps: number;
  /**
   * [batch] each query's ID length, where queries without an end token decode namespaces whose
   * IDs differ in length: a query's groups end when its IDs are complete. Undefined otherwise.
   */
  queryLength: Int32Array | undefined;
}

/**
 * The search of a validated plan: the store of finished IDs over scratch[0] and the steps'
 * outputs over scratch[1] and scratch[2] in turn (buffers of at least their bytes, contents
 * unspecified); nothing returned points into them.
 */
async function decode(p: SearchPlan, scratch: ArrayBuffer[]): Promise<QueryResult[] | BeamSearchArrays> {
  const { trie, batch, beams, groups, penalty, endToken, lengthPenalty, early, numReturn, format, signal, threads, roots, maxSteps } = p;
  const gs = beams / groups;
  let nodes: Int32Array = new Int32Array(batch * beams);
  let scores: Float32Array = new Float32Array(batch * beams).fill(-1e9);
  for (let q = 0; q < batch; ++q) {
    nodes.fill(roots[q], q * beams, (q + 1) * beams);
    for (let g = 0; g < groups; ++g) scores[q * beams + g * gs] = 0;
  }
  let tokens = new Int32Array(0);
  let parents = new Int32Array(batch).fill(-1);
  const hyps = new FinishedHypotheses(batch * groups, gs, maxSteps, lengthPenalty, early, scratch[0]);
  const done = new Uint8Array(batch * groups);
  let order = 0;
  let vocab = -1;

  for (let step = 0; step < maxSteps && batch > 0; ++step) {
    throwIfAborted(signal);
    const rows = step === 0 ? batch : batch * beams;
    // This step's arrays, views into one buffer (one allocation a step; a batch-1 search's own
    // allocations cost more than its native steps): the rows' queries and histories, then active.
    const width = step + 1;
    const views = new BufferViews(4 * (rows + batch * beams * (width + 1)) + rows);
    const queries = views.i32(rows), nextTokens = views.i32(batch * beams * width), nextParents = views.i32(batch * beams);
    const active = views.u8(rows);
    fillStepRows(step, batch, beams, nodes, queries, active);
    const out = await p.step({ step, rows, tokens, parents, queries, active });
    if (!(out instanceof Float32Array) || out.length === 0 || out.length % rows !== 0) {
      throw new SemidArgumentError('step() result', `a Float32Array of rows=${rows} x vocab values`, out);
    }
    if (vocab < 0) vocab = out.length / rows;
    else if (out.length !== rows * vocab) throw new SemidArgumentError('step() result', `a Float32Array of ${rows} x ${vocab} values`, out);
    const next = await beamStep(trie, {
      batch, beams, groups, vocab, scores: out, inputBeams: step === 0 ? 1 : beams, logits: p.logits,
      nodes, beamScores: scores, groupDone: done, penalty, endToken,
    }, { backend: p.backend, device: p.device, threads, signal, out: allocateBeamStepOutput(batch, beams, groups, scratch[1 + (step % 2)]) });
    // IDs finished by the end token (their length is `step` ID tokens), then the histories.
    order = collectFinished(next, hyps, done, tokens, step, batch, groups, beams, order);
    reorderHistories(next, tokens, step, batch, beams, nextTokens, nextParents);
    tokens = nextTokens;
    parents = nextParents;
    nodes = next.nextNodes;
    scores = next.nextScores;
    if (p.queryLength !== undefined && step + 1 < maxSteps) {  // queries whose IDs are complete now
      order = finishQueries(hyps, done, p.queryLength, step + 1, nodes, scores, tokens, trie.terminal, batch, groups, beams, order);
    }
    if (allSet(done)) break;
  }
  // Unfinished groups add their beams that stand at complete IDs; then every query's finished IDs
  // are ranked. Natively where the addon can (the TypeScript took ~3.5 and ~11 ms of a batch-1,024
  // search; the results are the same), from 16 queries: below that the native calls cost more
  // than they save (batch 4: 1.05x the time). The reference backend keeps the TypeScript, the oracle.
  const finalLen = tokens.length / Math.max(1, batch * beams);
  const native = p.backend === 'reference' || batch < NATIVE_FINISH_MIN_BATCH ? undefined : nativeFinisher();
  if (native === undefined) {
    addCompleteBeams(hyps, done, nodes, scores, tokens, finalLen, trie.terminal, batch, groups, beams, order);
    if (format === 'arrays') return hyps.rankedArrays(trie, batch, groups, numReturn);
    const results: QueryResult[] = [];
    for (let q = 0; q < batch; ++q) results.push(hyps.ranked(trie, q * groups, groups, numReturn));
    return results;
  }
  let arrays: BeamSearchArrays;
  try {
    await hyps.addCompleteBeamsNative(native, trie, done, nodes, scores, tokens, finalLen, batch, groups, beams, order);
    arrays = await hyps.rankedArraysNative(native, trie, batch, groups, numReturn, threads);
  } catch (err) {
    throw fromNative(err, signal);
  }
  return format === 'arrays' ? arrays : queryResults(arrays, trie);
}

/** Searches of at least this many queries keep and rank their finished IDs natively. */
const NATIVE_FINISH_MIN_BATCH = 16;

type NativeFinisher = Required<Pick<RawAddon, 'rankFinished' | 'gatherRankedItems' | 'addCompleteBeams'>>;

/** The addon's functions for the finished IDs, or undefined where the addon lacks them (an older build). */
function nativeFinisher(): NativeFinisher | undefined {
  const addon = loadAddon().addon;
  if (addon.rankFinished === undefined || addon.gatherRankedItems === undefined || addon.addCompleteBeams === undefined) return undefined;
  return addon as NativeFinisher;
}

const firstIds = new IdSet();

/**
 * Expand ranked hypotheses into ranked items, each ID once.
 *
 * @example
 * const h = { tokens: [1], score: -0.5, id: 3, items: new Int32Array([7, 9]) };
 * rankItems([h, { ...h, score: -0.9 }]).items;  // Int32Array [7, 9]: the second names the same ID
 */
export function rankItems(hypotheses: Hypothesis[]): QueryResult {
  // The first hypothesis of each ID, then the items sized and filled in one pass: this runs once
  // per query, 1,024 times a batch.
  const n = hypotheses.length;
  const firsts: Hypothesis[] = [];
  let fits = true;
  for (let i = 0; i < n && fits; ++i) fits = IdSet.fits(hypotheses[i].id);
  const seen = fits ? undefined : new Set<number>();  // ids beyond IdSet's int32 range
  if (fits) firstIds.clear(n);
  let total = 0;
  for (let i = 0; i < n; ++i) {
    const h = hypotheses[i];
    if (seen) {
      if (seen.has(h.id)) continue;
      seen.add(h.id);
    } else if (!firstIds.add(h.id)) {
      continue;
    }
    firsts.push(h);
    total += h.items.length;
  }
  const items = new Int32Array(total), itemScores = new Float32Array(total);
  let k = 0;
  for (const h of firsts) {  // element loops: most IDs name one item, and set()/fill() cost a builtin call each
    const src = h.items, score = h.score;
    for (let i = 0; i < src.length; ++i, ++k) {
      items[k] = src[i];
      itemScores[k] = score;
    }
  }
  return { hypotheses, items, itemScores };
}

/**
 * A search's end token: an integer token that no ID uses (a token that also continues an ID would
 * make "end here" and "go on" the same choice).
 *
 * @example
 * expectEndToken(IdTrie.build({ codes: new Int32Array([0, 1]), length: 2 }), 2);  // 2
 */
export function expectEndToken(trie: IdTrie, value: unknown): number {
  const endToken = expectInt('endToken', value, 0, 2 ** 30 - 1);
  if (trie.usesToken(endToken)) {
    throw new SemidArgumentError('endToken', 'a token that no ID uses (the end token must differ from every ID token)', endToken);
  }
  return endToken;
}

export function rootsFor(trie: IdTrie, batch: number, namespace: string | string[] | undefined): Int32Array {
  const roots = new Int32Array(batch);
  if (Array.isArray(namespace)) {
    if (namespace.length !== batch) throw new SemidArgumentError('namespace', `one namespace per query (${batch})`, namespace);
    for (let q = 0; q < batch; ++q) roots[q] = trie.root(namespace[q]);
  } else {
    roots.fill(trie.root(namespace));
  }
  return roots;
}

/**
 * The longest ID the queries decode and, without an end token, each query's ID length where
 * their namespaces' lengths differ. Without an end token every ID of a namespace a query decodes
 * must have one length (so none is a prefix of another): a search cannot otherwise tell where an
 * ID ends. O(batch), the namespaces' lengths found once per trie.
 */
function searchLengths(trie: IdTrie, roots: Int32Array, endToken: number): { maxLength: number; queryLength: Int32Array | undefined } {
  const lengthOf = new Map<number, number>();  // root -> its namespace's longest ID
  for (let q = 0; q < roots.length; ++q) {
    const root = roots[q];
    if (lengthOf.has(root)) continue;
    const ns = trie.roots.indexOf(root);
    const l = trie.idLengths(ns);
    if (endToken < 0 && l.prefixNode >= 0) {
      throw new SemidError('ERR_SEMID_INVALID_ARG', `The trie has an ID that is a prefix of another (node ${l.prefixNode}): pass endToken so that decoding can tell where IDs end`);
    }
    if (endToken < 0 && l.min !== l.max) {
      throw new SemidError('ERR_SEMID_INVALID_ARG', `The IDs of namespace ${JSON.stringify(trie.namespaces[ns])} have ${l.min} to ${l.max} tokens: pass endToken so that decoding can tell where IDs end (without one, every ID a query decodes must have the same length)`);
    }
    lengthOf.set(root, l.max);
  }
  const lengths = [...lengthOf.values()];
  const maxLength = lengths.length === 0 ? 0 : Math.max(...lengths);
  const queryLength = endToken < 0 && lengths.some((l) => l !== maxLength) ? Int32Array.from(roots, (r) => lengthOf.get(r)!) : undefined;
  return { maxLength, queryLength };
}
