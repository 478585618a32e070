// Fused multi-head attention core, forward and backward (see semid/attention.h). Threads take
// (batch, head) pairs; each pair's products are small (lq x lk x dk, e.g. 32 x 32 x 32), so they
// run in AVX2 register tiles of 6 x 16 (small_gemm), with k and v transposed once per pair in
// 8 x 8 blocks and the transposed operands of the backward pass read through their strides.
#include "semid/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "gemm_kernel.h"
#include "semid/clones.h"
#include "semid/cpu_features.h"
#include "semid/fused.h"
#include "semid/parallel.h"
#include "simd_exp.h"

namespace semid {
namespace {

bool use_avx2() { return cpu::avx2_active(); }

i64 pad8(i64 n) { return (n + 7) / 8 * 8; }

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) inline float hsum256(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/**
 * p = softmax(s) over a row of n scores: max, exp(s - max) (exp_bounded256: a NaN score gives a
 * NaN row, as tfjs's softmax does), sum in 8 lanes, one scale.
 */
__attribute__((target("avx2,fma"))) void softmax_row_avx2(const float* s, i64 n, float* p) {
  i64 j = 0;
  float m = s[0];
  if (n >= 8) {
    __m256 mv = _mm256_loadu_ps(s);
    for (j = 8; j + 8 <= n; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + j));
    m = cpu::horizontal_max(mv);
  }
  for (; j < n; ++j) m = std::max(m, s[j]);
  const __m256 mb = _mm256_set1_ps(m);
  __m256 sv = _mm256_setzero_ps();
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256 e = cpu::exp_bounded256(_mm256_sub_ps(_mm256_loadu_ps(s + j), mb));
    _mm256_storeu_ps(p + j, e);
    sv = _mm256_add_ps(sv, e);
  }
  float sum = hsum256(sv);
  for (; j < n; ++j) { p[j] = std::exp(s[j] - m); sum += p[j]; }
  const float inv = 1.0f / sum;
  const __m256 iv = _mm256_set1_ps(inv);
  for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), iv));
  for (; j < n; ++j) p[j] *= inv;
}

/**
 * An R x 8·NV tile of C = A·B: A's element (r, p) at a[r·ars + p·aps] (so A may be a transpose),
 * B rows at stride ldb with 8·NV readable floats a row.
 */
template <int R, int NV>
__attribute__((target("avx2,fma"), always_inline)) inline void tile_avx2(i64 k, const float* a, i64 ars, i64 aps, const float* b, i64 ldb,
                                                                       float* c, i64 ldc, int ncols) {
  __m256 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (i64 p = 0; p < k; ++p) {
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + p * ldb + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * ars + p * aps);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  if (ncols == 8 * NV) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
    return;
  }
  alignas(32) float t[8 * NV];
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NV; ++v) _mm256_store_ps(t + 8 * v, acc[r][v]);
    std::memcpy(c + r * ldc, t, sizeof(float) * static_cast<std::size_t>(ncols));
  }
}

template <int NV>
__attribute__((target("avx2,fma"))) void rows_avx2(i64 m, i64 k, const float* a, i64 ars, i64 aps, const float* b, i64 ldb, float* c, i64 ldc,
                                                   int ncols) {
  i64 i = 0;
  for (; i + 6 <= m; i += 6) tile_avx2<6, NV>(k, a + i * ars, ars, aps, b, ldb, c + i * ldc, ldc, ncols);
  switch (m - i) {
    case 5: tile_avx2<5, NV>(k, a + i * ars, ars, aps, b, ldb, c + i * ldc, ldc, ncols); break;
    case 4: tile_avx2<4, NV>(k, a + i * ars, ars, aps, b, ldb, c + i * ldc, ldc, ncols); break;
    case 3: tile_avx2<3, NV>(k, a + i * ars, ars, aps, b, ldb, c + i * ldc, ldc, ncols); break;
    case 2: tile_avx2<2, NV>(k, a + i * ars, ars, aps, b, ldb, c + i * ldc, ldc, ncols); break;
    case 1: tile_avx2<1, NV>(k, a + i * ars, ars, aps, b, ldb, c + i * ldc, ldc, ncols); break;
    default: break;
  }
}

