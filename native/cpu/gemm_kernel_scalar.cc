// Portable 6x16 micro-kernel (the compiler may vectorise it with the baseline ISA).
#include "gemm_kernel.h"

namespace semid::cpu {

void kernel_scalar_6x16(i64 kc, const float* a, const float* b, float* c, i64 ldc, int mr, int nr,
                        bool accumulate) {
  constexpr int MR = 6, NR = 16;
  float acc[MR][NR] = {};
  for (i64 p = 0; p < kc; ++p) {
    const float* ap = a + p * MR;
    const float* bp = b + p * NR;
    for (int i = 0; i < MR; ++i) {
      float av = ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += av * bp[j];
    }
  }
  store_tile(&acc[0][0], NR, c, ldc, mr, nr, accumulate);
}

void gram_kernel_scalar_4x24(i64 kc, const float* a, i64 a_stride, const float* b, float* c, i64 ldc, int mr,
                             int nr, bool accumulate) {
  constexpr int MR = kGramMR, NR = kGramNR;
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

}  // namespace semid::cpu
