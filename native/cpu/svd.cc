// Truncated SVD (see semid/svd.h): the Gram route, the randomized range finder (dense and CSR)
// and one-sided Jacobi, on our GEMM (CPU, or CUDA for the dense products) and the float64
// symmetric eigensolver.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "semid/cuda.h"
#include "semid/gemm.h"
#include "semid/parallel.h"
#include "semid/rng.h"
#include "semid/finite.h"
#include "semid/svd.h"
#include "semid/svd_range.h"

namespace semid {

namespace {

[[noreturn]] void invalid(const std::string& m) { throw Error("ERR_SEMID_INVALID_ARG", m); }

/** SEMID_DEBUG_SVD=1: phase timings on stderr. */
struct PhaseClock {
  bool on = std::getenv("SEMID_DEBUG_SVD") != nullptr;
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  void mark(const char* what) {
    if (!on) return;
    const auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "semid svd: %-12s %8.1f ms\n", what, std::chrono::duration<double, std::milli>(now - t).count());
    t = now;
  }
};

constexpr i64 kGramBlock = 1024;  // rows summed in float32 before the float64 accumulation

/** C (m x n, ldc) = op(A) op(B) on the chosen backend. */
void product(bool cuda, i64 m, i64 n, i64 k, const float* a, i64 lda, bool ta, const float* b, i64 ldb, bool tb,
             float* c, i64 ldc, int threads, const CancelFlag& cancel) {
  if (m == 0 || n == 0) return;
  GemmArgs g;
  g.m = m; g.n = n; g.k = k; g.trans_a = ta; g.trans_b = tb;
  g.a = a; g.lda = lda; g.b = b; g.ldb = ldb; g.c = c; g.ldc = ldc;
  g.stride_a = 0; g.stride_b = 0; g.stride_c = 0;
  if (cuda) gemm_cuda(g, cancel);
  else gemm_cpu(g, threads, cancel, false);
}

/**
 * G (p x p, float64) = sum over blocks of Bᵀ B, where B is a kGramBlock-slice of the centred
 * matrix: rows of x (cols side, p = d) or columns of x (rows side, p = n). On the CPU each block is
 * one float32 syrk_upper_cpu (x read in place where it can be); on CUDA one GEMM of a host slab.
 * At most 8 fixed chunks of blocks each accumulate their own partial (the packed upper triangle,
 * float64), summed in chunk order: the result does not depend on the thread count.
 */
void gram(const float* x, i64 n, i64 d, const double* mean, bool rows_side, double* G, bool cuda, int threads,
          const CancelFlag& cancel) {
  const i64 p = rows_side ? n : d;           // Gram size
  const i64 len = rows_side ? d : n;         // summed dimension
  const i64 block = cuda ? 8 * kGramBlock : kGramBlock;
  const i64 blocks = (len + block - 1) / block;
  const i64 tri = p * (p + 1) / 2;  // the upper triangle, packed row by row
  const i64 mem_chunks = std::max<i64>(1, (i64(1) << 27) / std::max<i64>(1, tri * 8));
  const i64 chunks = std::max<i64>(1, std::min<i64>({8, blocks, mem_chunks}));
  std::vector<std::vector<double>> partial(chunks);
  const int t = cuda ? 1 : resolve_threads(threads, chunks);
  std::vector<std::vector<float>> slab(t), prod(t), pack(t);
  parallel_for(chunks, t, cancel, [&](i64 c, int w) {
    auto& acc = partial[c];
    acc.assign(tri, 0.0);
    // A slab (rows x p, the mean removed) for the CUDA GEMM, and on the rows side when centring
    // (there the mean varies along the summed dimension); otherwise the CPU reads x in place.
    const bool use_slab = cuda || (rows_side && mean != nullptr);
    if (use_slab) slab[w].resize(block * p);
    prod[w].resize(p * p);
    float* pr = prod[w].data();
    const i64 b0 = c * blocks / chunks, b1 = (c + 1) * blocks / chunks;
    for (i64 bl = b0; bl < b1; ++bl) {
      cancel.check();
      const i64 lo = bl * block, hi = std::min(len, lo + block), rows = hi - lo;
      if (!use_slab) {  // B = X[lo:hi] (rows x d, column mean removed while packing), or X[:, lo:hi]
        syrk_upper_cpu(rows, p, rows_side ? x + lo : x + lo * d, d, rows_side, mean, pr, p, &pack[w]);
      } else {
        float* s = slab[w].data();
        for (i64 i = 0; i < rows; ++i)
          for (i64 j = 0; j < p; ++j) {
            const float v = rows_side ? x[j * d + lo + i] : x[(lo + i) * d + j];
            s[i * p + j] = mean ? float(double(v) - (rows_side ? mean[lo + i] : mean[j])) : v;
          }
        if (cuda) {  // C = slabᵀ slab
          GemmArgs g;
          g.m = p; g.n = p; g.k = rows; g.c = pr; g.ldc = p;
          g.a = s; g.lda = p; g.trans_a = true; g.b = s; g.ldb = p; g.trans_b = false;
          gemm_cuda(g, cancel);
        } else {
          syrk_upper_cpu(rows, p, s, p, false, nullptr, pr, p, &pack[w]);
        }
      }
      double* row = acc.data();
      for (i64 a = 0; a < p; row += p - a, ++a)
        for (i64 b = a; b < p; ++b) row[b - a] += pr[a * p + b];
    }
  });
  std::fill(G, G + p * p, 0.0);
  for (auto& acc : partial) {
    const double* row = acc.data();
    for (i64 a = 0; a < p; row += p - a, ++a)
      for (i64 b = a; b < p; ++b) G[a * p + b] += row[b - a];
  }
  for (i64 a = 0; a < p; ++a)  // mirror the upper triangle
    for (i64 b = 0; b < a; ++b) G[a * p + b] = G[b * p + a];
}

/** Flips each component (row of V, rank x d) whose largest-magnitude entry is negative; flip[i] = 1 for those. */
bool fix_component_signs(float* V, i64 d, i64 rank, std::vector<char>& flip) {
  flip.assign(rank, 0);
  bool any = false;
  for (i64 i = 0; i < rank; ++i) {
    float* v = V + i * d;
    i64 arg = 0;
    for (i64 j = 1; j < d; ++j)
      if (std::fabs(v[j]) > std::fabs(v[arg])) arg = j;
    if (v[arg] >= 0) continue;
    flip[i] = 1;
    any = true;
    for (i64 j = 0; j < d; ++j) v[j] = -v[j];
  }
  return any;
}

/** Fix signs: each component's largest-magnitude entry positive; flip the projection with it. */
void fix_signs(SvdResult& r, i64 n, i64 d, i64 rank) {
  std::vector<char> flip;
  if (!fix_component_signs(r.components.data(), d, rank, flip)) return;
  for (i64 row = 0; row < n; ++row) {  // one pass over the projection, row by row
    float* p = r.projected.data() + row * rank;
    for (i64 i = 0; i < rank; ++i) p[i] = flip[i] ? -p[i] : p[i];
  }
}

/**
 * Variance of each projected column: s^2 / (n - 1) when centred (PCA); otherwise, as
 * TruncatedSVD, the variance (ddof 0) of X v = s^2 / n - (mean . v)^2, with no pass over the rows.
 */
void explained_variance(SvdResult& r, const std::vector<double>& column_mean, i64 n, i64 d, bool center) {
  const i64 rank = i64(r.singular_values.size());
  r.explained_variance.assign(rank, 0.0);
  for (i64 i = 0; i < rank; ++i) {
    const double s2 = r.singular_values[i] * r.singular_values[i];
    if (center) {
      r.explained_variance[i] = s2 / double(std::max<i64>(1, n - 1));
      continue;
    }
    double mv = 0.0;
    for (i64 j = 0; j < d; ++j) mv += column_mean[j] * r.components[i * d + j];
    r.explained_variance[i] = std::max(0.0, s2 / double(n) - mv * mv);
  }
}

/** Column means (float64) and the sum of the column variances (ddof 0) of a dense matrix. */
void column_stats(const float* x, i64 n, i64 d, std::vector<double>& mean, double& total_var, int threads,
                  const CancelFlag& cancel) {
  mean.assign(d, 0.0);
  std::vector<double> sq(d, 0.0);
  const i64 chunks = std::max<i64>(1, std::min<i64>(16, n));
  std::vector<std::vector<double>> ps(chunks), pq(chunks);
  parallel_for(chunks, resolve_threads(threads, chunks), cancel, [&](i64 c, int) {
    ps[c].assign(d, 0.0);
    pq[c].assign(d, 0.0);
    for (i64 i = c * n / chunks; i < (c + 1) * n / chunks; ++i)
      for (i64 j = 0; j < d; ++j) { const double v = x[i * d + j]; ps[c][j] += v; pq[c][j] += v * v; }
  });
  for (i64 c = 0; c < chunks; ++c)
    for (i64 j = 0; j < d; ++j) { mean[j] += ps[c][j]; sq[j] += pq[c][j]; }
  total_var = 0;
  for (i64 j = 0; j < d; ++j) {
    mean[j] /= double(n);
    total_var += std::max(0.0, sq[j] / double(n) - mean[j] * mean[j]);
  }
}

/** Singular values from the descending eigenvalues of a Gram matrix. */
std::vector<double> singular_from_eigen(const std::vector<double>& values) {
  std::vector<double> sv(values.size());
  for (size_t i = 0; i < values.size(); ++i) sv[i] = std::sqrt(std::max(0.0, values[i]));
  return sv;
}

/** The Gram route on a dense matrix. */
void svd_gram(const float* x, i64 n, i64 d, const double* mean, const SvdParams& prm, int threads,
              const CancelFlag& cancel, SvdResult& r) {
  const i64 rank = prm.rank;
  const bool rows_side = d > n;
  const i64 p = rows_side ? n : d;
  PhaseClock clock;
  std::vector<double> G(p * p), values, vectors;
  gram(x, n, d, mean, rows_side, G.data(), prm.cuda, threads, cancel);
  clock.mark("gram");
  symmetric_eigen_top(G.data(), p, rank, values, vectors, cancel, threads);
  clock.mark("eigen");
  r.singular_values = singular_from_eigen(values);
  r.components.assign(rank * d, 0.0f);
  r.projected.resize(n * rank);  // zeros from the allocator, no pass over them
  if (!rows_side) {
    for (i64 i = 0; i < rank; ++i)
      for (i64 j = 0; j < d; ++j) r.components[i * d + j] = float(vectors[i * d + j]);
    std::vector<char> flip;  // signs fixed before projecting: no pass over the projection after
    fix_component_signs(r.components.data(), d, rank, flip);
    product(prm.cuda, n, rank, d, x, d, false, r.components.data(), d, true, r.projected.data(), rank, threads, cancel);
    clock.mark("projection");
    if (mean) {
      std::vector<double> mv(rank, 0.0);
      for (i64 i = 0; i < rank; ++i)
        for (i64 j = 0; j < d; ++j) mv[i] += mean[j] * r.components[i * d + j];
      for (i64 row = 0; row < n; ++row)
        for (i64 i = 0; i < rank; ++i) r.projected[row * rank + i] = float(r.projected[row * rank + i] - mv[i]);
    }
  } else {
    // Eigenvectors are the left vectors u_i (n); v_i = Xcᵀ u_i / s_i; projection = u_i s_i.
    std::vector<float> U(rank * n);
    for (i64 i = 0; i < rank; ++i)
      for (i64 row = 0; row < n; ++row) {
        U[i * n + row] = float(vectors[i * n + row]);
        r.projected[row * rank + i] = float(vectors[i * n + row] * r.singular_values[i]);
      }
    // Xcᵀ u_i has norm s_i up to the Gram's rounding, which for s_i near 1e-3 s_max (see the
    // conditioning note in svd.ts) is ~1e-3 of it: each v_i is scaled by its own norm, so the
    // components are unit vectors as promised, whatever the conditioning.
    product(prm.cuda, rank, d, n, U.data(), n, false, x, d, false, r.components.data(), d, threads, cancel);
    std::vector<double> v(d);
    for (i64 i = 0; i < rank; ++i) {
      double usum = 0;
      for (i64 row = 0; row < n; ++row) usum += U[i * n + row];
      double norm2 = 0;
      for (i64 j = 0; j < d; ++j) {
        v[j] = double(r.components[i * d + j]) - (mean ? usum * mean[j] : 0.0);
        norm2 += v[j] * v[j];
      }
      const double scale = r.singular_values[i] > 0 && norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
      for (i64 j = 0; j < d; ++j) r.components[i * d + j] = float(v[j] * scale);
    }
  }
}

/** One-sided Jacobi (Hestenes) in float64 on the narrow side. */
void svd_exact(const float* x, i64 n, i64 d, const double* mean, const SvdParams& prm, const CancelFlag& cancel,
               SvdResult& r) {
  const i64 rank = prm.rank;
  const bool wide = d > n;
  const i64 cols = wide ? n : d, len = wide ? d : n;  // rotate `cols` vectors of length `len`
  std::vector<double> A(cols * len), V(cols * cols, 0.0);
  for (i64 i = 0; i < n; ++i)
    for (i64 j = 0; j < d; ++j) {
      const double v = double(x[i * d + j]) - (mean ? mean[j] : 0.0);
      if (wide) A[i * len + j] = v; else A[j * len + i] = v;
    }
  for (i64 c = 0; c < cols; ++c) V[c * cols + c] = 1.0;
  const double eps = 1e-15;
  for (int sweep = 0; sweep < 80; ++sweep) {
    cancel.check();
    bool rotated = false;
    for (i64 a = 0; a < cols - 1; ++a)
      for (i64 b = a + 1; b < cols; ++b) {
        double* pa = A.data() + a * len;
        double* pb = A.data() + b * len;
        double alpha = 0, beta = 0, gamma = 0;
        for (i64 k = 0; k < len; ++k) { alpha += pa[k] * pa[k]; beta += pb[k] * pb[k]; gamma += pa[k] * pb[k]; }
        if (gamma == 0 || std::fabs(gamma) <= eps * std::sqrt(alpha * beta)) continue;
        rotated = true;
        const double zeta = (beta - alpha) / (2 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
        const double c = 1 / std::sqrt(1 + t * t), s = c * t;
        for (i64 k = 0; k < len; ++k) {
          const double u = pa[k], w = pb[k];
          pa[k] = c * u - s * w;
          pb[k] = s * u + c * w;
        }
        double* va = V.data() + a * cols;
        double* vb = V.data() + b * cols;
        for (i64 k = 0; k < cols; ++k) {
          const double u = va[k], w = vb[k];
          va[k] = c * u - s * w;
          vb[k] = s * u + c * w;
        }
      }
    if (!rotated) break;
  }
  std::vector<double> norms(cols);
  for (i64 c = 0; c < cols; ++c) {
    double s = 0;
    for (i64 k = 0; k < len; ++k) s += A[c * len + k] * A[c * len + k];
    norms[c] = std::sqrt(s);
  }
  std::vector<i64> order(cols);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](i64 a, i64 b) { return norms[a] > norms[b]; });
  r.singular_values.resize(rank);
  r.components.assign(rank * d, 0.0f);
  r.projected.resize(n * rank);  // zeros from the allocator, no pass over them
  for (i64 i = 0; i < rank; ++i) {
    const i64 c = order[i];
    const double s = norms[c];
    r.singular_values[i] = s;
    if (!wide) {
      // X V = A (columns): component i = column c of the accumulated V; projection = a_c.
      for (i64 j = 0; j < d; ++j) r.components[i * d + j] = float(V[c * cols + j]);
      for (i64 row = 0; row < n; ++row) r.projected[row * rank + i] = float(A[c * len + row]);
    } else {
      // Xᵀ = A Vᵀ: right vectors of X are the normalised a_c; projection = V[:, c] s.
      for (i64 j = 0; j < d; ++j) r.components[i * d + j] = s > 0 ? float(A[c * len + j] / s) : 0.0f;
      for (i64 row = 0; row < n; ++row) r.projected[row * rank + i] = float(V[c * cols + row] * s);
    }
  }
}

