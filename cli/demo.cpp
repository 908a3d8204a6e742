// tessera demo: the seed walkthrough. AnnData objects whose matrices are lazy chunked arrays
// (dask.array in the Python original), concatenated, viewed three ways, brought into memory, and
// written to h5ad and zarr and read back, on every rank of an MPI job (or one process). Rank 0
// prints what the Python walkthrough prints and leaves chunk-grid pictures (SVG, and HTML tables
// with the SVG beside them) and task-graph pictures (DOT, and SVG when Graphviz is present) in the
// output folder, which it names at the end.
//
// The Python it mirrors (docs/tutorial.md walks through it side by side):
//   X = da.random.random((n_obs, n_vars), chunks=(4096, 4096))
//   a = ad.AnnData(X=X, layers={"a": X}, obsm={"a": da.random.random((n_obs, 100))},
//                  obs=pd.DataFrame({"batch": ["a"] * (n_obs // 2) + ["b"] * (n_obs - n_obs //
//                  2)}))
//   adata = ad.concat([a, b], index_unique="-")
//   adata[:100]; adata[[0, 5, 5, 10]]; adata[adata.obs["batch"] == "b"]
//   adata.to_memory(copy=False); adata.to_memory(copy=True)
//   adata.write_h5ad("adata.h5ad"); adata.write_zarr("adata.zarr"); ad.read_h5ad(...)
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::cli {
namespace {

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw IoError("cannot write " + path.string());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One of the seed's objects: X random, layers["a"] = X, obsm["a"] random (n_obs × 100),
// obs["batch"] = "a" for the first half of the rows and "b" for the rest.
AnnData make_object(const DemoArgs& args, const ChunkSpec& chunks, std::uint64_t seed) {
  const Array X = random({args.n_obs, args.n_vars}, chunks, seed);
  AnnData a(X);
  a.layers().set("a", X);
  const index_t chunk_rows = X.chunks().chunk_size(0, 0);
  a.obsm().set("a", random({args.n_obs, 100}, ChunkSpec{chunk_rows, index_t{100}}, seed + 100));
  const std::optional<std::string> first{"a"}, second{"b"};
  std::vector<std::optional<std::string>> batch(static_cast<std::size_t>(args.n_obs));
  for (index_t i = 0; i < args.n_obs; ++i)
    batch[i] = i < args.n_obs / 2 ? first : second;
  a.obs().set("batch", Column::categorical(batch));
  return a;
}

// The largest |a - b| over two row-sum vectors (a file's chunking may differ from the object's,
// which changes the order of additions, so equality is up to rounding).
double max_difference(const Chunk& a, const Chunk& b) {
  double worst = 0;
  for (index_t r = 0; r < a.rows(); ++r)
    worst = std::max(worst, std::abs(a.value_at(r, 0) - b.value_at(r, 0)));
  return worst;
}

}  // namespace

void demo(const DemoArgs& args, Context& ctx, Progress& progress) {
  if (args.n_obs < 11)
    throw ValueError("--n-obs must be at least 11 (the walkthrough takes row 10)");
  const ChunkSpec chunks = parse_chunks(args.chunks);
  const std::filesystem::path out = args.out;
  const bool root = ctx.rank() == 0;
  on_root(ctx.comm(), 0, "creating the output folder",
          [&] { std::filesystem::create_directories(out); });
  std::ostringstream say;  // printed by rank 0 as the walkthrough goes
  const auto flush = [&] {
    if (root) std::cout << say.str() << std::flush;
    say.str("");
  };
  // Pictures are written by rank 0; a failure there stops every rank (collective).
  const auto picture = [&](const std::string& name, const std::function<std::string()>& draw) {
    on_root(ctx.comm(), 0, "writing a picture", [&] { write_file(out / name, draw()); });
  };
  const auto graph_pictures = [&](const std::string& stem, const Array& x) {
    on_root(ctx.comm(), 0, "writing a task graph", [&] {
      const std::string dot = task_graph_dot(x);
      write_file(out / (stem + ".dot"), dot);
      if (auto svg = dot_to_svg(dot)) write_file(out / (stem + ".svg"), *svg);
      write_file(out / (stem + "_layers.dot"), task_graph_dot(x, GraphDetail::layers));
    });
  };
  say << "tessera demo on " << ctx.size() << " rank(s) x " << ctx.threads() << " thread(s)\n\n";

  const AnnData a = make_object(args, chunks, 0);
  const AnnData b = make_object(args, chunks, 1);
  say << ">>> a\n"
      << a.repr() << "\n\n>>> a.X\n"
      << repr(*a.X()) << "\n"
      << chunk_table(*a.X()) << "\n";
  picture("a_X.html", [&] { return chunk_table_html(*a.X()); });
  picture("a_X.svg", [&] { return chunk_grid_svg(a.X()->chunks()); });
  flush();

  // The graph of a row-sum, as dask's visualize() draws it.
  const Array a_row_sum = a.X()->sum(1);
  say << ">>> a.X.sum(axis=1)\n"
      << repr(a_row_sum) << "\n"
      << "tasks: " << a_row_sum.graph_stats().tasks << "\n\n";
  graph_pictures("a_X_sum", a_row_sum);

  // concat: the chunks of a and b are reused as they are (no tasks added).
  ConcatOptions options;
  options.index_unique = "-";
  const AnnData adata = tessera::concat({a, b}, options);
  say << ">>> adata = ad.concat([a, b], index_unique=\"-\")\n"
      << adata.repr() << "\n\n>>> adata.X\n"
      << chunk_table(*adata.X()) << "tasks: " << adata.X()->graph_stats().tasks
      << " (a.X and b.X have " << a.X()->graph_stats().tasks << " each)\n>>> adata.obs_names[:3]\n";
  for (int i = 0; i < 3; ++i)
    say << python_repr(adata.obs_names()[i]) << (i < 2 ? ", " : "\n\n");
  picture("adata_X.html", [&] { return chunk_table_html(*adata.X()); });
  picture("adata_X.svg", [&] { return chunk_grid_svg(adata.X()->chunks()); });
  flush();

  // The three kinds of views.
  const AnnData sliced = adata(Selector::slice(0, 100));
  const AnnData listed = adata(Selector::take({0, 5, 5, 10}));
  const AnnData batch_b = adata(adata.obs()["batch"] == "b");
  say << ">>> adata[:100]\n"
      << sliced.repr() << "\n\n>>> adata[[0, 5, 5, 10]]\n"
      << listed.repr() << "\n\n>>> adata[adata.obs[\"batch\"] == \"b\"]\n"
      << batch_b.repr() << "\n>>> _.X\n"
      << chunk_table(*batch_b.X()) << "\n";
  picture("batch_b_X.html", [&] { return chunk_table_html(*batch_b.X()); });
  picture("batch_b_X.svg", [&] { return chunk_grid_svg(batch_b.X()->chunks()); });

  // A reduction over the view, computed across the ranks.
  auto t0 = std::chrono::steady_clock::now();
  const Chunk means = ctx.compute(batch_b.X()->mean(1));
  say << ">>> adata[adata.obs[\"batch\"] == \"b\"].X.mean(axis=1)[:3]  (" << seconds_since(t0)
      << " s, " << ctx.last_stats().bytes_moved << " bytes moved)\n"
      << means.value_at(0, 0) << ", " << means.value_at(1, 0) << ", " << means.value_at(2, 0)
      << "  (uniform values: near 0.5)\n\n";
  const Array row_sum = adata.X()->sum(1);
  graph_pictures("adata_X_sum", row_sum);
  flush();

  // to_memory: everything computed; copy=false shares what is already in memory, copy=true not.
  t0 = std::chrono::steady_clock::now();
  const AnnData in_memory = adata.to_memory(ctx, /*copy=*/false);
  say << ">>> m = adata.to_memory(copy=False)  (" << seconds_since(t0) << " s)\n"
      << in_memory.repr() << "\n";
  t0 = std::chrono::steady_clock::now();
  const AnnData shared = in_memory.to_memory(ctx, /*copy=*/false);
  const AnnData copied = in_memory.to_memory(ctx, /*copy=*/true);
  say << ">>> m.to_memory(copy=False).X shares memory with m.X: " << std::boolalpha
      << shared.X()->in_memory()->shares_memory_with(*in_memory.X()->in_memory())
      << "\n>>> m.to_memory(copy=True).X shares memory with m.X: "
      << copied.X()->in_memory()->shares_memory_with(*in_memory.X()->in_memory()) << "  ("
      << seconds_since(t0) << " s)\n\n";
  flush();

  // Files: written by the ranks that own the chunks, read back lazily, and checked.
  if (args.write_files) {
    const Chunk expected = ctx.compute(row_sum, 0);
    for (const char* name : {"adata.h5ad", "adata.zarr"}) {
      const std::filesystem::path file = out / name;
      io::WriteOptions write;
      write.compression =
          io::Compression::from_name(std::string(name).ends_with(".zarr") ? "lz4" : "none");
      write.progress = progress.callback();
      progress.start(std::string("write ") + name, 0);
      t0 = std::chrono::steady_clock::now();
      io::write(adata, file, ctx, write);
      progress.finish();
      const double wrote = seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      const AnnData back = io::read(file, ctx);
      const Chunk sums = ctx.compute(back.X()->sum(1), 0);
      say << ">>> adata.write_" << (std::string(name).ends_with(".zarr") ? "zarr" : "h5ad") << "("
          << python_repr(file.string()) << ")  (" << wrote << " s)\n>>> ad.read_"
          << (std::string(name).ends_with(".zarr") ? "zarr" : "h5ad") << "(...)  (lazy; "
          << seconds_since(t0) << " s with a row-sum)\n"
          << back.repr() << "\n";
      if (root) {
        say << "X row sums equal to the written object's: max |difference| = "
            << max_difference(expected, sums) << "\n\n";
      }
      flush();
    }
  }
  if (root) {
    say << "pictures, tables and files in " << std::filesystem::absolute(out).string() << "\n";
  }
  flush();
}

}  // namespace tessera::cli
