// tessera demo: the seed walkthrough, cell by cell. The seed is a Python notebook: AnnData objects
// whose matrices are dask arrays, concatenated, viewed three ways, brought into memory, and a
// small one written to h5ad and zarr and read back. Here the arrays are Tessera's lazy chunked
// arrays and every rank of an MPI job (or one process) runs each cell; rank 0 prints, for each
// cell, its code, its time and what the notebook shows (anndata's repr), plus "# " lines with
// Tessera's own notes. Chunk-grid pictures (SVG, and HTML tables with the SVG beside them) and
// task graphs (DOT, and SVG when Graphviz is present) go to the output folder, named at the end.
//
// The seed (docs/tutorial.md walks through it side by side; tests/cli/demo_seed_check.py prints
// anndata's own reprs of these cells and compares):
//   def adata_with_dask(n_obs, n_vars):
//       X = da.random.random((n_obs, n_vars), chunks=chunks)
//       obs = pd.DataFrame({"batch": pd.Categorical(["a"] * (n_obs // 2) +
//                                                   ["b"] * (n_obs - n_obs // 2))})
//       return ad.AnnData(X=X, layers={"a": X}, obsm={"a": da.random.random((n_obs, 100))},
//                         obs=obs)
//   adata = adata_with_dask(n_obs, n_vars); adata2 = adata_with_dask(n_obs, n_vars)
//   adata_concat = ad.concat([adata, adata2], index_unique='id')
//   adata_concat[:500, :][:, :500]
//   adata_concat[[12, 12, 3, 5, 53], [1, 2, 5]]
//   adata_concat[adata_concat.obs['batch'] == 'b']
//   adata_concat.to_memory(copy=False); adata_concat.to_memory(copy=True)
//   a = adata_with_dask(100, 100); a.write_h5ad('a1.h5ad'); a.write_zarr('a2.zarr')
//   ad.read_h5ad('a1.h5ad'); ad.read_zarr('a2.zarr')
// and, as an extra step after the seed's cells, adata_concat written to h5ad and zarr and read
// back.
#include <bit>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::cli {
namespace {

constexpr index_t kObsmCols = 100;  // obsm['a'] = da.random.random((n_obs, 100))
constexpr index_t kIoSize = 100;    // the IO section's adata_with_dask(100, 100)
// The seed's list view takes row 53 of the concatenation and column 5.
constexpr index_t kMinObs = 27;
constexpr index_t kMinVars = 6;

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw IoError("cannot write " + path.string());
}

// The seed's adata_with_dask(n_obs, n_vars): X random, layers['a'] = X, obsm['a'] random
// (n_obs × 100), obs['batch'] categorical, 'a' for the first half of the rows and 'b' for the rest.
// Obs and var names are "0", "1", … as anndata gives a table with a RangeIndex.
AnnData adata_with_dask(index_t n_obs, index_t n_vars, const ChunkSpec& chunks,
                        std::uint64_t seed) {
  const Array X = random({n_obs, n_vars}, chunks, seed);
  AnnData a(X);
  a.layers().set("a", X);
  const index_t chunk_rows = X.chunks().chunk_size(0, 0);
  a.obsm().set("a", random({n_obs, kObsmCols}, ChunkSpec{chunk_rows, kObsmCols}, seed + 100));
  const std::optional<std::string> first{"a"}, second{"b"};
  std::vector<std::optional<std::string>> batch(static_cast<std::size_t>(n_obs));
  for (index_t i = 0; i < n_obs; ++i)
    batch[i] = i < n_obs / 2 ? first : second;
  a.obs().set("batch", Column::categorical(batch));
  return a;
}

std::string names_list(const std::vector<std::string>& names, std::size_t head) {
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < head; ++i)
    text += (i ? ", " : "") + python_repr(names[i]);
  if (names.size() > head) text += ", …, " + python_repr(names.back());
  return text;
}

