// seed_workflow: the seed walkthrough as one timed run (issue 14, item 1), stage by stage, with
// the public API as a user writes it. Run as
//   mpirun -np K build/bench/seed_workflow M N OUTDIR
// and compare with its Python peer, bench/seed_workflow_peer.py (anndata 0.8 and dask, the same
// stages and chunks). Rank 0 prints
//   concat+rowsum=…s views=…s to_memory=…s write_h5ad=…s write_zarr=…s read_h5ad=…s read_zarr=…s
//   total=…s
// then "# " lines: the fsync after each write, peak memory, the physical rates measured in this
// run and, from them, a bound per stage (docs/benchmarks.md, "Seed workflow (issue 14)").
//
// The stages:
//   concat+rowsum  two M x N float64 objects as the seed's adata_with_dask (X random in 4096 x 4096
//                  chunks, layers['a'] = X, obsm['a'] M x 100 random, obs 'batch' 'a' then 'b'),
//                  concatenated (index_unique 'id'), X's row sums computed
//   views          X of adata_concat[:500, :500], adata_concat[[12, 12, 3, 5, 53], [1, 2, 5]] and
//                  adata_concat[batch == 'b'] computed, one after the other
//   to_memory      adata_concat.to_memory(ctx): X, layers['a'] and obsm['a'] on every rank
//   write_h5ad     io::write_h5ad of that in-memory object (uncompressed, as anndata's default)
//   write_zarr     io::write_zarr of it, Blosc lz4 clevel 5 byte shuffle (anndata 0.8's default)
//   read_h5ad      io::read_h5ad(lazy = false): the file in memory on every rank, X's row sums
//   read_zarr      the same for the zarr store
// Each stage starts after a barrier and its figure is the slowest rank's (STYLE convention 10).
// Writers are timed as called; the fsync of what they wrote follows outside the stage (`sync_*`),
// so that the next stage does not compete with write-back. The in-memory object is freed before
// the reads, and each read-back object after its row sums (the peer does the same). Reads find
// the files in the page cache, as right after a write in a notebook.
#include <blosc.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <Random123/philox.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "tessera/anndata/anndata.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/buffer_pool.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/collective.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr index_t kChunk = 4096;    // the demo's chunks, and the peer's
constexpr index_t kObsmCols = 100;  // obsm['a'] = da.random.random((n_obs, 100))
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CLOCK_MONOTONIC seconds (steady_clock on Linux): what `perf record -k CLOCK_MONOTONIC` stamps
// its samples with, so that `perf report --time a,b` can cut a profile at the stage boundaries.
double monotonic_now() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", seconds);
  return text;
}

std::string errno_text() {
  return std::error_code(errno, std::generic_category()).message();
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

// Peak resident set of this process so far (VmHWM), in bytes.
std::int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  }
  return -1;
}

