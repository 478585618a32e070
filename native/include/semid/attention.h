// Multi-head attention core of a T5 layer, forward and backward, fused: per (batch, head) the
// scores q·kᵀ + bias, their softmax, dropout on the probabilities and the product with v, read and
// written in the projections' own [rows, heads x d_kv] layout (no transposes).
#pragma once
#include <cstdint>

#include "semid/common.h"

namespace semid {

/** The additive bias of a masked score (T5's -1e9, as the model adds it). */
constexpr float kAttentionMasked = -1e9f;

struct AttentionArgs {
  i64 batch = 0, heads = 0, lq = 0, lk = 0, dk = 0;
  const float* q = nullptr;              // [batch, lq, heads, dk]
  const float* k = nullptr;              // [batch, lk, heads, dk]
  const float* v = nullptr;              // [batch, lk, heads, dk]
  const float* pos_bias = nullptr;       // [heads, lq, lk] or null
  const std::int32_t* key_mask = nullptr;  // [batch, lk]: 0 masks the key (adds kAttentionMasked), or null
  bool causal = false;                   // key j > query i adds kAttentionMasked
  double rate = 0.0;                     // dropout on the probabilities (semid/fused.h's mask)
  std::uint32_t key = 0;                 // the dropout mask's key; element index ((b·H + h)·lq + i)·lk + j
};

/**
 * ctx [batch, lq, heads, dk] = dropout(softmax(q·kᵀ + bias)) · v per (batch, head), where
 * bias = pos_bias[h, i, j] + (key masked ? -1e9 : 0) + (causal and j > i ? -1e9 : 0) summed in
 * float32 in that order, as T5's ops do. probs [batch, heads, lq, lk] receives the softmax before
 * dropout (the backward pass reads it).
 */
void attention_forward(const AttentionArgs& a, float* ctx, float* probs, int threads);

/**
 * Gradients of attention_forward given dctx [batch, lq, heads, dk] and its probs: dq, dk_out, dv
 * in the layouts of q, k, v, and dpos [heads, lq, lk] (the sum over the batch of the scores'
 * gradient, in batch order) when dpos is not null.
 */
void attention_backward(const AttentionArgs& a, const float* dctx, const float* probs, float* dq, float* dk_out, float* dv,
                        float* dpos, int threads);

}  // namespace semid
