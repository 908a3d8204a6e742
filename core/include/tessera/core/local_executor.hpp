// LocalExecutor runs the chunk tasks of a TaskGraph on a pool of threads. A chunk is freed as soon
// as its last consumer has run, and newly ready tasks run first (depth-first), so memory stays near
// the working set rather than the whole graph. Results never depend on the thread count: every
// task's computation is fixed by the graph.
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <vector>

#include "tessera/core/graph.hpp"

namespace tessera {

struct ExecutorStats {
  index_t tasks_run = 0;
  index_t peak_live_chunks = 0;
  std::size_t peak_live_bytes = 0;
};

class LocalExecutor {
 public:
  // threads <= 0: TESSERA_THREADS from the environment, else the CPUs this process may run on.
  explicit LocalExecutor(int threads = 0);
  [[nodiscard]] int threads() const { return threads_; }

  // Runs every task `targets` need and returns the targets' chunks in order.
  std::vector<Chunk> run(const TaskGraph& graph, std::span<const TaskId> targets);

  // The general form, used by the distributed executor. Runs the tasks marked in `run_mask`;
  // a dependency outside the mask must be handed in with Inbox::deliver. `poll` is called on the
  // calling thread while tasks are pending: the place to drive communication and deliver arrived
  // chunks. It runs at once after a task marked in `export_mask` finishes (`on_done` has been
  // called with it, from the worker), at least every `poll_interval` while a worker waits for
  // work or `poll` returned true (e.g. messages in flight), without pause when both hold, and
  // every `poll_interval_computing` while all workers compute. Results of `targets` are returned
  // in order.
  class Inbox {
   public:
    virtual ~Inbox() = default;
    virtual void deliver(TaskId id, Chunk chunk) = 0;
  };
  struct Hooks {
    std::function<bool(Inbox&)> poll;
    std::function<void(TaskId, const Chunk&)> on_done;
    const std::vector<bool>* export_mask = nullptr;
    std::chrono::microseconds poll_interval{200};
    std::chrono::microseconds poll_interval_computing{2000};
  };
  std::vector<Chunk> run(const TaskGraph& graph, const std::vector<bool>& run_mask,
                         std::span<const TaskId> targets, const Hooks& hooks);

  [[nodiscard]] const ExecutorStats& last_stats() const { return stats_; }

  // TESSERA_THREADS, or the number of allowed_cpus(): a process that a launcher (mpirun, srun,
  // taskset) bound to one core starts one thread, not one per core of the machine.
  static int default_threads();
  // The CPUs this process may run on (sched_getaffinity of the calling thread), ascending; every
  // CPU of std::thread::hardware_concurrency() where affinity is unknown.
  static std::vector<int> allowed_cpus();

 private:
  int threads_;
  ExecutorStats stats_;
};

}  // namespace tessera
