// The CPU k-means backend. Assignment prunes distance computations with triangle-inequality
// bounds, so that once assignments settle most of the n x k distances are never computed:
//  - Elkan (when n x k bounds fit in 256 MiB): per row an upper bound u on the distance to its
//    centroid and a lower bound l[j] on the distance to every centroid j. After centroid j moves by
//    delta[j], l[j] -= delta[j] and u += delta[a]; centroid j is examined only when
//    u > max(l[j], |c_a - c_j| / 2). When too many pairs would be examined (early iterations) the
//    pass is a full GEMM over all centroids instead.
//  - Hamerly (otherwise): one lower bound for all other centroids, l -= max delta, and a row is
//    recomputed against all centroids (fused GEMM kernel, topk = 2) when u > max(l, s[a]).
// Bounds computed from |x|^2 - 2x.c + |c|^2 carry a margin for its float rounding (the worst-case
// bound, nearest_rounding_bound), and rows whose nearest two are closer than it are settled by
// direct distances in double; in the pruned pass, a candidate whose float distance is within
// rounding of the current nearest's is compared with it in double. Both break ties to the lower
// index, as encode and nearestCentroids do, so training codes equal encode's. The update keeps
// per-cluster sums in double, applied row by row in index order (incrementally after the first
// iteration), so results never depend on the thread count.
#include <algorithm>
#include <chrono>
#include <numeric>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <cmath>
#include <limits>
#include <vector>

#include "distance.h"
#include "semid/gemm.h"
#include "semid/kmeans.h"
#include "semid/nearest.h"
#include "semid/parallel.h"
#include "semid/prefaulted.h"

namespace semid {

namespace {

constexpr i64 kRowBlock = 4096;    // rows per bound-check task (fixed: determinism)
constexpr i64 kGatherRows = 16384; // rows recomputed per nearest call (bounds scratch memory)
constexpr i64 kClusterGroups = 64; // cluster groups for the incremental update (fixed)
constexpr i64 kElkanMaxBounds = i64(1) << 26;  // n x k lower bounds (floats) for Elkan

class CpuKMeansBackend final : public KMeansBackend {
 public:
  CpuKMeansBackend(int threads, const CancelFlag& cancel)
      : threads_(threads),
        cancel_(cancel),
        debug_(std::getenv("SEMID_DEBUG_KMEANS") != nullptr),
        verify_(std::getenv("SEMID_VERIFY_KMEANS") != nullptr) {}

  void set_data(const float* x, i64 n, i64 d) override {
    x_ = x; n_ = n; d_ = d;
    margin_scale_ = float(nearest_rounding_bound(d, 1.0, 0.0));
    // Float sq_dist sums d / 8 terms per lane, then the lanes: relative error <= (d / 8 + 4) 2^-24
    // per squared distance, half that after the square root. dist_rel_ bounds a float distance's
    // relative error with room to spare: bounds made from float distances move out by it, and two
    // squared distances within 2 dist_rel_ of their sum are compared in double.
    dist_rel_ = float(double(d / 8 + 8) * std::ldexp(1.0, -24));
    dist_f64_ = cpu::sq_dist_f64_fn();
    xnorm_.assign(n, 0.0f);
    std::vector<double> part((n + kRowBlock - 1) / kRowBlock);
    parallel_for(static_cast<i64>(part.size()), threads_, cancel_, [&](i64 b, int) {
      double s = 0;
      for (i64 i = b * kRowBlock; i < std::min(n, (b + 1) * kRowBlock); ++i) {
        const double r = dist_f64_(x + i * d, nullptr, d);
        xnorm_[i] = float(r);
        s += r;
      }
      part[b] = s;
    });
    xx_ = 0;
    for (double s : part) xx_ += s;
    assign_.assign(n, -1);
    bounds_ = false;
    sums_valid_ = false;
  }

