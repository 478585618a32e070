// Internal to native/cpu: the register-blocked micro-kernels and the packing shared by gemm_cpu
// and nearest_cpu. A micro-kernel multiplies an MR x kc panel of A by a kc x NR panel of B.
#pragma once
#include "semid/common.h"
#include "semid/cpu_features.h"

namespace semid::cpu {

/**
 * c[i*ldc + j] (+)= sum_p a[p*mr_full + i] * b[p*nr_full + j] for i < mr, j < nr.
 * `a` is a packed A panel (MR floats per p), `b` a packed B panel (NR floats per p);
 * accumulate=false overwrites c.
 */
using MicroKernelFn = void (*)(i64 kc, const float* a, const float* b, float* c, i64 ldc, int mr,
                               int nr, bool accumulate);

struct MicroKernel {
  int mr, nr;  // register tile: MR rows x NR columns
  MicroKernelFn fn;
  SimdLevel level;
};

/** Whether the AVX2 + FMA code paths of native/cpu run: the CPU has them, SEMID_SIMD allows them, they were compiled. */
bool avx2_active();

/** The kernel for active_simd(). */
const MicroKernel& select_kernel();
const MicroKernel& kernel_for(SimdLevel level);

// Cache blocking (floats): KC along k, MC rows of A per block, NC columns of B per block.
constexpr i64 kKC = 256;
constexpr i64 kMC = 144;
constexpr i64 kNC = 2048;

/** An operand view: element (r, c) of op(M) is data[trans ? c*ld + r : r*ld + c]. */
struct MatView {
  const float* data;
  i64 ld;
  bool trans;
  float at(i64 r, i64 c) const { return trans ? data[c * ld + r] : data[r * ld + c]; }
};

/** Pack op(A)[i0:i0+mc, p0:p0+kc] * scale into MR-row panels (zero-padded): dst[panel][p][MR]. */
void pack_a(const MatView& a, i64 i0, i64 mc, i64 p0, i64 kc, int mr, float scale, float* dst);

/** Pack op(B)[p0:p0+kc, j0:j0+nc] into NR-column panels (zero-padded): dst[panel][p][NR]. */
void pack_b(const MatView& b, i64 p0, i64 kc, i64 j0, i64 nc, int nr, float* dst);

inline i64 round_up(i64 v, i64 m) { return (v + m - 1) / m * m; }

/** Write (or add) the valid mr x nr corner of a register tile (row stride `stride`) into C. */
inline void store_tile(const float* tile, int stride, float* c, i64 ldc, int mr, int nr, bool accumulate) {
  for (int i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    const float* t = tile + i * stride;
    if (accumulate)
      for (int j = 0; j < nr; ++j) row[j] += t[j];
    else
      for (int j = 0; j < nr; ++j) row[j] = t[j];
  }
}

/**
 * The Gram (SYRK) micro-kernel: c[i*ldc + j] (+)= sum_p a[p*a_stride + i] * b[p*kGramNR + j] for
 * i < mr <= kGramMR, j < nr <= kGramNR. Both operands are NR-column panels of one packed matrix:
 * `b` is a whole panel and `a` points kGramMR columns into a panel (a_stride = kGramNR), so the
 * operand is packed once for both sides of Bᵀ B.
 */
using GramKernelFn = void (*)(i64 kc, const float* a, i64 a_stride, const float* b, float* c, i64 ldc, int mr,
                              int nr, bool accumulate);
constexpr int kGramMR = 4, kGramNR = 24;  // kGramMR divides kGramNR

/** The Gram kernel for active_simd(). */
GramKernelFn select_gram_kernel();

// Kernels compiled per instruction set (each in its own translation unit).
void kernel_scalar_6x16(i64, const float*, const float*, float*, i64, int, int, bool);
void kernel_avx2_6x16(i64, const float*, const float*, float*, i64, int, int, bool);
void kernel_avx512_12x32(i64, const float*, const float*, float*, i64, int, int, bool);
void gram_kernel_scalar_4x24(i64, const float*, i64, const float*, float*, i64, int, int, bool);
void gram_kernel_avx2_4x24(i64, const float*, i64, const float*, float*, i64, int, int, bool);
bool avx2_compiled();
bool avx512_compiled();

}  // namespace semid::cpu