// ---- randomized range finder ----------------------------------------------------------------

/**
 * The CPU backend: X as two products on host buffers (our GEMM on a dense matrix, or a CSR
 * product), centred on the fly: Xc Z = X Z - 1 (μᵀ Z);  Xcᵀ Y = Xᵀ Y - μ (1ᵀ Y).
 */
class CpuRange final : public RangeBackend {
 public:
  using Product = std::function<void(const float*, i64, float*)>;
  CpuRange(i64 rows, i64 cols, Product mul_x, Product tmul_x, const double* mean, int threads, const CancelFlag& cancel)
      : mul_x_(std::move(mul_x)), tmul_x_(std::move(tmul_x)), mean_(mean), threads_(threads), cancel_(cancel) {
    n = rows;
    d = cols;
  }
  float* alloc(i64 count) override {
    buffers_.emplace_back(std::max<i64>(count, 1));
    return buffers_.back().data();
  }
  void upload(const float* host, i64 count, float* buf) override { std::copy(host, host + count, buf); }
  const float* to_host(const float* buf, i64) override { return buf; }
  void mul(const float* in, i64 q, float* out) override {
    mul_x_(in, q, out);
    if (!mean_) return;
    std::vector<double> mq(q, 0.0);
    for (i64 j = 0; j < d; ++j)
      for (i64 c = 0; c < q; ++c) mq[c] += mean_[j] * in[j * q + c];
    for (i64 i = 0; i < n; ++i)
      for (i64 c = 0; c < q; ++c) out[i * q + c] = float(out[i * q + c] - mq[c]);
  }
  void tmul(const float* in, i64 q, float* out) override {
    tmul_x_(in, q, out);
    if (!mean_) return;
    std::vector<double> colsum(q, 0.0);
    for (i64 i = 0; i < n; ++i)
      for (i64 c = 0; c < q; ++c) colsum[c] += in[i * q + c];
    for (i64 j = 0; j < d; ++j)
      for (i64 c = 0; c < q; ++c) out[j * q + c] = float(out[j * q + c] - mean_[j] * colsum[c]);
  }
  void gram(const float* B, i64 m, i64 q, double* G) override {
    semid::gram(B, m, q, nullptr, false, G, false, threads_, cancel_);
  }
  void times(const float* B, i64 m, i64 q, const float* S, i64 s, float* out) override {
    product(false, m, s, q, B, q, false, S, s, false, out, s, threads_, cancel_);
  }
  void project(const float* B, i64 m, i64 q, const float* S, i64 s, SvdResult& r) override {
    r.projected.resize(m * s);  // zeros from the allocator, no pass over them
    times(B, m, q, S, s, r.projected.data());
  }

