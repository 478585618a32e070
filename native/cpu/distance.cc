// Squared distances for the pruned k-means paths (see distance.h).
#include "distance.h"

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

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) float sq_dist_avx2(const float* a, const float* b, i64 d) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  i64 t = 0;
  for (; t + 16 <= d; t += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + t + 8), _mm256_loadu_ps(b + t + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  for (; t + 8 <= d; t += 8) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + t), _mm256_loadu_ps(b + t));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
  }
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
float sq_dist_avx2(const float* a, const float* b, i64 d) { return sq_dist_scalar(a, b, d); }
#endif

SqDistFn sq_dist_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? sq_dist_scalar : sq_dist_avx2;
}

}  // namespace semid::cpu
