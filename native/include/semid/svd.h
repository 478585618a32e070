// Truncated SVD of a float32 matrix (dense n x d, or sparse CSR) to rank r, and the float64
// symmetric eigensolver it rests on. Methods:
//   gram        exact for tall (or wide) matrices: the d x d (or n x n) Gram matrix accumulated in
//               float64 over 1,024-row blocks of float32 products, a float64 symmetric
//               eigensolver, then a projection. Singular values come from eigenvalues, so a
//               singular value below ~sqrt(eps_f32) * sigma_max loses relative accuracy (the
//               Gram matrix squares the condition number).
//   randomized  range finder (Halko et al.): Gaussian test matrix, q = r + oversample columns,
//               power iterations re-orthonormalised each time (CholeskyQR2 in float64), then
//               the small q x d problem by the Gram route. For wide and sparse matrices.
//   exact       one-sided Jacobi in float64 on the whole matrix: for small matrices.
// Right singular vectors have their largest-magnitude entry positive (deterministic signs).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "semid/common.h"

namespace semid {

/**
 * Eigen-decomposition of a symmetric n x n float64 matrix (row-major, overwritten):
 * Householder tridiagonalisation and implicit QL (EISPACK tred2/tql2). On return `values` holds
 * the eigenvalues ascending and row j of `a` the unit eigenvector of values[j]. The rotations of
 * each QL sweep and the accumulation of the reflectors run on `threads` (column blocks).
 */
void symmetric_eigen(double* a, i64 n, std::vector<double>& values, const CancelFlag& cancel, int threads = 0);

struct SvdParams {
  i64 rank = 0;
  std::string method = "auto";  // auto | gram | randomized | exact
  i64 oversample = 10;
  i64 power_iters = 4;
  bool center = false;
  std::uint64_t seed = 0;
  bool cuda = false;  // dense products on the CUDA GEMM
};

/** A CSR matrix: row i holds values[indptr[i] .. indptr[i+1]) at columns indices[...]. */
struct CsrView {
  i64 rows = 0, cols = 0;
  const std::int64_t* indptr = nullptr;  // [rows + 1]
  const std::int32_t* indices = nullptr; // [nnz]
  const float* values = nullptr;         // [nnz]
};

struct SvdResult {
  std::string method;                 // the method that ran
  std::vector<double> singular_values;  // [r], descending
  std::vector<float> components;      // [r x d] right singular vectors (rows)
  std::vector<float> mean;            // [d] when centered
  std::vector<float> projected;       // [n x r] = (X - mean) V^T = U S
  double total_variance = 0;          // sum of the column variances of X (ddof 1)
};

/** Dense x [n x d] row-major. */
SvdResult truncated_svd(const float* x, i64 n, i64 d, const SvdParams& p, int threads, const CancelFlag& cancel);
/** Sparse x (CSR); never densified. */
SvdResult truncated_svd_csr(const CsrView& x, const SvdParams& p, int threads, const CancelFlag& cancel);

/** The method `auto` picks for this shape. */
std::string svd_auto_method(i64 n, i64 d, bool sparse);

}  // namespace semid
