// N-API entry points of the fused attention core (semid/attention.h). Synchronous, as the other
// training kernels: they run inside a tfjs step on memory the caller owns.
#include <cmath>
#include <string>

#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "semid/attention.h"

namespace semid::addon {

namespace {
/** The shape, the optional bias inputs and the dropout of an attention call, read and checked. */
AttentionArgs attention_args(const Napi::CallbackInfo& info, const Napi::Object& o) {
  AttentionArgs a;
  a.batch = int_field(o, "batch", -1);
  a.heads = int_field(o, "heads", -1);
  a.lq = int_field(o, "lq", -1);
  a.lk = int_field(o, "lk", -1);
  a.dk = int_field(o, "dkv", -1);
  if (a.batch < 0 || a.heads < 1 || a.lq < 0 || a.lk < 1 || a.dk < 1)
    throw Napi::RangeError::New(info.Env(), "attention: batch, lq >= 0 and heads, lk, dkv >= 1 are required");
  if (double(a.batch) * double(a.heads) * double(a.lq) * double(a.lk) > 4294967295.0)
    throw Napi::RangeError::New(info.Env(), "attention: batch x heads x lq x lk must be below 2^32 (the dropout mask's index)");
  const auto rows_q = static_cast<std::size_t>(a.batch * a.lq * a.heads * a.dk);
  const auto rows_k = static_cast<std::size_t>(a.batch * a.lk * a.heads * a.dk);
  a.q = array_field<float>(o, "q", rows_q);
  a.k = array_field<float>(o, "k", rows_k);
  a.v = array_field<float>(o, "v", rows_k);
  if (!o.Get("posBias").IsUndefined() && !o.Get("posBias").IsNull())
    a.pos_bias = array_field<float>(o, "posBias", static_cast<std::size_t>(a.heads * a.lq * a.lk));
  if (!o.Get("keyMask").IsUndefined() && !o.Get("keyMask").IsNull())
    a.key_mask = array_field<std::int32_t>(o, "keyMask", static_cast<std::size_t>(a.batch * a.lk));
  a.causal = bool_field(o, "causal");
  a.rate = num_field(o, "rate", 0.0);
  if (!(a.rate >= 0.0 && a.rate < 1.0)) throw Napi::RangeError::New(info.Env(), "attention: rate must be in [0, 1)");
  const double key = num_field(o, "key", 0.0);
  if (!(key >= 0.0 && key <= 4294967295.0) || key != std::floor(key))
    throw Napi::RangeError::New(info.Env(), "attention: key must be an integer in [0, 2^32)");
  a.key = static_cast<std::uint32_t>(key);
  return a;
}
}  // namespace

// attentionForwardSync({q, k, v, posBias?, keyMask?, causal, rate, key, batch, heads, lq, lk, dkv, ctx, probs, threads})
Napi::Value AttentionForwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const AttentionArgs a = attention_args(info, o);
  float* ctx = array_field<float>(o, "ctx", static_cast<std::size_t>(a.batch * a.lq * a.heads * a.dk));
  float* probs = array_field<float>(o, "probs", static_cast<std::size_t>(a.batch * a.heads * a.lq * a.lk));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { attention_forward(a, ctx, probs, threads); });
  return info.Env().Undefined();
}

// attentionBackwardSync({...the forward's fields, dctx, probs, dq, dk, dv, dpos?, threads})
Napi::Value AttentionBackwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const AttentionArgs a = attention_args(info, o);
  const auto rows_q = static_cast<std::size_t>(a.batch * a.lq * a.heads * a.dk);
  const auto rows_k = static_cast<std::size_t>(a.batch * a.lk * a.heads * a.dk);
  const float* dctx = array_field<float>(o, "dctx", rows_q);
  const float* probs = array_field<float>(o, "probs", static_cast<std::size_t>(a.batch * a.heads * a.lq * a.lk));
  float* dq = array_field<float>(o, "dq", rows_q);
  float* dk = array_field<float>(o, "dk", rows_k);
  float* dv = array_field<float>(o, "dv", rows_k);
  float* dpos = nullptr;
  if (!o.Get("dpos").IsUndefined() && !o.Get("dpos").IsNull())
    dpos = array_field<float>(o, "dpos", static_cast<std::size_t>(a.heads * a.lq * a.lk));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { attention_backward(a, dctx, probs, dq, dk, dv, dpos, threads); });
  return info.Env().Undefined();
}

}  // namespace semid::addon
