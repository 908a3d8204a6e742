// Streaming writes (design card §6: "every command streams"): write_h5ad/write_zarr compute,
// write and free big arrays in bands of chunk-rows, so the bytes a rank holds at once stay near
// WriteOptions::band_bytes whatever the array's size. Checked here at 1–4 ranks and without
// mpirun, on arrays many times larger than a band:
//   - the writer's own count of the bytes it held at once (WriteStats::peak_bytes_held) stays
//     within the band (plus, for sparse zarr, the few 1-D chunks still being assembled);
//   - the file holds exactly the values (read back and compared element by element with an
//     independent computation: Philox values element by element, or the lazy array computed on
//     one process);
//   - zarr output is byte-identical whatever the rank count (compared file by file with a
//     single-process write of the same object);
//   - a CSC element (the transpose of a CSR array) is written as csc_matrix;
//   - errors name the target path and the element, never the temporary sibling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "io_test_support.hpp"
#include "storage/replace.hpp"  // replace_path (io/src, private to the library)
#include "stream_writer.hpp"    // plan_bands (io/src, private to the library)
#include "tessera/core/chunk_source.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/hdf5_file.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io {
namespace {

namespace fs = std::filesystem;
using test::attempt;
using test::ctx;
using test::describe;
using test::Outcome;

constexpr std::uint64_t kSeed = 20240611;

std::map<std::string, std::string> files_below(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    out[fs::relative(e.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

// The element's attributes as a reader of the file sees them.
Json element_attributes(const fs::path& path, const std::string& group, const std::string& name) {
  const std::unique_ptr<Group> root =
      path.extension() == ".h5ad" ? open_h5(path.string(), false) : open_zarr(path, false);
  const std::unique_ptr<Group> parent = group.empty() ? nullptr : root->group(group);
  const Group& p = parent ? *parent : *root;
  return p.has_group(name) ? p.group(name)->attributes() : p.attributes(name);
}

struct Format {
  std::string suffix;
};

void PrintTo(const Format& f, std::ostream* os) {
  *os << f.suffix;
}

class StreamingWrite : public ::testing::TestWithParam<Format> {
 protected:
  fs::path target(const std::string& test) const {
    return test::scratch("streaming", test + "_" + GetParam().suffix) /
           ("out." + GetParam().suffix);
  }
};

TEST_P(StreamingWrite, DenseArraysTenTimesTheBandAreWrittenWithinTheBand) {
  const Shape shape{3000, 200};  // 4.8 MB of float64 in 100 chunk-rows of 48 kB
  const Array x = random(shape, ChunkSpec(30, 200), kSeed);
  AnnData a(x);
  a.layers().set("twice", x * 2.0);
  WriteStats stats;
  WriteOptions options;
  options.band_bytes = 100'000;  // two chunk-rows per rank and band
  options.stats = &stats;
  const fs::path out = target("dense");
  write(a, out, ctx(), options);

  const std::size_t chunk_row = 30 * 200 * 8;
  const std::size_t total = 2 * static_cast<std::size_t>(x.nbytes());
  EXPECT_GT(stats.peak_bytes_held, 0U);
  EXPECT_LE(stats.peak_bytes_held, static_cast<std::size_t>(options.band_bytes));
  EXPECT_GE(stats.peak_bytes_held, chunk_row);
  EXPECT_GT(total, 40 * static_cast<std::size_t>(options.band_bytes));
  // 100 chunk-rows over the ranks, two per rank and band, for each of the two arrays.
  const index_t per_rank = (100 + ctx().size() - 1) / ctx().size();
  EXPECT_EQ(stats.bands, 2 * ((per_rank + 1) / 2));
  EXPECT_EQ(static_cast<std::size_t>(ctx().comm().all_reduce_sum(
                static_cast<std::int64_t>(stats.bytes_written), "bytes written")),
            total);

  const AnnData back = read(out, ctx(), test::lazy_reading(false));
  const Chunk got = back.X()->compute();
  const Chunk twice = back.layers()["twice"].compute();
  index_t wrong = 0;
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t c = 0; c < shape.cols; ++c) {
      const double want = random_value(kSeed, shape, r, c);
      wrong += got.row<double>(r)[c] != want || twice.row<double>(r)[c] != want * 2.0;
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST_P(StreamingWrite, SparseArraysAreWrittenWithinTheBandPlusTheChunksBeingAssembled) {
  const Shape shape{2400, 150};
  const Array x = random_sparse(shape, ChunkSpec(20, 150), 0.1, kSeed);  // ~36000 values
  AnnData a(x);
  a.obsm().set("sparse32",
               random_sparse({2400, 40}, ChunkSpec(64, 40), 0.2, kSeed + 1, DType::float32));
  WriteStats stats;
  WriteOptions options;
  options.band_bytes = 12'000;   // two or three chunk-rows per rank and band
  options.sparse_chunk = 1'000;  // many 1-D chunks, several of them shared by two ranks
  options.stats = &stats;
  const fs::path out = target("sparse");
  write(a, out, ctx(), options);

  const std::size_t total = x.compute().nbytes();
  // The band, plus what is kept of partial 1-D chunks (at most a carried and an edge chunk for
  // each of data, indices and indptr).
  const std::size_t bound =
      2 * static_cast<std::size_t>(options.band_bytes) + 6 * 1'000 * sizeof(double);
  EXPECT_GT(stats.peak_bytes_held, 0U);
  EXPECT_LE(stats.peak_bytes_held, bound);
  EXPECT_GT(total, 6 * bound);
  EXPECT_GT(stats.bands, 10);
  // Every stored value written once, by one rank (int32 indices and indptr: everything fits).
  const index_t nnz = x.compute().nnz(), nnz32 = a.obsm()["sparse32"].compute().nnz();
  const std::int64_t stored = nnz * 12 + 2401 * 4 + nnz32 * 8 + 2401 * 4;
  EXPECT_EQ(ctx().comm().all_reduce_sum(static_cast<std::int64_t>(stats.bytes_written), "bytes"),
            stored);

  const AnnData back = read(out, ctx(), test::lazy_reading(false));
  EXPECT_TRUE(identical(back.X()->compute(), x.compute()));
  EXPECT_TRUE(identical(back.obsm()["sparse32"].compute(), a.obsm()["sparse32"].compute()));
  const Json attrs = element_attributes(out, "", "X");
  EXPECT_EQ(attrs.value("encoding-type", ""), "csr_matrix");
}

TEST_P(StreamingWrite, TheFileIsTheSameWhateverTheRankCount) {
  AnnData a(random(Shape{700, 90}, ChunkSpec(25, 40), kSeed));
  a.layers().set("sparse", random_sparse(Shape{700, 90}, ChunkSpec(30, 90), 0.15, kSeed + 2));
  a.obsp().set("graph", random_sparse(Shape{700, 700}, ChunkSpec(50, 700), 0.01, kSeed + 3));
  WriteOptions options;
  options.band_bytes = 30'000;
  options.sparse_chunk = 700;
  const fs::path out = target("same");
  write(a, out, ctx(), options);

  // One process alone, through the element layer, into a directory next to it.
  const fs::path alone = out.parent_path() / ("alone." + GetParam().suffix);
  if (ctx().rank() == 0) {
    const std::unique_ptr<Group> root =
        GetParam().suffix == "h5ad" ? create_h5(alone.string()) : create_zarr(alone);
    write_anndata(*root, a, options);
    if (GetParam().suffix == "zarr") {  // as write() finishes a zarr store
      DirectoryStore store(alone);
      consolidate_metadata(store);
    }
  }
  ctx().comm().barrier("written alone");
  if (GetParam().suffix == "zarr") {
    if (ctx().rank() == 0) {
      const auto got = files_below(out);
      const auto want = files_below(alone);
      EXPECT_EQ(got.size(), want.size());
      for (const auto& [name, bytes] : want) {
        const auto it = got.find(name);
        EXPECT_TRUE(it != got.end() && it->second == bytes) << name << " differs";
      }
    }
  }
  // Both formats: every array equal, bit for bit, to the single-process write's.
  const AnnData back = read(out, ctx(), test::lazy_reading(false));
  const AnnData ref = read(alone, ctx(), test::lazy_reading(false));
  EXPECT_TRUE(identical(back.X()->compute(), ref.X()->compute()));
  EXPECT_TRUE(identical(back.layers()["sparse"].compute(), ref.layers()["sparse"].compute()));
  EXPECT_TRUE(identical(back.obsp()["graph"].compute(), ref.obsp()["graph"].compute()));
  EXPECT_TRUE(identical(back.layers()["sparse"].compute(), a.layers()["sparse"].compute()));
}

TEST_P(StreamingWrite, TheTransposeOfACsrArrayIsWrittenAsCsc) {
  const Array csr = random_sparse(Shape{60, 45}, ChunkSpec(16, 45), 0.2, kSeed + 4);
  AnnData a(csr.transpose());  // 45 × 60, scipy's csr.T: a csc_matrix
  a.layers().set("plain", random_sparse(Shape{45, 60}, ChunkSpec(10, 60), 0.3, kSeed + 5));
  WriteOptions options;
  options.band_bytes = 2'000;
  options.sparse_chunk = 50;
  const fs::path out = target("csc");
  write(a, out, ctx(), options);
  const Json x = element_attributes(out, "", "X");
  EXPECT_EQ(x.value("encoding-type", ""), "csc_matrix");
  EXPECT_EQ(x.value("shape", Json()), Json::array({45, 60}));
  EXPECT_EQ(element_attributes(out, "layers", "plain").value("encoding-type", ""), "csr_matrix");

  // Read back lazily and eagerly, and written again: still CSC, same values.
  for (const bool lazy : {true, false}) {
    const AnnData back = read(out, ctx(), test::lazy_reading(lazy));
    EXPECT_TRUE(identical(back.X()->compute(), csr.transpose().compute())) << lazy;
    const fs::path again =
        out.parent_path() / ("again" + std::to_string(lazy) + "." + GetParam().suffix);
    write(back, again, ctx(), options);
    EXPECT_EQ(element_attributes(again, "", "X").value("encoding-type", ""), "csc_matrix");
    EXPECT_TRUE(identical(read(again, ctx(), test::lazy_reading(false)).X()->compute(),
                          csr.transpose().compute()));
  }
}

// Eager reads hold what they read as ReadOptions::residence says, with the same values as a
// lazy read computed on one process: every rank whole, rank 0 whole (the others lazy), or each
// rank its own chunks (persisted), a CSC element included. A dense array written from 2-D chunks
// reads back in the same column chunks, so its row sums are bitwise the written object's.
TEST_P(StreamingWrite, EagerReadsHoldTheirArraysWhereAsked) {
  const Array x = random(Shape{300, 120}, ChunkSpec(50, 40), kSeed + 7);
  AnnData a(x);
  a.layers().set("sparse", random_sparse(Shape{300, 120}, ChunkSpec(60, 120), 0.2, kSeed + 8));
  a.obsm().set("csc",
               random_sparse(Shape{70, 300}, ChunkSpec(20, 300), 0.1, kSeed + 9).transpose());
  WriteOptions options;
  options.chunks = ChunkSpec(50, 40);
  const fs::path out = target("residence");
  write(a, out, ctx(), options);
  const AnnData lazy = read(out, ctx(), test::lazy_reading(true));
  EXPECT_EQ(lazy.X()->chunks().sizes(1), x.chunks().sizes(1));  // the file's column chunks
  EXPECT_TRUE(identical(ctx().compute(lazy.X()->sum(1)), x.sum(1).compute()));
  for (const Residence where : {Residence::every_rank, Residence::root, Residence::distributed}) {
    ReadOptions eager = test::lazy_reading(false);
    eager.residence = where;
    const AnnData back = read(out, ctx(), eager);
    // X and the CSR layer are held as asked; the CSC element (held as the CSR matrix of its
    // transpose, transposed lazily) is compared by value only.
    const std::tuple<const Array*, const Array*, bool> arrays[] = {
        {&*back.X(), &*lazy.X(), true},
        {&back.layers()["sparse"], &lazy.layers()["sparse"], true},
        {&back.obsm()["csc"], &lazy.obsm()["csc"], false}};
    for (const auto& [got, want, held] : arrays) {
      const bool whole = got->in_memory() != nullptr;
      const bool persisted = Context::ownership(*got) != nullptr;
      if (held && where == Residence::distributed) {
        EXPECT_TRUE(persisted) << name(where);
      } else if (held) {
        EXPECT_EQ(whole, where == Residence::every_rank || ctx().rank() == 0) << name(where);
      }
      // Root: the ranks hold different objects now, so no collective (residence.hpp).
      const Chunk value = where == Residence::root ? got->compute() : ctx().compute(*got);
      EXPECT_TRUE(identical(value, want->compute())) << name(where);
    }
  }
}

TEST_P(StreamingWrite, ProgressCountsEveryBandOnEveryRank) {
  AnnData a(random(Shape{400, 50}, ChunkSpec(10, 50), kSeed));
  a.layers().set("s", random_sparse(Shape{400, 50}, ChunkSpec(40, 50), 0.2, kSeed + 6));
  std::vector<std::pair<std::int64_t, std::int64_t>> calls;
  WriteOptions options;
  options.band_bytes = 16'000;
  options.progress = [&](std::int64_t done, std::int64_t total) {
    calls.emplace_back(done, total);
  };
  write(a, target("progress"), ctx(), options);
  ASSERT_FALSE(calls.empty());
  for (std::size_t n = 1; n < calls.size(); ++n) {
    EXPECT_GT(calls[n].first, calls[n - 1].first);
    EXPECT_EQ(calls[n].second, calls[0].second);
  }
  EXPECT_EQ(calls.back().first, calls.back().second);
  EXPECT_GE(calls.back().second, 400 * 50 * 8);
  const auto n = static_cast<std::int64_t>(calls.size());
  EXPECT_EQ(ctx().comm().all_gather(n, "progress calls"),
            std::vector<std::int64_t>(static_cast<std::size_t>(ctx().size()), n));
}

// Chunk-row 3 cannot be read.
class FailingSource final : public ChunkSource {
 public:
  [[nodiscard]] Chunk read(index_t i, index_t j, const ChunkGrid& grid) const override {
    if (i == 3) throw FormatError("failing source: chunk-row 3 is corrupt");
    return Chunk::dense_filled(DType::float64, grid.chunk_shape(i, j), 1.0);
  }
  [[nodiscard]] std::string identity() const override { return "failing source"; }
};

TEST_P(StreamingWrite, ErrorsNameTheTargetAndTheElementNotTheTemporary) {
  const fs::path out = target("errors");
  AnnData a(random(Shape{40, 5}, ChunkSpec(5, 5), kSeed));
  a.layers().set("broken",
                 from_source(std::make_shared<FailingSource>(), ChunkGrid::regular({40, 5}, 5, 5),
                             DType::float64, Layout::dense, "read-failing"));
  const Outcome o = attempt([&] { write(a, out, ctx()); });
  EXPECT_TRUE(test::everywhere(o.threw));
  EXPECT_NE(o.message.find(out.string()), std::string::npos) << describe(o);
  EXPECT_NE(o.message.find("layers/broken"), std::string::npos) << describe(o);
  EXPECT_NE(o.message.find("chunk-row 3 is corrupt"), std::string::npos) << describe(o);
  EXPECT_EQ(o.message.find(".tessera-"), std::string::npos) << describe(o);

  // A failure inside the storage layer, whose message names the file it writes: the target's
  // name replaces the temporary's.
  AnnData b(random(Shape{4, 3}, ChunkSpec(2, 3), kSeed));
  b.obs().set("bad/name", Column::values(Chunk::dense_filled(DType::float64, {4, 1}, 0.0)));
  const Outcome p = attempt([&] { write(b, out, ctx()); });
  EXPECT_TRUE(test::everywhere(p.threw));
  EXPECT_NE(p.message.find(out.string()), std::string::npos) << describe(p);
  EXPECT_EQ(p.message.find(".tessera-"), std::string::npos) << describe(p);
  ctx().comm().barrier("errors checked");
  if (ctx().rank() == 0) {
    EXPECT_FALSE(fs::exists(out));
  }
}

// The last step of an atomic write: the finished output takes the target's place in one step,
// whatever was there (nothing, a file, a folder such as a Zarr store), and nothing else is left.
TEST(ReplacePath, PutsTheOutputInPlaceOverNothingAFileOrAFolder) {
  const fs::path dir = test::scratch("streaming", "replace");  // collective
  if (ctx().rank() != 0) return;
  const auto make_folder = [](const fs::path& p, const std::string& text) {
    fs::create_directories(p / "sub");
    std::ofstream(p / "sub" / "a") << text;
  };
  const auto make_file = [](const fs::path& p, const std::string& text) {
    std::ofstream(p) << text;
  };
  const auto read_back = [](const fs::path& p) {
    std::ifstream in(fs::is_directory(p) ? p / "sub" / "a" : p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (const bool new_is_folder : {false, true}) {
    for (const int old_kind : {0, 1, 2}) {  // nothing, a file, a folder
      const fs::path target = dir / "out";
      const fs::path temp = dir / ".out.tmp";
      fs::remove_all(target);
      fs::remove_all(temp);
      if (old_kind == 1) make_file(target, "old");
      if (old_kind == 2) make_folder(target, "old");
      if (new_is_folder) {
        make_folder(temp, "new");
      } else {
        make_file(temp, "new");
      }
      detail::replace_path(temp, target);
      EXPECT_EQ(fs::is_directory(target), new_is_folder) << new_is_folder << old_kind;
      EXPECT_EQ(read_back(target), "new") << new_is_folder << old_kind;
      EXPECT_FALSE(fs::exists(temp)) << new_is_folder << old_kind;
      EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, StreamingWrite, ::testing::Values(Format{"h5ad"}, Format{"zarr"}),
                         [](const ::testing::TestParamInfo<Format>& info) {
                           return info.param.suffix;
                         });

// Bands: the next chunk-rows of every rank whose bytes fit the budget, at least one per rank.
TEST(PlanBands, EveryRankContributesItsNextChunkRowsWithinTheBudget) {
  const std::vector<int> owner{0, 0, 0, 1, 1, 2, 1};
  const std::vector<index_t> bytes{10, 10, 10, 10, 30, 5, 5};
  const auto bands = detail::plan_bands(owner, bytes, 3, 20);
  // Rank 0: {0, 1} {2}; rank 1: {3} {4} {6} (30 alone exceeds the budget); rank 2: {5}.
  const std::vector<std::vector<index_t>> want{{0, 1, 3, 5}, {2, 4}, {6}};
  EXPECT_EQ(bands, want);
  EXPECT_EQ(detail::plan_bands(owner, bytes, 3, 1000),
            (std::vector<std::vector<index_t>>{{0, 1, 2, 3, 4, 5, 6}}));
  // A rank with nothing contributes nothing.
  EXPECT_EQ(detail::plan_bands(std::vector<int>{2, 2}, std::vector<index_t>{5, 5}, 4, 5),
            (std::vector<std::vector<index_t>>{{0}, {1}}));
}

}  // namespace
}  // namespace tessera::io
