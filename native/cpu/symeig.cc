// Symmetric eigensolver in float64 (see semid/svd.h): the EISPACK tred2/tql2 algorithms as in
// JAMA, with the eigenvector matrix stored transposed (row j = vector j) so that every inner loop
// runs over contiguous memory and vectorises; GCC builds an AVX2 clone picked at load time.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "semid/parallel.h"
#include "semid/svd.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SEMID_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define SEMID_CLONES
#endif

namespace semid {

namespace {

// W = V^T: V(a, b) of JAMA is W[b * n + a].
SEMID_CLONES void reflect_rows(double* W, i64 n, const double* wi1, const double* d, i64 i, i64 j0, i64 j1) {
  for (i64 j = j0; j < j1; ++j) {
    double* wj = W + j * n;
    double g = 0.0;
    for (i64 k = 0; k <= i; ++k) g += wi1[k] * wj[k];
    for (i64 k = 0; k <= i; ++k) wj[k] -= g * d[k];
  }
}

// Applies the rotations (c[i], s[i]) for i = hi-1 down to lo to rows (i, i+1) of W, columns [k0, k1).
SEMID_CLONES void rotate_rows(double* W, i64 n, const double* c, const double* s, i64 lo, i64 hi, i64 k0, i64 k1) {
  for (i64 i = hi - 1; i >= lo; --i) {
    double* a = W + i * n;
    double* b = W + (i + 1) * n;
    const double ci = c[i], si = s[i];
    for (i64 k = k0; k < k1; ++k) {
      const double hk = b[k];
      b[k] = si * a[k] + ci * hk;
      a[k] = ci * a[k] - si * hk;
    }
  }
}

SEMID_CLONES void tred2(double* W, i64 n, double* d, double* e, int threads, const CancelFlag& cancel) {
  for (i64 j = 0; j < n; ++j) d[j] = W[j * n + (n - 1)];
  for (i64 i = n - 1; i > 0; --i) {
    if ((i & 63) == 0) cancel.check();
    double scale = 0.0, h = 0.0;
    for (i64 k = 0; k < i; ++k) scale += std::fabs(d[k]);
    if (scale == 0.0) {
      e[i] = d[i - 1];
      for (i64 j = 0; j < i; ++j) {
        d[j] = W[j * n + (i - 1)];
        W[j * n + i] = 0.0;
        W[i * n + j] = 0.0;
      }
    } else {
      for (i64 k = 0; k < i; ++k) { d[k] /= scale; h += d[k] * d[k]; }
      double f = d[i - 1];
      double g = std::sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (i64 j = 0; j < i; ++j) e[j] = 0.0;
      for (i64 j = 0; j < i; ++j) {
        f = d[j];
        W[i * n + j] = f;
        double* wj = W + j * n;  // V(k, j) = wj[k]
        g = e[j] + wj[j] * f;
        for (i64 k = j + 1; k <= i - 1; ++k) {
          g += wj[k] * d[k];
          e[k] += wj[k] * f;
        }
        e[j] = g;
      }
      f = 0.0;
      for (i64 j = 0; j < i; ++j) { e[j] /= h; f += e[j] * d[j]; }
      const double hh = f / (h + h);
      for (i64 j = 0; j < i; ++j) e[j] -= hh * d[j];
      for (i64 j = 0; j < i; ++j) {
        f = d[j];
        g = e[j];
        double* wj = W + j * n;
        for (i64 k = j; k <= i - 1; ++k) wj[k] -= (f * e[k] + g * d[k]);
        d[j] = wj[i - 1];
        wj[i] = 0.0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (i64 i = 0; i < n - 1; ++i) {
    if ((i & 63) == 0) cancel.check();
    W[i * n + (n - 1)] = W[i * n + i];
    W[i * n + i] = 1.0;
    const double h = d[i + 1];
    double* wi1 = W + (i + 1) * n;  // V(k, i+1) = wi1[k]
    if (h != 0.0) {
      for (i64 k = 0; k <= i; ++k) d[k] = wi1[k] / h;
      const i64 tasks = std::min<i64>(i + 1, 4 * std::max(1, threads));
      if ((i + 1) * (i + 1) < 16384) {
        reflect_rows(W, n, wi1, d, i, 0, i + 1);
      } else {
        parallel_for(tasks, threads, cancel, [&](i64 t, int) {
          reflect_rows(W, n, wi1, d, i, t * (i + 1) / tasks, (t + 1) * (i + 1) / tasks);
        });
      }
    }
    for (i64 k = 0; k <= i; ++k) wi1[k] = 0.0;
  }
  for (i64 j = 0; j < n; ++j) {
    d[j] = W[j * n + (n - 1)];
    W[j * n + (n - 1)] = 0.0;
  }
  W[(n - 1) * n + (n - 1)] = 1.0;
  e[0] = 0.0;
}

SEMID_CLONES void tql2(double* W, i64 n, double* d, double* e, int threads, const CancelFlag& cancel) {
  std::vector<double> rc(n), rs(n);  // one sweep's rotations, applied to W in column blocks
  const i64 blocks = std::max<i64>(1, std::min<i64>((n + 127) / 128, 8 * std::max(1, threads)));
  for (i64 i = 1; i < n; ++i) e[i - 1] = e[i];
  e[n - 1] = 0.0;
  double f = 0.0, tst1 = 0.0;
  const double eps = std::ldexp(1.0, -52);
  for (i64 l = 0; l < n; ++l) {
    if ((l & 15) == 0) cancel.check();
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
        double r = std::hypot(p, 1.0);
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
          r = std::hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          rc[i] = c;
          rs[i] = s;
        }
        if (blocks == 1 || (m - l) * n < 32768) {
          rotate_rows(W, n, rc.data(), rs.data(), l, m, 0, n);
        } else {
          parallel_for(blocks, threads, cancel, [&](i64 bk, int) {
            rotate_rows(W, n, rc.data(), rs.data(), l, m, bk * n / blocks, (bk + 1) * n / blocks);
          });
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

}  // namespace

void symmetric_eigen(double* a, i64 n, std::vector<double>& values, const CancelFlag& cancel, int threads) {
  threads = resolve_threads(threads, n);
  values.assign(n, 0.0);
  if (n == 0) return;
  if (n == 1) { values[0] = a[0]; a[0] = 1.0; return; }
  for (i64 i = 0; i < n * n; ++i)
    if (!std::isfinite(a[i])) throw Error("ERR_SEMID_NOT_FINITE", "symmetric_eigen: the matrix holds NaN or infinity");
  std::vector<double> e(n);
  tred2(a, n, values.data(), e.data(), threads, cancel);
  tql2(a, n, values.data(), e.data(), threads, cancel);
  // Sort ascending, with the vectors (rows of a).
  std::vector<i64> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](i64 x, i64 y) { return values[x] < values[y]; });
  std::vector<double> sorted_vals(n), sorted(a, a + n * n);
  for (i64 j = 0; j < n; ++j) {
    sorted_vals[j] = values[order[j]];
    std::copy(sorted.begin() + order[j] * n, sorted.begin() + (order[j] + 1) * n, a + j * n);
  }
  values.swap(sorted_vals);
}

}  // namespace semid
