// A small fork-join helper: runs `fn(task, worker)` for task in [0, count) on up to `threads`
// threads with dynamic scheduling. Results never depend on the thread count as long as each task
// writes only its own outputs. The exception of the lowest-numbered task that throws is rethrown on
// the caller (the same one at any thread count; later tasks are then skipped).
#pragma once
#include <functional>

#include "semid/common.h"

namespace semid {

/** Threads to use when the caller passes 0: the hardware concurrency (at least 1). */
int default_threads();

/** Clamp a requested thread count: 0 means default_threads(); never more than `count` tasks. */
int resolve_threads(int requested, i64 count);

/**
 * How long, in microseconds, an idle pool thread polls for a new loop before it blocks:
 * SEMID_SPIN_US as read when first needed (0 to 1,000,000), else 0. A blocked thread starts
 * tens to hundreds of microseconds late when woken (on a VM, often on the waker's own core), so
 * sub-millisecond loops that come back to back gain from polling, at the cost of busy cores for
 * that long after each loop. (A caller waiting for its helpers' last tasks always polls first.)
 */
i64 spin_us();

/** Sets spin_us() for the loops that follow (clamped to [0, 1,000,000]). */
void set_spin_us(i64 us);

/**
 * Run fn(task, worker) for every task in [0, count). `worker` is in [0, threads) and lets a task
 * use per-worker scratch space. Polls `cancel` before each task.
 */
void parallel_for(i64 count, int threads, const CancelFlag& cancel,
                  const std::function<void(i64 task, int worker)>& fn);

}  // namespace semid
