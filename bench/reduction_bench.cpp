// Row- and column-sums of a 16384 x 8192 float64 array (1 GiB), already in memory and generated,
// each beside a hand-written peer loop measured in the same run (STYLE convention 10): a plain
// multi-threaded sum over the same buffer (the memory-bandwidth ceiling) for the in-memory case,
// and a fused Philox generate-and-sum loop (the generator ceiling) for the generated case.
//
// Each iteration times the Tessera reduction and then, with the benchmark timer paused, one pass
// of the peer loop, so that the ratio counters compare two figures taken under the same load on a
// machine shared with other work.
#include <benchmark/benchmark.h>

#include <Random123/philox.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/local_executor.hpp"

namespace tessera::bench {
namespace {

constexpr index_t kRows = 16384;
constexpr index_t kCols = 8192;
constexpr Shape kShape{kRows, kCols};
constexpr index_t kElements = kRows * kCols;
constexpr index_t kBytes = kElements * static_cast<index_t>(sizeof(double));  // 1 GiB
constexpr std::uint64_t kSeed = 20261125;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int executor_threads() {
  static const int threads = LocalExecutor::default_threads();
  return threads;
}

// Splits [0, n) into `threads` contiguous ranges (multiples of 8 except the last) and runs
// body(t, begin, end) for each on its own std::thread, as a thread pool would.
template <typename Body>
void for_each_range(index_t n, int threads, const Body& body) {
  const index_t per_thread = (n / threads + 7) / 8 * 8;
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    const index_t begin = std::min(n, t * per_thread);
    const index_t end = t + 1 == threads ? n : std::min(n, begin + per_thread);
    pool.emplace_back([&body, t, begin, end] { body(t, begin, end); });
  }
  for (std::thread& thread : pool)
    thread.join();
}

// Eight independent accumulators, so the loop is bound by memory, not by the latency of one
// chain of additions (the compiler may not reorder floating-point sums on its own).
double sum_range(const double* values, index_t n) {
  double acc[8] = {};
  index_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k)
      acc[k] += values[i + k];
  }
  for (; i < n; ++i)
    acc[0] += values[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// The memory-bandwidth peer: reads every byte of `values` once on the executor's thread count.
double bandwidth_pass(const double* values, index_t n) {
  std::vector<double> partial(static_cast<std::size_t>(executor_threads()));
  for_each_range(n, executor_threads(), [&](int t, index_t begin, index_t end) {
    partial[static_cast<std::size_t>(t)] = sum_range(values + begin, end - begin);
  });
  double total = 0;
  for (double p : partial)
    total += p;
  return total;
}

// Philox4x32-10 keyed by the seed, counter = pair index of the global row-major position: elements
// `even` and `even + 1` with 53 random bits each, as random() defines them (BM_PhiloxLoop checks
// this against random_value).
r123::Philox4x32::key_type philox_key(std::uint64_t seed) {
  return {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
}

inline void philox_pair(const r123::Philox4x32& rng, const r123::Philox4x32::key_type& key,
                        index_t even, double* out) {
  const auto pair = static_cast<std::uint64_t>(even) / 2;
  const r123::Philox4x32::ctr_type ctr = {
      {static_cast<std::uint32_t>(pair), static_cast<std::uint32_t>(pair >> 32), 0, 0}};
  const r123::Philox4x32::ctr_type bits = rng(ctr, key);
  const std::uint64_t lo = (std::uint64_t{bits[1]} << 32) | bits[0];
  const std::uint64_t hi = (std::uint64_t{bits[3]} << 32) | bits[2];
  out[0] = static_cast<double>(lo >> 11) * 0x1p-53;
  out[1] = static_cast<double>(hi >> 11) * 0x1p-53;
}

// The generator peer: the same values as random(), generated in L1-sized blocks and summed on the
// executor's thread count, never materialized.
double philox_pass(std::uint64_t seed, index_t n) {
  std::vector<double> partial(static_cast<std::size_t>(executor_threads()));
  for_each_range(n, executor_threads(), [&](int t, index_t begin, index_t end) {
    const r123::Philox4x32 rng;
    const r123::Philox4x32::key_type key = philox_key(seed);
    constexpr index_t kBlock = 2048;
    double block[kBlock];
    double total = 0;
    for (index_t b = begin; b < end; b += kBlock) {
      const index_t len = std::min(kBlock, end - b);
      for (index_t i = 0; i < len; i += 2)
        philox_pair(rng, key, b + i, block + i);
      total += sum_range(block, len);
    }
    partial[static_cast<std::size_t>(t)] = total;
  });
  double total = 0;
  for (double p : partial)
    total += p;
  return total;
}

// Exact in float64 whatever the summation order (multiples of 1/4 below 2^22), so the check
// below can demand bitwise equality from any reduction tree.
double test_value(index_t i) {
  return static_cast<double>(i % 1021) * 0.25;
}

// The 1 GiB in-memory array, built once, page-faulted in, shared by every benchmark here.
const Chunk& in_memory_data() {
  static const Chunk data = [] {
    Chunk chunk = Chunk::dense(DType::float64, kShape);
    double* values = chunk.mutable_row<double>(0);
    for_each_range(kElements, executor_threads(), [values](int, index_t begin, index_t end) {
      for (index_t i = begin; i < end; ++i)
        values[i] = test_value(i);
    });
    return chunk;
  }();
  return data;
}

const double* in_memory_values() {
  return in_memory_data().row<double>(0);
}

// Compares a Tessera reduction of the in-memory array with a reference computed here; returns an
// error text, empty when every element matches exactly.
std::string check_in_memory_sum(const Array& x, int axis) {
  const Chunk got = x.sum(axis).compute();
  const Shape want_shape = axis == 0 ? Shape{1, kCols} : Shape{kRows, 1};
  if (got.shape() != want_shape) return "sum(" + std::to_string(axis) + ") has the wrong shape";
  std::vector<double> want(static_cast<std::size_t>(axis == 0 ? kCols : kRows), 0.0);
  const double* values = in_memory_values();
  for (index_t r = 0; r < kRows; ++r) {
    for (index_t c = 0; c < kCols; ++c) {
      want[static_cast<std::size_t>(axis == 0 ? c : r)] += values[r * kCols + c];
    }
  }
  for (index_t k = 0; k < static_cast<index_t>(want.size()); ++k) {
    const double value = axis == 0 ? got.value_at(0, k) : got.value_at(k, 0);
    if (value != want[static_cast<std::size_t>(k)]) {
      return "sum(" + std::to_string(axis) + ")[" + std::to_string(k) +
             "] = " + std::to_string(value) + ", expected " +
             std::to_string(want[static_cast<std::size_t>(k)]);
    }
  }
  return {};
}

// check_in_memory_sum once per (axis, chunk rows), not once per repetition.
const std::string& checked_in_memory_sum(int axis, index_t chunk_rows) {
  static std::mutex mutex;
  static std::map<std::pair<int, index_t>, std::string> errors;
  const std::scoped_lock lock(mutex);
  const auto key = std::make_pair(axis, chunk_rows);
  auto it = errors.find(key);
  if (it == errors.end()) {
    const Array x = from_chunk(in_memory_data(), ChunkSpec{chunk_rows, kCols});
    it = errors.emplace(key, check_in_memory_sum(x, axis)).first;
  }
  return it->second;
}

// Element 0 of random(kShape, …, kSeed).sum(axis), from random_value: an independent reference.
double generated_sum_reference(int axis) {
  double total = 0;
  const index_t n = axis == 0 ? kRows : kCols;
  for (index_t k = 0; k < n; ++k) {
    total += axis == 0 ? random_value(kSeed, kShape, k, 0) : random_value(kSeed, kShape, 0, k);
  }
  return total;
}

// Bytes/s of the measured code, plus the peer's rate and the ratio (measured / peer) from the
// same iterations.
void report(benchmark::State& state, const std::string& peer, double core_seconds,
            double peer_seconds) {
  const auto bytes = static_cast<double>(state.iterations()) * static_cast<double>(kBytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters[peer + "_GiBps"] = bytes / peer_seconds / kGiB;
  state.counters["x_" + peer] = peer_seconds / core_seconds;
  state.counters["threads"] = executor_threads();
}

// The peer alone, for the table's first row.
void BM_BandwidthLoop(benchmark::State& state) {
  const double* values = in_memory_values();
  for (auto _ : state)
    benchmark::DoNotOptimize(bandwidth_pass(values, kElements));
  state.SetBytesProcessed(state.iterations() * kBytes);
  state.counters["threads"] = executor_threads();
}

// Element positions whose Philox value the peer must share with random_value().
std::string check_philox_peer() {
  const r123::Philox4x32 rng;
  for (const index_t n : {index_t{0}, index_t{2}, kCols, kElements / 2 + 6, kElements - 2}) {
    double got[2];
    philox_pair(rng, philox_key(kSeed), n, got);
    for (int k = 0; k < 2; ++k) {
      const index_t at = n + k;
      if (got[k] != random_value(kSeed, kShape, at / kCols, at % kCols)) {
        return "the Philox peer differs from random_value at element " + std::to_string(at);
      }
    }
  }
  return {};
}

void BM_PhiloxLoop(benchmark::State& state) {
  if (const std::string error = check_philox_peer(); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(philox_pass(kSeed, kElements));
  state.SetBytesProcessed(state.iterations() * kBytes);
  state.counters["threads"] = executor_threads();
}

// range(0): the axis summed over; range(1): rows per chunk (chunks span all 8192 columns, so they
// are zero-copy row blocks of the one buffer).
void BM_SumInMemory(benchmark::State& state) {
  const int axis = static_cast<int>(state.range(0));
  const Array x = from_chunk(in_memory_data(), ChunkSpec{state.range(1), kCols});
  if (const std::string& error = checked_in_memory_sum(axis, state.range(1)); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  double core_seconds = 0;
  double peer_seconds = 0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    {
      const Chunk result = x.sum(axis).compute();
      benchmark::DoNotOptimize(result.row<double>(0));
    }
    core_seconds += seconds_since(start);

    state.PauseTiming();
    start = Clock::now();
    benchmark::DoNotOptimize(bandwidth_pass(in_memory_values(), kElements));
    peer_seconds += seconds_since(start);
    state.ResumeTiming();
  }
  report(state, "bw_loop", core_seconds, peer_seconds);
}

void BM_SumGenerated(benchmark::State& state) {
  const int axis = static_cast<int>(state.range(0));
  const ChunkSpec chunks{state.range(1), kCols};
  double core_seconds = 0;
  double peer_seconds = 0;
  double first = 0;
  for (auto _ : state) {
    Clock::time_point start = Clock::now();
    {
      const Chunk result = random(kShape, chunks, kSeed).sum(axis).compute();
      first = result.row<double>(0)[0];
    }
    core_seconds += seconds_since(start);

    state.PauseTiming();
    start = Clock::now();
    benchmark::DoNotOptimize(philox_pass(kSeed, kElements));
    peer_seconds += seconds_since(start);
    state.ResumeTiming();
  }
  const double want = generated_sum_reference(axis);
  if (!(std::abs(first - want) <= 1e-9 * std::abs(want))) {
    state.SkipWithError(("random(...).sum(" + std::to_string(axis) + ")[0] = " +
                         std::to_string(first) + ", random_value gives " + std::to_string(want))
                            .c_str());
    return;
  }
  report(state, "philox_loop", core_seconds, peer_seconds);
}

// A few repetitions of a few iterations keep each 1 GiB benchmark to seconds; the median is the
// figure to read, the spread shows how much the shared machine disturbed it.
void gib_benchmark(benchmark::internal::Benchmark* b, int iterations) {
  b->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true);
}

void sum_arguments(benchmark::internal::Benchmark* b) {
  b->ArgNames({"axis", "chunk_rows"});
  for (const int axis : {1, 0}) {
    for (const index_t chunk_rows : {4096, 1024})
      b->Args({axis, chunk_rows});
  }
}

BENCHMARK(BM_BandwidthLoop)->Apply([](auto* b) { gib_benchmark(b, 10); });
BENCHMARK(BM_SumInMemory)->Apply(sum_arguments)->Apply([](auto* b) { gib_benchmark(b, 5); });
BENCHMARK(BM_PhiloxLoop)->Apply([](auto* b) { gib_benchmark(b, 2); });
BENCHMARK(BM_SumGenerated)->Apply(sum_arguments)->Apply([](auto* b) { gib_benchmark(b, 2); });

}  // namespace
}  // namespace tessera::bench
