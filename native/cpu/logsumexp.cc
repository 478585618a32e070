// Log-sum-exp of a row (see logsumexp.h). The AVX2 path evaluates exp eight lanes at a time with
// exp_bounded256 (relative error <= 1.5e-7 on the terms that matter); the scalar path uses
// double exp.
#include "logsumexp.h"
#include "simd_exp.h"

#include <algorithm>
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

double logsumexp_scalar(const float* x, i64 n, float* max_out) {
  if (row_has_nan_or_posinf(x, n)) return std::numeric_limits<double>::quiet_NaN();
  const float m = row_max(x, n);
  if (max_out != nullptr) *max_out = m;
  if (m == -std::numeric_limits<float>::infinity()) return -std::numeric_limits<double>::infinity();
  double s = 0;
  for (i64 i = 0; i < n; ++i) s += std::exp(double(x[i]) - double(m));
  return double(m) + std::log(s);
}

#if defined(__x86_64__) || defined(__i386__)
namespace {

/** The eight lanes of v added in double. */
__attribute__((target("avx2"))) inline double horizontal_sum(__m256 v) {
  const __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
  return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
}

/** Sum of exp(x - ref) over the row, eight lanes at a time (x - ref <= 80), the tail in double. */
__attribute__((target("avx2,fma"))) double sum_exp_avx2(const float* x, i64 n, float ref) {
  const __m256 rb = _mm256_set1_ps(ref);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  i64 i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, exp_bounded256(_mm256_sub_ps(_mm256_loadu_ps(x + i), rb)));
    s1 = _mm256_add_ps(s1, exp_bounded256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), rb)));
    s2 = _mm256_add_ps(s2, exp_bounded256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 16), rb)));
    s3 = _mm256_add_ps(s3, exp_bounded256(_mm256_sub_ps(_mm256_loadu_ps(x + i + 24), rb)));
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, exp_bounded256(_mm256_sub_ps(_mm256_loadu_ps(x + i), rb)));
  double sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) sum += std::exp(double(x[i]) - double(ref));
  return sum;
}

}  // namespace

// One pass in the common case: the sum of exponentials is taken against the first eight values'
// maximum while the row's maximum is tracked; only a row whose maximum lies more than 80 above
// that reference (lanes could overflow) is summed again against its maximum. NaN and +inf make
// the sum NaN (exp_bounded256), which is how they are found.
__attribute__((target("avx2,fma"))) double logsumexp_avx2(const float* x, i64 n, float* max_out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (n < 8) return logsumexp_scalar(x, n, max_out);
  const float ref = horizontal_max(_mm256_loadu_ps(x));
  if (!(ref > kNegInf)) return logsumexp_scalar(x, n, max_out);  // a leading chunk of -inf (or NaN): rare
  const __m256 rb = _mm256_set1_ps(ref);
  __m256 mv = _mm256_set1_ps(kNegInf), s0 = _mm256_setzero_ps(), s1 = s0;
  i64 i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    mv = _mm256_max_ps(mv, _mm256_max_ps(a, b));
    s0 = _mm256_add_ps(s0, exp_bounded256(_mm256_sub_ps(a, rb)));
    s1 = _mm256_add_ps(s1, exp_bounded256(_mm256_sub_ps(b, rb)));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    mv = _mm256_max_ps(mv, a);
    s0 = _mm256_add_ps(s0, exp_bounded256(_mm256_sub_ps(a, rb)));
  }
  if (row_has_nan_or_posinf(x + i, n - i)) return std::numeric_limits<double>::quiet_NaN();
  float m = horizontal_max(mv);
  for (i64 j = i; j < n; ++j) m = x[j] > m ? x[j] : m;
  if (max_out != nullptr) *max_out = m;
  if (m - ref <= 80.0f) {  // no lane could overflow: the sum stands (NaN when the row holds NaN / +inf)
    double sum = horizontal_sum(_mm256_add_ps(s0, s1));
    for (; i < n; ++i) sum += std::exp(double(x[i]) - double(ref));
    return std::isnan(sum) ? sum : double(ref) + std::log(sum);
  }
  // The reference was too low (or m is NaN / +inf: the sum below is NaN then).
  const double sum = sum_exp_avx2(x, n, m);
  return std::isnan(sum) ? sum : double(m) + std::log(sum);
}

__attribute__((target("avx2,fma"))) bool bounds_avx2(const float* row, i64 vocab, const std::int32_t* tok, i64 count,
                                                     float shift, float base, float* bound) {
  // Unsigned compare: a negative token is as large as any, so one test covers both ends.
  const __m256i hi = _mm256_set1_epi32(int(std::min<i64>(vocab, std::numeric_limits<std::int32_t>::max())));
  __m256i outside = _mm256_setzero_si256();
  i64 i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tok + i));
    outside = _mm256_or_si256(outside, _mm256_cmpeq_epi32(_mm256_max_epu32(idx, hi), idx));
  }
  for (i64 j = i; j < count; ++j)
    if (tok[j] < 0 || tok[j] >= vocab) return false;
  if (!_mm256_testz_si256(outside, outside)) return false;
  const __m256 sv = _mm256_set1_ps(shift), bv = _mm256_set1_ps(base);
  for (i = 0; i + 8 <= count; i += 8) {
    const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tok + i));
    const __m256 x = _mm256_i32gather_ps(row, idx, 4);
    _mm256_storeu_ps(bound + i, _mm256_add_ps(_mm256_sub_ps(x, sv), bv));
  }
  for (; i < count; ++i) bound[i] = (row[tok[i]] - shift) + base;
  return true;
}
#else
double logsumexp_avx2(const float* x, i64 n, float* row_max) { return logsumexp_scalar(x, n, row_max); }
bool bounds_avx2(const float* row, i64 vocab, const std::int32_t* tok, i64 count, float shift, float base, float* bound) {
  return bounds_scalar(row, vocab, tok, count, shift, base, bound);
}
#endif

bool bounds_scalar(const float* row, i64 vocab, const std::int32_t* tok, i64 count, float shift, float base, float* bound) {
  for (i64 i = 0; i < count; ++i)
    if (tok[i] < 0 || tok[i] >= vocab) return false;
  for (i64 i = 0; i < count; ++i) bound[i] = (row[tok[i]] - shift) + base;
  return true;
}

BoundsFn bounds_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? bounds_scalar : bounds_avx2;
}

LogSumExpFn logsumexp_fn() {
  return active_simd() == SimdLevel::Scalar || !avx2_compiled() ? logsumexp_scalar : logsumexp_avx2;
}

}  // namespace semid::cpu
