// Symmetric eigensolver in float64 for the top k eigenpairs (see semid/svd.h), the scheme of
// LAPACK's dsyevx: Householder tridiagonalisation (the reduction half of EISPACK tred2, as in JAMA,
// with the working matrix stored transposed so that inner loops run over contiguous memory),
// eigenvalues by implicit QL without vectors (tql1, O(n^2)), eigenvectors of the tridiagonal by
// inverse iteration with re-orthogonalisation in clusters (dstein), and the reflectors applied to
// those k vectors only (2 n^2 k flops, against ~7 n^3 for tred2 + tql2 with all vectors).
// GCC builds an AVX2 clone of the hot loops, picked at load time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "semid/parallel.h"
#include "semid/simd_f64.h"
#include "semid/svd.h"

#include "semid/clones.h"

namespace semid {

namespace {

/** ep[0, i) = the part of A d from rows [j0, j1) of the lower triangle (W row j: V(k, j), k >= j). */
SEMID_CLONES void matvec_rows(const double* W, i64 n, const double* d, i64 i, i64 j0, i64 j1, double* ep) {
  std::fill(ep, ep + i, 0.0);
  for (i64 j = j0; j < j1; ++j) {
    const double fj = d[j];
    const double* wj = W + j * n;
    const V4 f4 = {fj, fj, fj, fj};
    V4 acc = {0, 0, 0, 0};
    i64 k = j + 1;
    for (; k + 4 <= i; k += 4) {
      const V4 w = load4(wj + k);
      acc += w * load4(d + k);
      store4(ep + k, load4(ep + k) + w * f4);
    }
    double gj = ep[j] + wj[j] * fj + sum4(acc);
    for (; k <= i - 1; ++k) {
      gj += wj[k] * d[k];
      ep[k] += wj[k] * fj;
    }
    ep[j] = gj;
  }
}

/** The rank-2 update A -= d eᵀ + e dᵀ on rows [j0, j1); each row's next working value to next_row. */
SEMID_CLONES void update_rows(double* W, i64 n, const double* d, const double* e, i64 i, i64 j0, i64 j1, double* next_row) {
  for (i64 j = j0; j < j1; ++j) {
    const double fj = d[j], gj = e[j];
    double* wj = W + j * n;
    for (i64 k = j; k <= i - 1; ++k) wj[k] -= (fj * e[k] + gj * d[k]);
    next_row[j] = wj[i - 1];
    wj[i] = 0.0;
  }
}

/**
 * Step i's rank-2 update (d, e) fused with step i - 1's product A' d2 on rows [j0, j1) (all
 * below i - 1): each row is updated and, while in registers, multiplied as matvec_rows does (the
 * same operations in the same order, so the same bits as the two passes). ep is this slice's
 * partial of A' d2 over [0, i - 1); W[j][i] is cleared.
 */
SEMID_CLONES void update_rows_fused(double* W, i64 n, const double* d, const double* e, i64 i, const double* d2,
                                    i64 j0, i64 j1, double* ep) {
  const i64 i2 = i - 1;  // the next step's size
  std::fill(ep, ep + i2, 0.0);
  for (i64 j = j0; j < j1; ++j) {
    const double fj = d[j], gj = e[j], hj = d2[j];
    double* wj = W + j * n;
    wj[j] -= (fj * e[j] + gj * d[j]);
    const V4 f4 = splat4(fj), g4 = splat4(gj), h4 = splat4(hj);
    V4 acc = {0, 0, 0, 0};
    i64 k = j + 1;
    for (; k + 4 <= i2; k += 4) {
      const V4 w = load4(wj + k) - (f4 * load4(e + k) + g4 * load4(d + k));
      store4(wj + k, w);
      acc += w * load4(d2 + k);
      store4(ep + k, load4(ep + k) + w * h4);
    }
    double gsum = ep[j] + wj[j] * hj + sum4(acc);
    for (; k <= i2 - 1; ++k) {
      wj[k] -= (fj * e[k] + gj * d[k]);
      gsum += wj[k] * d2[k];
      ep[k] += wj[k] * hj;
    }
    for (; k <= i - 1; ++k) wj[k] -= (fj * e[k] + gj * d[k]);
    ep[j] = gsum;
    wj[i] = 0.0;
  }
}

/**
 * Householder reduction of the symmetric matrix in W (n x n, both triangles) to tridiagonal form
 * (the reduction half of EISPACK tred2, as in JAMA). On return diag[0..n) and sub[1..n) (sub[i]
 * couples i-1 and i; sub[0] = 0) hold T, and reflector i (1 <= i < n) is P_i = I - u uᵀ / h[i]
 * with u = W[i * n + 0 .. i) (h[i] = 0: the identity), such that A = P_{n-1} ... P_1 T P_1 ... P_{n-1}.
 */
void householder_tridiagonal(double* W, i64 n, double* diag, double* sub, double* h_out, int threads,
                                          const CancelFlag& cancel) {
  double* d = h_out;  // the working row, then the h of each reflector (as tred2 keeps them)
  double* e = sub;
  constexpr i64 kParts = 8;            // fixed slices of the rows: results never depend on threads
#ifndef SEMID_TRIDIAGONAL_PARALLEL_FROM
#define SEMID_TRIDIAGONAL_PARALLEL_FROM 192
#endif
  constexpr i64 kParallelFrom = SEMID_TRIDIAGONAL_PARALLEL_FROM;  // smaller blocks run on one thread (a fork costs ~10 us)
  std::vector<double> partial(kParts * n), next_row(n);
  // Slice p of rows [0, i) starts where the triangle's work is p / kParts done.
  auto slice_start = [](i64 i, i64 p) -> i64 {
    if (p >= kParts) return i;
    return std::min<i64>(i, static_cast<i64>(double(i) * (1.0 - std::sqrt(1.0 - double(p) / double(kParts)))));
  };
  // The reflector of step i from the working row d[0, i): scaled, its h, e[i] and d[i-1] set.
  // Returns h, or 0 when the row is zero (no reflector). Pure: step i - 1 of the fused pass
  // computes it ahead from the same row with the same bits.
  auto reflector = [](double* d, double* e, i64 i, double& scale_out) -> double {
    double scale = 0.0, h = 0.0;
    for (i64 k = 0; k < i; ++k) scale += std::fabs(d[k]);
    scale_out = scale;
    if (scale == 0.0) return 0.0;
    for (i64 k = 0; k < i; ++k) { d[k] /= scale; h += d[k] * d[k]; }
    const double f = d[i - 1];
    double g = std::sqrt(h);
    if (f > 0) g = -g;
    e[i] = scale * g;
    h -= f * g;
    d[i - 1] = f - g;
    return h;
  };
  std::vector<double> ahead(n), ahead_e(n);
  bool have_product = false;  // partial[] already holds this step's A d (fused into the last update)
  for (i64 j = 0; j < n; ++j) d[j] = W[j * n + (n - 1)];
  for (i64 i = n - 1; i > 0; --i) {
    if ((i & 63) == 0) cancel.check();
    double scale = 0.0;
    double h = reflector(d, e, i, scale);
    if (scale == 0.0) {
      e[i] = d[i - 1];
      for (i64 j = 0; j < i; ++j) {
        d[j] = W[j * n + (i - 1)];
        W[j * n + i] = 0.0;
        W[i * n + j] = 0.0;
      }
      have_product = false;
    } else {
      for (i64 j = 0; j < i; ++j) W[i * n + j] = d[j];
      // e = A d over the lower triangle (rows j < i of W): kParts fixed slices of j, balanced on
      // the triangle, each into its own partial summed in slice order (same bits on any thread
      // count); slices run in parallel when the block is large enough to pay for it.
      const bool par = threads > 1 && i >= kParallelFrom;
      if (!have_product) {
        auto slice = [&](i64 part) {
          matvec_rows(W, n, d, i, slice_start(i, part), slice_start(i, part + 1), partial.data() + part * n);
        };
        if (par) parallel_for(kParts, threads, cancel, [&](i64 part, int) { slice(part); });
        else for (i64 part = 0; part < kParts; ++part) slice(part);
      }
      for (i64 j = 0; j < i; ++j) {
        double sum = 0.0;
        for (i64 part = 0; part < kParts; ++part) sum += partial[part * n + j];
        e[j] = sum;
      }
      double f = 0.0;
      for (i64 j = 0; j < i; ++j) { e[j] /= h; f += e[j] * d[j]; }
      const double hh = f / (h + h);
      for (i64 j = 0; j < i; ++j) e[j] -= hh * d[j];
      // The rank-2 update. Column i-1 first (it is the next working row), so the next
      // reflector is known before the pass over the rows; that pass then also forms the next
      // step's product (one pass over the triangle per step instead of two).
      for (i64 j = 0; j < i; ++j) next_row[j] = W[j * n + (i - 1)] - (d[j] * e[i - 1] + e[j] * d[i - 1]);
      const i64 i2 = i - 1;
      double scale2 = 0.0;
      if (i2 > 0) {
        std::copy(next_row.begin(), next_row.begin() + i, ahead.begin());
        reflector(ahead.data(), ahead_e.data(), i2, scale2);
      }
      have_product = scale2 != 0.0;
      const bool par2 = threads > 1 && i2 >= kParallelFrom;
      if (have_product) {
        auto fused = [&](i64 part) {
          update_rows_fused(W, n, d, e, i, ahead.data(), slice_start(i2, part), slice_start(i2, part + 1), partial.data() + part * n);
        };
        if (par2) parallel_for(kParts, threads, cancel, [&](i64 part, int) { fused(part); });
        else for (i64 part = 0; part < kParts; ++part) fused(part);
        update_rows(W, n, d, e, i, i2, i, next_row.data());  // row i - 1: its update alone
      } else {
        auto update = [&](i64 j0, i64 j1) { update_rows(W, n, d, e, i, j0, j1, next_row.data()); };
        if (par) parallel_for(kParts, threads, cancel, [&](i64 part, int) { update(slice_start(i, part), slice_start(i, part + 1)); });
        else update(0, i);
      }
      std::copy(next_row.begin(), next_row.begin() + i, d);
    }
    d[i] = h;
  }
  for (i64 j = 0; j < n; ++j) diag[j] = W[j * n + j];
  h_out[0] = 0.0;
  sub[0] = 0.0;
}

/** sqrt(a^2 + b^2): the plain formula (std::hypot costs ~10x more), hypot where the squares
 * could overflow or underflow. */
inline double norm2(double a, double b) {
  const double r = std::sqrt(a * a + b * b);
  return r < 1e150 && r > 1e-150 ? r : std::hypot(a, b);
}

/**
 * Eigenvalues of the symmetric tridiagonal (diag, sub) by implicit QL (EISPACK tql1, the value
 * half of tql2): O(n^2). Overwrites diag with the eigenvalues, unsorted; sub is destroyed.
 */
void tridiagonal_values(double* d, double* e, i64 n, const CancelFlag& cancel) {
  for (i64 i = 1; i < n; ++i) e[i - 1] = e[i];
  e[n - 1] = 0.0;
  double f = 0.0, tst1 = 0.0;
  const double eps = std::ldexp(1.0, -52);
  for (i64 l = 0; l < n; ++l) {
    if ((l & 63) == 0) cancel.check();
    tst1 = std::max(tst1, std::fabs(d[l]) + std::fabs(e[l]));
    i64 m = l;
    while (m < n) {
      if (std::fabs(e[m]) <= eps * tst1) break;
      ++m;
    }
    if (m == n) m = n - 1;
    if (m > l) {
      int iter = 0;
      do {
        if (++iter > 100)
          throw Error("ERR_SEMID_NO_CONVERGENCE", "The symmetric eigensolver did not converge (eigenvalue " + std::to_string(l) + ")");
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * e[l]);
        double r = norm2(p, 1.0);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const double dl1 = d[l + 1];
        double h = g - d[l];
        for (i64 i = l + 2; i < n; ++i) d[i] -= h;
        f += h;
        p = d[m];
        double c = 1.0, c2 = c, c3 = c;
        const double el1 = e[l + 1];
        double s = 0.0, s2 = 0.0;
        for (i64 i = m - 1; i >= l; --i) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = norm2(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (std::fabs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0.0;
  }
}

/**
 * LU factorisation with partial pivoting of the tridiagonal T - shift I (LAPACK dlagtf's
 * scheme): U has diagonal u0, first and second superdiagonals u1, u2; step i used multiplier
 * mult[i] and swapped rows i and i+1 when swap[i]. Zero or tiny pivots are later replaced by
 * +-tiny (dlagts job -1), which keeps inverse iteration finite at an exact eigenvalue.
 */
struct TridiagonalLu {
  std::vector<double> u0, u1, u2, mult;
  std::vector<char> swap;
  void factor(const double* diag, const double* sub, i64 n, double shift) {
    u0.assign(n, 0.0); u1.assign(n, 0.0); u2.assign(n, 0.0); mult.assign(n, 0.0); swap.assign(n, 0);
    double c = diag[0] - shift;      // the current row's diagonal
    double up = n > 1 ? sub[1] : 0;  // the current row's first superdiagonal
    for (i64 i = 0; i + 1 < n; ++i) {
      const double below = sub[i + 1];                      // row i+1, column i
      const double next_diag = diag[i + 1] - shift;         // row i+1, column i+1
      const double next_up = i + 2 < n ? sub[i + 2] : 0.0;  // row i+1, column i+2
      if (std::fabs(c) >= std::fabs(below)) {
        const double m = c == 0.0 ? 0.0 : below / c;
        u0[i] = c; u1[i] = up; u2[i] = 0.0; mult[i] = m; swap[i] = 0;
        c = next_diag - m * up;
        up = next_up;
      } else {
        const double m = c / below;
        u0[i] = below; u1[i] = next_diag; u2[i] = next_up; mult[i] = m; swap[i] = 1;
        c = up - m * next_diag;
        up = -m * next_up;
      }
    }
    u0[n - 1] = c;
  }
  /** x <- (T - shift I)^-1 x, pivots below `tiny` in magnitude taken as +-tiny. */
  void solve(double* x, i64 n, double tiny) const {
    for (i64 i = 0; i + 1 < n; ++i) {
      if (swap[i]) std::swap(x[i], x[i + 1]);
      x[i + 1] -= mult[i] * x[i];
    }
    for (i64 i = n - 1; i >= 0; --i) {
      double v = x[i];
      if (i + 1 < n) v -= u1[i] * x[i + 1];
      if (i + 2 < n) v -= u2[i] * x[i + 2];
      double p = u0[i];
      if (std::fabs(p) < tiny) p = p < 0 ? -tiny : tiny;
      x[i] = v / p;
    }
  }
};

/**
 * Unit eigenvectors of the tridiagonal (diag, sub) for `values` (descending) by inverse iteration
 * (LAPACK dstein's scheme): eigenvalues closer than 1e-6 |T|_1 to their neighbour form a cluster
 * whose vectors are re-orthogonalised (modified Gram-Schmidt) at every step; equal values are
 * separated by 10 eps |T|_1 so that each shift is distinct. Z is k x n, row j for values[j].
 * dstein's own threshold is 1e-3 |T|_1, which makes the whole tail one cluster when one
 * eigenvalue dominates (uncentred embeddings): re-orthogonalisation then costs O(k^2 n) per step.
 * A vector found by inverse iteration is off by about eps |T| / gap, so outside a 1e-6 |T|_1
 * cluster it is within ~2e-10 of orthogonal to its neighbours: far below the float32 results
 * these vectors feed.
 */
/**
 * Rows [j0, j1) of Z: one cluster's vectors, in order, each re-orthogonalised against the
 * cluster's earlier ones at every step. Each vector starts from its own fixed pseudo-random
 * vector in [-1, 1), so the result does not depend on which thread runs which cluster.
 */
SEMID_CLONES void cluster_vectors(const double* diag, const double* sub, i64 n, const double* shifts, i64 j0, i64 j1,
                                  double tiny, double* Z) {
  TridiagonalLu lu;
  for (i64 j = j0; j < j1; ++j) {
    lu.factor(diag, sub, n, shifts[j]);
    double* z = Z + j * n;
    std::uint64_t state = 0x9e3779b97f4a7c15ull ^ (std::uint64_t(j + 1) * 0xd1b54a32d192ed03ull);
    for (i64 i = 0; i < n; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      z[i] = double(state >> 11) * std::ldexp(1.0, -52) - 1.0;
    }
    const int steps = j > j0 ? 5 : 3;
    for (int step = 0; step < steps; ++step) {
      lu.solve(z, n, tiny);
      for (i64 c = j0; c < j; ++c) {  // modified Gram-Schmidt against the cluster
        const double* y = Z + c * n;
        sub_scaled4(z, y, dot4(y, z, n), n);
      }
      const double ss = dot4(z, z, n);
      if (!(ss > 0.0) || !std::isfinite(ss))
        throw Error("ERR_SEMID_NO_CONVERGENCE", "Inverse iteration failed for eigenvalue " + std::to_string(j));
      const double inv = 1.0 / std::sqrt(ss);
      for (i64 i = 0; i < n; ++i) z[i] *= inv;
    }
  }
}

/**
 * Unit eigenvectors of the tridiagonal (diag, sub) for `values` (descending) by inverse iteration
 * (LAPACK dstein's scheme): eigenvalues closer than 1e-6 |T|_1 to their neighbour form a cluster
 * whose vectors are re-orthogonalised (modified Gram-Schmidt) at every step; equal values are
 * separated by 10 eps |T|_1 so that each shift is distinct. Z is k x n, row j for values[j].
 * dstein's own threshold is 1e-3 |T|_1, which makes the whole tail one cluster when one
 * eigenvalue dominates (uncentred embeddings): re-orthogonalisation then costs O(k^2 n) per step.
 * A vector found by inverse iteration is off by about eps |T| / gap, so outside a 1e-6 |T|_1
 * cluster it is within ~2e-10 of orthogonal to its neighbours: far below the float32 results
 * these vectors feed. Clusters are independent and run on `threads`.
 */
void tridiagonal_vectors(const double* diag, const double* sub, i64 n, const double* values, i64 k, double* Z,
                         const CancelFlag& cancel, int threads) {
  double norm = 0.0;
  for (i64 i = 0; i < n; ++i)
    norm = std::max(norm, std::fabs(diag[i]) + (i > 0 ? std::fabs(sub[i]) : 0.0) + (i + 1 < n ? std::fabs(sub[i + 1]) : 0.0));
  if (norm == 0.0) norm = 1.0;
  const double eps = std::ldexp(1.0, -52);
  const double cluster_gap = 1e-6 * norm, separation = 10 * eps * norm, tiny = eps * norm;
  // Shifts (kept distinct, descending) and the clusters' first indices, then k as a sentinel.
  std::vector<double> shifts(k);
  std::vector<i64> starts;
  for (i64 j = 0; j < k; ++j) {
    double lambda = values[j];
    if (j == 0 || values[j - 1] - values[j] >= cluster_gap) starts.push_back(j);
    if (j > 0 && shifts[j - 1] - lambda < separation) lambda = shifts[j - 1] - separation;
    shifts[j] = lambda;
  }
  starts.push_back(k);
  const i64 clusters = i64(starts.size()) - 1;
  parallel_for(clusters, resolve_threads(threads, clusters), cancel, [&](i64 c, int) {
    cluster_vectors(diag, sub, n, shifts.data(), starts[c], starts[c + 1], tiny, Z);
  });
}

/** Rows [r0, r1) of Z (k x n) <- P_{n-1} ... P_1 z: the reflectors of householder_tridiagonal. */
SEMID_CLONES void back_transform(const double* W, const double* h, i64 n, double* Z, i64 r0, i64 r1) {
  constexpr i64 kRows = 4;  // rows sharing each pass over a reflector
  for (i64 r = r0; r < r1; r += kRows) {
    const i64 rows = std::min(kRows, r1 - r);
    for (i64 i = 1; i < n; ++i) {
      if (h[i] == 0.0) continue;
      const double* u = W + i * n;
      double g[kRows] = {0, 0, 0, 0};
      for (i64 q = 0; q < rows; ++q) {
        const double* z = Z + (r + q) * n;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        i64 t = 0;
        for (; t + 4 <= i; t += 4) { s0 += u[t] * z[t]; s1 += u[t + 1] * z[t + 1]; s2 += u[t + 2] * z[t + 2]; s3 += u[t + 3] * z[t + 3]; }
        for (; t < i; ++t) s0 += u[t] * z[t];
        g[q] = ((s0 + s1) + (s2 + s3)) / h[i];
      }
      for (i64 q = 0; q < rows; ++q) {
        double* z = Z + (r + q) * n;
        const double gq = g[q];
        for (i64 t = 0; t < i; ++t) z[t] -= gq * u[t];
      }
    }
  }
}

}  // namespace

void symmetric_eigen_top(double* a, i64 n, i64 k, std::vector<double>& values, std::vector<double>& vectors,
                         const CancelFlag& cancel, int threads) {
  if (k < 0 || k > n) throw Error("ERR_SEMID_INVALID_ARG", "symmetric_eigen_top: k must be in [0, n]");
  values.assign(k, 0.0);
  vectors.assign(k * n, 0.0);
  if (n == 0 || k == 0) return;
  for (i64 i = 0; i < n * n; ++i)
    if (!std::isfinite(a[i])) throw Error("ERR_SEMID_NOT_FINITE", "symmetric_eigen: the matrix holds NaN or infinity");
  if (n == 1) { values[0] = a[0]; vectors[0] = 1.0; return; }
  const bool debug = std::getenv("SEMID_DEBUG_SVD") != nullptr;
  auto t0 = std::chrono::steady_clock::now();
  auto mark = [&](const char* what) {
    if (!debug) return;
    const auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "semid eigen: %-13s %7.2f ms\n", what, std::chrono::duration<double, std::milli>(now - t0).count());
    t0 = now;
  };
  std::vector<double> diag(n), sub(n), h(n);
  householder_tridiagonal(a, n, diag.data(), sub.data(), h.data(), resolve_threads(threads, n), cancel);
  mark("tridiagonal");
  std::vector<double> all(diag), scratch(sub);
  tridiagonal_values(all.data(), scratch.data(), n, cancel);
  std::sort(all.begin(), all.end(), std::greater<double>());
  std::copy(all.begin(), all.begin() + k, values.begin());
  mark("values");
  tridiagonal_vectors(diag.data(), sub.data(), n, values.data(), k, vectors.data(), cancel, threads);
  mark("vectors");
  const int t = resolve_threads(threads, (k + 3) / 4);
  const i64 tasks = std::min<i64>((k + 3) / 4, 4 * i64(t));
  parallel_for(tasks, t, cancel, [&](i64 task, int) {
    const i64 r0 = task * k / tasks, r1 = (task + 1) * k / tasks;  // rows are independent: any split gives the same bits
    back_transform(a, h.data(), n, vectors.data(), r0, r1);
  });
  mark("back-transform");
}

}  // namespace semid
