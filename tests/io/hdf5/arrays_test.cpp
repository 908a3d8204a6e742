// HDF5 Groups, serial: structure (groups, children order, names), numeric arrays of every dtype at
// 0, 1 and 2 dimensions written whole and by boxes, strings, and reads from many threads at once.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "h5_test_util.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/hdf5_file.hpp"

namespace tessera::io {
namespace {

using test::pattern_chunk;
using test::ScratchDir;
using V = std::vector<index_t>;

constexpr DType kAllDTypes[] = {DType::boolean, DType::int8,    DType::int16,  DType::int32,
                                DType::int64,   DType::uint8,   DType::uint16, DType::uint32,
                                DType::uint64,  DType::float32, DType::float64};

Box whole(const V& shape) {
  return Box{V(shape.size(), 0), shape};
}

Shape as_2d(const V& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {1, shape[0]};
  return {shape[0], shape[1]};
}

TEST(Hdf5Arrays, EveryDTypeRoundTripsAtZeroOneAndTwoDimensions) {
  ScratchDir dir("dtypes");
  const std::string file = dir.file("a.h5");
  const std::vector<V> shapes = {{}, {0}, {1}, {13}, {0, 3}, {4, 0}, {1, 1}, {5, 7}};
  {
    auto root = create_h5(file);
    for (DType dtype : kAllDTypes) {
      for (std::size_t s = 0; s < shapes.size(); ++s) {
        const std::string name = std::string(tessera::name(dtype)) + "_" + std::to_string(s);
        root->create_array(name, ArrayMeta{shapes[s], dtype, {}}, Compression{});
        root->write(name, whole(shapes[s]), pattern_chunk(dtype, as_2d(shapes[s]), 3));
      }
    }
  }
  auto root = open_h5(file);
  for (DType dtype : kAllDTypes) {
    for (std::size_t s = 0; s < shapes.size(); ++s) {
      const std::string name = std::string(tessera::name(dtype)) + "_" + std::to_string(s);
      SCOPED_TRACE(name);
      ASSERT_TRUE(root->has_array(name));
      const ArrayMeta meta = root->array_meta(name);
      EXPECT_EQ(meta.shape, shapes[s]);
      ASSERT_TRUE(meta.dtype.has_value());
      EXPECT_EQ(*meta.dtype, dtype);
      EXPECT_TRUE(meta.chunks.empty());
      const Chunk got = root->read_all(name);
      EXPECT_TRUE(identical(got, pattern_chunk(dtype, as_2d(shapes[s]), 3)));
    }
  }
}

TEST(Hdf5Arrays, BoxesWriteAndReadPiecesOfTwoDimensionalArrays) {
  ScratchDir dir("boxes");
  const std::string file = dir.file("b.h5");
  const Chunk reference = pattern_chunk(DType::int32, {9, 7}, 11);
  {
    auto root = create_h5(file);
    root->create_array("x", ArrayMeta{{9, 7}, DType::int32, {4, 3}}, Compression{});
    // Irregular boxes covering the array, from views of the reference (so with ld != cols).
    const std::vector<std::pair<V, V>> boxes = {
        {{0, 0}, {2, 7}}, {{2, 0}, {5, 3}}, {{2, 3}, {5, 4}}, {{7, 0}, {2, 7}}};
    for (const auto& [start, count] : boxes) {
      const Chunk view =
          reference.block(start[0], start[0] + count[0], start[1], start[1] + count[1]);
      root->write("x", Box{start, count}, view);
    }
    // The same for a 1-D array, in two halves.
    root->create_array("y", ArrayMeta{{10}, DType::float32, {}}, Compression{});
    const Chunk y = pattern_chunk(DType::float32, {1, 10});
    root->write("y", Box{{0}, {4}}, y.block(0, 1, 0, 4));
    root->write("y", Box{{4}, {6}}, y.block(0, 1, 4, 10));
  }
  auto root = open_h5(file);
  EXPECT_TRUE(identical(root->read_all("x"), reference));
  EXPECT_EQ(root->array_meta("x").chunks, (V{4, 3}));
  for (index_t r0 = 0; r0 < 9; r0 += 2) {
    for (index_t c0 = 0; c0 < 7; c0 += 3) {
      const index_t rows = std::min<index_t>(4, 9 - r0);
      const index_t cols = std::min<index_t>(3, 7 - c0);
      const Chunk got = root->read("x", Box{{r0, c0}, {rows, cols}});
      EXPECT_TRUE(array_equal(got, reference.block(r0, r0 + rows, c0, c0 + cols)));
      EXPECT_EQ(got.shape(), (Shape{rows, cols}));
    }
  }
  const Chunk y = pattern_chunk(DType::float32, {1, 10});
  EXPECT_TRUE(identical(root->read_all("y"), y));
  EXPECT_TRUE(array_equal(root->read("y", Box{{3}, {5}}), y.block(0, 1, 3, 8)));
  EXPECT_EQ(root->read("y", Box{{10}, {0}}).shape(), (Shape{1, 0}));
}

TEST(Hdf5Arrays, WritesConvertChunksToTheArrayDType) {
  ScratchDir dir("convert");
  auto root = create_h5(dir.file("c.h5"));
  root->create_array("f", ArrayMeta{{2, 2}, DType::float32, {}}, Compression{});
  root->write("f", Box{{0, 0}, {2, 2}}, Chunk::from_values<std::int64_t>({2, 2}, {1, -2, 3, 4}));
  EXPECT_TRUE(identical(root->read_all("f"), Chunk::from_values<float>({2, 2}, {1, -2, 3, 4})));
  root->create_array("b", ArrayMeta{{3}, DType::boolean, {}}, Compression{});
  root->write("b", Box{{0}, {3}}, Chunk::from_values<double>({1, 3}, {0.0, 2.5, -1.0}));
  EXPECT_TRUE(identical(root->read_all("b"),
                        Chunk::from_values({1, 3}, std::vector<bool>{false, true, true})));
  root->create_array("i", ArrayMeta{{3}, DType::int16, {}}, Compression{});
  root->write("i", Box{{0}, {3}}, Chunk::from_values({1, 3}, std::vector<bool>{true, false, true}));
  EXPECT_TRUE(identical(root->read_all("i"), Chunk::from_values<std::int16_t>({1, 3}, {1, 0, 1})));
}

TEST(Hdf5Arrays, WriteBlocksOnASerialFileWritesTheUnionOfBoxes) {
  ScratchDir dir("blocks");
  auto root = create_h5(dir.file("w.h5"));
  const Chunk reference = pattern_chunk(DType::uint16, {11, 4}, 5);
  root->create_array("x", ArrayMeta{{11, 4}, DType::uint16, {3, 4}}, Compression::from_name("lz4"));
  // Out of order, side by side, and an empty one.
  std::vector<std::pair<Box, Chunk>> blocks;
  blocks.emplace_back(Box{{6, 0}, {5, 2}}, reference.block(6, 11, 0, 2));
  blocks.emplace_back(Box{{0, 0}, {6, 4}}, reference.block(0, 6, 0, 4));
  blocks.emplace_back(Box{{6, 2}, {5, 2}}, reference.block(6, 11, 2, 4).astype(DType::float64));
  blocks.emplace_back(Box{{3, 1}, {0, 2}}, Chunk::dense(DType::uint16, {0, 2}));
  root->write_blocks("x", blocks);
  EXPECT_TRUE(identical(root->read_all("x"), reference));

  std::vector<std::pair<Box, Chunk>> overlapping;
  overlapping.emplace_back(Box{{0, 0}, {2, 2}}, reference.block(0, 2, 0, 2));
  overlapping.emplace_back(Box{{1, 1}, {2, 2}}, reference.block(1, 3, 1, 3));
  EXPECT_THROW(root->write_blocks("x", overlapping), IndexError);
  EXPECT_TRUE(identical(root->read_all("x"), reference));  // nothing written

  // A single block, a view whose rows lie further apart than its width, and no blocks at all.
  const Chunk wide = pattern_chunk(DType::uint16, {4, 9}, 8);
  std::vector<std::pair<Box, Chunk>> one;
  one.emplace_back(Box{{2, 1}, {4, 3}}, wide.block(0, 4, 2, 5));
  root->write_blocks("x", one);
  root->write_blocks("x", {});
  const Chunk got = root->read_all("x");
  EXPECT_TRUE(array_equal(got.block(2, 6, 1, 4), wide.block(0, 4, 2, 5)));
  EXPECT_TRUE(array_equal(got.block(0, 2, 0, 4), reference.block(0, 2, 0, 4)));
  EXPECT_TRUE(array_equal(got.block(6, 11, 0, 4), reference.block(6, 11, 0, 4)));
}

TEST(Hdf5Arrays, StringsRoundTripAtEveryRank) {
  ScratchDir dir("strings");
  const std::string file = dir.file("s.h5");
  const std::vector<std::string> words = {"", "a", "héllo wörld", "日本語", "x y", "last"};
  {
    auto root = create_h5(file);
    root->write_strings("scalar", {"just one"}, {}, Compression{});
    root->write_strings("list", words, {6}, Compression{});
    root->write_strings("table", words, {2, 3}, Compression{});
    root->write_strings("empty", {}, {0}, Compression{});
    root->write_strings("zipped", words, {6}, Compression::from_name("zlib"));
    root->write_strings("blosc", words, {3, 2}, Compression::from_name("zstd"));
  }
  auto root = open_h5(file);
  EXPECT_EQ(root->read_strings("scalar"), std::vector<std::string>{"just one"});
  EXPECT_EQ(root->read_strings("list"), words);
  EXPECT_EQ(root->read_strings("table"), words);
  EXPECT_TRUE(root->read_strings("empty").empty());
  EXPECT_EQ(root->read_strings("zipped"), words);
  EXPECT_EQ(root->read_strings("blosc"), words);
  const ArrayMeta meta = root->array_meta("table");
  EXPECT_TRUE(meta.is_string());
  EXPECT_EQ(meta.shape, (V{2, 3}));
  EXPECT_EQ(root->array_meta("scalar").shape, V{});
  EXPECT_THROW((void)root->read_all("list"), FormatError);
}

TEST(Hdf5Arrays, StringArgumentsAreChecked) {
  ScratchDir dir("strings_bad");
  auto root = create_h5(dir.file("s.h5"));
  EXPECT_THROW(root->write_strings("a", {"x", "y"}, {3}, Compression{}), ShapeError);
  EXPECT_THROW(root->write_strings("b", {std::string("a\0b", 3)}, {1}, Compression{}), ValueError);
  EXPECT_THROW(root->create_array("c", ArrayMeta{{2}, std::nullopt, {}}, Compression{}),
               ValueError);
  root->create_array("n", ArrayMeta{{2}, DType::int8, {}}, Compression{});
  EXPECT_THROW((void)root->read_strings("n"), FormatError);
}

TEST(Hdf5Groups, StructureAndNames) {
  ScratchDir dir("groups");
  const std::string file = dir.file("g.h5");
  {
    auto root = create_h5(file);
    EXPECT_EQ(root->path(), file + ":/");
    auto obs = root->create_group("obs");
    EXPECT_EQ(obs->path(), file + ":/obs");
    obs->create_array("zeta", ArrayMeta{{2}, DType::int8, {}}, Compression{});
    obs->create_group("alpha");
    obs->write_strings("mid", {"a", "b"}, {2}, Compression{});
    auto deep = root->create_group("layers/counts/more");  // intermediate groups made
    EXPECT_EQ(deep->path(), file + ":/layers/counts/more");
    root->create_group("X");
    EXPECT_THROW(root->create_group("obs"), IoError);
    EXPECT_THROW(obs->create_array("zeta", ArrayMeta{{1}, DType::int8, {}}, Compression{}),
                 IoError);
    EXPECT_THROW(root->create_group(""), ValueError);
    EXPECT_THROW(root->create_group("/abs"), ValueError);
    EXPECT_THROW(root->create_group("a//b"), ValueError);
    EXPECT_THROW(root->create_group("a/./b"), ValueError);
  }
  auto root = open_h5(file);
  // h5py lists untracked groups in name order (byte order: upper case first).
  EXPECT_EQ(root->children(), (std::vector<std::string>{"X", "layers", "obs"}));
  auto obs = root->group("obs");
  EXPECT_EQ(obs->children(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
  EXPECT_TRUE(obs->has_group("alpha"));
  EXPECT_FALSE(obs->has_array("alpha"));
  EXPECT_TRUE(obs->has_array("zeta"));
  EXPECT_TRUE(obs->has_array("mid"));
  EXPECT_FALSE(obs->has_group("zeta"));
  EXPECT_FALSE(obs->has_group("nope"));
  EXPECT_FALSE(root->has_group("nope/deeper"));
  EXPECT_FALSE(root->has_array("obs/zeta/under"));
  EXPECT_TRUE(root->has_group("layers/counts"));
  EXPECT_TRUE(root->has_array("obs/zeta"));
  EXPECT_TRUE(root->group("layers")->group("counts")->has_group("more"));
  try {
    (void)root->group("missing");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(file + ":/missing"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)obs->group("zeta"), FormatError);
  EXPECT_THROW((void)obs->array_meta("alpha"), FormatError);
  EXPECT_THROW((void)obs->read_all("nothing"), FormatError);
  EXPECT_TRUE(obs->group("alpha")->children().empty());
}

TEST(Hdf5Groups, ReadOnlyFilesRefuseWrites) {
  ScratchDir dir("readonly");
  const std::string file = dir.file("r.h5");
  create_h5(file)->create_array("x", ArrayMeta{{2}, DType::int8, {}}, Compression{});
  auto root = open_h5(file);
  EXPECT_THROW(root->create_group("g"), IoError);
  EXPECT_THROW(root->set_attribute("k", 1), IoError);
  EXPECT_THROW(root->write("x", Box{{0}, {2}}, pattern_chunk(DType::int8, {1, 2})), IoError);
  root->flush();  // nothing to flush, no error
  // HDF5 opens a file once per process: not for writing while it is open for reading.
  EXPECT_THROW((void)open_h5(file, true), IoError);
  root.reset();
  auto rw = open_h5(file, true);
  rw->write("x", Box{{0}, {2}}, pattern_chunk(DType::int8, {1, 2}));
  rw->flush();
}

TEST(Hdf5Groups, CloseMakesEveryGroupOfTheFileUnusable) {
  ScratchDir dir("close");
  const std::string file = dir.file("c.h5");
  auto root = create_h5(file);
  auto g = root->create_group("g");
  g->create_array("x", ArrayMeta{{3}, DType::float64, {}}, Compression{});
  close_h5(*root);
  close_h5(*g);  // already closed: nothing to do
  EXPECT_THROW((void)g->children(), IoError);
  EXPECT_THROW((void)root->has_group("g"), IoError);
  EXPECT_FALSE(is_parallel_h5(*root));
  // The file is complete on disk and can be reopened (and replaced) at once.
  EXPECT_TRUE(is_h5_file(file));
  EXPECT_EQ(open_h5(file)->array_meta("g/x").shape, V{3});
  auto again = create_h5(file);
  EXPECT_TRUE(again->children().empty());
}

TEST(Hdf5Groups, ManyThreadsReadAtOnce) {
  ScratchDir dir("threads");
  const std::string file = dir.file("t.h5");
  const Chunk reference = pattern_chunk(DType::float64, {64, 16}, 1);
  {
    auto root = create_h5(file);
    root->create_array("x", ArrayMeta{{64, 16}, DType::float64, {8, 16}},
                       Compression::from_name("lz4"));
    root->write("x", Box{{0, 0}, {64, 16}}, reference);
    root->set_attribute("shape", Json::array({64, 16}), "x");
  }
  std::shared_ptr<const Group> root = open_h5(file);
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const index_t r0 = (t * 5 + i * 3) % 56;
        const Chunk got = root->read("x", Box{{r0, 0}, {8, 16}});
        if (!array_equal(got, reference.block(r0, r0 + 8, 0, 16))) ++failures[t];
        if (root->attributes("x").at("shape") != Json::array({64, 16})) ++failures[t];
        if (root->children().size() != 1) ++failures[t];
      }
    });
  }
  for (auto& th : threads)
    th.join();
  for (int t = 0; t < 8; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace tessera::io
