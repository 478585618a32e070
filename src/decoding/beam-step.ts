/**
 * One batched step of trie-constrained diverse beam search on the native kernels (CPU threads
 * over the queries, or CUDA): mask what the trie forbids, log-softmax when given logits, add the
 * running scores, apply the Hamming diversity penalty group by group, keep each group's best.
 * Semantics are documented in beam-step-reference.ts (the oracle) and native/include/semid/beam.h.
 */
import { loadAddon } from '../native/loader.js';
import { cancelFlag } from '../kernels/abort.js';
import { resolveDevice, type Device } from '../kernels/device.js';
import { fromNative, SemidArgumentError, SemidError } from '../kernels/errors.js';
import { expectBoolean, expectInt, expectNumber, expectOptions, optionKeys, expectSignal, expectThreads } from '../kernels/validate.js';
import { allocateBeamStepOutput, beamStepReference } from './beam-step-reference.js';
import type { IdTrie } from './trie.js';

/** The state of every beam and the model's scores for their next token. */
export interface BeamStepInput {
  /** Queries in the batch. */
  batch: number;
  /** Beams per query. */
  beams: number;
  /** Diversity groups; must divide beams. */
  groups: number;
  /** Columns of each scores row (the model's vocabulary; every trie token must be below it). */
  vocab: number;
  /** [batch, inputBeams, vocab] log-probabilities, or logits when `logits` is true. */
  scores: Float32Array;
  /** Rows of scores per query: 1 (all beams read one row: the first step) or beams. */
  inputBeams: number;
  /** scores are logits: each row is log-softmaxed first (default false: log-probabilities). */
  logits?: boolean;
  /** [batch, beams] each beam's trie node; -1 marks an inactive beam. */
  nodes: Int32Array;
  /** [batch, beams] running log-probability of each beam. */
  beamScores: Float32Array;
  /** Optional [batch, groups]: 1 where a group has finished (its beams become inactive). */
  groupDone?: Uint8Array;
  /** Hamming diversity penalty (>= 0). */
  penalty: number;
  /** The token that ends an ID (allowed where an ID ends), or -1 / absent for none. */
  endToken?: number;
}

/** The option names of BeamStepInput (checked against it at compile time): any other key is an error. */
const BEAM_STEP_INPUT_KEYS = optionKeys<BeamStepInput>()(['batch', 'beams', 'groups', 'vocab', 'scores', 'inputBeams', 'logits', 'nodes', 'beamScores', 'groupDone', 'penalty', 'endToken']);

/** The next beams and the IDs finished at this step (eight views into one ArrayBuffer). */
export interface BeamStepOutput {
  /** [batch, beams] next trie node (-1 inactive), score, parent beam (0..beams-1) and token. */
  nextNodes: Int32Array;
  nextScores: Float32Array;
  nextParents: Int32Array;
  nextTokens: Int32Array;
  /** [batch, groups] IDs finished by the end token in each group at this step. */
  finishedCount: Int32Array;
  /** [batch, groups, groupSize] parent beam, score (end token included) and terminal node. */
  finishedParent: Int32Array;
  finishedScore: Float32Array;
  finishedNode: Int32Array;
}

export interface BeamStepOptions {
  /** 'native' (default) or 'reference' (the plain TypeScript oracle). */
  backend?: 'native' | 'reference';
  /**
   * 'auto' (default: the CPU; CUDA only when asked, the copies rarely pay for one step), 'cpu',
   * 'cuda'. With 'cuda' each step copies its scores up and its results back; the trie is copied
   * once per IdTrie and kept on the device (a few tries, the least recently used replaced).
   */
  device?: Device;
  threads?: number;
  signal?: AbortSignal;
  /**
   * Arrays to write the outputs into instead of new ones: allocateBeamStepOutput's layout, e.g.
   * over the buffer of the step before last, as a search reuses them. Every next* entry and every
   * finishedCount is written; finished entries past a group's count keep what they held. They
   * must not share memory with the inputs.
   */
  out?: BeamStepOutput;
}

/** The option names of BeamStepOptions (checked against it at compile time): any other key is an error. */
const BEAM_STEP_KEYS = optionKeys<BeamStepOptions>()(['backend', 'device', 'threads', 'signal', 'out']);

