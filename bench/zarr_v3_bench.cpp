// Zarr v3 sharded against Zarr v2, and both against the codec's own rate on the same bytes: the
// writing and reading of a 1 GiB dense float64 X (16384 x 8192, 1024 x 1024 chunks; v3 in shards
// of 4096 x 8192) and of a 2 GiB CSR X (131072 x 16384, 2^28 stored float32 values with int32
// indices, 1-D chunks of 2^20 elements in both formats: sparse arrays are not sharded), with
// zstd level 0 (Zarr v3's default codec), and the dense X with Blosc lz4 too (the CSR X is not
// run with lz4, to keep one run under ten minutes). Run the binary under
// `mpirun -np 1 --bind-to none` and `mpirun -np 2 --bind-to none` (docs/benchmarks.md, section
// "Zarr v3 sharded vs v2").
//
// Every iteration times three contestants one after the other, in an order that rotates from one
// iteration to the next: Tessera's v2 store, Tessera's v3 store, and the bound. Writes are timed
// until durable (the writer, then fsync of the store; counters *_cache: the writer alone), reads
// from a cold page cache and again warm (the files in the page cache), each read being
// read_zarr and a persist of X (each rank reads the chunks it owns).
//
// The bound is hand-written on the same bytes, cut into the same chunks, on the same threads
// (each rank's Context::threads(), each thread one chunk at a time, every buffer reused and
// touched before the timers): libzstd (ZSTD_compressCCtx / ZSTD_decompressDCtx, level 0) or
// libblosc (blosc_compress_ctx / blosc_decompress_ctx, lz4, clevel 5, byte shuffle, one Blosc
// thread per thread). Writes: a memcpy of the raw bytes, the compression alone (`bound`), then a
// pwrite and fsync of the compressed bytes (`disk`). Reads: pread and decompression from a cold
// page cache (`peer_cold`), the decompression alone from memory (`bound`), and the first touch of
// fresh memory of the result's size (`fresh`, what a read into a new array pays and the bound
// does not). Every figure is the slowest rank's (a barrier before, the maximum over ranks after).
#include <benchmark/benchmark.h>
#include <blosc.h>
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io_bench_common.hpp"
#include "mpi_bench.hpp"
#include "tessera/anndata/anndata.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::bench {
namespace {

namespace fs = std::filesystem;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Dense X: 16384 x 8192 float64, 1 GiB, held in memory in row blocks of the shard's shape
// (4096 x 8192, 256 MiB) so that both formats copy each value once on its way to the codec (v2:
// the rechunk to 1024 x 1024 chunks; v3: each inner chunk gathered from its shard's rows).
constexpr index_t kRows = 16384;
constexpr index_t kCols = 8192;
constexpr index_t kHeldRows = 4096;
constexpr index_t kChunk = 1024;      // v2 chunks, v3 inner chunks: 1024 x 1024, 8 MiB
constexpr index_t kShardRows = 4096;  // v3 shards: 4096 x 8192, 32 inner chunks, 256 MiB
constexpr index_t kDenseBytes = kRows * kCols * static_cast<index_t>(sizeof(double));

// CSR X: 131072 cells x 16384 genes at density 1/8 (2^28 stored values expected), chunk-rows of
// 8192 whole rows; in the files 1-D chunks of 2^20 elements (WriteOptions::sparse_chunk).
constexpr index_t kCsrRows = 131072;
constexpr index_t kCsrCols = 16384;
constexpr double kDensity = 0.125;
constexpr index_t kCsrChunkRows = 8192;
constexpr index_t kSparseChunk = index_t{1} << 20;

int iterations() {
  return iterations_from_env("TESSERA_BENCH_ZARR_ITERATIONS");
}

fs::path work_dir() {
  return bench::work_dir("TESSERA_BENCH_ZARR_DIR", "tessera_bench_zarr.tmp");
}

// With $TESSERA_BENCH_ZARR_VERBOSE set, rank 0 tells on stderr how long each step outside the
// timers took (building the data, the checks), to see where a run's time goes.
void note(const Context& ctx, const std::string& what, Clock::time_point start) {
  static const bool verbose = std::getenv("TESSERA_BENCH_ZARR_VERBOSE") != nullptr;
  if (verbose && ctx.rank() == 0)
    std::fprintf(stderr, "[zarr bench] %s: %.2f s\n", what.c_str(), since(start));
}

// For profiling one contestant (perf record): $TESSERA_BENCH_ZARR_ONLY = v2, v3 or bound runs only
// that one in the timed iterations and skips the checks; the other contestants' counters are 0.
bool runs(int who) {
  static const std::string only = [] {
    const char* env = std::getenv("TESSERA_BENCH_ZARR_ONLY");
    return std::string(env != nullptr ? env : "");
  }();
  static const char* const kNames[] = {"v2", "v3", "bound"};
  return only.empty() || only == kNames[who];
}
bool checking() {
  return std::getenv("TESSERA_BENCH_ZARR_ONLY") == nullptr;
}

// perf record --control=fifo:CTL,ACK --delay=-1: with $TESSERA_BENCH_ZARR_PERF_CTL=CTL and
// $TESSERA_BENCH_ZARR_PERF_ACK=ACK, rank 0 turns the profiler on for each timed contestant and
// off after it, so that a profile holds the timed work only (not the data's construction, nor
// the checks).
class Profiler {
 public:
  static Profiler& get() {
    static Profiler p;
    return p;
  }
  void enable(const Context& ctx) { send(ctx, "enable\n"); }
  void disable(const Context& ctx) { send(ctx, "disable\n"); }

