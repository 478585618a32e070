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
 * Squared distance of two float vectors (b == nullptr: the squared norm of a) in double, for exact
 * tie-breaking: differences and products in double, 16 fixed lanes (fused multiply-adds), the
 * lanes summed in a fixed order; every implementation gives the same bits.
 */
using SqDistF64Fn = double (*)(const float* a, const float* b, i64 d);
SqDistF64Fn sq_dist_f64_fn();
double sq_dist_f64_scalar(const float* a, const float* b, i64 d);
double sq_dist_f64_avx2(const float* a, const float* b, i64 d);

/**
 * One Elkan row scan over k centroids: lb[j] = S[j] * keep - drift[j] (keep, just below 1, takes
 * the float rounding of S and of the accumulated drift off the bound); centroid j is a candidate
 * when u > max(lb[j], hc[j]). Returns the number of candidates, writes their indices in increasing
 * order to idx[0, count) (idx holds k), and writes to *others the minimum over the non-candidates
 * of max(lb[j], 2 hc[j] - u) (a lower bound on their distances). Same bits in every implementation.
 */
using ElkanScanFn = i64 (*)(const float* S, const float* drift, const float* hc, float keep, float u, i64 k,
                            float* others, std::int32_t* idx);
ElkanScanFn elkan_scan_fn();
i64 elkan_scan_scalar(const float* S, const float* drift, const float* hc, float keep, float u, i64 k, float* others,
                      std::int32_t* idx);
i64 elkan_scan_avx2(const float* S, const float* drift, const float* hc, float keep, float u, i64 k, float* others,
                    std::int32_t* idx);

/** The nearest centroid of one row: its index (first on ties), squared distance, and the second smallest. */
struct NearestTwo {
  std::int32_t best_j;
  float best, second;  // second: the minimum over the other indices (may equal best)
};

/**
 * One row of an Elkan dense pass, from its dot products with the k centroids: the squared
 * distances d_j = max((xn + cnorm[j]) - 2 dots[j], 0), the pair bounds S[j] =
 * sqrt(max(0, d_j - margin)) + drift[j], and the nearest two. Same float operations in every
 * implementation: the same bits.
 */
using DenseRowFn = NearestTwo (*)(const float* dots, const float* cnorm, const float* drift, float xn, float margin,
                                  i64 k, float* S);
DenseRowFn dense_row_fn();
NearestTwo dense_row_scalar(const float* dots, const float* cnorm, const float* drift, float xn, float margin, i64 k, float* S);
NearestTwo dense_row_avx2(const float* dots, const float* cnorm, const float* drift, float xn, float margin, i64 k, float* S);

}  // namespace semid::cpu
