// Scaling of Context::compute over ranks: a row-sum of a generated 16384 x 8192 float64 array (two
// random 8192 x 8192 arrays concatenated, 1 GiB), the same row-sum of two persisted arrays, and
// the gather of a persisted 8192 x 8192 array to every rank (to_memory). Run the binary under
// `mpirun -np 1 --bind-to none` and `mpirun -np 2` and compare (docs/benchmarks.md: without
// --bind-to none, Open MPI binds a single rank to one core).
//
// Every figure is the time of the slowest rank: a barrier before, the maximum over ranks after
// (STYLE convention 10). Each iteration also times a hand-written peer doing the same work on the
// same ranks and threads, with no graph, plan or chunk encoding: Philox generate-and-sum, a
// bandwidth row-sum of the persisted chunks, and a raw exchange of the same bytes on the same
// communicator, received straight into a reused result buffer. Its rate and the ratio Tessera /
// peer come from the same iterations, so they stay meaningful on a machine shared with other work.
#include <benchmark/benchmark.h>

#include <Random123/philox.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mpi_bench.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/ownership_map.hpp"

namespace tessera::bench {
namespace {

constexpr index_t kSide = 8192;
constexpr Shape kHalfShape{kSide, kSide};  // each input, 512 MiB
constexpr index_t kRows = 2 * kSide;       // the concatenation: 16384 x 8192, 1 GiB
constexpr index_t kChunkRows = 2048;       // chunks span all columns: 128 MiB each
constexpr index_t kChunkRowsPerHalf = kSide / kChunkRows;
constexpr std::uint64_t kSeeds[2] = {20261125, 20261126};
constexpr index_t kHalfBytes = kSide * kSide * static_cast<index_t>(sizeof(double));
constexpr index_t kBytes = 2 * kHalfBytes;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Tags of the peers' messages on MPI_COMM_WORLD (Tessera's own go over a duplicate).
constexpr int kPeerTag = 1000;

using Clock = std::chrono::steady_clock;

// Ranks that wait sleep between tests, as Tessera's PlanExecutor does, rather than spin in a
// blocking MPI call, so that the peers wait the way Tessera does and a waiting rank leaves its
// core to whatever else runs on a shared machine.
constexpr auto kIdle = std::chrono::microseconds(50);

void sleeping_barrier(const Comm& comm, const char* hint) {
  Comm::Request barrier = comm.ibarrier(hint);
  while (!barrier.test())
    std::this_thread::sleep_for(kIdle);
}

// CPU time (user + system, every thread) this process has used so far, in microseconds.
std::int64_t process_cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

struct Timing {
  double seconds = 0;      // wall time of the slowest rank
  double cpu_seconds = 0;  // CPU time of all ranks together
};

// Times `work` on every rank, all ranks having started together. The CPU time is the figure that
// other work on a shared machine disturbs least: it grows with the work done, not with the time
// spent waiting for a core.
template <typename Work>
Timing slowest_rank(const Context& ctx, Work&& work) {
  ctx.comm().barrier("benchmark: starting together");
  const std::int64_t cpu_start = process_cpu_us();
  const Clock::time_point start = Clock::now();
  work();
  const double mine = std::chrono::duration<double>(Clock::now() - start).count();
  const std::int64_t cpu = process_cpu_us() - cpu_start;
  sleeping_barrier(ctx.comm(), "benchmark: waiting for the slowest rank");
  return {ctx.comm().all_reduce_max(mine, "benchmark: the slowest rank"),
          static_cast<double>(ctx.comm().all_reduce_sum(cpu, "benchmark: CPU time")) * 1e-6};
}

// ---------------------------------------------------------------------------------------------
// The peers

// body(begin, end) over [0, n) split into `threads` contiguous ranges, one std::thread each.
template <typename Body>
void parallel_for(index_t n, int threads, const Body& body) {
  const index_t per_thread = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    const index_t begin = std::min(n, t * per_thread);
    const index_t end = std::min(n, begin + per_thread);
    pool.emplace_back([&body, begin, end] { body(begin, end); });
  }
  for (std::thread& thread : pool)
    thread.join();
}