/**
 * Check an input against the trie; returns it with defaults filled.
 * @example validateBeamStep(trie, { batch: 1, beams: 2, groups: 2, vocab: 4, scores, inputBeams: 2, nodes, beamScores, penalty: 0.25 }).endToken // -1 (the default filled in)
 */
export function validateBeamStep(trie: IdTrie, input: BeamStepInput): Required<Omit<BeamStepInput, 'groupDone'>> & { groupDone?: Uint8Array } {
  const i = expectOptions<BeamStepInput>('input', input, BEAM_STEP_INPUT_KEYS);
  const batch = expectInt('batch', i.batch, 0, 2 ** 31 - 1);
  const beams = expectInt('beams', i.beams, 1, 1024);
  const groups = expectInt('groups', i.groups, 1, beams);
  if (beams % groups !== 0) throw new SemidArgumentError('groups', `a divisor of beams=${beams}`, groups);
  const vocab = expectInt('vocab', i.vocab, 1, 2 ** 30);
  const need = trie.vocabSize;
  if (vocab < need) throw new SemidArgumentError('vocab', `at least ${need} (the trie holds token ${need - 1})`, vocab);
  const inputBeams = expectInt('inputBeams', i.inputBeams, 1, beams);
  if (inputBeams !== 1 && inputBeams !== beams) throw new SemidArgumentError('inputBeams', `1 or beams=${beams}`, inputBeams);
  const logits = expectBoolean('logits', i.logits ?? false);
  const penalty = expectNumber('penalty', i.penalty, 0);
  const endToken = expectInt('endToken', i.endToken ?? -1, -1, vocab - 1);
  const f32 = (name: string, v: unknown, len: number, shape: string) => {
    if (!(v instanceof Float32Array) || v.length !== len) throw new SemidArgumentError(name, `Float32Array of length ${len} (${shape})`, v);
    return v;
  };
  const i32 = (name: string, v: unknown, len: number, shape: string) => {
    if (!(v instanceof Int32Array) || v.length !== len) throw new SemidArgumentError(name, `Int32Array of length ${len} (${shape})`, v);
    return v;
  };
  const scores = f32('scores', i.scores, batch * inputBeams * vocab, `batch=${batch} x inputBeams=${inputBeams} x vocab=${vocab}`);
  const nodes = i32('nodes', i.nodes, batch * beams, `batch=${batch} x beams=${beams}`);
  for (let k = 0; k < nodes.length; ++k) {
    if (nodes[k] < -1 || nodes[k] >= trie.nodes) throw new SemidArgumentError(`nodes[${k}]`, `-1 or a node of the trie (0..${trie.nodes - 1})`, nodes[k]);
  }
  const beamScores = f32('beamScores', i.beamScores, batch * beams, `batch=${batch} x beams=${beams}`);
  let groupDone: Uint8Array | undefined;
  if (i.groupDone !== undefined) {
    if (!(i.groupDone instanceof Uint8Array) || i.groupDone.length !== batch * groups) {
      throw new SemidArgumentError('groupDone', `Uint8Array of length ${batch * groups} (batch x groups)`, i.groupDone);
    }
    groupDone = i.groupDone;
  }
  return { batch, beams, groups, vocab, inputBeams, logits, penalty, endToken, scores, nodes, beamScores, groupDone };
}

const OUTPUT_KEYS = ['nextNodes', 'nextScores', 'nextParents', 'nextTokens', 'finishedCount', 'finishedParent', 'finishedScore', 'finishedNode'] as const;

/** options.out checked against the step's shape: the right array types and lengths, no memory shared with the inputs. */
function validateStepOutput(out: BeamStepOutput, v: ReturnType<typeof validateBeamStep>): BeamStepOutput {
  if (out === null || typeof out !== 'object') throw new SemidArgumentError('out', 'a BeamStepOutput (allocateBeamStepOutput)', out);
  const B = v.batch * v.beams, G = v.batch * v.groups;
  const inputs = [v.scores.buffer, v.nodes.buffer, v.beamScores.buffer, v.groupDone?.buffer];
  for (const k of OUTPUT_KEYS) {
    const a = out[k], float = k === 'nextScores' || k === 'finishedScore', len = k === 'finishedCount' ? G : B;
    if (!(float ? a instanceof Float32Array : a instanceof Int32Array) || a.length !== len) {
      throw new SemidArgumentError(`out.${k}`, `${float ? 'Float32Array' : 'Int32Array'} of length ${len}`, a);
    }
    if (inputs.includes(a.buffer)) throw new SemidArgumentError(`out.${k}`, 'memory not shared with the step\'s inputs', 'a view of an input\'s buffer');
  }
  return out;
}

