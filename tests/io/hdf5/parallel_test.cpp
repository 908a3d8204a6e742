// Parallel HDF5 (MPI-IO): every rank writes its own row blocks of an array in one collective call,
// some ranks with none, over compressed and uncompressed, chunked and contiguous arrays; the file
// must equal one written serially. Also: a bad block on one rank fails every rank (nobody hangs),
// the structure-first workflow of the design card, and parallel reads. Runs at 1-4 ranks and
// without mpirun (then the file is serial and the same calls must give the same file).
#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "h5_test_util.hpp"
#include "mpi_test.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/hdf5_file.hpp"

namespace tessera::io {
namespace {

using test::pattern_chunk;
using testing::all_ranks;
using testing::context;
using V = std::vector<index_t>;

const Comm& comm() {
  return context().comm();
}

// A directory every rank sees: made by rank 0, its name broadcast, removed after a barrier.
class SharedDir {
 public:
  SharedDir() {
    std::vector<std::byte> bytes;
    if (comm().rank() == 0) {
      local_.emplace("parallel");
      const std::string p = local_->path().string();
      for (char c : p)
        bytes.push_back(static_cast<std::byte>(c));
    }
    comm().broadcast(bytes, 0, "SharedDir");
    for (std::byte b : bytes)
      path_.push_back(static_cast<char>(b));
  }
  ~SharedDir() { comm().barrier("~SharedDir"); }
  SharedDir(const SharedDir&) = delete;
  SharedDir& operator=(const SharedDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::optional<test::ScratchDir> local_;
  std::string path_;
};

struct Layout {
  std::string name;
  V shape;
  DType dtype;
  V chunks;
  Compression compression;
};

std::vector<Layout> layouts() {
  Compression lz4 = Compression::from_name("lz4");
  Compression zstd_blosc = Compression::from_name("zstd");
  zstd_blosc.shuffle = 2;
  Compression gzip = Compression::from_name("zlib");
  Compression zstd{Codec::zstd, "", 3, 0};
  return {
      {"contiguous", {37, 6}, DType::float64, {}, Compression{}},
      {"chunked", {37, 6}, DType::int32, {5, 6}, Compression{}},
      {"blosc_lz4", {37, 6}, DType::float32, {4, 3}, lz4},
      {"gzip", {37, 6}, DType::uint16, {8, 6}, gzip},
      {"blosc_bool", {37, 6}, DType::boolean, {16, 2}, zstd_blosc},
      {"zstd", {37, 6}, DType::int64, {10, 6}, zstd},
      {"one_d", {37}, DType::float64, {7}, lz4},
  };
}

// Row block b (5 rows) goes to rank b % owners; even blocks are split into two column halves, so
// a rank's union has side-by-side boxes as well as separate row bands.
std::vector<std::pair<Box, Chunk>> my_blocks(const Layout& layout, const Chunk& reference,
                                             int owners) {
  std::vector<std::pair<Box, Chunk>> blocks;
  const index_t rows = layout.shape.size() == 2 ? layout.shape[0] : 1;
  const index_t cols = layout.shape.size() == 2 ? layout.shape[1] : layout.shape[0];
  const bool one_d = layout.shape.size() == 1;
  const index_t extent = one_d ? cols : rows;
  for (index_t b = 0; b * 5 < extent; ++b) {
    if (comm().rank() != b % owners) continue;
    const index_t r0 = b * 5;
    const index_t r1 = std::min(extent, r0 + 5);
    if (one_d) {
      blocks.emplace_back(Box{{r0}, {r1 - r0}}, reference.block(0, 1, r0, r1));
    } else if (b % 2 == 0) {
      const index_t half = cols / 2;
      // Right half first: the packing must not depend on the order blocks are given in.
      blocks.emplace_back(Box{{r0, half}, {r1 - r0, cols - half}},
                          reference.block(r0, r1, half, cols));
      blocks.emplace_back(Box{{r0, 0}, {r1 - r0, half}}, reference.block(r0, r1, 0, half));
    } else {
      blocks.emplace_back(Box{{r0, 0}, {r1 - r0, cols}}, reference.block(r0, r1, 0, cols));
    }
  }
  return blocks;
}

Shape as_2d(const V& shape) {
  return shape.size() == 1 ? Shape{1, shape[0]} : Shape{shape[0], shape[1]};
}

void check_against_serial(const std::string& parallel_file, const std::string& serial_file,
                          const std::vector<Layout>& all, bool& ok) {
  // Rank 0 writes the same arrays serially, one box, and compares what both files hold.
  if (comm().rank() != 0) return;
  {
    auto root = create_h5(serial_file);
    for (const Layout& l : all) {
      root->create_array(l.name, ArrayMeta{l.shape, l.dtype, l.chunks}, l.compression);
      root->write(l.name, Box{V(l.shape.size(), 0), l.shape},
                  pattern_chunk(l.dtype, as_2d(l.shape), 9));
    }
  }
  auto parallel = open_h5(parallel_file);
  auto serial = open_h5(serial_file);
  for (const Layout& l : all) {
    SCOPED_TRACE(l.name);
    const Chunk got = parallel->read_all(l.name);
    const bool same = identical(got, serial->read_all(l.name)) &&
                      identical(got, pattern_chunk(l.dtype, as_2d(l.shape), 9));
    EXPECT_TRUE(same);
    ok = ok && same;
    EXPECT_EQ(parallel->array_meta(l.name).chunks, serial->array_meta(l.name).chunks);
    EXPECT_EQ(parallel->attributes(l.name).at("shape"), Json(l.shape));
  }
}

void write_collectively(const std::string& file, int owners) {
  auto root = create_h5(file, comm());
  EXPECT_EQ(is_parallel_h5(*root), !comm().is_serial());
  root->set_attribute("encoding-type", "anndata");
  for (const Layout& l : layouts()) {
    root->create_array(l.name, ArrayMeta{l.shape, l.dtype, l.chunks}, l.compression);
    root->set_attribute("shape", Json(l.shape), l.name);
    const Chunk reference = pattern_chunk(l.dtype, as_2d(l.shape), 9);
    root->write_blocks(l.name, my_blocks(l, reference, owners));
  }
  close_h5(*root);
}

TEST(Hdf5Parallel, RowBlocksOnEveryRankEqualASerialWrite) {
  SharedDir dir;
  bool ok = true;
  write_collectively(dir.file("all.h5"), comm().size());
  check_against_serial(dir.file("all.h5"), dir.file("serial.h5"), layouts(), ok);
  EXPECT_TRUE(all_ranks(ok));
}

TEST(Hdf5Parallel, RanksWithoutBlocksStillTakePart) {
  // Only the first max(1, size - 1) ranks own blocks: the last rank selects nothing. And a run
  // where rank 0 owns everything.
  SharedDir dir;
  bool ok = true;
  write_collectively(dir.file("some.h5"), std::max(1, comm().size() - 1));
  check_against_serial(dir.file("some.h5"), dir.file("serial_some.h5"), layouts(), ok);
  write_collectively(dir.file("one.h5"), 1);
  check_against_serial(dir.file("one.h5"), dir.file("serial_one.h5"), layouts(), ok);
  EXPECT_TRUE(all_ranks(ok));
}

TEST(Hdf5Parallel, EveryRankReadsItsBlocksBack) {
  SharedDir dir;
  write_collectively(dir.file("read.h5"), comm().size());
  bool ok = true;
  {
    auto root = open_h5(dir.file("read.h5"), comm());
    for (const Layout& l : layouts()) {
      const Chunk reference = pattern_chunk(l.dtype, as_2d(l.shape), 9);
      for (const auto& [box, data] : my_blocks(l, reference, comm().size()))
        ok = ok && identical(root->read(l.name, box), data.deep_copy());
    }
    close_h5(*root);
  }
  EXPECT_TRUE(all_ranks(ok));
}

TEST(Hdf5Parallel, AnInvalidBlockOnOneRankFailsEveryRank) {
  SharedDir dir;
  auto root = create_h5(dir.file("bad.h5"), comm());
  root->create_array("x", ArrayMeta{{8, 2}, DType::float64, {4, 2}}, Compression::from_name("lz4"));
  std::vector<std::pair<Box, Chunk>> blocks;
  const int bad_rank = comm().size() - 1;
  if (comm().rank() == bad_rank)
    blocks.emplace_back(Box{{7, 0}, {2, 2}}, pattern_chunk(DType::float64, {2, 2}));
  bool threw = false;
  try {
    root->write_blocks("x", blocks);
  } catch (const IndexError& e) {
    threw =
        comm().rank() == bad_rank && std::string(e.what()).find("bad.h5:/x") != std::string::npos;
  } catch (const IoError& e) {
    threw = comm().rank() != bad_rank &&
            std::string(e.what()).find("another rank") != std::string::npos;
  }
  EXPECT_TRUE(threw);
  // Everyone is still in step: a valid collective write works afterwards.
  blocks.clear();
  if (comm().rank() == 0)
    blocks.emplace_back(Box{{0, 0}, {8, 2}}, pattern_chunk(DType::float64, {8, 2}));
  root->write_blocks("x", blocks);
  close_h5(*root);
  bool ok = true;
  if (comm().rank() == 0)
    ok = identical(open_h5(dir.file("bad.h5"))->read_all("x"),
                   pattern_chunk(DType::float64, {8, 2}));
  EXPECT_TRUE(all_ranks(threw && ok));
}

TEST(Hdf5Parallel, StructureFromOneRankThenBlocksFromAll) {
  // The design card's workflow: rank 0 writes the structure, strings and small elements into a
  // serial file; then every rank opens it with MPI-IO and writes its blocks.
  SharedDir dir;
  const std::string file = dir.file("two_phase.h5");
  const Layout big{"X", {37, 6}, DType::float32, {8, 6}, Compression::from_name("lz4")};
  if (comm().rank() == 0) {
    auto root = create_h5(file);
    root->set_attribute("encoding-type", "anndata");
    auto obs = root->create_group("obs");
    obs->write_strings("_index", {"a", "b", "c"}, {3}, Compression{});
    obs->set_attribute("column-order", Json::array());
    root->create_array("X", ArrayMeta{big.shape, big.dtype, big.chunks}, big.compression);
  }
  comm().barrier("structure written");
  {
    auto root = open_h5(file, comm(), true);
    if (!comm().is_serial()) {
      EXPECT_THROW(root->write_strings("late", {"x"}, {1}, Compression{}), IoError);
    }
    root->write_blocks(
        "X", my_blocks(big, pattern_chunk(big.dtype, as_2d(big.shape), 9), comm().size()));
    close_h5(*root);
  }
  bool ok = true;
  if (comm().rank() == 0) {
    auto root = open_h5(file);
    ok = identical(root->read_all("X"), pattern_chunk(big.dtype, as_2d(big.shape), 9)) &&
         root->group("obs")->read_strings("_index") == std::vector<std::string>{"a", "b", "c"} &&
         root->group("obs")->attributes().at("column-order") == Json::array();
  }
  EXPECT_TRUE(all_ranks(ok));
}

}  // namespace
}  // namespace tessera::io
