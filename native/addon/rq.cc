// N-API entry points for RQ-KMeans: rqTrain, rqEncode, rqDecode (see semid/rq.h).
#include <memory>

#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "semid/finite.h"
#include "semid/rq.h"

namespace semid::addon {

namespace {

Backend backend_field(const Napi::Object& o) {
  return str_field(o, "device", "cpu") == "cuda" ? Backend::Cuda : Backend::Cpu;
}

RqCodebooks codebooks_field(const Napi::Object& o) {
  RqCodebooks cb;
  cb.levels = static_cast<int>(int_field(o, "levels", 0));
  cb.k = int_field(o, "k", 0);
  cb.d = int_field(o, "d", 0);
  if (cb.levels < 1 || cb.k < 1 || cb.d < 1) throw Napi::RangeError::New(o.Env(), "levels, k and d must be >= 1");
  const std::size_t len = std::size_t(cb.levels) * cb.k * cb.d;
  const float* p = array_field<float>(o, "codebooks", len);
  cb.data.assign(p, p + len);
  return cb;
}

struct ProgressRecord {
  int level, iteration;
  KMeansIteration rec;
};

}  // namespace

// rqTrain({x, n, d, levels, k, iters, tol, seed, init, initSample, beam, maxTrainPoints, device,
//          threads, checkFinite, cancel, onProgress}) -> Promise<{codebooks, iterations, trainRows}>
Napi::Value RqTrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  const i64 n = int_field(o, "n", 0), d = int_field(o, "d", 0);
  if (n < 1 || d < 1) throw Napi::RangeError::New(env, "n and d must be >= 1");
  const float* x = array_field<float>(o, "x", std::size_t(n * d));
  RqParams p;
  p.levels = static_cast<int>(int_field(o, "levels", 2));
  p.kmeans.k = int_field(o, "k", 256);
  p.kmeans.max_iter = static_cast<int>(int_field(o, "iters", 20));
  p.kmeans.tol = num_field(o, "tol", 1e-4);
  p.kmeans.seed = static_cast<std::uint64_t>(int_field(o, "seed", 0));
  p.kmeans.init = str_field(o, "init", "kmeans++") == "random" ? KMeansInit::Random : KMeansInit::KMeansPlusPlus;
  p.kmeans.init_sample = int_field(o, "initSample", 0);
  p.kmeans.presample = int_field(o, "presample", 0);
  p.kmeans.threads = static_cast<int>(int_field(o, "threads", 0));
  p.beam = static_cast<int>(int_field(o, "beam", 1));
  p.max_train_points = int_field(o, "maxTrainPoints", 0);
  p.backend = backend_field(o);
  const bool screen = bool_field(o, "checkFinite");

