// Internal to native/cpu: squared Euclidean distance of two float vectors, SIMD-dispatched.
// Computed as sum((a - b)^2) (no cancellation), float accumulation in fixed lanes: the same
// inputs give the same result whatever thread computes it.
#pragma once
#include "semid/common.h"

namespace semid::cpu {

using SqDistFn = float (*)(const float* a, const float* b, i64 d);

/** The implementation for active_simd(). */
SqDistFn sq_dist_fn();

float sq_dist_scalar(const float* a, const float* b, i64 d);
float sq_dist_avx2(const float* a, const float* b, i64 d);

}  // namespace semid::cpu
