// Fused nearest-centroid search: for each row of x (n x d) the `topk` nearest rows of
// centroids (k x d) by squared Euclidean distance, ascending, ties broken by the lower index.
// Distances are computed as |x|^2 - 2 x.c + |c|^2 tile by tile and clamped at 0; the n x k
// distance matrix is never held in memory.
#pragma once
#include <cstdint>

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

}  // namespace semid
