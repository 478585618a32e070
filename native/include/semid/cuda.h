// The CUDA backend's host API. Every function exists in every build: without CUDA support
// compiled in, cuda_compiled() is false and the kernels throw ERR_SEMID_NO_CUDA.
// Pointers are host pointers; the launchers copy to and from the device.
#pragma once
#include <string>

#include "semid/common.h"
#include "semid/gemm.h"
#include "semid/nearest.h"

namespace semid {

struct CudaDeviceInfo {
  int index = -1;
  std::string name;
  std::size_t total_memory = 0;  // bytes
  std::size_t free_memory = 0;   // bytes
  int sm_major = 0, sm_minor = 0, multiprocessors = 0;
};

struct CudaStatus {
  bool compiled = false;   // this build contains CUDA kernels
  int device_count = 0;    // devices the runtime sees
  int runtime_version = 0; // e.g. 13000
  int driver_version = 0;
  std::string reason;      // why no device is usable, when device_count == 0
  CudaDeviceInfo device;   // device 0 when device_count > 0
};

bool cuda_compiled();
CudaStatus cuda_status();

void gemm_cuda(const GemmArgs& args, const CancelFlag& cancel);
void nearest_cuda(const NearestArgs& args, const CancelFlag& cancel);

/** As nearest_cuda, but every pointer in `args` is device memory (nothing is copied). */
void nearest_cuda_device(const NearestArgs& args, const CancelFlag& cancel);

}  // namespace semid