/** dst[c·ld_dst + r] = src[r·ld_src + c] for an 8 x 8 block. */
__attribute__((target("avx2,fma"))) inline void transpose8x8_avx2(const float* src, i64 ld_src, float* dst, i64 ld_dst) {
  __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld_src), r2 = _mm256_loadu_ps(src + 2 * ld_src),
         r3 = _mm256_loadu_ps(src + 3 * ld_src), r4 = _mm256_loadu_ps(src + 4 * ld_src), r5 = _mm256_loadu_ps(src + 5 * ld_src),
         r6 = _mm256_loadu_ps(src + 6 * ld_src), r7 = _mm256_loadu_ps(src + 7 * ld_src);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
         u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + ld_dst, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ld_dst, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ld_dst, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/**
 * C [m x n] (row stride ldc) = A [m x k] · B [k x n]: A's element (i, p) at a[i·ars + p·aps]
 * (ars = lda, aps = 1 for A itself; ars = 1, aps = lda for a transpose), B rows at stride ldb with
 * pad8(n) readable floats each (the columns beyond n are read, never written). The small products
 * of one (batch, head) pair: register tiles of 6 rows x 16 columns (AVX2).
 */
void small_gemm(i64 m, i64 n, i64 k, const float* a, i64 ars, i64 aps, const float* b, i64 ldb, float* c, i64 ldc, bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
  if (avx2) {
    i64 j = 0;
    for (; j + 16 <= n; j += 16) rows_avx2<2>(m, k, a, ars, aps, b + j, ldb, c + j, ldc, 16);
    for (; j < n; j += 8) rows_avx2<1>(m, k, a, ars, aps, b + j, ldb, c + j, ldc, static_cast<int>(std::min<i64>(8, n - j)));
    return;
  }
#endif
  (void)avx2;
  for (i64 i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    std::fill(ci, ci + n, 0.0f);
    for (i64 p = 0; p < k; ++p) {
      const float x = a[i * ars + p * aps];
      const float* bp = b + p * ldb;
      for (i64 j = 0; j < n; ++j) ci[j] += x * bp[j];
    }
  }
}

/** p[j] = softmax(s)[j] over a row of n scores (max subtracted first, as tfjs does). */
void softmax_row(const float* s, i64 n, float* p, bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
  if (avx2) return softmax_row_avx2(s, n, p);
#endif
  (void)avx2;
  float m = s[0];
  for (i64 j = 1; j < n; ++j) m = std::max(m, s[j]);
  float sum = 0.0f;
  for (i64 j = 0; j < n; ++j) { p[j] = std::exp(s[j] - m); sum += p[j]; }
  const float inv = 1.0f / sum;
  for (i64 j = 0; j < n; ++j) p[j] *= inv;
}

/** dst [cols x ld_dst] = the transpose of src [rows x cols] (row stride ld_src); dst's padding zeroed. */
void transpose_into(const float* src, i64 rows, i64 cols, i64 ld_src, float* dst, i64 ld_dst, bool avx2) {
  i64 c0 = 0;
#if defined(__x86_64__) || defined(__i386__)
  if (avx2) {
    const i64 rows8 = rows / 8 * 8;
    for (; c0 + 8 <= cols; c0 += 8) {
      for (i64 r = 0; r < rows8; r += 8) transpose8x8_avx2(src + r * ld_src + c0, ld_src, dst + c0 * ld_dst + r, ld_dst);
      for (i64 c = c0; c < c0 + 8; ++c) {
        float* d = dst + c * ld_dst;
        for (i64 r = rows8; r < rows; ++r) d[r] = src[r * ld_src + c];
        std::fill(d + rows, d + ld_dst, 0.0f);
      }
    }
  }
#endif
  (void)avx2;
  for (i64 c = c0; c < cols; ++c) {
    float* d = dst + c * ld_dst;
    for (i64 r = 0; r < rows; ++r) d[r] = src[r * ld_src + c];
    std::fill(d + rows, d + ld_dst, 0.0f);
  }
}

/** dst [rows x ld_dst] = src [rows x cols] (row stride ld_src); dst's padding zeroed. */
void copy_rows(const float* src, i64 rows, i64 cols, i64 ld_src, float* dst, i64 ld_dst) {
  for (i64 r = 0; r < rows; ++r) {
    std::memcpy(dst + r * ld_dst, src + r * ld_src, sizeof(float) * static_cast<std::size_t>(cols));
    std::fill(dst + r * ld_dst + cols, dst + (r + 1) * ld_dst, 0.0f);
  }
}

