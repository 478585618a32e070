/**
 * The eight Semantic ID constructions of the study, from embeddings to each item's token sequence
 * for search and for recommendation, with the vocabulary they add:
 *   content, search, rec, multitask, fused-concat, fused-svd: one space, one quantizer, one token
 *     set <id_l_c> shared by both tasks (levels x K tokens, 512 for 2 x 256);
 *   separate: search IDs from the search space as <s_l_c>, rec IDs from the rec space as <r_l_c>;
 *     the search prompt decodes only search tokens, the rec prompt only rec tokens (2 x 512);
 *   prefix-share: a shared first level quantizes the concatenation of both (normalised) spaces
 *     (<p_0_c>, K tokens); each task's later levels quantize what that shared code leaves of its own
 *     space (<s_l_c>, <r_l_c>): the encoder over the concatenation and two task decoders, 256 + 512.
 * Collisions: `keep` (an ID names all its items) or `dedup` (an extra level <dup_k> numbering the
 * items that share an ID, as TIGER does; every item gets one, so IDs keep one length).
 */
import { SemidArgumentError } from '../kernels/errors.js';
import { expectInt } from '../kernels/validate.js';
import { loadEmbeddings } from '../embed/store.js';
import { normalizeRows } from '../embed/vectors.js';
import { codeStats, type CodeStats } from './stats.js';
import { dedupCodes } from './dedup.js';
import { DictionaryQuantizer } from './dictionary.js';
import { RQKMeansQuantizer, ResidualLFQ, quantizerStats, readQuantizerFile, type Quantizer, type QuantizerFitOptions, type QuantizerName, type QuantizerStats } from './quantizer.js';
import { RqVaeQuantizer } from './rqvae.js';