// Eight independent accumulators: bound by memory or by the generator, not by one chain of adds.
double sum_range(const double* values, index_t n) {
  double acc[8] = {};
  const index_t whole = n / 8 * 8;
  for (index_t i = 0; i < whole; i += 8) {
    for (int k = 0; k < 8; ++k)
      acc[k] += values[i + k];
  }
  for (index_t i = whole; i < n; ++i)
    acc[0] += values[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Elements `even` and `even + 1` of random(…, seed): Philox4x32-10, counter = pair index of the
// row-major position, 53 bits each (the same definition as the core benchmark's peer; checked
// against random_value below).
void philox_pair(std::uint64_t seed, index_t even, double* out) {
  const r123::Philox4x32 rng;
  const r123::Philox4x32::key_type key = {
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const auto pair = static_cast<std::uint64_t>(even) / 2;
  const r123::Philox4x32::ctr_type ctr = {
      {static_cast<std::uint32_t>(pair), static_cast<std::uint32_t>(pair >> 32), 0, 0}};
  const r123::Philox4x32::ctr_type bits = rng(ctr, key);
  const std::uint64_t lo = (std::uint64_t{bits[1]} << 32) | bits[0];
  const std::uint64_t hi = (std::uint64_t{bits[3]} << 32) | bits[2];
  out[0] = static_cast<double>(lo >> 11) * 0x1p-53;
  out[1] = static_cast<double>(hi >> 11) * 0x1p-53;
}

// Row r of random(kHalfShape, …, seed) summed in L1-sized blocks, never stored.
double philox_row_sum(std::uint64_t seed, index_t r) {
  constexpr index_t kBlock = 2048;
  double block[kBlock];
  double total = 0;
  for (index_t c = 0; c < kSide; c += kBlock) {
    for (index_t k = 0; k < kBlock; k += 2)
      philox_pair(seed, r * kSide + c + k, block + k);
    total += sum_range(block, kBlock);
  }
  return total;
}

std::string check_philox_peer() {
  for (const index_t at : {index_t{0}, index_t{2}, kSide + 6, kSide * kSide - 2}) {
    double got[2];
    philox_pair(kSeeds[1], at, got);
    for (int k = 0; k < 2; ++k) {
      const index_t n = at + k;
      if (got[k] != random_value(kSeeds[1], kHalfShape, n / kSide, n % kSide)) {
        return "the Philox peer differs from random_value at element " + std::to_string(n);
      }
    }
  }
  return {};
}

// A block of rows of a result that one rank produces and every rank needs.
struct Block {
  std::byte* data;
  std::size_t bytes;
  int owner;
};

// The peer of the gather: each rank posts receives straight into the blocks it lacks, sends the
// blocks it owns to every other rank, as raw bytes (no header, no encoding) on the Comm's MPI
// communicator, runs `meanwhile` (its own copying) while the messages move, then waits, sleeping
// between tests as Tessera's executor does.
template <typename Meanwhile>
void exchange_blocks(const Comm& comm, const std::vector<Block>& blocks,
                     const Meanwhile& meanwhile) {
  if (comm.size() == 1) {
    meanwhile();
    return;
  }
  std::vector<MPI_Request> requests;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].owner == comm.rank()) continue;
    requests.emplace_back();
    if (MPI_Irecv(blocks[b].data, static_cast<int>(blocks[b].bytes), MPI_BYTE, blocks[b].owner,
                  kPeerTag + static_cast<int>(b), comm.native(), &requests.back()) != MPI_SUCCESS)
      throw InternalError("peer: MPI_Irecv failed");
  }
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].owner != comm.rank()) continue;
    for (int dest = 0; dest < comm.size(); ++dest) {
      if (dest == comm.rank()) continue;
      requests.emplace_back();
      if (MPI_Isend(blocks[b].data, static_cast<int>(blocks[b].bytes), MPI_BYTE, dest,
                    kPeerTag + static_cast<int>(b), comm.native(), &requests.back()) != MPI_SUCCESS)
        throw InternalError("peer: MPI_Isend failed");
    }
  }
  meanwhile();
  int done = 0;
  while (true) {
    if (MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                    MPI_STATUSES_IGNORE) != MPI_SUCCESS)
      throw InternalError("peer: MPI_Testall failed");
    if (done != 0) break;
    std::this_thread::sleep_for(kIdle);
  }
}

void exchange_blocks(const Comm& comm, const std::vector<Block>& blocks) {
  exchange_blocks(comm, blocks, [] {});
}

// The rank owning chunk-row i of each input under the default ownership (chunk-row blocks).
int default_owner(index_t i, int ranks) {
  return OwnershipMap::row_block_owner(i, kChunkRowsPerHalf, ranks);
}