/** Dropout scale of element (row i, key j) of a pair's probabilities: 0 or 1 / (1 - rate). */
struct DropMask {
  bool on;
  std::uint32_t threshold, key;
  float scale;
  explicit DropMask(const AttentionArgs& a)
      : on(a.rate > 0.0), threshold(dropout_threshold(a.rate)), key(a.key), scale(static_cast<float>(1.0 / (1.0 - a.rate))) {}
  /** m[j] = the scale of element index0 + j, j < n. */
  void row(std::uint32_t index0, i64 n, float* m) const { mask_row(index0, static_cast<std::uint32_t>(n), key, threshold, scale, m); }
  SEMID_CLONES static void mask_row(std::uint32_t index0, std::uint32_t n, std::uint32_t key, std::uint32_t threshold, float scale,
                                    float* __restrict m) {
    for (std::uint32_t j = 0; j < n; ++j) m[j] = (dropout_hash(index0 + j, key) >> 8) >= threshold ? scale : 0.0f;
  }
};

/** s[j] += bias[j] over a row (vectorised by the clones). */
SEMID_CLONES void add_row(float* __restrict s, const float* __restrict bias, i64 n) {
  for (i64 j = 0; j < n; ++j) s[j] += bias[j];
}

/** x[j] *= m[j] over a row (vectorised by the clones). */
SEMID_CLONES void scale_row(float* __restrict x, const float* __restrict m, i64 n) {
  for (i64 j = 0; j < n; ++j) x[j] *= m[j];
}

/** out[j] = a[j] · b[j] over a row (vectorised by the clones). */
SEMID_CLONES void mul_rows(const float* __restrict a, const float* __restrict b, i64 n, float* __restrict out) {
  for (i64 j = 0; j < n; ++j) out[j] = a[j] * b[j];
}

/** One worker's buffers, sized for a call's shape (padded widths: lkp = pad8(lk), dkp = pad8(dk)). */
struct Scratch {
  std::vector<float> kv_t, s, pd, m, rows_k, rows_q, bias;
  void size(const AttentionArgs& a) {
    const i64 lkp = pad8(a.lk), dkp = pad8(a.dk);
    kv_t.resize(static_cast<std::size_t>(a.dk * lkp));  // kᵀ or vᵀ [dk x lkp]
    s.resize(static_cast<std::size_t>(a.lq * lkp));     // scores, then dp / ds [lq x lkp]
    pd.resize(static_cast<std::size_t>(a.lq * lkp));    // dropped-out probabilities [lq x lkp]
    m.resize(static_cast<std::size_t>(lkp));
    rows_k.resize(static_cast<std::size_t>(a.lk * dkp));                    // v or k rows [lk x dkp]
    rows_q.resize(static_cast<std::size_t>(a.lq * dkp));                    // dctx or q rows [lq x dkp]
    bias.resize(static_cast<std::size_t>(lkp));
  }
};

/** One (batch, head) pair's blocks: rows at stride heads x dk, offset to the head. */
struct PairBlocks {
  i64 b, h;
  const float *q, *k, *v;
  PairBlocks(const AttentionArgs& a, i64 pair)
      : b(pair / a.heads), h(pair % a.heads), q(a.q + offset_q(a)), k(a.k + offset_k(a)), v(a.v + offset_k(a)) {}
  /** Offset of this pair's first q (or dctx, ctx, dq) row. */
  i64 offset_q(const AttentionArgs& a) const { return b * a.lq * a.heads * a.dk + h * a.dk; }
  /** Offset of this pair's first k (or v, dk, dv) row. */
  i64 offset_k(const AttentionArgs& a) const { return b * a.lk * a.heads * a.dk + h * a.dk; }
};

/**
 * A [rows x dk] block of rows at stride `stride` as a GEMM's B operand (pad8(dk) readable floats a
 * row): the rows themselves when dk is a multiple of 8, else a zero-padded copy in `scratch`.
 */
