// Ranking a search's finished hypotheses (semid/beam.h: rank_finished, gather_ranked_items):
// the native twin of FinishedHypotheses.rankSlots / rankedArrays in
// src/decoding/finished-hypotheses.ts, which stays the oracle. A batch of 1,024 queries at beam
// 60 ranks 61,440 hypotheses, which took that TypeScript ~11 ms (branchy merges, random reads of
// the trie's ID tables) against ~20 ms for the search's native steps.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "semid/beam.h"
#include "semid/parallel.h"

namespace semid {

namespace {

[[noreturn]] void invalid(const std::string& message) { throw Error("ERR_SEMID_INVALID_ARG", message); }

/** IDs seen in one query's list: open addressing over a reused table (slot: id + 1, 0 empty). */
class SeenIds {
 public:
  void clear(i64 capacity) {
    std::size_t size = 128;
    while (size < std::size_t(2 * capacity)) size *= 2;
    if (table_.size() < size) table_.assign(size, 0);
    else std::fill(table_.begin(), table_.begin() + std::ptrdiff_t(size), 0u);
    mask_ = size - 1;
  }
  /** True when `id` (>= 0) was not in the set. */
  bool add(std::int32_t id) {
    const std::uint32_t key = std::uint32_t(id) + 1;
    for (std::size_t p = (key * 0x9e3779b1u) & mask_;; p = (p + 1) & mask_) {
      if (table_[p] == key) return false;
      if (table_[p] == 0) {
        table_[p] = key;
        return true;
      }
    }
  }