// "8 chunks of (128, 128) in 1 graph layer, 8 tasks"
std::string graph_summary(const Array& x) {
  const GraphStats stats = x.graph_stats();
  std::ostringstream s;
  s << stats.chunks << " chunk" << (stats.chunks == 1 ? "" : "s") << " of up to "
    << to_string(x.chunks().max_chunk_shape()) << " " << name(x.dtype()) << " in " << stats.layers
    << " graph layer" << (stats.layers == 1 ? "" : "s") << ", " << stats.tasks << " task"
    << (stats.tasks == 1 ? "" : "s");
  return s.str();
}

// The notebook: each cell is timed on every rank and printed by rank 0 as
//   [n] code  (seconds s)
//   what the notebook shows (a repr, or nothing)
//   # notes
// followed by an empty line.
class Notebook {
 public:
  Notebook(Context& ctx, std::filesystem::path out) : ctx_(ctx), out_(std::move(out)) {}

  // A cell whose value the notebook shows: its repr is printed.
  AnnData show(const std::string& code, const std::function<AnnData()>& body) {
    const auto t0 = std::chrono::steady_clock::now();
    AnnData value = body();
    begin(code, t0);
    say_ << value.repr() << "\n";
    return value;
  }
  // A cell that shows nothing (a write).
  void run(const std::string& code, const std::function<void()>& body) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    begin(code, t0);
  }
  // A "# " line under the current cell: Tessera's notes, not the notebook's output.
  void note(const std::string& line) { say_ << "# " << line << "\n"; }
  void text(const std::string& line) { say_ << line << "\n"; }

  // Pictures are written by rank 0; a failure there stops every rank (collective).
  void picture(const std::string& name, const std::function<std::string()>& draw) {
    on_root(ctx_.comm(), 0, "writing a picture", [&] { write_file(out_ / name, draw()); });
  }
  void chunk_pictures(const std::string& stem, const Array& x) {
    picture(stem + ".html", [&] { return chunk_table_html(x); });
    picture(stem + ".svg", [&] { return chunk_grid_svg(x.chunks()); });
  }
  void graph_pictures(const std::string& stem, const Array& x) {
    on_root(ctx_.comm(), 0, "writing a task graph", [&] {
      const std::string dot = task_graph_dot(x);
      write_file(out_ / (stem + ".dot"), dot);
      if (auto svg = dot_to_svg(dot)) write_file(out_ / (stem + ".svg"), *svg);
      write_file(out_ / (stem + "_layers.dot"), task_graph_dot(x, GraphDetail::layers));
    });
  }

  // Ends the current cell (an empty line) and prints what is pending.
  void flush() {
    if (open_) say_ << "\n";
    open_ = false;
    if (ctx_.rank() == 0) std::cout << say_.str() << std::flush;
    say_.str("");
  }

 private:
  void begin(const std::string& code, std::chrono::steady_clock::time_point t0) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    flush();
    say_ << "[" << ++cells_ << "] " << code << "  (" << std::setprecision(3) << seconds << " s)\n"
         << std::setprecision(6);
    open_ = true;
  }

  Context& ctx_;
  std::filesystem::path out_;
  std::ostringstream say_;
  int cells_ = 0;
  bool open_ = false;
};

// Whether the read-back X gives bitwise the written object's row sums. Both are summed in the
// same pieces combined in the same order: the read-back X (whose lazy chunks are whole-row bands
// of the file) is rechunked to the written object's grid first, so each row is summed chunk by
// chunk exactly as in memory. "equal" only when every value is bitwise the same; otherwise how
// many rows differ and by how much. Collective; the text is rank 0's (empty elsewhere).
std::string row_sums_check(Context& ctx, const AnnData& written, const AnnData& back,
                           const std::string& name) {
  const Array& expected_X = *written.X();
  const std::vector<Chunk> sums =
      ctx.compute({expected_X.sum(1), back.X()->rechunk(expected_X.chunks()).sum(1)}, /*root=*/0);
  if (ctx.rank() != 0) return {};
  const Chunk& expected = sums[0];
  const Chunk& got = sums[1];
  index_t differ = 0;
  double worst = 0;
  for (index_t r = 0; r < expected.rows(); ++r) {
    const double e = expected.value_at(r, 0), g = got.value_at(r, 0);
    if (std::bit_cast<std::uint64_t>(e) != std::bit_cast<std::uint64_t>(g)) {
      ++differ;
      worst = std::max(worst, std::abs(e - g));
    }
  }
  std::ostringstream s;
  s << "X row sums against " << name << "'s, bit for bit (" << expected.rows()
    << " rows, summed in " << to_string(expected_X.chunks().max_chunk_shape()) << " chunks): ";
  if (differ == 0) {
    s << "equal";
  } else {
    s << "DIFFERENT in " << differ << " rows (max |difference| " << worst << ")";
  }
  return s.str();
}

