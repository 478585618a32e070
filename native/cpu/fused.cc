// RMS norm and gated activations, forward and backward (see semid/fused.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "semid/fused.h"
#include "semid/parallel.h"
#include "semid/cpu_features.h"
#include "gemm_kernel.h"
#include "logsumexp.h"
#include "simd_exp.h"

#include "semid/clones.h"

namespace semid {
namespace {
constexpr i64 kElemBlock = 1 << 14;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCoef = 0.044715f;

bool use_avx2() { return cpu::avx2_active(); }
#if defined(__x86_64__) || defined(__i386__)
void gelu_fwd_avx2(const float* a, const float* b, i64 i0, i64 i1, float* out);
void gelu_bwd_avx2(const float* dy, const float* a, const float* b, i64 i0, i64 i1, float* da, float* db);
#endif

i64 row_block(i64 d) { return std::max<i64>(1, (1 << 14) / std::max<i64>(1, d)); }

SEMID_CLONES void rms_fwd_rows(const float* __restrict x, const float* __restrict w, i64 r0, i64 r1, i64 d, float eps, float* __restrict y,
                               float* __restrict rstd) {
  for (i64 r = r0; r < r1; ++r) {
    const float* xr = x + r * d;
    float ss = 0.0f;
    for (i64 j = 0; j < d; ++j) ss += xr[j] * xr[j];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
    rstd[r] = inv;
    float* yr = y + r * d;
    for (i64 j = 0; j < d; ++j) yr[j] = (xr[j] * inv) * w[j];
  }
}

SEMID_CLONES void rms_bwd_rows(const float* __restrict dy, const float* __restrict x, const float* __restrict w, const float* __restrict rstd,
                               i64 r0, i64 r1, i64 d, float* __restrict dx, float* __restrict dw_part) {
  for (i64 r = r0; r < r1; ++r) {
    const float* xr = x + r * d;
    const float* gr = dy + r * d;
    const float inv = rstd[r];
    float dot = 0.0f;  // sum_j (dy_j w_j) * xhat_j
    for (i64 j = 0; j < d; ++j) {
      const float xhat = xr[j] * inv;
      dot += gr[j] * w[j] * xhat;
      dw_part[j] += gr[j] * xhat;
    }
    const float mean_dot = dot / static_cast<float>(d);
    float* dxr = dx + r * d;
    for (i64 j = 0; j < d; ++j) dxr[j] = inv * (gr[j] * w[j] - xr[j] * inv * mean_dot);
  }
}

inline float gelu_tanh(float v) { return std::tanh(kSqrt2OverPi * (v + kGeluCoef * v * v * v)); }

SEMID_CLONES void gated_fwd_block(const float* __restrict a, const float* __restrict b, i64 i0, i64 i1, GateAct act, float* __restrict out) {
  if (act == GateAct::kRelu) {
    for (i64 i = i0; i < i1; ++i) out[i] = (a[i] > 0.0f ? a[i] : 0.0f) * b[i];
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) return gelu_fwd_avx2(a, b, i0, i1, out);
#endif
  for (i64 i = i0; i < i1; ++i) {
    const float v = a[i];
    out[i] = 0.5f * v * (1.0f + gelu_tanh(v)) * b[i];
  }
}

SEMID_CLONES void gated_bwd_block(const float* __restrict dy, const float* __restrict a, const float* __restrict b, i64 i0, i64 i1, GateAct act,
                                  float* __restrict da, float* __restrict db) {
  if (act == GateAct::kRelu) {
    for (i64 i = i0; i < i1; ++i) {
      const float on = a[i] > 0.0f ? 1.0f : 0.0f;
      da[i] = on * dy[i] * b[i];
      db[i] = on * dy[i] * a[i];
    }
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) return gelu_bwd_avx2(dy, a, b, i0, i1, da, db);
#endif
  for (i64 i = i0; i < i1; ++i) {
    const float v = a[i];
    const float t = gelu_tanh(v);
    const float g = 0.5f * v * (1.0f + t);
    const float dz = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * v * v);
    const float dg = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dz;
    da[i] = dy[i] * b[i] * dg;
    db[i] = dy[i] * g;
  }
}
#if defined(__x86_64__) || defined(__i386__)
// tanh(z) for 8 lanes: sign(z) * (1 - e) / (1 + e), e = exp(-2|z|) (no overflow, exact at 0).
__attribute__((target("avx2,fma"))) inline __m256 tanh256(__m256 z) {
  const __m256 sign = _mm256_and_ps(z, _mm256_set1_ps(-0.0f));
  const __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  const __m256 e = cpu::exp256(_mm256_mul_ps(az, _mm256_set1_ps(-2.0f)));
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_or_ps(sign, _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e)));
}

