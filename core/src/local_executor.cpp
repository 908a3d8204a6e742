#include "tessera/core/local_executor.hpp"

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

// One execution of a set of tasks: dependency counts, a LIFO ready stack (depth-first, so
// memory stays near the working set), results freed after their last consumer.
class Execution final : public LocalExecutor::Inbox {
 public:
  Execution(const TaskGraph& graph, const std::vector<bool>& run_mask,
            std::span<const TaskId> targets, const LocalExecutor::Hooks& hooks,
            ExecutorStats& stats)
      : graph_(graph), run_(run_mask), hooks_(hooks), stats_(stats) {
    const index_t n = graph.num_tasks();
    results_.resize(static_cast<std::size_t>(n));
    missing_.assign(static_cast<std::size_t>(n), 0);
    consumers_left_.assign(static_cast<std::size_t>(n), 0);
    keep_.assign(static_cast<std::size_t>(n), false);
    for (TaskId t : targets) {
      // A target computed elsewhere is awaited like a task: it counts until delivered.
      if (!keep_[t] && !run_mask[t]) ++pending_;
      keep_[t] = true;
    }
    // Consumers of every task, as a flat CSR list, counting only tasks that run here.
    std::vector<index_t> counts(static_cast<std::size_t>(n) + 1, 0);
    for (TaskId t = 0; t < n; ++t) {
      if (!run_[t]) continue;
      ++pending_;
      for (TaskId d : graph.deps(t)) {
        ++counts[d + 1];
        ++missing_[t];
      }
    }
    for (TaskId t = 0; t < n; ++t)
      counts[t + 1] += counts[t];
    consumer_begin_ = counts;
    consumers_.resize(static_cast<std::size_t>(counts[n]));
    for (TaskId t = 0; t < n; ++t) {
      if (!run_[t]) continue;
      for (TaskId d : graph.deps(t))
        consumers_[counts[d]++] = t;
    }
    for (TaskId t = 0; t < n; ++t)
      consumers_left_[t] = consumer_begin_[t + 1] - consumer_begin_[t];
    for (TaskId t = n - 1; t >= 0; --t) {
      if (run_[t] && missing_[t] == 0) ready_.push_back(t);
    }
  }

  void deliver(TaskId id, Chunk chunk) override {
    std::lock_guard lock(mutex_);
    TESSERA_ASSERT(!run_[id], "a chunk computed here was delivered from elsewhere");
    if (keep_[id]) --pending_;
    publish(id, std::move(chunk));  // wakes the workers it gives work; the caller is the poller
  }

  std::vector<Chunk> run(int threads, std::span<const TaskId> targets) {
    std::vector<std::jthread> workers;
    workers.reserve(static_cast<std::size_t>(threads));
    for (int w = 0; w < threads; ++w)
      workers.emplace_back([this] { work(); });
    {
      std::unique_lock lock(mutex_);
      bool busy = false;
      while (pending_ > 0 && !error_) {
        if (!hooks_.poll) {
          main_cv_.wait(lock);
          continue;
        }
        // How soon to poll again. While every worker computes, nothing that arrives is urgent,
        // and each wake-up of this thread takes a core from a worker when a rank has as many
        // workers as cores: poll seldom (a finished chunk to send wakes this thread at once).
        // While a worker waits for chunks from elsewhere, poll often, and without pause while
        // messages are in flight (large messages progress only inside MPI calls).
        const bool starving = ready_.empty() && idle_ > 0;
        if (busy && starving) {
          lock.unlock();
          std::this_thread::yield();
        } else {
          if (!to_send_) {
            main_cv_.wait_for(
                lock, starving || busy ? hooks_.poll_interval : hooks_.poll_interval_computing);
          }
          to_send_ = false;
          lock.unlock();
        }
        try {
          busy = hooks_.poll(*this);
        } catch (...) {
          lock.lock();
          fail(std::current_exception());
          break;
        }
        lock.lock();
      }
      stop_ = true;
      cv_.notify_all();
    }
    workers.clear();  // joins
    if (error_) std::rethrow_exception(error_);
    std::vector<Chunk> out;
    out.reserve(targets.size());
    for (TaskId t : targets)
      out.push_back(results_[t]);
    return out;
  }

 private:
  void work() {
    std::vector<Chunk> inputs;
    std::unique_lock lock(mutex_);
    while (true) {
      if (!stop_ && ready_.empty()) {
        // Going idle: the poller polls more often while a worker waits.
        ++idle_;
        main_cv_.notify_one();
        cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
        --idle_;
      }
      if (stop_) return;
      const TaskId t = ready_.back();
      ready_.pop_back();
      inputs.clear();
      for (TaskId d : graph_.deps(t))
        inputs.push_back(results_[d]);
      lock.unlock();
      Chunk result;
      try {
        result = graph_.compute(t, inputs);
      } catch (...) {
        lock.lock();
        fail(std::current_exception());
        return;
      }
      inputs.clear();
      const bool exported =
          hooks_.on_done && hooks_.export_mask != nullptr && (*hooks_.export_mask)[t];
      if (exported) {
        try {
          hooks_.on_done(t, result);
        } catch (...) {
          lock.lock();
          fail(std::current_exception());
          return;
        }
      }
      lock.lock();
      ++stats_.tasks_run;
      --pending_;
      for (TaskId d : graph_.deps(t))
        release(d);
      publish(t, std::move(result));
      if (exported) to_send_ = true;
      if (pending_ == 0 || exported) main_cv_.notify_one();
    }
  }

