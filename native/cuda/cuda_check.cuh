// CUDA error handling and device memory for the launchers: every failure becomes a semid::Error
// (code ERR_SEMID_CUDA) that the N-API glue turns into a JS Error; nothing aborts the process.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "semid/common.h"

namespace semid::cuda {

inline void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky non-fatal error so the next call starts clean
  throw Error("ERR_SEMID_CUDA", std::string("CUDA error ") + cudaGetErrorName(status) + " (" +
                                    cudaGetErrorString(status) + ") in " + what + " at " + file +
                                    ":" + std::to_string(line));
}

#define SEMID_CUDA_CHECK(expr) ::semid::cuda::check((expr), #expr, __FILE__, __LINE__)
#define SEMID_CUDA_LAUNCH_CHECK() SEMID_CUDA_CHECK(cudaGetLastError())

/** Copies of at least this many bytes go through upload_staged's pinned chunks. */
constexpr std::size_t kStagedMinBytes = std::size_t(4) << 20;

/**
 * Host-to-device copy of `bytes` from pageable host memory, ordered like cudaMemcpy (after the
 * work already queued on the default stream; returns once the data is on the device). From
 * kStagedMinBytes on, the pool's threads fill pinned chunks while the copy engine sends the
 * previous one; below it, or where pinned memory cannot be allocated, a plain cudaMemcpy.
 */
void upload_staged(void* device_dst, const void* host_src, std::size_t bytes);

/** An owning device allocation of `count` elements of T. */
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void resize(std::size_t count) {
    release();
    if (count == 0) return;
    SEMID_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)));
    count_ = count;
  }
  void upload(const T* host, std::size_t count) {
    if (count) upload_staged(ptr_, host, count * sizeof(T));
  }
  void download(T* host, std::size_t count) const {
    if (count) SEMID_CUDA_CHECK(cudaMemcpy(host, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  T* get() const { return ptr_; }
  std::size_t size() const { return count_; }

 private:
  void release() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t count_ = 0;
};

/** Select the device the launchers use (SEMID_CUDA_DEVICE, default 0) on the calling thread. */
void use_device();

}  // namespace semid::cuda