 private:
  Product mul_x_, tmul_x_;
  const double* mean_;
  int threads_;
  const CancelFlag& cancel_;
  std::deque<std::vector<float>> buffers_;
};

/**
 * Orthonormalise the columns of B (m x q) by CholeskyQR, `passes` times (2 = CholeskyQR2,
 * orthonormal to float precision; 1 suffices between power iterations): B <- B R⁻¹, the result
 * landing in `scratch` and the two handles swapped.
 */
void orthonormalize(RangeBackend& be, float*& B, float*& scratch, i64 m, i64 q, int passes) {
  std::vector<double> G(q * q);
  for (int pass = 0; pass < passes; ++pass) {
    be.gram(B, m, q, G.data());
    PhaseClock clock;
    const std::vector<float> Rinv = cholesky_inverse(G, q);
    clock.mark("cholesky");
    be.times(B, m, q, Rinv.data(), q, scratch);
    std::swap(B, scratch);
  }
}

/**
 * Components v_i = Bᵀ w_i / s_i are only as good as s_i: past the matrix's numerical rank they
 * are noise over noise (or zero when s_i = 0). Rows whose s_i is below 1e-5 s_0 are replaced,
 * in order, by the first unit vector e_j that keeps a residual after modified Gram-Schmidt
 * (float64) against the rows before them, so the rows stay orthonormal as for the Gram route.
 */
