/**
 * The finished IDs of every (query, group) in a search: transformers' BeamHypotheses, one per
 * group, kept in flat typed arrays instead of an object and a token array per hypothesis (a batch
 * of 1,024 queries at beam 60 adds ~61,000 of them, and their garbage cost more than the native steps).
 */
import { rankItems, type BeamSearchArrays, type Hypothesis, type QueryResult } from './beam-search.js';
import type { RawAddon } from '../native/types.js';
import { BufferViews } from './buffer-views.js';
import { IdSet } from './id-set.js';
import type { IdTrie } from './trie.js';

const firstIds = new IdSet();

export class FinishedHypotheses {
  /** [groupsTotal] hypotheses held per group (at most `size`). */
  private readonly count: Int32Array;
  /** [groupsTotal] the lowest score held (1e9 while empty, as transformers). */
  private readonly worst: Float64Array;
  /** [groupsTotal * size] length-normalised score of each slot. */
  private readonly score: Float64Array;
  /** [groupsTotal * size] the trie node where the slot's ID ends. */
  private readonly node: Int32Array;
  /** [groupsTotal * size] when the slot was added (a search-wide counter): the tie order. */
  private readonly order: Float64Array;
  /** [groupsTotal * size] tokens held by the slot. */
  private readonly length: Int32Array;
  /** [groupsTotal * size * maxLength] the slot's ID tokens. */
  private readonly tokens: Int32Array;
  /** [maxLength + 1] len ** lengthPenalty for each length (Math.pow per hypothesis cost more than the rest of add). */
  private readonly norm: Float64Array;

  /**
   * Room for `groupsTotal` groups of up to `size` hypotheses of up to `maxLength` tokens, ranked
   * by sum / length ** lengthPenalty; `early` is transformers' early_stopping=true.
   *
   * @example
   * const h = new FinishedHypotheses(1, 2, 2, 1, false);
   * h.add(0, -2, 2, 5, new Int32Array([3, 4]), 2, 0, 0);  // score -1
   * h.isDone(0, -1, 2);  // false: room for one more
   */
  constructor(groupsTotal: number, private readonly size: number, private readonly maxLength: number,
              private readonly lengthPenalty: number, private readonly early: boolean, buffer?: ArrayBuffer) {
    // Seven views into one ArrayBuffer (one allocation a search, or `buffer` of at least
    // FinishedHypotheses.bytes, reused: only the counts and worsts need clearing, every other
    // entry is written before it is read): float64 arrays first, aligned.
    const slots = groupsTotal * size;
    const v = new BufferViews(buffer ?? FinishedHypotheses.bytes(groupsTotal, size, maxLength));
    this.worst = v.f64(groupsTotal).fill(1e9);
    this.score = v.f64(slots);
    this.order = v.f64(slots);
    this.count = v.i32(groupsTotal);
    this.node = v.i32(slots);
    this.length = v.i32(slots);
    this.tokens = v.i32(slots * maxLength);
    if (buffer !== undefined) this.count.fill(0);
    this.norm = new Float64Array(maxLength + 1).map((_, len) => len ** lengthPenalty);
  }

  /** Bytes of the store's one buffer. */
  static bytes(groupsTotal: number, size: number, maxLength: number): number {
    const slots = groupsTotal * size;
    return 8 * (groupsTotal + 2 * slots) + 4 * (groupsTotal + 2 * slots + slots * maxLength);
  }

  /** sum / len ** lengthPenalty, the pow looked up for the lengths a search reaches. */
  private normalised(sum: number, len: number): number {
    return sum / this.normaliser(len);
  }

  /** len ** lengthPenalty. */
  private normaliser(len: number): number {
    return (len | 0) === len && len >= 0 && len <= this.maxLength ? this.norm[len] : len ** this.lengthPenalty;
  }

  /**
   * addCompleteBeams (search-bookkeeping.ts) on the native core (semid/beam.h
   * add_complete_beams): the same offers, admissions and order numbers, one thread. Returns the
   * next order number.
   */
  async addCompleteBeamsNative(addon: Required<Pick<RawAddon, 'addCompleteBeams'>>, trie: IdTrie, done: Uint8Array, nodes: Int32Array,
                               scores: Float32Array, tokens: Int32Array, length: number, batch: number, groups: number, beams: number,
                               order: number): Promise<number> {
    const next = new Float64Array(1);
    await addon.addCompleteBeams(
      trie.terminal, trie.nodes, this.count, this.worst, this.score, this.order, this.node, this.length, this.tokens,
      this.count.length, this.size, this.maxLength, done, nodes, scores, tokens, length, this.normaliser(length),
      batch, groups, beams, order, next,
    );
    return next[0];
  }