export const STRATEGIES = ['content', 'search', 'rec', 'multitask', 'separate', 'prefix-share', 'fused-concat', 'fused-svd'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const QUANTIZERS: QuantizerName[] = ['rqkmeans', 'dictionary', 'rlfq', 'rqvae'];

/**
 * What to do with collisions (two items, one ID): 'keep' (an ID names all its items) or 'dedup'
 * (TIGER's level numbering the items of an ID: every ID unique).
 */
export type CollisionPolicy = 'keep' | 'dedup';

/**
 * A collision policy checked: `value` itself, or a SemidArgumentError naming `name`.
 * @example expectCollisionPolicy('collisions', 'dedup') // 'dedup'
 */
export function expectCollisionPolicy(name: string, value: unknown): CollisionPolicy {
  if (value !== 'keep' && value !== 'dedup') throw new SemidArgumentError(name, '"keep" or "dedup"', value);
  return value;
}

export interface IdSettings {
  quantizer?: QuantizerName;
  levels?: number;
  codebookSize?: number;
  collisions?: CollisionPolicy;
  seed?: number;
  iters?: number;
  signal?: AbortSignal;
}

export interface NamespaceIds {
  /** Namespace name: "id" (shared), "s" / "r" (Separate), "p+s" / "p+r" (Prefix-share). */
  name: string;
  /** [items x levels] codes (before the dedup level). */
  codes: Int32Array;
  levels: number;
  /** Token names of each item's ID (dedup level included). */
  tokens: string[][];
  quality: QuantizerStats | null;
  /** Collisions after the policy. */
  collisions: CodeStats;
  /** With `dedup`: the collisions its level told apart (those of `keep`). */
  collisionsBeforeDedup?: CodeStats;
}

export interface IdAssignment {
  strategy: Strategy;
  /** recSpace: how the rec space was quantised (rec and separate only). */
  settings: Required<Omit<IdSettings, 'signal'>> & { recSpace?: string };
  items: number;
  search: NamespaceIds;
  rec: NamespaceIds;
  /** Every token the strategy adds to the model's vocabulary, in a fixed order. */
  vocabulary: string[];
}

/**
 * Fit the named quantizer.
 * @example const q = await fitQuantizer('dictionary', x, 64, { levels: 2, codebookSize: 256, seed: 42 });
 */
export async function fitQuantizer(name: QuantizerName, x: Float32Array, dim: number, o: QuantizerFitOptions): Promise<Quantizer> {
  switch (name) {
    case 'rqkmeans': return RQKMeansQuantizer.fit(x, dim, o);
    case 'dictionary': return DictionaryQuantizer.fit(x, dim, o);
    case 'rlfq': return ResidualLFQ.fit(x, dim, o);
    case 'rqvae': return RqVaeQuantizer.fit(x, dim, o);
    default: throw new SemidArgumentError('quantizer', QUANTIZERS.join(', '), name);
  }
}

/**
 * A quantizer saved with saveQuantizer, ready to encode new items (cold start) and decode codes.
 * @example const q = loadQuantizer('runs/x/rlfq.json'); const codes = await q.encode(newItems);
 */
export function loadQuantizer(path: string): Quantizer {
  const j = readQuantizerFile(path);
  switch (j.name) {
    case 'rqkmeans': return RQKMeansQuantizer.fromJSON(j, path);
    case 'dictionary': return DictionaryQuantizer.fromJSON(j, path);
    case 'rlfq': return ResidualLFQ.fromJSON(j, path);
    default: return RqVaeQuantizer.fromJSON(j, path);
  }
}

function tokensOf(codes: Int32Array, levels: number, prefixes: string[], offsetLevel = 0): string[][] {
  const n = codes.length / levels;
  return Array.from({ length: n }, (_, i) => Array.from({ length: levels }, (_, l) => `<${prefixes[l]}_${l + offsetLevel}_${codes[i * levels + l]}>`));
}

/**
 * Apply the collision policy to a namespace's tokens [items][levels] of codes [items x levels]:
 * `dedup` appends <dup_k>, k = the item's number among those sharing its ID (dedupCodes'),
 * and says how many such tokens it uses.
 */
function applyCollisions(tokens: string[][], codes: Int32Array, levels: number, policy: CollisionPolicy): { tokens: string[][]; dupTokens: number } {
  if (policy === 'keep') return { tokens, dupTokens: 0 };
  const d = dedupCodes(codes, levels);
  return { tokens: tokens.map((t, i) => [...t, `<dup_${d.codes[i * d.levels + levels]}>`]), dupTokens: d.suffixSize };
}

/** How the rec (ENMF) space is quantised, recorded in the IDs' settings. */
export const REC_SPACE = 'l2-normalised';

/**
 * The rec space as quantised: ENMF item embeddings with each row L2-normalised. ENMF's norms carry
 * popularity, and residual k-means on the raw vectors sends the many rarely seen items (tiny
 * norms) into one cell (on ml-latest-small: 1,114 items behind one ID). The other spaces are unit
 * rows already (content, search, multitask) or fused from normalised rows.
 */
function recSpace(runDir: string) {
  const e = loadEmbeddings(runDir, 'rec');
  return { ...e, data: normalizeRows(Float32Array.from(e.data), e.dim) };
}

function collisionStats(tokens: string[][]): CodeStats {
  const ids = new Map<string, number>();
  const codes = new Int32Array(tokens.length);
  tokens.forEach((t, i) => { const key = t.join(' '); if (!ids.has(key)) ids.set(key, ids.size); codes[i] = ids.get(key)!; });
  return codeStats(codes, 1, Math.max(1, ids.size));
}

async function quantizeSpace(space: Float32Array, dim: number, s: Required<Omit<IdSettings, 'signal'>>, signal?: AbortSignal) {
  const q = await fitQuantizer(s.quantizer, space, dim, { levels: s.levels, codebookSize: s.codebookSize, seed: s.seed, iters: s.iters, signal });
  try {
    const codes = await q.encode(space);
    return { codes, quality: await quantizerStats(q, space, codes) };
  } finally {
    q.dispose?.();
  }
}

/**
 * Build a strategy's IDs from a run's embeddings.
 * @example const ids = await buildIds('multitask', 'runs/default', { quantizer: 'rqkmeans', levels: 2, codebookSize: 256 });
 */
export async function buildIds(strategy: Strategy, runDir: string, options: IdSettings = {}): Promise<IdAssignment> {
  if (!STRATEGIES.includes(strategy)) throw new SemidArgumentError('strategy', STRATEGIES.join(', '), strategy);
  const s = {
    quantizer: options.quantizer ?? 'rqkmeans', levels: expectInt('levels', options.levels ?? 2, 1, 16),
    codebookSize: expectInt('codebookSize', options.codebookSize ?? 256, 2, 1 << 16), collisions: options.collisions ?? 'keep',
    seed: options.seed ?? 42, iters: options.iters ?? 20,
  } as Required<Omit<IdSettings, 'signal'>>;
  if (!QUANTIZERS.includes(s.quantizer)) throw new SemidArgumentError('quantizer', QUANTIZERS.join(', '), s.quantizer);
  expectCollisionPolicy('collisions', s.collisions);
  const L = s.levels;
  const K = s.codebookSize;
  let dupTokens = 0;  // <dup_k> tokens the namespaces use (dedup)
  const make = (name: string, codes: Int32Array, levels: number, prefixes: string[], quality: QuantizerStats | null): NamespaceIds => {
    const kept = tokensOf(codes, levels, prefixes);
    const { tokens, dupTokens: used } = applyCollisions(kept, codes, levels, s.collisions);
    dupTokens = Math.max(dupTokens, used);
    const before = s.collisions === 'dedup' ? { collisionsBeforeDedup: collisionStats(kept) } : {};
    return { name, codes, levels, tokens, quality, collisions: collisionStats(tokens), ...before };
  };
  let search: NamespaceIds;
  let rec: NamespaceIds;
  const vocabulary: string[] = [];
  const addVocab = (prefix: string, from: number, to: number) => { for (let l = from; l < to; l++) for (let c = 0; c < K; c++) vocabulary.push(`<${prefix}_${l}_${c}>`); };
  if (strategy === 'separate') {
    const a = loadEmbeddings(runDir, 'search');
    const b = recSpace(runDir);
    const qa = await quantizeSpace(a.data, a.dim, s, options.signal);
    const qb = await quantizeSpace(b.data, b.dim, s, options.signal);
    search = make('s', qa.codes, L, Array(L).fill('s'), qa.quality);
    rec = make('r', qb.codes, L, Array(L).fill('r'), qb.quality);
    addVocab('s', 0, L);
    addVocab('r', 0, L);
  } else if (strategy === 'prefix-share') {
    if (L < 2) throw new SemidArgumentError('levels', 'at least 2 for prefix-share (one shared level, then task levels)', L);
    const a = loadEmbeddings(runDir, 'search');
    const b = loadEmbeddings(runDir, 'rec');
    const n = a.rows;
    const na = normalizeRows(Float32Array.from(a.data), a.dim);
    const nb = normalizeRows(Float32Array.from(b.data), b.dim);
    const cat = new Float32Array(n * (a.dim + b.dim));
    for (let i = 0; i < n; i++) { cat.set(na.subarray(i * a.dim, (i + 1) * a.dim), i * (a.dim + b.dim)); cat.set(nb.subarray(i * b.dim, (i + 1) * b.dim), i * (a.dim + b.dim) + a.dim); }
    const shared = await fitQuantizer(s.quantizer, cat, a.dim + b.dim, { levels: 1, codebookSize: K, seed: s.seed, iters: s.iters, signal: options.signal });
    let c0: Int32Array;
    let rec0: Float32Array;
    try {
      c0 = await shared.encode(cat);
      rec0 = await shared.decode(c0);
    } finally {
      shared.dispose?.();
    }
    const residual = (src: Float32Array, dim: number, offset: number) => {
      const out = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) out[i * dim + j] = src[i * dim + j] - rec0[i * (a.dim + b.dim) + offset + j];
      return out;
    };
    const sub = { ...s, levels: L - 1 };
    const qa = await quantizeSpace(residual(na, a.dim, 0), a.dim, sub, options.signal);
    const qb = await quantizeSpace(residual(nb, b.dim, a.dim), b.dim, sub, options.signal);
    const join = (rest: Int32Array) => { const out = new Int32Array(n * L); for (let i = 0; i < n; i++) { out[i * L] = c0[i]; out.set(rest.subarray(i * (L - 1), (i + 1) * (L - 1)), i * L + 1); } return out; };
    search = make('p+s', join(qa.codes), L, ['p', ...Array(L - 1).fill('s')], qa.quality);
    rec = make('p+r', join(qb.codes), L, ['p', ...Array(L - 1).fill('r')], qb.quality);
    addVocab('p', 0, 1);
    addVocab('s', 1, L);
    addVocab('r', 1, L);
  } else {
    const e = strategy === 'rec' ? recSpace(runDir) : loadEmbeddings(runDir, strategy);
    const q = await quantizeSpace(e.data, e.dim, s, options.signal);
    search = make('id', q.codes, L, Array(L).fill('id'), q.quality);
    rec = search;
    addVocab('id', 0, L);
  }
  for (let k = 0; k < dupTokens; k++) vocabulary.push(`<dup_${k}>`);
  const settings = strategy === 'rec' || strategy === 'separate' ? { ...s, recSpace: REC_SPACE } : s;
  return { strategy, settings, items: search.tokens.length, search, rec, vocabulary };
}

