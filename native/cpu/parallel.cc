// Fork-join over a task range with dynamic scheduling (see semid/parallel.h), on a persistent
// pool of worker threads (started once, on first use) so that short parallel loops do not pay
// for thread creation. The calling thread always works on its own loop too, so a loop completes
// even when every pool thread is busy (nested or concurrent calls cannot deadlock).
//
// A caller whose own tasks are done polls for its helpers' last tasks (up to 2 ms) before it
// blocks: a thread woken from a block starts late on a VM (~0.07 ms after a short sleep, ~0.3 ms
// after 1 ms of idleness on this project's 2-core VM, often on the waker's own core). Idle workers
// block at once unless SEMID_SPIN_US (or set_spin_us) asks them to poll for new loops first, as
// OpenMP runtimes do (OMP_WAIT_POLICY, KMP_BLOCKTIME): opt-in, since it keeps cores busy.
#include "semid/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace semid {

namespace {

/** The hardware concurrency, read once (glibc reads it from /sys: microseconds a call). */
int hardware_threads() {
  static const int n = static_cast<int>(std::thread::hardware_concurrency());
  return n;
}

}  // namespace

int default_threads() {
  if (const char* env = std::getenv("SEMID_THREADS")) {
    int v = std::atoi(env);
    if (v > 0) return v;
  }
  const int hc = hardware_threads();
  return hc <= 0 ? 1 : hc;
}

int resolve_threads(int requested, i64 count) {
  int t = requested > 0 ? requested : default_threads();
  if (count < t) t = static_cast<int>(std::max<i64>(1, count));
  return t;
}

namespace {

constexpr std::int64_t kDefaultSpinUs = 0;
constexpr std::int64_t kMaxSpinUs = 1000000;
// A caller whose own tasks are done polls this long for its helpers' last tasks before it blocks.
constexpr std::int64_t kJoinSpinNs = 2000000;
std::atomic<std::int64_t> g_spin_ns{-1};  // -1: not read from SEMID_SPIN_US yet

/** How long an idle worker polls before it blocks, in ns (see spin_us()). */
std::int64_t spin_ns() {
  std::int64_t ns = g_spin_ns.load(std::memory_order_relaxed);
  if (ns >= 0) return ns;
  ns = kDefaultSpinUs * 1000;
  if (const char* env = std::getenv("SEMID_SPIN_US")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0) ns = std::min<std::int64_t>(v, kMaxSpinUs) * 1000;
  }
  std::int64_t unread = -1;
  g_spin_ns.compare_exchange_strong(unread, ns);  // a set_spin_us() that came first stands
  return g_spin_ns.load(std::memory_order_relaxed);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/** Polls ready() for up to `limit` ns, yielding the core now and then; true once it holds. */
template <class Ready>
bool spin_until(std::int64_t limit, Ready&& ready) {
  if (limit == 0) return ready();
  const auto start = std::chrono::steady_clock::now();
  for (unsigned i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 256 == 0) {  // every few microseconds: the clock, and room for other runnable threads
      if (std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count() > limit)
        return ready();
      std::this_thread::yield();
    }
  }
}

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
  // Helpers inside run(): raised before a helper claims its first task and lowered after its
  // last (sequentially consistent, as is the claim), so 0 after the caller's own run() means no
  // task is still running; changed under `mutex` so that a blocked caller is woken.
  std::atomic<int> active{0};
  // The exception of the lowest-numbered task that threw, whatever the thread count: tasks are
  // claimed in order, so every task below a failed one was claimed and runs to its end (a thread
  // stops claiming once `failed` is set), and the lowest failure is always among those seen.
  std::exception_ptr error;
  i64 error_task = INT64_MAX;

  void run(int worker) {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) break;
      const i64 task = next.fetch_add(1);
      if (task >= count) break;
      try {
        cancel->check();
        (*fn)(task, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (task < error_task) {
          error = std::current_exception();
          error_task = task;
        }
        failed.store(true);
        break;
      }
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
    const int cap = std::max(64, 2 * hardware_threads());
    helpers = std::min(helpers, cap);
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      grow(helpers);
      for (int h = 0; h < helpers; ++h) queue_.push_back(loop);
      queued_.store(static_cast<int>(queue_.size()));
      wake = sleepers_ > 0;  // spinning workers see queued_ without a wake-up
    }
    if (!wake) return;
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
      spin_until(spin_ns(), [this] { return queued_.load(std::memory_order_relaxed) > 0; });
      std::shared_ptr<Loop> loop;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleepers_;
        wake_.wait(lock, [this] { return !queue_.empty(); });
        --sleepers_;
        loop = std::move(queue_.front());
        queue_.pop_front();
        queued_.store(static_cast<int>(queue_.size()));
      }
      // Join only while tasks remain; a loop that is already done is skipped.
      if (loop->next.load() >= loop->count) continue;
      {
        std::lock_guard<std::mutex> lock(loop->mutex);
        loop->active.fetch_add(1);
      }
      loop->run(loop->worker_ids.fetch_add(1));
      {
        std::lock_guard<std::mutex> lock(loop->mutex);
        loop->active.fetch_sub(1);
      }
      loop->finished.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Loop>> queue_;
  std::atomic<int> queued_{0};  // queue_.size(), for spinning workers to poll without the mutex
  int sleepers_ = 0;            // workers blocked on wake_ (under mutex_)
  std::vector<std::thread> threads_;
};

}  // namespace

i64 spin_us() { return spin_ns() / 1000; }

void set_spin_us(i64 us) { g_spin_ns.store(std::min<i64>(std::max<i64>(us, 0), kMaxSpinUs) * 1000); }

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
  // Wait for the helpers that joined (spinning first: their last tasks are usually about to end);
  // late helpers see no task left and never touch fn.
  if (!spin_until(kJoinSpinNs, [&] { return loop->active.load() == 0; })) {
    std::unique_lock<std::mutex> lock(loop->mutex);
    loop->finished.wait(lock, [&] { return loop->active.load() == 0; });
  }
  if (loop->error) std::rethrow_exception(loop->error);
}

}  // namespace semid
