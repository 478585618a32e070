// Fork-join over a task range with dynamic scheduling (see semid/parallel.h), on a persistent
// pool of worker threads (started once, on first use) so that short parallel loops do not pay
// for thread creation. The calling thread always works on its own loop too, so a loop completes
// even when every pool thread is busy (nested or concurrent calls cannot deadlock).
#include "semid/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
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

namespace {

// One parallel loop: tasks are claimed from `next`; `active` counts the threads inside run().
struct Loop {
  i64 count = 0;
  const std::function<void(i64, int)>* fn = nullptr;
  const CancelFlag* cancel = nullptr;
  std::atomic<i64> next{0};
  std::atomic<int> worker_ids{1};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::condition_variable finished;
  int active = 0;
  std::exception_ptr error;

  void run(int worker) {
    try {
      for (;;) {
        if (failed.load(std::memory_order_relaxed)) break;
        const i64 task = next.fetch_add(1, std::memory_order_relaxed);
        if (task >= count) break;
        cancel->check();
        (*fn)(task, worker);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex);
      if (!error) error = std::current_exception();
      failed.store(true);
    }
  }
};

class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  /** Ask up to `helpers` pool threads to join `loop` (the pool holds at most
   * max(64, 2 x hardware threads); a loop asking for more runs on fewer). */
  void offer(const std::shared_ptr<Loop>& loop, int helpers) {
    const int cap = std::max(64, 2 * static_cast<int>(std::thread::hardware_concurrency()));
    helpers = std::min(helpers, cap);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      grow(helpers);
      for (int h = 0; h < helpers; ++h) queue_.push_back(loop);
    }
    if (helpers == 1) wake_.notify_one();
    else wake_.notify_all();
  }

 private:
  void grow(int wanted) {  // called with mutex_ held
    while (static_cast<int>(threads_.size()) < wanted) {
      threads_.emplace_back([this] { work(); });
      threads_.back().detach();
    }
  }

  void work() {
    for (;;) {
      std::shared_ptr<Loop> loop;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        loop = std::move(queue_.front());
        queue_.pop_front();
      }
      // Join only while tasks remain; a loop that is already done is skipped.
      if (loop->next.load(std::memory_order_relaxed) >= loop->count) continue;
      {
        std::lock_guard<std::mutex> lock(loop->mutex);
        ++loop->active;
      }
      loop->run(loop->worker_ids.fetch_add(1));
      {
        std::lock_guard<std::mutex> lock(loop->mutex);
        --loop->active;
      }
      loop->finished.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Loop>> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace

void parallel_for(i64 count, int threads, const CancelFlag& cancel,
                  const std::function<void(i64, int)>& fn) {
  if (count <= 0) return;
  const int t = resolve_threads(threads, count);
  if (t == 1) {
    for (i64 task = 0; task < count; ++task) {
      cancel.check();
      fn(task, 0);
    }
    return;
  }
  auto loop = std::make_shared<Loop>();
  loop->count = count;
  loop->fn = &fn;
  loop->cancel = &cancel;
  Pool::instance().offer(loop, t - 1);
  loop->run(0);
  {
    // Wait for the helpers that joined; late helpers see no task left and never touch fn.
    std::unique_lock<std::mutex> lock(loop->mutex);
    loop->finished.wait(lock, [&] { return loop->active == 0; });
  }
  if (loop->error) std::rethrow_exception(loop->error);
}

}  // namespace semid
