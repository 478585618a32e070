// Internal to native/cpu: the log-sum-exp of a float row, SIMD-dispatched, for log-softmax.
#pragma once
#include <cstdint>

#include "semid/common.h"

namespace semid::cpu {

/**
 * log(sum(exp(x))) of a row of n floats, computed as max + log(sum(exp(x - max))).
 * A row of only -inf gives -inf; a row holding NaN or +inf gives NaN (the caller reports it).
 * The row's maximum goes to *row_max (when not null; unspecified when the result is NaN).
 */
using LogSumExpFn = double (*)(const float* x, i64 n, float* row_max);
LogSumExpFn logsumexp_fn();

double logsumexp_scalar(const float* x, i64 n, float* row_max = nullptr);
double logsumexp_avx2(const float* x, i64 n, float* row_max = nullptr);

/** True when the row holds a NaN or +inf (which log-softmax cannot take). */
bool row_has_nan_or_posinf(const float* x, i64 n);

/**
 * Beam-step candidate bounds of one beam: bound[i] = (row[tok[i]] - shift) + base (float
 * operations) for i < count, eight at a time with a gather on AVX2. Returns false, reading
 * nothing, when a token lies outside [0, vocab).
 */
using BoundsFn = bool (*)(const float* row, i64 vocab, const std::int32_t* tok, i64 count, float shift, float base, float* bound);
BoundsFn bounds_fn();
bool bounds_scalar(const float* row, i64 vocab, const std::int32_t* tok, i64 count, float shift, float base, float* bound);
bool bounds_avx2(const float* row, i64 vocab, const std::int32_t* tok, i64 count, float shift, float base, float* bound);

}  // namespace semid::cpu