const float* b_operand(const float* rows_src, i64 rows, i64 dk, i64 stride, std::vector<float>& scratch, i64* ld) {
  if (dk % 8 == 0) { *ld = stride; return rows_src; }
  copy_rows(rows_src, rows, dk, stride, scratch.data(), pad8(dk));
  *ld = pad8(dk);
  return scratch.data();
}

}  // namespace

void attention_forward(const AttentionArgs& a, float* ctx, float* probs, int threads) {
  const i64 pairs = a.batch * a.heads, H = a.heads, lq = a.lq, lk = a.lk, dk = a.dk, row = H * dk;
  if (pairs == 0 || lq == 0) return;
  if (lk == 0) {  // nothing to attend to: a zero context (and no probabilities)
    std::fill(ctx, ctx + a.batch * lq * row, 0.0f);
    return;
  }
  const i64 lkp = pad8(lk);
  const bool avx2 = use_avx2();
  const DropMask drop(a);
  const int t = resolve_threads(threads, pairs);
  std::vector<Scratch> scratch(static_cast<std::size_t>(t));
  CancelFlag never;
  parallel_for(pairs, t, never, [&](i64 pair, int worker) {
    Scratch& w = scratch[static_cast<std::size_t>(worker)];
    w.size(a);
    const PairBlocks blocks(a, pair);
    const i64 b = blocks.b, h = blocks.h;
    const float *q0 = blocks.q, *k0 = blocks.k, *v0 = blocks.v;
    float* p0 = probs + pair * lq * lk;
    // scores [lq x lk] = q · kᵀ
    transpose_into(k0, lk, dk, row, w.kv_t.data(), lkp, avx2);
    small_gemm(lq, lk, dk, q0, row, 1, w.kv_t.data(), lkp, w.s.data(), lkp, avx2);
    const bool masked_keys = a.key_mask != nullptr;
    for (i64 i = 0; i < lq; ++i) {
      float* s = w.s.data() + i * lkp;
      // bias = position + padding mask + causal mask, summed in float32 in that order (as T5's ops add them)
      if (a.pos_bias || masked_keys || a.causal) {
        float* bias = w.bias.data();
        if (a.pos_bias) std::memcpy(bias, a.pos_bias + (h * lq + i) * lk, sizeof(float) * static_cast<std::size_t>(lk));
        else std::fill(bias, bias + lk, 0.0f);
        if (masked_keys)
          for (i64 j = 0; j < lk; ++j)
            if (a.key_mask[b * lk + j] == 0) bias[j] += kAttentionMasked;
        if (a.causal)
          for (i64 j = i + 1; j < lk; ++j) bias[j] += kAttentionMasked;
        add_row(s, bias, lk);
      }
      float* p = p0 + i * lk;
      softmax_row(s, lk, p, avx2);
      if (drop.on) {
        drop.row(static_cast<std::uint32_t>((pair * lq + i) * lk), lk, w.m.data());
        mul_rows(p, w.m.data(), lk, w.pd.data() + i * lkp);
      }
    }
    // ctx [lq x dk] = pd · v (pd: the probabilities themselves without dropout)
    i64 ldv = 0;
    const float* vb = b_operand(v0, lk, dk, row, w.rows_k, &ldv);
    if (drop.on) small_gemm(lq, dk, lk, w.pd.data(), lkp, 1, vb, ldv, ctx + blocks.offset_q(a), row, avx2);
    else small_gemm(lq, dk, lk, p0, lk, 1, vb, ldv, ctx + blocks.offset_q(a), row, avx2);
  });
}

