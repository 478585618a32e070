// Device discovery for `semid doctor` and the loader.
#include <cstdlib>

#include "cuda_check.cuh"
#include "semid/cuda.h"

namespace semid {

namespace cuda {
void use_device() {
  int index = 0;
  if (const char* env = std::getenv("SEMID_CUDA_DEVICE")) index = std::atoi(env);
  SEMID_CUDA_CHECK(cudaSetDevice(index));
}
}  // namespace cuda

bool cuda_compiled() { return true; }

CudaStatus cuda_status() {
  CudaStatus s;
  s.compiled = true;
  cudaRuntimeGetVersion(&s.runtime_version);
  cudaDriverGetVersion(&s.driver_version);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    s.reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    return s;
  }
  s.device_count = count;
  if (count == 0) {
    s.reason = "the CUDA runtime found no device";
    return s;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    s.device.index = 0;
    s.device.name = prop.name;
    s.device.total_memory = prop.totalGlobalMem;
    s.device.sm_major = prop.major;
    s.device.sm_minor = prop.minor;
    s.device.multiprocessors = prop.multiProcessorCount;
    std::size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(0) == cudaSuccess && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
      s.device.free_memory = free_b;
    cudaGetLastError();
  }
  return s;
}

}  // namespace semid