// Ranks that wait sleep rather than spin in a blocking MPI call (as PlanExecutor does).
void sleeping_barrier(const Comm& comm, const char* hint) {
  Comm::Request barrier = comm.ibarrier(hint);
  while (!barrier.test())
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// Runs `body` on every rank after a barrier; the slowest rank's seconds, on every rank.
struct Span {
  double seconds = 0;
  double start = 0;  // CLOCK_MONOTONIC on this rank
  double end = 0;
};
Span timed(const Context& ctx, const char* hint, const std::function<void()>& body) {
  sleeping_barrier(ctx.comm(), hint);
  Span span;
  span.start = monotonic_now();
  const auto t0 = Clock::now();
  body();
  const double mine = since(t0);
  span.end = monotonic_now();
  sleeping_barrier(ctx.comm(), hint);
  span.seconds = ctx.comm().all_reduce_max(mine, hint);
  return span;
}

// The seed's adata_with_dask(n_obs, n_vars), as cli/demo.cpp builds it.
AnnData adata_with_dask(index_t n_obs, index_t n_vars, std::uint64_t seed) {
  const Array X = random({n_obs, n_vars}, ChunkSpec(kChunk, kChunk), seed);
  AnnData a(X);
  a.layers().set("a", X);
  a.obsm().set("a", random({n_obs, kObsmCols}, ChunkSpec(kChunk, kObsmCols), seed + 100));
  const std::optional<std::string> first{"a"}, second{"b"};
  std::vector<std::optional<std::string>> batch(static_cast<std::size_t>(n_obs));
  for (index_t i = 0; i < n_obs; ++i)
    batch[static_cast<std::size_t>(i)] = i < n_obs / 2 ? first : second;
  a.obs().set("batch", Column::categorical(batch));
  return a;
}

// fsync of every file and folder at or below `path` and of its parent (rank 0's job).
void fsync_tree(const fs::path& path) {
  std::vector<fs::path> paths{path};
  if (fs::is_directory(path)) {
    for (const auto& entry : fs::recursive_directory_iterator(path))
      paths.push_back(entry.path());
  }
  paths.push_back(path.parent_path());
  for (const fs::path& p : paths) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(p.string() + ": open: " + errno_text());
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) throw IoError(p.string() + ": fsync: " + errno_text());
  }
}

// ---------------------------------------------------------------------------------------------
// Physical rates, measured after the workflow (so that they do not count in its peak memory) by
// every rank at once, each on its own threads (ctx.threads()), each on `bytes` of its own. A rate
// is the bytes of all ranks over the slowest rank's time: what the machine does with the ranks
// and threads of this run.

// Runs fn(begin, end) on `threads` threads over [0, n) cut into equal ranges.
void parallel_ranges(int threads, std::size_t n,
                     const std::function<void(std::size_t, std::size_t)>& fn) {
  std::vector<std::thread> pool;
  const std::size_t step =
      (n + static_cast<std::size_t>(threads) - 1) / static_cast<std::size_t>(threads);
  for (int t = 0; t < threads; ++t) {
    const std::size_t begin = std::min(n, static_cast<std::size_t>(t) * step);
    const std::size_t end = std::min(n, begin + step);
    pool.emplace_back([&fn, begin, end] { fn(begin, end); });
  }
  for (std::thread& t : pool)
    t.join();
}

// Anonymous memory straight from mmap: fresh pages, faulted in on first touch.
class Mapping {
 public:
  explicit Mapping(std::size_t bytes) : bytes_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw Error("seed_workflow: mmap: " + errno_text());
    data_ = static_cast<std::byte*>(p);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { ::munmap(data_, bytes_); }
  [[nodiscard]] std::byte* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return bytes_; }

 private:
  std::byte* data_;
  std::size_t bytes_;
};

// The values random() gives (Philox4x32-10 keyed by the seed, counter = pair index of the
// row-major position, 53 bits per double), as bench/reduction_bench.cpp's peer computes them.
inline void philox_pair(const r123::Philox4x32& rng, const r123::Philox4x32::key_type& key,
                        std::uint64_t even, double* out) {
  const std::uint64_t pair = even / 2;
  const r123::Philox4x32::ctr_type ctr = {
      {static_cast<std::uint32_t>(pair), static_cast<std::uint32_t>(pair >> 32), 0, 0}};
  const r123::Philox4x32::ctr_type bits = rng(ctr, key);
  const std::uint64_t lo = (std::uint64_t{bits[1]} << 32) | bits[0];
  const std::uint64_t hi = (std::uint64_t{bits[3]} << 32) | bits[2];
  out[0] = static_cast<double>(lo >> 11) * 0x1p-53;
  out[1] = static_cast<double>(hi >> 11) * 0x1p-53;
}
const r123::Philox4x32::key_type kKey = {{0, 0}};  // seed 0: adata's X