 private:
  Profiler() {
    const char* ctl = std::getenv("TESSERA_BENCH_ZARR_PERF_CTL");
    const char* ack = std::getenv("TESSERA_BENCH_ZARR_PERF_ACK");
    if (ctl != nullptr && ack != nullptr && context().rank() == 0) {
      ctl_.emplace(ctl, O_WRONLY);
      ack_.emplace(ack, O_RDONLY);
    }
  }
  void send(const Context& ctx, const char* command) {
    ctx.comm().barrier("zarr bench: profiler");
    if (!ctl_) return;
    if (::write(ctl_->get(), command, std::strlen(command)) < 0)
      throw IoError("perf control: write: " + errno_text());
    char answer[16];
    (void)::read(ack_->get(), answer, sizeof(answer));
  }
  std::optional<Fd> ctl_, ack_;
};

enum class CodecKind : std::uint8_t { zstd, lz4 };

// The same codec in both formats: zstd level 0 (Zarr v3's default, zarr-python 3's too), or
// Blosc lz4 (clevel 5, byte shuffle, as tessera_bench_io).
io::Compression compression_of(CodecKind kind) {
  if (kind == CodecKind::lz4) return io::Compression::from_name("lz4");
  io::Compression c;
  c.codec = io::Codec::zstd;
  c.level = 0;
  return c;
}

// ---------------------------------------------------------------------------------------------
// The data, persisted on the ranks that own its chunk-rows, built once per process.

// Counts-like values: 0 with probability 9/16, else 1..7 (small integers, as raw counts are).
const Array& dense_x() {
  static std::optional<Array> x;
  if (!x) {
    const auto start = Clock::now();
    const Array r = random(Shape{kRows, kCols}, ChunkSpec(kHeldRows, kCols), 7);
    x = context().persist(
        apply(BinaryOp::maximum, r * 16.0 - 8.0, 0.0).astype(DType::int32).astype(DType::float64));
    note(context(), "dense X built", start);
  }
  return *x;
}

// Stored values 1 + floor(8 u^3) for u uniform in (0, 1]: 1 half of the time, up to 8, as
// counts are; float32, with int32 indices in the files.
const Array& csr_x() {
  static std::optional<Array> x;
  if (!x) {
    const auto start = Clock::now();
    const Array u = random_sparse(Shape{kCsrRows, kCsrCols}, ChunkSpec(kCsrChunkRows, kCsrCols),
                                  kDensity, 11, DType::float32);
    const Array cube = u * apply(UnaryOp::square, u);
    x = context().persist(
        (apply(UnaryOp::sign, u) + (cube * 8.0).astype(DType::int32)).astype(DType::float32));
    note(context(), "CSR X built", start);
  }
  return *x;
}

// Stored values of `x` on all ranks.
index_t total_nnz(const Context& ctx, const Array& x) {
  std::int64_t mine = 0;
  for (const auto& [ij, chunk] : Context::local_chunks(x))
    mine += chunk.nnz();
  return ctx.comm().all_reduce_sum(mine, "zarr bench: stored values");
}

// Bytes the codec sees: dense values, or CSR data and indices (4 bytes each; indptr is < 0.1 %).
index_t raw_bytes(const Context& ctx, bool sparse) {
  return sparse ? total_nnz(ctx, csr_x()) * 8 : kDenseBytes;
}

// ---------------------------------------------------------------------------------------------
// The bound: the codec alone on this rank's bytes, cut as the files cut them.

struct Piece {
  const std::byte* data;
  std::size_t bytes;
  std::size_t typesize;
};

// Collective use only through the benchmarks below; each method is this rank's part and returns
// this rank's seconds.
class CodecBound {
 public:
  CodecBound(CodecKind kind, std::vector<Piece> pieces, int threads)
      : kind_(kind), pieces_(std::move(pieces)), threads_(std::max(threads, 1)) {
    std::size_t capacity = 0;
    for (const Piece& p : pieces_) {
      slots_.push_back(capacity);
      capacity += bound_of(p.bytes);
      raw_bytes_ += p.bytes;
      max_piece_ = std::max(max_piece_, p.bytes);
    }
    arena_.assign(capacity, std::byte{1});  // touched now, reused by every pass
    sizes_.assign(pieces_.size(), 0);
    for (int t = 0; t < threads_; ++t) {
      out_.emplace_back(max_piece_, std::byte{1});
      in_.emplace_back(bound_of(max_piece_), std::byte{1});
      cctx_.push_back(ZSTD_createCCtx());
      dctx_.push_back(ZSTD_createDCtx());
    }
  }
  CodecBound(const CodecBound&) = delete;
  CodecBound& operator=(const CodecBound&) = delete;
  ~CodecBound() {
    for (ZSTD_CCtx* c : cctx_)
      ZSTD_freeCCtx(c);
    for (ZSTD_DCtx* d : dctx_)
      ZSTD_freeDCtx(d);
  }

