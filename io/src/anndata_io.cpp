#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "encodings/cellranger.hpp"
#include "encodings/elements.hpp"
#include "storage/replace.hpp"
#include "stream_writer.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/collective.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/hdf5_file.hpp"
#include "tessera/io/zarr_store.hpp"
#include "tessera/io/zip_store.hpp"

namespace tessera::io {
namespace {

std::string random_token() {
  std::random_device device;
  std::mt19937_64 gen(device() ^ static_cast<std::uint64_t>(
                                     std::chrono::steady_clock::now().time_since_epoch().count()));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 12; ++i)
    s += kDigits[gen() % 16];
  return s;
}

// Test hook: TESSERA_TEST_FAIL_WRITE=<slot> makes the last rank fail while writing that slot,
// to prove that a failed write leaves nothing at the target. The failure is agreed before the
// slot's collective writes, so every rank leaves the parallel file together.
void maybe_fail(const Context& ctx, const std::string& slot) {
  const char* hook = std::getenv("TESSERA_TEST_FAIL_WRITE");
  const bool mine = hook != nullptr && slot == hook && ctx.rank() == ctx.size() - 1;
  if (ctx.comm().all_reduce_max(std::uint64_t{mine ? 1U : 0U}, "test hook") == 0) return;
  if (mine) throw IoError("test hook TESSERA_TEST_FAIL_WRITE: failing while writing " + slot);
  throw IoError("rank " + std::to_string(ctx.size() - 1) + " failed while writing " + slot);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
}

// Rethrows a write's error as the same kind, naming what the user asked for: the target path
// instead of the temporary sibling's, and the element being written when the message does not
// already name it.
[[noreturn]] void rethrow_for_target(const std::exception_ptr& error,
                                     const std::filesystem::path& temp,
                                     const std::filesystem::path& target,
                                     const std::string& element) {
  const auto explain = [&](std::string message) {
    replace_all(message, temp.string(), target.string());
    replace_all(message, temp.filename().string(), target.filename().string());
    std::string prefix;
    if (message.find(target.string()) == std::string::npos) prefix = target.string() + ": ";
    if (!element.empty() && message.find("/" + element) == std::string::npos &&
        message.find(" " + element) == std::string::npos) {
      prefix += "writing " + element + ": ";
    }
    return prefix + message;
  };
  try {
    std::rethrow_exception(error);
  } catch (const FormatError& e) {
    throw FormatError(explain(e.what()));
  } catch (const IoError& e) {
    throw IoError(explain(e.what()));
  } catch (const ShapeError& e) {
    throw ShapeError(explain(e.what()));
  } catch (const IndexError& e) {
    throw IndexError(explain(e.what()));
  } catch (const ValueError& e) {
    throw ValueError(explain(e.what()));
  } catch (const DistributedError& e) {
    throw DistributedError(explain(e.what()));
  } catch (const InternalError& e) {
    throw InternalError(explain(e.what()));
  } catch (const Error& e) {
    throw Error(explain(e.what()));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(explain(e.what()));
  }
}

std::int64_t total_bytes(const std::vector<detail::MatrixPlan>& plans) {
  std::int64_t total = 0;
  for (const auto& p : plans) {
    for (index_t b : p.row_bytes)
      total += b;
  }
  return total;
}

void write_file(const AnnData& a, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& requested, Format format) {
  WriteOptions options = requested;
  options.compression = compression_for(requested, format);
  if (format == Format::h5ad) options.shards.reset();
  // A temporary sibling, named the same on every rank, renamed into place at the very end.
  std::string token = ctx.rank() == 0 ? random_token() : std::string();
  ctx.comm().broadcast(token, 0, "naming the temporary file");
  const std::filesystem::path dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string temp_name = ".";
  temp_name.append(path.filename().string()).append(".tessera-").append(token);
  const std::filesystem::path temp = dir / temp_name;
  const auto cleanup = [&] {
    if (ctx.rank() == 0) {
      std::error_code ignored;
      std::filesystem::remove_all(temp, ignored);
    }
  };

  std::string element;  // the element being written, for error messages
  try {
    // 1. What each big array is and where its chunk-rows are computed; sparse arrays counted.
    const std::vector<detail::MatrixPlan> plans = detail::plan_matrices(a, ctx, options);
    detail::StreamState state;
    state.total = total_bytes(plans);

    // 2. Rank 0 writes the structure, the small elements, and creates every big dataset.
    on_root(ctx.comm(), 0, "writing the file structure", [&] {
      std::error_code ignored;
      std::filesystem::remove_all(temp, ignored);
      std::unique_ptr<Group> root = format == Format::h5ad
                                        ? create_h5(temp.string())
                                        : create_zarr(temp, false, options.zarr_format);
      detail::write_skeleton(*root, a);
      for (const detail::MatrixPlan& p : plans) {
        element = p.element();
        detail::create_matrix(*root, p, options);
      }
      element.clear();
      root->flush();
    });

    // 3. Every rank streams its chunk-rows of each big array, band by band (HDF5: collective
    // writes through MPI-IO; zarr: each rank its own chunk files).
    {
      std::unique_ptr<Group> root;
      on_all(ctx.comm(), "opening the file for writing", [&] {
        if (format == Format::h5ad) {
          root = open_h5(temp.string(), ctx.comm(), true);
        } else {
          root = open_zarr(temp, true);
        }
      });
      for (const detail::MatrixPlan& p : plans) {
        element = p.element();
        maybe_fail(ctx, element);
        detail::write_matrix(*root, p, ctx, options, format == Format::zarr, state);
      }
      element.clear();
      // Closing writes HDF5's metadata. No flush first: HDF5's MPI-IO driver syncs the file to
      // disk on a flush (MPI_File_sync), which made an h5ad write wait for the disk while zarr
      // writes, h5py and anndata leave write-back to the kernel. The file is complete before
      // it is renamed into place either way; durability across a power loss is the caller's
      // `sync`, as for every other writer (docs/reliability.md).
      on_all(ctx.comm(), "finishing the file", [&] { root.reset(); });
    }
    if (options.stats != nullptr) *options.stats = state.stats;
    if (format != Format::h5ad && options.consolidated) {
      on_root(ctx.comm(), 0, "consolidating the metadata", [&] {
        DirectoryStore store(temp);
        consolidate_metadata(store);
      });
    }

    // 4. Everyone succeeded: rank 0 moves the result into place.
    on_root(ctx.comm(), 0, "moving the file into place", [&] { detail::replace_path(temp, path); });
  } catch (...) {
    cleanup();
    rethrow_for_target(std::current_exception(), temp, path, element);
  }
}

// Calls `f` on every array slot (X, layers, obsm, varm, obsp, varp, raw/X, raw/varm, in that
// order) and stores what it returns there.
void map_arrays(AnnData& a, const std::function<Array(const Array&)>& f) {
  if (a.X()) a.set_X(f(*a.X()));
  for (AlignedArrays* m : {&a.layers(), &a.obsm(), &a.varm(), &a.obsp(), &a.varp()}) {
    for (const std::string& k : m->array_keys())
      m->set(k, f((*m)[k]));
  }
  if (a.raw()) {
    Raw raw = *a.raw();
    if (raw.X) raw.X = f(*raw.X);
    for (const std::string& k : raw.varm.array_keys())
      raw.varm.set(k, f(raw.varm[k]));
    a.set_raw(std::move(raw));
  }
}

// Eager reading: every array computed now. A CSC element keeps what the file stores (the CSR
// matrix of its transpose) in memory, transposed lazily, so that it is written back as CSC.
AnnData load(AnnData a, Context& ctx, Residence residence) {
  std::vector<Array> stored;
  std::vector<std::size_t> csc_slots;
  std::size_t slot = 0;
  map_arrays(a, [&](const Array& x) {
    const std::optional<Array> s = detail::csc_source(x);
    if (!s) {
      ++slot;
      return x;
    }
    stored.push_back(*s);
    csc_slots.push_back(slot++);
    // Until then an empty matrix of the same shape, already in memory: to_memory skips it.
    const Shape shape = x.shape();
    const Chunk empty = Chunk::csr(
        x.dtype(), shape, std::vector<index_t>(static_cast<std::size_t>(shape.rows) + 1, 0), {},
        Buffer::allocate(0));
    return from_chunk(
        empty, ChunkSpec(std::max<index_t>(shape.rows, 1), std::max<index_t>(shape.cols, 1)));
  });
  if (stored.empty()) return a.to_memory(ctx, false, residence);
  std::vector<Array> loaded;
  if (residence == Residence::distributed) {
    loaded = ctx.persist(stored);
  } else {
    const int root = residence == Residence::root ? 0 : -1;
    const std::vector<Chunk> chunks = ctx.compute(stored, root);
    for (std::size_t n = 0; n < stored.size(); ++n) {
      loaded.push_back(root >= 0 && ctx.rank() != root
                           ? stored[n]
                           : from_chunk(chunks[n], ChunkSpec(stored[n].chunks())));
    }
  }
  AnnData m = a.to_memory(ctx, false, residence);
  slot = 0;
  std::size_t next = 0;
  map_arrays(m, [&](const Array& x) {
    if (next == csc_slots.size() || csc_slots[next] != slot++) return x;
    return loaded[next++].transpose();
  });
  return m;
}

// Damaged HDF5 metadata can crash libhdf5 1.10 itself (out-of-bounds reads while decoding the
// global heap of variable-length strings or object header messages, or a damaged string length
// that makes it allocate and clear tens of GiB; files in the default format carry no checksums),
// which no error handling can catch. Rank 0 therefore first reads the file's structure —
// everything read_anndata reads: groups, attributes, small elements, indptr — in a forked child
// process with bounded address space and CPU time. A child killed by a signal means the file
// would crash (or exhaust) this process: it is refused with a FormatError on every rank. A child
// that fails with an error hands its error back through a pipe, and that error is thrown (the
// real reading would throw the same, or exhaust memory first). The big arrays' chunks are not
// read by the check.
struct ProbeResult {
  std::string kind;  // "" (fine), "crash", or the child's error type
  std::string message;
};

std::size_t virtual_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

ProbeResult probe_h5ad(const std::filesystem::path& path, const ReadOptions& options) {
  std::error_code ignored;
  const auto file_bytes = static_cast<std::size_t>(std::filesystem::file_size(path, ignored));
  const std::size_t memory = virtual_memory_bytes() + (std::size_t{4} << 30) + file_bytes;
  int fds[2];
  if (::pipe(fds) != 0) return {};  // cannot isolate: read without the check
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {};
  }
  if (child == 0) {
    ::close(fds[0]);
    // A crash must end the child quietly (MPI libraries install handlers that print a trace).
    for (const int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGXCPU})
      std::signal(signal, SIG_DFL);
    const rlimit no_core{0, 0}, cpu{600, 600}, address{memory, memory};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::setrlimit(RLIMIT_CPU, &cpu);
    ::setrlimit(RLIMIT_AS, &address);
    std::string report;
    try {
      ReadOptions lazy = options;
      lazy.lazy = true;
      lazy.warn = nullptr;  // the real reading warns
      (void)detail::read_hdf5_root(std::shared_ptr<const Group>(open_h5(path.string(), false)),
                                   lazy);
    } catch (const FormatError& e) {
      report = std::string("FormatError\n") + e.what();
    } catch (const IoError& e) {
      report = std::string("IoError\n") + e.what();
    } catch (const std::bad_alloc&) {
      report = "FormatError\n" + path.string() +
               ": damaged HDF5 metadata: reading the file's structure needs more memory than the "
               "file could describe";
    } catch (const std::exception& e) {
      report = std::string("FormatError\n") + e.what();
    }
    std::size_t at = 0;
    while (at < report.size()) {
      const ssize_t n = ::write(fds[1], report.data() + at, report.size() - at);
      if (n <= 0) break;
      at += static_cast<std::size_t>(n);
    }
    ::_exit(report.empty() ? 0 : 1);  // no atexit handlers (HDF5's, MPI's) in the child
  }
  ::close(fds[1]);
  std::string report;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      report.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return {};
  }
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* name = ::strsignal(signal);
    return {"crash",
            path.string() + ": damaged HDF5 metadata: reading the file's structure " +
                (signal == SIGXCPU ? std::string("did not finish in 600 s of CPU time")
                                   : "crashed libhdf5 (" +
                                         (name != nullptr ? std::string(name)
                                                          : "signal " + std::to_string(signal)) +
                                         ")") +
                "; the file cannot be read safely"};
  }
  const auto newline = report.find('\n');
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && newline != std::string::npos)
    return {report.substr(0, newline), report.substr(newline + 1)};
  return {};
}

