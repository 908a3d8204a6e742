// I/O: writing and reading the seed's 16384 x 8192 float64 X plus one layer (the seed's
// layers["a"], which is X itself: 2 GiB per file) as h5ad and as zarr (Blosc lz4), on the ranks
// that own the chunks. Run the binary under `mpirun -np 1 --bind-to none` and `mpirun -np 2`
// (docs/benchmarks.md, section "I/O").
//
// Writes are timed until the data is durable: the writer's call, then fsync of every file and
// folder it made (counters `cache_s`: the writer alone, data in the page cache). Reads start from
// a cold page cache (sync, then /proc/sys/vm/drop_caches, which needs root; counter `cold` is 0
// when the cache could not be dropped and the read came from memory).
//
// Peers, in the same run: a dd-style raw write of the same bytes (pwrite of whole 128 MiB chunks
// from the same buffers into one file, each rank its own chunks, then fsync) and its read back
// into one reused buffer, timed in the same iterations as Tessera (counters `raw_*`, `x_raw`);
// and h5py / zarr-python writing and reading the same array with the same chunks and codec, run
// by rank 0 as /usr/bin/python3 subprocesses that time themselves (bench/peers/io_peer.py).
//
// Every figure is the slowest rank's (a barrier before, the maximum over ranks after; STYLE
// convention 10). Iteration counts are fixed, as every step is collective.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io_bench_common.hpp"
#include "mpi_bench.hpp"
#include "tessera/anndata/anndata.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/anndata_io.hpp"

#ifndef TESSERA_IO_PEER_SCRIPT
#error "TESSERA_IO_PEER_SCRIPT must name bench/peers/io_peer.py"
#endif

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;

constexpr index_t kSide = 8192;
constexpr Shape kHalfShape{kSide, kSide};
constexpr index_t kRows = 2 * kSide;  // X: 16384 x 8192 float64, 1 GiB
constexpr index_t kCols = kSide;
constexpr index_t kChunk = 4096;  // the seed's chunks: 4096 x 4096, 128 MiB
constexpr std::uint64_t kSeeds[2] = {0, 1};
constexpr index_t kArrayBytes = kRows * kCols * static_cast<index_t>(sizeof(double));
constexpr index_t kChunkBytes = kChunk * kChunk * static_cast<index_t>(sizeof(double));
constexpr index_t kChunkColsCount = kCols / kChunk;
constexpr index_t kFileBytes = 2 * kArrayBytes;  // X and layers["a"]
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
// Iterations of every benchmark: 3, or $TESSERA_BENCH_IO_ITERATIONS (short trial runs).
int iterations() {
  return iterations_from_env("TESSERA_BENCH_IO_ITERATIONS");
}

// Where the files go: $TESSERA_BENCH_IO_DIR, else ./tessera_bench_io.tmp. It must be on the disk
// being measured (not a tmpfs).
fs::path work_dir() {
  return bench::work_dir("TESSERA_BENCH_IO_DIR", "tessera_bench_io.tmp");
}

// ---------------------------------------------------------------------------------------------
// The data: the seed's X (two random 8192 x 8192 arrays, 4096 x 4096 chunks, concatenated along
// rows) persisted on the ranks that own its chunk-rows, and an AnnData with X and layers["a"] = X.

struct Dataset {
  Array X{random(kHalfShape, ChunkSpec(kChunk, kChunk), 0)};
  AnnData adata{kRows, kCols};
};

const Dataset& dataset() {
  static std::optional<Dataset> data;
  if (!data) {
    Context& ctx = context();
    Dataset d;
    d.X = ctx.persist(concatenate({random(kHalfShape, ChunkSpec(kChunk, kChunk), kSeeds[0]),
                                   random(kHalfShape, ChunkSpec(kChunk, kChunk), kSeeds[1])},
                                  0));
    d.adata = AnnData(d.X);
    d.adata.layers().set("a", d.X);
    data = std::move(d);
  }
  return *data;
}

// ---------------------------------------------------------------------------------------------
// The raw peer. The file holds X then layers["a"], each as its chunks in chunk-major order
// (chunk (i, j) at (i * 2 + j) * 128 MiB): each rank writes whole chunks from the very buffers
// Tessera writes, with one pwrite per chunk, into one shared file (HDF5's chunked layout, minus
// the metadata).

