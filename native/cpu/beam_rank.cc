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

#include "gemm_kernel.h"
#include "semid/beam.h"
#include "semid/cpu_features.h"
#include "semid/parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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
  std::vector<float> key;              // [slots rounded up to 8] their scores as float, NaN padding
  std::vector<std::int32_t> rank;      // [slots] how many scores lie above each
  std::vector<std::int32_t> ids;       // [ranked] each hypothesis' ID (-1: its node is out of range)
  std::vector<i64> named;              // [ranked] the items its ID names
  SeenIds seen;
};

/** Queries with at most this many slots try the counting rank (n^2 compares) before the merge. */
constexpr i64 kCountRankMax = 256;

/**
 * rank[i] = how many of key[0 .. n) exceed key[i], when no two keys are equal and none is NaN
 * (then no two scores tie and the ranks are the sort's exact order); false otherwise. `key`
 * holds n rounded up to 8 entries, NaN past n (NaN compares false: it counts nowhere).
 */
bool count_ranks_scalar(const float* key, i64 n, std::int32_t* rank) {
  for (i64 i = 0; i < n; ++i) {
    const float x = key[i];
    std::int32_t above = 0, equal = 0;
    for (i64 j = 0; j < n; ++j) {
      above += key[j] > x;
      equal += key[j] == x;
    }
    if (equal != 1) return false;
    rank[i] = above;
  }
  return true;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) bool count_ranks_avx2(const float* key, i64 n, std::int32_t* rank) {
  const i64 padded = (n + 7) / 8 * 8;
  for (i64 i = 0; i < n; ++i) {
    const __m256 x = _mm256_set1_ps(key[i]);
    __m256i above = _mm256_setzero_si256(), equal = _mm256_setzero_si256();  // negated counts per lane
    for (i64 j = 0; j < padded; j += 8) {
      const __m256 y = _mm256_loadu_ps(key + j);
      above = _mm256_add_epi32(above, _mm256_castps_si256(_mm256_cmp_ps(y, x, _CMP_GT_OQ)));
      equal = _mm256_add_epi32(equal, _mm256_castps_si256(_mm256_cmp_ps(y, x, _CMP_EQ_OQ)));
    }
    // Both counts in one reduction: pairwise sums of above's and equal's lanes, then the halves.
    const __m256i pairs = _mm256_hadd_epi32(above, equal);  // per 128-bit half: a, a, e, e
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
    h = _mm_hadd_epi32(h, h);  // above, equal, above, equal
    if (_mm_extract_epi32(h, 1) != -1) return false;
    rank[i] = -_mm_cvtsi128_si32(h);
  }
  return true;
}
#endif

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
  // Distinct scores (as floats: distinct floats order their doubles) need no tie rule: each
  // slot's place is the count of scores above it, a branch-free n^2 pass where the merge below
  // is a chain of dependent compares (~3x the time at 60 slots).
  if (n <= kCountRankMax && n > 1) {
    s.key.assign(std::size_t((n + 7) / 8 * 8), std::numeric_limits<float>::quiet_NaN());
    s.rank.resize(std::size_t(n));
    for (i64 k = 0; k < n; ++k) s.key[std::size_t(k)] = static_cast<float>(score[from[k]]);
    bool distinct;
#if defined(__x86_64__) || defined(__i386__)
    if (active_simd() != SimdLevel::Scalar && cpu::avx2_compiled()) distinct = count_ranks_avx2(s.key.data(), n, s.rank.data());
    else distinct = count_ranks_scalar(s.key.data(), n, s.rank.data());
#else
    distinct = count_ranks_scalar(s.key.data(), n, s.rank.data());
#endif
    if (distinct) {
      for (i64 k = 0; k < n; ++k) to[s.rank[std::size_t(k)]] = from[k];
      std::copy(to, to + n, from);
      return n;
    }
  }
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
      // The trie's ID tables are read at random (a cache miss each, most of this loop's time):
      // in tight loops first, where the loads of every hypothesis overlap; checked below.
      s.ids.resize(std::size_t(n));
      s.named.resize(std::size_t(n));
      for (i64 i = 0; i < n; ++i) {
        const std::int32_t node = h.node[s.from[std::size_t(i)]];
        s.ids[std::size_t(i)] = node >= 0 && node < trie.nodes ? trie.terminal[node] : -1;
      }
      for (i64 i = 0; i < n; ++i) {
        const std::int32_t id = s.ids[std::size_t(i)];
        s.named[std::size_t(i)] = id >= 0 && id < ids ? i64(id_start[id + 1]) - id_start[id] : 0;
      }
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
        const std::int32_t id = s.ids[std::size_t(i)];
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
          const i64 named = s.named[std::size_t(i)];
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
