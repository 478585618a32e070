// AVX-512 12x32 micro-kernel: 24 zmm accumulators, two B vectors, one A broadcast per row.
#include "gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace semid::cpu {

bool avx512_compiled() { return true; }

__attribute__((target("avx512f"))) void kernel_avx512_12x32(i64 kc, const float* a,
                                                            const float* b, float* c, i64 ldc,
                                                            int mr, int nr, bool accumulate) {
  constexpr int MR = 12;
  for (int i = 0; i < MR; ++i) {  // the C tile is touched only after the k loop: prefetch it now
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
  for (i64 p = 0; p < kc; ++p) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      __m512 av = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(av, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(av, b1, acc1[i]);
    }
    a += MR;
    b += 32;
  }
  alignas(64) float tile[MR][32];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    _mm512_store_ps(tile[i], acc0[i]);
    _mm512_store_ps(tile[i] + 16, acc1[i]);
  }
  store_tile(&tile[0][0], 32, c, ldc, mr, nr, accumulate);
}

}  // namespace semid::cpu
#else
namespace semid::cpu {
bool avx512_compiled() { return false; }
void kernel_avx512_12x32(i64, const float*, const float*, float*, i64, int, int, bool) {}
}  // namespace semid::cpu
#endif
