// The core walkthrough: lazy chunked arrays as in the seed (dask.array under AnnData), with the
// chunk tables, the task-graph picture, and results checked as it goes. Later layers (MPI,
// AnnData, files) extend this into the full seed walkthrough.
//
//   tessera_demo [--n-obs M] [--n-vars N] [--chunks R,C] [--out DIR]
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "tessera/core/array.hpp"
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
  if (used != text.size() || v < 1) throw tessera::ValueError(flag + " needs a positive whole number, got '" + text + "'");
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
      if (comma == std::string::npos) throw tessera::ValueError("--chunks needs R,C, got '" + value + "'");
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

}  // namespace

int main(int argc, char** argv) try {
  using namespace tessera;
  const Options o = parse(argc, argv);
  Context ctx;  // MPI_COMM_WORLD under mpirun, one process otherwise
  const bool root = ctx.rank() == 0;
  std::ostringstream say;  // only rank 0 prints
  if (root) std::filesystem::create_directories(o.out);
  const Shape shape{o.n_obs, o.n_vars};
  const ChunkSpec chunks{o.chunk_rows, o.chunk_cols};
  say << "tessera demo on " << ctx.size() << " rank(s) x " << ctx.threads() << " thread(s)\n\n";

  // X = da.random.random((n_obs, n_vars), chunks=...), materialized where each chunk is owned.
  const Array x = ctx.persist(random(shape, chunks, /*seed=*/0));
  const Array y = ctx.persist(random(shape, chunks, /*seed=*/1));
  say << repr(x) << "\n\n" << chunk_table(x) << "\n";

  // concat of persisted arrays joins their ownership maps: no tasks, no bytes moved.
  const Array both = ctx.persist(concatenate({x, y}, 0));
  say << "concatenate([X, Y], axis=0): " << ctx.last_stats().bytes_moved << " bytes moved\n"
      << chunk_table(concatenate({x, y}, 0)) << "\n";

  // A row-sum and its task graph.
  const Array row_sum = both.sum(1);
  const auto t0 = std::chrono::steady_clock::now();
  const Chunk sums = ctx.compute(row_sum);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  say << "row sums of " << to_string(both.shape()) << ": " << seconds << " s, " << ctx.last_stats().bytes_moved
      << " bytes moved (the result gathered to every rank)\n";
  // Each row of uniform [0, 1) values sums to about n_vars / 2.
  say << "first row sums: " << sums.value_at(0, 0) << ", " << sums.value_at(1, 0) << " (expected near "
      << static_cast<double>(o.n_vars) / 2 << ")\n";

  // Selections: a slice, an index list with repeats, a boolean mask from a comparison.
  const Array sliced = both(Selector::slice(0, o.n_obs / 2));
  const Array listed = both(Selector::take({3 % o.n_obs, 1 % o.n_obs, 3 % o.n_obs}));
  const Chunk first_col = ctx.compute(both(Selector::all(), Selector::slice(0, 1)) > 0.5);
  const Array masked = both(Selector::mask(first_col));
  say << "\nX[:n/2]          " << repr(sliced) << "\nX[[3,1,3]]       " << repr(listed)
      << "\nX[X[:,0] > 0.5]  " << repr(masked) << "\n";
  const Chunk masked_sums = ctx.compute(masked.sum(0));
  say << "column sums of the masked rows: " << masked_sums.value_at(0, 0) << ", ...\n";

  if (root) {
    write(o.out / "X.html", chunk_table_html(x));
    write(o.out / "concat.html", chunk_table_html(concatenate({x, y}, 0)));
    const std::string dot = task_graph_dot(concatenate({x, y}, 0).sum(1));
    write(o.out / "row_sum.dot", dot);
    if (auto svg = dot_to_svg(dot)) write(o.out / "row_sum.svg", *svg);
    say << "\npictures and tables in " << std::filesystem::absolute(o.out).string() << "\n";
    std::cout << say.str();
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "tessera_demo: " << e.what() << "\n";
  return 1;
}