  // Every piece compressed into its own slot of the arena.
  double compress() {
    return run([&](int t, std::size_t i) {
      const Piece& p = pieces_[i];
      std::byte* dst = arena_.data() + slots_[i];
      const std::size_t capacity = bound_of(p.bytes);
      std::size_t n = 0;
      if (kind_ == CodecKind::zstd) {
        n = ZSTD_compressCCtx(cctx_[static_cast<std::size_t>(t)], dst, capacity, p.data, p.bytes,
                              0);
        if (ZSTD_isError(n) != 0U) throw InternalError("zarr bench: ZSTD_compressCCtx failed");
      } else {
        const int r = blosc_compress_ctx(5, BLOSC_SHUFFLE, p.typesize, p.bytes, p.data, dst,
                                         capacity, "lz4", 0, 1);
        if (r <= 0) throw InternalError("zarr bench: blosc_compress_ctx failed");
        n = static_cast<std::size_t>(r);
      }
      sizes_[i] = n;
    });
  }

  // Every slot decompressed into the thread's reused buffer.
  double decompress() {
    return run([&](int t, std::size_t i) { decode(t, arena_.data() + slots_[i], i); });
  }

  // The raw bytes copied into the arena (compress() afterwards puts the compressed bytes back).
  double copy() {
    return run([&](int, std::size_t i) {
      std::memcpy(arena_.data() + slots_[i], pieces_[i].data, pieces_[i].bytes);
    });
  }

  // The compressed bytes, end to end, into `path` with one pwrite each, then fsync.
  double write_file(const fs::path& path) {
    remove_path(path);
    const auto start = Clock::now();
    const Fd fd(path, O_WRONLY | O_CREAT | O_TRUNC);
    off_t at = 0;
    offsets_.clear();
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      offsets_.push_back(at);
      write_all(fd.get(), arena_.data() + slots_[i], sizes_[i], at, path);
      at += static_cast<off_t>(sizes_[i]);
    }
    if (::fsync(fd.get()) != 0) throw IoError(path.string() + ": fsync: " + errno_text());
    return since(start);
  }

  // The file of write_file read back chunk by chunk (pread into the thread's reused buffer) and
  // decompressed.
  double read_file(const fs::path& path) {
    const Fd fd(path, O_RDONLY);
    return run([&](int t, std::size_t i) {
      std::byte* in = in_[static_cast<std::size_t>(t)].data();
      read_all(fd.get(), in, sizes_[i], offsets_[i], path);
      decode(t, in, i);
    });
  }

  // Fresh memory of the raw size, allocated and first touched by the threads (each a share).
  double touch_fresh() {
    const std::size_t share = raw_bytes_ / static_cast<std::size_t>(threads_) + 1;
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    std::vector<std::size_t> check(static_cast<std::size_t>(threads_), 0);
    for (int t = 0; t < threads_; ++t) {
      workers.emplace_back([&, t] {
        const auto fresh = std::make_unique_for_overwrite<std::byte[]>(share);
        std::memset(fresh.get(), 1, share);
        check[static_cast<std::size_t>(t)] = static_cast<std::size_t>(fresh[share / 2]);
      });
    }
    for (std::thread& w : workers)
      w.join();
    const double s = since(start);
    benchmark::DoNotOptimize(check.data());
    return s;
  }

