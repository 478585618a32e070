// Fused nearest-centroid search on the CPU (see semid/nearest.h). Centroids are packed once per
// chunk as the B operand of the GEMM micro-kernel; each task packs a block of rows of x, computes
// dot products against 256 centroids at a time into a small tile, turns them into distances and
// merges them into each row's running top-k. Memory beyond the outputs: the packed centroid chunk
// (<= 32 MiB) and, per thread, one packed row block and one tile.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "distance.h"
#include "gemm_kernel.h"
#include "semid/cpu_features.h"
#include "semid/nearest.h"
#include "semid/parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace semid {

namespace {
[[noreturn]] void fail_nearest(const std::string& msg) { throw Error("ERR_SEMID_INVALID_ARG", msg); }
}  // namespace

void validate_nearest_shape(const NearestArgs& a) {
  auto fail = fail_nearest;
  if (a.n < 0) fail("nearest: n must be >= 0, got " + std::to_string(a.n));
  if (a.d < 1) fail("nearest: d must be >= 1, got " + std::to_string(a.d));
  if (a.k < 1 || a.k > std::numeric_limits<std::int32_t>::max())
    fail("nearest: k must be in [1, 2^31), got " + std::to_string(a.k));
  if (a.topk < 1 || a.topk > a.k)
    fail("nearest: topk must be in [1, k=" + std::to_string(a.k) + "], got " + std::to_string(a.topk));
}

void validate_nearest(const NearestArgs& a) {
  auto fail = fail_nearest;
  validate_nearest_shape(a);
  if (a.centroids == nullptr) fail("nearest: centroids is null");
  if (a.n > 0 && (a.x == nullptr || a.indices == nullptr || a.distances == nullptr))
    fail("nearest: x or an output is null");
}

namespace {

struct Cand {
  float d;
  std::int32_t i;
};
// Strict order: smaller distance first, then lower index.
inline bool better(float d1, std::int32_t i1, float d2, std::int32_t i2) {
  return d1 < d2 || (d1 == d2 && i1 < i2);
}

// Max-heap on (distance, index): the root is the worst kept candidate. Inlined into each merge:
// a call from AVX code into SSE code costs more than the heap step here.
inline __attribute__((always_inline)) void heap_replace_root(float* hd, std::int32_t* hi, i64 size, float d, std::int32_t idx) {
  i64 pos = 0;
  for (;;) {
    i64 l = 2 * pos + 1, r = l + 1, worst = pos;
    float wd = d;
    std::int32_t wi = idx;
    if (l < size && better(wd, wi, hd[l], hi[l])) { worst = l; wd = hd[l]; wi = hi[l]; }
    if (r < size && better(wd, wi, hd[r], hi[r])) { worst = r; }
    if (worst == pos) break;
    hd[pos] = hd[worst];
    hi[pos] = hi[worst];
    pos = worst;
  }
  hd[pos] = d;
  hi[pos] = idx;
}

void sort_row(float* hd, std::int32_t* hi, i64 size) {
  std::vector<Cand> tmp(size);
  for (i64 j = 0; j < size; ++j) tmp[j] = {hd[j], hi[j]};
  std::sort(tmp.begin(), tmp.end(),
            [](const Cand& x, const Cand& y) { return better(x.d, x.i, y.d, y.i); });
  for (i64 j = 0; j < size; ++j) { hd[j] = tmp[j].d; hi[j] = tmp[j].i; }
}

/**
 * Merges one row's tile of dot products (ncb centroids from index base) into its top-k heap:
 * distance max((xn + cn[j]) - 2 dots[j], 0), kept when below the worst kept one (the root).
 */
using MergeFn = void (*)(const float* dots, const float* cn, float xn, i64 ncb, std::int32_t base, float* hd,
                         std::int32_t* hi, i64 topk);

void merge_topk_scalar(const float* dots, const float* cn, float xn, i64 ncb, std::int32_t base, float* hd,
                       std::int32_t* hi, i64 topk) {
  if (topk == 1) {
    float best = hd[0];
    std::int32_t best_i = hi[0];
    for (i64 j = 0; j < ncb; ++j) {
      const float dist = std::max(xn + cn[j] - 2.0f * dots[j], 0.0f);
      if (dist < best) { best = dist; best_i = base + static_cast<std::int32_t>(j); }
    }
    hd[0] = best;
    hi[0] = best_i;
    return;
  }
  for (i64 j = 0; j < ncb; ++j) {
    const float dist = std::max(xn + cn[j] - 2.0f * dots[j], 0.0f);
    if (dist < hd[0]) heap_replace_root(hd, hi, topk, dist, base + std::int32_t(j));
  }
}

constexpr i64 kMergeTileMax = 512;  // >= NCB (256 rounded up to the micro-kernel's NR)
constexpr i64 kMergeLanes = 8;

#if defined(__x86_64__) || defined(__i386__)
// Two passes, for topk <= 8 (the same result as the scalar merge, bit for bit): the distances go to
// a buffer while eight lane minima are kept; the topk-th smallest lane minimum bounds the row's
// topk-th distance (topk distances are at most it), so the second pass offers the heap only the
// few distances at or below it, eight compares at a time.
__attribute__((target("avx2"))) void merge_topk_avx2(const float* dots, const float* cn, float xn, i64 ncb,
                                                     std::int32_t base, float* hd, std::int32_t* hi, i64 topk) {
  alignas(32) float dist[kMergeTileMax];
  const __m256 vxn = _mm256_set1_ps(xn), two = _mm256_set1_ps(2.0f), zero = _mm256_setzero_ps();
  __m256 lane_min = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const i64 full = ncb / kMergeLanes * kMergeLanes;
  for (i64 j = 0; j < full; j += kMergeLanes) {
    const __m256 sum = _mm256_add_ps(vxn, _mm256_loadu_ps(cn + j));
    // max(0, v) keeps NaN as std::max(v, 0) does; min(v, m) skips it.
    const __m256 v = _mm256_max_ps(zero, _mm256_sub_ps(sum, _mm256_mul_ps(two, _mm256_loadu_ps(dots + j))));
    _mm256_store_ps(dist + j, v);
    lane_min = _mm256_min_ps(v, lane_min);
  }
  for (i64 j = full; j < ncb; ++j) dist[j] = std::max(xn + cn[j] - 2.0f * dots[j], 0.0f);
  float threshold = hd[0];
  if (full > 0) {
    alignas(32) float mins[kMergeLanes];
    _mm256_store_ps(mins, lane_min);
    std::sort(mins, mins + kMergeLanes);
    threshold = std::min(threshold, mins[topk - 1]);
  }
  const __m256 vt = _mm256_set1_ps(threshold);
  for (i64 j = 0; j < full; j += kMergeLanes) {
    unsigned mask = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_load_ps(dist + j), vt, _CMP_LE_OQ)));
    for (; mask; mask &= mask - 1) {
      const i64 e = j + __builtin_ctz(mask);
      if (dist[e] < hd[0]) heap_replace_root(hd, hi, topk, dist[e], base + std::int32_t(e));
    }
  }
  for (i64 e = full; e < ncb; ++e)
    if (dist[e] < hd[0]) heap_replace_root(hd, hi, topk, dist[e], base + std::int32_t(e));
}
#endif

