// Internal to native/cpu: the beam step's contiguous path for dense trie nodes (semid/beam.h,
// trie_dense_rows), AVX2 only; the gather path in beam_step.cc is its oracle.
//
// A group's dense beams are scored in two passes over their rows (which stay in L1):
//   pass 1 computes every span token's exact score, eight at a time from contiguous reads, into
//          a scratch row, and keeps the two largest per lane: distinct candidates, so the cap-th
//          largest of them is a floor under the group's final cap-th best score;
//   pass 2 offers the children whose score is not below max(floor, the buffer's threshold),
//          found through a branch-free bit mask: about two a beam, where a threshold that starts
//          at -inf and rises offer by offer let ~11 through.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#define SEMID_BEAM_DENSE_AVX2 1
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "semid/beam.h"

namespace semid::cpu {

/** Lane masks of the 256 byte values: lane l of entry b is all ones when bit l of b is set. */
struct LaneMasks {
  alignas(32) std::int32_t lanes[256][8];
  constexpr LaneMasks() : lanes() {
    for (int b = 0; b < 256; ++b)
      for (int l = 0; l < 8; ++l) lanes[b][l] = (b >> l) & 1 ? -1 : 0;
  }
};
inline constexpr LaneMasks kLaneMasks{};

/** Lane vectors that pass 1 can max-accumulate into: floors for groups of up to 32 beams. */
constexpr int kDenseFloorVectors = 8;

/**
 * Pass 1 for one beam at a dense node: the exact score of every token of the row's span,
 * ((row[t] - shift) - penalty[t]) + base with each operation rounded to float as in the gather
 * path (penalty[t] = penalty * freq[t], and x - 0 is x exactly, so it needs no branch), into
 * out [8 * chunks], non-children as -inf. With VEC > 0 the two largest per lane are also kept in
 * lanes [2, 8 * VEC] (first and second; chunk k goes to vector k % VEC): distinct candidates, so
 * the cap-th largest of them is a floor, and it is the true cap-th best unless a lane holds three
 * of the best. The base must be finite: then a NaN score means a NaN (or inf - inf)
 * log-probability, which pass 2 always reaches and reports, so lanes that NaN left wrong never
 * decide anything. `dense` is the node's row (semid/beam.h layout); `row` and `penalty` hold V
 * entries.
 */
template <int VEC>
__attribute__((target("avx2,fma"))) void dense_scores_avx2(const float* row, const float* penalty, i64 V,
                                                           const std::uint32_t* dense, float shift, float base,
                                                           float* out, float* lanes) {
  const __m256 sv = _mm256_set1_ps(shift), bv = _mm256_set1_ps(base);
  const __m256 ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const std::uint8_t* bits = reinterpret_cast<const std::uint8_t*>(dense);  // little-endian words
  const i64 t0 = dense[9], chunks = dense[10];
  constexpr int kAcc = VEC > 0 ? VEC : 1;
  __m256 first[kAcc], second[kAcc];
  for (int v = 0; v < kAcc; ++v) {
    first[v] = VEC > 0 ? _mm256_loadu_ps(lanes + 8 * v) : ninf;
    second[v] = VEC > 0 ? _mm256_loadu_ps(lanes + 8 * (VEC + v)) : ninf;
  }
  // Chunks wholly inside the row take plain loads; the rest (the row's last tokens) masked ones,
  // so that no read goes past its end.
  const i64 inside = std::min<i64>(chunks, V > t0 ? (V - t0) / 8 : 0);
  auto score = [&](i64 k, int v, __m256 x, __m256 pen) __attribute__((target("avx2,fma"), always_inline)) {
    const __m256 child = _mm256_load_ps(reinterpret_cast<const float*>(kLaneMasks.lanes[bits[k]]));
    const __m256 sc = _mm256_blendv_ps(ninf, _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(x, sv), pen), bv), child);
    _mm256_storeu_ps(out + 8 * k, sc);
    if (VEC > 0) {  // chunk k goes to vector v = k % VEC
      second[v] = _mm256_max_ps(_mm256_min_ps(sc, first[v]), second[v]);
      first[v] = _mm256_max_ps(sc, first[v]);
    }
  };
  const float* rb = row + t0;
  const float* pb = penalty + t0;
  i64 k = 0;
  for (; k + kAcc <= inside; k += kAcc)
    for (int v = 0; v < kAcc; ++v) score(k + v, v, _mm256_loadu_ps(rb + 8 * (k + v)), _mm256_loadu_ps(pb + 8 * (k + v)));
  for (; k < chunks; ++k) {
    const i64 tb = t0 + 8 * k;
    const i64 left = V - tb;  // tokens of this chunk inside the row (none when the row ends before it)
    const __m256i in_row = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(left < 0 ? 0 : left > 8 ? 8 : left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    score(k, int(k % kAcc), _mm256_maskload_ps(row + tb, in_row), _mm256_maskload_ps(penalty + tb, in_row));
  }
  if (VEC > 0)
    for (int v = 0; v < kAcc; ++v) {
      _mm256_storeu_ps(lanes + 8 * v, first[v]);
      _mm256_storeu_ps(lanes + 8 * (VEC + v), second[v]);
    }
}