__attribute__((target("avx2,fma"))) inline __m256 gelu_tanh256(__m256 v) {
  const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
  const __m256 z = _mm256_mul_ps(_mm256_set1_ps(kSqrt2OverPi), _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(kGeluCoef), v3)));
  return tanh256(z);
}

__attribute__((target("avx2,fma"))) void gelu_fwd_avx2(const float* a, const float* b, i64 i0, i64 i1, float* out) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  i64 i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 v = _mm256_loadu_ps(a + i);
    const __m256 g = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, gelu_tanh256(v)));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(g, _mm256_loadu_ps(b + i)));
  }
  for (; i < i1; ++i) out[i] = 0.5f * a[i] * (1.0f + gelu_tanh(a[i])) * b[i];
}

__attribute__((target("avx2,fma"))) void gelu_bwd_avx2(const float* dy, const float* a, const float* b, i64 i0, i64 i1, float* da, float* db) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 c = _mm256_set1_ps(kSqrt2OverPi), c3 = _mm256_set1_ps(3.0f * kGeluCoef);
  i64 i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 v = _mm256_loadu_ps(a + i);
    const __m256 t = gelu_tanh256(v);
    const __m256 g = _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t));
    const __m256 dz = _mm256_mul_ps(c, _mm256_add_ps(one, _mm256_mul_ps(c3, _mm256_mul_ps(v, v))));
    const __m256 dg = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(one, t)),
                                    _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_sub_ps(one, _mm256_mul_ps(t, t))), dz));
    const __m256 d = _mm256_loadu_ps(dy + i);
    _mm256_storeu_ps(da + i, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(b + i)), dg));
    _mm256_storeu_ps(db + i, _mm256_mul_ps(d, g));
  }
  for (; i < i1; ++i) {
    const float v = a[i];
    const float t = gelu_tanh(v);
    const float dz = kSqrt2OverPi * (1.0f + 3.0f * kGeluCoef * v * v);
    da[i] = dy[i] * b[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dz);
    db[i] = dy[i] * 0.5f * v * (1.0f + t);
  }
}
#endif

}  // namespace

void rmsnorm_forward(const float* x, const float* w, i64 rows, i64 d, float eps, float* y, float* rstd, int threads) {
  const i64 rb = row_block(d);
  const i64 tasks = (rows + rb - 1) / rb;
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never,
               [&](i64 t, int) { rms_fwd_rows(x, w, t * rb, std::min(rows, (t + 1) * rb), d, eps, y, rstd); });
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, i64 rows, i64 d, float* dx, float* dw,
                      int threads) {
  const i64 rb = row_block(d);
  const i64 tasks = (rows + rb - 1) / rb;
  // one partial dw per task, summed in task order: independent of the thread count
  std::vector<float> parts(static_cast<std::size_t>(tasks * d), 0.0f);
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never, [&](i64 t, int) {
    rms_bwd_rows(dy, x, w, rstd, t * rb, std::min(rows, (t + 1) * rb), d, dx, parts.data() + t * d);
  });
  std::fill(dw, dw + d, 0.0f);
  for (i64 t = 0; t < tasks; ++t)
    for (i64 j = 0; j < d; ++j) dw[j] += parts[static_cast<std::size_t>(t * d + j)];
}

void gated_forward(const float* a, const float* b, i64 n, GateAct act, float* out, int threads) {
  const i64 tasks = (n + kElemBlock - 1) / kElemBlock;
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never,
               [&](i64 t, int) { gated_fwd_block(a, b, t * kElemBlock, std::min(n, (t + 1) * kElemBlock), act, out); });
}

void gated_backward(const float* dy, const float* a, const float* b, i64 n, GateAct act, float* da, float* db, int threads) {
  const i64 tasks = (n + kElemBlock - 1) / kElemBlock;
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never,
               [&](i64 t, int) { gated_bwd_block(dy, a, b, t * kElemBlock, std::min(n, (t + 1) * kElemBlock), act, da, db); });
}

namespace {
// 32-bit lanes throughout, so that the clones vectorise the hash (8 lanes with AVX2)
SEMID_CLONES void dropout_block(const float* __restrict x, std::uint32_t i0, std::uint32_t count, std::uint32_t key,
                                std::uint32_t threshold, float scale, float* __restrict y) {
  for (std::uint32_t j = 0; j < count; ++j) {
    const bool keep = (dropout_hash(i0 + j, key) >> 8) >= threshold;
    y[j] = x[j] * (keep ? scale : 0.0f);  // as x times the mask: -0 and NaN as tf.mul gives them
  }
}
}  // namespace

