// Packing of GEMM operands into micro-kernel panels and kernel selection.
#include <cstring>

#include "gemm_kernel.h"

namespace semid::cpu {

void pack_a(const MatView& a, i64 i0, i64 mc, i64 p0, i64 kc, int mr, float scale, float* dst) {
  for (i64 ip = 0; ip < mc; ip += mr) {
    int rows = static_cast<int>(mc - ip < mr ? mc - ip : mr);
    float* panel = dst + ip * kc;
    if (!a.trans) {
      for (int i = 0; i < rows; ++i) {
        const float* src = a.data + (i0 + ip + i) * a.ld + p0;
        for (i64 p = 0; p < kc; ++p) panel[p * mr + i] = src[p] * scale;
      }
    } else {
      for (i64 p = 0; p < kc; ++p) {
        const float* src = a.data + (p0 + p) * a.ld + i0 + ip;
        for (int i = 0; i < rows; ++i) panel[p * mr + i] = src[i] * scale;
      }
    }
    for (int i = rows; i < mr; ++i)
      for (i64 p = 0; p < kc; ++p) panel[p * mr + i] = 0.0f;
  }
}

void pack_b(const MatView& b, i64 p0, i64 kc, i64 j0, i64 nc, int nr, float* dst) {
  if (!b.trans) {
    // Each p is one contiguous row of B that feeds every panel: walking the rows outermost reads B
    // sequentially (panel by panel would walk down B's columns, one cache miss per row: 3x slower
    // measured here on a 256 x 384 block read from memory).
    for (i64 p = 0; p < kc; ++p) {
      const float* src = b.data + (p0 + p) * b.ld + j0;
      for (i64 jp = 0; jp < nc; jp += nr) {
        const int cols = static_cast<int>(nc - jp < nr ? nc - jp : nr);
        float* out = dst + jp * kc + p * nr;
        std::memcpy(out, src + jp, sizeof(float) * cols);
        for (int j = cols; j < nr; ++j) out[j] = 0.0f;
      }
    }
    return;
  }
  for (i64 jp = 0; jp < nc; jp += nr) {
    const int cols = static_cast<int>(nc - jp < nr ? nc - jp : nr);
    float* panel = dst + jp * kc;
    for (int j = 0; j < cols; ++j) {
      const float* src = b.data + (j0 + jp + j) * b.ld + p0;
      for (i64 p = 0; p < kc; ++p) panel[p * nr + j] = src[p];
    }
    for (int j = cols; j < nr; ++j)
      for (i64 p = 0; p < kc; ++p) panel[p * nr + j] = 0.0f;
  }
}

const MicroKernel& kernel_for(SimdLevel level) {
  static const MicroKernel scalar{6, 16, kernel_scalar_6x16, SimdLevel::Scalar};
  static const MicroKernel avx2{6, 16, kernel_avx2_6x16, SimdLevel::Avx2Fma};
  static const MicroKernel avx512{12, 32, kernel_avx512_12x32, SimdLevel::Avx512};
  if (level == SimdLevel::Avx512 && avx512_compiled()) return avx512;
  if (level != SimdLevel::Scalar && avx2_compiled()) return avx2;
  return scalar;
}

const MicroKernel& select_kernel() { return kernel_for(active_simd()); }

bool avx2_active() { return active_simd() != SimdLevel::Scalar && avx2_compiled(); }

GramKernelFn select_gram_kernel() {
  // AVX-512 machines run the AVX2 kernel too (a 512-bit Gram tile is not written yet).
  return active_simd() != SimdLevel::Scalar && avx2_compiled() ? gram_kernel_avx2_4x24 : gram_kernel_scalar_4x24;
}

}  // namespace semid::cpu
