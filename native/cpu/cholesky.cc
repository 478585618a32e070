// CholeskyQR's small float64 step (see semid/svd_range.h): R⁻¹ for the Cholesky factor of a
// q x q Gram matrix. It runs on one thread: at q ~ 256 a fork costs more than it saves (measured
// on 2 and 16 cores). Both factorisations go by blocks of 16 rows along contiguous rows, and the
// bulk of each keeps its partial sums in registers (four float64 lanes, AVX2 clone).
#include <algorithm>
#include <cmath>
#include <vector>

#include "semid/clones.h"
#include "semid/simd_f64.h"
#include "semid/svd_range.h"

namespace semid {

namespace {

constexpr i64 kBlock = 16;  // rows per block

// The shared row updates (semid/simd_f64.h), compiled here in an AVX2 clone.
SEMID_CLONES void sub_scaled(double* y, const double* x, double f, i64 len) { sub_scaled4(y, x, f, len); }
SEMID_CLONES void add_scaled(double* y, const double* x, double f, i64 len) { add_scaled4(y, x, f, len); }

/**
 * Row i of the Cholesky's trailing update by a block of rows [j0, j1) of R (q x q):
 * a[c] -= sum_j R[j][i] R[j][c] for c in [i, q), the sum in ascending j (in registers, 16
 * columns at a time; the tail sums in the same order, so every entry gets the same bits).
 */
SEMID_CLONES void trailing_row(double* __restrict a, const double* __restrict R, i64 q, i64 i, i64 j0, i64 j1) {
  static_assert(kBlock <= 64, "trailing_row keeps a block's factors on the stack");
  double f[64];
  for (i64 j = j0; j < j1; ++j) f[j - j0] = R[j * q + i];
  i64 c = i;
  for (; c + 16 <= q; c += 16) {
    V4 s0 = splat4(0), s1 = s0, s2 = s0, s3 = s0;
    for (i64 j = j0; j < j1; ++j) {
      const double* r = R + j * q + c;
      const V4 fj = splat4(f[j - j0]);
      s0 += fj * load4(r);
      s1 += fj * load4(r + 4);
      s2 += fj * load4(r + 8);
      s3 += fj * load4(r + 12);
    }
    store4(a + c, load4(a + c) - s0);
    store4(a + c + 4, load4(a + c + 4) - s1);
    store4(a + c + 8, load4(a + c + 8) - s2);
    store4(a + c + 12, load4(a + c + 12) - s3);
  }
  for (; c < q; ++c) {
    double s = 0;
    for (i64 j = j0; j < j1; ++j) s += f[j - j0] * R[j * q + c];
    a[c] -= s;
  }
}

/**
 * acc[c] += sum_{k in [k0, k1)} r[k] X[k][c] for c in [c0, q), X upper triangular (zeros below
 * the diagonal, so columns c < k gain exact zeros): the inverse's rows below a block. Each entry
 * sums its terms in ascending k, as the row-by-row form does.
 */
SEMID_CLONES void rows_below(double* __restrict acc, const double* __restrict r, const double* __restrict X, i64 q,
                             i64 k0, i64 k1, i64 c0) {
  i64 c = c0;
  for (; c + 16 <= q; c += 16) {
    V4 s0 = load4(acc + c), s1 = load4(acc + c + 4), s2 = load4(acc + c + 8), s3 = load4(acc + c + 12);
    const i64 kend = std::min(k1, c + 16);
    for (i64 k = k0; k < kend; ++k) {
      const double* x = X + k * q + c;
      const V4 rk = splat4(r[k]);
      s0 += rk * load4(x);
      s1 += rk * load4(x + 4);
      s2 += rk * load4(x + 8);
      s3 += rk * load4(x + 12);
    }
    store4(acc + c, s0);
    store4(acc + c + 4, s1);
    store4(acc + c + 8, s2);
    store4(acc + c + 12, s3);
  }
  for (; c < q; ++c) {
    double s = acc[c];
    for (i64 k = k0; k < std::min(k1, c + 1); ++k) s += r[k] * X[k * q + c];
    acc[c] = s;
  }
}

}  // namespace

std::vector<float> cholesky_inverse(const std::vector<double>& G, i64 q) {
  double trace = 0;
  for (i64 i = 0; i < q; ++i) trace += G[i * q + i];
  std::vector<double> A(q * q), R(q * q);
  double shift = 0;
  for (int attempt = 0;; ++attempt) {
    // Right-looking by blocks of rows: row j of R from row j of the updated A and the block's
    // later rows updated at once; then the trailing rows, each once per block.
    A = G;
    for (i64 i = 0; i < q; ++i) A[i * q + i] += shift;
    std::fill(R.begin(), R.end(), 0.0);
    bool ok = true;
    for (i64 j0 = 0; j0 < q && ok; j0 += kBlock) {
      const i64 j1 = std::min(q, j0 + kBlock);
      for (i64 j = j0; j < j1; ++j) {
        const double s = A[j * q + j];
        if (!(s > 0)) { ok = false; break; }
        const double rjj = std::sqrt(s);
        double* rj = R.data() + j * q;
        rj[j] = rjj;
        for (i64 c = j + 1; c < q; ++c) rj[c] = A[j * q + c] / rjj;
        for (i64 i = j + 1; i < j1; ++i) sub_scaled(A.data() + i * q + i, rj + i, rj[i], q - i);
      }
      if (!ok) break;
      for (i64 i = j1; i < q; ++i) trailing_row(A.data() + i * q, R.data(), q, i, j0, j1);
    }
    if (ok) break;
    if (attempt > 40) throw Error("ERR_SEMID_NO_CONVERGENCE", "Orthonormalisation failed: the sampled range is degenerate");
    shift = shift == 0 ? std::max(1e-300, 1e-12 * trace) : shift * 10;
  }
  // X = R⁻¹, rows by blocks from the bottom: R[i][i] X[i][c] = -sum_{k>i} R[i][k] X[k][c]
  // (c > i). The rows below the block contribute first, then the block's own rows, descending;
  // each entry sums its terms in ascending k.
  std::vector<double> X(q * q, 0.0), acc(kBlock * q);
  for (i64 i1 = q; i1 > 0; i1 -= kBlock) {
    const i64 i0 = std::max<i64>(0, i1 - kBlock);
    std::fill(acc.begin(), acc.end(), 0.0);
    if (i1 < q)
      for (i64 i = i0; i < i1; ++i) rows_below(acc.data() + (i - i0) * q, R.data() + i * q, X.data(), q, i1, q, i1);
    for (i64 i = i1 - 1; i >= i0; --i) {
      double* ai = acc.data() + (i - i0) * q;
      const double* ri = R.data() + i * q;
      for (i64 k = i + 1; k < i1; ++k) add_scaled(ai + k, X.data() + k * q + k, ri[k], q - k);
      double* xi = X.data() + i * q;
      xi[i] = 1.0 / ri[i];
      for (i64 c = i + 1; c < q; ++c) xi[c] = -ai[c] / ri[i];
    }
  }
  return std::vector<float>(X.begin(), X.end());
}

}  // namespace semid