  /**
   * Offers group `group` a finished ID: running sum `sum`, `len` tokens generated (the end token
   * included), ending at trie node `node`, its tokens row `row` of `tokens` [rows x width]. Kept
   * when the group has room or it beats the group's worst, which then leaves (of equal worsts the
   * earliest added, as transformers' list removes the first minimum).
   *
   * @example
   * const h = new FinishedHypotheses(1, 1, 1, 1, false);
   * h.add(0, -3, 1, 7, new Int32Array([2]), 1, 0, 0);
   * h.add(0, -1, 1, 8, new Int32Array([5]), 1, 0, 1);  // replaces the first
   */
  add(group: number, sum: number, len: number, node: number, tokens: Int32Array, width: number, row: number, order: number): void {
    const score = this.normalised(sum, len);
    const n = this.count[group], first = group * this.size;
    if (n >= this.size && !(score > this.worst[group])) return;
    let slot: number;
    if (n < this.size) {
      slot = first + n;
      this.count[group] = n + 1;
      this.worst[group] = Math.min(score, this.worst[group]);
    } else {
      slot = first;  // the lowest score, the earliest of equals
      for (let s = first + 1; s < first + n; ++s) {
        if (this.score[s] < this.score[slot] || (this.score[s] === this.score[slot] && this.order[s] < this.order[slot])) slot = s;
      }
    }
    this.score[slot] = score;
    this.node[slot] = node;
    this.order[slot] = order;
    this.length[slot] = width;
    for (let t = 0, from = row * width, to = slot * this.maxLength; t < width; ++t) this.tokens[to + t] = tokens[from + t];
    if (n >= this.size) {
      let worst = Infinity;
      for (let s = first; s < first + n; ++s) worst = Math.min(worst, this.score[s]);
      this.worst[group] = worst;
    }
  }

  /** transformers' is_done: the group is full and (early stopping, or) bestSum cannot beat its worst. */
  isDone(group: number, bestSum: number, len: number): boolean {
    if (this.count[group] < this.size) return false;
    if (this.early) return true;
    return this.worst[group] >= this.normalised(bestSum, len);
  }

  /**
   * Groups [firstGroup, firstGroup + groups)'s slots ranked best first (ties: the later group,
   * then the later added, as transformers' sort-and-pop) into rankScratch.slots; returns how many.
   * A bottom-up merge sort with the comparison inline (~n log n steps): a batch of 1,024 queries
   * at beam 60 ranks 61,440 slots, where an insertion sort calling a comparator (~n^2 / 4 calls a
   * query) took 5.6-8.4 ms against 4.4-5.6 ms now (this machine, 2 cores).
   */
  private rankSlots(firstGroup: number, groups: number): number {
    let n = 0;
    for (let g = firstGroup; g < firstGroup + groups; ++g) n += this.count[g];
    if (rankScratch.slots.length < n) {
      rankScratch.slots = new Int32Array(Math.max(n, 2 * rankScratch.slots.length));
      rankScratch.spare = new Int32Array(rankScratch.slots.length);
    }
    let from = rankScratch.slots, to = rankScratch.spare;
    let k = 0;
    for (let g = firstGroup; g < firstGroup + groups; ++g) {
      for (let s = g * this.size; s < g * this.size + this.count[g]; ++s) from[k++] = s;
    }
    const score = this.score, order = this.order, size = this.size;
    for (let width = 1; width < n; width *= 2) {
      for (let lo = 0; lo < n; lo += 2 * width) {
        const mid = Math.min(lo + width, n), hi = Math.min(lo + 2 * width, n);
        let i = lo, j = mid, o = lo;
        while (i < mid && j < hi) {
          const a = from[j], b = from[i];
          // a (from the right run) goes first only when it ranks before b: the higher score; of
          // equal (or NaN-distanced) scores the later group (slots lie group by group), then the
          // later added. The order of `b.score - a.score || ...`, as before.
          const d = score[b] - score[a];
          const first = d < 0 ? true : d > 0 ? false : (Math.floor(a / size) - Math.floor(b / size) || order[a] - order[b]) > 0;
          to[o++] = first ? a : b;
          if (first) ++j; else ++i;
        }
        while (i < mid) to[o++] = from[i++];
        while (j < hi) to[o++] = from[j++];
      }
      const t = from; from = to; to = t;
    }
    if (from !== rankScratch.slots) rankScratch.slots.set(from.subarray(0, n));
    return n;
  }

  /**
   * The first `limit` ranked hypotheses of groups [firstGroup, firstGroup + groups) as Hypothesis
   * objects, with their items in that order, each ID once (rankItems).
   */
  ranked(trie: IdTrie, firstGroup: number, groups: number, limit: number): QueryResult {
    const n = Math.min(limit, this.rankSlots(firstGroup, groups));
    const slots = rankScratch.slots;
    const score = this.score;
    const hypotheses: Hypothesis[] = new Array(n);
    for (let i = 0; i < n; ++i) {
      const s = slots[i], len = this.length[s], tokens = new Array<number>(len);
      for (let t = 0, from = s * this.maxLength; t < len; ++t) tokens[t] = this.tokens[from + t];
      const id = trie.terminal[this.node[s]];
      hypotheses[i] = { tokens, score: score[s], id, items: trie.itemsOf(id) };
    }
    return rankItems(hypotheses);
  }