  [[nodiscard]] std::size_t raw_bytes() const { return raw_bytes_; }
  [[nodiscard]] std::size_t compressed_bytes() const {
    std::size_t n = 0;
    for (std::size_t s : sizes_)
      n += s;
    return n;
  }
  // Bytes per second of one thread in the last pass (its bytes over its busy time, all threads).
  [[nodiscard]] double thread_rate() const { return thread_rate_; }

 private:
  std::size_t bound_of(std::size_t bytes) const {
    return kind_ == CodecKind::zstd ? ZSTD_compressBound(bytes) : bytes + BLOSC_MAX_OVERHEAD;
  }

  void decode(int t, const std::byte* src, std::size_t i) {
    std::byte* dst = out_[static_cast<std::size_t>(t)].data();
    const Piece& p = pieces_[i];
    if (kind_ == CodecKind::zstd) {
      const std::size_t n =
          ZSTD_decompressDCtx(dctx_[static_cast<std::size_t>(t)], dst, p.bytes, src, sizes_[i]);
      if (ZSTD_isError(n) != 0U || n != p.bytes)
        throw InternalError("zarr bench: ZSTD_decompressDCtx failed");
    } else {
      const int n = blosc_decompress_ctx(src, dst, p.bytes, 1);
      if (n < 0 || static_cast<std::size_t>(n) != p.bytes)
        throw InternalError("zarr bench: blosc_decompress_ctx failed");
    }
  }

  // `work(thread, piece)` for every piece, the threads taking pieces in turn. Returns the wall
  // time; an exception in a thread is rethrown here.
  double run(const std::function<void(int, std::size_t)>& work) {
    std::atomic<std::size_t> next{0};
    std::vector<double> busy(static_cast<std::size_t>(threads_), 0);
    std::vector<std::size_t> done(static_cast<std::size_t>(threads_), 0);
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads_));
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads_; ++t) {
      workers.emplace_back([&, t] {
        const auto u = static_cast<std::size_t>(t);
        const auto mine = Clock::now();
        try {
          for (std::size_t i = next++; i < pieces_.size(); i = next++) {
            work(t, i);
            done[u] += pieces_[i].bytes;
          }
        } catch (...) {
          errors[u] = std::current_exception();
        }
        busy[u] = since(mine);
      });
    }
    for (std::thread& w : workers)
      w.join();
    const double s = since(start);
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
    double seconds = 0;
    std::size_t bytes = 0;
    for (std::size_t u = 0; u < busy.size(); ++u) {
      seconds += busy[u];
      bytes += done[u];
    }
    thread_rate_ = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
    return s;
  }

  CodecKind kind_;
  std::vector<Piece> pieces_;
  int threads_;
  std::size_t raw_bytes_ = 0;
  std::size_t max_piece_ = 0;
  std::vector<std::size_t> slots_;  // each piece's place in the arena
  std::vector<std::size_t> sizes_;  // each piece compressed
  std::vector<off_t> offsets_;      // each piece's place in the file
  std::vector<std::byte> arena_;
  std::vector<std::vector<std::byte>> out_;  // per thread: one decoded piece
  std::vector<std::vector<std::byte>> in_;   // per thread: one compressed piece read from disk
  std::vector<ZSTD_CCtx*> cctx_;
  std::vector<ZSTD_DCtx*> dctx_;
  double thread_rate_ = 0;
};

// This rank's dense chunks cut into 1024 x 1024 pieces, each gathered contiguous (the codec sees
// what both formats hand it), outside the timers.
struct DensePieces {
  std::vector<double> gathered;
  std::vector<Piece> pieces;
};

DensePieces dense_pieces() {
  DensePieces out;
  const auto chunks = Context::local_chunks(dense_x());
  std::size_t values = 0;
  for (const auto& [ij, chunk] : chunks)
    values += static_cast<std::size_t>(chunk.rows() * chunk.cols());
  out.gathered.resize(values);
  double* dst = out.gathered.data();
  constexpr auto kPiece = static_cast<std::size_t>(kChunk * kChunk);
  for (const auto& [ij, chunk] : chunks) {
    for (index_t r0 = 0; r0 < chunk.rows(); r0 += kChunk) {
      for (index_t c0 = 0; c0 < chunk.cols(); c0 += kChunk) {
        for (index_t r = r0; r < r0 + kChunk; ++r)
          std::memcpy(dst + (r - r0) * kChunk, chunk.row<double>(r) + c0, kChunk * sizeof(double));
        out.pieces.push_back(
            {reinterpret_cast<const std::byte*>(dst), kPiece * sizeof(double), sizeof(double)});
        dst += kPiece;
      }
    }
  }
  return out;
}

