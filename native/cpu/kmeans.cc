// The k-means loop, written once for every backend: seeded initialisation, Lloyd iterations
// (assign, update), FAISS-style re-seeding of empty clusters by splitting a large one, and a
// tolerance on the relative decrease of the inertia.
#include "semid/kmeans.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "distance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "semid/parallel.h"
#include "semid/rng.h"

namespace semid {

namespace {

void validate_kmeans(i64 n, i64 d, const KMeansParams& p) {
  auto fail = [](const std::string& m) { throw Error("ERR_SEMID_INVALID_ARG", m); };
  if (d < 1) fail("kmeans: d must be >= 1, got " + std::to_string(d));
  if (p.k < 1 || p.k > 65536) fail("kmeans: k must be in [1, 65536], got " + std::to_string(p.k));
  if (n < p.k)
    fail("kmeans: k=" + std::to_string(p.k) + " exceeds the number of training rows " + std::to_string(n));
  if (p.max_iter < 0) fail("kmeans: max_iter must be >= 0");
  if (!(p.tol >= 0)) fail("kmeans: tol must be >= 0");
}

// Re-seed each empty cluster from a cluster chosen with probability proportional to
// (size - 1), as FAISS does: copy its centroid and push the two apart symmetrically.
int split_empty_clusters(std::vector<float>& c, std::vector<i64> counts, i64 d, Rng& rng) {
  const i64 k = static_cast<i64>(counts.size());
  constexpr float kEps = 1.0f / 1024.0f;
  int splits = 0;
  for (i64 ci = 0; ci < k; ++ci) {
    if (counts[ci] != 0) continue;
    double weight = 0;
    for (i64 j = 0; j < k; ++j) weight += double(std::max<i64>(counts[j] - 1, 0));
    if (weight <= 0) break;  // every cluster has at most one row: nothing to split
    double r = rng.uniform() * weight, acc = 0;
    i64 cj = 0;
    for (; cj < k; ++cj) {
      acc += double(std::max<i64>(counts[cj] - 1, 0));
      if (r < acc) break;
    }
    if (cj >= k) cj = std::max_element(counts.begin(), counts.end()) - counts.begin();
    float* dst = c.data() + ci * d;
    float* src = c.data() + cj * d;
    for (i64 j = 0; j < d; ++j) {
      const float v = src[j];
      dst[j] = j % 2 == 0 ? v * (1 + kEps) : v * (1 - kEps);
      src[j] = j % 2 == 0 ? v * (1 - kEps) : v * (1 + kEps);
    }
    counts[ci] = counts[cj] / 2;
    counts[cj] -= counts[ci];
    ++splits;
  }
  return splits;
}

}  // namespace

double KMeansBackend::residualize() {
  throw Error("ERR_SEMID_INTERNAL", "this k-means backend does not keep its rows (residualize)");
}
void KMeansBackend::reuse_data() {
  throw Error("ERR_SEMID_INTERNAL", "this k-means backend does not keep its rows (reuse_data)");
}
void KMeansBackend::fetch_rows(const i64*, i64, float*) const {
  throw Error("ERR_SEMID_INTERNAL", "this k-means backend does not keep its rows (fetch_rows)");
}

std::vector<float> kmeans_init(const float* x, i64 n, i64 d, const KMeansParams& p,
                               const CancelFlag& cancel) {
  return kmeans_init_rows(
      [&](const i64* rows, i64 count, float* out) {
        for (i64 t = 0; t < count; ++t) std::copy(x + rows[t] * d, x + rows[t] * d + d, out + t * d);
      },
      n, d, p, cancel);
}

std::vector<float> kmeans_init_rows(const RowFetch& fetch, i64 n, i64 d, const KMeansParams& p,
                                    const CancelFlag& cancel) {
  validate_kmeans(n, d, p);
  const i64 k = p.k;
  Rng rng(p.seed * 0x9e3779b97f4a7c15ull + 0x1234567ull);
  std::vector<float> c(k * d);
  if (p.init == KMeansInit::Random) {
    // k distinct rows by a partial Fisher-Yates shuffle.
    std::vector<i64> idx(n);
    for (i64 i = 0; i < n; ++i) idx[i] = i;
    for (i64 j = 0; j < k; ++j) {
      i64 r = j + static_cast<i64>(rng.below(n - j));
      std::swap(idx[j], idx[r]);
    }
    fetch(idx.data(), k, c.data());
    return c;
  }
  // k-means++ (D^2 sampling) on a seeded sample of m rows.
  i64 m = p.init_sample > 0 ? p.init_sample : std::max<i64>(4096, 16 * k);
  m = std::min(n, std::max(m, k));
  std::vector<i64> rows(n);
  for (i64 i = 0; i < n; ++i) rows[i] = i;
  for (i64 j = 0; j < m && m < n; ++j) std::swap(rows[j], rows[j + static_cast<i64>(rng.below(n - j))]);
  rows.resize(m);
  std::sort(rows.begin(), rows.end());
  std::vector<float> sample(m * d);
  fetch(rows.data(), m, sample.data());

  std::vector<double> mind(m, std::numeric_limits<double>::infinity());
  std::vector<char> chosen(m, 0);
  const i64 block = 256;
  const i64 blocks = (m + block - 1) / block;
  std::vector<double> block_sum(blocks);
  const cpu::SqDistFn dist2 = cpu::sq_dist_fn();
  i64 pick = static_cast<i64>(rng.below(m));
  for (i64 j = 0; j < k; ++j) {
    chosen[pick] = 1;
    const float* cj = sample.data() + pick * d;
    std::copy(cj, cj + d, c.data() + j * d);
    if (j + 1 == k) break;
    // Update each row's distance to its nearest chosen centre; block sums in a fixed order.
    parallel_for(blocks, p.threads, cancel, [&](i64 b, int) {
      double s = 0;
      for (i64 i = b * block; i < std::min(m, (b + 1) * block); ++i) {
        const double dist = dist2(sample.data() + i * d, cj, d);
        mind[i] = std::min(mind[i], dist);
        s += chosen[i] ? 0.0 : mind[i];
      }
      block_sum[b] = s;
    });
    double total = 0;
    for (double s : block_sum) total += s;
    if (total <= 0) {  // fewer distinct rows than k: take an unchosen row uniformly
      i64 r = static_cast<i64>(rng.below(m - j - 1)), i = 0;
      for (;; ++i) if (!chosen[i] && r-- == 0) break;
      pick = i;
      continue;
    }
    double r = rng.uniform() * total;
    i64 b = 0;
    for (; b + 1 < blocks && r >= block_sum[b]; ++b) r -= block_sum[b];
    pick = -1;
    for (i64 i = b * block; i < std::min(m, (b + 1) * block); ++i) {
      if (chosen[i]) continue;
      pick = i;
      if (r < mind[i]) break;
      r -= mind[i];
    }
    if (pick < 0) {
      for (i64 i = 0; i < m; ++i) if (!chosen[i]) { pick = i; break; }
    }
  }
  return c;
}

KMeansResult kmeans_train(KMeansBackend& backend, const float* x, i64 n, i64 d,
                          const KMeansParams& p, const CancelFlag& cancel,
                          const KMeansProgress& progress) {
  validate_kmeans(n, d, p);
  KMeansResult result;
  std::vector<float> fetched;  // all rows from the backend, when a presample needs them on the host
  const bool debug = std::getenv("SEMID_DEBUG_KMEANS") != nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  auto ms = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
  const i64 presample = p.presample < 0 ? (n >= 128 * p.k ? 64 * p.k : 0) : p.presample;
  const bool on_backend = x == nullptr;
  if (on_backend && presample >= p.k && presample < n) {
    // The coarse pass replaces the backend's rows with the sample: bring them to the host first.
    std::vector<i64> all(n);
    for (i64 i = 0; i < n; ++i) all[i] = i;
    fetched.resize(n * d);
    backend.fetch_rows(all.data(), n, fetched.data());
    x = fetched.data();
  }
  if (presample >= p.k && presample < n) {
    // Coarse pass on a seeded sample (rows kept in index order); its centroids start the run.
    Rng rng(p.seed ^ 0x2545f4914f6cdd1dull);
    std::vector<i64> rows(n);
    for (i64 i = 0; i < n; ++i) rows[i] = i;
    for (i64 j = 0; j < presample; ++j) std::swap(rows[j], rows[j + static_cast<i64>(rng.below(n - j))]);
    rows.resize(presample);
    std::sort(rows.begin(), rows.end());
    std::vector<float> sample(presample * d);
    for (i64 i = 0; i < presample; ++i) std::copy(x + rows[i] * d, x + rows[i] * d + d, sample.data() + i * d);
    KMeansParams sp = p;
    sp.presample = 0;
    result.centroids = kmeans_train(backend, sample.data(), presample, d, sp, cancel).centroids;
  } else if (x) {
    result.centroids = kmeans_init(x, n, d, p, cancel);
  } else {
    result.centroids = kmeans_init_rows(
        [&](const i64* rows, i64 count, float* out) { backend.fetch_rows(rows, count, out); }, n, d, p, cancel);
  }
  if (debug) std::fprintf(stderr, "kmeans: init %.1f ms\n", ms());
  if (x) backend.set_data(x, n, d);
  else backend.reuse_data();
  backend.set_centroids(result.centroids.data(), p.k);
  Rng split_rng(p.seed ^ 0x5bd1e995ull);
  double prev_inertia = std::numeric_limits<double>::infinity();
  for (int it = 0; it < p.max_iter; ++it) {
    cancel.check();
    KMeansIteration rec{};
    const double t_assign = ms();
    rec.changed = backend.assign();
    if (it > 0 && rec.changed == 0) break;  // converged: the centroids are the means already
    const double t_update = ms();
    rec.inertia = backend.update();
    if (debug) std::fprintf(stderr, "kmeans: assign %.1f ms, update %.1f ms\n", t_update - t_assign, ms() - t_update);
    const auto& counts = backend.counts();
    if (std::find(counts.begin(), counts.end(), 0) != counts.end()) {
      backend.get_centroids(result.centroids.data());
      rec.splits = split_empty_clusters(result.centroids, counts, d, split_rng);
      backend.move_centroids(result.centroids.data());
    }
    result.iterations.push_back(rec);
    if (debug) std::fprintf(stderr, "kmeans: iteration %d at %.1f ms, changed %lld\n", it, ms(), (long long)rec.changed);
    if (progress) progress(it, rec);
    const bool small_gain = p.tol > 0 && it > 0 && prev_inertia - rec.inertia <= p.tol * prev_inertia;
    prev_inertia = rec.inertia;
    if (small_gain && rec.splits == 0) break;
  }
  backend.get_centroids(result.centroids.data());
  return result;
}

}  // namespace semid
