// Portable micro-kernels (the compiler may vectorise them with the baseline ISA).
#include "gemm_kernel.h"

namespace semid::cpu {

namespace {

/** An MR x NR register tile: c (+)= sum_p a[p * a_stride + i] * b[p * NR + j]. */
template <int MR, int NR>
void scalar_tile(i64 kc, const float* a, i64 a_stride, const float* b, float* c, i64 ldc, int mr, int nr,
                 bool accumulate) {
  float acc[MR][NR] = {};
  for (i64 p = 0; p < kc; ++p) {
    const float* ap = a + p * a_stride;
    const float* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      float av = ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += av * bp[j];
    }
  }
  store_tile(&acc[0][0], NR, c, ldc, mr, nr, accumulate);
}

}  // namespace

void kernel_scalar_6x16(i64 kc, const float* a, const float* b, float* c, i64 ldc, int mr, int nr,
                        bool accumulate) {
  scalar_tile<6, 16>(kc, a, 6, b, c, ldc, mr, nr, accumulate);
}

void gram_kernel_scalar_4x24(i64 kc, const float* a, i64 a_stride, const float* b, float* c, i64 ldc, int mr,
                             int nr, bool accumulate) {
  scalar_tile<kGramMR, kGramNR>(kc, a, a_stride, b, c, ldc, mr, nr, accumulate);
}

}  // namespace semid::cpu