  Napi::Value cb = o.Get("onProgress");
  std::shared_ptr<Napi::ThreadSafeFunction> tsfn;
  if (cb.IsFunction())
    tsfn = std::make_shared<Napi::ThreadSafeFunction>(
        Napi::ThreadSafeFunction::New(env, cb.As<Napi::Function>(), "semid:progress", 0, 1));
  auto result = std::make_shared<RqTrainResult>();
  return AsyncJob::Start(
      env,
      [x, n, d, p, screen, tsfn, result](const CancelFlag& cancel) {
        struct Release {
          std::shared_ptr<Napi::ThreadSafeFunction> t;
          ~Release() { if (t) t->Release(); }
        } release{tsfn};
        if (screen) check_finite("x", x, n, d, p.kmeans.threads, cancel);
        RqProgress progress;
        if (tsfn) {
          progress = [tsfn](int level, int it, const KMeansIteration& rec) {
            tsfn->NonBlockingCall(new ProgressRecord{level, it, rec},
                                  [](Napi::Env env, Napi::Function fn, ProgressRecord* r) {
                                    Napi::Object e = Napi::Object::New(env);
                                    e.Set("level", r->level);
                                    e.Set("iteration", r->iteration);
                                    e.Set("inertia", r->rec.inertia);
                                    e.Set("changed", static_cast<double>(r->rec.changed));
                                    e.Set("splits", r->rec.splits);
                                    delete r;
                                    try { fn.Call({e}); } catch (const Napi::Error&) {}
                                  });
          };
        }
        *result = rq_train(x, n, d, p, cancel, progress);
      },
      {o.Get("x")}, o.Get("cancel"),
      [result](Napi::Env env) {
        Napi::Object out = Napi::Object::New(env);
        auto& cbk = result->codebooks;
        Napi::Float32Array books = Napi::Float32Array::New(env, cbk.data.size());
        std::copy(cbk.data.begin(), cbk.data.end(), books.Data());
        out.Set("codebooks", books);
        Napi::Array levels = Napi::Array::New(env, result->iterations.size());
        for (std::size_t l = 0; l < result->iterations.size(); ++l) {
          Napi::Array its = Napi::Array::New(env, result->iterations[l].size());
          for (std::size_t i = 0; i < result->iterations[l].size(); ++i) {
            const auto& r = result->iterations[l][i];
            Napi::Object e = Napi::Object::New(env);
            e.Set("inertia", r.inertia);
            e.Set("changed", static_cast<double>(r.changed));
            e.Set("splits", r.splits);
            its.Set(uint32_t(i), e);
          }
          levels.Set(uint32_t(l), its);
        }
        out.Set("iterations", levels);
        out.Set("trainRows", static_cast<double>(result->train_rows));
        if (!result->codes.empty()) {
          Napi::Int32Array codes = Napi::Int32Array::New(env, result->codes.size());
          std::copy(result->codes.begin(), result->codes.end(), codes.Data());
          out.Set("codes", codes);
          Napi::Float64Array err = Napi::Float64Array::New(env, result->level_sq_error.size());
          std::copy(result->level_sq_error.begin(), result->level_sq_error.end(), err.Data());
          out.Set("levelError", err);
        }
        return out;
      });
}

// rqEncode({x, n, d, codebooks, levels, k, beam, device, threads, checkFinite, codes, levelError,
//           cancel}) -> Promise<void>; codes [n x levels] Int32Array, levelError [levels] Float64Array
Napi::Value RqEncode(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto cb = std::make_shared<RqCodebooks>(codebooks_field(o));
  RqEncodeArgs a;
  a.n = int_field(o, "n", 0);
  if (a.n < 0) throw Napi::RangeError::New(o.Env(), "n must be >= 0");
  a.x = array_field<float>(o, "x", std::size_t(a.n * cb->d));
  a.beam = static_cast<int>(int_field(o, "beam", 1));
  a.backend = backend_field(o);
  a.threads = static_cast<int>(int_field(o, "threads", 0));
  a.codes = array_field<std::int32_t>(o, "codes", std::size_t(a.n * cb->levels));
  Napi::Value le = o.Get("levelError");
  if (le.IsTypedArray()) {
    auto arr = le.As<Napi::Float64Array>();
    if (arr.ElementLength() < std::size_t(cb->levels)) throw Napi::RangeError::New(o.Env(), "levelError too short");
    a.level_sq_error = arr.Data();
  }
  const bool screen = bool_field(o, "checkFinite");
  return AsyncJob::Start(
      o.Env(),
      [cb, a, screen](const CancelFlag& cancel) {
        if (screen) check_finite("x", a.x, a.n, cb->d, a.threads, cancel);
        rq_encode(*cb, a, cancel);
      },
      {o.Get("x"), o.Get("codes"), le}, o.Get("cancel"));
}

// rqDecode({codes, n, codebooks, levels, k, d, out, threads, cancel}) -> Promise<void>
Napi::Value RqDecode(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto cb = std::make_shared<RqCodebooks>(codebooks_field(o));
  const i64 n = int_field(o, "n", 0);
  if (n < 0) throw Napi::RangeError::New(o.Env(), "n must be >= 0");
  const std::int32_t* codes = array_field<std::int32_t>(o, "codes", std::size_t(n * cb->levels));
  float* out = array_field<float>(o, "out", std::size_t(n * cb->d));
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  return AsyncJob::Start(
      o.Env(), [cb, codes, n, out, threads](const CancelFlag& cancel) { rq_decode(*cb, codes, n, out, threads, cancel); },
      {o.Get("codes"), o.Get("out")}, o.Get("cancel"));
}

}  // namespace semid::addon