  /**
   * Every query's ranked hypotheses (queries of `groups` consecutive groups, the first `limit`
   * each) in flat arrays, as BeamSearchArrays describes.
   */
  rankedArrays(trie: IdTrie, batch: number, groups: number, limit: number): BeamSearchArrays {
    const L = this.maxLength;
    const counts = new Int32Array(batch), ids = new Int32Array(batch * limit).fill(-1);
    const scores = new Float64Array(batch * limit).fill(NaN), lengths = new Int32Array(batch * limit);
    const tokens = new Int32Array(batch * limit * L).fill(-1), itemStart = new Int32Array(batch + 1);
    const kept = new Int32Array(batch * limit).fill(-1);  // [batch, limit] slot of each ID's first hypothesis
    for (let q = 0; q < batch; ++q) {
      const n = Math.min(limit, this.rankSlots(q * groups, groups));
      const slots = rankScratch.slots;
      counts[q] = n;
      firstIds.clear(n);
      let total = 0;
      for (let i = 0; i < n; ++i) {
        const s = slots[i], o = q * limit + i, id = trie.terminal[this.node[s]];
        ids[o] = id;
        scores[o] = this.score[s];
        lengths[o] = this.length[s];
        for (let t = 0; t < this.length[s]; ++t) tokens[o * L + t] = this.tokens[s * L + t];
        if (firstIds.add(id)) {
          kept[o] = s;
          total += trie.idStart[id + 1] - trie.idStart[id];
        }
      }
      itemStart[q + 1] = itemStart[q] + total;
    }
    const items = new Int32Array(itemStart[batch]), itemScores = new Float32Array(itemStart[batch]);
    for (let q = 0; q < batch; ++q) {
      copyItems(trie, ids.subarray(q * limit, (q + 1) * limit), kept.subarray(q * limit, (q + 1) * limit), counts[q],
                this.score, items, itemScores, itemStart[q]);
    }
    return { batch, numReturn: limit, maxLength: L, counts, ids, scores, lengths, tokens, itemStart, items, itemScores };
  }

  /**
   * rankedArrays on the native core (semid/beam.h rank_finished and gather_ranked_items, threads
   * over the queries): the same arrays, order and ties as the TypeScript above, its oracle.
   * `addon` must have rankFinished and gatherRankedItems.
   */
  async rankedArraysNative(addon: Required<Pick<RawAddon, 'rankFinished' | 'gatherRankedItems'>>, trie: IdTrie, batch: number,
                           groups: number, limit: number, threads: number): Promise<BeamSearchArrays> {
    const L = this.maxLength;
    // The result's arrays each have their own buffer (a caller may transfer one); every element
    // is written natively, padding included.
    const counts = new Int32Array(batch), ids = new Int32Array(batch * limit), scores = new Float64Array(batch * limit);
    const lengths = new Int32Array(batch * limit), tokens = new Int32Array(batch * limit * L), itemStart = new Int32Array(batch + 1);
    const first = new Uint8Array(batch * limit);  // 1 where the row's ID is new: its items are listed
    await addon.rankFinished(
      trie.terminal, trie.nodes, trie.idStart, trie.ids,
      this.count, this.score, this.order, this.node, this.length, this.tokens,
      this.count.length, this.size, L, batch, groups, limit,
      counts, ids, scores, lengths, tokens, first, itemStart, threads,
    );
    const items = new Int32Array(itemStart[batch]), itemScores = new Float32Array(itemStart[batch]);
    await addon.gatherRankedItems(trie.idStart, trie.ids, trie.idItems, batch, limit, counts, ids, scores, first, itemStart,
                                  items, itemScores, threads);
    return { batch, numReturn: limit, maxLength: L, counts, ids, scores, lengths, tokens, itemStart, items, itemScores };
  }
}

/** rankSlots' buffers, reused: one query's slots at a time (`slots` holds the result). */
const rankScratch = { slots: new Int32Array(64), spare: new Int32Array(64) };

/**
 * Writes the items of the ranked hypotheses i < n whose slot[i] >= 0 (each ID's first), in rank
 * order from items[at], each with its hypothesis' score (score[slot[i]]).
 */
function copyItems(trie: IdTrie, ids: ArrayLike<number>, slot: ArrayLike<number>, n: number, score: Float64Array,
                   items: Int32Array, itemScores: Float32Array, at: number): void {
  const idStart = trie.idStart, idItems = trie.idItems;
  for (let i = 0, k = at; i < n; ++i) {
    if (slot[i] < 0) continue;
    const id = ids[i], sc = score[slot[i]];
    for (let e = idStart[id]; e < idStart[id + 1]; ++e, ++k) {
      items[k] = idItems[e];
      itemScores[k] = sc;
    }
  }
}
