// Internal to native/cpu: the log-sum-exp of a float row, SIMD-dispatched, for log-softmax.
#pragma once
#include "semid/common.h"

namespace semid::cpu {

/**
 * log(sum(exp(x))) of a row of n floats, computed as max + log(sum(exp(x - max))).
 * A row of only -inf gives -inf. The caller screens NaN and +inf (row_has_nan_or_posinf).
 */
using LogSumExpFn = double (*)(const float* x, i64 n);
LogSumExpFn logsumexp_fn();

double logsumexp_scalar(const float* x, i64 n);
double logsumexp_avx2(const float* x, i64 n);

/** True when the row holds a NaN or +inf (which log-softmax cannot take). */
bool row_has_nan_or_posinf(const float* x, i64 n);

}  // namespace semid::cpu
