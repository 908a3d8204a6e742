// The coordinator's planning cost at scale: x * 2.0 over a random array cut into 2^20 tiny chunks,
// and its row sums, planned for 1024 simulated ranks in this one process (no MPI). The benchmark's
// time is make_plans alone (the target: under 1 s); counters give the other steps of the
// coordinator's work on the same graph in the same iterations: lowering the expression to tasks
// (every rank does this), place_tasks (the first step inside make_plans), and serializing the 1024
// plans and, once, the part every rank shares (the outputs' owners), which Context::compute does
// next when it scatters the plans (and, for persist, broadcasts the owners).
#include <benchmark/benchmark.h>

#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/graph.hpp"
#include "tessera/distributed/planner.hpp"

namespace tessera::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// 4096 x 256 chunks of 1 x 8: 1,048,576 chunks, four chunk-rows per rank at 1024 ranks.
constexpr Shape kShape{4096, 2048};
constexpr index_t kChunkRows = 1;
constexpr index_t kChunkCols = 8;
constexpr int kRanks = 1024;

// What is planned (range(0)): the row sums (4096 output chunks), or the whole element-wise array
// (2^20 output chunks, as persist() would plan it).
enum class Output : std::uint8_t { row_sums, elementwise };

Array planned_expression(Output output) {
  const Array y = random(kShape, ChunkSpec{kChunkRows, kChunkCols}, 20261125) * 2.0;
  return output == Output::row_sums ? y.sum(1) : y;
}

// range(1): the delivery of the outputs (Delivery's value): all ranks (compute), or in place
// (persist).
void BM_PlanMillionChunks(benchmark::State& state) {
  const auto output = static_cast<Output>(state.range(0));
  const auto delivery = static_cast<Delivery>(state.range(1));
  double lower_seconds = 0;
  double place_seconds = 0;
  double plan_seconds = 0;
  double serialize_seconds = 0;
  index_t tasks = 0;
  std::size_t outputs_count = 0;
  std::size_t transfers = 0;
  std::size_t plan_bytes = 0;
  std::size_t shared_bytes = 0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    const Array y = planned_expression(output);
    const NodePtr root = y.node();
    const TaskGraph graph = TaskGraph::lower(std::span<const NodePtr>(&root, 1));
    lower_seconds += seconds_since(start);
    const std::vector<TaskId> outputs = graph.chunk_tasks(graph.node_id(*root));
    tasks = graph.num_tasks();
    outputs_count = outputs.size();

    start = Clock::now();
    benchmark::DoNotOptimize(place_tasks(graph, outputs, kRanks));
    place_seconds += seconds_since(start);

    start = Clock::now();
    const PlanSet planned = make_plans(graph, {outputs, kRanks, delivery, 0});
    const double seconds = seconds_since(start);
    state.SetIterationTime(seconds);
    plan_seconds += seconds;

    start = Clock::now();
    plan_bytes = 0;
    transfers = 0;
    for (const Plan& plan : planned.plans) {
      std::ostringstream out;
      boost::archive::binary_oarchive archive(out);
      archive << plan;
      plan_bytes += out.view().size();
      transfers += plan.sends.size();
    }
    {
      std::ostringstream out;
      boost::archive::binary_oarchive archive(out);
      archive << planned.output_owners;
      shared_bytes = out.view().size();
    }
    serialize_seconds += seconds_since(start);
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["chunks"] = static_cast<double>(kShape.size() / (kChunkRows * kChunkCols));
  state.counters["tasks"] = static_cast<double>(tasks);
  state.counters["outputs"] = static_cast<double>(outputs_count);
  state.counters["transfers"] = static_cast<double>(transfers);
  state.counters["lower_ms"] = lower_seconds * 1e3 / iterations;
  state.counters["place_ms"] = place_seconds * 1e3 / iterations;
  state.counters["plan_ms"] = plan_seconds * 1e3 / iterations;
  state.counters["serialize_ms"] = serialize_seconds * 1e3 / iterations;
  // The figure: what the coordinator spends before the plans leave it.
  state.counters["plan_serialize_ms"] = (plan_seconds + serialize_seconds) * 1e3 / iterations;
  state.counters["plans_bytes"] = benchmark::Counter(
      static_cast<double>(plan_bytes), benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
  state.counters["shared_bytes"] =
      benchmark::Counter(static_cast<double>(shared_bytes), benchmark::Counter::kDefaults,
                         benchmark::Counter::kIs1024);
}

void plan_arguments(benchmark::internal::Benchmark* b, Output output, Delivery delivery,
                    int iterations, int repetitions) {
  b->ArgNames({"output", "delivery"})
      ->Args({static_cast<int>(output), static_cast<int>(delivery)})
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations)
      ->Repetitions(repetitions)
      ->ReportAggregatesOnly(true);
}

// compute(y.sum(1)) and persist(y.sum(1)).
BENCHMARK(BM_PlanMillionChunks)->Apply([](auto* b) {
  plan_arguments(b, Output::row_sums, Delivery::all, 2, 3);
});
BENCHMARK(BM_PlanMillionChunks)->Apply([](auto* b) {
  plan_arguments(b, Output::row_sums, Delivery::in_place, 2, 3);
});
// persist(y): 2^20 outputs, whose owners are shipped once rather than in each of the 1024 plans.
BENCHMARK(BM_PlanMillionChunks)->Apply([](auto* b) {
  plan_arguments(b, Output::elementwise, Delivery::in_place, 2, 3);
});

}  // namespace
}  // namespace tessera::bench
