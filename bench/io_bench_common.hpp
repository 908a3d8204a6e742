// What the I/O benchmarks (tessera_bench_io, tessera_bench_zarr) share: writes timed until the
// data is durable (fsync of every file and folder a writer made), cold reads (the page cache
// dropped first, which needs root), and the slowest rank's time (a sleeping barrier, then the
// maximum over ranks; STYLE convention 10).
#pragma once

#include <benchmark/benchmark.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tessera/distributed/context.hpp"

namespace tessera::bench {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point start);

// Iterations of every benchmark: $`variable` when it is a positive number, else `fallback`.
// Fixed counts, never chosen by time, since every step is collective.
int iterations_from_env(const char* variable, int fallback = 3);

// Where the files go: $`variable`, else ./`fallback`. It must be on the disk being measured.
std::filesystem::path work_dir(const char* variable, const char* fallback);

// Ranks that wait sleep rather than spin in a blocking MPI call, so that a rank that finished
// leaves its core to the others (as PlanExecutor does).
void sleeping_barrier(const Comm& comm, const char* hint);

// The slowest rank's `seconds` on every rank (sleeping barrier, then the maximum).
double slowest(const Context& ctx, double seconds, const char* hint);

std::string errno_text();

// An open file descriptor, closed when it goes; IoError naming the path when it cannot open.
class Fd {
 public:
  Fd(const std::filesystem::path& path, int flags);
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

void fsync_one(const std::filesystem::path& path);
// fsync of every file and folder at or below `path`, and of its parent folder (the rename that
// put it there): what "durable" means for a writer, the same in bench/peers/io_peer.py.
void fsync_tree(const std::filesystem::path& path);
void remove_path(const std::filesystem::path& path);
// sync, then drop the page cache (root only). False when the cache could not be dropped.
bool drop_caches();

// pwrite / pread of exactly `bytes` at `offset` (retrying short transfers); IoError otherwise.
void write_all(int fd, const std::byte* data, std::size_t bytes, off_t offset,
               const std::filesystem::path& path);
void read_all(int fd, std::byte* data, std::size_t bytes, off_t offset,
              const std::filesystem::path& path);

struct WriteTimes {
  double cache_s = 0;    // until the writer returned
  double durable_s = 0;  // and the data was fsync'd
};
// The slowest rank's times, on every rank.
WriteTimes slowest_write(const Context& ctx, WriteTimes mine);
// Collective: rank 0 removes `path`, then every rank runs `write` (a collective writer making
// `path`), timed from a common start until it returns and until rank 0 has fsync'd the tree
// (one node, one page cache: that makes every rank's part durable). The slowest rank's times.
WriteTimes durable_write(const Context& ctx, const std::filesystem::path& path,
                         const std::function<void()>& write);

double median(std::vector<double> v);
double minimum(const std::vector<double>& v);
double maximum(const std::vector<double>& v);

// A check that failed on any rank skips the benchmark on every rank (collective). True when it
// passed everywhere.
bool agree_ok(benchmark::State& state, const Context& ctx, const std::string& error);

}  // namespace tessera::bench