 private:
  std::vector<std::uint32_t> table_;
  std::size_t mask_ = 0;
};

struct RankScratch {
  std::vector<std::int32_t> from, to;  // [slots of one query]
  SeenIds seen;
};

/**
 * Query q's slots ranked best first into s.from (returns how many): a bottom-up merge sort of the
 * slots in group order where the right run's slot goes first only when it ranks before the left
 * one's: the higher score; of equal (or NaN-distanced) scores the later group, then the later
 * added. Exactly the oracle's comparisons, so the same order whatever the scores hold.
 */
i64 rank_query_slots(const FinishedView& h, i64 first_group, i64 groups, RankScratch& s) {
  i64 n = 0;
  for (i64 g = first_group; g < first_group + groups; ++g) n += h.count[g];
  s.from.resize(std::size_t(n));
  s.to.resize(std::size_t(n));
  std::int32_t* from = s.from.data();
  std::int32_t* to = s.to.data();
  i64 k = 0;
  for (i64 g = first_group; g < first_group + groups; ++g)
    for (i64 slot = g * h.size; slot < g * h.size + h.count[g]; ++slot) from[k++] = std::int32_t(slot);
  const double* score = h.score;
  const double* order = h.order;
  const i64 size = h.size;
  for (i64 width = 1; width < n; width *= 2) {
    for (i64 lo = 0; lo < n; lo += 2 * width) {
      const i64 mid = std::min(lo + width, n), hi = std::min(lo + 2 * width, n);
      i64 i = lo, j = mid, o = lo;
      while (i < mid && j < hi) {
        const std::int32_t a = from[j], b = from[i];
        const double d = score[b] - score[a];
        bool a_first;
        if (d < 0) a_first = true;
        else if (d > 0) a_first = false;
        else {
          const i64 group_diff = a / size - b / size;
          a_first = group_diff != 0 ? group_diff > 0 : order[a] - order[b] > 0;
        }
        to[o++] = a_first ? a : b;
        j += a_first;
        i += !a_first;
      }
      while (i < mid) to[o++] = from[i++];
      while (j < hi) to[o++] = from[j++];
    }
    std::swap(from, to);
  }
  if (from != s.from.data()) std::copy(from, from + n, s.from.data());
  return n;
}

void check_finished(const TrieView& trie, i64 ids, const FinishedView& h, const RankedHypotheses& out) {
  if (out.batch < 0) invalid("batch must be >= 0, got " + std::to_string(out.batch));
  if (out.groups < 1) invalid("groups must be >= 1, got " + std::to_string(out.groups));
  if (out.limit < 1) invalid("limit must be >= 1, got " + std::to_string(out.limit));
  if (h.size < 1 || h.max_length < 1) invalid("finished hypotheses need size >= 1 and max_length >= 1");
  if (h.groups_total < out.batch * out.groups)
    invalid("finished hypotheses hold " + std::to_string(h.groups_total) + " groups, batch x groups = " +
            std::to_string(out.batch * out.groups));
  if (trie.nodes < 1 || trie.terminal == nullptr) invalid("the trie has no nodes");
  if (ids < 0) invalid("ids must be >= 0, got " + std::to_string(ids));
}

}  // namespace

void rank_finished(const TrieView& trie, const std::int32_t* id_start, i64 ids, const FinishedView& h,
                   const RankedHypotheses& out, int threads, const CancelFlag& cancel) {
  check_finished(trie, ids, h, out);
  if (out.batch == 0) {
    out.item_start[0] = 0;
    return;
  }
  const int t = resolve_threads(threads, out.batch);
  std::vector<RankScratch> scratch(static_cast<std::size_t>(t));
  const i64 L = h.max_length, limit = out.limit;
  // Each task ranks a block of queries and writes their rows; item_start[q + 1] first holds the
  // query's own item count, summed after the loop.
  const i64 per_task = std::max<i64>(1, out.batch / (8 * i64(t)));
  parallel_for((out.batch + per_task - 1) / per_task, t, cancel, [&](i64 task, int w) {
    RankScratch& s = scratch[std::size_t(w)];
    for (i64 q = task * per_task; q < std::min(out.batch, (task + 1) * per_task); ++q) {
      for (i64 g = q * out.groups; g < (q + 1) * out.groups; ++g)
        if (h.count[g] < 0 || h.count[g] > h.size)
          invalid("finished count of group " + std::to_string(g) + " is " + std::to_string(h.count[g]) +
                  ", expected [0, " + std::to_string(h.size) + "]");
      const i64 n = std::min(limit, rank_query_slots(h, q * out.groups, out.groups, s));
      s.seen.clear(n);
      i64 total = 0;
      for (i64 i = 0; i < limit; ++i) {
        const i64 o = q * limit + i;
        std::int32_t* tok = out.tokens + o * L;
        if (i >= n) {  // padding
          out.ids[o] = -1;
          out.scores[o] = std::numeric_limits<double>::quiet_NaN();
          out.lengths[o] = 0;
          out.first[o] = 0;
          std::fill(tok, tok + L, -1);
          continue;
        }
        const std::int32_t slot = s.from[std::size_t(i)];
        const std::int32_t node = h.node[slot], len = h.length[slot];
        if (node < 0 || node >= trie.nodes) invalid("finished slot " + std::to_string(slot) + " ends at node " + std::to_string(node) + ", the trie has " + std::to_string(trie.nodes));
        const std::int32_t id = trie.terminal[node];
        if (id < 0 || id >= ids) invalid("finished slot " + std::to_string(slot) + " ends at node " + std::to_string(node) + ", which ends no ID");
        if (len < 0 || len > L) invalid("finished slot " + std::to_string(slot) + " holds " + std::to_string(len) + " tokens, expected [0, " + std::to_string(L) + "]");
        out.ids[o] = id;
        out.scores[o] = h.score[slot];
        out.lengths[o] = len;
        const std::int32_t* src = h.tokens + i64(slot) * L;
        std::copy(src, src + len, tok);
        std::fill(tok + len, tok + L, -1);
        const bool is_first = s.seen.add(id);
        out.first[o] = is_first ? 1 : 0;
        if (is_first) {
          const i64 named = i64(id_start[id + 1]) - id_start[id];
          if (named < 0) invalid("id_start is not ascending at ID " + std::to_string(id));
          total += named;
        }
      }
      out.counts[q] = std::int32_t(n);
      out.item_start[q + 1] = std::int32_t(total);
    }
  });
  out.item_start[0] = 0;
  i64 sum = 0;
  for (i64 q = 0; q < out.batch; ++q) {
    sum += out.item_start[q + 1];
    if (sum > std::numeric_limits<std::int32_t>::max()) invalid("the ranked hypotheses name more than 2^31 - 1 items");
    out.item_start[q + 1] = std::int32_t(sum);
  }
}

void gather_ranked_items(const std::int32_t* id_start, i64 ids, const std::int32_t* id_items, i64 id_items_len,
                         const RankedHypotheses& r, std::int32_t* items, float* item_scores, int threads,
                         const CancelFlag& cancel) {
  if (r.batch <= 0) return;
  const int t = resolve_threads(threads, r.batch);
  const i64 per_task = std::max<i64>(1, r.batch / (8 * i64(t)));
  parallel_for((r.batch + per_task - 1) / per_task, t, cancel, [&](i64 task, int) {
    for (i64 q = task * per_task; q < std::min(r.batch, (task + 1) * per_task); ++q) {
      i64 k = r.item_start[q];
      for (i64 o = q * r.limit; o < q * r.limit + r.counts[q]; ++o) {
        if (!r.first[o]) continue;
        const std::int32_t id = r.ids[o];
        if (id < 0 || id >= ids || id_start[id] < 0 || id_start[id] > id_start[id + 1] || id_start[id + 1] > id_items_len ||
            k + (id_start[id + 1] - id_start[id]) > r.item_start[q + 1])
          invalid("item_start or id_start disagrees with the ranked IDs of query " + std::to_string(q));
        const float sc = static_cast<float>(r.scores[o]);
        for (std::int32_t e = id_start[id]; e < id_start[id + 1]; ++e, ++k) {
          items[k] = id_items[e];
          item_scores[k] = sc;
        }
      }
      if (k != r.item_start[q + 1]) invalid("item_start disagrees with the ranked IDs of query " + std::to_string(q));
    }
  });
}

}  // namespace semid
