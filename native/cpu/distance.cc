// Squared distances for the pruned k-means paths (see distance.h).
#include "distance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace semid::cpu {

float sq_dist_scalar(const float* a, const float* b, i64 d) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  i64 t = 0;
  for (; t + 8 <= d; t += 8)
    for (int l = 0; l < 8; ++l) {
      const float diff = a[t + l] - b[t + l];
      lanes[l] += diff * diff;
    }
  float s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (; t < d; ++t) s += (a[t] - b[t]) * (a[t] - b[t]);
  return s;
}

double sq_dist_f64_scalar(const float* a, const float* b, i64 d) {
  double lanes[16] = {};
  i64 t = 0;
  for (; t + 16 <= d; t += 16)
    for (int l = 0; l < 16; ++l) {
      const double diff = double(a[t + l]) - (b ? double(b[t + l]) : 0.0);
      lanes[l] = std::fma(diff, diff, lanes[l]);
    }
  for (; t + 4 <= d; t += 4)
    for (int l = 0; l < 4; ++l) {
      const double diff = double(a[t + l]) - (b ? double(b[t + l]) : 0.0);
      lanes[l] = std::fma(diff, diff, lanes[l]);
    }
  // The AVX2 reduction: (acc0 + acc2) + (acc1 + acc3) lane-wise, then (l0 + l2) + (l1 + l3).
  double v[4];
  for (int l = 0; l < 4; ++l) v[l] = (lanes[l] + lanes[8 + l]) + (lanes[4 + l] + lanes[12 + l]);
  double s = (v[0] + v[2]) + (v[1] + v[3]);
  for (; t < d; ++t) {
    const double diff = double(a[t]) - (b ? double(b[t]) : 0.0);
    s += diff * diff;
  }
  return s;
}

#if defined(__x86_64__) || defined(__i386__)
namespace {
template <bool kNorm>
__attribute__((target("avx2,fma"))) inline __m256d diff_f64(const float* a, const float* b, i64 t) {
  const __m256d va = _mm256_cvtps_pd(_mm_loadu_ps(a + t));
  if constexpr (kNorm) return va;
  else return _mm256_sub_pd(va, _mm256_cvtps_pd(_mm_loadu_ps(b + t)));
}

template <bool kNorm>
__attribute__((target("avx2,fma"))) double sq_dist_f64_avx2_impl(const float* a, const float* b, i64 d) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd(), acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
  i64 t = 0;
  for (; t + 16 <= d; t += 16) {
    const __m256d d0 = diff_f64<kNorm>(a, b, t), d1 = diff_f64<kNorm>(a, b, t + 4);
    const __m256d d2 = diff_f64<kNorm>(a, b, t + 8), d3 = diff_f64<kNorm>(a, b, t + 12);
    acc0 = _mm256_fmadd_pd(d0, d0, acc0);
    acc1 = _mm256_fmadd_pd(d1, d1, acc1);
    acc2 = _mm256_fmadd_pd(d2, d2, acc2);
    acc3 = _mm256_fmadd_pd(d3, d3, acc3);
  }
  for (; t + 4 <= d; t += 4) {
    const __m256d d0 = diff_f64<kNorm>(a, b, t);
    acc0 = _mm256_fmadd_pd(d0, d0, acc0);
  }
  acc0 = _mm256_add_pd(_mm256_add_pd(acc0, acc2), _mm256_add_pd(acc1, acc3));
  const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(acc0), _mm256_extractf128_pd(acc0, 1));
  double s = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
  for (; t < d; ++t) {
    const double diff = double(a[t]) - (kNorm ? 0.0 : double(b[t]));
    s += diff * diff;
  }
  return s;
}
}  // namespace

double sq_dist_f64_avx2(const float* a, const float* b, i64 d) {
  return b ? sq_dist_f64_avx2_impl<false>(a, b, d) : sq_dist_f64_avx2_impl<true>(a, b, d);
}

