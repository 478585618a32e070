// Log-sum-exp of a row (see logsumexp.h). The AVX2 path evaluates exp eight lanes at a time with
// exp_nonpositive256 (relative error <= 1.5e-7 on the terms that matter); the scalar path uses
// double exp.
#include "logsumexp.h"
#include "simd_exp.h"

#include <cmath>
#include <limits>

#include "gemm_kernel.h"
#include "semid/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace semid::cpu {

static float row_max(const float* x, i64 n) {
  float m = -std::numeric_limits<float>::infinity();
  for (i64 i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

bool row_has_nan_or_posinf(const float* x, i64 n) {
  bool bad = false;
  for (i64 i = 0; i < n; ++i) bad |= !(x[i] < std::numeric_limits<float>::infinity());
  return bad;
}

double logsumexp_scalar(const float* x, i64 n) {
  if (row_has_nan_or_posinf(x, n)) return std::numeric_limits<double>::quiet_NaN();
  const float m = row_max(x, n);
  if (m == -std::numeric_limits<float>::infinity()) return -std::numeric_limits<double>::infinity();
  double s = 0;
  for (i64 i = 0; i < n; ++i) s += std::exp(double(x[i]) - double(m));
  return double(m) + std::log(s);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) double logsumexp_avx2(const float* x, i64 n) {
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 m0 = _mm256_set1_ps(-std::numeric_limits<float>::infinity()), m1 = m0;
  __m256 bad = _mm256_setzero_ps();
  i64 i = 0;
  for (; i + 16 <= n; i += 16) {  // two chains of max: the pass is bound by loads, not latency
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
    bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(a, inf, _CMP_NLT_UQ), _mm256_cmp_ps(b, inf, _CMP_NLT_UQ)));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    m0 = _mm256_max_ps(m0, a);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // NaN or +inf
  }
  if (_mm256_movemask_ps(bad) != 0 || row_has_nan_or_posinf(x + i, n - i))
    return std::numeric_limits<double>::quiet_NaN();
  m0 = _mm256_max_ps(m0, m1);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  float m = _mm_cvtss_f32(h);
  for (i64 j = i; j < n; ++j) m = x[j] > m ? x[j] : m;
  if (m == -std::numeric_limits<float>::infinity()) return -std::numeric_limits<double>::infinity();
  const __m256 mb = _mm256_set1_ps(m);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, exp_nonpositive256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb)));
    s1 = _mm256_add_ps(s1, exp_nonpositive256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mb)));
    s2 = _mm256_add_ps(s2, exp_nonpositive256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 16), mb)));
    s3 = _mm256_add_ps(s3, exp_nonpositive256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 24), mb)));
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, exp_nonpositive256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb)));
  const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  const __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(s)), _mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)));
  const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
  double sum = _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  for (; i < n; ++i) sum += std::exp(double(x[i]) - double(m));
  return double(m) + std::log(sum);
}

__attribute__((target("avx2,fma"))) void bounds_avx2(const float* row, const std::int32_t* tok, i64 count,
                                                     float shift, float base, float* bound) {
  const __m256 sv = _mm256_set1_ps(shift), bv = _mm256_set1_ps(base);
  i64 i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tok + i));
    const __m256 x = _mm256_i32gather_ps(row, idx, 4);
    _mm256_storeu_ps(bound + i, _mm256_add_ps(_mm256_sub_ps(x, sv), bv));
  }
  for (; i < count; ++i) bound[i] = (row[tok[i]] - shift) + base;
}
#else
double logsumexp_avx2(const float* x, i64 n) { return logsumexp_scalar(x, n); }
void bounds_avx2(const float* row, const std::int32_t* tok, i64 count, float shift, float base, float* bound) {
  bounds_scalar(row, tok, count, shift, base, bound);
}
#endif

void bounds_scalar(const float* row, const std::int32_t* tok, i64 count, float shift, float base, float* bound) {
  for (i64 i = 0; i < count; ++i) bound[i] = (row[tok[i]] - shift) + base;
}

BoundsFn bounds_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? bounds_scalar : bounds_avx2;
}

LogSumExpFn logsumexp_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? logsumexp_scalar : logsumexp_avx2;
}

}  // namespace semid::cpu
