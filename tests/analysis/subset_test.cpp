// analysis::subset written by the streaming writer (tessera subset's path), at 1-4 ranks, on an
// input many times the writer's band: the bytes a rank holds at once (WriteStats) stay within
// the band plus two of the input's chunks, whatever the input's size, and the file holds exactly
// the selected rows and columns of every slot (compared value by value with the source arrays
// computed whole and cut here with naive loops). Also the masks' errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/analysis/subset.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using testing::all_ranks;
using testing::context;

constexpr std::uint64_t kSeed = 20261203;

fs::path scratch(const std::string& test) {
  const Context& ctx = context();
  const std::string run =
      ctx.comm().is_serial() ? std::string("serial") : "np" + std::to_string(ctx.size());
  const fs::path dir = fs::path(TESSERA_TEST_SCRATCH) / ("subset-" + run) / test;
  if (ctx.rank() == 0) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  context().comm().barrier("test: scratch directory");
  return dir;
}

// True where the naive cut of `whole` by (rows, cols) equals `got` element by element.
bool is_cut_of(const Chunk& got, const Chunk& whole, const std::vector<bool>& rows,
               const std::vector<bool>& cols) {
  std::vector<index_t> r_kept, c_kept;
  for (std::size_t r = 0; r < rows.size(); ++r)
    if (rows[r]) r_kept.push_back(static_cast<index_t>(r));
  for (std::size_t c = 0; c < cols.size(); ++c)
    if (cols[c]) c_kept.push_back(static_cast<index_t>(c));
  if (got.rows() != static_cast<index_t>(r_kept.size()) ||
      got.cols() != static_cast<index_t>(c_kept.size()))
    return false;
  const Chunk g = got.to_dense(), w = whole.to_dense();
  for (std::size_t i = 0; i < r_kept.size(); ++i)
    for (std::size_t j = 0; j < c_kept.size(); ++j)
      if (g.value_at(static_cast<index_t>(i), static_cast<index_t>(j)) !=
          w.value_at(r_kept[i], c_kept[j]))
        return false;
  return true;
}

std::vector<bool> all_of(index_t n) {
  return std::vector<bool>(static_cast<std::size_t>(n), true);
}

class SubsetWrite : public ::testing::TestWithParam<std::string> {};

TEST_P(SubsetWrite, HoldsTheBandPlusTwoChunksAndWritesExactlyTheCut) {
  const Shape shape{4000, 200};
  const ChunkSpec chunks(40, 200);  // 100 chunk-rows; dense: 64 kB each
  const Array x = random_sparse(shape, chunks, 0.1, kSeed);
  const Array dense = random(shape, chunks, kSeed + 1);
  AnnData a(x);
  a.layers().set("dense", dense);
  a.obsm().set("pca", random({shape.rows, 8}, ChunkSpec(40, 8), kSeed + 2));
  a.varm().set("loadings", random({shape.cols, 4}, ChunkSpec(-1, -1), kSeed + 3));
  std::vector<bool> keep(static_cast<std::size_t>(shape.rows)),
      hv(static_cast<std::size_t>(shape.cols));
  for (index_t r = 0; r < shape.rows; ++r)
    keep[static_cast<std::size_t>(r)] = (r * 7 + r / 13) % 3 != 0;  // about two thirds
  for (index_t c = 0; c < shape.cols; ++c)
    hv[static_cast<std::size_t>(c)] = c % 5 == 1 || c % 7 == 0;
  a.obs().set("keep", Column::from(keep));
  a.var().set("highly_variable", Column::from(hv));
  Raw raw;
  raw.X = x;
  a.set_raw(raw);

  analysis::SubsetOptions options;
  options.obs_mask = "keep";
  options.highly_variable = true;
  const AnnData cut = analysis::subset(a, options);

  io::WriteStats stats;
  io::WriteOptions write;
  write.band_bytes = 100'000;
  write.sparse_chunk = 2'000;
  write.stats = &stats;
  const fs::path out = scratch("stream") / ("out." + GetParam());
  io::write(cut, out, context(), write);

  // The input's biggest chunk (a dense chunk-row of 40 x 200 float64); the band, two of them,
  // and what the sparse writer keeps of partial 1-D chunks (data, indices, indptr).
  const std::size_t chunk = 40 * 200 * 8;
  const std::size_t bound = static_cast<std::size_t>(write.band_bytes) + 2 * chunk +
                            6 * static_cast<std::size_t>(write.sparse_chunk) * 8;
  const std::size_t input = static_cast<std::size_t>(dense.nbytes() + x.nbytes());
  // The output's dense layer alone is several bounds: a writer holding it whole would fail.
  const std::size_t output = static_cast<std::size_t>(cut.layers()["dense"].nbytes());
  bool ok = stats.peak_bytes_held > 0 && stats.peak_bytes_held <= bound && input > 20 * bound &&
            output > 3 * bound;
  EXPECT_TRUE(all_ranks(ok)) << "peak " << stats.peak_bytes_held << " bound " << bound << " output "
                             << output;

  const AnnData back = io::read(out, context());
  const Chunk wx = x.compute(), wd = dense.compute();
  ok = back.n_obs() == cut.n_obs() && back.n_vars() == cut.n_vars() &&
       is_cut_of(context().compute(*back.X()), wx, keep, hv) &&
       is_cut_of(context().compute(back.layers()["dense"]), wd, keep, hv) &&
       is_cut_of(context().compute(back.obsm()["pca"]), a.obsm()["pca"].compute(), keep,
                 all_of(8)) &&
       is_cut_of(context().compute(back.varm()["loadings"]), a.varm()["loadings"].compute(), hv,
                 all_of(4)) &&
       back.raw() && back.raw()->var.size() == shape.cols &&
       is_cut_of(context().compute(*back.raw()->X), wx, keep, all_of(shape.cols));
  EXPECT_TRUE(all_ranks(ok)) << "the file is not the cut";
}