  void set_centroids(const float* c, i64 k) override {
    if (k != k_) sums_valid_ = false;
    k_ = k;
    c_.assign(c, c + k * d_);
    bounds_ = false;
  }
  void move_centroids(const float* c) override { std::copy(c, c + k_ * d_, c_.begin()); }
  void get_centroids(float* c) const override { std::copy(c_.begin(), c_.end(), c); }
  const std::vector<i64>& counts() const override { return counts_; }
  const std::int32_t* assignment() override { return assign_.data(); }

  // Exact ties go to the lower index, as encode and nearestCentroids do. The bounds settle every
  // tie but one: a row at distance 0 from its centroid (u = 0) is never re-examined, yet a lower
  // centroid identical to it ties at 0 (duplicate rows, or a split of a cluster at the origin, leave
  // identical centroids). So rows of a centroid with an identical lower twin move to the lowest one.
  i64 assign() override {
    const std::vector<std::int32_t> twin = lowest_identical_centroids();
    if (twin.empty()) return bounded_assign();
    const std::vector<std::int32_t> before = assign_;
    bounded_assign();
    i64 changed = 0;
    for (i64 i = 0; i < n_; ++i) {
      assign_[i] = twin[assign_[i]];
      changed += assign_[i] != before[i];
    }
    return changed;
  }

  // For each centroid the lowest index of a centroid equal to it in every coordinate; empty when
  // all centroids differ (the common case). O(k log k) row comparisons, most ending at coordinate 0.
  std::vector<std::int32_t> lowest_identical_centroids() const {
    const i64 k = k_, d = d_;
    std::vector<std::int32_t> order(k);
    std::iota(order.begin(), order.end(), 0);
    // Compared by bit pattern with -0 as +0: a strict weak order even with NaN (checkFinite off),
    // and equal rows are equal numbers, at equal distance from every row.
    const float* c = c_.data();
    auto bits = [](float v) { std::uint32_t b; std::memcpy(&b, &v, 4); return b == 0x80000000u ? 0u : b; };
    auto compare = [&](std::int32_t a, std::int32_t b) {
      const float* ca = c + i64(a) * d;
      const float* cb = c + i64(b) * d;
      for (i64 t = 0; t < d; ++t) {
        const std::uint32_t x = bits(ca[t]), y = bits(cb[t]);
        if (x != y) return x < y ? -1 : 1;
      }
      return 0;
    };
    std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      const int r = compare(a, b);
      return r != 0 ? r < 0 : a < b;
    });
    std::vector<std::int32_t> twin;
    for (i64 r = 1; r < k; ++r) {
      if (compare(order[r - 1], order[r]) != 0) continue;
      if (twin.empty()) { twin.resize(k); std::iota(twin.begin(), twin.end(), 0); }
      twin[order[r]] = twin[order[r - 1]];  // runs are in increasing index: the run's first is its lowest
    }
    return twin;
  }

  i64 bounded_assign() {
    if (elkan()) return elkan_assign();
    if (!bounds_ || k_ == 1) return full_assign();
    // Centroid movements since the last assignment.
    std::vector<double> delta(k_);
    double max1 = 0, max2 = 0;
    i64 arg1 = -1;
    for (i64 j = 0; j < k_; ++j) {
      delta[j] = std::sqrt(sq_dist(c_.data() + j * d_, prev_c_.data() + j * d_, d_));
      if (delta[j] > max1) { max2 = max1; max1 = delta[j]; arg1 = j; }
      else if (delta[j] > max2) max2 = delta[j];
    }
    const std::vector<float> half_gap = half_gaps();
    const i64 blocks = (n_ + kRowBlock - 1) / kRowBlock;
    std::vector<std::vector<i64>> lists(blocks);
    parallel_for(blocks, threads_, cancel_, [&](i64 b, int) {
      auto& list = lists[b];
      for (i64 i = b * kRowBlock; i < std::min(n_, (b + 1) * kRowBlock); ++i) {
        const i64 a = assign_[i];
        float u = float(upper_[i] + delta[a]);
        const float l = float(lower_[i] - (a == arg1 ? max2 : max1));
        lower_[i] = l;
        const float m = std::max(half_gap[a], l);
        if (u > m) u = float(std::sqrt(sq_dist(x_ + i * d_, c_.data() + a * d_, d_))) * (1 + 1e-6f);
        upper_[i] = u;
        if (u > m) list.push_back(i);
      }
    });
    std::vector<i64> rows;
    for (auto& l : lists) rows.insert(rows.end(), l.begin(), l.end());
    const i64 changed = recompute(rows);
    if (debug_)
      std::fprintf(stderr, "hamerly: recomputed %lld of %lld rows, max delta %.4g\n", (long long)rows.size(), (long long)n_, max1);
    prev_c_ = c_;
    return changed;
  }