void attention_backward(const AttentionArgs& a, const float* dctx, const float* probs, float* dq, float* dk_out, float* dv,
                        float* dpos, int threads) {
  const i64 pairs = a.batch * a.heads, H = a.heads, lq = a.lq, lk = a.lk, dk = a.dk, row = H * dk;
  if (pairs == 0) return;
  if (lk == 0) {  // no keys: only dq exists, and it is zero
    std::fill(dq, dq + a.batch * lq * row, 0.0f);
    return;
  }
  const i64 lkp = pad8(lk);
  const bool avx2 = use_avx2();
  const DropMask drop(a);
  const int t = resolve_threads(threads, pairs);
  std::vector<Scratch> scratch(static_cast<std::size_t>(t));
  // the scores' gradient of every pair when dpos is wanted (summed over the batch below); not zeroed: every entry is written
  std::unique_ptr<float[]> dscores(dpos ? new float[static_cast<std::size_t>(pairs * lq * lk)] : nullptr);
  CancelFlag never;
  parallel_for(pairs, t, never, [&](i64 pair, int worker) {
    Scratch& w = scratch[static_cast<std::size_t>(worker)];
    w.size(a);
    const PairBlocks blocks(a, pair);
    const float *q0 = blocks.q, *k0 = blocks.k, *v0 = blocks.v;
    const float* g0 = dctx + blocks.offset_q(a);
    const float* p0 = probs + pair * lq * lk;
    float* dq0 = dq + blocks.offset_q(a);
    float* dk0 = dk_out + blocks.offset_k(a);
    float* dv0 = dv + blocks.offset_k(a);
    if (lq == 0) {
      for (i64 j = 0; j < lk; ++j) { std::fill(dk0 + j * row, dk0 + j * row + dk, 0.0f); std::fill(dv0 + j * row, dv0 + j * row + dk, 0.0f); }
      return;
    }
    // dv [lk x dk] = pdᵀ · dctx (pd: the dropped-out probabilities, read transposed through its strides)
    const float* pd = p0;
    i64 ldpd = lk;
    if (drop.on) {
      for (i64 i = 0; i < lq; ++i) {
        drop.row(static_cast<std::uint32_t>((pair * lq + i) * lk), lk, w.m.data());
        mul_rows(p0 + i * lk, w.m.data(), lk, w.pd.data() + i * lkp);
      }
      pd = w.pd.data();
      ldpd = lkp;
    }
    i64 ldg = 0;
    const float* gb = b_operand(g0, lq, dk, row, w.rows_q, &ldg);
    small_gemm(lk, dk, lq, pd, 1, ldpd, gb, ldg, dv0, row, avx2);
    // dpd [lq x lk] = dctx · vᵀ; dp = dpd · mask; ds = p · (dp - Σ dp·p), in dscores when dpos is wanted
    float* ds0 = dpos ? dscores.get() + pair * lq * lk : w.s.data();
    const i64 lds = dpos ? lk : lkp;
    transpose_into(v0, lk, dk, row, w.kv_t.data(), lkp, avx2);
    small_gemm(lq, lk, dk, g0, row, 1, w.kv_t.data(), lkp, ds0, lds, avx2);
    for (i64 i = 0; i < lq; ++i) {
      const float* p = p0 + i * lk;
      float* ds = ds0 + i * lds;
      if (drop.on) {
        drop.row(static_cast<std::uint32_t>((pair * lq + i) * lk), lk, w.m.data());
        scale_row(ds, w.m.data(), lk);
      }
      float dot = 0.0f;
      for (i64 j = 0; j < lk; ++j) dot += ds[j] * p[j];
      for (i64 j = 0; j < lk; ++j) ds[j] = p[j] * (ds[j] - dot);
    }
    // dq [lq x dk] = ds · k
    i64 ldk = 0;
    const float* kb = b_operand(k0, lk, dk, row, w.rows_k, &ldk);
    small_gemm(lq, dk, lk, ds0, lds, 1, kb, ldk, dq0, row, avx2);
    // dk [lk x dk] = dsᵀ · q (dsᵀ read through its strides)
    i64 ldq = 0;
    const float* qb = b_operand(q0, lq, dk, row, w.rows_q, &ldq);
    small_gemm(lk, dk, lq, ds0, 1, lds, qb, ldq, dk0, row, avx2);
  });
  if (!dpos) return;
  // dpos[h, i, j] = Σ_b ds[b, h, i, j], in batch order whatever the thread count
  const i64 per_head = lq * lk;
  const i64 block = 4096, blocks = (per_head + block - 1) / block;
  if (per_head == 0) return;
  parallel_for(H * blocks, resolve_threads(threads, H * blocks), never, [&](i64 task, int) {
    const i64 h = task / blocks, e0 = (task % blocks) * block, e1 = std::min(per_head, e0 + block);
    float* out = dpos + h * per_head;
    std::fill(out + e0, out + e1, 0.0f);
    for (i64 b = 0; b < a.batch; ++b) {
      const float* src = dscores.get() + (b * H + h) * per_head;
      for (i64 e = e0; e < e1; ++e) out[e] += src[e];
    }
  });
}

}  // namespace semid
