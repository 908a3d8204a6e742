#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "detail/elements.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/hdf5_file.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io {
namespace {

// One big array of an AnnData: where it goes in the file and what it is.
struct Slot {
  std::string group;  // "" for the root, else "layers", "obsm", …, "raw", "raw/varm"
  std::string name;
  Array array;
};

std::vector<Slot> slots_of(const AnnData& a) {
  std::vector<Slot> slots;
  if (a.X()) slots.push_back({"", "X", *a.X()});
  const std::pair<const char*, const AlignedArrays*> maps[] = {{"layers", &a.layers()},
                                                               {"obsm", &a.obsm()},
                                                               {"varm", &a.varm()},
                                                               {"obsp", &a.obsp()},
                                                               {"varp", &a.varp()}};
  for (const auto& [group, m] : maps) {
    for (const auto& [k, v] : *m)
      slots.push_back({group, k, v});
  }
  if (a.raw()) {
    if (a.raw()->X) slots.push_back({"raw", "X", *a.raw()->X});
    for (const auto& [k, v] : a.raw()->varm)
      slots.push_back({"raw/varm", k, v});
  }
  return slots;
}

std::unique_ptr<Group> open_path(Group& root, const std::string& path) {
  std::unique_ptr<Group> g = root.group(path.substr(0, path.find('/')));
  if (const auto slash = path.find('/'); slash != std::string::npos)
    return g->group(path.substr(slash + 1));
  return g;
}

Group& parent_of(Group& root, const std::string& group, std::unique_ptr<Group>& holder) {
  if (group.empty()) return root;
  holder = open_path(root, group);
  return *holder;
}

void set_group_encoding(Group& g, const char* type, const char* version) {
  g.set_attribute("encoding-type", type);
  g.set_attribute("encoding-version", version);
}

// The structure and small elements of an AnnData: root attributes, obs, var, uns, the mapping
// groups, and raw's var. Big arrays are written separately (slots).
void write_skeleton(Group& root, const AnnData& a) {
  set_group_encoding(root, "anndata", "0.1.0");
  detail::write_dataframe(root, "obs", a.obs());
  detail::write_dataframe(root, "var", a.var());
  for (const char* m : {"obsm", "varm", "obsp", "varp", "layers"}) {
    set_group_encoding(*root.create_group(m), "dict", "0.1.0");
  }
  detail::write_uns(root, "uns", a.uns());
  if (a.raw()) {
    auto raw = root.create_group("raw");
    set_group_encoding(*raw, "raw", "0.1.0");
    detail::write_dataframe(*raw, "var", a.raw()->var);
    set_group_encoding(*raw->create_group("varm"), "dict", "0.1.0");
  }
}

// The file chunking of a dense array: the requested one (X and layers), else the array's own
// regular chunks.
Shape file_chunks(const Slot& s, const WriteOptions& options) {
  if (options.chunks && (s.name == "X" || s.group == "layers")) {
    return options.chunks->resolve(s.array.shape(), s.array.dtype()).max_chunk_shape();
  }
  return s.array.chunks().max_chunk_shape();
}

// The array laid out for writing: regular chunks of `chunks` (the file's chunk boxes).
Array as_file_chunks(const Array& a, Shape chunks) {
  const ChunkGrid want = ChunkGrid::regular(a.shape(), std::max<index_t>(chunks.rows, 1),
                                            std::max<index_t>(chunks.cols, 1));
  return want == a.chunks() ? a : a.rechunk(want);
}

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

std::string bytes_to_string(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::vector<std::byte> string_to_bytes(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// Every rank learns whether `action` succeeded on `root` (others do nothing); on failure every
// rank throws (root rethrows its own exception).
void on_root(Context& ctx, int root, const char* what, const std::function<void()>& action) {
  std::exception_ptr error;
  std::string message;
  if (ctx.rank() == root) {
    try {
      action();
    } catch (const std::exception& e) {
      error = std::current_exception();
      message = e.what();
    }
  }
  std::vector<std::byte> shared = string_to_bytes(message);
  ctx.comm().broadcast(shared, root, what);
  if (error) std::rethrow_exception(error);
  if (!shared.empty())
    throw IoError(std::string(what) + " failed on rank " + std::to_string(root) + ": " +
                  bytes_to_string(shared));
}

// Runs `action` on every rank; if it fails anywhere, every rank throws (the failing rank its own
// exception, the others an IoError with its message).
void on_all(Context& ctx, const char* what, const std::function<void()>& action) {
  std::exception_ptr error;
  std::string message;
  try {
    action();
  } catch (const std::exception& e) {
    error = std::current_exception();
    message = e.what();
  }
  // The highest failing rank, plus one (0: none failed). A rank that failed on its own comes
  // after those that only followed it (maybe_fail), so its message is the one shared.
  const std::uint64_t failed =
      ctx.comm().all_reduce_max(error ? static_cast<std::uint64_t>(ctx.rank()) + 1 : 0, what);
  if (failed == 0) return;
  const int source = static_cast<int>(failed - 1);
  std::vector<std::byte> shared = string_to_bytes(message);
  ctx.comm().broadcast(shared, source, what);
  if (error) std::rethrow_exception(error);
  throw IoError(std::string(what) + " failed on rank " + std::to_string(source) + ": " +
                bytes_to_string(shared));
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

struct Prepared {
  explicit Prepared(Slot s) : slot(std::move(s)) {}
  Slot slot;
  bool sparse = false;
  Shape chunks;
  Array persisted{Array(nullptr_node())};
  // Sparse: this rank's rows (contiguous) as one CSR chunk, its first row, and every rank's nnz.
  Chunk local;
  index_t first_row = 0;
  std::vector<std::int64_t> nnz_by_rank;
  Chunk whole;  // zarr sparse: the whole matrix on rank 0

  static NodePtr nullptr_node() {
    return from_chunk(Chunk::dense(DType::float64, {0, 0}), ChunkSpec(1, 1)).node();
  }
};

void write_file(const AnnData& a, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options, Format format) {
  // A temporary sibling, named the same on every rank, renamed into place at the very end.
  std::vector<std::byte> token =
      ctx.rank() == 0 ? string_to_bytes(random_token()) : std::vector<std::byte>{};
  ctx.comm().broadcast(token, 0, "naming the temporary file");
  const std::filesystem::path dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::filesystem::path temp =
      dir / ("." + path.filename().string() + ".tessera-" + bytes_to_string(token));
  const auto cleanup = [&] {
    if (ctx.rank() == 0) {
      std::error_code ignored;
      std::filesystem::remove_all(temp, ignored);
    }
  };

  try {
    // 1. Every rank materializes the big arrays where their chunks are owned.
    std::vector<Prepared> prepared;
    for (const Slot& s : slots_of(a)) {
      Prepared p(s);
      p.sparse = s.array.is_sparse();
      if (!p.sparse) {
        p.chunks = file_chunks(s, options);
        p.persisted = ctx.persist(as_file_chunks(s.array, p.chunks));
      } else if (format == Format::zarr) {
        p.whole = ctx.compute(s.array, 0);  // 1-D zarr chunks cannot follow rank boundaries
      } else {
        // Whole rows in chunk-row blocks on their default owners: each rank's rows are one
        // contiguous range, and its non-zeros one contiguous slice of data and indices.
        const Shape shape = s.array.shape();
        const Array rows =
            s.array.rechunk(ChunkSpec(s.array.chunks().sizes(0), std::vector<index_t>{shape.cols}));
        p.persisted = ctx.rebalance(rows);
        std::vector<Chunk> mine;
        bool first = true;
        for (const auto& [ij, chunk] : Context::local_chunks(p.persisted)) {
          if (first) p.first_row = rows.chunks().chunk_offset(0, ij.first);
          first = false;
          mine.push_back(chunk);
        }
        p.local =
            mine.empty() ? Chunk() : assemble_blocks(mine, static_cast<index_t>(mine.size()), 1);
        p.nnz_by_rank =
            ctx.comm().all_gather(mine.empty() ? 0 : p.local.nnz(), "counting non-zeros");
        if (mine.empty()) p.first_row = -1;
      }
      prepared.push_back(std::move(p));
    }

    // 2. Rank 0 writes the structure, the small elements, and creates every big dataset.
    on_root(ctx, 0, "writing the file structure", [&] {
      std::error_code ignored;
      std::filesystem::remove_all(temp, ignored);
      std::unique_ptr<Group> root =
          format == Format::h5ad ? create_h5(temp.string()) : create_zarr(temp);
      write_skeleton(*root, a);
      for (const Prepared& p : prepared) {
        std::unique_ptr<Group> holder;
        Group& parent = parent_of(*root, p.slot.group, holder);
        if (!p.sparse) {
          detail::create_dense(parent, p.slot.name, p.slot.array.shape(), p.slot.array.dtype(),
                               p.chunks, options.compression);
        } else if (format == Format::zarr) {
          detail::write_chunk_array(parent, p.slot.name, p.whole, options.compression);
        } else {
          index_t nnz = 0;
          for (auto n : p.nnz_by_rank)
            nnz += n;
          detail::create_csr(parent, p.slot.name, p.slot.array.shape(), p.slot.array.dtype(), nnz,
                             options.compression);
        }
      }
      root->flush();
    });

    // 3. Every rank writes its own blocks (HDF5: one collective write per dataset).
    on_all(ctx, "writing array data", [&] {
      std::unique_ptr<Group> root;
      if (format == Format::h5ad) {
        root = open_h5(temp.string(), ctx.comm(), true);
      } else {
        root = open_zarr(temp, true);
      }
      for (const Prepared& p : prepared) {
        const std::string slot = (p.slot.group.empty() ? "" : p.slot.group + "/") + p.slot.name;
        maybe_fail(ctx, slot);
        std::unique_ptr<Group> holder;
        Group& parent = parent_of(*root, p.slot.group, holder);
        if (!p.sparse) {
          std::vector<std::pair<Box, Chunk>> blocks;
          const ChunkGrid& grid = p.persisted.chunks();
          for (const auto& [ij, chunk] : Context::local_chunks(p.persisted)) {
            const auto [i, j] = ij;
            blocks.push_back({Box{{grid.chunk_offset(0, i), grid.chunk_offset(1, j)},
                                  {chunk.rows(), chunk.cols()}},
                              chunk});
          }
          // Zero-element datasets have nothing to write (and MPI-IO refuses empty collective
          // writes).
          if (p.slot.array.shape().size() > 0) parent.write_blocks(p.slot.name, blocks);
        } else if (format == Format::h5ad) {
          auto g = parent.group(p.slot.name);
          const DType index_dtype = detail::csr_index_dtype(p.slot.array.shape(), [&] {
            index_t n = 0;
            for (auto v : p.nnz_by_rank)
              n += v;
            return n;
          }());
          index_t offset = 0;
          for (int r = 0; r < ctx.rank(); ++r)
            offset += p.nnz_by_rank[r];
          std::vector<std::pair<Box, Chunk>> data, indices, indptr;
          if (p.first_row >= 0) {
            const Chunk& c = p.local;
            const auto ip = c.indptr();
            const index_t nnz = c.nnz();
            if (nnz > 0) {
              std::vector<index_t> idx(c.indices() + ip.front(), c.indices() + ip.back());
              indices.push_back(
                  {Box{{offset}, {nnz}},
                   Chunk::from_values<index_t>({1, nnz}, std::move(idx)).astype(index_dtype)});
              const Chunk values = c.deep_copy();
              data.push_back({Box{{offset}, {nnz}},
                              Chunk::dense_view(c.dtype(), {1, nnz}, values.buffer(), 0, nnz)});
            }
            // Rows first_row … first_row + rows - 1, plus the end offset when these are the last
            // rows.
            const bool last = p.first_row + c.rows() == p.slot.array.shape().rows;
            const index_t n = c.rows() + (last ? 1 : 0);
            std::vector<index_t> ptr(static_cast<std::size_t>(n));
            for (index_t k = 0; k < n; ++k)
              ptr[k] = ip[k] - ip.front() + offset;
            if (n > 0)
              indptr.push_back(
                  {Box{{p.first_row}, {n}},
                   Chunk::from_values<index_t>({1, n}, std::move(ptr)).astype(index_dtype)});
          }
          // (A 0-row matrix has one empty chunk: its owner writes indptr = [0] above.)
          index_t total = 0;
          for (auto v : p.nnz_by_rank)
            total += v;
          if (total > 0) {
            g->write_blocks("data", data);
            g->write_blocks("indices", indices);
          }
          g->write_blocks("indptr", indptr);
        }
      }
      root->flush();
    });

    // 4. Everyone succeeded: rank 0 moves the result into place.
    on_root(ctx, 0, "moving the file into place", [&] {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
      std::filesystem::rename(temp, path);
    });
  } catch (...) {
    cleanup();
    throw;
  }
}

AnnData read_file(const std::filesystem::path& path, Context& ctx, const ReadOptions& options,
                  Format format) {
  if (!std::filesystem::exists(path)) throw IoError(path.string() + ": no such file or directory");
  std::shared_ptr<const Group> root =
      format == Format::h5ad ? std::shared_ptr<const Group>(open_h5(path.string(), false))
                             : std::shared_ptr<const Group>(open_zarr(path, false));
  AnnData a = read_anndata(root, options);
  if (!options.lazy) return a.to_memory(ctx);
  return a;
}

}  // namespace

Format format_of(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  while (!p.empty() && p.filename().empty())
    p = p.parent_path();  // trailing slash
  const std::string ext = p.extension().string();
  if (ext == ".h5ad" || ext == ".h5" || ext == ".hdf5") return Format::h5ad;
  if (ext == ".zarr") return Format::zarr;
  throw ValueError(path.string() + ": unknown format (expected a .h5ad or .zarr name)");
}

void write_anndata(Group& group, const AnnData& adata, const WriteOptions& options) {
  write_skeleton(group, adata);
  for (const Slot& s : slots_of(adata)) {
    std::unique_ptr<Group> holder;
    Group& parent = parent_of(group, s.group, holder);
    const Chunk data = s.array.compute();
    if (data.is_sparse()) {
      detail::write_chunk_array(parent, s.name, data, options.compression);
    } else {
      const Shape chunks = file_chunks(s, options);
      detail::create_dense(parent, s.name, data.shape(), data.dtype(), chunks, options.compression);
      if (data.shape().size() > 0)
        parent.write(s.name, Box{{0, 0}, {data.rows(), data.cols()}}, data);
    }
  }
}

AnnData read_anndata(std::shared_ptr<const Group> root, const ReadOptions& options) {
  const Json attrs = root->attributes();
  if (attrs.contains("encoding-type")) {
    const Json& type = attrs.at("encoding-type");
    if (!type.is_string() || type.get<std::string>() != "anndata") {
      throw FormatError(root->path() + ": encoding-type " + type.dump() +
                        " is not an AnnData object");
    }
    const Json version = attrs.value("encoding-version", Json("0.1.0"));
    if (!version.is_string() || version.get<std::string>() != "0.1.0") {
      throw FormatError(root->path() + ": unsupported AnnData encoding-version " + version.dump());
    }
  }
  for (const char* required : {"obs", "var"}) {
    if (!root->has_group(required)) {
      throw FormatError(root->path() + ": not an AnnData store (no '" + std::string(required) +
                        "' group)");
    }
  }
  AnnData a(detail::read_dataframe(*root, "obs"), detail::read_dataframe(*root, "var"));
  // Shape errors from the model become format errors naming the element.
  const auto place = [&](const std::string& element, const std::function<void()>& action) {
    try {
      action();
    } catch (const ShapeError& e) {
      throw FormatError(root->path() + (root->path().ends_with('/') ? "" : "/") + element + ": " +
                        e.what());
    }
  };
  if (root->has_array("X") || root->has_group("X")) {
    place("X", [&] { a.set_X(detail::read_matrix(root, "X", options)); });
  }
  const std::pair<const char*, AlignedArrays*> maps[] = {{"layers", &a.layers()},
                                                         {"obsm", &a.obsm()},
                                                         {"varm", &a.varm()},
                                                         {"obsp", &a.obsp()},
                                                         {"varp", &a.varp()}};
  for (const auto& [name, m] : maps) {
    if (!root->has_group(name)) continue;
    const std::shared_ptr<const Group> g = root->group(name);
    for (const auto& key : g->children()) {
      place(std::string(name) + "/" + key,
            [&] { m->set(key, detail::read_matrix(g, key, options)); });
    }
  }
  if (root->has_group("uns")) a.uns() = detail::read_mapping(*root->group("uns"), "uns");
  if (root->has_group("raw")) {
    const std::shared_ptr<const Group> rg = root->group("raw");
    Raw raw;
    raw.var = detail::read_dataframe(*rg, "var");
    if (rg->has_array("X") || rg->has_group("X")) raw.X = detail::read_matrix(rg, "X", options);
    AlignedArrays varm("raw.varm", raw.var.size(), -1);
    if (rg->has_group("varm")) {
      const std::shared_ptr<const Group> vg = rg->group("varm");
      for (const auto& key : vg->children()) {
        place("raw/varm/" + key, [&] { varm.set(key, detail::read_matrix(vg, key, options)); });
      }
    }
    raw.varm = std::move(varm);
    place("raw", [&] { a.set_raw(std::move(raw)); });
  }
  return a;
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

void write(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
           const WriteOptions& options) {
  write_file(adata, path, ctx, options, format_of(path));
}

AnnData read(const std::filesystem::path& path, Context& ctx, const ReadOptions& options) {
  return read_file(path, ctx, options, format_of(path));
}

}  // namespace tessera::io