  double update() override {
    const i64 k = k_, d = d_;
    if (!sums_valid_) {
      full_sums();
    } else {
      std::vector<i64> moves;
      for (i64 i = 0; i < n_; ++i) if (assign_[i] != sums_assign_[i]) moves.push_back(i);
      parallel_for(kClusterGroups, threads_, cancel_, [&](i64 g, int) {
        for (i64 i : moves) {
          const i64 from = sums_assign_[i], to = assign_[i];
          const float* xi = x_ + i * d;
          if (from % kClusterGroups == g) {
            double* s = sums_.data() + from * d;
            for (i64 t = 0; t < d; ++t) s[t] -= xi[t];
            counts_[from]--;
          }
          if (to % kClusterGroups == g) {
            double* s = sums_.data() + to * d;
            for (i64 t = 0; t < d; ++t) s[t] += xi[t];
            counts_[to]++;
          }
        }
      });
    }
    sums_assign_ = assign_;
    sums_valid_ = true;
    // Inertia against the centroids before the move: |x|^2 - 2 c.S + n |c|^2 per cluster.
    std::vector<double> part(k);
    parallel_for(k, threads_, cancel_, [&](i64 j, int) {
      const float* c = c_.data() + j * d;
      const double* s = sums_.data() + j * d;
      double cs = 0, cc = 0;
      for (i64 t = 0; t < d; ++t) { cs += double(c[t]) * s[t]; cc += double(c[t]) * double(c[t]); }
      part[j] = -2 * cs + double(counts_[j]) * cc;
      if (counts_[j] > 0) {
        float* cm = c_.data() + j * d;
        const double inv = 1.0 / double(counts_[j]);
        for (i64 t = 0; t < d; ++t) cm[t] = float(s[t] * inv);
      }
    });
    double inertia = xx_;
    for (double p : part) inertia += p;
    return std::max(0.0, inertia);
  }

 private:
  /** Squared distance in double (b = nullptr: squared norm), the kernel chosen in set_data. */
  double sq_dist(const float* a, const float* b, i64 d) const { return dist_f64_(a, b, d); }
  bool elkan() const { return k_ > 1 && n_ * k_ <= kElkanMaxBounds; }

  /**
   * The factor on a stored pair value S in its lower bound S * keep - drift: S = d + drift (when
   * stored) rounds by half an ulp of S, and each of the drift_adds_ additions to drift by half an
   * ulp of drift, which can be far above the distances (centroids that moved far, rows that sit
   * almost on their centroids). Taking (adds + 4) ulps of S off keeps the bound below the distance.
   */
  float pair_keep() const { return float(std::max(0.0, 1.0 - double(drift_adds_ + 4) * std::ldexp(1.0, -24))); }

  /** Squared norms of the current centroids (k). */
  std::vector<float> centroid_norms() const {
    std::vector<float> norms(k_);
    for (i64 j = 0; j < k_; ++j) norms[j] = float(sq_dist(c_.data() + j * d_, nullptr, d_));
    return norms;
  }
  float max_centroid_norm() const {
    const std::vector<float> norms = centroid_norms();
    return *std::max_element(norms.begin(), norms.end());
  }