index_t chunk_offset(index_t i, index_t j) {
  return (i * kChunkColsCount + j) * kChunkBytes;
}

// Collective: rank 0 creates the file, every rank writes its chunks twice and fsyncs. Times are
// this rank's (the caller takes the maximum).
WriteTimes raw_write(const Context& ctx, const fs::path& path) {
  if (ctx.rank() == 0) {
    remove_path(path);
    const Fd create(path, O_WRONLY | O_CREAT | O_TRUNC);
  }
  ctx.comm().barrier("raw peer: file created");
  const auto start = Clock::now();
  const Fd fd(path, O_WRONLY);
  for (index_t copy = 0; copy < 2; ++copy) {
    for (const auto& [ij, chunk] : Context::local_chunks(dataset().X)) {
      if (!chunk.is_contiguous() || chunk.nbytes() != static_cast<std::size_t>(kChunkBytes))
        throw InternalError("raw peer: expected contiguous 128 MiB chunks");
      write_all(fd.get(), chunk.raw_row(0), chunk.nbytes(),
                copy * kArrayBytes + chunk_offset(ij.first, ij.second), path);
    }
  }
  WriteTimes t;
  t.cache_s = since(start);
  if (::fsync(fd.get()) != 0) throw IoError(path.string() + ": fsync: " + errno_text());
  t.durable_s = since(start);
  return t;
}

// Every rank reads back the chunks it wrote, dd-style: into one reused 128 MiB buffer. Returns a
// checksum (the sum of the first element of every chunk) so nothing is optimized away.
double raw_read(const Context& ctx, const fs::path& path, std::vector<std::byte>& buffer) {
  buffer.resize(static_cast<std::size_t>(kChunkBytes));
  const Fd fd(path, O_RDONLY);
  double check = 0;
  for (index_t copy = 0; copy < 2; ++copy) {
    for (const auto& [ij, chunk] : Context::local_chunks(dataset().X)) {
      read_all(fd.get(), buffer.data(), buffer.size(),
               copy * kArrayBytes + chunk_offset(ij.first, ij.second), path);
      double first = 0;
      std::memcpy(&first, buffer.data(), sizeof(first));
      check += first;
    }
  }
  (void)ctx;
  return check;
}

// ---------------------------------------------------------------------------------------------
// The Python peer (rank 0 only): bench/peers/io_peer.py, started once per benchmark with the
// input loaded, answering one command per line with one JSON line (times it measured itself).

class PythonPeer {
 public:
  // Rank 0 writes X to `input` in the raw layout, starts the script and waits until it loaded
  // X; the other ranks help write the input. Collective.
  PythonPeer(const Context& ctx, const fs::path& input) : root_(ctx.rank() == 0) {
    (void)raw_write(ctx, input);  // X as chunks (and the layer's copy, which the peer ignores)
    if (root_) {
      try {
        start(input);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
      remove_path(input);
    }
  }
  PythonPeer(const PythonPeer&) = delete;
  PythonPeer& operator=(const PythonPeer&) = delete;
  ~PythonPeer() {
    if (to_ != nullptr) {
      std::fputs("quit\n", to_);
      std::fclose(to_);
    }
    if (from_ != nullptr) std::fclose(from_);
    if (pid_ > 0) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  // Rank 0: sends `command`, returns the values of `keys` in the answer (NaN after an error,
  // whose message error() keeps).
  std::vector<double> ask(const std::string& command, const std::vector<std::string>& keys) {
    std::vector<double> values(keys.size(), std::nan(""));
    if (!error_.empty() || to_ == nullptr) return values;
    std::fputs((command + "\n").c_str(), to_);
    std::fflush(to_);
    std::string line;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), from_) != nullptr) {
      line += buf.data();
      if (!line.empty() && line.back() == '\n') break;
    }
    for (std::size_t k = 0; k < keys.size(); ++k) {
      const std::string quoted = "\"" + keys[k] + "\": ";
      const auto at = line.find(quoted);
      if (at == std::string::npos) {
        error_ = "the Python peer answered '" + line + "' to '" + command + "'";
        return values;
      }
      values[k] = std::strtod(line.c_str() + at + quoted.size(), nullptr);
    }
    return values;
  }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  void start(const fs::path& input) {
    const char* env = std::getenv("TESSERA_PYTHON");
    const std::string python = env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
    std::vector<std::string> args = {python,
                                     TESSERA_IO_PEER_SCRIPT,
                                     "--input",
                                     input.string(),
                                     "--shape",
                                     std::to_string(kRows),
                                     std::to_string(kCols),
                                     "--chunks",
                                     std::to_string(kChunk),
                                     std::to_string(kChunk)};
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int in[2];
    int out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) throw IoError("Python peer: pipe: " + errno_text());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const int rc = ::posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    to_ = ::fdopen(in[1], "w");
    from_ = ::fdopen(out[0], "r");
    if (rc != 0) {
      pid_ = -1;
      throw IoError("Python peer: cannot start " + python + ": " + std::strerror(rc));
    }
    // The first line says the input is loaded.
    std::array<char, 4096> buf{};
    if (std::fgets(buf.data(), static_cast<int>(buf.size()), from_) == nullptr ||
        std::string(buf.data()).find("\"ready\"") == std::string::npos)
      throw IoError("Python peer: did not start (" + std::string(TESSERA_IO_PEER_SCRIPT) + ")");
  }

  bool root_;
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// Timing and reporting

