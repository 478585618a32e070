// Truncated SVD of a float32 matrix (dense n x d, or sparse CSR) to rank r, and the float64
// symmetric eigensolver it rests on. Methods:
//   gram        exact for tall (or wide) matrices: the d x d (or n x n) Gram matrix accumulated in
//               float64 over 1,024-row blocks of float32 products (upper triangle only, read in
//               place), the top-r eigenpairs by a float64 symmetric eigensolver, then a projection. Singular values come from eigenvalues, so a
//               singular value below ~sqrt(eps_f32) * sigma_max loses relative accuracy (the
//               Gram matrix squares the condition number).
//   randomized  range finder (Halko et al.): Gaussian test matrix, q = r + oversample columns,
//               power iterations re-orthonormalised on the short side (CholeskyQR with a float64
//               Gram; CholeskyQR2 for the final basis), then the small q x q problem B Bᵀ by
//               the Gram route. Components past the numerical rank are completed to an
//               orthonormal set. For wide and sparse matrices.
//   exact       one-sided Jacobi in float64 on the whole matrix: for small matrices.
// Right singular vectors have their largest-magnitude entry positive (deterministic signs).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "semid/common.h"
#include "semid/prefaulted.h"

namespace semid {

/**
 * The k largest eigenpairs of a symmetric n x n float64 matrix (row-major; overwritten):
 * Householder tridiagonalisation, implicit QL for the eigenvalues, inverse iteration for the k
 * eigenvectors of the tridiagonal (re-orthogonalised within clusters of close eigenvalues), and
 * the reflectors applied to those k vectors (the scheme of LAPACK dsyevx). On return `values`
 * holds the k largest eigenvalues, descending, and row j of `vectors` (k x n) the unit
 * eigenvector of values[j]. The back-transformation runs on `threads`; the result does not
 * depend on the thread count.
 */
void symmetric_eigen_top(double* a, i64 n, i64 k, std::vector<double>& values, std::vector<double>& vectors,
                         const CancelFlag& cancel, int threads = 0);

struct SvdParams {
  i64 rank = 0;
  std::string method = "auto";  // auto | gram | randomized | exact
  i64 oversample = 10;
  i64 power_iters = 4;
  bool center = false;
  std::uint64_t seed = 0;
  bool cuda = false;  // dense products on the CUDA GEMM (randomized: the whole range finder on the device)
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
  // [n x r] = (X - mean) V^T = U S; its allocator returns zeroed pages faulted in on every core
  std::vector<float, PrefaultedAllocator<float>> projected;
  std::vector<double> explained_variance;  // [r] variance of each projected column (ddof 1 centred, else 0)
  double total_variance = 0;          // sum of the column variances of X (ddof 1)
};

/** Dense x [n x d] row-major. */
SvdResult truncated_svd(const float* x, i64 n, i64 d, const SvdParams& p, int threads, const CancelFlag& cancel);
/** Sparse x (CSR); never densified. */
SvdResult truncated_svd_csr(const CsrView& x, const SvdParams& p, int threads, const CancelFlag& cancel);

/**
 * The randomized method on the CUDA backend for X already in device memory (`device_x`,
 * [n x d]); nothing of X is copied. The projection [n x rank] is written to `device_projected`
 * (device memory) when non-null, and r.projected stays empty; components and singular values
 * come back on the host. Needs a CUDA build (ERR_SEMID_NO_CUDA otherwise).
 */
SvdResult truncated_svd_cuda_device(const float* device_x, i64 n, i64 d, const SvdParams& p, int threads,
                                    const CancelFlag& cancel, float* device_projected);

/** The method `auto` picks for this shape. */
std::string svd_auto_method(i64 n, i64 d, bool sparse);

}  // namespace semid