void complete_orthonormal_rows(float* V, i64 rank, i64 d, const std::vector<double>& sv) {
  if (rank == 0) return;
  const double floor = 1e-5 * sv[0];
  std::vector<double> v(d);
  i64 next_unit = 0;
  for (i64 i = 0; i < rank; ++i) {
    if (sv[i] > floor && sv[i] > 0) continue;
    bool done = false;
    for (; next_unit < d && !done; ++next_unit) {
      std::fill(v.begin(), v.end(), 0.0);
      v[next_unit] = 1.0;
      for (int pass = 0; pass < 2; ++pass)
        for (i64 k = 0; k < i; ++k) {
          double dot = 0;
          for (i64 j = 0; j < d; ++j) dot += double(V[k * d + j]) * v[j];
          for (i64 j = 0; j < d; ++j) v[j] -= dot * double(V[k * d + j]);
        }
      double norm = 0;
      for (i64 j = 0; j < d; ++j) norm += v[j] * v[j];
      norm = std::sqrt(norm);
      if (norm < 0.5) continue;  // e_j lies (nearly) in the span so far
      for (i64 j = 0; j < d; ++j) V[i * d + j] = float(v[j] / norm);
      done = true;
    }
    if (!done) throw Error("ERR_SEMID_NO_CONVERGENCE", "Could not complete an orthonormal basis of components");
  }
}

}  // namespace

