// Fork-join over a task range with dynamic scheduling (see semid/parallel.h).
#include "semid/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace semid {

int default_threads() {
  if (const char* env = std::getenv("SEMID_THREADS")) {
    int v = std::atoi(env);
    if (v > 0) return v;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

int resolve_threads(int requested, i64 count) {
  int t = requested > 0 ? requested : default_threads();
  if (count < t) t = static_cast<int>(std::max<i64>(1, count));
  return t;
}

void parallel_for(i64 count, int threads, const CancelFlag& cancel,
                  const std::function<void(i64, int)>& fn) {
  if (count <= 0) return;
  int t = resolve_threads(threads, count);
  std::atomic<i64> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto body = [&](int worker) {
    try {
      for (;;) {
        if (failed.load(std::memory_order_relaxed)) return;
        i64 task = next.fetch_add(1, std::memory_order_relaxed);
        if (task >= count) return;
        cancel.check();
        fn(task, worker);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  };
  if (t == 1) {
    body(0);
  } else {
    std::vector<std::thread> pool;
    pool.reserve(t - 1);
    for (int w = 1; w < t; ++w) pool.emplace_back(body, w);
    body(0);
    for (auto& th : pool) th.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace semid
