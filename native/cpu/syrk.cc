// Gram blocks Bᵀ B on the CPU (see semid/gemm.h, syrk_upper_cpu): the operand is packed once into
// 24-column panels that serve as both sides of the product, and only the register tiles that
// reach the upper triangle are computed.
#include <algorithm>
#include <string>
#include <vector>

#include "gemm_kernel.h"
#include "semid/gemm.h"

namespace semid {

namespace {

constexpr i64 kSyrkKC = 256;  // rows of B per packed panel set (a 24 x 256 panel is 24 KiB)

/**
 * dst[panel][q][kGramNR] = B[p0 + q][j] - mean[j] (float32 of the float64 difference), q < kc,
 * zero-padded past column p: one k-panel of the operand in kGramNR-column panels.
 */
void pack_gram(i64 p0, i64 kc, i64 p, const float* b, i64 ldb, bool trans, const double* mean, float* dst) {
  constexpr i64 NR = cpu::kGramNR;
  if (!trans) {  // row q of B is contiguous: read it once, feeding every panel
    for (i64 q = 0; q < kc; ++q) {
      const float* src = b + (p0 + q) * ldb;
      for (i64 jp = 0; jp < p; jp += NR) {
        const i64 cols = std::min(NR, p - jp);
        float* out = dst + jp * kc + q * NR;
        if (mean)
          for (i64 j = 0; j < cols; ++j) out[j] = float(double(src[jp + j]) - mean[jp + j]);
        else
          for (i64 j = 0; j < cols; ++j) out[j] = src[jp + j];
        for (i64 j = cols; j < NR; ++j) out[j] = 0.0f;
      }
    }
    return;
  }
  for (i64 jp = 0; jp < p; jp += NR) {  // column j of B is row j of storage: read it contiguously
    const i64 cols = std::min(NR, p - jp);
    float* panel = dst + jp * kc;
    for (i64 j = 0; j < cols; ++j) {
      const float* src = b + (jp + j) * ldb + p0;
      const double m = mean ? mean[jp + j] : 0.0;
      if (mean)
        for (i64 q = 0; q < kc; ++q) panel[q * NR + j] = float(double(src[q]) - m);
      else
        for (i64 q = 0; q < kc; ++q) panel[q * NR + j] = src[q];
    }
    for (i64 j = cols; j < NR; ++j)
      for (i64 q = 0; q < kc; ++q) panel[q * NR + j] = 0.0f;
  }
}

}  // namespace

void syrk_upper_cpu(i64 k, i64 p, const float* b, i64 ldb, bool trans, const double* mean, float* c, i64 ldc,
                    std::vector<float>* scratch) {
  if (k < 0 || p < 0) throw Error("ERR_SEMID_INVALID_ARG", "syrk: k and p must be >= 0, got " + std::to_string(k) + ", " + std::to_string(p));
  const i64 ldb_min = std::max<i64>(1, trans ? k : p);
  if (ldb < ldb_min)
    throw Error("ERR_SEMID_INVALID_ARG", "syrk: ldb must be >= " + std::to_string(ldb_min) + ", got " + std::to_string(ldb));
  if (ldc < std::max<i64>(1, p)) throw Error("ERR_SEMID_INVALID_ARG", "syrk: ldc must be >= p, got " + std::to_string(ldc));
  if (p == 0) return;
  if (k == 0) {
    for (i64 i = 0; i < p; ++i) std::fill(c + i * ldc + i, c + i * ldc + p, 0.0f);
    return;
  }
  constexpr i64 MR = cpu::kGramMR, NR = cpu::kGramNR;
  const cpu::GramKernelFn kernel = cpu::select_gram_kernel();
  const i64 p_pad = cpu::round_up(p, NR);
  std::vector<float> local;
  std::vector<float>& pack = scratch ? *scratch : local;
  pack.resize(std::min(k, kSyrkKC) * p_pad);
  for (i64 q0 = 0; q0 < k; q0 += kSyrkKC) {
    const i64 kc = std::min(kSyrkKC, k - q0);
    pack_gram(q0, kc, p, b, ldb, trans, mean, pack.data());
    for (i64 jp = 0; jp < p; jp += NR) {  // C columns jp.. from panel jp; rows from 0 to its diagonal
      const int nr = int(std::min(NR, p - jp));
      const float* b_panel = pack.data() + jp * kc;
      for (i64 i = 0; i < jp + nr; i += MR) {
        const int mr = int(std::min(MR, p - i));
        const float* a_rows = pack.data() + (i / NR * NR) * kc + i % NR;  // columns i.. of the operand
        kernel(kc, a_rows, NR, b_panel, c + i * ldc + jp, ldc, mr, nr, q0 > 0);
      }
    }
  }
}

}  // namespace semid