bool matrix_numerically_zero(const std::vector<double>& mean, double total_var, i64 n, bool center) {
  double mean_sq = 0;
  for (double m : mean) mean_sq += m * m;
  const double raw = double(n) * (total_var + mean_sq);
  const double energy = center ? double(n) * total_var : raw;
  return !(raw > 0) || energy <= 1e-12 * raw;
}

void svd_randomized(RangeBackend& be, const SvdParams& prm, int threads, const CancelFlag& cancel, SvdResult& r, bool zero) {
  const i64 n = be.n, d = be.d, rank = prm.rank;
  const i64 q = std::min<i64>(std::min(n, d), rank + prm.oversample);
  if (zero) {
    // Singular values 0, components e_0, e_1, ... (complete_orthonormal_rows), and the
    // projection written by the backend itself (host or device memory): a zero column [n x 1]
    // times zero weights [1 x rank]. X is not read.
    r.singular_values.assign(rank, 0.0);
    r.components.assign(rank * d, 0.0f);
    complete_orthonormal_rows(r.components.data(), rank, d, r.singular_values);
    const std::vector<float> zero_column(n, 0.0f), zero_weights(rank, 0.0f);
    float* Y = be.alloc(n);
    be.upload(zero_column.data(), n, Y);
    be.project(Y, n, 1, zero_weights.data(), rank, r);
    return;
  }
  PhaseClock clock;
  // Gaussian test matrix [d x q]: Marsaglia's polar method on the portable generator, one
  // generator per fixed block of entries, so the matrix depends on the seed only (not on the
  // thread count or the backend).
  std::vector<float> omega(d * q);
  {
    constexpr i64 kBlock = 1 << 14;
    const i64 blocks = (d * q + kBlock - 1) / kBlock;
    parallel_for(blocks, resolve_threads(threads, blocks), cancel, [&](i64 b, int) {
      Rng rng(prm.seed * 0x9e3779b97f4a7c15ull + 17 + std::uint64_t(b) * 0xd1b54a32d192ed03ull);
      const i64 e1 = std::min(d * q, (b + 1) * kBlock);
      for (i64 e = b * kBlock; e < e1; e += 2) {
        float u, v, s;
        do {
          const std::uint64_t bits = rng.next();
          u = float(std::int32_t(bits >> 32)) * 0x1p-31f;
          v = float(std::int32_t(bits & 0xffffffffu)) * 0x1p-31f;
          s = u * u + v * v;
        } while (s >= 1.0f || s == 0.0f);
        const float f = std::sqrt(-2.0f * std::log(s) / s);
        omega[e] = u * f;
        if (e + 1 < e1) omega[e + 1] = v * f;
      }
    });
  }
  float* Z = be.alloc(d * q);
  float* Zs = be.alloc(d * q);  // scratch for orthonormalising Z
  float* Y = be.alloc(n * q);
  float* Ys = be.alloc(n * q);
  be.upload(omega.data(), d * q, Z);
  clock.mark("test matrix");
  // Power iterations re-orthonormalise on the short side only (Y when n <= d, Z otherwise): the
  // other side's columns then carry one more factor of the spectrum, which float32 holds for any
  // spread sigma_1 / sigma_q below ~1e3, and the orthonormalisation of the long side was most of
  // the cost. The last Y is orthonormalised twice (CholeskyQR2): it is the basis Q.
  const bool short_y = n <= d;
  be.mul(Z, q, Y);
  clock.mark("first product");
  if (short_y || prm.power_iters == 0) orthonormalize(be, Y, Ys, n, q, prm.power_iters == 0 ? 2 : 1);
  clock.mark("first orth");
  for (i64 it = 0; it < prm.power_iters; ++it) {
    be.tmul(Y, q, Z);
    if (!short_y) orthonormalize(be, Z, Zs, d, q, 1);
    be.mul(Z, q, Y);
    if (short_y || it + 1 == prm.power_iters) orthonormalize(be, Y, Ys, n, q, it + 1 == prm.power_iters ? 2 : 1);
  }
  clock.mark("power iterations");
  // B = Qᵀ Xc (q x d) = Zᵀ with Z = Xcᵀ Q; its SVD by the Gram route on B Bᵀ = Zᵀ Z (q x q).
  be.tmul(Y, q, Z);
  std::vector<double> G(q * q), values, vectors;
  be.gram(Z, d, q, G.data());
  clock.mark("small gram");
  symmetric_eigen_top(G.data(), q, rank, values, vectors, cancel, threads);
  r.singular_values = singular_from_eigen(values);
  clock.mark("eigen");
  // Components v_i = Bᵀ w_i / s_i (signs fixed here); projection = Y W S (n x r), with the
  // same sign flips, so no pass over the projection follows.
  std::vector<float> W(rank * q);
  for (i64 i = 0; i < rank; ++i)
    for (i64 c = 0; c < q; ++c) W[i * q + c] = float(vectors[i * q + c]);
  r.components.assign(rank * d, 0.0f);
  product(false, rank, d, q, W.data(), q, false, be.to_host(Z, d * q), q, true, r.components.data(), d, threads, cancel);
  for (i64 i = 0; i < rank; ++i) {
    const double s = r.singular_values[i];
    for (i64 j = 0; j < d; ++j) r.components[i * d + j] = s > 0 ? float(r.components[i * d + j] / s) : 0.0f;
  }
  complete_orthonormal_rows(r.components.data(), rank, d, r.singular_values);
  std::vector<char> flip;
  fix_component_signs(r.components.data(), d, rank, flip);
  std::vector<float> WS(q * rank);
  for (i64 i = 0; i < rank; ++i)
    for (i64 c = 0; c < q; ++c) {
      const float v = float(vectors[i * q + c] * r.singular_values[i]);
      WS[c * rank + i] = flip[i] ? -v : v;
    }
  be.project(Y, n, q, WS.data(), rank, r);
  clock.mark("outputs");
}

