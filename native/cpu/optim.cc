// AdamW update and sum of squares over host float32 buffers.
#include <cmath>
#include <vector>

#include "semid/optim.h"
#include "semid/parallel.h"

#include "semid/clones.h"

namespace semid {
namespace {
constexpr i64 kBlock = 1 << 15;

SEMID_CLONES void adamw_block(const AdamWArgs& a, i64 begin, i64 end) {
  const float s = a.grad_scale, b1 = a.beta1, b2 = a.beta2, c1 = 1.0f - a.beta1, c2 = 1.0f - a.beta2;
  const float decay = a.decay_factor, step = a.step_size, ib = a.inv_sqrt_bc2, eps = a.eps;
  float* __restrict p = a.p;
  const float* __restrict g = a.g;
  float* __restrict m = a.m;
  float* __restrict v = a.v;
  for (i64 i = begin; i < end; ++i) {
    const float gi = g[i] * s;
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - (step * mi) / (std::sqrt(vi) * ib + eps);
  }
}

SEMID_CLONES double sum_squares_block(const float* __restrict x, i64 begin, i64 end) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  i64 i = begin;
  for (; i + 8 <= end; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
  double s = 0;
  for (; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
  return s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
}  // namespace

void adamw_cpu(const AdamWArgs& a, int threads) {
  const i64 blocks = (a.n + kBlock - 1) / kBlock;
  CancelFlag never;
  parallel_for(blocks, resolve_threads(threads, blocks), never,
               [&](i64 b, int) { adamw_block(a, b * kBlock, std::min(a.n, (b + 1) * kBlock)); });
}

double sum_squares_cpu(const float* x, i64 n, int threads) {
  const i64 blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks), 0.0);
  CancelFlag never;
  parallel_for(blocks, resolve_threads(threads, blocks), never,
               [&](i64 b, int) { partial[b] = sum_squares_block(x, b * kBlock, std::min(n, (b + 1) * kBlock)); });
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

}  // namespace semid
