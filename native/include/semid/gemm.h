// Dense float32 matrix products, row-major, batched:
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]
// op(A) is m x k (A stored k x m when trans_a), op(B) is k x n (B stored n x k when trans_b).
// A batch stride of 0 broadcasts that operand over the batch.
#pragma once
#include <vector>

#include "semid/common.h"

namespace semid {

struct GemmArgs {
  i64 batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  const float* a = nullptr;  // [batch][m x k] (or [k x m] when trans_a), row stride lda
  i64 lda = 0, stride_a = 0;
  const float* b = nullptr;  // [batch][k x n] (or [n x k] when trans_b), row stride ldb
  i64 ldb = 0, stride_b = 0;
  float* c = nullptr;  // [batch][m x n], row stride ldc
  i64 ldc = 0, stride_c = 0;
  float alpha = 1.0f, beta = 0.0f;
  // CPU only, for symmetric products such as Aᵀ A (m == n): compute only the register tiles that
  // reach the upper triangle (column >= row); tiles wholly below it are left as they were. The
  // CUDA path computes all of C.
  bool upper_only = false;
};

/** Throws semid::Error when shapes or strides are inconsistent (validate_gemm: pointers too). */
void validate_gemm_shape(const GemmArgs& args);
void validate_gemm(const GemmArgs& args);

/**
 * CPU product: packed, cache-blocked, SIMD micro-kernel, threads over row/column blocks.
 * When the build linked OpenBLAS and allow_blas is true, cblas_sgemm runs instead.
 */
void gemm_cpu(const GemmArgs& args, int threads, const CancelFlag& cancel, bool allow_blas = true);

/**
 * The upper triangle of a Gram block: C (p x p, row stride ldc) = Bᵀ B for one k x p float32
 * operand B, element (q, j) at b[q * ldb + j], or at b[j * ldb + q] when trans (B stored p x k).
 * When mean (float64, p) is given, B[q][j] - mean[j] (rounded to float32) is used instead. Sums run
 * in float32 in q order; every entry on or above the diagonal is written, entries below it are
 * left unspecified (whole 4 x 24 tiles are computed or skipped). Single-threaded: callers split
 * long sums into blocks and run them in parallel, each with its own `scratch` (the packed operand,
 * up to 256 x p floats, kept between calls; a local buffer when null).
 *   std::vector<float> g(p * p); syrk_upper_cpu(n, p, x, p, false, nullptr, g.data(), p);  // Xᵀ X
 */
void syrk_upper_cpu(i64 k, i64 p, const float* b, i64 ldb, bool trans, const double* mean, float* c, i64 ldc,
                    std::vector<float>* scratch = nullptr);

/** The simplest correct product (triple loop, float accumulation): the test oracle. */
void gemm_reference(const GemmArgs& args);

}  // namespace semid
