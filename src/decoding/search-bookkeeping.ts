/**
 * constrainedBeamSearch's per-step bookkeeping, each loop in a function of its own: a search calls
 * them a few times, each over every row or group of the batch, and V8 compiles a small function
 * with one loop nest (all of whose code has run by the time it is optimized mid-loop) well, where
 * loops inside the long search function ran ~5-10x slower (measured at batch 1,024).
 */
import type { BeamStepOutput } from './beam-step.js';
import type { FinishedHypotheses } from './finished-hypotheses.js';

/**
 * The rows a step asks the model for: the query of each row (step 0: one row per query; later,
 * `beams` rows per query) into queries [rows], and 1 into active [rows] where the row's beam is
 * alive (nodes [rows] >= 0; every row at step 0).
 */
export function fillStepRows(step: number, batch: number, beams: number, nodes: Int32Array, queries: Int32Array, active: Uint8Array): void {
  if (step === 0) {
    for (let q = 0; q < batch; ++q) {
      queries[q] = q;
      active[q] = 1;
    }
    return;
  }
  for (let q = 0, r = 0; q < batch; ++q) {
    for (let j = 0; j < beams; ++j, ++r) {
      queries[r] = q;
      active[r] = nodes[r] >= 0 ? 1 : 0;
    }
  }
}

/**
 * The IDs the end token finished at `step` go to `hyps` (their tokens: row q * beams + parent of
 * `tokens` [rows, step]), and a group is marked done when it cannot improve (transformers'
 * is_done) or has nothing left to extend. `order` numbers the additions; returns the next one.
 */
export function collectFinished(next: BeamStepOutput, hyps: FinishedHypotheses, done: Uint8Array, tokens: Int32Array, step: number,
                                batch: number, groups: number, beams: number, order: number): number {
  const gs = beams / groups, count = next.finishedCount, nextScores = next.nextScores;
  for (let q = 0, fg = 0; q < batch; ++q) {
    for (let g = 0; g < groups; ++g, ++fg) {
      if (done[fg]) continue;
      let best = -Infinity;
      for (let f = 0; f < count[fg]; ++f) {
        const idx = fg * gs + f, sc = next.finishedScore[idx];
        best = Math.max(best, sc);
        hyps.add(fg, sc, step + 1, next.finishedNode[idx], tokens, step, q * beams + next.finishedParent[idx], order++);
      }
      for (let r = q * beams + g * gs; r < q * beams + (g + 1) * gs; ++r) best = Math.max(best, nextScores[r]);
      // Nothing left to extend, or it cannot improve (a NaN best, which no step returns, decides neither).
      if (best === -Infinity || (best > -Infinity && hyps.isDone(fg, best, step + 1))) done[fg] = 1;
    }
  }
  return order;
}

/**
 * The next step's histories: row r of outTokens [batch * beams, step + 1] is its parent's row of
 * `tokens` [rows, step] and its new token, outParents [batch * beams] the parent's row (a beam
 * with no parent points at its query's first row, its tokens left 0).
 */
export function reorderHistories(next: BeamStepOutput, tokens: Int32Array, step: number, batch: number, beams: number,
                                 outTokens: Int32Array, outParents: Int32Array): void {
  const width = step + 1, parents = next.nextParents, chosen = next.nextTokens;
  for (let q = 0, r = 0; q < batch; ++q) {
    const firstRow = step === 0 ? q : q * beams;
    for (let j = 0; j < beams; ++j, ++r) {
      const p = parents[r];
      if (p < 0) {
        outParents[r] = firstRow;
        continue;
      }
      const prevRow = step === 0 ? q : firstRow + p;
      outParents[r] = prevRow;
      for (let t = 0, from = prevRow * step, to = r * width; t < step; ++t) outTokens[to + t] = tokens[from + t];
      outTokens[r * width + step] = chosen[r];
    }
  }
}

/**
 * After the last step, each unfinished group adds its beams that stand at a complete ID (trie
 * node with terminal >= 0; their tokens: `tokens` [batch * beams, length]). Returns the next order.
 */
export function addCompleteBeams(hyps: FinishedHypotheses, done: Uint8Array, nodes: Int32Array, scores: Float32Array, tokens: Int32Array,
                                 length: number, terminal: Int32Array, batch: number, groups: number, beams: number, order: number): number {
  const gs = beams / groups;
  for (let fg = 0; fg < batch * groups; ++fg) {
    if (done[fg]) continue;
    const q = Math.floor(fg / groups), g = fg - q * groups;
    for (let r = q * beams + g * gs; r < q * beams + (g + 1) * gs; ++r) {
      const node = nodes[r];
      if (node >= 0 && terminal[node] >= 0) hyps.add(fg, scores[r], length, node, tokens, length, r, order++);
    }
  }
  return order;
}

/**
 * Without an end token, the queries whose IDs have `length` tokens (queryLength [batch]) are
 * complete after that step: each of their unfinished groups adds its beams that stand at a
 * complete ID, as after the last step, and is done. Returns the next order.
 */
export function finishQueries(hyps: FinishedHypotheses, done: Uint8Array, queryLength: Int32Array, length: number, nodes: Int32Array,
                              scores: Float32Array, tokens: Int32Array, terminal: Int32Array, batch: number, groups: number,
                              beams: number, order: number): number {
  let any = false;
  for (let q = 0; q < batch && !any; ++q) any = queryLength[q] === length;
  if (!any) return order;
  const others = new Uint8Array(batch * groups).fill(1);  // addCompleteBeams skips these: done, or not ending now
  for (let q = 0; q < batch; ++q) {
    if (queryLength[q] !== length) continue;
    for (let fg = q * groups; fg < (q + 1) * groups; ++fg) others[fg] = done[fg];
  }
  const next = addCompleteBeams(hyps, others, nodes, scores, tokens, length, terminal, batch, groups, beams, order);
  for (let q = 0; q < batch; ++q) if (queryLength[q] === length) done.fill(1, q * groups, (q + 1) * groups);
  return next;
}

/** True when every flag is set (a loop: `every` with a callback cost ~0.3 ms a step at batch 1,024). */
export function allSet(flags: Uint8Array): boolean {
  for (let i = 0; i < flags.length; ++i) if (flags[i] === 0) return false;
  return true;
}
