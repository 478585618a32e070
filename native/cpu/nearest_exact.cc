// Exact nearest-centroid search on top of an expanded-form one (see semid/nearest.h).
//
// |x|^2 - 2 x.c + |c|^2 in float carries a rounding error of up to about (d + 6) u (|x|^2 + |c|^2)
// (u = 2^-24: the float dot product's gamma_d plus the roundings of the norms and the two
// subtractions). On data far from the origin (features with a large common offset, tight clusters
// at a large norm) that error exceeds the gap between the nearest centroids and the expanded form
// picks a farther one. So the search is asked for a few more candidates than wanted; a row whose
// kept ranking has every gap above the error bound is certain as it is (nearly every row), the
// others are re-ranked by direct sums of (x - c)^2 in double, and a row whose bound cannot rule
// out the centroids outside its candidates is scanned exactly in full. SEMID_DEBUG_NEAREST=1
// prints, per call, the time of each stage and how many rows were re-ranked.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <utility>
#include <vector>

#include "distance.h"
#include "semid/cuda.h"
#include "semid/nearest.h"
#include "semid/parallel.h"

namespace semid {

double nearest_rounding_bound(i64 d, double x_norm, double c_norm) {
  // (2d + 8) u: twice the float analysis above, so that a backend whose norms are float sums
  // (CUDA) is covered as well; the factor 1.0625 absorbs the double evaluation of this bound.
  return (2.0 * double(d) + 8.0) * 0x1p-24 * 1.0625 * (x_norm + c_norm);
}

namespace {

/** What one row's settling did (for SEMID_DEBUG_NEAREST). */
enum class Settled { AsSearched, Reranked, Scanned };

/**
 * One row: `ci`/`cd` hold its `ext` candidates by expanded distance (ascending); writes the exact
 * topk to out_i/out_d. `cmax`: the largest squared centroid norm; `gamma`: the rounding bound per
 * unit of norm.
 */
Settled settle_row(const float* xi, const float* centroids, i64 d, i64 k, i64 topk, i64 ext, const std::int32_t* ci,
                   const float* cd, double cmax, double gamma, cpu::SqDistF64Fn dist_f64,
                   std::vector<std::pair<double, std::int32_t>>& row, std::int32_t* out_i, float* out_d) {
  // NaN (unchecked input) sorts last: the sorts need an order.
  auto exact = [&](const float* c) {
    const double s = dist_f64(xi, c, d);
    return s == s ? s : HUGE_VAL;
  };
  // The margin bound with |x|^2 <= 2 (d0 + margin) + 2 |c0|^2 (d0: the nearest's expanded
  // distance) solved for the margin, so that a certain row never reads x again.
  const double margin = gamma * (2 * double(cd[0]) + 3 * cmax) / (1 - 2 * gamma);
  // True distances lie within margin of the expanded ones (cd). Every centroid outside the
  // candidates has cd >= cd[ext - 1] >= cd[topk], so a true distance >= cd[topk] - margin. The
  // topk set is certain when the gap after it exceeds 2 margin (with ext == k too: holding every
  // centroid among the candidates does not say which of them are nearest), or when it is all
  // of them.
  const double kth = double(cd[topk - 1]);
  const bool set_certain = topk == k || (topk < ext && double(cd[topk]) - kth > 2 * margin);
  if (set_certain) {
    bool order_certain = true;
    for (i64 q = 0; q + 1 < topk; ++q)
      if (!(double(cd[q + 1]) - double(cd[q]) > 2 * margin)) { order_certain = false; break; }
    if (order_certain) {
      std::copy(ci, ci + topk, out_i);
      std::copy(cd, cd + topk, out_d);
      return Settled::AsSearched;
    }
  }
  // Exact ranking (ties: lower index) of the candidates that can be among the topk nearest:
  // those with cd <= kth + 2 margin; any other centroid is truly farther than kth + margin,
  // which bounds the topk-th true distance of the first topk candidates.
  i64 within = topk;
  while (within < ext && double(cd[within]) <= kth + 2 * margin) ++within;
  const bool scan_all = within == ext && ext < k;  // the bound reaches past the candidates
  if (scan_all) {
    row.resize(k);
    for (i64 j = 0; j < k; ++j) row[j] = {exact(centroids + j * d), std::int32_t(j)};
    std::partial_sort(row.begin(), row.begin() + topk, row.end());
  } else {
    row.resize(within);
    for (i64 q = 0; q < within; ++q) row[q] = {exact(centroids + i64(ci[q]) * d), ci[q]};
    std::sort(row.begin(), row.end());
  }
  for (i64 q = 0; q < topk; ++q) {
    out_i[q] = row[q].second;
    out_d[q] = static_cast<float>(row[q].first);
  }
  return scan_all ? Settled::Scanned : Settled::Reranked;
}

}  // namespace

void nearest_exact(const NearestArgs& a, const NearestSearch& search, int threads, const CancelFlag& cancel) {
  validate_nearest(a);
  if (a.n == 0) return;
  const i64 n = a.n, d = a.d, k = a.k, topk = a.topk;
  const i64 ext = std::min(k, topk + kNearestExtraCandidates);
  const cpu::SqDistF64Fn dist_f64 = cpu::sq_dist_f64_fn();
  const double gamma = nearest_rounding_bound(d, 1.0, 0.0);

  // The largest centroid norm bounds the error of every omitted centroid's distance.
  std::vector<double> cnorm_part((k + 1023) / 1024, 0.0);
  parallel_for(static_cast<i64>(cnorm_part.size()), threads, cancel, [&](i64 b, int) {
    double m = 0;
    for (i64 j = b * 1024; j < std::min(k, (b + 1) * 1024); ++j) m = std::max(m, dist_f64(a.centroids + j * d, nullptr, d));
    cnorm_part[b] = m;
  });
  const double cmax = *std::max_element(cnorm_part.begin(), cnorm_part.end());

  // Rows in chunks, so that the candidates take at most 4 Mi entries (32 MB) beside the outputs.
  const i64 chunk = std::max<i64>(256, (i64(1) << 22) / ext);
  std::vector<std::int32_t> cand_i(std::min(n, chunk) * ext);
  std::vector<float> cand_d(std::min(n, chunk) * ext);
  std::atomic<i64> reranked{0}, scanned{0};
  double search_ms = 0, settle_ms = 0;
  for (i64 r0 = 0; r0 < n; r0 += chunk) {
    const i64 m = std::min(chunk, n - r0);
    NearestArgs wide = a;
    wide.n = m;
    wide.x = a.x + r0 * d;
    wide.topk = ext;
    wide.indices = cand_i.data();
    wide.distances = cand_d.data();
    const auto t0 = std::chrono::steady_clock::now();
    search(wide);
    const auto t1 = std::chrono::steady_clock::now();
    parallel_for((m + 255) / 256, threads, cancel, [&](i64 blk, int) {
      std::vector<std::pair<double, std::int32_t>> row;
      for (i64 i = blk * 256; i < std::min(m, (blk + 1) * 256); ++i) {
        const Settled how = settle_row(wide.x + i * d, a.centroids, d, k, topk, ext, cand_i.data() + i * ext,
                                       cand_d.data() + i * ext, cmax, gamma, dist_f64, row, a.indices + (r0 + i) * topk,
                                       a.distances + (r0 + i) * topk);
        if (how != Settled::AsSearched) reranked++;
        if (how == Settled::Scanned) scanned++;
      }
    });
    search_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    settle_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  }
  if (std::getenv("SEMID_DEBUG_NEAREST"))
    std::fprintf(stderr, "nearest_exact n=%lld k=%lld topk=%lld: search %.1f ms, settle %.1f ms, re-ranked %lld rows (%lld scanned in full)\n",
                 (long long)n, (long long)k, (long long)topk, search_ms, settle_ms, (long long)reranked.load(),
                 (long long)scanned.load());
}

void nearest_exact_on(bool cuda, const NearestArgs& a, int threads, const CancelFlag& cancel) {
  nearest_exact(a, [&](const NearestArgs& w) {
    if (cuda) nearest_cuda(w, cancel);
    else nearest_cpu(w, threads, cancel);
  }, threads, cancel);
}

}  // namespace semid
