// Entry point of tessera_bench: Google Benchmark's main plus the context a reader needs to judge
// the figures on a shared machine (executor threads, load average before and after the run).
#include <benchmark/benchmark.h>

#include <fstream>
#include <iostream>
#include <string>

#include "tessera/core/local_executor.hpp"

namespace {

// The three load averages, "0.12 0.30 0.25": other work on the machine skews every figure.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("tessera_executor_threads",
                              std::to_string(tessera::LocalExecutor::default_threads()));
  benchmark::AddCustomContext("load_average_before", load_average());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::cerr << "load average after the run: " << load_average() << '\n';
  return 0;
}
