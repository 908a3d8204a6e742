// ChunkGrid and ChunkSpec: regular and irregular grids, dask's "auto", offsets and lookups, and the
// errors for unusable sizes.
#include "tessera/core/chunk_grid.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.hpp"

namespace tessera {
namespace {

using V = std::vector<index_t>;

// Grids compared by their sizes, so that the tests below do not depend on operator== (which has
// its own test).
::testing::AssertionResult same_grid(const ChunkGrid& a, const ChunkGrid& b) {
  if (a.sizes(0) == b.sizes(0) && a.sizes(1) == b.sizes(1)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a.to_string() << " != " << b.to_string();
}

TEST(ChunkGrid, RegularWithSmallerLastChunk) {
  const ChunkGrid g = ChunkGrid::regular(Shape{37, 23}, 5, 4);
  EXPECT_EQ(g.shape(), (Shape{37, 23}));
  EXPECT_EQ(g.sizes(0), (V{5, 5, 5, 5, 5, 5, 5, 2}));
  EXPECT_EQ(g.sizes(1), (V{4, 4, 4, 4, 4, 3}));
  EXPECT_EQ(g.offsets(0), (V{0, 5, 10, 15, 20, 25, 30, 35, 37}));
  EXPECT_EQ(g.offsets(1), (V{0, 4, 8, 12, 16, 20, 23}));
  EXPECT_EQ(g.num_chunks(0), 8);
  EXPECT_EQ(g.num_chunks(1), 6);
  EXPECT_EQ(g.num_chunks(), 48);
  EXPECT_EQ(g.chunk_size(0, 7), 2);
  EXPECT_EQ(g.chunk_offset(1, 5), 20);
  EXPECT_EQ(g.chunk_shape(7, 5), (Shape{2, 3}));
  EXPECT_EQ(g.max_chunk_shape(), (Shape{5, 4}));
  EXPECT_TRUE(g.is_regular());
  EXPECT_EQ(g.to_string(), "((5, 5, 5, 5, 5, 5, 5, 2), (4, 4, 4, 4, 4, 3))");
}

TEST(ChunkGrid, IrregularExplicitSizes) {
  const ChunkGrid g({3, 1, 5}, {2, 7});
  EXPECT_EQ(g.shape(), (Shape{9, 9}));
  EXPECT_EQ(g.offsets(0), (V{0, 3, 4, 9}));
  EXPECT_EQ(g.offsets(1), (V{0, 2, 9}));
  EXPECT_EQ(g.num_chunks(), 6);
  EXPECT_EQ(g.max_chunk_shape(), (Shape{5, 7}));
  EXPECT_FALSE(g.is_regular());
  EXPECT_EQ(g.to_string(), "((3, 1, 5), (2, 7))");
}

TEST(ChunkGrid, ChunkOfEveryPositionMatchesALinearScan) {
  const ChunkGrid grids[] = {ChunkGrid::regular(Shape{37, 23}, 5, 4), ChunkGrid({3, 1, 5}, {2, 7}),
                             ChunkGrid({1, 1, 1}, {9}), ChunkGrid({1}, {1})};
  for (const ChunkGrid& g : grids) {
    for (int axis = 0; axis < 2; ++axis) {
      index_t chunk = 0;
      index_t end = g.sizes(axis)[0];
      for (index_t pos = 0; pos < g.shape()[axis]; ++pos) {
        while (pos >= end)
          end += g.sizes(axis)[static_cast<std::size_t>(++chunk)];
        EXPECT_EQ(g.chunk_of(axis, pos), chunk)
            << g.to_string() << " axis " << axis << " pos " << pos;
      }
    }
  }
}

TEST(ChunkGrid, OneByOneAndOneRowChunks) {
  const ChunkGrid one = ChunkGrid::regular(Shape{1, 1}, 5, 4);
  EXPECT_EQ(one.sizes(0), (V{1}));
  EXPECT_EQ(one.sizes(1), (V{1}));
  EXPECT_EQ(one.num_chunks(), 1);

  const ChunkGrid rows = ChunkGrid::regular(Shape{4, 6}, 1, 6);
  EXPECT_EQ(rows.sizes(0), (V{1, 1, 1, 1}));
  EXPECT_EQ(rows.sizes(1), (V{6}));
  EXPECT_TRUE(rows.is_regular());
}

TEST(ChunkGrid, ZeroLengthAxisHasTheSingleSizeZero) {
  const ChunkGrid g = ChunkGrid::regular(Shape{0, 5}, 3, 2);
  EXPECT_EQ(g.shape(), (Shape{0, 5}));
  EXPECT_EQ(g.sizes(0), (V{0}));
  EXPECT_EQ(g.sizes(1), (V{2, 2, 1}));
  const ChunkGrid e({0}, {2, 3});
  EXPECT_EQ(e.shape(), (Shape{0, 5}));
  EXPECT_EQ(e.num_chunks(0), 1);
}

TEST(ChunkGrid, EqualityComparesSizesNotIdentity) {
  const ChunkGrid a = ChunkGrid::regular(Shape{9, 9}, 3, 9);
  const ChunkGrid b({3, 3, 3}, {9});
  const ChunkGrid a_copy = a;
  EXPECT_TRUE(a == a);
  EXPECT_TRUE(a == a_copy);
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(ChunkGrid({3, 1, 5}, {2, 7}) == ChunkGrid({3, 1, 5}, {2, 7}));
  EXPECT_FALSE(ChunkGrid({3, 1, 5}, {2, 7}) == ChunkGrid({3, 6}, {2, 7}));
  EXPECT_FALSE(ChunkGrid({3, 1, 5}, {2, 7}) == ChunkGrid({3, 1, 5}, {9}));
}

TEST(ChunkGrid, ZeroOrNegativeSizeThrowsValueError) {
  TESSERA_EXPECT_THROW_MENTIONING(ChunkGrid({3, 0, 5}, {9}), ValueError, "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING(ChunkGrid({3, -1, 7}, {9}), ValueError, "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)ChunkGrid::regular(Shape{10, 10}, 0, 4), ValueError,
                                  "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)ChunkGrid::regular(Shape{10, 10}, 4, -3), ValueError,
                                  "chunk", "size");
}

TEST(ChunkSpec, RegularAndWholeAxis) {
  EXPECT_TRUE(same_grid(ChunkSpec(5, 4).resolve(Shape{37, 23}, DType::float64),
                        ChunkGrid::regular(Shape{37, 23}, 5, 4)));
  const ChunkGrid whole = ChunkSpec(-1, 4).resolve(Shape{37, 23}, DType::float64);
  EXPECT_EQ(whole.sizes(0), (V{37}));
  EXPECT_EQ(whole.sizes(1), (V{4, 4, 4, 4, 4, 3}));
  // A chunk size larger than the axis is clipped to it, as dask does.
  const ChunkGrid big = ChunkSpec(100, 100).resolve(Shape{37, 23}, DType::float64);
  EXPECT_EQ(big.sizes(0), (V{37}));
  EXPECT_EQ(big.sizes(1), (V{23}));
}

TEST(ChunkSpec, ExplicitSizesAndGridRoundTrip) {
  const ChunkSpec spec(V{3, 1, 5}, V{2, 7});
  const ChunkGrid g = spec.resolve(Shape{9, 9}, DType::int32);
  EXPECT_TRUE(same_grid(g, ChunkGrid({3, 1, 5}, {2, 7})));
  const ChunkSpec from_grid(g);
  EXPECT_TRUE(same_grid(from_grid.resolve(Shape{9, 9}, DType::float64), g));
  // Mixed: regular rows, explicit columns.
  const ChunkSpec mixed(ChunkSpec::Axis{index_t{4}}, ChunkSpec::Axis{V{2, 7}});
  EXPECT_TRUE(same_grid(mixed.resolve(Shape{9, 9}, DType::float64), ChunkGrid({4, 4, 1}, {2, 7})));
}

TEST(ChunkSpec, BadSizesThrow) {
  TESSERA_EXPECT_THROW_MENTIONING((void)ChunkSpec(0, 4).resolve(Shape{10, 10}, DType::float64),
                                  ValueError, "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)ChunkSpec(4, -2).resolve(Shape{10, 10}, DType::float64),
                                  ValueError, "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)ChunkSpec(V{3, 0, 7}, V{10}).resolve(Shape{10, 10}, DType::float64), ValueError,
      "chunk", "size");
  // Explicit sizes that do not add up to the axis length.
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)ChunkSpec(V{3, 1}, V{9}).resolve(Shape{9, 9}, DType::float64), ShapeError, "chunk",
      "size", "sum", "9");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)ChunkSpec(V{9}, V{5, 5}).resolve(Shape{9, 9}, DType::float64), ShapeError, "chunk",
      "size", "sum", "9");
}

