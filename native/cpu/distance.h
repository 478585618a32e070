// Internal to native/cpu: squared Euclidean distance of two float vectors, SIMD-dispatched.
// Computed as sum((a - b)^2) (no cancellation), float accumulation in fixed lanes: the same
// inputs give the same result whatever thread computes it.
#pragma once
#include <cstdint>
#include "semid/common.h"

namespace semid::cpu {

using SqDistFn = float (*)(const float* a, const float* b, i64 d);

/** The implementation for active_simd(). */
SqDistFn sq_dist_fn();

float sq_dist_scalar(const float* a, const float* b, i64 d);
float sq_dist_avx2(const float* a, const float* b, i64 d);

/**
 * One Elkan row scan over k centroids: lb[j] = S[j] - drift[j]; centroid j is a candidate when
 * u > max(lb[j], hc[j]). Returns the number of candidates, writes their indices in increasing
 * order to idx[0, count) (idx holds k), and writes to *others the minimum over the non-candidates
 * of max(lb[j], 2 hc[j] - u) (a lower bound on their distances).
 */
using ElkanScanFn = i64 (*)(const float* S, const float* drift, const float* hc, float u, i64 k, float* others,
                            std::int32_t* idx);
ElkanScanFn elkan_scan_fn();
i64 elkan_scan_scalar(const float* S, const float* drift, const float* hc, float u, i64 k, float* others, std::int32_t* idx);
i64 elkan_scan_avx2(const float* S, const float* drift, const float* hc, float u, i64 k, float* others, std::int32_t* idx);

}  // namespace semid::cpu
