// Stands in for native/cuda in builds without CUDA: reports why and refuses to run.
#include "semid/cuda.h"

namespace semid {

bool cuda_compiled() { return false; }

CudaStatus cuda_status() {
  CudaStatus s;
  s.reason = "this addon was built without CUDA (no nvcc at build time); run `npm run build:cuda`";
  return s;
}

static void no_cuda() {
  throw Error("ERR_SEMID_NO_CUDA",
              "The CUDA backend is not available: this addon was built without CUDA");
}
void gemm_cuda(const GemmArgs&, const CancelFlag&) { no_cuda(); }
void nearest_cuda(const NearestArgs&, const CancelFlag&) { no_cuda(); }
void nearest_cuda_device(const NearestArgs&, const CancelFlag&) { no_cuda(); }

}  // namespace semid

#include "semid/kmeans.h"
namespace semid {
std::unique_ptr<KMeansBackend> make_cuda_kmeans_backend(const CancelFlag&) {
  throw Error("ERR_SEMID_NO_CUDA", "The CUDA backend is not available: this addon was built without CUDA");
}
}  // namespace semid

#include "semid/beam.h"
namespace semid {
void beam_step_cuda(const TrieView&, const BeamStepArgs&, const CancelFlag&) {
  throw Error("ERR_SEMID_NO_CUDA", "The CUDA backend is not available: this addon was built without CUDA");
}
void beam_step_cuda_device(const TrieView&, const BeamStepArgs&, const CancelFlag&) {
  throw Error("ERR_SEMID_NO_CUDA", "The CUDA backend is not available: this addon was built without CUDA");
}
}  // namespace semid

#include "semid/svd_range.h"
namespace semid {
std::unique_ptr<RangeBackend> make_cuda_range_backend(const float*, bool, i64, i64, const double*, float*, const CancelFlag&) {
  throw Error("ERR_SEMID_NO_CUDA", "The CUDA backend is not available: this addon was built without CUDA");
}
void cuda_column_stats(const float*, i64, i64, std::vector<double>&, double&) {
  throw Error("ERR_SEMID_NO_CUDA", "The CUDA backend is not available: this addon was built without CUDA");
}
}  // namespace semid
