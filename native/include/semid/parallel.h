// A small fork-join helper: runs `fn(task, worker)` for task in [0, count) on up to `threads`
// threads with dynamic scheduling. Results never depend on the thread count as long as each task
// writes only its own outputs. The first exception thrown by a task is rethrown on the caller.
#pragma once
#include <functional>

#include "semid/common.h"

namespace semid {

/** Threads to use when the caller passes 0: the hardware concurrency (at least 1). */
int default_threads();

/** Clamp a requested thread count: 0 means default_threads(); never more than `count` tasks. */
int resolve_threads(int requested, i64 count);

/**
 * Run fn(task, worker) for every task in [0, count). `worker` is in [0, threads) and lets a task
 * use per-worker scratch space. Polls `cancel` before each task.
 */
void parallel_for(i64 count, int threads, const CancelFlag& cancel,
                  const std::function<void(i64 task, int worker)>& fn);

}  // namespace semid
