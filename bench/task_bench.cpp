// The fixed cost of a chunk task: building, lowering and executing (x * 2.0).sum() over an array
// of tiny 1 x 8 chunks, so that the work per task is negligible and the time measured is the
// graph machinery's own (TaskGraph lowering, LocalExecutor scheduling, chunk allocation).
// The peer of each figure is the same graph's cost split into lowering and execution, measured in
// the same run, which shows where the time goes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/graph.hpp"
#include "tessera/core/local_executor.hpp"

namespace tessera::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr index_t kChunkRows = 1;
constexpr index_t kChunkCols = 8;

// (x * 2.0).sum() over a grid of n x n chunks of 1 x 8 ones; its value is 16 n^2 exactly.
Array tiny_task_expression(index_t n) {
  const Array x = ones(Shape{n * kChunkRows, n * kChunkCols}, ChunkSpec{kChunkRows, kChunkCols});
  return (x * 2.0).sum();
}

struct Workload {
  index_t grid = 0;  // chunks per axis
  index_t tasks = 0;
  std::string error;
};

// The grid whose task count (graph_stats().tasks) is nearest `target_tasks`, found from the
// tasks per chunk of a small graph, then checked once by computing it.
const Workload& workload(index_t target_tasks) {
  static std::mutex mutex;
  static std::map<index_t, Workload> cache;
  const std::scoped_lock lock(mutex);
  auto it = cache.find(target_tasks);
  if (it != cache.end()) return it->second;

  Workload w;
  constexpr index_t kProbe = 64;
  const double per_chunk = static_cast<double>(tiny_task_expression(kProbe).graph_stats().tasks) /
                           static_cast<double>(kProbe * kProbe);
  w.grid =
      std::max<index_t>(1, std::llround(std::sqrt(static_cast<double>(target_tasks) / per_chunk)));
  const Array y = tiny_task_expression(w.grid);
  w.tasks = y.graph_stats().tasks;
  const double got = y.compute().value_at(0, 0);
  const double want = 16.0 * static_cast<double>(w.grid * w.grid);
  if (got != want) {
    w.error = "(x * 2.0).sum() = " + std::to_string(got) + ", expected " + std::to_string(want);
  }
  return cache.emplace(target_tasks, std::move(w)).first->second;
}

void report_tasks(benchmark::State& state, const Workload& w, double seconds) {
  const double tasks = static_cast<double>(state.iterations()) * static_cast<double>(w.tasks);
  state.SetItemsProcessed(static_cast<std::int64_t>(tasks));
  state.counters["tasks"] = static_cast<double>(w.tasks);
  state.counters["chunks"] = static_cast<double>(w.grid * w.grid);
  state.counters["us_per_task"] = seconds * 1e6 / tasks;
}

// What the target is about: expression building, lowering and execution, all timed.
void BM_TinyTasks(benchmark::State& state) {
  const Workload& w = workload(state.range(0));
  if (!w.error.empty()) {
    state.SkipWithError(w.error.c_str());
    return;
  }
  double seconds = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    {
      const Chunk result = tiny_task_expression(w.grid).compute();
      benchmark::DoNotOptimize(result.row<double>(0));
    }
    seconds += seconds_since(start);
  }
  report_tasks(state, w, seconds);
}

// The same work split in two, to show where the time of BM_TinyTasks goes: lowering the graph to
// tasks, and running the lowered graph on a LocalExecutor (constructed outside the timer).
void BM_TinyTasksSplit(benchmark::State& state) {
  const Workload& w = workload(state.range(0));
  if (!w.error.empty()) {
    state.SkipWithError(w.error.c_str());
    return;
  }
  LocalExecutor executor;
  double lower_seconds = 0;
  double run_seconds = 0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    const Array y = tiny_task_expression(w.grid);
    const NodePtr root = y.node();
    const TaskGraph graph = TaskGraph::lower(std::span<const NodePtr>(&root, 1));
    lower_seconds += seconds_since(start);

    start = Clock::now();
    const std::vector<TaskId> targets = graph.chunk_tasks(graph.node_id(*root));
    benchmark::DoNotOptimize(executor.run(graph, targets));
    run_seconds += seconds_since(start);
  }
  const double tasks = static_cast<double>(state.iterations()) * static_cast<double>(w.tasks);
  state.counters["tasks"] = static_cast<double>(w.tasks);
  state.counters["lower_us_per_task"] = lower_seconds * 1e6 / tasks;
  state.counters["run_us_per_task"] = run_seconds * 1e6 / tasks;
  state.counters["peak_live_chunks"] = static_cast<double>(executor.last_stats().peak_live_chunks);
}

// 10^5 tasks take tens of milliseconds, so that case runs more iterations per repetition.
void task_arguments(benchmark::internal::Benchmark* b, index_t target_tasks, int iterations) {
  b->ArgName("target_tasks")
      ->Arg(target_tasks)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true);
}

BENCHMARK(BM_TinyTasks)->Apply([](auto* b) { task_arguments(b, 100'000, 10); });
BENCHMARK(BM_TinyTasks)->Apply([](auto* b) { task_arguments(b, 1'000'000, 2); });
BENCHMARK(BM_TinyTasksSplit)->Apply([](auto* b) { task_arguments(b, 100'000, 10); });
BENCHMARK(BM_TinyTasksSplit)->Apply([](auto* b) { task_arguments(b, 1'000'000, 2); });

}  // namespace
}  // namespace tessera::bench
