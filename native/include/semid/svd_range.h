// The randomized range finder's backend (internal to the SVD). The loop in native/cpu/svd.cc is
// written once against RangeBackend; a backend holds X and the long buffers (Y: n x q, Z: d x q)
// where its products run: host memory with our CPU GEMM or a CSR product (cpu/svd.cc), or device
// memory with our CUDA GEMM (cuda/svd_range.cu). Buffers are opaque handles owned by the
// backend; the loop never reads them except through to_host(). Small q x q work (Cholesky,
// triangular inverse, the eigenproblem) stays on the host in float64.
#pragma once
#include <memory>
#include <vector>

#include "semid/common.h"
#include "semid/svd.h"

namespace semid {

struct RangeBackend {
  i64 n = 0, d = 0;  // X is n x d
  virtual ~RangeBackend() = default;
  /** A new buffer of `count` floats on the backend (contents undefined), valid for its lifetime. */
  virtual float* alloc(i64 count) = 0;
  /** buf[0 .. count) = host[0 .. count). */
  virtual void upload(const float* host, i64 count, float* buf) = 0;
  /** The buffer's contents readable on the host (the buffer itself, or a copy). */
  virtual const float* to_host(const float* buf, i64 count) = 0;
  /** Y [n x q] = Xc Z (Z [d x q]); Xc is X centred when the backend was given a mean. */
  virtual void mul(const float* Z, i64 q, float* Y) = 0;
  /** Z [d x q] = Xcᵀ Y (Y [n x q]). */
  virtual void tmul(const float* Y, i64 q, float* Z) = 0;
  /** G [q x q, host, float64, full] = Bᵀ B for B [m x q]. */
  virtual void gram(const float* B, i64 m, i64 q, double* G) = 0;
  /** out [m x s] = B [m x q] S [q x s], S on the host; out does not alias B. */
  virtual void times(const float* B, i64 m, i64 q, const float* S, i64 s, float* out) = 0;
  /** The projection [m x s] = B S into the result (r.projected on the host, or device memory). */
  virtual void project(const float* B, i64 m, i64 q, const float* S, i64 s, SvdResult& r) = 0;
};

/**
 * R⁻¹ (q x q, upper, row-major, float32) for the Cholesky factor R of G + shift I, G a
 * symmetric positive semi-definite q x q float64 matrix (G = Rᵀ R): CholeskyQR's small step,
 * B R⁻¹ having orthonormal columns when G = Bᵀ B. The shift grows from 0 while G is
 * numerically singular; ERR_SEMID_NO_CONVERGENCE past that. One thread; same bits everywhere.
 */
std::vector<float> cholesky_inverse(const std::vector<double>& G, i64 q);

/**
 * The randomized SVD of the backend's matrix (see semid/svd.h): fills singular values,
 * components (signs fixed) and the projection; `prm.rank` <= min(n, d). With `zero` (from
 * matrix_numerically_zero) the range is not sampled: singular values 0, unit-vector components,
 * a zero projection.
 */
void svd_randomized(RangeBackend& backend, const SvdParams& prm, int threads, const CancelFlag& cancel, SvdResult& r,
                    bool zero = false);

/**
 * True when the matrix the SVD decomposes (centred when `center`) holds nothing above float32
 * rounding: its sum of squares n·total_var (centred; the raw sum otherwise) is at most 1e-12 of
 * the raw sum of squares n·(total_var + |mean|²), or the matrix is all zeros. `mean` [d] and
 * `total_var` (the sum of the column variances, ddof 0) are the column statistics. The range
 * of such a matrix cannot be sampled: a basis of zeros or of rounding noise is not
 * orthonormalised by CholeskyQR (it fails, or blows the noise up to ~1e23).
 */
bool matrix_numerically_zero(const std::vector<double>& mean, double total_var, i64 n, bool center);

/**
 * The CUDA backend over X [n x d]: `x` is device memory when `x_on_device`, else host memory
 * copied to the device once. `mean` [d] (host, nullable) centres X. The projection goes to
 * `device_projected` [n x s] when non-null, else to r.projected on the host.
 */
std::unique_ptr<RangeBackend> make_cuda_range_backend(const float* x, bool x_on_device, i64 n, i64 d,
                                                      const double* mean, float* device_projected,
                                                      const CancelFlag& cancel);

/** Column means and the sum of column variances (ddof 0) of device-resident X, in float64. */
void cuda_column_stats(const float* device_x, i64 n, i64 d, std::vector<double>& mean, double& total_var);

}  // namespace semid
