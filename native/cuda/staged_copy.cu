// Host-to-device copies of large pageable buffers through pinned staging: the driver's own path
// for pageable memory copies chunk by chunk on one thread (about 7 GB/s on an H100 host); here
// the pool's threads fill pinned 8 MiB chunks while the copy engine sends the previous one.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cuda_check.cuh"
#include "semid/parallel.h"

namespace semid::cuda {
namespace {

constexpr std::size_t kChunkBytes = std::size_t(8) << 20;  // per pinned slot
constexpr int kSlots = 2;                                   // one filling while one is sent
constexpr std::size_t kPieceBytes = std::size_t(1) << 20;   // per pool task when filling

/** Pinned slots, their events and a stream, per host thread and device. */
struct Staging {
  int device = -1;
  bool usable = false;
  void* slot[kSlots] = {};
  cudaEvent_t sent[kSlots] = {};
  cudaStream_t stream = nullptr;

  ~Staging() { release(); }
  void release() {  // errors ignored: this also runs at thread exit, perhaps after the runtime
    for (int s = 0; s < kSlots; ++s) {
      if (slot[s]) cudaFreeHost(slot[s]);
      if (sent[s]) cudaEventDestroy(sent[s]);
      slot[s] = nullptr;
      sent[s] = nullptr;
    }
    if (stream) cudaStreamDestroy(stream);
    stream = nullptr;
    usable = false;
    device = -1;
    cudaGetLastError();
  }
  /** Ready for `dev`, or false where pinned memory cannot be had (then plain copies are used). */
  bool ready(int dev) {
    if (device == dev) return usable;
    release();
    device = dev;
    // A blocking stream: it waits for work already queued on the legacy default stream and that
    // stream waits for it, so the copy keeps the ordering of a plain cudaMemcpy.
    bool ok = cudaStreamCreate(&stream) == cudaSuccess;
    for (int s = 0; ok && s < kSlots; ++s)
      ok = cudaHostAlloc(&slot[s], kChunkBytes, cudaHostAllocDefault) == cudaSuccess &&
           cudaEventCreateWithFlags(&sent[s], cudaEventDisableTiming) == cudaSuccess;
    if (!ok) {
      release();
      device = dev;
      return false;
    }
    usable = true;
    return true;
  }
};

}  // namespace

void upload_staged(void* device_dst, const void* host_src, std::size_t bytes) {
  if (bytes == 0) return;
  int dev = 0;
  SEMID_CUDA_CHECK(cudaGetDevice(&dev));
  thread_local Staging staging;
  const char* force = std::getenv("SEMID_CUDA_PAGEABLE_COPY");  // =1: the driver's path (an A/B switch)
  if (bytes < kStagedMinBytes || (force && *force && *force != '0') || !staging.ready(dev)) {
    SEMID_CUDA_CHECK(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice));
    return;
  }
  auto* dst = static_cast<unsigned char*>(device_dst);
  const auto* src = static_cast<const unsigned char*>(host_src);
  std::size_t chunk = 0;
  for (std::size_t off = 0; off < bytes; off += kChunkBytes, ++chunk) {
    const int s = int(chunk % kSlots);
    const std::size_t len = std::min(kChunkBytes, bytes - off);
    // The slot is free once its last copy is done (also one from an earlier call that threw
    // part-way; an event never recorded returns at once).
    SEMID_CUDA_CHECK(cudaEventSynchronize(staging.sent[s]));
    auto* pinned = static_cast<unsigned char*>(staging.slot[s]);
    const i64 pieces = i64((len + kPieceBytes - 1) / kPieceBytes);
    parallel_for(pieces, resolve_threads(0, pieces), CancelFlag{}, [&](i64 p, int) {
      const std::size_t begin = std::size_t(p) * kPieceBytes, end = std::min(len, begin + kPieceBytes);
      std::memcpy(pinned + begin, src + off + begin, end - begin);
    });
    SEMID_CUDA_CHECK(cudaMemcpyAsync(dst + off, pinned, len, cudaMemcpyHostToDevice, staging.stream));
    SEMID_CUDA_CHECK(cudaEventRecord(staging.sent[s], staging.stream));
  }
  SEMID_CUDA_CHECK(cudaStreamSynchronize(staging.stream));
}

}  // namespace semid::cuda