namespace {

void check_params(i64 n, i64 d, const SvdParams& p) {
  if (n < 1 || d < 1) invalid("the matrix is empty (" + std::to_string(n) + " x " + std::to_string(d) + ")");
  if (p.rank < 1 || p.rank > std::min(n, d))
    invalid("rank must be in [1, min(n, d) = " + std::to_string(std::min(n, d)) + "], got " + std::to_string(p.rank));
  if (p.oversample < 0) invalid("oversample must be >= 0, got " + std::to_string(p.oversample));
  if (p.power_iters < 0) invalid("power_iters must be >= 0, got " + std::to_string(p.power_iters));
}

std::string choose(const std::string& method, i64 n, i64 d, bool sparse) {
  if (method == "auto") return svd_auto_method(n, d, sparse);
  if (method != "gram" && method != "randomized" && method != "exact")
    invalid("method must be auto, gram, randomized or exact, got " + method);
  if (sparse && method != "randomized") invalid("a sparse matrix takes method randomized (or auto), got " + method);
  return method;
}

}  // namespace

std::string svd_auto_method(i64 n, i64 d, bool sparse) {
  if (sparse) return "randomized";
  const i64 small = std::min(n, d);
  if (double(n) * double(d) * double(small) <= double(i64(1) << 25)) return "exact";
  if (small <= 4096) return "gram";
  return "randomized";
}

