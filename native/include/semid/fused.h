// Fused transformer pieces over host float32 buffers, forward and backward, rows in parallel:
// RMS layer norm (T5LayerNorm) and gated activations (gelu_new(a)·b, relu(a)·b).
#pragma once
#include "semid/common.h"

namespace semid {

/** y[r] = x[r] * rstd[r] * w, rstd[r] = 1/sqrt(mean(x[r]^2) + eps); x, y [rows x d], w [d], rstd [rows]. */
void rmsnorm_forward(const float* x, const float* w, i64 rows, i64 d, float eps, float* y, float* rstd, int threads);

/**
 * Gradients of rmsnorm_forward: dx [rows x d], dw [d] (summed over rows in a fixed order, so
 * the result does not depend on the thread count).
 */
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, i64 rows, i64 d, float* dx, float* dw,
                      int threads);

enum class GateAct { kGeluNew = 0, kRelu = 1 };

/** out = act(a) * b, elementwise over n. */
void gated_forward(const float* a, const float* b, i64 n, GateAct act, float* out, int threads);

/** da = dy * b * act'(a), db = dy * act(a). */
void gated_backward(const float* dy, const float* a, const float* b, i64 n, GateAct act, float* da, float* db, int threads);

}  // namespace semid
