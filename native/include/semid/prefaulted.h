// An allocator for large result buffers (the SVD's projected rows: 62,138 x 256 floats is 64 MiB).
// Linux: the pages are mapped anonymously and faulted in by every core at once (MADV_POPULATE_WRITE
// over 4 MiB slices in parallel, touching each page where the kernel lacks it) instead of one page
// fault per 4 KiB on first touch by whichever thread writes first. Measured here for 64 MiB: 23 ms
// on 2 cores, against 35-46 ms for MAP_POPULATE and ~68 ms for first-touch faults.
// Memory comes back zeroed (anonymous pages, or calloc for small buffers and other systems), and
// elements constructed without a value are left as they are: resize(n) of an empty vector gives n
// zeros without a second pass over the buffer (growing within an old capacity keeps what was
// there). The faulting uses every core whatever thread count the caller runs with.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

#include "semid/parallel.h"

#if defined(__linux__)
#include <sys/mman.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif
#endif

namespace semid {

template <typename T>
struct PrefaultedAllocator {
  using value_type = T;
  static constexpr std::size_t kMinBytes = std::size_t(8) << 20;  // below this, calloc

  PrefaultedAllocator() = default;
  template <typename U>
  PrefaultedAllocator(const PrefaultedAllocator<U>&) {}

  T* allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
#if defined(__linux__)
    if (bytes >= kMinBytes) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      populate(static_cast<char*>(p), bytes);
      return static_cast<T*>(p);
    }
#endif
    void* p = std::calloc(std::max<std::size_t>(1, count), sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t count) {
#if defined(__linux__)
    if (count * sizeof(T) >= kMinBytes) {
      munmap(p, count * sizeof(T));
      return;
    }
#endif
    std::free(p);
  }

  /** Default-initialise (no write: the memory is already zero); construct from arguments as usual. */
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  template <typename U>
  bool operator==(const PrefaultedAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const PrefaultedAllocator<U>&) const { return false; }

 private:
#if defined(__linux__)
  static void populate(char* p, std::size_t bytes) {
    constexpr std::size_t kSlice = std::size_t(4) << 20, kPage = 4096;
    const i64 slices = i64((bytes + kSlice - 1) / kSlice);
    parallel_for(slices, resolve_threads(0, slices), CancelFlag{}, [&](i64 s, int) {
      char* lo = p + std::size_t(s) * kSlice;
      const std::size_t len = std::min(kSlice, bytes - std::size_t(s) * kSlice);
      if (madvise(lo, len, MADV_POPULATE_WRITE) == 0) return;
      for (std::size_t o = 0; o < len; o += kPage) lo[o] = 0;  // older kernels: touch each page
    });
  }
#endif
};

}  // namespace semid