/**
 * The largest value of a dense row's span (children or not: a bound for every child's score),
 * reading only inside the row; +inf when the span holds NaN, so that a bound built on it never
 * rules a beam out.
 */
__attribute__((target("avx2"))) inline float dense_span_max_avx2(const float* row, i64 V, const std::uint32_t* dense) {
  const i64 t0 = dense[9], chunks = dense[10];
  const __m256 ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 m0 = ninf, m1 = ninf, nan = _mm256_setzero_ps();
  const i64 inside = std::min<i64>(chunks, V > t0 ? (V - t0) / 8 : 0);
  i64 k = 0;
  for (; k + 2 <= inside; k += 2) {
    const __m256 a = _mm256_loadu_ps(row + t0 + 8 * k), b = _mm256_loadu_ps(row + t0 + 8 * k + 8);
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
  }
  for (; k < chunks; ++k) {  // the last chunks: masked loads (0 outside the row, harmless in a max bound)
    const i64 left = V - (t0 + 8 * k);
    const __m256i in_row = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(left < 0 ? 0 : left > 8 ? 8 : left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 a = _mm256_maskload_ps(row + t0 + 8 * k, in_row);
    m0 = _mm256_max_ps(m0, a);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  if (_mm256_movemask_ps(nan) != 0) return std::numeric_limits<float>::infinity();
  const __m256 m = _mm256_max_ps(m0, m1);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

using DenseScoresFn = void (*)(const float*, const float*, i64, const std::uint32_t*, float, float, float*, float*);

/** Pass 1 accumulating into `vectors` lane vectors (0, 1, 2, 4 or 8; 0: scores only). */
inline DenseScoresFn dense_scores_fn(int vectors) {
  switch (vectors) {
    case 0: return dense_scores_avx2<0>;
    case 1: return dense_scores_avx2<1>;
    case 2: return dense_scores_avx2<2>;
    case 4: return dense_scores_avx2<4>;
    default: return dense_scores_avx2<8>;
  }
}

/**
 * True when a dense row (found by trie_dense_row, so its owner and child count match the node)
 * is sound enough to read by: at most 32 chunks, as many set bits as children, a first token
 * that leaves room for 256 more. Rows that trie_dense_rows() made always are.
 */
__attribute__((target("popcnt"))) inline bool dense_row_sound(const std::uint32_t* dense) {
  const std::uint64_t* words = reinterpret_cast<const std::uint64_t*>(dense);
  const i64 bits = __builtin_popcountll(words[0]) + __builtin_popcountll(words[1]) + __builtin_popcountll(words[2]) +
                   __builtin_popcountll(words[3]);
  return dense[10] <= std::uint32_t(kTrieDenseSpan / 8) && bits == i64(dense[11]) &&
         dense[9] <= std::uint32_t(std::numeric_limits<std::int32_t>::max() - kTrieDenseSpan);
}

/** The largest child token of a sound dense row (its highest set bit, from the first token). */
__attribute__((target("lzcnt"))) inline i64 dense_row_last_token(const std::uint32_t* dense) {
  const std::uint64_t* words = reinterpret_cast<const std::uint64_t*>(dense);
  for (int w = 3; w >= 0; --w)
    if (words[w] != 0) return i64(dense[9]) + 64 * w + 63 - i64(__builtin_clzll(words[w]));
  return i64(dense[9]);
}

/** The largest of lanes [8 * vectors] (vectors >= 1). */
__attribute__((target("avx2"))) inline float lanes_max_avx2(const float* lanes, int vectors) {
  __m256 m = _mm256_loadu_ps(lanes);
  for (int v = 1; v < vectors; ++v) m = _mm256_max_ps(m, _mm256_loadu_ps(lanes + 8 * v));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

/**
 * The cap-th largest of lanes [8 * vectors] (1 <= cap <= 8 * vectors): the smallest
 * value with fewer than cap values above it. Branch-free, one compare per pair of lanes.
 */
__attribute__((target("avx2"))) inline float kth_largest_avx2(const float* lanes, int vectors, int cap) {
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 best = inf;
  for (int v = 0; v < vectors; ++v) {
    const __m256 mine = _mm256_loadu_ps(lanes + 8 * v);
    __m256i above = _mm256_setzero_si256();  // per lane: how many values exceed it (negated)
    for (int i = 0; i < 8 * vectors; ++i)
      above = _mm256_add_epi32(above, _mm256_castps_si256(_mm256_cmp_ps(_mm256_set1_ps(lanes[i]), mine, _CMP_GT_OQ)));
    const __m256 top = _mm256_castsi256_ps(_mm256_cmpgt_epi32(above, _mm256_set1_epi32(-cap)));
    best = _mm256_min_ps(best, _mm256_blendv_ps(inf, mine, top));
  }
  __m128 h = _mm_min_ps(_mm256_castps256_ps128(best), _mm256_extractf128_ps(best, 1));
  h = _mm_min_ps(h, _mm_movehl_ps(h, h));
  h = _mm_min_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

/**
 * Whether a dense beam can be ruled out of its group: none of its children can rank. `key` is
 * its bound with logits (its row maximum, log-normalised, plus its score: the same float
 * operations as a score with no penalty, so no child scores above it), or its score alone with
 * log-probabilities, whose bound then costs a read of the span of `lp_row` [V] (only where the
 * score alone is below the floor, where a row of log-probabilities <= 0 rules it out); `lp_row`
 * is null with logits. The floor is `early`: the cap-th largest of the first-largest `lanes`
 * (distinct candidates of the `scored` beams before it), taken again when `stale` after 1, 2, 4,
 * ... beams (an older floor is lower, still one). Out of line: the group loop it sits in keeps
 * its registers, and a query that stops trying pays nothing.
 */
__attribute__((noinline, target("avx2"))) inline bool dense_beam_ruled_out(float key, const float* lanes, int vectors, int cap,
                                                                          int scored, float& early, bool& stale,
                                                                          const float* lp_row, i64 V,
                                                                          const std::uint32_t* dense, float score) {
  if (!(key < lanes_max_avx2(lanes, vectors))) return false;  // the floor is at most the largest lane
  if (stale && (scored & (scored - 1)) == 0) {
    early = kth_largest_avx2(lanes, vectors, cap);
    stale = false;
  }
  return key < early && (lp_row == nullptr || dense_span_max_avx2(lp_row, V, dense) + score < early);
}

/**
 * Pass 2 for one beam at a dense node: the pass-1 scores `sc` [8 * chunks] of children that are
 * not below the threshold, and NaN, go to offer(bit position, edge rank within the node, score),
 * which returns the new threshold.
 */
template <class Offer>
__attribute__((target("avx2,popcnt,bmi"))) inline void dense_offer_avx2(const float* sc, const std::uint32_t* dense,
                                                                       float thr, Offer&& offer) {
  const std::uint64_t* words = reinterpret_cast<const std::uint64_t*>(dense);
  const i64 chunks = dense[10];
  // Which children pass, as a 256-bit mask laid out like the row's bits (byte k: chunk k), made
  // without a branch: with ~2 candidates a beam, a branch per chunk or per block of chunks costs
  // a mispredict per candidate and more. Eight chunks make a word, assembled in registers (bytes
  // stored and read back as words stall on store forwarding); a last partial word reads pass-1
  // scores past `chunks` (inside the 256-entry scratch row, stale) and drops their bits.
  std::uint64_t pass_words[4] = {0, 0, 0, 0};
  const __m256 tv = _mm256_set1_ps(thr);
  for (i64 w = 0; w < (chunks + 7) / 8; ++w) {
    std::uint64_t word = 0;
    for (int j = 0; j < 8; ++j)
      word |= std::uint64_t(unsigned(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sc + 64 * w + 8 * j), tv, _CMP_NLT_UQ))))
              << (8 * j);
    const i64 in_word = chunks - 8 * w;  // chunks of this word that pass 1 scored
    pass_words[w] = word & words[w] & (in_word >= 8 ? ~std::uint64_t(0) : (std::uint64_t(1) << (8 * in_word)) - 1);
  }
  int below = 0;  // children before the current word
  for (int w = 0; w < 4; ++w) {
    std::uint64_t word = pass_words[w];
    while (word != 0) {
      const int bit = __builtin_ctzll(word);
      word &= word - 1;
      const int p = 64 * w + bit;
      if (sc[p] < thr) continue;  // the threshold rose since the mask was made
      const int rank = below + int(__builtin_popcountll(words[w] & ((std::uint64_t(1) << bit) - 1)));
      thr = offer(p, rank, sc[p]);
    }
    below += int(__builtin_popcountll(words[w]));
  }
}

}  // namespace semid::cpu
#endif