TEST(ChunkSpec, AutoMatchesDaskFor8192Squared) {
  // dask: da.ones((8192, 8192)).chunks == ((4096, 4096), (4096, 4096)) at 128 MiB.
  const ChunkGrid g = ChunkSpec::automatic().resolve(Shape{8192, 8192}, DType::float64);
  EXPECT_EQ(g.sizes(0), (V{4096, 4096}));
  EXPECT_EQ(g.sizes(1), (V{4096, 4096}));
  const ChunkGrid def = ChunkSpec().resolve(Shape{8192, 8192}, DType::float64);
  EXPECT_TRUE(same_grid(def, g));
}

TEST(ChunkSpec, AutoKeepsSmallArraysWholeAndRespectsTheTarget) {
  const ChunkGrid small = ChunkSpec::automatic().resolve(Shape{37, 23}, DType::float64);
  EXPECT_EQ(small.num_chunks(), 1);
  EXPECT_EQ(small.shape(), (Shape{37, 23}));

  const index_t target = index_t{1} << 20;  // 1 MiB
  const ChunkGrid g = ChunkSpec::automatic(target).resolve(Shape{5000, 3000}, DType::float64);
  EXPECT_EQ(g.shape(), (Shape{5000, 3000}));
  const Shape c = g.max_chunk_shape();
  const index_t bytes = c.rows * c.cols * 8;
  // "Near" the target: within a factor the rounding to even splits can explain.
  EXPECT_LE(bytes, target + target / 4) << g.to_string();
  EXPECT_GE(bytes, target / 4) << g.to_string();
  EXPECT_GT(g.num_chunks(), 1);
}

}  // namespace
}  // namespace tessera