struct Rates {  // GiB/s of all ranks together
  double philox = 0, memcpy = 0, fresh = 0, pwrite = 0, pread = 0, disk = 0, lz4c = 0, lz4d = 0;
  double lz4_ratio = 0;  // compressed / uncompressed bytes
  double munmap = 0;     // freeing the fresh memory, GiB/s
  // The same first touch and pwrite into memory the hypervisor has taken back: on this VM
  // (virtio-balloon free page reporting) pages a guest frees are returned to the host a couple
  // of seconds later, and the next first touch of each faults on the host too. Measured here:
  // little for anonymous memory (2 MiB transparent huge pages), a lot for page-cache pages
  // (4 KiB): 0.3-0.6 GB/s for a 2 GiB dd into a cold page cache, 4-5 GB/s right after an rm.
  double fresh_cold = 0, pwrite_cold = 0;
};

// Writes [0, bytes) of `data` into `fd` at the same offsets, in 8 MiB pieces, on `threads`
// threads (reads into `data` instead when !write).
void file_io(int fd, bool write, std::byte* data, std::size_t bytes, int threads,
             const fs::path& file) {
  parallel_ranges(threads, bytes, [&](std::size_t b, std::size_t e) {
    constexpr std::size_t kPiece = std::size_t{8} << 20;
    for (std::size_t at = b; at < e; at += kPiece) {
      const std::size_t len = std::min(kPiece, e - at);
      const ssize_t got = write ? ::pwrite(fd, data + at, len, static_cast<off_t>(at))
                                : ::pread(fd, data + at, len, static_cast<off_t>(at));
      if (got != static_cast<ssize_t>(len))
        throw IoError(file.string() + (write ? ": pwrite: " : ": pread: ") + errno_text());
    }
  });
}