SvdResult truncated_svd(const float* x, i64 n, i64 d, const SvdParams& p, int threads, const CancelFlag& cancel) {
  check_params(n, d, p);
  SvdResult r;
  r.method = choose(p.method, n, d, false);
  PhaseClock clock;
  std::vector<double> mean;
  column_stats(x, n, d, mean, r.total_variance, threads, cancel);
  // NaN or infinity in x makes a column sum non-finite (finite floats cannot overflow a double
  // sum of squares), so the statistics pass doubles as the input check; only then is x scanned
  // again to name the first bad row and column.
  if (!std::isfinite(r.total_variance) || !std::all_of(mean.begin(), mean.end(), [](double v) { return std::isfinite(v); }))
    check_finite("x", x, n, d, threads, cancel);
  clock.mark("stats");
  const double* mu = p.center ? mean.data() : nullptr;
  if (p.center) r.mean.assign(mean.begin(), mean.end());
  if (r.method == "gram") {
    if (std::min(n, d) > 16384) invalid("method gram needs min(n, d) <= 16384 (the Gram matrix is min(n, d)^2 float64)");
    svd_gram(x, n, d, mu, p, threads, cancel, r);
  } else if (r.method == "exact") {
    if (double(n) * double(d) > 1e8) invalid("method exact is for small matrices (n * d <= 1e8)");
    svd_exact(x, n, d, mu, p, cancel, r);
  } else {
    const bool zero = matrix_numerically_zero(mean, r.total_variance, n, p.center);
    if (p.cuda) {
      auto be = make_cuda_range_backend(x, false, n, d, mu, nullptr, cancel);
      svd_randomized(*be, p, threads, cancel, r, zero);
    } else {
      CpuRange be(
          n, d, [&](const float* Q, i64 q, float* Y) { product(false, n, q, d, x, d, false, Q, q, false, Y, q, threads, cancel); },
          [&](const float* Y, i64 q, float* Z) { product(false, d, q, n, x, d, true, Y, q, false, Z, q, threads, cancel); },
          mu, threads, cancel);
      svd_randomized(be, p, threads, cancel, r, zero);
    }
  }
  clock.t = std::chrono::steady_clock::now();
  fix_signs(r, n, d, p.rank);
  explained_variance(r, mean, n, d, p.center);
  clock.mark("signs");
  return r;
}