AnnData read_file(const std::filesystem::path& path, Context& ctx, const ReadOptions& options,
                  Format format) {
  if (!std::filesystem::exists(path)) throw IoError(path.string() + ": no such file or directory");
  if (format == Format::h5ad && options.check_hdf5_metadata) {
    std::string text;
    if (ctx.rank() == 0) {
      const ProbeResult r = probe_h5ad(path, options);
      if (!r.kind.empty()) text = r.kind + "\n" + r.message;
    }
    ctx.comm().broadcast(text, 0, "checking the HDF5 metadata");
    if (!text.empty()) {
      const auto newline = text.find('\n');
      const std::string kind = text.substr(0, newline), message = text.substr(newline + 1);
      if (kind == "IoError") throw IoError(message);
      throw FormatError(message);
    }
  }
  std::shared_ptr<const Group> root;
  if (format == Format::h5ad) {
    root = open_h5(path.string(), false);
  } else if (format == Format::zarr_zip) {
    root = open_zarr_zip(path);
  } else {
    root = open_zarr(path, false);
  }
  AnnData a = format == Format::h5ad ? detail::read_hdf5_root(root, options)  // Cell Ranger too
                                     : read_anndata(root, options);
  if (!options.lazy) return load(std::move(a), ctx, options.residence);
  return a;
}

}  // namespace

