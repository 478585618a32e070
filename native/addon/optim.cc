// N-API entry points for optimizer steps. Synchronous on purpose: they run inside a tfjs training
// step on memory the caller owns (often WebAssembly heap views), and take milliseconds.
#include <cmath>

#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "semid/optim.h"

namespace semid::addon {

// adamwSync({p, g, m, v, n, gradScale, beta1, beta2, decayFactor, stepSize, invSqrtBc2, eps, threads})
Napi::Value AdamWSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  AdamWArgs a;
  a.n = int_field(o, "n", 0);
  if (a.n < 0) throw Napi::RangeError::New(info.Env(), "n must be >= 0");
  const auto n = static_cast<std::size_t>(a.n);
  a.p = array_field<float>(o, "p", n);
  a.g = array_field<float>(o, "g", n);
  a.m = array_field<float>(o, "m", n);
  a.v = array_field<float>(o, "v", n);
  a.grad_scale = static_cast<float>(num_field(o, "gradScale", 1.0));
  a.beta1 = static_cast<float>(num_field(o, "beta1", 0.9));
  a.beta2 = static_cast<float>(num_field(o, "beta2", 0.999));
  a.decay_factor = static_cast<float>(num_field(o, "decayFactor", 1.0));
  a.step_size = static_cast<float>(num_field(o, "stepSize", 0.0));
  a.inv_sqrt_bc2 = static_cast<float>(num_field(o, "invSqrtBc2", 1.0));
  a.eps = static_cast<float>(num_field(o, "eps", 1e-8));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { adamw_cpu(a, threads); });
  return info.Env().Undefined();
}

// sumSquaresSync(x: Float32Array, threads) -> number (float64 accumulation)
Napi::Value SumSquaresSync(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), "Expected Float32Array for x");
  auto x = info[0].As<Napi::Float32Array>();
  int threads = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  double sum = 0;
  run_sync(info.Env(), [&] { sum = sum_squares_cpu(x.Data(), static_cast<i64>(x.ElementLength()), threads); });
  return Napi::Number::New(info.Env(), sum);
}

}  // namespace semid::addon

#include "semid/fused.h"

namespace semid::addon {

// rmsNormForwardSync({x, w, y, rstd, rows, d, eps, threads})
Napi::Value RmsNormForwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 rows = int_field(o, "rows", 0), d = int_field(o, "d", 0);
  if (rows < 0 || d < 1) throw Napi::RangeError::New(info.Env(), "rows must be >= 0 and d >= 1");
  const auto n = static_cast<std::size_t>(rows * d);
  const float* x = array_field<float>(o, "x", n);
  const float* w = array_field<float>(o, "w", static_cast<std::size_t>(d));
  float* y = array_field<float>(o, "y", n);
  float* rstd = array_field<float>(o, "rstd", static_cast<std::size_t>(rows));
  const float eps = static_cast<float>(num_field(o, "eps", 1e-6));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { rmsnorm_forward(x, w, rows, d, eps, y, rstd, threads); });
  return info.Env().Undefined();
}

// rmsNormBackwardSync({dy, x, w, rstd, dx, dw, rows, d, threads})
Napi::Value RmsNormBackwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 rows = int_field(o, "rows", 0), d = int_field(o, "d", 0);
  if (rows < 0 || d < 1) throw Napi::RangeError::New(info.Env(), "rows must be >= 0 and d >= 1");
  const auto n = static_cast<std::size_t>(rows * d);
  const float* dy = array_field<float>(o, "dy", n);
  const float* x = array_field<float>(o, "x", n);
  const float* w = array_field<float>(o, "w", static_cast<std::size_t>(d));
  const float* rstd = array_field<float>(o, "rstd", static_cast<std::size_t>(rows));
  float* dx = array_field<float>(o, "dx", n);
  float* dw = array_field<float>(o, "dw", static_cast<std::size_t>(d));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { rmsnorm_backward(dy, x, w, rstd, rows, d, dx, dw, threads); });
  return info.Env().Undefined();
}

// gatedForwardSync({a, b, out, n, act: 0 gelu_new | 1 relu, threads})
Napi::Value GatedForwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 n = int_field(o, "n", 0);
  if (n < 0) throw Napi::RangeError::New(info.Env(), "n must be >= 0");
  const auto count = static_cast<std::size_t>(n);
  const float* a = array_field<float>(o, "a", count);
  const float* b = array_field<float>(o, "b", count);
  float* out = array_field<float>(o, "out", count);
  const auto act = static_cast<GateAct>(int_field(o, "act", 0));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { gated_forward(a, b, n, act, out, threads); });
  return info.Env().Undefined();
}