__attribute__((target("avx2,fma"))) float sq_dist_avx2(const float* a, const float* b, i64 d) {
  // Four independent accumulators: the FMA latency, not the loads, bound two (k-means' exact
  // pairs spend most of their time here).
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  i64 t = 0;
  for (; t + 32 <= d; t += 32) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + t + 8), _mm256_loadu_ps(b + t + 8));
    __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + t + 16), _mm256_loadu_ps(b + t + 16));
    __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + t + 24), _mm256_loadu_ps(b + t + 24));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    acc2 = _mm256_fmadd_ps(d2, d2, acc2);
    acc3 = _mm256_fmadd_ps(d3, d3, acc3);
  }
  for (; t + 8 <= d; t += 8) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
  }
  acc0 = _mm256_add_ps(acc0, acc2);
  acc1 = _mm256_add_ps(acc1, acc3);
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 lo = _mm256_castps256_ps128(acc0), hi = _mm256_extractf128_ps(acc0, 1);
  __m128 s4 = _mm_add_ps(lo, hi);
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
  float s = _mm_cvtss_f32(s4);
  for (; t < d; ++t) s += (a[t] - b[t]) * (a[t] - b[t]);
  return s;
}
#else
double sq_dist_f64_avx2(const float* a, const float* b, i64 d) { return sq_dist_f64_scalar(a, b, d); }
float sq_dist_avx2(const float* a, const float* b, i64 d) { return sq_dist_scalar(a, b, d); }
#endif

i64 elkan_scan_scalar(const float* S, const float* drift, const float* hc, float keep, float u, i64 k, float* others,
                      std::int32_t* idx) {
  i64 count = 0;
  float low = std::numeric_limits<float>::infinity();
  for (i64 j = 0; j < k; ++j) {
    const float kept = S[j] * keep;  // two roundings, as in the AVX2 path (no contraction)
    const float lb = kept - drift[j];
    if (u > std::max(lb, hc[j])) idx[count++] = static_cast<std::int32_t>(j);
    else low = std::min(low, std::max(lb, 2 * hc[j] - u));
  }
  *others = low;
  return count;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma,popcnt"))) i64 elkan_scan_avx2(const float* S, const float* drift, const float* hc,
                                                              float keep, float u, i64 k, float* others,
                                                              std::int32_t* idx) {
  const __m256 uu = _mm256_set1_ps(u), inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 kk = _mm256_set1_ps(keep);
  __m256 low = inf;
  i64 count = 0, j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256 lb = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(S + j), kk), _mm256_loadu_ps(drift + j));
    const __m256 h = _mm256_loadu_ps(hc + j);
    const __m256 cand = _mm256_cmp_ps(uu, _mm256_max_ps(lb, h), _CMP_GT_OQ);
    for (unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(cand)); mask; mask &= mask - 1)
      idx[count++] = static_cast<std::int32_t>(j + __builtin_ctz(mask));
    const __m256 bound = _mm256_max_ps(lb, _mm256_sub_ps(_mm256_add_ps(h, h), uu));
    low = _mm256_min_ps(low, _mm256_blendv_ps(bound, inf, cand));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, low);
  float m = lanes[0];
  for (int l = 1; l < 8; ++l) m = std::min(m, lanes[l]);
  float tail = m;
  const i64 tail_count = elkan_scan_scalar(S + j, drift + j, hc + j, keep, u, k - j, &tail, idx + count);
  for (i64 t = 0; t < tail_count; ++t) idx[count + t] += static_cast<std::int32_t>(j);
  count += tail_count;
  *others = std::min(m, tail);
  return count;
}
#else
i64 elkan_scan_avx2(const float* S, const float* drift, const float* hc, float keep, float u, i64 k, float* others,
                    std::int32_t* idx) {
  return elkan_scan_scalar(S, drift, hc, keep, u, k, others, idx);
}
#endif