Rates measure_rates(const Context& ctx, const fs::path& dir, std::size_t bytes) {
  const int threads = ctx.threads();
  const double all = static_cast<double>(bytes) * ctx.size() / kGiB;
  const auto rate = [&](const char* hint, const std::function<void()>& body) {
    return all / timed(ctx, hint, body).seconds;
  };
  const auto best = [&](const char* hint, const std::function<void()>& body) {
    double r = 0;
    for (int i = 0; i < 3; ++i)
      r = std::max(r, rate(hint, body));
    return r;
  };
  const std::size_t n = bytes / sizeof(double);
  Rates out;
  const fs::path file = dir / ("seed_workflow_rate_" + std::to_string(ctx.rank()) + ".tmp");

  // Cold memory first: wait until what the workflow freed has gone back to the host (the
  // reporting delay is 2 s), then touch fresh memory, and pwrite it into a new file (fresh page
  // cache pages). Once each: a second pass would find warm pages.
  {
    sleeping_barrier(ctx.comm(), "waiting for free page reporting");
    std::this_thread::sleep_for(std::chrono::seconds(5));
    const Mapping cold(bytes);
    out.fresh_cold = rate("measuring cold first touch", [&] {
      parallel_ranges(threads, bytes, [&](std::size_t b, std::size_t e) {
        std::memset(cold.data() + b, 3, e - b);
      });
    });
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(file.string() + ": open: " + errno_text());
    out.pwrite_cold = rate("measuring cold pwrite",
                           [&] { file_io(fd, true, cold.data(), bytes, threads, file); });
    ::close(fd);
    fs::remove(file);  // unlinked before write-back: the dirty pages are dropped
  }

  // Generation: the same values as random(), in L1-sized blocks, summed (never stored).
  std::vector<double> partial(static_cast<std::size_t>(threads));
  out.philox = best("measuring philox", [&] {
    std::vector<std::thread> pool;
    const std::size_t step = (n / static_cast<std::size_t>(threads)) & ~std::size_t{1};
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const r123::Philox4x32 rng;
        const std::size_t begin = static_cast<std::size_t>(t) * step;
        const std::size_t end = t + 1 == threads ? n : begin + step;
        double block[2048];
        double total = 0;
        for (std::size_t b = begin; b < end; b += 2048) {
          const std::size_t len = std::min<std::size_t>(2048, end - b) & ~std::size_t{1};
          for (std::size_t i = 0; i < len; i += 2)
            philox_pair(rng, kKey, b + i, block + i);
          for (std::size_t i = 0; i < len; ++i)
            total += block[i];
        }
        partial[static_cast<std::size_t>(t)] = total;
      });
    }
    for (std::thread& t : pool)
      t.join();
  });

  // The source: X's first values (random(seed 0)), generated into touched memory.
  std::vector<double> src(n);
  parallel_ranges(threads, n / 2, [&](std::size_t b, std::size_t e) {
    const r123::Philox4x32 rng;
    for (std::size_t p = b; p < e; ++p)
      philox_pair(rng, kKey, 2 * p, src.data() + 2 * p);
  });
  if (src[1] != random_value(0, Shape{1, static_cast<index_t>(n)}, 0, 1))
    throw Error("seed_workflow: the Philox loop differs from random()");
  const auto* in = reinterpret_cast<const std::byte*>(src.data());
  std::vector<std::byte> dst(bytes, std::byte{1});  // touched

  out.memcpy = best("measuring memcpy", [&] {
    parallel_ranges(threads, bytes, [&](std::size_t b, std::size_t e) {
      std::memcpy(dst.data() + b, in + b, e - b);
    });
  });

  // First touch of fresh memory: page faults and the kernel's zeroing, then the writes.
  double munmap_best = 0;
  out.fresh = 0;
  for (int i = 0; i < 3; ++i) {
    std::optional<Mapping> fresh(bytes);
    out.fresh = std::max(out.fresh, rate("measuring first touch", [&] {
                           parallel_ranges(threads, bytes, [&](std::size_t b, std::size_t e) {
                             std::memset(fresh->data() + b, 2, e - b);
                           });
                         }));
    munmap_best = std::max(munmap_best, rate("measuring munmap", [&] { fresh.reset(); }));
  }
  out.munmap = munmap_best;

  // pwrite into the page cache (a new file, not synced), pread back into touched memory, then
  // fsync: the disk's rate for the same bytes counts pwrite and fsync together.
  {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(file.string() + ": open: " + errno_text());
    auto* source = const_cast<std::byte*>(in);  // pwrite only reads it
    const Span write =
        timed(ctx, "measuring pwrite", [&] { file_io(fd, true, source, bytes, threads, file); });
    out.pwrite = all / write.seconds;
    out.pread =
        best("measuring pread", [&] { file_io(fd, false, dst.data(), bytes, threads, file); });
    const Span sync = timed(ctx, "measuring fsync", [&] {
      if (::fsync(fd) != 0) throw IoError(file.string() + ": fsync: " + errno_text());
    });
    out.disk = all / (write.seconds + sync.seconds);
    ::close(fd);
    fs::remove(file);
  }

  // Blosc lz4, clevel 5, byte shuffle, 8-byte items, on zarr-sized chunks (128 MiB at most) of
  // X's values, into touched memory, on the rank's threads: what the zarr writer and reader do.
  const std::size_t chunk = std::min<std::size_t>(bytes, std::size_t{128} << 20);
  std::vector<std::byte> packed(bytes + (bytes / chunk + 1) * BLOSC_MAX_OVERHEAD, std::byte{1});
  std::vector<std::size_t> sizes;
  out.lz4c = best("measuring lz4 compression", [&] {
    sizes.clear();
    std::size_t at = 0;
    for (std::size_t b = 0; b < bytes; b += chunk) {
      const std::size_t len = std::min(chunk, bytes - b);
      const int got =
          blosc_compress_ctx(5, BLOSC_SHUFFLE, sizeof(double), len, in + b, packed.data() + at,
                             len + BLOSC_MAX_OVERHEAD, "lz4", 0, threads);
      if (got <= 0) throw Error("seed_workflow: blosc_compress_ctx failed");
      sizes.push_back(static_cast<std::size_t>(got));
      at += static_cast<std::size_t>(got);
    }
  });
  std::size_t packed_bytes = 0;
  for (std::size_t s : sizes)
    packed_bytes += s;
  out.lz4_ratio = static_cast<double>(packed_bytes) / static_cast<double>(bytes);
  out.lz4d = best("measuring lz4 decompression", [&] {
    std::size_t at = 0, b = 0;
    for (std::size_t s : sizes) {
      const std::size_t len = std::min(chunk, bytes - b);
      if (blosc_decompress_ctx(packed.data() + at, dst.data() + b, len, threads) !=
          static_cast<int>(len))
        throw Error("seed_workflow: blosc_decompress_ctx failed");
      at += s;
      b += len;
    }
  });
  if (std::memcmp(dst.data(), in, bytes) != 0) throw Error("seed_workflow: lz4 roundtrip differs");
  return out;
}