INSTANTIATE_TEST_SUITE_P(Formats, SubsetWrite, ::testing::Values("h5ad", "zarr"));

TEST(Subset, NamesAndColumnsSelectTogetherAndErrorsNameWhatIsWrong) {
  AnnData a(
      from_chunk(Chunk::from_values<double>({4, 3}, std::vector<double>(12, 1.0)), ChunkSpec(2, 3)),
      DataFrame({"c0", "c1", "c2", "c3"}, "obs"), DataFrame({"g0", "g1", "g2"}, "var"));
  a.obs().set("good", Column::from(std::vector<bool>{true, true, false, true}));
  a.obs().set("score", Column::from(std::vector<double>{1, 2, 3, 4}));
  analysis::SubsetOptions o;
  o.obs_mask = "good";
  o.cells = std::vector<std::string>{"c3", "c1", "c2"};
  o.genes = std::vector<std::string>{"g2", "g0"};
  const AnnData s = analysis::subset(a, o);
  bool ok = s.obs_names() == std::vector<std::string>{"c1", "c3"} &&
            s.var_names() == std::vector<std::string>{"g0", "g2"};
  const auto message = [&](const analysis::SubsetOptions& bad) -> std::string {
    try {
      (void)analysis::subset(a, bad);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  analysis::SubsetOptions unknown;
  unknown.genes = std::vector<std::string>{"g1", "nope", "never"};
  const std::string m1 = message(unknown);
  ok = ok && m1.find("2 names are not in var_names: 'nope', 'never'") != std::string::npos;
  analysis::SubsetOptions missing;
  missing.obs_mask = "absent";
  const std::string m2 = message(missing);
  ok = ok && m2.find("obs has no column 'absent'") != std::string::npos &&
       m2.find("'good', 'score'") != std::string::npos;
  analysis::SubsetOptions numeric;
  numeric.obs_mask = "score";
  ok = ok && message(numeric).find("'score' is not bool") != std::string::npos;
  analysis::SubsetOptions no_hvg;
  no_hvg.highly_variable = true;
  ok = ok && message(no_hvg).find("var has no column 'highly_variable'") != std::string::npos;
  EXPECT_TRUE(all_ranks(ok)) << m1 << " | " << m2;
}

}  // namespace
}  // namespace tessera