/** Dense-node rows per trie (a trie's arrays never change), computed by the addon on first use. */
const denseRowsCache = new WeakMap<IdTrie, Uint32Array>();

function denseRowsOf(trie: IdTrie, addon: ReturnType<typeof loadAddon>['addon']): Uint32Array | undefined {
  let rows = denseRowsCache.get(trie);
  if (rows === undefined) {
    if (addon.trieDenseRows === undefined) return undefined;  // an older addon: every node gathers
    rows = addon.trieDenseRows({ trieNodes: trie.nodes, trieEdges: trie.edges, childStart: trie.childStart, childToken: trie.childToken });
    denseRowsCache.set(trie, rows);
  }
  return rows;
}

/** A number per trie (its arrays never change), so the CUDA step keeps one device copy of it. */
const trieKeys = new WeakMap<IdTrie, number>();
let nextTrieKey = 1;

function trieKeyOf(trie: IdTrie): number {
  let key = trieKeys.get(trie);
  if (key === undefined) {
    key = nextTrieKey++;
    trieKeys.set(trie, key);
  }
  return key;
}

/**
 * Advance every query's beams by one token.
 *
 * @example
 * const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0]), length: 2 });
 * const out = await beamStep(trie, {
 *   batch: 1, beams: 2, groups: 1, vocab: 2, inputBeams: 1, penalty: 0,
 *   scores: new Float32Array([Math.log(0.6), Math.log(0.4)]),
 *   nodes: new Int32Array([trie.root(), trie.root()]), beamScores: new Float32Array([0, -1e9]),
 * });
 * // out.nextTokens = [0, 1]; out.nextScores ≈ [-0.51, -0.92]
 */
export async function beamStep(trie: IdTrie, input: BeamStepInput, options: BeamStepOptions = {}): Promise<BeamStepOutput> {
  const o = expectOptions<BeamStepOptions>('options', options, BEAM_STEP_KEYS);
  const v = validateBeamStep(trie, input);
  const backend = o.backend ?? 'native';
  if (backend !== 'native' && backend !== 'reference') throw new SemidArgumentError('backend', '"native" or "reference"', backend);
  const signal = expectSignal('signal', o.signal);
  const given = o.out === undefined ? undefined : validateStepOutput(o.out, v);
  if (backend === 'reference') {
    const ref = beamStepReference(trie, v);
    if (given === undefined) return ref;
    for (const k of OUTPUT_KEYS) given[k].set(ref[k]);
    return given;
  }
  const device = resolveDevice(o.device ?? 'cpu');
  const threads = expectThreads(o.threads);
  const out = given ?? allocateBeamStepOutput(v.batch, v.beams, v.groups);
  const cancel = cancelFlag(signal);
  try {
    const addon = loadAddon().addon;
    if (addon.beamStepArgs !== 31) {
      throw new SemidError('ERR_SEMID_STALE_ADDON', 'The native addon was built from an older semid (its beamStep takes an options object): rebuild it with `npm install` (or `npm run build:native`, and `npm run build:cuda` for the CUDA build)');
    }
    await addon.beamStep(
      trie.nodes, trie.edges, device === 'cuda' ? trieKeyOf(trie) : undefined,
      trie.childStart, trie.childToken, trie.childNode, trie.terminal, device === 'cpu' ? denseRowsOf(trie, addon) : undefined,
      v.batch, v.beams, v.groups, v.vocab, v.inputBeams, v.logits, v.penalty, v.endToken,
      v.scores, v.nodes, v.beamScores, v.groupDone,
      out.nextNodes, out.nextScores, out.nextParents, out.nextTokens,
      out.finishedCount, out.finishedParent, out.finishedScore, out.finishedNode,
      device, threads, cancel.flag,
    );
  } catch (err) {
    throw fromNative(err, signal);
  } finally {
    cancel.dispose();
  }
  return out;
}