  // Stores a finished (or delivered) chunk and wakes its consumers. Caller holds the mutex.
  void publish(TaskId t, Chunk chunk) {
    const bool needed = keep_[t] || consumers_left_[t] > 0;
    if (needed) {
      live_bytes_ += chunk.nbytes();
      ++live_chunks_;
      stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, live_bytes_);
      stats_.peak_live_chunks = std::max(stats_.peak_live_chunks, live_chunks_);
      results_[t] = std::move(chunk);
    }
    bool woke = false;
    for (index_t c = consumer_begin_[t]; c < consumer_begin_[t + 1]; ++c) {
      const TaskId consumer = consumers_[c];
      if (--missing_[consumer] == 0) {
        ready_.push_back(consumer);
        woke = true;
      }
    }
    if (woke) cv_.notify_all();
  }

  // A consumer of `t` finished: free t's chunk after its last consumer. Caller holds the mutex.
  void release(TaskId t) {
    if (--consumers_left_[t] == 0 && !keep_[t]) {
      live_bytes_ -= results_[t].nbytes();
      --live_chunks_;
      results_[t] = Chunk();
    }
  }

  void fail(std::exception_ptr e) {
    if (!error_) error_ = std::move(e);
    stop_ = true;
    cv_.notify_all();
    main_cv_.notify_one();
  }

  const TaskGraph& graph_;
  const std::vector<bool>& run_;
  const LocalExecutor::Hooks& hooks_;
  ExecutorStats& stats_;
  std::vector<Chunk> results_;
  std::vector<index_t> missing_;         // unfinished dependencies per task
  std::vector<index_t> consumers_left_;  // consumers that still need the result
  std::vector<index_t> consumer_begin_;
  std::vector<TaskId> consumers_;
  std::vector<bool> keep_;
  std::vector<TaskId> ready_;
  index_t pending_ = 0;
  index_t live_chunks_ = 0;
  std::size_t live_bytes_ = 0;
  int idle_ = 0;          // workers waiting for a ready task
  bool to_send_ = false;  // an exported chunk finished since the poller last looked
  bool stop_ = false;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable cv_;       // workers wait here
  std::condition_variable main_cv_;  // the calling thread (the poller) waits here
};

}  // namespace

int LocalExecutor::default_threads() {
  if (const char* env = std::getenv("TESSERA_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || n < 1 || n > 4096) {
      throw ValueError("TESSERA_THREADS must be a whole number from 1 to 4096, got '" +
                       std::string(env) + "'");
    }
    return static_cast<int>(n);
  }
  return std::max(1, static_cast<int>(allowed_cpus().size()));
}

std::vector<int> LocalExecutor::allowed_cpus() {
  std::vector<int> cpus;
#ifdef __linux__
  // The set's size must cover the kernel's CPU numbering: grow it until the call succeeds.
  for (int size = 1024; size <= (1 << 20) && cpus.empty(); size *= 2) {
    cpu_set_t* set = CPU_ALLOC(static_cast<std::size_t>(size));
    if (set == nullptr) break;
    const std::size_t bytes = CPU_ALLOC_SIZE(static_cast<std::size_t>(size));
    CPU_ZERO_S(bytes, set);
    if (sched_getaffinity(0, bytes, set) == 0) {
      for (int cpu = 0; cpu < size; ++cpu) {
        if (CPU_ISSET_S(static_cast<std::size_t>(cpu), bytes, set)) cpus.push_back(cpu);
      }
      CPU_FREE(set);
      break;
    }
    const bool too_small = errno == EINVAL;
    CPU_FREE(set);
    if (!too_small) break;
  }
#endif
  if (cpus.empty()) {
    for (unsigned cpu = 0; cpu < std::max(1U, std::thread::hardware_concurrency()); ++cpu)
      cpus.push_back(static_cast<int>(cpu));
  }
  return cpus;
}

LocalExecutor::LocalExecutor(int threads) : threads_(threads > 0 ? threads : default_threads()) {}

std::vector<Chunk> LocalExecutor::run(const TaskGraph& graph, std::span<const TaskId> targets) {
  const std::vector<bool> needed = graph.needed_for(targets);
  return run(graph, needed, targets, Hooks{});
}

std::vector<Chunk> LocalExecutor::run(const TaskGraph& graph, const std::vector<bool>& run_mask,
                                      std::span<const TaskId> targets, const Hooks& hooks) {
  TESSERA_ASSERT(static_cast<index_t>(run_mask.size()) == graph.num_tasks(), "run mask size");
  stats_ = ExecutorStats{};
  Execution execution(graph, run_mask, targets, hooks, stats_);
  return execution.run(threads_, targets);
}

}  // namespace tessera
