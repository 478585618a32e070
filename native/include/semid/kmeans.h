// k-means, written once over a backend that supplies the two hot steps: assignment (nearest
// centroid of every row) and update (centroids := means of their rows). The CPU backend prunes
// distance computations with Hamerly's bounds; the CUDA backend keeps the data on the device.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "semid/common.h"

namespace semid {

enum class KMeansInit { KMeansPlusPlus = 0, Random = 1 };

struct KMeansParams {
  i64 k = 256;
  int max_iter = 20;
  /** Stop when the relative decrease of the inertia falls below tol (0: run max_iter). */
  double tol = 1e-4;
  std::uint64_t seed = 0;
  KMeansInit init = KMeansInit::KMeansPlusPlus;
  /** Rows used by k-means++ (a seeded sample; 0 = min(n, max(4096, 16 k))). */
  i64 init_sample = 0;
  /** Coarse-to-fine: first run k-means on a seeded sample of this many rows and start the
   * iterations on all rows from its centroids (far fewer full passes before the assignments
   * settle; on noisy data it can also settle in a worse optimum). -1 = auto (64 k rows when
   * n >= 128 k), 0 = off (the default). */
  i64 presample = 0;
  int threads = 0;
};

/** One iteration's record. */
struct KMeansIteration {
  double inertia;  // sum of squared distances of rows to their centroid (before the update)
  i64 changed;     // rows whose assignment changed
  int splits;      // empty clusters re-seeded after the update
};

struct KMeansResult {
  std::vector<float> centroids;  // k x d
  std::vector<KMeansIteration> iterations;
};

/** The hot steps. Implementations: make_cpu_kmeans_backend, make_cuda_kmeans_backend. */
class KMeansBackend {
 public:
  virtual ~KMeansBackend() = default;
  /** The rows to cluster, n x d (host memory that stays valid while the backend is used). */
  virtual void set_data(const float* x, i64 n, i64 d) = 0;
  /** Replace the centroids (k x d, host) and forget any state that depended on them moving. */
  virtual void set_centroids(const float* centroids, i64 k) = 0;
  virtual void get_centroids(float* centroids) const = 0;
  /** Assign every row to its nearest centroid; returns how many rows changed cluster
   * (n on the first call). Ties go to the lower index. */
  virtual i64 assign() = 0;
  /** Move each non-empty cluster's centroid to the mean of its rows; returns the inertia of the
   * current assignment against the centroids before the move. Deterministic for any threads. */
  virtual double update() = 0;
  /** Rows per cluster for the current assignment (k). */
  virtual const std::vector<i64>& counts() const = 0;
  /** Current assignment (n), on the host. */
  virtual const std::int32_t* assignment() = 0;
  /** Move some centroids arbitrarily (after splits): like set_centroids but keeps pruning
   * state valid by accounting for the movement. */
  virtual void move_centroids(const float* centroids) = 0;

  // Data kept on the backend between levels (residual quantization on a device). A backend
  // that keeps its own copy of the rows (keeps_data) can turn them into residuals in place, so
  // the next level trains on them without a round trip through the host.
  /** True when set_data copies the rows into the backend's own memory. */
  virtual bool keeps_data() const { return false; }
  /** Rows := rows - their assigned centroid (the current assignment and centroids); returns the
   * sum of the residuals' squared norms. Only where keeps_data(). */
  virtual double residualize();
  /** Start over on the backend's current rows, as set_data would on a copy of them. */
  virtual void reuse_data();
  /** out [count x d] = the current rows rows[0 .. count) (any order, repeats allowed). */
  virtual void fetch_rows(const i64* rows, i64 count, float* out) const;
};

std::unique_ptr<KMeansBackend> make_cpu_kmeans_backend(int threads, const CancelFlag& cancel);
/** Throws ERR_SEMID_NO_CUDA in builds without CUDA. */
std::unique_ptr<KMeansBackend> make_cuda_kmeans_backend(const CancelFlag& cancel);

using KMeansProgress = std::function<void(int iteration, const KMeansIteration& record)>;

/**
 * Train k-means on x (n x d) with the given backend. Validates k <= n. The result does not
 * depend on the thread count. x == nullptr trains on the backend's current rows (after
 * residualize; the backend must keep its data, keeps_data()): initial rows are fetched from it.
 */
KMeansResult kmeans_train(KMeansBackend& backend, const float* x, i64 n, i64 d,
                          const KMeansParams& params, const CancelFlag& cancel,
                          const KMeansProgress& progress = nullptr);

/** Initial centroids (k x d) by seeded k-means++ or random distinct rows. */
std::vector<float> kmeans_init(const float* x, i64 n, i64 d, const KMeansParams& params,
                               const CancelFlag& cancel);

/** Copies rows[0 .. count) of n x d data into out [count x d]. */
using RowFetch = std::function<void(const i64* rows, i64 count, float* out)>;

/** kmeans_init over rows fetched on demand (k rows for random init, the k-means++ sample). */
std::vector<float> kmeans_init_rows(const RowFetch& fetch, i64 n, i64 d, const KMeansParams& params,
                                    const CancelFlag& cancel);

}  // namespace semid
