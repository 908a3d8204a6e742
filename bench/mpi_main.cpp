// Entry point of tessera_bench_mpi: every rank runs every benchmark (each one is collective), but
// only rank 0 reports; the other ranks hand their results to a reporter that drops them. The
// benchmarks fix their iteration counts, because Google Benchmark's own choice (MinTime) depends on
// each rank's clock and ranks that run different iteration counts would wait for each other in
// a collective forever.
#include <benchmark/benchmark.h>
#include <sched.h>

#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mpi_bench.hpp"

namespace tessera::bench {
namespace {

std::optional<Context>& storage() {
  static std::optional<Context> ctx;
  return ctx;
}

// The three load averages, "0.12 0.30 0.25": other work on the machine skews every figure.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

// The CPUs this process may run on: Open MPI binds each rank to one core by default (even a
// single rank), which the figures depend on.
int cpus_allowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
  return CPU_COUNT(&set);
}

// Runs the benchmarks without printing anything: the reporter of ranks other than 0.
class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context& /*context*/) override { return true; }
  void ReportRuns(const std::vector<Run>& /*runs*/) override {}
};

}  // namespace

Context& context() {
  return *storage();
}

}  // namespace tessera::bench

int main(int argc, char** argv) {
  auto& ctx = tessera::bench::storage();
  ctx.emplace();
  const int rank = ctx->rank();
  // Only rank 0 may open --benchmark_out: another rank opening it would truncate rank 0's output.
  std::vector<char*> args(argv, argv + argc);
  if (rank != 0) {
    std::erase_if(
        args, [](const char* arg) { return std::string_view(arg).starts_with("--benchmark_out"); });
  }
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  benchmark::AddCustomContext("tessera_ranks", std::to_string(ctx->size()));
  benchmark::AddCustomContext("tessera_threads_per_rank", std::to_string(ctx->threads()));
  benchmark::AddCustomContext("cpus_allowed_rank0", std::to_string(tessera::bench::cpus_allowed()));
  benchmark::AddCustomContext("load_average_before", tessera::bench::load_average());
  try {
    if (rank == 0) {
      benchmark::RunSpecifiedBenchmarks();
    } else {
      tessera::bench::NullReporter silent;
      benchmark::RunSpecifiedBenchmarks(&silent);
    }
  } catch (const std::exception& e) {
    // Collectives fail on every rank or on none, so every rank gets here; abort rather than
    // leave a rank waiting if one did not.
    ctx->comm().abort("tessera_bench_mpi: rank " + std::to_string(rank) + ": " + e.what());
  }
  benchmark::Shutdown();
  if (rank == 0)
    std::cerr << "load average after the run: " << tessera::bench::load_average() << '\n';
  ctx.reset();
  return 0;
}