struct Args {
  index_t m = 0, n = 0;
  fs::path out;
  Residence residence = Residence::distributed;
};

int run(const Args& args) {
  Context ctx;
  const bool root = ctx.rank() == 0;
  const std::string load_before = load_average();
  on_root(ctx.comm(), 0, "creating the output folder", [&] { fs::create_directories(args.out); });
  const fs::path h5ad = fs::absolute(args.out / "tessera_concat.h5ad");
  const fs::path zarr = fs::absolute(args.out / "tessera_concat.zarr");
  on_root(ctx.comm(), 0, "removing old outputs", [&] {
    fs::remove_all(h5ad);
    fs::remove_all(zarr);
  });

  std::vector<std::pair<std::string, Span>> stages;
  std::vector<std::pair<std::string, std::string>> notes;
  // Rank 0's buffer pool (core/buffer_pool.hpp) per stage: big buffers that had to be mapped
  // fresh (first touch page-faults them in) and ones served from freed memory.
  std::string pool_line = "# pool_fresh/reused";
  const auto stage = [&](const char* name, const std::function<void()>& body) {
    const BufferPool::Stats before = BufferPool::instance().stats();
    stages.emplace_back(name, timed(ctx, name, body));
    const BufferPool::Stats after = BufferPool::instance().stats();
    pool_line += " " + std::string(name) + "=" + std::to_string(after.fresh - before.fresh) + "/" +
                 std::to_string(after.reused - before.reused);
  };

  // concat+rowsum
  std::optional<AnnData> adata, adata2, adata_concat;
  Chunk row_sums;
  stage("concat+rowsum", [&] {
    adata = adata_with_dask(args.m, args.n, 0);
    adata2 = adata_with_dask(args.m, args.n, 1);
    ConcatOptions options;
    options.index_unique = "id";
    adata_concat = tessera::concat({*adata, *adata2}, options);
    row_sums = ctx.compute(adata_concat->X()->sum(1));
  });

  // views
  Shape view_shapes[3];
  // A view's X computed and held as --residence says: whole on every rank, on rank 0, or each
  // rank its own chunks (persisted). The shape of what is held.
  const auto materialize = [&](const Array& x) -> Shape {
    if (args.residence == Residence::distributed) return ctx.persist(x).shape();
    const Chunk whole = ctx.compute(x, args.residence == Residence::root ? 0 : -1);
    return args.residence == Residence::root && !root ? x.shape() : whole.shape();
  };
  stage("views", [&] {
    const AnnData& c = *adata_concat;
    const AnnData v1 = c(Selector::slice(std::nullopt, 500), Selector::slice(std::nullopt, 500));
    view_shapes[0] = materialize(*v1.X());
    const AnnData v2 = c(Selector::take({12, 12, 3, 5, 53}), Selector::take({1, 2, 5}));
    view_shapes[1] = materialize(*v2.X());
    const AnnData v3 = c(c.obs()["batch"] == "b");
    view_shapes[2] = materialize(*v3.X());
  });
  if (view_shapes[0] != Shape{std::min<index_t>(500, 2 * args.m), std::min<index_t>(500, args.n)} ||
      view_shapes[1] != Shape{5, 3} || view_shapes[2] != Shape{2 * (args.m - args.m / 2), args.n})
    throw Error("seed_workflow: a view has the wrong shape");

  // to_memory
  std::optional<AnnData> mem;
  stage("to_memory", [&] { mem = adata_concat->to_memory(ctx, false, args.residence); });
  // Bytes held on this rank and whether layers['a'] shares X's buffers.
  std::size_t held_here = 0;
  bool shares = true;
  {
    const auto local = [&](const Array& a) {
      std::vector<Chunk> chunks;
      if (const Chunk* whole = a.in_memory()) {
        chunks.push_back(*whole);
      } else if (Context::ownership(a) != nullptr) {
        for (auto& [key, chunk] : Context::local_chunks(a))
          chunks.push_back(chunk);
      } else if (args.residence != Residence::root || root) {
        throw Error("seed_workflow: to_memory left a lazy array");
      }
      return chunks;
    };
    const std::vector<Chunk> x = local(*mem->X()), layer = local(mem->layers()["a"]),
                             obsm = local(mem->obsm()["a"]);
    for (std::size_t k = 0; k < x.size(); ++k) {
      shares = shares && k < layer.size() && x[k].shares_memory_with(layer[k]);
      held_here += x[k].nbytes();
    }
    for (const Chunk& c : obsm)
      held_here += c.nbytes();
    if (!shares) {
      for (const Chunk& c : layer)
        held_here += c.nbytes();
    }
  }
  notes.emplace_back("residence", std::string(name(args.residence)));
  {
    const std::int64_t held_all =
        ctx.comm().all_reduce_sum(static_cast<std::int64_t>(held_here), "bytes held");
    char text[32];
    std::snprintf(text, sizeof text, "%.3fGiB", static_cast<double>(held_all) / kGiB);
    notes.emplace_back("held_sum", text);
  }
  notes.emplace_back("layer_shares_X", shares ? "1" : "0");

  // Writes of the in-memory object (the peer must write one: anndata 0.8 writes no dask arrays).
  io::WriteOptions h5ad_options;
  h5ad_options.compression = io::Compression{};  // none, anndata's default for h5ad
  io::WriteOptions zarr_options;
  io::Compression lz4;
  lz4.codec = io::Codec::blosc;
  lz4.cname = "lz4";
  lz4.level = 5;
  lz4.shuffle = 1;
  zarr_options.compression = lz4;
  stage("write_h5ad", [&] { io::write_h5ad(*mem, h5ad, ctx, h5ad_options); });
  notes.emplace_back("sync_h5ad", seconds_text(timed(ctx, "fsync h5ad", [&] {
                                                 if (root) fsync_tree(h5ad);
                                               }).seconds));
  stage("write_zarr", [&] { io::write_zarr(*mem, zarr, ctx, zarr_options); });
  notes.emplace_back("sync_zarr", seconds_text(timed(ctx, "fsync zarr", [&] {
                                                 if (root) fsync_tree(zarr);
                                               }).seconds));
  // What was written: X, layers['a'] and obsm['a'] of the concatenation.
  const std::size_t materialized =
      static_cast<std::size_t>(2 * args.m) * static_cast<std::size_t>(2 * args.n + kObsmCols) * 8;
  mem.reset();

  // Reads into memory, each with X's row sums; the objects are freed after them.
  io::ReadOptions eager;
  eager.lazy = false;
  eager.residence = args.residence;
  double worst = 0;
  for (const auto& [name, path] : {std::pair{"read_h5ad", h5ad}, std::pair{"read_zarr", zarr}}) {
    Chunk sums;
    stage(name, [&] {
      const AnnData back = name == std::string("read_h5ad") ? io::read_h5ad(path, ctx, eager)
                                                            : io::read_zarr(path, ctx, eager);
      sums = ctx.compute(back.X()->sum(1));
    });
    if (!identical(sums, row_sums)) {
      std::ostringstream why;
      why << "differ(" << to_string(sums.shape()) << "," << tessera::name(sums.dtype()) << ","
          << max_relative_difference(row_sums, sums) << ")";
      notes.emplace_back(std::string(name) + "_rowsums", why.str());
    }
    // The library's own comparison: |a - b| / max(1, |b|), the row sums being ~N / 2.
    worst = std::max(worst, max_relative_difference(row_sums, sums));
  }
  if (!(worst <= 1e-12)) throw Error("seed_workflow: read-back row sums differ from X's");

  // Memory before anything else is allocated: every rank's peak, added up.
  const std::vector<std::int64_t> peaks = ctx.comm().all_gather(peak_rss_bytes(), "peak memory");
  const std::string load_after_workflow = load_average();

  on_root(ctx.comm(), 0, "removing outputs", [&] {
    fs::remove_all(h5ad);
    fs::remove_all(zarr);
  });

  // Rates, on 512 MiB per rank (or the materialized bytes, when smaller), and the bounds.
  const std::size_t rate_bytes = std::max<std::size_t>(
      std::size_t{64} << 20, std::min<std::size_t>(std::size_t{512} << 20, materialized));
  const Rates r = measure_rates(ctx, fs::absolute(args.out), rate_bytes);

  if (!root) return 0;
  std::ostringstream line;
  line.setf(std::ios::fixed);
  line.precision(3);
  double total = 0;
  for (const auto& [name, span] : stages) {
    line << name << "=" << span.seconds << "s ";
    total += span.seconds;
  }
  line << "total=" << total << "s";
  std::cout << line.str() << "\n";

  std::ostringstream info;
  info.setf(std::ios::fixed);
  info.precision(3);
  std::int64_t peak_sum = 0;
  std::string per_rank;
  for (std::int64_t p : peaks) {
    peak_sum += p;
    char text[32];
    std::snprintf(text, sizeof text, "%s%.3f", per_rank.empty() ? "" : ",",
                  static_cast<double>(p) / kGiB);
    per_rank += text;
  }
  info << pool_line << "\n#";
  for (const auto& [name, value] : notes)
    info << " " << name << "=" << value;
  info << " peak_rss_sum=" << static_cast<double>(peak_sum) / kGiB
       << "GiB peak_rss_ranks=" << per_rank << " ranks=" << ctx.size()
       << " threads=" << ctx.threads() << " M=" << args.m << " N=" << args.n
       << " load_before=" << load_before << " load_after=" << load_after_workflow << "\n";

  // The bounds: each stage's least work at these rates (all ranks together). G: X's bytes,
  // O: obsm's, B: the materialized (and written) bytes X + layer + obsm, V: the batch-'b' view's,
  // R: ranks; c: lz4's compressed / uncompressed. Results "on every rank" are R fresh copies, of
  // which R - 1 arrive from another rank (a copy).
  const double R = ctx.size();
  const double G = static_cast<double>(2 * args.m * args.n * 8) / kGiB;
  const double O = static_cast<double>(2 * args.m * kObsmCols * 8) / kGiB;
  const double B = static_cast<double>(materialized) / kGiB;
  const double V = static_cast<double>(2 * (args.m - args.m / 2) * args.n * 8) / kGiB;
  const double c = r.lz4_ratio;
  // Holding B bytes in memory: `copies` fresh copies of them across the ranks, and `moved` of
  // them arriving from another rank (a copy), by residence; views are computed to every rank.
  const double copies = args.residence == Residence::every_rank ? R : 1;
  const double moved = args.residence == Residence::every_rank ? R - 1
                       : args.residence == Residence::root     ? (R - 1) / R
                                                               : 0;
  const double rowsum = G / (2 * r.memcpy);  // reading X once
  const double Mh = shares ? G + O : B;      // materialized by to_memory (layers['a'] shares X's)
  const auto hold = [&](double bytes, double fresh) {
    return bytes * (copies / fresh + moved / r.memcpy);
  };
  const auto everywhere = [&](double bytes, double fresh) {
    return bytes * (R / fresh + (R - 1) / r.memcpy);
  };
  info << "# rates_GiBps philox=" << r.philox << " memcpy=" << r.memcpy << " fresh=" << r.fresh
       << " munmap=" << r.munmap << " pwrite=" << r.pwrite << " pread=" << r.pread
       << " disk=" << r.disk << " lz4c=" << r.lz4c << " lz4d=" << r.lz4d << " lz4_ratio=" << c
       << " fresh_cold=" << r.fresh_cold << " pwrite_cold=" << r.pwrite_cold << " (on "
       << rate_bytes / (1 << 20) << " MiB per rank)\n";
  // The same with every fresh page and every page-cache page cold (the hypervisor's too): the
  // other end of the range on this VM. A run lands between the two, by how much of what it
  // allocates was freed moments before.
  for (const bool cold : {false, true}) {
    const double fresh = cold ? r.fresh_cold : r.fresh;
    const double pwrite = cold ? r.pwrite_cold : r.pwrite;
    info << (cold ? "# bound_cold_s" : "# bound_s") << " concat+rowsum=" << G / r.philox
         << " views=" << V / r.philox + everywhere(V, fresh)
         << " to_memory=" << (G + O) / r.philox + hold(Mh, fresh) << " write_h5ad=" << B / pwrite
         << " write_zarr=" << B / r.lz4c + c * B / pwrite
         << " read_h5ad=" << B / r.pread + hold(B, fresh) + rowsum
         << " read_zarr=" << c * B / r.pread + B / r.lz4d + hold(B, fresh) + rowsum;
    if (!cold)
      info << " durable_h5ad=" << B / r.disk << " durable_zarr=" << B / r.lz4c + c * B / r.disk;
    info << "\n";
  }
  // Stage boundaries on rank 0's CLOCK_MONOTONIC, for `perf report --time`.
  info << "# stage_clock";
  for (const auto& [name, span] : stages)
    info << " " << name << "=" << std::setprecision(6) << span.start << "," << span.end;
  info << "\n";
  std::cout << info.str() << std::flush;
  return 0;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) {
  tessera::bench::Args args;
  if (argc == 6 && std::string(argv[4]) == "--residence") {
    try {
      args.residence = tessera::parse_residence(argv[5]);
      if (args.residence == tessera::Residence::root) {
        // The object then differs between ranks (residence.hpp): the collective writes refuse it.
        std::cerr << "seed_workflow: --residence root leaves the other ranks a lazy object, which "
                     "the collective writes after to_memory cannot take; use every_rank or "
                     "distributed\n";
        return 2;
      }
    } catch (const std::exception& e) {
      std::cerr << "seed_workflow: " << e.what() << "\n";
      return 2;
    }
  } else if (argc != 4) {
    std::cerr << "usage: seed_workflow M N OUTDIR [--residence distributed|every_rank]\n"
                 "  two M x N objects; files go to OUTDIR; to_memory and the eager reads hold\n"
                 "  their arrays as --residence says (default: distributed)\n";
    return 2;
  }
  args.m = std::atoll(argv[1]);
  args.n = std::atoll(argv[2]);
  args.out = argv[3];
  if (args.m < 27 || args.n < 6) {
    std::cerr << "seed_workflow: M must be at least 27 and N at least 6 (the list view takes row "
                 "53 of the concatenation and column 5)\n";
    return 2;
  }
  try {
    return tessera::bench::run(args);
  } catch (const std::exception& e) {
    // A failure on one rank must not leave the others waiting in a collective.
    std::cerr << "seed_workflow: " << e.what() << std::endl;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized != 0) MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
}
