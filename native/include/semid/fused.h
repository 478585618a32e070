// Fused transformer pieces over host float32 buffers, forward and backward, rows in parallel:
// RMS layer norm (T5LayerNorm), gated activations (gelu_new(a)·b, relu(a)·b) and dropout.
#pragma once
#include <cstdint>

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

/**
 * The dropout mask's hash: lowbias32 (C. Wellons) of the element index XOR the mask's key. An
 * element is kept when the hash's top 24 bits are >= dropout_threshold(rate), so a mask depends
 * only on (key, index): the same for any thread count, and reproducible in JavaScript with
 * Math.imul (src/model/runtime/fused-ops.ts).
 */
inline std::uint32_t dropout_hash(std::uint32_t index, std::uint32_t key) {
  std::uint32_t h = index ^ key;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

/** The 24-bit threshold of a drop rate in [0, 1): round(rate · 2^24). */
inline std::uint32_t dropout_threshold(double rate) { return static_cast<std::uint32_t>(rate * 16777216.0 + 0.5); }

/**
 * Inverted dropout: y[i] = x[i] · (1 / (1 - rate)) where (dropout_hash(i, key) >> 8) >= threshold,
 * else x[i] · 0, for i < n < 2^32. Its gradient is the same call on dy with the same key.
 */
void dropout_apply(const float* x, i64 n, double rate, std::uint32_t key, float* y, int threads);

/**
 * Softmax cross-entropy of logits [n x v] against labels [n] (a label of -1 is ignored):
 * lse[i] = log(sum_j exp(logits[i, j])) for every row, and the return value is the sum over the
 * kept rows of lse[i] - logits[i, labels[i]], added in row order (the same for any thread count).
 * Labels must be -1 or in [0, v).
 */
double cross_entropy_forward(const float* logits, i64 n, i64 v, const std::int32_t* labels, float* lse, int threads);

/**
 * Its gradient: dlogits[i, j] = scale · (exp(logits[i, j] - lse[i]) - [j == labels[i]]) for kept
 * rows, 0 for ignored ones (scale: the upstream gradient over the kept-row count).
 */
void cross_entropy_backward(const float* logits, const float* lse, const std::int32_t* labels, i64 n, i64 v, float scale,
                            float* dlogits, int threads);

/**
 * out[s, j] = sum over rows i with ids[i] = s of x[i, j] (rows in order, so the same bits for any
 * thread count); x [rows x inner], out [segments x inner], ids outside [0, segments) skipped.
 * Threads split the columns. The gradient of a gather (an embedding lookup).
 */
void segment_sum(const float* x, const std::int32_t* ids, i64 rows, i64 inner, i64 segments, float* out, int threads);

}  // namespace semid