Format format_of(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  while (!p.empty() && p.filename().empty())
    p = p.parent_path();  // trailing slash
  if (is_zip_store_path(p)) return Format::zarr_zip;
  const std::string ext = p.extension().string();
  if (ext == ".h5ad" || ext == ".h5" || ext == ".hdf5") return Format::h5ad;
  if (ext == ".zarr") return Format::zarr;
  throw ValueError(path.string() + ": unknown format (expected a .h5ad, .zarr or .zarr.zip name)");
}

Compression compression_for(const WriteOptions& options, Format format) {
  if (options.compression) return *options.compression;
  Compression c;
  if (format != Format::h5ad && options.zarr_format == 3) {
    c.codec = Codec::zstd;  // zarr-python 3: bytes + zstd level 0 (zstd's default level)
    c.level = 0;
  }
  return c;
}

void write_anndata(Group& group, const AnnData& adata, const WriteOptions& requested) {
  // The streaming writer on this process alone: the same bands, the same files.
  WriteOptions options = requested;
  options.compression = compression_for(requested, Format::zarr);
  Context local(Comm::serial());
  const std::vector<detail::MatrixPlan> plans = detail::plan_matrices(adata, local, options);
  detail::write_skeleton(group, adata);
  for (const detail::MatrixPlan& p : plans)
    detail::create_matrix(group, p, options);
  detail::StreamState state;
  state.total = total_bytes(plans);
  for (const detail::MatrixPlan& p : plans)
    detail::write_matrix(group, p, local, options, true, state);
  group.flush();
  if (options.stats != nullptr) *options.stats = state.stats;
}

AnnData read_anndata(std::shared_ptr<const Group> root, const ReadOptions& options) {
  return detail::read_root(root, options);
}

void write_h5ad(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options) {
  write_file(adata, path, ctx, options, Format::h5ad);
}

void write_zarr(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options) {
  write_file(adata, path, ctx, options, Format::zarr);
}

AnnData read_h5ad(const std::filesystem::path& path, Context& ctx, const ReadOptions& options) {
  return read_file(path, ctx, options, Format::h5ad);
}

AnnData read_zarr(const std::filesystem::path& path, Context& ctx, const ReadOptions& options) {
  return read_file(path, ctx, options, Format::zarr);
}

AnnData read_zarr_zip(const std::filesystem::path& path, Context& ctx, const ReadOptions& options) {
  return read_file(path, ctx, options, Format::zarr_zip);
}

void write(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
           const WriteOptions& options) {
  const Format format = format_of(path);
  if (format == Format::zarr_zip) return write_zarr_zip(adata, path, ctx, options);
  write_file(adata, path, ctx, options, format);
}

AnnData read(const std::filesystem::path& path, Context& ctx, const ReadOptions& options) {
  return read_file(path, ctx, options, format_of(path));
}

}  // namespace tessera::io