void dropout_apply(const float* x, i64 n, double rate, std::uint32_t key, float* y, int threads) {
  const std::uint32_t threshold = dropout_threshold(rate);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));  // as Math.fround(1 / (1 - rate))
  const i64 tasks = (n + kElemBlock - 1) / kElemBlock;
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never, [&](i64 t, int) {
    const i64 i0 = t * kElemBlock, i1 = std::min(n, i0 + kElemBlock);
    dropout_block(x + i0, static_cast<std::uint32_t>(i0), static_cast<std::uint32_t>(i1 - i0), key, threshold, scale, y + i0);
  });
}

namespace {
constexpr i64 kCrossEntropyRows = 16;  // rows a task

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void softmax_minus_avx2(const float* x, i64 v, float shift, float scale, float* out) {
  const __m256 s = _mm256_set1_ps(shift), k = _mm256_set1_ps(scale);
  i64 j = 0;
  for (; j + 8 <= v; j += 8) _mm256_storeu_ps(out + j, _mm256_mul_ps(k, cpu::exp256(_mm256_sub_ps(_mm256_loadu_ps(x + j), s))));
  for (; j < v; ++j) out[j] = scale * std::exp(x[j] - shift);
}
#endif

/** out[j] = scale · exp(x[j] - shift) over a row. */
void softmax_scaled(const float* x, i64 v, float shift, float scale, float* out) {
#if defined(__x86_64__) || defined(__i386__)
  if (use_avx2()) return softmax_minus_avx2(x, v, shift, scale, out);
#endif
  for (i64 j = 0; j < v; ++j) out[j] = scale * std::exp(x[j] - shift);
}
}  // namespace

double cross_entropy_forward(const float* logits, i64 n, i64 v, const std::int32_t* labels, float* lse, int threads) {
  const cpu::LogSumExpFn fn = cpu::logsumexp_fn();
  std::vector<double> per_row(static_cast<std::size_t>(n), 0.0);
  const i64 tasks = (n + kCrossEntropyRows - 1) / kCrossEntropyRows;
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never, [&](i64 t, int) {
    for (i64 i = t * kCrossEntropyRows; i < std::min(n, (t + 1) * kCrossEntropyRows); ++i) {
      const float* row = logits + i * v;
      const double l = fn(row, v, nullptr);
      lse[i] = static_cast<float>(l);
      if (labels[i] >= 0) per_row[static_cast<std::size_t>(i)] = l - double(row[labels[i]]);
    }
  });
  double sum = 0.0;
  for (double x : per_row) sum += x;
  return sum;
}

void cross_entropy_backward(const float* logits, const float* lse, const std::int32_t* labels, i64 n, i64 v, float scale,
                            float* dlogits, int threads) {
  const i64 tasks = (n + kCrossEntropyRows - 1) / kCrossEntropyRows;
  CancelFlag never;
  parallel_for(tasks, resolve_threads(threads, tasks), never, [&](i64 t, int) {
    for (i64 i = t * kCrossEntropyRows; i < std::min(n, (t + 1) * kCrossEntropyRows); ++i) {
      float* out = dlogits + i * v;
      if (labels[i] < 0) {
        std::fill(out, out + v, 0.0f);
        continue;
      }
      softmax_scaled(logits + i * v, v, lse[i], scale, out);
      out[labels[i]] -= scale;
    }
  });
}

void segment_sum(const float* x, const std::int32_t* ids, i64 rows, i64 inner, i64 segments, float* out, int threads) {
  CancelFlag never;
  const i64 fill_tasks = std::max<i64>(1, (segments * inner + kElemBlock * 16 - 1) / (kElemBlock * 16));
  parallel_for(fill_tasks, resolve_threads(threads, fill_tasks), never, [&](i64 t, int) {
    const i64 total = segments * inner, chunk = (total + fill_tasks - 1) / fill_tasks;
    const i64 a = std::min(total, t * chunk), b = std::min(total, a + chunk);
    std::fill(out + a, out + b, 0.0f);
  });
  // columns split across threads (at least 64 a task): every element sums its rows in order
  const i64 col_tasks = std::max<i64>(1, std::min<i64>(inner / 64, resolve_threads(threads, 1 << 20)));
  parallel_for(col_tasks, resolve_threads(threads, col_tasks), never, [&](i64 t, int) {
    const i64 c0 = inner * t / col_tasks, c1 = inner * (t + 1) / col_tasks;
    for (i64 r = 0; r < rows; ++r) {
      const i64 s = ids[r];
      if (s < 0 || s >= segments) continue;
      const float* src = x + r * inner;
      float* dst = out + s * inner;
      for (i64 j = c0; j < c1; ++j) dst[j] += src[j];
    }
  });
}

}  // namespace semid