// Rank 0's value on every rank (the Python peer runs there only).
double from_root(const Context& ctx, double value) {
  return ctx.comm().all_reduce_max(ctx.rank() == 0 ? value : -1.0, "io bench: peer time");
}

// Per-iteration times of one contestant (Tessera, raw, or the Python peer).
struct Series {
  std::vector<double> seconds;        // durable write, or cold read
  std::vector<double> cache_seconds;  // writes: until the writer returned
};

// Counters: Tessera's median and minimum, then for each peer its median rate and the median over
// iterations of Tessera's rate / the peer's (x_<peer>; above 1: Tessera faster).
void report(benchmark::State& state, const Context& ctx, const Series& tessera,
            const std::vector<std::pair<std::string, Series>>& peers) {
  const auto rate = [](double seconds) { return static_cast<double>(kFileBytes) / kGiB / seconds; };
  state.SetBytesProcessed(static_cast<std::int64_t>(kFileBytes) * state.iterations());
  state.counters["median_s"] = median(tessera.seconds);
  state.counters["min_s"] = minimum(tessera.seconds);
  state.counters["GiBps"] = rate(median(tessera.seconds));
  if (!tessera.cache_seconds.empty())
    state.counters["cache_GiBps"] = rate(median(tessera.cache_seconds));
  for (const auto& [name, peer] : peers) {
    const auto per_iteration = [&](const std::vector<double>& mine,
                                   const std::vector<double>& theirs) {
      std::vector<double> r;
      for (std::size_t i = 0; i < mine.size() && i < theirs.size(); ++i)
        r.push_back(theirs[i] / mine[i]);
      return r;
    };
    const auto ratios = [&](const std::vector<double>& mine, const std::vector<double>& theirs) {
      return median(per_iteration(mine, theirs));
    };
    const std::vector<double> durable = per_iteration(tessera.seconds, peer.seconds);
    state.counters[name + "_GiBps"] = rate(median(peer.seconds));
    state.counters["x_" + name] = median(durable);
    state.counters["x_" + name + "_min"] = minimum(durable);  // the spread over iterations
    state.counters["x_" + name + "_max"] = maximum(durable);
    if (!peer.cache_seconds.empty()) {
      state.counters[name + "_cache_GiBps"] = rate(median(peer.cache_seconds));
      state.counters["x_" + name + "_cache"] = ratios(tessera.cache_seconds, peer.cache_seconds);
    }
  }
  state.counters["ranks"] = ctx.size();
  state.counters["threads"] = ctx.threads();
}

