// N-API entry points for the kernel families: convert arguments, queue an AsyncJob.
#include <algorithm>

#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "semid/cuda.h"
#include "semid/finite.h"
#include "semid/gemm.h"
#include "semid/nearest.h"

namespace semid::addon {

namespace {
bool wants_cuda(const Napi::Object& o) { return str_field(o, "device", "cpu") == "cuda"; }
}  // namespace

namespace {
struct ParsedGemm {
  GemmArgs g;
  int threads = 0;
  bool cuda = false, allow_blas = true, screen = false;
};

// Read gemm's options object: {a, b, c, batch, m, n, k, transA, transB, lda, ldb, ldc, strideA,
// strideB, strideC, alpha, beta, device, threads, impl, checkFinite}.
ParsedGemm parse_gemm(const Napi::Env& env, const Napi::Object& o) {
  ParsedGemm p;
  GemmArgs& g = p.g;
  g.batch = int_field(o, "batch", 1);
  g.m = int_field(o, "m", 0);
  g.n = int_field(o, "n", 0);
  g.k = int_field(o, "k", 0);
  g.trans_a = bool_field(o, "transA");
  g.trans_b = bool_field(o, "transB");
  g.lda = int_field(o, "lda", g.trans_a ? g.m : g.k);
  g.ldb = int_field(o, "ldb", g.trans_b ? g.k : g.n);
  g.ldc = int_field(o, "ldc", g.n);
  g.stride_a = int_field(o, "strideA", g.m * g.k);
  g.stride_b = int_field(o, "strideB", g.k * g.n);
  g.stride_c = int_field(o, "strideC", g.m * g.n);
  g.alpha = static_cast<float>(num_field(o, "alpha", 1.0));
  g.beta = static_cast<float>(num_field(o, "beta", 0.0));
  try {
    validate_gemm_shape(g);
  } catch (const Error& e) {
    throw Napi::RangeError::New(env, e.what());
  }
  // Elements a stored matrix of rows x cols spans over the batch; none when it is empty (a
  // 0 x k or m x 0 operand is valid and holds nothing, whatever its leading dimension).
  auto extent = [&](i64 rows, i64 cols, i64 ld, i64 stride) {
    return rows == 0 || cols == 0 ? 0 : static_cast<std::size_t>((g.batch - 1) * stride + (rows - 1) * ld + cols);
  };
  g.a = array_field<float>(o, "a", g.trans_a ? extent(g.k, g.m, g.lda, g.stride_a) : extent(g.m, g.k, g.lda, g.stride_a));
  g.b = array_field<float>(o, "b", g.trans_b ? extent(g.n, g.k, g.ldb, g.stride_b) : extent(g.k, g.n, g.ldb, g.stride_b));
  g.c = array_field<float>(o, "c", extent(g.m, g.n, g.ldc, g.stride_c));
  p.threads = static_cast<int>(int_field(o, "threads", 0));
  p.cuda = wants_cuda(o);
  p.allow_blas = str_field(o, "impl", "auto") != "native";
  p.screen = bool_field(o, "checkFinite");
  return p;
}

void run_gemm(const ParsedGemm& p, const CancelFlag& cancel) {
  const GemmArgs& g = p.g;
  if (p.screen && g.m > 0 && g.n > 0 && g.k > 0) {  // an empty product reads neither operand
    for (i64 b = 0; b < (g.stride_a ? g.batch : 1); ++b)
      check_finite("a", g.a + b * g.stride_a, g.trans_a ? g.k : g.m, g.lda, p.threads, cancel);
    for (i64 b = 0; b < (g.stride_b ? g.batch : 1); ++b)
      check_finite("b", g.b + b * g.stride_b, g.trans_b ? g.n : g.k, g.ldb, p.threads, cancel);
  }
  if (p.cuda) gemm_cuda(g, cancel);
  else gemm_cpu(g, p.threads, cancel, p.allow_blas);
}
}  // namespace

// gemm({...}) -> Promise<void>; writes c in place on a worker thread.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  ParsedGemm p = parse_gemm(info.Env(), o);
  return AsyncJob::Start(
      info.Env(), [p](const CancelFlag& cancel) { run_gemm(p, cancel); }, {o.Get("a"), o.Get("b"), o.Get("c")},
      o.Get("cancel"));
}

// gemmSync({...}) -> undefined; the same product on the calling thread (its inner loops still use
// the thread pool). For callers that must be synchronous, such as TensorFlow.js kernels; the
// arrays may be views of WebAssembly memory. Errors are thrown as JS errors with their code.
Napi::Value GemmSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ParsedGemm p = parse_gemm(env, info[0].As<Napi::Object>());
  run_sync(env, [&] {
    CancelFlag never;
    run_gemm(p, never);
  });
  return env.Undefined();
}

// nearest({x, centroids, n, d, k, topk, indices, distances, device, threads, cancel})
//   -> Promise<void>; writes indices [n x topk] and distances [n x topk].
Napi::Value Nearest(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  NearestArgs a;
  a.n = int_field(o, "n", 0);
  a.d = int_field(o, "d", 0);
  a.k = int_field(o, "k", 0);
  a.topk = int_field(o, "topk", 1);
  try {
    validate_nearest_shape(a);
  } catch (const Error& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  }
  a.x = array_field<float>(o, "x", static_cast<std::size_t>(a.n * a.d));
  a.centroids = array_field<float>(o, "centroids", static_cast<std::size_t>(a.k * a.d));
  a.indices = array_field<std::int32_t>(o, "indices", static_cast<std::size_t>(a.n * a.topk));
  a.distances = array_field<float>(o, "distances", static_cast<std::size_t>(a.n * a.topk));
  int threads = static_cast<int>(int_field(o, "threads", 0));
  bool cuda = wants_cuda(o);
  bool screen = bool_field(o, "checkFinite");
  return AsyncJob::Start(
      info.Env(),
      [a, threads, cuda, screen](const CancelFlag& cancel) {
        if (screen) {
          check_finite("x", a.x, a.n, a.d, threads, cancel);
          check_finite("centroids", a.centroids, a.k, a.d, threads, cancel);
        }
        nearest_exact_on(cuda, a, threads, cancel);
      },
      {o.Get("x"), o.Get("centroids"), o.Get("indices"), o.Get("distances")}, o.Get("cancel"));
}

}  // namespace semid::addon