// Row sums of the 16384 rows, one block per chunk-row of each input, owned by `owner(half, i)`.
template <typename Owner>
std::vector<Block> row_sum_blocks(std::vector<double>& sums, const Owner& owner) {
  std::vector<Block> blocks;
  for (int half = 0; half < 2; ++half) {
    for (index_t i = 0; i < kChunkRowsPerHalf; ++i) {
      blocks.push_back({reinterpret_cast<std::byte*>(sums.data() + half * kSide + i * kChunkRows),
                        kChunkRows * sizeof(double), owner(half, i)});
    }
  }
  return blocks;
}

// Global rows (0 … 16383) of the blocks this rank owns.
std::vector<index_t> my_rows(const std::vector<Block>& blocks, int rank) {
  std::vector<index_t> rows;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].owner != rank) continue;
    for (index_t r = 0; r < kChunkRows; ++r)
      rows.push_back(static_cast<index_t>(b) * kChunkRows + r);
  }
  return rows;
}

// Generates and sums this rank's rows, then hands every rank all the sums.
std::vector<double> peer_generated_row_sums(const Context& ctx) {
  std::vector<double> sums(static_cast<std::size_t>(kRows));
  const auto blocks =
      row_sum_blocks(sums, [&](int, index_t i) { return default_owner(i, ctx.size()); });
  const std::vector<index_t> rows = my_rows(blocks, ctx.rank());
  parallel_for(static_cast<index_t>(rows.size()), ctx.threads(), [&](index_t begin, index_t end) {
    for (index_t n = begin; n < end; ++n) {
      const index_t row = rows[n];
      sums[row] = philox_row_sum(kSeeds[row / kSide], row % kSide);
    }
  });
  exchange_blocks(ctx.comm(), blocks);
  return sums;
}

// ---------------------------------------------------------------------------------------------
// The data

Array generated_input(int half) {
  return random(kHalfShape, ChunkSpec{kChunkRows, kSide}, kSeeds[half]);
}

Array generated() {
  return concatenate({generated_input(0), generated_input(1)}, 0);
}

// The two inputs persisted once, on first use (collective: every rank gets here in the same
// benchmark), and kept for the rest of the run: 512 MiB per rank at 2 ranks.
const std::vector<Array>& persisted_inputs() {
  static const std::vector<Array> arrays = [] {
    Context& ctx = context();
    return std::vector<Array>{ctx.persist(generated_input(0)), ctx.persist(generated_input(1))};
  }();
  return arrays;
}

// This rank's chunk (i, 0) of a persisted input (zero-copy: the chunk the rank holds).
Chunk local_chunk(const Array& persisted, index_t i) {
  for (auto& [at, chunk] : Context::local_chunks(persisted)) {
    if (at == std::pair<index_t, index_t>{i, 0}) return chunk;
  }
  throw InternalError("benchmark: chunk-row " + std::to_string(i) + " is not held here");
}

int persisted_owner(int half, index_t i) {
  return Context::ownership(persisted_inputs()[static_cast<std::size_t>(half)])->owner(i, 0);
}

// Sums the rows of the chunks this rank holds, then hands every rank all the sums.
std::vector<double> peer_persisted_row_sums(const Context& ctx) {
  std::vector<double> sums(static_cast<std::size_t>(kRows));
  const auto blocks = row_sum_blocks(sums, persisted_owner);
  const std::vector<index_t> rows = my_rows(blocks, ctx.rank());
  std::vector<Chunk> chunks(blocks.size());
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].owner == ctx.rank()) {
      chunks[b] = local_chunk(persisted_inputs()[b / kChunkRowsPerHalf],
                              static_cast<index_t>(b) % kChunkRowsPerHalf);
    }
  }
  parallel_for(static_cast<index_t>(rows.size()), ctx.threads(), [&](index_t begin, index_t end) {
    for (index_t n = begin; n < end; ++n) {
      const index_t row = rows[n];
      const Chunk& chunk = chunks[static_cast<std::size_t>(row / kChunkRows)];
      sums[row] = sum_range(chunk.row<double>(row % kChunkRows), kSide);
    }
  });
  exchange_blocks(ctx.comm(), blocks);
  return sums;
}