  // Elkan with lazy drift: for each row an upper bound u on the distance to its centroid, a row
  // lower bound L on the distance to every other centroid, and per pair a stored value S[i][j]
  // whose lower bound is S[i][j] - drift[j] (drift[j]: the centroid's total movement so far), so
  // nothing is updated per pair when centroids move. A row is skipped when u <= max(L, s[a]);
  // otherwise its candidates (u > max(S - drift, |c_a - c_j| / 2)) are examined one by one, or,
  // when they are many, the row joins a batch recomputed against all centroids by GEMM.
  i64 elkan_assign() {
    const auto t_start = std::chrono::steady_clock::now();
    const i64 k = k_, d = d_;
    const bool first = !bounds_;
    if (verify_) path_.assign(n_, 0);
    if (first) {
      pair_.resize(n_ * k);  // every pair is written by the dense pass below: no zero fill
      upper_.assign(n_, 0.0f);
      lower_.assign(n_, 0.0f);
      drift_.assign(k, 0.0f);
      drift_adds_ = 0;
    }
    std::vector<float> delta(k, 0.0f);
    float max1 = 0, max2 = 0;
    i64 arg1 = -1;
    if (!first) {
      ++drift_adds_;
      for (i64 j = 0; j < k; ++j) {
        delta[j] = float(std::sqrt(sq_dist(c_.data() + j * d, prev_c_.data() + j * d, d))) * (1 + 1e-6f);
        drift_[j] += delta[j];
        if (delta[j] > max1) { max2 = max1; max1 = delta[j]; arg1 = j; }
        else if (delta[j] > max2) max2 = delta[j];
      }
    }
    const i64 blocks = (n_ + kRowBlock - 1) / kRowBlock;
    std::vector<std::vector<i64>> dense(blocks);
    std::vector<i64> block_changed(blocks, 0), block_rows(blocks, 0), block_pairs(blocks, 0), block_ties(blocks, 0);
    if (first) {
      for (i64 b = 0; b < blocks; ++b)
        for (i64 i = b * kRowBlock; i < std::min(n_, (b + 1) * kRowBlock); ++i) dense[b].push_back(i);
    } else {
      const bool with_gaps = k <= 2048;
      std::vector<float> half_cc(with_gaps ? k * k : k, 0.0f), s(k, 0.0f);
      if (with_gaps) center_half_gaps(half_cc, s);
      if (verify_) {
        i64 badh = 0;
        for (i64 a = 0; a < k && with_gaps; ++a)
          for (i64 j = 0; j < k; ++j) {
            const double t = 0.5 * std::sqrt(sq_dist(c_.data() + a * d, c_.data() + j * d, d));
            if (half_cc[a * k + j] > t * (1 + 1e-4) + 1e-6) { if (badh < 3) std::fprintf(stderr, "half_cc(%lld,%lld)=%.6f true %.6f\n", (long long)a, (long long)j, half_cc[a * k + j], t); ++badh; }
          }
        std::fprintf(stderr, "half_cc bad: %lld\n", (long long)badh);
      }
      const cpu::SqDistFn dist2 = cpu::sq_dist_fn();
      const cpu::ElkanScanFn scan = cpu::elkan_scan_fn();
      const float keep = pair_keep();
      const i64 dense_threshold = std::max<i64>(1, k / 4);  // measured best of k/3, k/4, k/12, k/32
      std::vector<float> zero_row(k, 0.0f);
      parallel_for(blocks, threads_, cancel_, [&](i64 b, int) {
        for (i64 i = b * kRowBlock; i < std::min(n_, (b + 1) * kRowBlock); ++i) {
          std::int32_t a = assign_[i];
          float u = upper_[i] + delta[a];
          float L = lower_[i] - (a == arg1 ? max2 : max1);
          const float m = std::max(s[a], L);
          if (!path_.empty()) path_[i] = 1;
          if (u <= m) { upper_[i] = u; lower_[i] = L; continue; }
          const float* xi = x_ + i * d;
          float best2 = dist2(xi, c_.data() + i64(a) * d, d);  // the current nearest's squared distance (float)
          double best64 = -1;                                  // the same in double, once a near tie needs it
          u = std::sqrt(best2) * (1 + dist_rel_);
          if (!path_.empty()) path_[i] = 2;
          if (u <= m) { upper_[i] = u; lower_[i] = L; continue; }
          if (!path_.empty()) path_[i] = 3;
          ++block_rows[b];
          float* S = pair_.data() + i * k;
          const std::int32_t a0 = a;
          const float u0 = u;
          const float* hc0 = with_gaps ? half_cc.data() + i64(a0) * k : zero_row.data();
          // Pass 1 (SIMD): candidates, and a lower bound over the others.
          float newL;
          thread_local std::vector<std::int32_t> cand;
          cand.resize(k);
          const i64 listed = scan(S, drift_.data(), hc0, keep, u0, k, &newL, cand.data());
          const i64 candidates = listed - (u0 > std::max(S[a0] * keep - drift_[a0], hc0[a0]));  // the own centroid is no candidate
          if (candidates > dense_threshold) { upper_[i] = u; dense[b].push_back(i); continue; }
          // Pass 2: the candidates (in increasing index, as listed by pass 1), one exact distance
          // each unless the current centroid rules them out (the own centroid is skipped). A
          // candidate replaces the current nearest when it is closer by more than the float
          // rounding of the two distances; closer than that, the two are compared in double, ties
          // to the lower index, as encode and nearestCentroids do.
          const float* hc = hc0;
          for (i64 c = 0; c < listed; ++c) {
            const i64 j = cand[c];
            const float lb0 = S[j] * keep - drift_[j];
            if (j == a0) continue;
            if (j == a) continue;
            if (u <= std::max(lb0, hc[j])) {
              newL = std::min(newL, std::max(lb0, 2 * hc[j] - u));
              continue;
            }
            const float dj2 = dist2(xi, c_.data() + j * d, d);
            const float dj = std::sqrt(dj2);
            ++block_pairs[b];
            S[j] = dj * (1 - dist_rel_) + drift_[j];
            bool closer = dj2 < best2;
            double dj64 = -1;
            if (std::fabs(dj2 - best2) <= 2 * dist_rel_ * (dj2 + best2)) {
              ++block_ties[b];
              if (best64 < 0) best64 = sq_dist(xi, c_.data() + i64(a) * d, d);
              dj64 = sq_dist(xi, c_.data() + j * d, d);
              closer = dj64 < best64 || (dj64 == best64 && j < a);
            }
            if (closer) {
              const float u_lower = std::sqrt(best2) * (1 - dist_rel_);  // the previous nearest's distance, at least
              newL = std::min(newL, u_lower);
              S[a] = u_lower + drift_[a];
              a = std::int32_t(j);
              u = dj * (1 + dist_rel_);
              best2 = dj2;
              best64 = dj64;
              if (with_gaps) hc = half_cc.data() + i64(a) * k;
            } else {
              newL = std::min(newL, dj * (1 - dist_rel_));
            }
          }
          upper_[i] = u;
          lower_[i] = std::max(0.0f, newL);
          if (a != a0) { assign_[i] = a; ++block_changed[b]; }
        }
      });
    }
    std::vector<i64> rows;
    for (auto& l : dense) rows.insert(rows.end(), l.begin(), l.end());
    const auto t_dense = std::chrono::steady_clock::now();
    i64 changed = elkan_dense(rows);
    if (debug_)
      std::fprintf(stderr, "elkan: scanned rows %lld, exact pairs %lld (near ties in double %lld); scan %.1f ms, dense %.1f ms\n",
                   (long long)std::accumulate(block_rows.begin(), block_rows.end(), i64(0)),
                   (long long)std::accumulate(block_pairs.begin(), block_pairs.end(), i64(0)),
                   (long long)std::accumulate(block_ties.begin(), block_ties.end(), i64(0)),
                   std::chrono::duration<double, std::milli>(t_dense - t_start).count(),
                   std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_dense).count());
    for (i64 c : block_changed) changed += c;
    if (debug_)
      std::fprintf(stderr, "elkan: %lld rows by GEMM, changed %lld\n", (long long)rows.size(), (long long)changed);
    prev_c_ = c_;
    bounds_ = true;
    if (verify_) verify();
    return changed;
  }

  void verify() {
    i64 bad = 0;
    for (i64 i = 0; i < n_; ++i) {
      double best = 1e300; i64 bj = -1;
      for (i64 j = 0; j < k_; ++j) { double dd = sq_dist(x_ + i * d_, c_.data() + j * d_, d_); if (dd < best) { best = dd; bj = j; } }
      double da = sq_dist(x_ + i * d_, c_.data() + assign_[i] * d_, d_);
      if (da > best * (1 + 1e-5)) {
        if (bad < 5) std::fprintf(stderr, "verify: row %lld assigned %d (%.6f) nearest %lld (%.6f) u=%.6f L=%.6f path=%d lb_nearest=%.6f S=%.6f drift=%.6f\n", (long long)i, assign_[i], std::sqrt(da), (long long)bj, std::sqrt(best), upper_[i], lower_[i], path_.empty() ? -1 : path_[i], pair_[i * k_ + bj] * pair_keep() - drift_[bj], pair_[i * k_ + bj], drift_[bj]);
        ++bad;
      }
      double trueL = 1e300; for (i64 j = 0; j < k_; ++j) if (j != assign_[i]) trueL = std::min(trueL, std::sqrt(sq_dist(x_ + i * d_, c_.data() + j * d_, d_)));
      if (lower_[i] > trueL * (1 + 1e-5) + 1e-6 && bad < 5) { std::fprintf(stderr, "verify: row %lld L=%.6f > true %.6f path=%d\n", (long long)i, lower_[i], trueL, path_.empty() ? -1 : path_[i]); ++bad; }
      if (upper_[i] < std::sqrt(da) * (1 - 1e-5) && bad < 5) { std::fprintf(stderr, "verify: row %lld u=%.6f < true %.6f path=%d\n", (long long)i, upper_[i], std::sqrt(da), path_.empty() ? -1 : path_[i]); ++bad; }
    }
    std::fprintf(stderr, "verify: %lld bad rows\n", (long long)bad);
  }

  // Rows [r0, r0 + m) of `rows` as one contiguous block: x itself when every row is listed,
  // else copied into `buffer`.
  const float* gather_rows(const std::vector<i64>& rows, i64 r0, i64 m, std::vector<float>& buffer) {
    if (static_cast<i64>(rows.size()) == n_) return x_ + rows[r0] * d_;
    buffer.resize(m * d_);
    parallel_for((m + 255) / 256, threads_, cancel_, [&](i64 b, int) {
      for (i64 i = b * 256; i < std::min(m, (b + 1) * 256); ++i)
        std::copy(x_ + rows[r0 + i] * d_, x_ + rows[r0 + i] * d_ + d_, buffer.data() + i * d_);
    });
    return buffer.data();
  }

  // Rows recomputed against every centroid by GEMM; exact bounds for each pair.
  i64 elkan_dense(const std::vector<i64>& rows) {
    if (rows.empty()) return 0;
    const i64 k = k_, d = d_;
    const i64 tile_rows = std::max<i64>(64, std::min<i64>(4096, (i64(1) << 22) / k));
    std::vector<float> tile(tile_rows * k), gathered;
    const std::vector<float> cnorm = centroid_norms();
    const float cmax = *std::max_element(cnorm.begin(), cnorm.end());
    const cpu::DenseRowFn dense_row = cpu::dense_row_fn();
    i64 changed = 0;
    for (i64 r0 = 0; r0 < static_cast<i64>(rows.size()); r0 += tile_rows) {
      const i64 m = std::min<i64>(tile_rows, rows.size() - r0);
      const float* src = gather_rows(rows, r0, m, gathered);
      GemmArgs g;
      g.m = m; g.n = k; g.k = d; g.trans_b = true;
      g.a = src; g.lda = d; g.b = c_.data(); g.ldb = d; g.c = tile.data(); g.ldc = k;
      gemm_cpu(g, threads_, cancel_, false);
      std::vector<i64> part((m + 255) / 256, 0);
      parallel_for(static_cast<i64>(part.size()), threads_, cancel_, [&](i64 b, int) {
        for (i64 i = b * 256; i < std::min(m, (b + 1) * 256); ++i) {
          const i64 row = rows[r0 + i];
          const float xn = xnorm_[row], margin = margin_scale_ * (xn + cmax);
          // Distances, pair bounds, the nearest (first index on ties) and the second nearest
          // (the minimum over the other indices, which may equal the nearest).
          const float* dots = tile.data() + i * k;
          const cpu::NearestTwo near = dense_row(dots, cnorm.data(), drift_.data(), xn, margin, k, pair_.data() + row * k);
          std::int32_t best_j = near.best_j;
          float upper = std::sqrt(near.best + margin), lower = std::sqrt(std::max(0.0f, near.second - margin));
          if (!(near.second - near.best > 2 * margin)) {
            // A near tie within the expansion's rounding: the nearest by direct distance in double
            // (ties to the lower index, as encode) among the centroids that can be nearest; every
            // other one is truly at least best - margin away.
            const float* xi = src + i * d;
            const float limit = near.best + 2 * margin;
            double nearest = std::numeric_limits<double>::infinity();
            for (i64 j = 0; j < k; ++j) {
              if (!(std::max(xn + cnorm[j] - 2.0f * dots[j], 0.0f) <= limit)) continue;
              const double dj = sq_dist(xi, c_.data() + j * d, d);
              if (dj < nearest) { nearest = dj; best_j = std::int32_t(j); }
            }
            upper = float(std::sqrt(nearest)) * (1 + 1e-6f);
            lower = std::sqrt(std::max(0.0f, near.best - margin));
          }
          upper_[row] = upper;
          lower_[row] = lower;
          if (assign_[row] != best_j) ++part[b];
          assign_[row] = best_j;
        }
      });
      for (i64 c : part) changed += c;
    }
    return changed;
  }

  // half_cc[a][j] = |c_a - c_j| / 2 (from a GEMM, with a margin), s[a] = min over j != a.
  void center_half_gaps(std::vector<float>& half_cc, std::vector<float>& s) {
    const i64 k = k_, d = d_;
    GemmArgs g;
    g.m = k; g.n = k; g.k = d; g.trans_b = true;
    g.a = c_.data(); g.lda = d; g.b = c_.data(); g.ldb = d; g.c = half_cc.data(); g.ldc = k;
    gemm_cpu(g, threads_, cancel_, false);
    std::vector<float> cn(k);
    for (i64 j = 0; j < k; ++j) cn[j] = half_cc[j * k + j];
    const float cmax = *std::max_element(cn.begin(), cn.end());
    std::fill(s.begin(), s.end(), std::numeric_limits<float>::infinity());
    for (i64 a = 0; a < k; ++a)
      for (i64 j = 0; j < k; ++j) {
        const float d2 = std::max(cn[a] + cn[j] - 2.0f * half_cc[a * k + j] - 4 * margin_scale_ * cmax, 0.0f);
        half_cc[a * k + j] = a == j ? 0.0f : 0.5f * std::sqrt(d2);
        if (a != j) s[a] = std::min(s[a], half_cc[a * k + j]);
      }
  }

  // Half the distance from each centroid to its nearest other centroid (0 when not worth it).
  std::vector<float> half_gaps() {
    std::vector<float> s(k_, 0.0f);
    if (k_ < 2 || k_ * 4 > n_) return s;
    std::vector<std::int32_t> idx(k_ * 2);
    std::vector<float> dist(k_ * 2);
    NearestArgs a{k_, d_, k_, 2, c_.data(), c_.data(), idx.data(), dist.data()};
    nearest_cpu(a, threads_, cancel_);
    const float cmax = max_centroid_norm();
    for (i64 j = 0; j < k_; ++j) {
      const float other = idx[2 * j] == j ? dist[2 * j + 1] : dist[2 * j];
      s[j] = 0.5f * std::sqrt(std::max(0.0f, other - 4 * margin_scale_ * cmax));
    }
    return s;
  }

  i64 full_assign() {
    upper_.assign(n_, 0.0f);
    lower_.assign(n_, 0.0f);
    std::vector<i64> rows(n_);
    for (i64 i = 0; i < n_; ++i) rows[i] = i;
    const i64 changed = recompute(rows);
    prev_c_ = c_;
    bounds_ = true;
    return changed;
  }

  // Exact nearest and (within the margin) second-nearest for the listed rows; returns assignments changed.
  i64 recompute(const std::vector<i64>& rows) {
    if (rows.empty()) return 0;
    const i64 topk = std::min<i64>(2, k_);
    const float cmax = max_centroid_norm();
    std::vector<float> gathered;
    std::vector<std::int32_t> idx;
    std::vector<float> dist;
    i64 changed = 0;
    for (i64 r0 = 0; r0 < static_cast<i64>(rows.size()); r0 += kGatherRows) {
      const i64 m = std::min<i64>(kGatherRows, rows.size() - r0);
      const float* src = gather_rows(rows, r0, m, gathered);
      idx.resize(m * topk);
      dist.resize(m * topk);
      NearestArgs a{m, d_, k_, topk, src, c_.data(), idx.data(), dist.data()};
      // Exact nearest (near ties settled in double); distances stay within the margin.
      nearest_exact_on(false, a, threads_, cancel_);
      for (i64 i = 0; i < m; ++i) {
        const i64 row = rows[r0 + i];
        const float margin = margin_scale_ * (xnorm_[row] + cmax);
        if (assign_[row] != idx[i * topk]) ++changed;
        assign_[row] = idx[i * topk];
        upper_[row] = std::sqrt(dist[i * topk] + margin);
        lower_[row] = topk == 2 ? std::sqrt(std::max(0.0f, dist[i * topk + 1] - margin))
                                : std::numeric_limits<float>::infinity();
      }
    }
    return changed;
  }

  void full_sums() {
    const i64 k = k_, d = d_;
    counts_.assign(k, 0);
    for (i64 i = 0; i < n_; ++i) counts_[assign_[i]]++;
    std::vector<i64> offset(k + 1, 0), order(n_);
    for (i64 j = 0; j < k; ++j) offset[j + 1] = offset[j] + counts_[j];
    std::vector<i64> fill(offset.begin(), offset.end() - 1);
    for (i64 i = 0; i < n_; ++i) order[fill[assign_[i]]++] = i;
    sums_.assign(k * d, 0.0);
    parallel_for(k, threads_, cancel_, [&](i64 j, int) {
      double* s = sums_.data() + j * d;
      for (i64 p = offset[j]; p < offset[j + 1]; ++p) {
        const float* xi = x_ + order[p] * d;
        for (i64 t = 0; t < d; ++t) s[t] += xi[t];
      }
    });
  }

  int threads_;
  CancelFlag cancel_;
  bool debug_, verify_;  // SEMID_DEBUG_KMEANS, SEMID_VERIFY_KMEANS (read once)
  const float* x_ = nullptr;
  i64 n_ = 0, d_ = 0, k_ = 0;
  double xx_ = 0;
  // Rounding bound of an expanded squared distance per unit of |x|^2 + |c|^2 (nearest_rounding_bound).
  float margin_scale_ = 0;
  float dist_rel_ = 0;  // relative rounding bound of a float distance (set_data)
  cpu::SqDistF64Fn dist_f64_ = cpu::sq_dist_f64_scalar;
  std::vector<float> c_, prev_c_, xnorm_, upper_, lower_, drift_;
  i64 drift_adds_ = 0;  // Elkan passes that added centroid movements to drift_ since it was zeroed
  std::vector<float, PrefaultedAllocator<float>> pair_;  // [n x k] Elkan pair bounds (64 MiB at 62,138 x 256)
  std::vector<int> path_;
  std::vector<std::int32_t> assign_, sums_assign_;
  std::vector<double> sums_;
  std::vector<i64> counts_;
  bool bounds_ = false, sums_valid_ = false;
};

}  // namespace

std::unique_ptr<KMeansBackend> make_cpu_kmeans_backend(int threads, const CancelFlag& cancel) {
  return std::make_unique<CpuKMeansBackend>(threads, cancel);
}

}  // namespace semid