// Writes `object` to out/file (h5ad, or zarr with Blosc-lz4 as zarr-python's default) in cell
// `code`, by the ranks that own its chunks.
void write_cell(Notebook& book, Context& ctx, Progress& progress, const std::string& code,
                const AnnData& object, const std::filesystem::path& file) {
  io::WriteOptions write;
  write.compression = io::Compression::from_name(file.extension() == ".zarr" ? "lz4" : "none");
  write.progress = progress.callback();
  book.run(code, [&] {
    progress.start("write " + file.filename().string(), 0);
    io::write(object, file, ctx, write);
    progress.finish();
  });
}

// Reads out/file back lazily in cell `code` and checks its row sums against `written`'s.
void read_cell(Notebook& book, Context& ctx, const std::string& code, const AnnData& written,
               const std::string& written_name, const std::filesystem::path& file) {
  const AnnData back = book.show(code, [&] { return io::read(file, ctx); });
  book.note(row_sums_check(ctx, written, back, written_name));
  book.flush();
}

}  // namespace

void demo(const DemoArgs& args, Context& ctx, Progress& progress) {
  if (args.n_obs < kMinObs || args.n_vars < kMinVars) {
    throw ValueError("--n-obs must be at least " + std::to_string(kMinObs) +
                     " and --n-vars at least " + std::to_string(kMinVars) +
                     " (the walkthrough takes row 53 of the concatenation and column 5)");
  }
  const ChunkSpec chunks = parse_chunks(args.chunks);
  const std::filesystem::path out = args.out;
  on_root(ctx.comm(), 0, "creating the output folder",
          [&] { std::filesystem::create_directories(out); });
  Notebook book(ctx, out);
  const std::string size = std::to_string(args.n_obs) + ", " + std::to_string(args.n_vars);
  book.text("tessera demo on " + std::to_string(ctx.size()) + " rank(s) x " +
            std::to_string(ctx.threads()) + " thread(s): the seed walkthrough, chunks " +
            args.chunks);
  book.text("");

  const AnnData adata = book.show("adata = adata_with_dask(" + size + ")", [&] {
    return adata_with_dask(args.n_obs, args.n_vars, chunks, 0);
  });
  const Array row_sum = adata.X()->sum(1);
  book.note("adata.X: " + graph_summary(*adata.X()) +
            "; adata.X.sum(axis=1): " + std::to_string(row_sum.graph_stats().tasks) + " tasks");
  book.chunk_pictures("adata_X", *adata.X());
  book.graph_pictures("adata_X_sum", row_sum);
  const AnnData adata2 = book.show("adata2 = adata_with_dask(" + size + ")", [&] {
    return adata_with_dask(args.n_obs, args.n_vars, chunks, 1);
  });
  book.flush();

  // concat: the chunks of adata and adata2 are reused as they are (no tasks added).
  const AnnData adata_concat =
      book.show("adata_concat = ad.concat([adata, adata2], index_unique='id')", [&] {
        ConcatOptions options;
        options.index_unique = "id";
        return tessera::concat({adata, adata2}, options);
      });
  book.note("obs_names: " + names_list(adata_concat.obs_names(), 3));
  book.note("adata_concat.X: " + graph_summary(*adata_concat.X()) +
            ": adata.X's and adata2.X's chunks, no task added");
  book.chunk_pictures("adata_concat_X", *adata_concat.X());
  book.graph_pictures("adata_concat_X_sum", adata_concat.X()->sum(1));
  book.flush();

  // The seed's three views: a slice of a slice, lists (a repeated row), a category.
  book.show("adata_concat[:500, :][:, :500]", [&] {
    return adata_concat(Selector::slice(std::nullopt, 500))(AxisIndex(),
                                                            Selector::slice(std::nullopt, 500));
  });
  book.flush();
  const AnnData listed = book.show("adata_concat[[12, 12, 3, 5, 53], [1, 2, 5]]", [&] {
    return adata_concat(Selector::take({12, 12, 3, 5, 53}), Selector::take({1, 2, 5}));
  });
  book.note("obs_names: " + names_list(listed.obs_names(), 5) +
            "; var_names: " + names_list(listed.var_names(), 3));
  book.flush();
  const AnnData batch_b = book.show("adata_concat[adata_concat.obs['batch'] == 'b']", [&] {
    return adata_concat(adata_concat.obs()["batch"] == "b");
  });
  {
    // A reduction over the view, computed across the ranks (bitwise the same on any number).
    const Chunk means = ctx.compute(batch_b.X()->mean(1), 0);
    std::ostringstream s;
    s << "X: " << graph_summary(*batch_b.X()) << "; X.mean(axis=1)[:3] across the ranks: ";
    if (ctx.rank() == 0)
      s << means.value_at(0, 0) << ", " << means.value_at(1, 0) << ", " << means.value_at(2, 0);
    book.note(s.str());
  }
  book.chunk_pictures("batch_b_X", *batch_b.X());
  book.flush();

  // to_memory: every lazy array computed on the ranks and gathered; copy=False shares buffers
  // that are already in memory, copy=True copies them too.
  book.show("adata_concat.to_memory(copy=False)",
            [&] { return adata_concat.to_memory(ctx, /*copy=*/false); });
  book.flush();
  book.show("adata_concat.to_memory(copy=True)",
            [&] { return adata_concat.to_memory(ctx, /*copy=*/true); });
  book.flush();

  // IO: a small object written to h5ad and zarr by the ranks that own its chunks, read back lazily
  // and checked.
  if (args.write_files) {
    const std::string io_size = std::to_string(kIoSize) + ", " + std::to_string(kIoSize);
    const AnnData a = book.show("a = adata_with_dask(" + io_size + ")",
                                [&] { return adata_with_dask(kIoSize, kIoSize, chunks, 2); });
    book.flush();
    write_cell(book, ctx, progress, "a.write_h5ad('a1.h5ad')", a, out / "a1.h5ad");
    write_cell(book, ctx, progress, "a.write_zarr('a2.zarr')", a, out / "a2.zarr");
    book.flush();
    read_cell(book, ctx, "ad.read_h5ad('a1.h5ad')", a, "a", out / "a1.h5ad");
    read_cell(book, ctx, "ad.read_zarr('a2.zarr')", a, "a", out / "a2.zarr");

    // Not in the seed: the concatenated object itself, the large write.
    book.text("# Extra step, not in the seed: adata_concat written and read back");
    book.text("");
    write_cell(book, ctx, progress, "adata_concat.write_h5ad('adata_concat.h5ad')", adata_concat,
               out / "adata_concat.h5ad");
    write_cell(book, ctx, progress, "adata_concat.write_zarr('adata_concat.zarr')", adata_concat,
               out / "adata_concat.zarr");
    book.flush();
    read_cell(book, ctx, "ad.read_h5ad('adata_concat.h5ad')", adata_concat, "adata_concat",
              out / "adata_concat.h5ad");
    read_cell(book, ctx, "ad.read_zarr('adata_concat.zarr')", adata_concat, "adata_concat",
              out / "adata_concat.zarr");
  }
  book.text("pictures, tables and files in " + std::filesystem::absolute(out).string());
  book.flush();
}

}  // namespace tessera::cli
