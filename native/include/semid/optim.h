// Optimizer steps over float32 parameter buffers (host memory; tfjs wasm heap views included).
#pragma once
#include "semid/common.h"

namespace semid {

struct AdamWArgs {
  i64 n = 0;
  float* p = nullptr;        // [n] parameters, updated in place
  const float* g = nullptr;  // [n] gradients
  float* m = nullptr;        // [n] first moments, updated in place
  float* v = nullptr;        // [n] second moments, updated in place
  float grad_scale = 1.0f;   // gradients are multiplied by this first (clipping)
  float beta1 = 0.9f, beta2 = 0.999f;
  float decay_factor = 1.0f;     // 1 - lr * weight_decay (decoupled decay)
  float step_size = 0.0f;        // lr / (1 - beta1^t)
  float inv_sqrt_bc2 = 1.0f;     // 1 / sqrt(1 - beta2^t)
  float eps = 1e-8f;
};

/**
 * torch.optim.AdamW's update, in float32:
 *   g' = g*scale; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 *   p = p*decay - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
 * Elementwise, so results do not depend on the thread count.
 */
void adamw_cpu(const AdamWArgs& a, int threads);

/** Sum of squares of x[0, n) in double (blocks summed in a fixed order: thread-count independent). */
double sum_squares_cpu(const float* x, i64 n, int threads);

}  // namespace semid