// gatedBackwardSync({dy, a, b, da, db, n, act, threads})
Napi::Value GatedBackwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 n = int_field(o, "n", 0);
  if (n < 0) throw Napi::RangeError::New(info.Env(), "n must be >= 0");
  const auto count = static_cast<std::size_t>(n);
  const float* dy = array_field<float>(o, "dy", count);
  const float* a = array_field<float>(o, "a", count);
  const float* b = array_field<float>(o, "b", count);
  float* da = array_field<float>(o, "da", count);
  float* db = array_field<float>(o, "db", count);
  const auto act = static_cast<GateAct>(int_field(o, "act", 0));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { gated_backward(dy, a, b, n, act, da, db, threads); });
  return info.Env().Undefined();
}

// dropoutSync({x, y, n, rate, key, threads}): y = x masked and scaled (semid/fused.h dropout_apply)
Napi::Value DropoutSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 n = int_field(o, "n", 0);
  if (n < 0 || n > i64(0xffffffff)) throw Napi::RangeError::New(info.Env(), "n must be in [0, 2^32)");
  const double rate = num_field(o, "rate", 0.0);
  if (!(rate >= 0.0 && rate < 1.0)) throw Napi::RangeError::New(info.Env(), "rate must be in [0, 1)");
  const double key = num_field(o, "key", 0.0);
  if (!(key >= 0.0 && key <= 4294967295.0) || key != std::floor(key)) throw Napi::RangeError::New(info.Env(), "key must be an integer in [0, 2^32)");
  const auto count = static_cast<std::size_t>(n);
  const float* x = array_field<float>(o, "x", count);
  float* y = array_field<float>(o, "y", count);
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { dropout_apply(x, n, rate, static_cast<std::uint32_t>(key), y, threads); });
  return info.Env().Undefined();
}

namespace {
/** Labels of a cross-entropy: -1 (ignored) or a class in [0, v). */
void check_labels(Napi::Env env, const std::int32_t* labels, i64 n, i64 v) {
  for (i64 i = 0; i < n; ++i)
    if (labels[i] < -1 || labels[i] >= v)
      throw Napi::RangeError::New(env, "labels[" + std::to_string(i) + "] = " + std::to_string(labels[i]) + " is outside [-1, v)");
}
}  // namespace

// crossEntropyForwardSync({logits, labels, lse, n, v, threads}) -> the sum over kept rows of
// lse - logit[label] (semid/fused.h cross_entropy_forward); labels -1 (ignored) or in [0, v)
Napi::Value CrossEntropyForwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 n = int_field(o, "n", 0), v = int_field(o, "v", 0);
  if (n < 0 || v < 1) throw Napi::RangeError::New(info.Env(), "n must be >= 0 and v >= 1");
  const float* logits = array_field<float>(o, "logits", static_cast<std::size_t>(n * v));
  const auto* labels = array_field<std::int32_t>(o, "labels", static_cast<std::size_t>(n));
  float* lse = array_field<float>(o, "lse", static_cast<std::size_t>(n));
  check_labels(info.Env(), labels, n, v);
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  double sum = 0.0;
  run_sync(info.Env(), [&] { sum = cross_entropy_forward(logits, n, v, labels, lse, threads); });
  return Napi::Number::New(info.Env(), sum);
}

// crossEntropyBackwardSync({logits, lse, labels, dlogits, n, v, scale, threads})
Napi::Value CrossEntropyBackwardSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 n = int_field(o, "n", 0), v = int_field(o, "v", 0);
  if (n < 0 || v < 1) throw Napi::RangeError::New(info.Env(), "n must be >= 0 and v >= 1");
  const auto count = static_cast<std::size_t>(n * v);
  const float* logits = array_field<float>(o, "logits", count);
  const float* lse = array_field<float>(o, "lse", static_cast<std::size_t>(n));
  const auto* labels = array_field<std::int32_t>(o, "labels", static_cast<std::size_t>(n));
  float* dlogits = array_field<float>(o, "dlogits", count);
  check_labels(info.Env(), labels, n, v);
  const auto scale = static_cast<float>(num_field(o, "scale", 1.0));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { cross_entropy_backward(logits, lse, labels, n, v, scale, dlogits, threads); });
  return info.Env().Undefined();
}

// segmentSumSync({x, ids, out, rows, inner, segments, threads}) (semid/fused.h segment_sum)
Napi::Value SegmentSumSync(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 rows = int_field(o, "rows", 0), inner = int_field(o, "inner", 0), segments = int_field(o, "segments", 0);
  if (rows < 0 || inner < 0 || segments < 0) throw Napi::RangeError::New(info.Env(), "rows, inner and segments must be >= 0");
  const float* x = array_field<float>(o, "x", static_cast<std::size_t>(rows * inner));
  const auto* ids = array_field<std::int32_t>(o, "ids", static_cast<std::size_t>(rows));
  float* out = array_field<float>(o, "out", static_cast<std::size_t>(segments * inner));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  run_sync(info.Env(), [&] { segment_sum(x, ids, rows, inner, segments, out, threads); });
  return info.Env().Undefined();
}

}  // namespace semid::addon
