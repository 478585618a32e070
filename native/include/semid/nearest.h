// Fused nearest-centroid search: for each row of x (n x d) the `topk` nearest rows of
// centroids (k x d) by squared Euclidean distance, ascending, ties broken by the lower index.
// Distances are computed as |x|^2 - 2 x.c + |c|^2 tile by tile and clamped at 0; the n x k
// distance matrix is never held in memory. That expanded form rounds (in float) by up to
// nearest_rounding_bound, which can misorder near neighbours of data far from the origin;
// nearest_exact settles those rows exactly.
#pragma once
#include <cstdint>
#include <functional>

#include "semid/common.h"

namespace semid {

struct NearestArgs {
  i64 n = 0, d = 0, k = 0, topk = 1;
  const float* x = nullptr;          // [n x d]
  const float* centroids = nullptr;  // [k x d]
  std::int32_t* indices = nullptr;   // out [n x topk]
  float* distances = nullptr;        // out [n x topk], squared L2
  /** Optional precomputed squared norms of the rows of x [n] (used by nearest_cuda_device). */
  const float* x_norms = nullptr;
};

/** Throws semid::Error when sizes are out of range (validate_nearest also checks pointers). */
void validate_nearest_shape(const NearestArgs& args);
void validate_nearest(const NearestArgs& args);

/** CPU backend: GEMM micro-kernel tiles + per-row top-k merge, threads over row blocks. */
void nearest_cpu(const NearestArgs& args, int threads, const CancelFlag& cancel);

/** Brute-force oracle: direct (x - c)^2 sums in double, full sort. */
void nearest_reference(const NearestArgs& args);

/** An expanded-form search (nearest_cpu, nearest_cuda) with its threads and cancel flag bound. */
using NearestSearch = std::function<void(const NearestArgs&)>;

/** Candidates beyond topk that nearest_exact asks the expanded-form search for. */
constexpr i64 kNearestExtraCandidates = 3;

/**
 * Upper bound on |expanded - exact| for one squared distance of d-vectors with squared norms
 * x_norm and c_norm, for either backend's expanded form.
 */
double nearest_rounding_bound(i64 d, double x_norm, double c_norm);

/**
 * Exact nearest search: `search` finds topk + kNearestExtraCandidates candidates by the expanded
 * form; rows whose ranking is closer than its rounding bound (nearest_rounding_bound) are re-ranked
 * by direct (x - c)^2 sums in double, in full when the candidates cannot rule out the rest. The
 * result equals nearest_reference's (ties to the lower index) except that distances of rows
 * that needed no re-ranking are the expanded ones (within the bound).
 */
void nearest_exact(const NearestArgs& args, const NearestSearch& search, int threads, const CancelFlag& cancel);

/** nearest_exact over nearest_cuda (cuda = true) or nearest_cpu with `threads`. */
void nearest_exact_on(bool cuda, const NearestArgs& args, int threads, const CancelFlag& cancel);

}  // namespace semid