// Collective: X and layers["a"] of `got` equal X, element by element. Empty on success.
std::string check_equal(Context& ctx, const AnnData& got) {
  const Array& want = dataset().X;
  const auto differing = [&](const std::optional<Array>& a) -> index_t {
    if (!a || a->shape() != want.shape()) return -1;
    const Chunk n = ctx.compute((*a != want).count_nonzero());
    return static_cast<index_t>(n.value_at(0, 0));
  };
  const index_t x = differing(got.X());
  const index_t layer = got.layers().contains("a") ? differing(got.layers()["a"]) : index_t{-1};
  if (x == 0 && layer == 0) return {};
  return "read back differs from X: X " + std::to_string(x) + ", layers/a " +
         std::to_string(layer) + " differing elements (-1: missing or wrong shape)";
}

// ---------------------------------------------------------------------------------------------
// The benchmarks. Each iteration times the three contestants one after the other, in an order
// that rotates from one iteration to the next (the disk's state after one write affects the
// next), each preceded by a barrier and, for reads, by dropping the page cache.

enum class Kind : std::uint8_t { h5ad, zarr };

const char* peer_library(Kind kind) {
  return kind == Kind::h5ad ? "h5py" : "zarr";
}

fs::path target(Kind kind) {
  return work_dir() / (kind == Kind::h5ad ? "tessera.h5ad" : "tessera.zarr");
}

fs::path peer_target(Kind kind) {
  return work_dir() / (kind == Kind::h5ad ? "peer.h5" : "peer.zarr");
}

void prepare_dir(const Context& ctx) {
  if (ctx.rank() == 0) fs::create_directories(work_dir());
  ctx.comm().barrier("io bench: work folder");
}

WriteTimes tessera_write(Context& ctx, Kind kind, const fs::path& path) {
  io::WriteOptions options;
  if (kind == Kind::zarr) options.compression = io::Compression::from_name("lz4");
  return durable_write(ctx, path, [&] {
    if (kind == Kind::h5ad) {
      io::write_h5ad(dataset().adata, path, ctx, options);
    } else {
      io::write_zarr(dataset().adata, path, ctx, options);
    }
  });
}

WriteTimes peer_write(const Context& ctx, PythonPeer& peer, const std::string& command) {
  WriteTimes t;
  if (ctx.rank() == 0) {
    const std::vector<double> v = peer.ask(command, {"write_s", "sync_s"});
    t.cache_s = v[0];
    t.durable_s = v[0] + v[1];
  }
  sleeping_barrier(ctx.comm(), "io bench: waiting for the Python peer");
  return {from_root(ctx, t.cache_s), from_root(ctx, t.durable_s)};
}

double peer_read(const Context& ctx, PythonPeer& peer, const std::string& command) {
  double t = 0;
  if (ctx.rank() == 0) t = peer.ask(command, {"read_s"})[0];
  sleeping_barrier(ctx.comm(), "io bench: waiting for the Python peer");
  return from_root(ctx, t);
}

void BM_Write(benchmark::State& state, Kind kind) {
  Context& ctx = context();
  prepare_dir(ctx);
  (void)dataset();
  const fs::path path = target(kind);
  const fs::path raw = work_dir() / "raw.bin";
  PythonPeer peer(ctx, work_dir() / "peer_input.raw");
  const std::string peer_command =
      std::string("write ") + peer_library(kind) + " " + peer_target(kind).string();
  Series tessera, raw_series, python;
  std::string error;
  int iteration = 0;
  for (auto _ : state) {
    for (int k = 0; k < 3; ++k) {
      switch ((iteration + k) % 3) {
        case 0: {
          const WriteTimes t = tessera_write(ctx, kind, path);
          state.SetIterationTime(t.durable_s);
          tessera.seconds.push_back(t.durable_s);
          tessera.cache_seconds.push_back(t.cache_s);
          if (iteration == 0) {  // the file read back and compared with X, outside the timer
            try {
              const AnnData got =
                  kind == Kind::h5ad ? io::read_h5ad(path, ctx) : io::read_zarr(path, ctx);
              error = check_equal(ctx, got);
            } catch (const std::exception& e) {
              error = e.what();
            }
          }
          if (ctx.rank() == 0) remove_path(path);
          break;
        }
        case 1: {
          ctx.comm().barrier("raw peer: starting together");
          const WriteTimes t = slowest_write(ctx, raw_write(ctx, raw));
          raw_series.seconds.push_back(t.durable_s);
          raw_series.cache_seconds.push_back(t.cache_s);
          if (ctx.rank() == 0) remove_path(raw);
          break;
        }
        default: {
          const WriteTimes t = peer_write(ctx, peer, peer_command);
          python.seconds.push_back(t.durable_s);
          python.cache_seconds.push_back(t.cache_s);
        }
      }
    }
    ++iteration;
  }
  if (ctx.rank() == 0 && error.empty()) error = peer.error();
  if (!agree_ok(state, ctx, error)) return;
  report(state, ctx, tessera, {{"raw", raw_series}, {peer_library(kind), python}});
}

