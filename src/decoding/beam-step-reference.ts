/**
 * The plain TypeScript beam step: the oracle the native kernels are tested against. Semantics
 * (those of Hugging Face transformers' group beam search with prefix_allowed_tokens_fn):
 *  - groups of groupSize = beams / groups beams run in order;
 *  - candidate score = fround(fround(logp[t] - fround(penalty * freq[t])) + beamScore), where
 *    logp is the row itself (log-probs) or fround(row[t] - fround(logsumexp(row))) (logits), and freq[t]
 *    counts how often t was chosen at this step by the continuing beams of earlier groups;
 *  - a group keeps its top 2 * groupSize candidates (score descending, then flat index
 *    beamInGroup * vocab + token ascending) and walks them: an end-token candidate finishes its ID
 *    when its rank is below groupSize (else it is skipped); any other becomes the next beam until
 *    groupSize beams are filled. Unfilled beams become inactive (node -1, score -Infinity).
 */
import { SemidError } from '../kernels/errors.js';
import type { IdTrie } from './trie.js';
import type { BeamStepInput, BeamStepOutput } from './beam-step.js';
import { BufferViews } from './buffer-views.js';

interface Cand { score: number; flat: number; beam: number; token: number; child: number }

const better = (a: Cand, b: Cand) => a.score > b.score || (a.score === b.score && a.flat < b.flat);

/** log(sum(exp(row[off .. off + V)))) in float64; -Infinity for a row of only -Infinity. */
export function logSumExp(row: Float32Array, off: number, V: number): number {
  let m = -Infinity;
  for (let i = 0; i < V; ++i) if (row[off + i] > m) m = row[off + i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < V; ++i) s += Math.exp(row[off + i] - m);
  return m + Math.log(s);
}

/**
 * Bytes of a step's outputs (allocateBeamStepOutput's one buffer).
 *
 * @example
 * beamStepOutputBytes(1, 2, 1);  // 60: seven int32/float32 entries per beam, one per group
 */
export function beamStepOutputBytes(batch: number, beams: number, groups: number): number {
  return (7 * batch * beams + batch * groups) * 4;
}

/**
 * Output buffers of one step for batch x beams beams in `groups` groups: eight views into one
 * ArrayBuffer (one allocation: a small search makes a step or two a query, and eight typed-array
 * allocations cost more than the step's call into the addon), a new zeroed one or `buffer` (of
 * at least beamStepOutputBytes) as it is: beamStep's `out`, reused from step to step.
 *
 * @example
 * const out = allocateBeamStepOutput(4, 60, 30);  // out.nextNodes: Int32Array(240)
 * // two sets in turn, each step writing one and reading the other's nextNodes / nextScores:
 * // await beamStep(trie, { ...input, nodes: prev.nextNodes, beamScores: prev.nextScores }, { out });
 */
export function allocateBeamStepOutput(batch: number, beams: number, groups: number, buffer?: ArrayBuffer): BeamStepOutput {
  const B = batch * beams, G = batch * groups;  // finished slots: groups x (beams / groups) = B
  const v = new BufferViews(buffer ?? beamStepOutputBytes(batch, beams, groups));
  return {
    nextNodes: v.i32(B), nextScores: v.f32(B), nextParents: v.i32(B), nextTokens: v.i32(B),
    finishedCount: v.i32(G), finishedParent: v.i32(B), finishedScore: v.f32(B), finishedNode: v.i32(B),
  };
}

/**
 * One beam step computed with plain loops (no native code).
 *
 * @example
 * const trie = IdTrie.build({ codes: new Int32Array([0, 1, 1, 0]), length: 2 });
 * const out = beamStepReference(trie, {
 *   scores: new Float32Array([Math.log(0.6), Math.log(0.4)]), inputBeams: 1, logits: false,
 *   nodes: new Int32Array([trie.root(), trie.root()]), beamScores: new Float32Array([0, -1e9]),
 *   batch: 1, beams: 2, groups: 1, vocab: 2, penalty: 0, endToken: -1,
 * });
 * // out.nextTokens = [0, 1]
 */
