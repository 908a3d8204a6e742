// The seed walkthrough in C++: AnnData objects whose matrices are lazy chunked arrays (dask.array
// in the Python original), concatenated, viewed three ways and brought into memory — run on every
// rank of an MPI job (or one process), printing on rank 0 what the Python walkthrough prints, and
// leaving chunk-grid tables (HTML with SVG) and task-graph pictures (DOT, SVG) in --out.
//
//   mpirun -np 2 tessera_demo [--n-obs M] [--n-vars N] [--chunks R,C] [--out DIR]
//
// The Python it mirrors:
//   X = da.random.random((n_obs, n_vars), chunks=(4096, 4096))
//   a = ad.AnnData(X=X, layers={"a": X}, obsm={"a": da.random.random((n_obs, 100))},
//                  obs=pd.DataFrame({"batch": ["a"] * (n_obs // 2) + ["b"] * (n_obs - n_obs //
//                  2)}))
//   adata = ad.concat([a, b], index_unique="-")
//   adata[:100]; adata[[0, 5, 5, 10]]; adata[adata.obs["batch"] == "b"]
//   adata.to_memory(copy=False); adata.to_memory(copy=True)
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "tessera/anndata/anndata.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/render.hpp"
#include "tessera/distributed/context.hpp"

namespace {

struct Options {
  tessera::index_t n_obs = 8192;
  tessera::index_t n_vars = 8192;
  tessera::index_t chunk_rows = 4096;
  tessera::index_t chunk_cols = 4096;
  std::filesystem::path out = "tessera-demo-out";
};

tessera::index_t parse_count(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < 1)
    throw tessera::ValueError(flag + " needs a positive whole number, got '" + text + "'");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int n = 1; n < argc; ++n) {
    const std::string flag = argv[n];
    if (flag == "--help" || flag == "-h") {
      std::cout << "usage: tessera_demo [--n-obs M] [--n-vars N] [--chunks R,C] [--out DIR]\n";
      std::exit(0);
    }
    if (n + 1 >= argc) throw tessera::ValueError(flag + " needs a value");
    const std::string value = argv[++n];
    if (flag == "--n-obs") {
      o.n_obs = parse_count(flag, value);
    } else if (flag == "--n-vars") {
      o.n_vars = parse_count(flag, value);
    } else if (flag == "--chunks") {
      const auto comma = value.find(',');
      if (comma == std::string::npos)
        throw tessera::ValueError("--chunks needs R,C, got '" + value + "'");
      o.chunk_rows = parse_count(flag, value.substr(0, comma));
      o.chunk_cols = parse_count(flag, value.substr(comma + 1));
    } else if (flag == "--out") {
      o.out = value;
    } else {
      throw tessera::ValueError("unknown option " + flag);
    }
  }
  return o;
}

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw tessera::IoError("cannot write " + path.string());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One of the seed's objects: X random, layers["a"] = X, obsm["a"] random (n_obs × 100),
// obs["batch"] = "a" for the first half of the rows and "b" for the rest.
tessera::AnnData make_object(const Options& o, std::uint64_t seed) {
  using namespace tessera;
  const Array X = random({o.n_obs, o.n_vars}, ChunkSpec{o.chunk_rows, o.chunk_cols}, seed);
  AnnData a(X);
  a.layers().set("a", X);
  a.obsm().set("a", random({o.n_obs, 100}, ChunkSpec{o.chunk_rows, 100}, seed + 100));
  const std::optional<std::string> first{"a"}, second{"b"};
  std::vector<std::optional<std::string>> batch(static_cast<std::size_t>(o.n_obs));
  for (index_t i = 0; i < o.n_obs; ++i)
    batch[i] = i < o.n_obs / 2 ? first : second;
  a.obs().set("batch", Column::categorical(batch));
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  using namespace tessera;
  const Options o = parse(argc, argv);
  Context ctx;  // MPI_COMM_WORLD under mpirun, one process otherwise
  const bool root = ctx.rank() == 0;
  std::ostringstream say;  // printed by rank 0 at the end
  say << "tessera demo on " << ctx.size() << " rank(s) x " << ctx.threads() << " thread(s)\n\n";

  const AnnData a = make_object(o, 0);
  const AnnData b = make_object(o, 1);
  say << ">>> a\n"
      << a.repr() << "\n\n>>> a.X\n"
      << repr(*a.X()) << "\n"
      << chunk_table(*a.X()) << "\n";

  // concat: the chunks of a and b are reused as they are (no tasks added).
  ConcatOptions options;
  options.index_unique = "-";
  const AnnData adata = concat({a, b}, options);
  say << ">>> adata = ad.concat([a, b], index_unique=\"-\")\n"
      << adata.repr() << "\n\n>>> adata.X\n"
      << chunk_table(*adata.X()) << "tasks: " << adata.X()->graph_stats().tasks
      << " (a.X and b.X have " << a.X()->graph_stats().tasks << " each)\n>>> adata.obs_names[:3]\n";
  for (int i = 0; i < 3; ++i)
    say << python_repr(adata.obs_names()[i]) << (i < 2 ? ", " : "\n\n");

  // The three kinds of views.
  const AnnData sliced = adata(Selector::slice(0, 100));
  const AnnData listed = adata(Selector::take({0, 5, 5, 10}));
  const AnnData batch_b = adata(adata.obs()["batch"] == "b");
  say << ">>> adata[:100]\n"
      << sliced.repr() << "\n\n>>> adata[[0, 5, 5, 10]]\n"
      << listed.repr() << "\n\n>>> adata[adata.obs[\"batch\"] == \"b\"]\n"
      << batch_b.repr() << "\n>>> _.X\n"
      << chunk_table(*batch_b.X()) << "\n";

  // A reduction over the view, computed across the ranks.
  auto t0 = std::chrono::steady_clock::now();
  const Chunk means = ctx.compute(batch_b.X()->mean(1));
  say << ">>> adata[adata.obs[\"batch\"] == \"b\"].X.mean(axis=1)[:3]  (" << seconds_since(t0)
      << " s, " << ctx.last_stats().bytes_moved << " bytes moved)\n"
      << means.value_at(0, 0) << ", " << means.value_at(1, 0) << ", " << means.value_at(2, 0)
      << "  (uniform values: near 0.5)\n\n";

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
      << seconds_since(t0) << " s)\n";

  if (root) {
    std::filesystem::create_directories(o.out);
    write(o.out / "a_X.html", chunk_table_html(*a.X()));
    write(o.out / "adata_X.html", chunk_table_html(*adata.X()));
    write(o.out / "batch_b_X.html", chunk_table_html(*batch_b.X()));
    const Array row_sum = adata.X()->sum(1);
    const std::string dot = task_graph_dot(row_sum);
    write(o.out / "row_sum.dot", dot);
    if (auto svg = dot_to_svg(dot)) write(o.out / "row_sum.svg", *svg);
    write(o.out / "row_sum_layers.dot", task_graph_dot(row_sum, GraphDetail::layers));
    say << "\npictures and tables in " << std::filesystem::absolute(o.out).string() << "\n";
    std::cout << say.str();
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "tessera_demo: " << e.what() << "\n";
  return 1;
}