/** The merge for this machine and topk. */
MergeFn merge_topk_fn(i64 topk) {
#if defined(__x86_64__) || defined(__i386__)
  if (active_simd() != SimdLevel::Scalar && cpu::avx2_compiled() && topk <= kMergeLanes) return merge_topk_avx2;
#endif
  (void)topk;
  return merge_topk_scalar;
}

}  // namespace

void nearest_reference(const NearestArgs& a) {
  validate_nearest(a);
  std::vector<std::pair<double, std::int32_t>> row(a.k);
  for (i64 i = 0; i < a.n; ++i) {
    const float* x = a.x + i * a.d;
    for (i64 j = 0; j < a.k; ++j) {
      const float* c = a.centroids + j * a.d;
      double s = 0;
      for (i64 p = 0; p < a.d; ++p) {
        double diff = double(x[p]) - double(c[p]);
        s += diff * diff;
      }
      row[j] = {s, static_cast<std::int32_t>(j)};
    }
    std::partial_sort(row.begin(), row.begin() + a.topk, row.end());
    for (i64 t = 0; t < a.topk; ++t) {
      a.indices[i * a.topk + t] = row[t].second;
      a.distances[i * a.topk + t] = static_cast<float>(row[t].first);
    }
  }
}

void nearest_cpu(const NearestArgs& a, int threads, const CancelFlag& cancel) {
  validate_nearest(a);
  if (a.n == 0) return;
  const cpu::MicroKernel& mk = cpu::select_kernel();
  const i64 MR = mk.mr, NR = mk.nr, KC = cpu::kKC;
  const i64 MB = cpu::round_up(96, MR);    // rows of x per task
  const i64 NCB = cpu::round_up(256, NR);  // centroids per tile
  const i64 d = a.d, k = a.k, topk = a.topk;
  const MergeFn merge = NCB <= kMergeTileMax ? merge_topk_fn(topk) : merge_topk_scalar;
  const cpu::SqDistF64Fn norm_f64 = cpu::sq_dist_f64_fn();  // squared norms (b = nullptr)

  std::vector<float> cnorm(k);
  parallel_for((k + 1023) / 1024, threads, cancel, [&](i64 t, int) {
    for (i64 j = t * 1024; j < std::min(k, (t + 1) * 1024); ++j)
      cnorm[j] = static_cast<float>(norm_f64(a.centroids + j * d, nullptr, d));
  });
  for (i64 i = 0; i < a.n * topk; ++i) {
    a.distances[i] = std::numeric_limits<float>::infinity();
    a.indices[i] = std::numeric_limits<std::int32_t>::max();
  }

  // Centroid chunks whose packed form fits in 8M floats (32 MiB).
  const i64 chunk = std::min(cpu::round_up(k, NCB),
                             std::max<i64>(NCB, (i64(8) << 20) / d / NCB * NCB));
  std::vector<float> b_pack(cpu::round_up(std::min(chunk, cpu::round_up(k, NR)), NR) * d);
  const cpu::MatView cview{a.centroids, d, true};  // op(B) = centroids^T, k columns
  const cpu::MatView xview{a.x, d, false};
  const i64 row_tasks = (a.n + MB - 1) / MB;

  for (i64 j0 = 0; j0 < k; j0 += chunk) {
    const i64 jn = std::min(chunk, k - j0);
    const i64 jn_pad = cpu::round_up(jn, NR);
    const i64 kblocks = (d + KC - 1) / KC;
    // Pack the chunk: block pc holds kc x jn_pad floats at offset pc * jn_pad.
    parallel_for(kblocks, threads, cancel, [&](i64 kb, int) {
      const i64 pc = kb * KC, kc = std::min(KC, d - pc);
      cpu::pack_b(cview, pc, kc, j0, jn, mk.nr, b_pack.data() + pc * jn_pad);
    });
    parallel_for(row_tasks, threads, cancel, [&](i64 task, int) {
      const i64 i0 = task * MB, mb = std::min(MB, a.n - i0);
      thread_local std::vector<float> a_pack, tile, xnorm;
      a_pack.resize(MB * d);
      tile.resize(MB * NCB);
      xnorm.resize(MB);
      for (i64 pc = 0; pc < d; pc += KC) {
        const i64 kc = std::min(KC, d - pc);
        cpu::pack_a(xview, i0, mb, pc, kc, mk.mr, 1.0f, a_pack.data() + pc * MB);
      }
      for (i64 i = 0; i < mb; ++i) xnorm[i] = static_cast<float>(norm_f64(a.x + (i0 + i) * d, nullptr, d));
      for (i64 jb = 0; jb < jn; jb += NCB) {
        const i64 ncb = std::min(NCB, jn - jb);
        for (i64 pc = 0; pc < d; pc += KC) {
          const i64 kc = std::min(KC, d - pc);
          const float* ap = a_pack.data() + pc * MB;
          const float* bp = b_pack.data() + pc * jn_pad + jb * kc;
          for (i64 jr = 0; jr < ncb; jr += NR) {
            const int nr = static_cast<int>(std::min(NR, ncb - jr));
            for (i64 ir = 0; ir < mb; ir += MR) {
              const int mr = static_cast<int>(std::min(MR, mb - ir));
              mk.fn(kc, ap + ir * kc, bp + jr * kc, tile.data() + ir * NCB + jr, NCB, mr, nr,
                    pc > 0);
            }
          }
        }
        // Merge this tile into each row's top-k.
        for (i64 i = 0; i < mb; ++i) {
          const float* dots = tile.data() + i * NCB;
          const float xn = xnorm[i];
          float* hd = a.distances + (i0 + i) * topk;
          std::int32_t* hi = a.indices + (i0 + i) * topk;
          const float* cn = cnorm.data() + j0 + jb;
          const std::int32_t base = static_cast<std::int32_t>(j0 + jb);
          merge(dots, cn, xn, ncb, base, hd, hi, topk);
        }
      }
    });
  }
  // Finish: order each row (distances were clamped at 0 before selection).
  if (topk > 1) parallel_for(row_tasks, threads, cancel, [&](i64 task, int) {
    for (i64 i = task * MB; i < std::min(a.n, (task + 1) * MB); ++i) {
      float* hd = a.distances + i * topk;
      std::int32_t* hi = a.indices + i * topk;
      if (topk > 1) sort_row(hd, hi, topk);
    }
  });
}

}  // namespace semid
