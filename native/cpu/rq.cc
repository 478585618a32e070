// Residual quantization with k-means codebooks: training level by level on residuals, greedy and
// beam encoding, decoding. The nearest-centroid step runs on the CPU kernel or the CUDA one.
#include "semid/rq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "semid/cuda.h"
#include "semid/nearest.h"
#include "semid/parallel.h"
#include "semid/prefaulted.h"
#include "semid/rng.h"

namespace semid {

namespace {

[[noreturn]] void fail(const std::string& m) { throw Error("ERR_SEMID_INVALID_ARG", m); }

// Exact nearest (near ties settled in double) on either backend's expanded-form search.
void nearest_on(Backend backend, const NearestArgs& a, int threads, const CancelFlag& cancel) {
  nearest_exact_on(backend == Backend::Cuda, a, threads, cancel);
}

void validate_codebooks(const RqCodebooks& cb) {
  if (cb.levels < 1 || cb.levels > 64) fail("rq: levels must be in [1, 64], got " + std::to_string(cb.levels));
  if (cb.k < 1 || cb.k > 65536) fail("rq: codebook size must be in [1, 65536], got " + std::to_string(cb.k));
  if (cb.d < 1) fail("rq: dimension must be >= 1");
  if (cb.data.size() != std::size_t(cb.levels) * cb.k * cb.d) fail("rq: codebook data has the wrong size");
}

/**
 * Greedy encoding (beam 1): level by level, each row's nearest centroid to its residual. Rows go in
 * chunks (a multiple of 256 rows, ~32 MB of residuals) through one residual buffer reused by every
 * chunk; level 0 reads x itself, and each level's squared error is summed while the residual is
 * updated in place: per 256-row block, in row order, the same sums as the beam path computes.
 */
void encode_greedy(const RqCodebooks& cb, const RqEncodeArgs& a, const CancelFlag& cancel) {
  const i64 n = a.n, d = cb.d, k = cb.k, L = cb.levels;
  const i64 chunk = std::max<i64>(256, (i64(8) << 20) / d / 256 * 256);
  std::vector<float, PrefaultedAllocator<float>> res;  // [chunk x d], no zero fill
  std::vector<std::int32_t> idx;
  std::vector<float> dist;
  std::vector<double> level_err(L, 0.0);
  for (i64 r0 = 0; r0 < n; r0 += chunk) {
    cancel.check();
    const i64 m = std::min(chunk, n - r0), blocks = (m + 255) / 256;
    res.resize(std::max<std::size_t>(res.size(), std::size_t(m * d)));
    idx.resize(m);
    dist.resize(m);
    std::vector<double> part(blocks * L, 0.0);
    for (i64 l = 0; l < L; ++l) {
      const float* in = l == 0 ? a.x + r0 * d : res.data();
      const float* level = cb.level(int(l));
      NearestArgs na{m, d, k, 1, in, level, idx.data(), dist.data()};
      nearest_on(a.backend, na, a.threads, cancel);
      parallel_for(blocks, a.threads, cancel, [&](i64 blk, int) {
        double sum = 0;
        for (i64 i = blk * 256; i < std::min(m, (blk + 1) * 256); ++i) {
          const std::int32_t code = idx[i];
          a.codes[(r0 + i) * L + l] = code;
          const float* src = in + i * d;
          const float* cv = level + i64(code) * d;
          float* r = res.data() + i * d;
          double row = 0;
          for (i64 e = 0; e < d; ++e) {
            r[e] = src[e] - cv[e];
            row += double(r[e]) * r[e];
          }
          sum += row;
        }
        part[blk * L + l] = sum;
      });
    }
    for (std::size_t q = 0; q < part.size(); ++q) level_err[q % L] += part[q];
  }
  if (a.level_sq_error) std::copy(level_err.begin(), level_err.end(), a.level_sq_error);
}

}  // namespace

RqTrainResult rq_train(const float* x, i64 n, i64 d, const RqParams& p, const CancelFlag& cancel,
                       const RqProgress& progress) {
  if (p.levels < 1 || p.levels > 64) fail("rq: levels must be in [1, 64], got " + std::to_string(p.levels));
  if (p.beam < 1 || p.beam > 1024) fail("rq: beam must be in [1, 1024], got " + std::to_string(p.beam));
  if (p.max_train_points < 0) fail("rq: max_train_points must be >= 0");
  if (d < 1) fail("rq: dimension must be >= 1, got " + std::to_string(d));
  const i64 k = p.kmeans.k;
  const bool sampled = p.max_train_points > 0 && p.max_train_points < n;
  const i64 nt = sampled ? p.max_train_points : n;
  if (nt < k) fail("rq: codebook size " + std::to_string(k) + " exceeds the number of training rows " + std::to_string(nt));
  // One backend for every level: each level's set_data resets its state, and its buffers (on the
  // CPU the n x k Elkan bounds, 64 MB at 62,138 x 256) are reused instead of allocated anew.
  auto backend = p.backend == Backend::Cuda ? make_cuda_kmeans_backend(cancel)
                                            : make_cpu_kmeans_backend(p.kmeans.threads, cancel);
  // Training rows: all, or a seeded sample kept in index order. A backend that keeps its own
  // copy of the rows (the GPU) turns them into residuals in place between greedy levels, so
  // the host then needs no residual copy at all.
  std::vector<float> residual;
  const bool on_backend = backend->keeps_data() && p.beam == 1 && !sampled;
  if (sampled) {
    std::vector<i64> rows(n);
    for (i64 i = 0; i < n; ++i) rows[i] = i;
    Rng rng(p.kmeans.seed ^ 0xa5a5a5a5deadbeefull);
    for (i64 j = 0; j < nt; ++j) std::swap(rows[j], rows[j + static_cast<i64>(rng.below(n - j))]);
    rows.resize(nt);
    std::sort(rows.begin(), rows.end());
    residual.resize(nt * d);
    for (i64 i = 0; i < nt; ++i) std::copy(x + rows[i] * d, x + rows[i] * d + d, residual.data() + i * d);
  } else if (!on_backend) {
    residual.assign(x, x + n * d);
  }
  const std::vector<float> train = p.beam > 1 ? residual : std::vector<float>();

  RqTrainResult out;
  out.train_rows = nt;
  out.codebooks.levels = p.levels;
  out.codebooks.k = k;
  out.codebooks.d = d;
  out.codebooks.data.resize(std::size_t(p.levels) * k * d);
  for (int l = 0; l < p.levels; ++l) {
    KMeansParams kp = p.kmeans;
    kp.seed = p.kmeans.seed + static_cast<std::uint64_t>(l);
    // On the backend: level 0 uploads x itself, later levels train on the residuals it holds.
    const float* level_rows = on_backend ? (l == 0 ? x : nullptr) : residual.data();
    KMeansResult km = kmeans_train(*backend, level_rows, nt, d, kp, cancel,
                                   [&](int it, const KMeansIteration& rec) { if (progress) progress(l, it, rec); });
    std::copy(km.centroids.begin(), km.centroids.end(), out.codebooks.data.begin() + std::size_t(l) * k * d);
    out.iterations.push_back(std::move(km.iterations));
    const bool last = l + 1 == p.levels;
    if (last && (nt != n || p.beam > 1)) break;
    if (p.beam == 1) {
      // Greedy residuals: nearest final centroid (the bounds make this pass cheap).
      backend->move_centroids(km.centroids.data());
      backend->assign();
      const std::int32_t* a = backend->assignment();
      const bool keep = nt == n;
      if (keep && l == 0) { out.codes.assign(n * p.levels, 0); out.level_sq_error.assign(p.levels, 0.0); }
      if (on_backend) {
        for (i64 i = 0; i < nt; ++i) out.codes[i * p.levels + l] = a[i];
        out.level_sq_error[l] = backend->residualize();
        continue;
      }
      std::vector<double> part((nt + 1023) / 1024, 0.0);
      parallel_for((nt + 1023) / 1024, kp.threads, cancel, [&](i64 b, int) {
        double s = 0;
        for (i64 i = b * 1024; i < std::min(nt, (b + 1) * 1024); ++i) {
          const float* c = km.centroids.data() + i64(a[i]) * d;
          float* r = residual.data() + i * d;
          for (i64 t = 0; t < d; ++t) { r[t] -= c[t]; s += double(r[t]) * r[t]; }
          if (keep) out.codes[i * p.levels + l] = a[i];
        }
        part[b] = s;
      });
      if (keep) for (double v : part) out.level_sq_error[l] += v;
    } else {
      // Beam residuals: encode the training rows with the levels trained so far.
      RqCodebooks partial;
      partial.levels = l + 1;
      partial.k = k;
      partial.d = d;
      partial.data.assign(out.codebooks.data.begin(), out.codebooks.data.begin() + std::size_t(l + 1) * k * d);
      std::vector<std::int32_t> codes(nt * (l + 1));
      RqEncodeArgs ea;
      ea.x = train.data(); ea.n = nt; ea.beam = p.beam; ea.backend = p.backend;
      ea.threads = kp.threads; ea.codes = codes.data();
      rq_encode(partial, ea, cancel);
      rq_decode(partial, codes.data(), nt, residual.data(), kp.threads, cancel);
      for (i64 e = 0; e < nt * d; ++e) residual[e] = train[e] - residual[e];
    }
  }
  if (p.beam > 1 && nt == n) {
    out.codes.assign(n * p.levels, 0);
    out.level_sq_error.assign(p.levels, 0.0);
    RqEncodeArgs ea;
    ea.x = x; ea.n = n; ea.beam = p.beam; ea.backend = p.backend; ea.threads = p.kmeans.threads;
    ea.codes = out.codes.data(); ea.level_sq_error = out.level_sq_error.data();
    rq_encode(out.codebooks, ea, cancel);
  }
  return out;
}

void rq_encode(const RqCodebooks& cb, const RqEncodeArgs& a, const CancelFlag& cancel) {
  validate_codebooks(cb);
  if (a.n < 0) fail("rq_encode: n must be >= 0");
  if (a.beam < 1 || a.beam > 1024) fail("rq_encode: beam must be in [1, 1024], got " + std::to_string(a.beam));
  const i64 n = a.n, d = cb.d, k = cb.k, L = cb.levels;
  const i64 B = a.beam;
  if (a.level_sq_error) std::fill(a.level_sq_error, a.level_sq_error + L, 0.0);
  if (n == 0) return;
  if (B == 1) {
    encode_greedy(cb, a, cancel);
    return;
  }
  const i64 chunk = std::max<i64>(1, std::min<i64>(n, (i64(32) << 20) / (B * d)));
  std::vector<float> res, next_res, dist, cand_err;
  std::vector<std::int32_t> idx, beam_codes, next_codes;
  std::vector<double> level_err(L, 0.0);
  for (i64 r0 = 0; r0 < n; r0 += chunk) {
    cancel.check();
    const i64 m = std::min(chunk, n - r0);
    i64 bc = 1;  // live beams per row
    res.assign(a.x + r0 * d, a.x + (r0 + m) * d);
    beam_codes.assign(m * L, 0);
    for (i64 l = 0; l < L; ++l) {
      const i64 t = std::min(B, k);
      idx.resize(m * bc * t);
      dist.resize(m * bc * t);
      NearestArgs na{m * bc, d, k, t, res.data(), cb.level(int(l)), idx.data(), dist.data()};
      nearest_on(a.backend, na, a.threads, cancel);
      const i64 nb = std::min(B, bc * t);
      next_res.resize(m * nb * d);
      next_codes.resize(m * nb * L);
      parallel_for((m + 255) / 256, a.threads, cancel, [&](i64 blk, int) {
        std::vector<std::pair<float, i64>> cands(bc * t);
        for (i64 i = blk * 256; i < std::min(m, (blk + 1) * 256); ++i) {
          // Candidates (beam b, j-th nearest) ranked by the resulting residual norm; ties go to
          // the lower beam, then the nearer rank (a fixed, thread-independent order).
          for (i64 c = 0; c < bc * t; ++c) cands[c] = {dist[i * bc * t + c], c};
          std::partial_sort(cands.begin(), cands.begin() + nb, cands.end());
          for (i64 q = 0; q < nb; ++q) {
            const i64 c = cands[q].second, b = c / t;
            const std::int32_t code = idx[i * bc * t + c];
            const std::int32_t* prefix = beam_codes.data() + (i * bc + b) * L;
            std::int32_t* dst = next_codes.data() + (i * nb + q) * L;
            std::copy(prefix, prefix + L, dst);
            dst[l] = code;
            const float* r = res.data() + (i * bc + b) * d;
            const float* cv = cb.level(int(l)) + i64(code) * d;
            float* nr = next_res.data() + (i * nb + q) * d;
            for (i64 e = 0; e < d; ++e) nr[e] = r[e] - cv[e];
          }
        }
      });
      std::swap(res, next_res);
      std::swap(beam_codes, next_codes);
      bc = nb;
    }
    // Best beam per row; per-level errors of its path.
    std::vector<double> part(((m + 255) / 256) * L, 0.0);
    parallel_for((m + 255) / 256, a.threads, cancel, [&](i64 blk, int) {
      std::vector<float> r(d);
      for (i64 i = blk * 256; i < std::min(m, (blk + 1) * 256); ++i) {
        const std::int32_t* best = beam_codes.data() + i * bc * L;
        std::copy(best, best + L, a.codes + (r0 + i) * L);
        if (!a.level_sq_error) continue;
        std::copy(a.x + (r0 + i) * d, a.x + (r0 + i + 1) * d, r.begin());
        for (i64 l = 0; l < L; ++l) {
          const float* cv = cb.level(int(l)) + i64(best[l]) * d;
          double s = 0;
          for (i64 e = 0; e < d; ++e) { r[e] -= cv[e]; s += double(r[e]) * r[e]; }
          part[blk * L + l] += s;
        }
      }
    });
    for (std::size_t q = 0; q < part.size(); ++q) level_err[q % L] += part[q];
  }
  if (a.level_sq_error) std::copy(level_err.begin(), level_err.end(), a.level_sq_error);
}

void rq_decode(const RqCodebooks& cb, const std::int32_t* codes, i64 n, float* out, int threads,
               const CancelFlag& cancel) {
  validate_codebooks(cb);
  const i64 d = cb.d, L = cb.levels, k = cb.k;
  for (i64 e = 0; e < n * L; ++e)
    if (codes[e] < 0 || codes[e] >= k)
      fail("rq_decode: code " + std::to_string(codes[e]) + " at row " + std::to_string(e / L) +
           ", level " + std::to_string(e % L) + " is outside [0, " + std::to_string(k) + ")");
  parallel_for((n + 1023) / 1024, threads, cancel, [&](i64 b, int) {
    for (i64 i = b * 1024; i < std::min(n, (b + 1) * 1024); ++i) {
      float* o = out + i * d;
      std::fill(o, o + d, 0.0f);
      for (i64 l = 0; l < L; ++l) {
        const float* cv = cb.level(int(l)) + i64(codes[i * L + l]) * d;
        for (i64 e = 0; e < d; ++e) o[e] += cv[e];
      }
    }
  });
}

}  // namespace semid