// This rank's CSR data (float32, a view of the chunks) and indices (converted to int32, as the
// files store them), each cut into pieces of 2^20 values within each chunk-row.
struct CsrPieces {
  std::vector<std::int32_t> indices;
  std::vector<Piece> pieces;
};

CsrPieces csr_pieces() {
  CsrPieces out;
  const auto chunks = Context::local_chunks(csr_x());
  std::size_t total = 0;
  for (const auto& [ij, chunk] : chunks)
    total += static_cast<std::size_t>(chunk.nnz());
  out.indices.reserve(total);
  for (const auto& [ij, chunk] : chunks) {
    const auto ip = chunk.indptr();
    const index_t n = ip.back() - ip.front();
    const std::size_t first = out.indices.size();
    for (index_t k = ip.front(); k < ip.back(); ++k)
      out.indices.push_back(static_cast<std::int32_t>(chunk.indices()[k]));
    const auto* data = reinterpret_cast<const std::byte*>(chunk.data<float>() + ip.front());
    const auto* idx = reinterpret_cast<const std::byte*>(out.indices.data() + first);
    for (index_t at = 0; at < n; at += kSparseChunk) {
      const auto bytes = static_cast<std::size_t>(std::min(kSparseChunk, n - at)) * 4;
      out.pieces.push_back({data + at * 4, bytes, 4});
      out.pieces.push_back({idx + at * 4, bytes, 4});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tessera's contestants

struct Store {
  const char* label;  // "v2", "v3"
  io::WriteOptions options;
};

std::vector<Store> stores(CodecKind kind, bool sparse) {
  io::WriteOptions v2;
  v2.compression = compression_of(kind);
  v2.zarr_format = 2;
  v2.sparse_chunk = kSparseChunk;
  if (!sparse) v2.chunks = ChunkSpec(kChunk, kChunk);
  io::WriteOptions v3 = v2;
  v3.zarr_format = 3;
  if (!sparse) v3.shards = ChunkSpec(kShardRows, kCols);
  return {{"v2", v2}, {"v3", v3}};
}

fs::path store_path(const Store& s) {
  return work_dir() / (std::string("tessera_") + s.label + ".zarr");
}

fs::path bound_path(const Context& ctx) {
  return work_dir() / ("bound." + std::to_string(ctx.rank()) + ".bin");
}

void prepare_dir(const Context& ctx) {
  if (ctx.rank() == 0) fs::create_directories(work_dir());
  ctx.comm().barrier("zarr bench: work folder");
}

WriteTimes tessera_write(Context& ctx, const AnnData& a, const Store& s) {
  const fs::path path = store_path(s);
  return durable_write(ctx, path, [&] { io::write_zarr(a, path, ctx, s.options); });
}

// read_zarr, then X persisted (each rank reads the chunks it owns); the slowest rank's seconds.
double tessera_read(Context& ctx, const fs::path& path, std::optional<AnnData>& result) {
  ctx.comm().barrier("zarr bench: starting together");
  const auto start = Clock::now();
  AnnData a = io::read_zarr(path, ctx);
  a.set_X(ctx.persist(*a.X()));
  const double mine = since(start);
  result = std::move(a);
  return slowest(ctx, mine, "zarr bench: the slowest rank");
}

// Collective: X of the store at `path` equals `want`, element by element. Empty on success. The
// store is read in chunks of `want`'s rows, so that the comparison needs no rechunking (a CSR
// rechunk of 2 GiB costs more than the read).
std::string check_equal(Context& ctx, const fs::path& path, const Array& want, const char* label) {
  const index_t rows = want.chunks().max_chunk_shape().rows;
  const double row_bytes = want.is_sparse()
                               ? static_cast<double>(total_nnz(ctx, want)) * (4.0 + 8.0) /
                                     static_cast<double>(want.shape().rows)
                               : static_cast<double>(want.shape().cols) * 8.0;
  io::ReadOptions options;
  options.chunk_bytes = static_cast<index_t>((static_cast<double>(rows) + 0.5) * row_bytes);
  const AnnData got = io::read_zarr(path, ctx, options);
  if (!got.X() || got.X()->shape() != want.shape() || got.X()->is_sparse() != want.is_sparse())
    return std::string(label) + ": X read back is missing or of the wrong shape or layout";
  const Chunk n = ctx.compute((*got.X() != want).count_nonzero());
  const auto differing = static_cast<index_t>(n.value_at(0, 0));
  if (differing == 0) return {};
  return std::string(label) + ": X read back differs in " + std::to_string(differing) + " elements";
}

// The sum and the count of non-zeros of an array: exact for these small integer values in any
// order of summation (summed as float64, below 2^53; a float32 sum would round past 2^24), so a
// quick check of every timed read against X.
std::pair<double, double> checksum(Context& ctx, const Array& x) {
  const Array wide = x.astype(DType::float64);
  const std::vector<Chunk> r = ctx.compute(std::vector<Array>{wide.sum(), x.count_nonzero()});
  return {r[0].value_at(0, 0), r[1].value_at(0, 0)};
}

// Bytes of every file below `path` (rank 0's view of the store).
double size_on_disk(const fs::path& path) {
  double n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(path))
    if (entry.is_regular_file()) n += static_cast<double>(entry.file_size());
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reporting

double rate(double bytes, double seconds) {
  return seconds > 0 ? bytes / kGiB / seconds : 0;
}

// Per iteration, slow[i] / fast[i]: the rate of `fast`'s contestant over `slow`'s.
std::vector<double> ratios(const std::vector<double>& fast, const std::vector<double>& slow) {
  std::vector<double> r;
  for (std::size_t i = 0; i < fast.size() && i < slow.size(); ++i)
    r.push_back(fast[i] > 0 ? slow[i] / fast[i] : 0);
  return r;
}

std::vector<double> sums(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> s;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    s.push_back(a[i] + b[i]);
  return s;
}

// x_<name> (median of the per-iteration ratios) and its spread, x_<name>_min / _max.
void ratio_counters(benchmark::State& state, const std::string& name,
                    const std::vector<double>& r) {
  state.counters["x_" + name] = median(r);
  state.counters["x_" + name + "_min"] = minimum(r);
  state.counters["x_" + name + "_max"] = maximum(r);
}

struct Times {
  std::vector<double> v2, v3;            // writes: durable; reads: cold
  std::vector<double> v2_fast, v3_fast;  // writes: the writer alone; reads: warm
  std::vector<double> bound;             // the codec alone: compress / decompress
  std::vector<double> io;                // writes: pwrite + fsync; reads: cold pread + decompress
  std::vector<double> memory;            // writes: memcpy; reads: first touch of fresh memory
  std::vector<double> thread_rate;       // the bound's bytes per second of one thread
};

void report(benchmark::State& state, const Context& ctx, bool write, double bytes,
            double compressed, const Times& t, double v2_bytes, double v3_bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  const std::string fast = write ? "cache" : "warm";
  state.counters["v2_GiBps"] = rate(bytes, median(t.v2));
  state.counters["v3_GiBps"] = rate(bytes, median(t.v3));
  state.counters["v2_" + fast + "_GiBps"] = rate(bytes, median(t.v2_fast));
  state.counters["v3_" + fast + "_GiBps"] = rate(bytes, median(t.v3_fast));
  state.counters["bound_GiBps"] = rate(bytes, median(t.bound));
  state.counters["bound_thread_GiBps"] = median(t.thread_rate) / kGiB;
  ratio_counters(state, "v2", ratios(t.v3, t.v2));  // v3's rate / v2's: above 1, v3 faster
  ratio_counters(state, "v2_" + fast, ratios(t.v3_fast, t.v2_fast));
  // Tessera's writer alone (writes) or warm read against the codec alone.
  ratio_counters(state, "bound", ratios(t.v3_fast, t.bound));
  state.counters["x_bound_v2"] = median(ratios(t.v2_fast, t.bound));
  if (write) {
    // The compressed bytes to disk; and the bound of a durable write, compressing then writing.
    state.counters["disk_GiBps"] = rate(compressed, median(t.io));
    state.counters["bound_durable_GiBps"] = rate(bytes, median(sums(t.bound, t.io)));
    ratio_counters(state, "bound_durable", ratios(t.v3, sums(t.bound, t.io)));
    state.counters["memcpy_GiBps"] = rate(bytes, median(t.memory));
  } else {
    state.counters["peer_cold_GiBps"] = rate(bytes, median(t.io));
    ratio_counters(state, "bound_cold", ratios(t.v3, t.io));
    state.counters["fresh_GiBps"] = rate(bytes, median(t.memory));
  }
  state.counters["ratio"] = compressed > 0 ? bytes / compressed : 0;
  state.counters["v2_MiB"] = v2_bytes / (1024.0 * 1024.0);
  state.counters["v3_MiB"] = v3_bytes / (1024.0 * 1024.0);
  state.counters["ranks"] = ctx.size();
  state.counters["threads"] = ctx.threads();
}

// This rank's pieces and the bound over them (the pieces' owner kept alive beside it).
struct Bound {
  std::optional<DensePieces> dense;
  std::optional<CsrPieces> csr;
  std::unique_ptr<CodecBound> codec;
};

Bound make_bound(const Context& ctx, CodecKind kind, bool sparse) {
  Bound b;
  if (sparse) {
    b.csr = csr_pieces();
    b.codec = std::make_unique<CodecBound>(kind, b.csr->pieces, ctx.threads());
  } else {
    b.dense = dense_pieces();
    b.codec = std::make_unique<CodecBound>(kind, b.dense->pieces, ctx.threads());
  }
  return b;
}

// The compressed bytes of all ranks, and the largest of the ranks' one-thread rates' inverse.
double all_compressed(const Context& ctx, const CodecBound& codec) {
  return static_cast<double>(ctx.comm().all_reduce_sum(
      static_cast<std::int64_t>(codec.compressed_bytes()), "zarr bench: compressed bytes"));
}

double slowest_thread_rate(const Context& ctx, const CodecBound& codec) {
  const double inverse = codec.thread_rate() > 0 ? 1.0 / codec.thread_rate() : 0;
  const double worst = ctx.comm().all_reduce_max(inverse, "zarr bench: thread rate");
  return worst > 0 ? 1.0 / worst : 0;
}

double store_bytes(const Context& ctx, const Store& s) {
  const double mine = ctx.rank() == 0 ? size_on_disk(store_path(s)) : -1.0;
  return ctx.comm().all_reduce_max(mine, "zarr bench: store size");
}

// ---------------------------------------------------------------------------------------------
// The benchmarks

void BM_Write(benchmark::State& state, bool sparse, CodecKind kind) {
  Context& ctx = context();
  prepare_dir(ctx);
  const Array& x = sparse ? csr_x() : dense_x();
  const AnnData adata(x);
  const double bytes = static_cast<double>(raw_bytes(ctx, sparse));
  const std::vector<Store> both = stores(kind, sparse);
  auto step = Clock::now();
  Bound bound = make_bound(ctx, kind, sparse);
  note(ctx, "bound's pieces", step);
  const fs::path peer_file = bound_path(ctx);
  Times t;
  std::string error;
  double sizes[2] = {0, 0};
  Profiler& profiler = Profiler::get();
  int iteration = 0;
  for (auto _ : state) {
    for (int k = 0; k < 3; ++k) {
      const int who = (iteration + k) % 3;
      if (!runs(who)) continue;
      if (who < 2) {
        const Store& s = both[static_cast<std::size_t>(who)];
        profiler.enable(ctx);
        const WriteTimes w = tessera_write(ctx, adata, s);
        profiler.disable(ctx);
        (who == 0 ? t.v2 : t.v3).push_back(w.durable_s);
        (who == 0 ? t.v2_fast : t.v3_fast).push_back(w.cache_s);
        if (who == 1) state.SetIterationTime(w.durable_s);
        if (iteration == 0 && checking()) {  // read back and compared with X, outside the timers
          step = Clock::now();
          sizes[who] = store_bytes(ctx, s);
          try {
            error = check_equal(ctx, store_path(s), x, s.label);
          } catch (const std::exception& e) {
            error = e.what();
          }
          if (!agree_ok(state, ctx, error)) return;
          note(ctx, std::string(s.label) + " read back and checked", step);
        }
        if (ctx.rank() == 0) remove_path(store_path(s));
      } else {
        profiler.enable(ctx);
        t.memory.push_back(slowest(ctx, bound.codec->copy(), "zarr bench: memcpy"));
        ctx.comm().barrier("zarr bench: bound");
        t.bound.push_back(slowest(ctx, bound.codec->compress(), "zarr bench: compress"));
        t.thread_rate.push_back(slowest_thread_rate(ctx, *bound.codec));
        ctx.comm().barrier("zarr bench: bound");
        t.io.push_back(slowest(ctx, bound.codec->write_file(peer_file), "zarr bench: disk"));
        profiler.disable(ctx);
        remove_path(peer_file);
      }
    }
    ++iteration;
  }
  report(state, ctx, true, bytes, all_compressed(ctx, *bound.codec), t, sizes[0], sizes[1]);
}

void BM_Read(benchmark::State& state, bool sparse, CodecKind kind) {
  Context& ctx = context();
  prepare_dir(ctx);
  const Array& x = sparse ? csr_x() : dense_x();
  const double bytes = static_cast<double>(raw_bytes(ctx, sparse));
  const std::vector<Store> both = stores(kind, sparse);
  double sizes[2] = {0, 0};
  auto step = Clock::now();
  {
    const AnnData adata(x);
    for (std::size_t v = 0; v < both.size(); ++v) {
      (void)tessera_write(ctx, adata, both[v]);
      sizes[v] = store_bytes(ctx, both[v]);
    }
  }
  note(ctx, "stores written", step);
  step = Clock::now();
  Bound bound = make_bound(ctx, kind, sparse);
  const fs::path peer_file = bound_path(ctx);
  (void)bound.codec->compress();
  (void)bound.codec->write_file(peer_file);
  note(ctx, "bound's pieces compressed and written", step);
  const std::pair<double, double> want = checksum(ctx, x);
  std::string error;
  Times t;
  bool cold = true;
  Profiler& profiler = Profiler::get();
  std::optional<AnnData> last[2];
  int iteration = 0;
  for (auto _ : state) {
    for (int k = 0; k < 3; ++k) {
      const int who = (iteration + k) % 3;
      if (!runs(who)) continue;
      if (who < 2) {
        const auto v = static_cast<std::size_t>(who);
        last[1 - v].reset();
        const fs::path path = store_path(both[v]);
        last[v].reset();
        if (ctx.rank() == 0) cold = drop_caches() && cold;
        profiler.enable(ctx);
        const double c = tessera_read(ctx, path, last[v]);
        profiler.disable(ctx);
        if (checksum(ctx, *last[v]->X()) != want && error.empty())
          error = std::string(both[v].label) + ": the cold read's sum or non-zeros differ from X's";
        last[v].reset();
        profiler.enable(ctx);
        const double w = tessera_read(ctx, path, last[v]);
        profiler.disable(ctx);
        if (checksum(ctx, *last[v]->X()) != want && error.empty())
          error = std::string(both[v].label) + ": the warm read's sum or non-zeros differ from X's";
        (who == 0 ? t.v2 : t.v3).push_back(c);
        (who == 0 ? t.v2_fast : t.v3_fast).push_back(w);
        if (who == 1) state.SetIterationTime(c);
      } else {
        last[0].reset();
        last[1].reset();
        if (ctx.rank() == 0) cold = drop_caches() && cold;
        profiler.enable(ctx);
        t.io.push_back(slowest(ctx, bound.codec->read_file(peer_file), "zarr bench: cold read"));
        ctx.comm().barrier("zarr bench: bound");
        t.bound.push_back(slowest(ctx, bound.codec->decompress(), "zarr bench: decompress"));
        t.thread_rate.push_back(slowest_thread_rate(ctx, *bound.codec));
        ctx.comm().barrier("zarr bench: bound");
        t.memory.push_back(slowest(ctx, bound.codec->touch_fresh(), "zarr bench: fresh memory"));
        profiler.disable(ctx);
      }
    }
    ++iteration;
  }
  step = Clock::now();
  last[0].reset();
  last[1].reset();
  for (const Store& s : both) {
    if (!checking()) break;
    try {
      const std::string e = check_equal(ctx, store_path(s), x, s.label);
      if (error.empty()) error = e;
    } catch (const std::exception& e) {
      if (error.empty()) error = e.what();
    }
  }
  note(ctx, "reads checked", step);
  remove_path(peer_file);
  if (ctx.rank() == 0) {
    for (const Store& s : both)
      remove_path(store_path(s));
  }
  if (!agree_ok(state, ctx, error)) return;
  report(state, ctx, false, bytes, all_compressed(ctx, *bound.codec), t, sizes[0], sizes[1]);
  state.counters["cold"] = static_cast<double>(
      ctx.comm().all_reduce_max(std::uint64_t{cold ? 1U : 0U}, "zarr bench: cold"));
}

void BM_DenseWrite(benchmark::State& state, CodecKind kind) {
  BM_Write(state, false, kind);
}
void BM_DenseRead(benchmark::State& state, CodecKind kind) {
  BM_Read(state, false, kind);
}
void BM_CsrWrite(benchmark::State& state, CodecKind kind) {
  BM_Write(state, true, kind);
}
void BM_CsrRead(benchmark::State& state, CodecKind kind) {
  BM_Read(state, true, kind);
}

#define TESSERA_ZARR_BENCH(fn, codec)            \
  BENCHMARK_CAPTURE(fn, codec, CodecKind::codec) \
      ->Iterations(iterations())                 \
      ->UseManualTime()                          \
      ->Unit(benchmark::kMillisecond)

TESSERA_ZARR_BENCH(BM_DenseWrite, zstd);
TESSERA_ZARR_BENCH(BM_DenseWrite, lz4);
TESSERA_ZARR_BENCH(BM_DenseRead, zstd);
TESSERA_ZARR_BENCH(BM_DenseRead, lz4);
TESSERA_ZARR_BENCH(BM_CsrWrite, zstd);
TESSERA_ZARR_BENCH(BM_CsrRead, zstd);

#undef TESSERA_ZARR_BENCH

}  // namespace
}  // namespace tessera::bench
