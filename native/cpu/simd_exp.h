// Internal to native/cpu: exp of eight floats with AVX2 (Cephes polynomial, relative error ~1e-7;
// inputs clamped to [-87, 88]), and the lanes' maximum. Shared by log-sum-exp, the fused
// activations and attention.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace semid::cpu {

__attribute__((target("avx2,fma"))) inline __m256 exp256(__m256 x) {
  // exp(x) = 2^k * exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 split in two for accuracy).
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/**
 * exp(x) of eight floats x <= 80 for sums of exponentials such as log-sum-exp (NaN or +inf in
 * gives NaN out, so a sum shows them; x > 88 gives garbage):
 * 2^(k/8) from an eight-entry in-register table times 2^(k div 8) in the exponent bits, and
 * exp(r), |r| <= ln2/16, by its cubic Taylor polynomial (truncation 1.5e-7). Relative error
 * <= 1.5e-7 for |x| <= 20 and <= 4e-7 down to -87, below which x is clamped (a term of 1.6e-38
 * instead of less). About 1.4x the speed of exp256.
 */
__attribute__((target("avx2,fma"))) inline __m256 exp_bounded256(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);  // NaN (and +inf, via inf - inf) give NaN
  const __m256 magic = _mm256_set1_ps(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const __m256 kb = _mm256_fmadd_ps(x, _mm256_set1_ps(11.541560327111707f), magic);  // k = round(x * 8 / ln 2)
  const __m256 k = _mm256_sub_ps(kb, magic);
  const __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.086643397569993164f), x);  // x - k * ln2 / 8
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 6), r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // 2^(k / 8) = 2^(j / 8) * 2^q for k = 8q + j, j = k mod 8: the bits of 2^(j / 8) plus q << 23.
  // The table holds those bits less j << 20, so that adding k << 20 (= (q << 23) + (j << 20))
  // gives them in one add: kbits << 20 is k << 20, the magic's bits shifting out.
  const __m256i table = _mm256_sub_epi32(
      _mm256_castps_si256(_mm256_setr_ps(1.0f, 1.0905077326652577f, 1.1892071150027210f, 1.2968395546510096f,
                                         1.4142135623730951f, 1.5422108254079407f, 1.6817928305074290f,
                                         1.8340080864093424f)),
      _mm256_setr_epi32(0, 1 << 20, 2 << 20, 3 << 20, 4 << 20, 5 << 20, 6 << 20, 7 << 20));
  const __m256i kbits = _mm256_castps_si256(kb);  // 0x4B400000 + k: the low three bits are j
  const __m256i frac = _mm256_permutevar8x32_epi32(table, kbits);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_add_epi32(frac, _mm256_slli_epi32(kbits, 20))));
}

/** The largest of the eight lanes of v. */
__attribute__((target("avx2"))) inline float horizontal_max(__m256 v) {
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  return _mm_cvtss_f32(h);
}

}  // namespace semid::cpu
#endif