// The gather's peer: one 8192 x 8192 buffer, allocated and touched once outside the timer and
// reused by every pass (as Tessera's result reuses its buffer pool), this rank's chunks copied in
// while the others' are received raw straight into place.
double* peer_gather_buffer() {
  static const std::unique_ptr<double[]> buffer = [] {
    auto b = std::make_unique_for_overwrite<double[]>(static_cast<std::size_t>(kSide * kSide));
    std::memset(b.get(), 0, static_cast<std::size_t>(kHalfBytes));
    return b;
  }();
  return buffer.get();
}

void peer_gather(const Context& ctx, double* out) {
  const Array& x = persisted_inputs()[0];
  std::vector<Block> blocks;
  for (index_t i = 0; i < kChunkRowsPerHalf; ++i) {
    blocks.push_back({reinterpret_cast<std::byte*>(out + i * kChunkRows * kSide),
                      kChunkRows * kSide * sizeof(double), persisted_owner(0, i)});
  }
  // Own chunks are copied by ctx.threads() threads, as the executor's tasks would be.
  std::vector<std::pair<Chunk, std::byte*>> copies;
  for (index_t i = 0; i < kChunkRowsPerHalf; ++i) {
    if (blocks[i].owner == ctx.rank()) copies.emplace_back(local_chunk(x, i), blocks[i].data);
  }
  const index_t rows = static_cast<index_t>(copies.size()) * kChunkRows;
  exchange_blocks(ctx.comm(), blocks, [&] {
    parallel_for(rows, ctx.threads(), [&](index_t begin, index_t end) {
      for (index_t n = begin; n < end; ++n) {
        const auto& [chunk, to] = copies[static_cast<std::size_t>(n / kChunkRows)];
        std::memcpy(to + (n % kChunkRows) * kSide * sizeof(double),
                    chunk.row<double>(n % kChunkRows), kSide * sizeof(double));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Checks: independent references from random_value; a failure on any rank skips the benchmark
// on every rank.

std::string check_row_sums(const Chunk& got) {
  if (got.shape() != Shape{kRows, 1}) return "the row-sum has the wrong shape";
  for (const index_t row : {index_t{0}, kChunkRows - 1, kChunkRows, kSide - 1, kSide, kRows - 1}) {
    const int half = static_cast<int>(row / kSide);
    double want = 0;
    for (index_t c = 0; c < kSide; ++c)
      want += random_value(kSeeds[half], kHalfShape, row % kSide, c);
    const double value = got.value_at(row, 0);
    if (!(std::abs(value - want) <= 1e-9 * std::abs(want))) {
      return "row-sum[" + std::to_string(row) + "] = " + std::to_string(value) +
             ", random_value gives " + std::to_string(want);
    }
  }
  return {};
}

std::string check_gathered(const Chunk& got) {
  if (got.shape() != kHalfShape) return "the gathered array has the wrong shape";
  for (const auto& [r, c] : {std::pair<index_t, index_t>{0, 0},
                             {kChunkRows, 17},
                             {6000, 4000},
                             {kSide - 1, kSide - 1}}) {
    if (got.value_at(r, c) != random_value(kSeeds[0], kHalfShape, r, c)) {
      return "gathered element (" + std::to_string(r) + ", " + std::to_string(c) +
             ") differs from random_value";
    }
  }
  return {};
}

// True on every rank when `error` is empty on every rank; otherwise skips the benchmark.
bool agreed_ok(benchmark::State& state, const Context& ctx, const std::string& error) {
  const std::uint64_t failed =
      ctx.comm().all_reduce_max(std::uint64_t{error.empty() ? 0U : 1U}, "benchmark: checks");
  if (failed == 0) return true;
  state.SkipWithError(error.empty() ? "the check failed on another rank" : error.c_str());
  return false;
}

// ---------------------------------------------------------------------------------------------
// The benchmarks

struct Totals {
  double core_seconds = 0;
  double peer_seconds = 0;
  double core_cpu_seconds = 0;
  double peer_cpu_seconds = 0;
  double plan_seconds = 0;  // the slowest rank's lowering + planning + plan scatter
  std::int64_t bytes_moved = 0;
};

void report(benchmark::State& state, const Context& ctx, const Totals& totals, index_t bytes,
            const char* peer) {
  const double iterations = static_cast<double>(state.iterations());
  const double processed = iterations * static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(processed));
  state.counters[std::string(peer) + "_GiBps"] = processed / totals.peer_seconds / kGiB;
  state.counters[std::string("x_") + peer] = totals.peer_seconds / totals.core_seconds;
  state.counters["bytes_moved"] =
      benchmark::Counter(static_cast<double>(totals.bytes_moved), benchmark::Counter::kDefaults,
                         benchmark::Counter::kIs1024);
  state.counters["plan_ms"] = totals.plan_seconds * 1e3 / iterations;
  state.counters["cpu_ms"] = totals.core_cpu_seconds * 1e3 / iterations;
  state.counters[std::string(peer) + "_cpu_ms"] = totals.peer_cpu_seconds * 1e3 / iterations;
  state.counters["ranks"] = ctx.size();
  state.counters["threads"] = ctx.threads();
}

// One Tessera pass and one peer pass per iteration; the benchmark's time is Tessera's. Each
// `release_*` runs before its pass, outside the timer, to free the previous pass's large result.
template <typename Core, typename Peer, typename ReleaseCore, typename ReleasePeer>
Totals run(benchmark::State& state, Context& ctx, const Core& core, const Peer& peer,
           const ReleaseCore& release_core, const ReleasePeer& release_peer) {
  Totals totals;
  for (auto _ : state) {
    release_core();
    const Timing timing = slowest_rank(ctx, core);
    state.SetIterationTime(timing.seconds);
    totals.core_seconds += timing.seconds;
    totals.core_cpu_seconds += timing.cpu_seconds;
    totals.bytes_moved = ctx.last_stats().bytes_moved;
    totals.plan_seconds += ctx.comm().all_reduce_max(ctx.last_stats().plan_seconds, "plan time");
    release_peer();
    const Timing peer_timing = slowest_rank(ctx, peer);
    totals.peer_seconds += peer_timing.seconds;
    totals.peer_cpu_seconds += peer_timing.cpu_seconds;
  }
  return totals;
}

template <typename Core, typename Peer>
Totals run(benchmark::State& state, Context& ctx, const Core& core, const Peer& peer) {
  return run(
      state, ctx, core, peer, [] {}, [] {});
}

// (a) concatenate(random, random).sum(1): generation dominates; only the row sums move.
void BM_RowSumGenerated(benchmark::State& state) {
  Context& ctx = context();
  if (!agreed_ok(state, ctx, check_philox_peer())) return;
  Chunk result;
  std::vector<double> peer_result;
  const Totals totals = run(
      state, ctx, [&] { result = ctx.compute(generated().sum(1)); },
      [&] { peer_result = peer_generated_row_sums(ctx); });
  if (!agreed_ok(state, ctx, check_row_sums(result))) return;
  report(state, ctx, totals, kBytes, "philox_loop");
}

// (b) concatenate(persisted, persisted).sum(1): the inputs are in memory on their owners
// (persisted outside the timer); the concatenation joins their ownership maps, so again only the
// row sums move.
void BM_RowSumPersisted(benchmark::State& state) {
  Context& ctx = context();
  const std::vector<Array>& inputs = persisted_inputs();
  Chunk result;
  std::vector<double> peer_result;
  const Totals totals = run(
      state, ctx, [&] { result = ctx.compute(concatenate(inputs, 0).sum(1)); },
      [&] { peer_result = peer_persisted_row_sums(ctx); });
  if (!agreed_ok(state, ctx, check_row_sums(result))) return;
  report(state, ctx, totals, kBytes, "bw_loop");
}

// (c) to_memory: the first persisted input (512 MiB) gathered whole to every rank. Results are
// released before the next pass, outside the timer.
void BM_GatherPersisted(benchmark::State& state) {
  Context& ctx = context();
  const Array& x = persisted_inputs()[0];
  Chunk result;
  double* peer_out = peer_gather_buffer();
  const Totals totals = run(
      state, ctx, [&] { result = ctx.compute(x); }, [&] { peer_gather(ctx, peer_out); },
      [&] { result = Chunk(); }, [] {});
  if (!agreed_ok(state, ctx, check_gathered(result))) return;
  report(state, ctx, totals, kHalfBytes, "raw_exchange");
}

// Fixed iteration counts on every rank (see mpi_main.cpp); three repetitions, medians to read.
void mpi_benchmark(benchmark::internal::Benchmark* b, int iterations) {
  b->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true);
}

BENCHMARK(BM_RowSumGenerated)->Apply([](auto* b) { mpi_benchmark(b, 2); });
BENCHMARK(BM_RowSumPersisted)->Apply([](auto* b) { mpi_benchmark(b, 10); });
BENCHMARK(BM_GatherPersisted)->Apply([](auto* b) { mpi_benchmark(b, 3); });

}  // namespace
}  // namespace tessera::bench