SvdResult truncated_svd_csr(const CsrView& x, const SvdParams& p, int threads, const CancelFlag& cancel) {
  const i64 n = x.rows, d = x.cols;
  check_params(n, d, p);
  if (x.indptr[0] != 0) invalid("indptr[0] must be 0");
  for (i64 i = 0; i < n; ++i)
    if (x.indptr[i + 1] < x.indptr[i]) invalid("indptr must not decrease (row " + std::to_string(i) + ")");
  const i64 nnz = x.indptr[n];
  for (i64 e = 0; e < nnz; ++e) {
    if (x.indices[e] < 0 || x.indices[e] >= d) invalid("indices[" + std::to_string(e) + "] = " + std::to_string(x.indices[e]) + " is outside [0, " + std::to_string(d) + ")");
    if (!std::isfinite(x.values[e])) invalid("values[" + std::to_string(e) + "] is not finite");
  }
  SvdResult r;
  r.method = choose(p.method, n, d, true);
  // Column statistics from the non-zeros.
  std::vector<double> mean(d, 0.0), sq(d, 0.0);
  for (i64 e = 0; e < nnz; ++e) { mean[x.indices[e]] += x.values[e]; sq[x.indices[e]] += double(x.values[e]) * x.values[e]; }
  r.total_variance = 0;
  for (i64 j = 0; j < d; ++j) {
    mean[j] /= double(n);
    r.total_variance += std::max(0.0, sq[j] / double(n) - mean[j] * mean[j]);
  }
  if (p.center) r.mean.assign(mean.begin(), mean.end());
  // The transpose (CSC of x) for Xᵀ Y, by a counting sort.
  std::vector<std::int64_t> tptr(d + 1, 0);
  std::vector<std::int32_t> tidx(nnz);
  std::vector<float> tval(nnz);
  for (i64 e = 0; e < nnz; ++e) ++tptr[x.indices[e] + 1];
  for (i64 j = 0; j < d; ++j) tptr[j + 1] += tptr[j];
  {
    std::vector<std::int64_t> fill(tptr.begin(), tptr.end() - 1);
    for (i64 i = 0; i < n; ++i)
      for (i64 e = x.indptr[i]; e < x.indptr[i + 1]; ++e) {
        const i64 o = fill[x.indices[e]]++;
        tidx[o] = std::int32_t(i);
        tval[o] = x.values[e];
      }
  }
  auto spmm = [&](const std::int64_t* ptr, const std::int32_t* idx, const float* val, i64 rows, const float* in, i64 q, float* out) {
    parallel_for((rows + 127) / 128, resolve_threads(threads, (rows + 127) / 128), cancel, [&](i64 blk, int) {
      std::vector<double> acc(q);
      for (i64 i = blk * 128; i < std::min(rows, (blk + 1) * 128); ++i) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (i64 e = ptr[i]; e < ptr[i + 1]; ++e) {
          const float v = val[e];
          const float* src = in + i64(idx[e]) * q;
          for (i64 c = 0; c < q; ++c) acc[c] += double(v) * src[c];
        }
        for (i64 c = 0; c < q; ++c) out[i * q + c] = float(acc[c]);
      }
    });
  };
  CpuRange be(
      n, d, [&](const float* Q, i64 q, float* Y) { spmm(x.indptr, x.indices, x.values, n, Q, q, Y); },
      [&](const float* Y, i64 q, float* Z) { spmm(tptr.data(), tidx.data(), tval.data(), d, Y, q, Z); },
      p.center ? mean.data() : nullptr, threads, cancel);
  svd_randomized(be, p, threads, cancel, r, matrix_numerically_zero(mean, r.total_variance, n, p.center));
  fix_signs(r, n, d, p.rank);
  explained_variance(r, mean, n, d, p.center);
  return r;
}

}  // namespace semid

namespace semid {

SvdResult truncated_svd_cuda_device(const float* device_x, i64 n, i64 d, const SvdParams& p, int threads,
                                    const CancelFlag& cancel, float* device_projected) {
  check_params(n, d, p);
  if (p.method != "auto" && p.method != "randomized")
    invalid("device-resident input takes method randomized (or auto), got " + p.method);
  SvdResult r;
  r.method = "randomized";
  std::vector<double> mean;
  cuda_column_stats(device_x, n, d, mean, r.total_variance);
  if (!std::isfinite(r.total_variance) || !std::all_of(mean.begin(), mean.end(), [](double v) { return std::isfinite(v); }))
    invalid("x contains NaN or infinity");
  if (p.center) r.mean.assign(mean.begin(), mean.end());
  auto be = make_cuda_range_backend(device_x, true, n, d, p.center ? mean.data() : nullptr, device_projected, cancel);
  svd_randomized(*be, p, threads, cancel, r, matrix_numerically_zero(mean, r.total_variance, n, p.center));
  explained_variance(r, mean, n, d, p.center);
  return r;
}

}  // namespace semid