export function beamStepReference(trie: IdTrie, input: BeamStepInput): BeamStepOutput {
  const { batch, beams: B, groups: G, vocab: V, inputBeams } = input;
  const gs = B / G;
  const out = allocateBeamStepOutput(batch, B, G);
  const penalty = Math.fround(input.penalty);
  const end = input.endToken ?? -1;
  for (let b = 0; b < batch; ++b) {
    const lse = new Map<number, number>();
    const rowOf = (j: number) => (inputBeams === 1 ? 0 : j);
    const freq = new Map<number, number>();
    for (let g = 0; g < G; ++g) {
      const first = g * gs;
      const cands: Cand[] = [];
      const done = input.groupDone?.[b * G + g] === 1;
      for (let jl = 0; jl < gs && !done; ++jl) {
        const j = first + jl, node = input.nodes[b * B + j];
        if (node < 0) continue;
        const r = rowOf(j), off = (b * inputBeams + r) * V;
        if (input.logits && !lse.has(r)) {
          for (let i = 0; i < V; ++i) {
            const v = input.scores[off + i];
            if (Number.isNaN(v) || v === Infinity) throw new SemidError('ERR_SEMID_NOT_FINITE', `scores row ${b * inputBeams + r} holds NaN or +Infinity`);
          }
          lse.set(r, logSumExp(input.scores, off, V));
        }
        const base = input.beamScores[b * B + j];
        const score = (t: number) => {
          let lp = input.logits ? Math.fround(input.scores[off + t] - Math.fround(lse.get(r)!)) : input.scores[off + t];
          if (Number.isNaN(lp)) throw new SemidError('ERR_SEMID_NOT_FINITE', `scores hold NaN for query ${b}, beam ${j}, token ${t} (a NaN log-probability, or logits that are -Infinity across the whole row)`);
          const f = freq.get(t) ?? 0;
          if (f !== 0) lp = Math.fround(lp - Math.fround(penalty * f));
          return Math.fround(lp + base);
        };
        const c0 = trie.childStart[node], c1 = trie.childStart[node + 1];
        const ends = trie.terminal[node] >= 0;
        if (c0 === c1 && !ends) throw new SemidError('ERR_SEMID_TRIE', `Trie node ${node} has no children and ends no ID: the trie is malformed`);
        if (ends && end >= 0) cands.push({ score: score(end), flat: jl * V + end, beam: j, token: end, child: -1 });
        else if (ends && c0 === c1) throw new SemidError('ERR_SEMID_TRIE', `Beam ${j} of query ${b} is at a finished ID and there is no end token`);
        for (let e = c0; e < c1; ++e) {
          const t = trie.childToken[e];
          cands.push({ score: score(t), flat: jl * V + t, beam: j, token: t, child: trie.childNode[e] });
        }
      }
      const top = cands.filter((c) => c.score > -Infinity).sort((x, y) => (better(x, y) ? -1 : better(y, x) ? 1 : 0)).slice(0, 2 * gs);
      let filled = 0;
      const fg = b * G + g;
      for (let rank = 0; rank < top.length && filled < gs; ++rank) {
        const c = top[rank];
        if (c.child < 0) {
          if (rank >= gs) continue;
          const o = fg * gs + out.finishedCount[fg];
          out.finishedParent[o] = c.beam;
          out.finishedScore[o] = c.score;
          out.finishedNode[o] = input.nodes[b * B + c.beam];
          out.finishedCount[fg] += 1;
          continue;
        }
        const o = b * B + first + filled;
        out.nextNodes[o] = c.child;
        out.nextScores[o] = c.score;
        out.nextParents[o] = c.beam;
        out.nextTokens[o] = c.token;
        freq.set(c.token, (freq.get(c.token) ?? 0) + 1);
        ++filled;
      }
      for (let jl = filled; jl < gs; ++jl) {
        const o = b * B + first + jl;
        out.nextNodes[o] = -1;
        out.nextScores[o] = -Infinity;
        out.nextParents[o] = -1;
        out.nextTokens[o] = -1;
      }
    }
  }
  return out;
}