NearestTwo dense_row_scalar(const float* dots, const float* cnorm, const float* drift, float xn, float margin, i64 k,
                            float* S) {
  NearestTwo r{0, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
  for (i64 j = 0; j < k; ++j) {
    const float dj = std::max(xn + cnorm[j] - 2.0f * dots[j], 0.0f);
    S[j] = std::sqrt(std::max(0.0f, dj - margin)) + drift[j];
    if (dj < r.best) { r.second = r.best; r.best = dj; r.best_j = std::int32_t(j); }
    else if (dj < r.second) r.second = dj;
  }
  return r;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma,popcnt"))) NearestTwo dense_row_avx2(const float* dots, const float* cnorm,
                                                                    const float* drift, float xn, float margin,
                                                                    i64 k, float* S) {
  // Per lane the two smallest distances; the nearest's index is found afterwards as the first j
  // whose distance equals the minimum (the distances are kept in a per-thread buffer for that).
  const __m256 xv = _mm256_set1_ps(xn), mv = _mm256_set1_ps(margin), two = _mm256_set1_ps(2.0f), zero = _mm256_setzero_ps();
  const float inf_f = std::numeric_limits<float>::infinity();
  __m256 min1 = _mm256_set1_ps(inf_f), min2 = min1;
  thread_local std::vector<float> dist;
  dist.resize(std::size_t(k));
  i64 j = 0;
  for (; j + 8 <= k; j += 8) {
    const __m256 dj = _mm256_max_ps(_mm256_sub_ps(_mm256_add_ps(xv, _mm256_loadu_ps(cnorm + j)),
                                                  _mm256_mul_ps(two, _mm256_loadu_ps(dots + j))), zero);
    _mm256_storeu_ps(dist.data() + j, dj);
    _mm256_storeu_ps(S + j, _mm256_add_ps(_mm256_sqrt_ps(_mm256_max_ps(zero, _mm256_sub_ps(dj, mv))), _mm256_loadu_ps(drift + j)));
    min2 = _mm256_min_ps(min2, _mm256_max_ps(dj, min1));
    min1 = _mm256_min_ps(min1, dj);
  }
  alignas(32) float l1[8], l2[8];
  _mm256_store_ps(l1, min1);
  _mm256_store_ps(l2, min2);
  float best = inf_f, second = inf_f;
  auto take = [&](float v) {
    if (v < best) { second = best; best = v; }
    else if (v < second) second = v;
  };
  for (int l = 0; l < 8; ++l) { take(l1[l]); take(l2[l]); }
  for (; j < k; ++j) {
    const float dj = std::max(xn + cnorm[j] - 2.0f * dots[j], 0.0f);
    dist[j] = dj;
    S[j] = std::sqrt(std::max(0.0f, dj - margin)) + drift[j];
    take(dj);
  }
  NearestTwo r{0, best, second};
  const __m256 bv = _mm256_set1_ps(best);
  i64 t = 0;
  for (; t + 8 <= k; t += 8) {
    const unsigned mask = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(dist.data() + t), bv, _CMP_EQ_OQ)));
    if (mask) { r.best_j = std::int32_t(t + __builtin_ctz(mask)); return r; }
  }
  for (; t < k; ++t)
    if (dist[t] == best) { r.best_j = std::int32_t(t); return r; }
  return r;
}
#else
NearestTwo dense_row_avx2(const float* dots, const float* cnorm, const float* drift, float xn, float margin, i64 k,
                          float* S) {
  return dense_row_scalar(dots, cnorm, drift, xn, margin, k, S);
}
#endif

DenseRowFn dense_row_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? dense_row_scalar : dense_row_avx2;
}

ElkanScanFn elkan_scan_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? elkan_scan_scalar : elkan_scan_avx2;
}

SqDistF64Fn sq_dist_f64_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? sq_dist_f64_scalar : sq_dist_f64_avx2;
}

SqDistFn sq_dist_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? sq_dist_scalar : sq_dist_avx2;
}

}  // namespace semid::cpu