void BM_Read(benchmark::State& state, Kind kind) {
  Context& ctx = context();
  prepare_dir(ctx);
  (void)dataset();
  const fs::path path = target(kind);
  const fs::path raw = work_dir() / "raw.bin";
  PythonPeer peer(ctx, work_dir() / "peer_input.raw");
  const std::string library = peer_library(kind);
  (void)tessera_write(ctx, kind, path);
  (void)raw_write(ctx, raw);
  if (ctx.rank() == 0)
    (void)peer.ask("prepare " + library + " " + peer_target(kind).string(), {"write_s"});
  Series tessera, raw_series, python;
  bool cold = true;
  std::vector<std::byte> buffer;
  std::optional<AnnData> last;
  int iteration = 0;
  for (auto _ : state) {
    for (int k = 0; k < 3; ++k) {
      switch ((iteration + k) % 3) {
        case 0: {
          last.reset();
          if (ctx.rank() == 0) cold = drop_caches() && cold;
          ctx.comm().barrier("io bench: starting together");
          const auto start = Clock::now();
          AnnData a = kind == Kind::h5ad ? io::read_h5ad(path, ctx) : io::read_zarr(path, ctx);
          // Each rank reads the chunks it owns.
          a.set_X(ctx.persist(*a.X()));
          a.layers().set("a", ctx.persist(a.layers()["a"]));
          const double mine = since(start);
          last = std::move(a);
          const double t = slowest(ctx, mine, "io bench: the slowest rank");
          state.SetIterationTime(t);
          tessera.seconds.push_back(t);
          break;
        }
        case 1: {
          if (ctx.rank() == 0) cold = drop_caches() && cold;
          ctx.comm().barrier("raw peer: starting together");
          const auto start = Clock::now();
          benchmark::DoNotOptimize(raw_read(ctx, raw, buffer));
          raw_series.seconds.push_back(slowest(ctx, since(start), "raw peer: slowest"));
          break;
        }
        default:
          python.seconds.push_back(
              peer_read(ctx, peer, "read " + library + " " + peer_target(kind).string()));
      }
    }
    ++iteration;
  }
  std::string error;
  try {
    error = check_equal(ctx, *last);
  } catch (const std::exception& e) {
    error = e.what();
  }
  last.reset();
  if (ctx.rank() == 0) {
    remove_path(path);
    remove_path(raw);
    (void)peer.ask("remove " + peer_target(kind).string(), {"ok"});
    if (error.empty()) error = peer.error();
  }
  if (!agree_ok(state, ctx, error)) return;
  report(state, ctx, tessera, {{"raw", raw_series}, {library, python}});
  state.counters["cold"] = static_cast<double>(
      ctx.comm().all_reduce_max(std::uint64_t{cold ? 1U : 0U}, "io bench: cold"));
}

void BM_H5adWrite(benchmark::State& state) {
  BM_Write(state, Kind::h5ad);
}
void BM_ZarrWrite(benchmark::State& state) {
  BM_Write(state, Kind::zarr);
}
void BM_H5adRead(benchmark::State& state) {
  BM_Read(state, Kind::h5ad);
}
void BM_ZarrRead(benchmark::State& state) {
  BM_Read(state, Kind::zarr);
}

BENCHMARK(BM_H5adWrite)->Iterations(iterations())->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ZarrWrite)->Iterations(iterations())->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_H5adRead)->Iterations(iterations())->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ZarrRead)->Iterations(iterations())->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tessera::bench
