// N-API entry point for the truncated SVD (dense or CSR).
#include <memory>

#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "typed_result.h"
#include "semid/svd.h"

namespace semid::addon {

// truncatedSvd({x?, n, d, indptr?, indices?, values?, rank, method, oversample, powerIters,
//               center, seed, device, threads, cancel})
//   -> Promise<{method, singularValues, explainedVariance, components, mean, projected, totalVariance}>
// The result arrays are handed over without a copy.
Napi::Value TruncatedSvd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  SvdParams p;
  p.rank = int_field(o, "rank", 0);
  p.method = str_field(o, "method", "auto");
  p.oversample = int_field(o, "oversample", 10);
  p.power_iters = int_field(o, "powerIters", 4);
  p.center = bool_field(o, "center");
  p.seed = static_cast<std::uint64_t>(int_field(o, "seed", 0));
  p.cuda = str_field(o, "device", "cpu") == "cuda";
  const i64 n = int_field(o, "n", 0), d = int_field(o, "d", 0);
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  const bool sparse = o.Get("indptr").IsTypedArray();
  const float* x = nullptr;
  auto csr = std::make_shared<CsrView>();
  auto indptr = std::make_shared<std::vector<std::int64_t>>();
  std::vector<Napi::Value> keep;
  if (sparse) {
    const std::int32_t* ip = array_field<std::int32_t>(o, "indptr", static_cast<std::size_t>(n + 1));
    indptr->assign(ip, ip + n + 1);
    const i64 nnz = indptr->back();
    if (nnz < 0) throw Napi::RangeError::New(env, "indptr[n] must be >= 0");
    csr->rows = n; csr->cols = d;
    csr->indptr = indptr->data();
    csr->indices = array_field<std::int32_t>(o, "indices", static_cast<std::size_t>(nnz));
    csr->values = array_field<float>(o, "values", static_cast<std::size_t>(nnz));
    keep = {o.Get("indices"), o.Get("values")};
  } else {
    x = array_field<float>(o, "x", static_cast<std::size_t>(n * d));
    keep = {o.Get("x")};
  }
  auto result = std::make_shared<SvdResult>();
  return AsyncJob::Start(
      env,
      [=](const CancelFlag& cancel) {
        *result = sparse ? truncated_svd_csr(*csr, p, threads, cancel) : truncated_svd(x, n, d, p, threads, cancel);
        (void)indptr;  // keeps the converted offsets alive for the job
      },
      std::move(keep), o.Get("cancel"),
      [result](Napi::Env e) {
        Napi::Object out = Napi::Object::New(e);
        out.Set("method", result->method);
        out.Set("singularValues", adopt_vector(e, std::move(result->singular_values)));
        out.Set("explainedVariance", adopt_vector(e, std::move(result->explained_variance)));
        out.Set("components", adopt_vector(e, std::move(result->components)));
        out.Set("projected", adopt_vector(e, std::move(result->projected)));
        if (!result->mean.empty()) {
          out.Set("mean", adopt_vector(e, std::move(result->mean)));
        } else {
          out.Set("mean", e.Null());
        }
        out.Set("totalVariance", result->total_variance);
        return out;
      });
}

}  // namespace semid::addon
