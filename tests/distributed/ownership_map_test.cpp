// OwnershipMap as a plain value: the default row-block map (contiguous, balanced, whole
// chunk-rows) for 1 to 4 ranks, joins along both axes, validation errors, equality and a
// Boost.Serialization round trip. Expected owners are written out by hand or checked against the
// properties the map promises; nothing here is collective, so every rank runs the same checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/vector.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/core/chunk_grid.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/ownership_map.hpp"

namespace tessera {
namespace {

using V = std::vector<int>;

bool mentions(const std::string& text, const std::string& word) {
  return text.find(word) != std::string::npos;
}

// Runs `f`, expecting DistributedError whose message contains `word`.
template <typename F>
void expect_distributed_error(F&& f, const std::string& word) {
  try {
    f();
    ADD_FAILURE() << "expected DistributedError mentioning \"" << word << "\", nothing was thrown";
  } catch (const DistributedError& e) {
    EXPECT_TRUE(mentions(e.what(), word))
        << "message \"" << e.what() << "\" lacks \"" << word << "\"";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected DistributedError, got: " << e.what();
  }
}

TEST(OwnershipMap, RowBlocksAreContiguousBalancedWholeChunkRows) {
  for (const index_t rows : {1, 2, 3, 5, 7, 10, 13}) {
    for (const index_t chunk_rows : {1, 2, 3, 10}) {
      const ChunkGrid grid =
          ChunkGrid::regular({rows * chunk_rows - (chunk_rows > 1 ? 1 : 0), 61}, chunk_rows, 16);
      const index_t n = grid.num_chunks(0), m = grid.num_chunks(1);
      for (int ranks = 1; ranks <= 4; ++ranks) {
        SCOPED_TRACE("chunk rows " + std::to_string(n) + ", ranks " + std::to_string(ranks));
        const OwnershipMap map = OwnershipMap::row_blocks(grid, ranks);
        EXPECT_EQ(map.ranks(), ranks);
        EXPECT_EQ(map.num_chunks(0), n);
        EXPECT_EQ(map.num_chunks(1), m);
        ASSERT_EQ(static_cast<index_t>(map.owners().size()), n * m);
        std::vector<index_t> chunk_rows_of(static_cast<std::size_t>(ranks), 0);
        for (index_t i = 0; i < n; ++i) {
          const int owner = map.owner(i, 0);
          ASSERT_GE(owner, 0);
          ASSERT_LT(owner, ranks);
          // Whole chunk-rows: every chunk of a row has one owner.
          for (index_t j = 1; j < m; ++j)
            EXPECT_EQ(map.owner(i, j), owner) << "chunk " << i << "," << j;
          // Contiguous: owners never go back down, and never skip a rank that owns something.
          if (i > 0) {
            EXPECT_GE(owner, map.owner(i - 1, 0));
            EXPECT_LE(owner - map.owner(i - 1, 0), n >= ranks ? 1 : ranks);
          }
          EXPECT_EQ(owner, OwnershipMap::row_block_owner(i, n, ranks));
          ++chunk_rows_of[static_cast<std::size_t>(owner)];
        }
        EXPECT_EQ(map.owner(0, 0), 0);
        // Balanced: chunk-row counts differ by at most one (ranks without rows only if n < ranks).
        const auto [lo, hi] = std::minmax_element(chunk_rows_of.begin(), chunk_rows_of.end());
        EXPECT_LE(*hi - *lo, 1);
        if (n >= ranks) {
          EXPECT_GE(*lo, 1);
          EXPECT_EQ(map.owner(n - 1, 0), ranks - 1);
        }
        index_t total = 0;
        for (int r = 0; r < ranks; ++r) {
          EXPECT_EQ(map.count(r), chunk_rows_of[static_cast<std::size_t>(r)] * m);
          total += map.count(r);
        }
        EXPECT_EQ(total, n * m);
      }
    }
  }
}

TEST(OwnershipMap, RowBlocksOfTenChunkRowsByHand) {
  const ChunkGrid grid = ChunkGrid::regular({97, 61}, 10, 16);  // 10 x 4 chunks
  const std::vector<V> expected = {
      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {0, 0, 0, 0, 0, 1, 1, 1, 1, 1},
      {0, 0, 0, 0, 1, 1, 1, 2, 2, 2},
      {0, 0, 0, 1, 1, 2, 2, 2, 3, 3},
  };
  for (int ranks = 1; ranks <= 4; ++ranks) {
    const OwnershipMap map = OwnershipMap::row_blocks(grid, ranks);
    for (index_t i = 0; i < 10; ++i) {
      for (index_t j = 0; j < 4; ++j) {
        EXPECT_EQ(map.owner(i, j),
                  expected[static_cast<std::size_t>(ranks - 1)][static_cast<std::size_t>(i)])
            << "ranks " << ranks << " chunk " << i << "," << j;
      }
    }
  }
}

TEST(OwnershipMap, RowBlocksOfAnEmptyAxis) {
  const ChunkGrid grid = ChunkGrid::regular({0, 5}, 10, 5);
  const OwnershipMap map = OwnershipMap::row_blocks(grid, 3);
  EXPECT_EQ(map.num_chunks(0) * map.num_chunks(1), static_cast<index_t>(map.owners().size()));
  for (int owner : map.owners()) {
    EXPECT_GE(owner, 0);
    EXPECT_LT(owner, 3);
  }
}

TEST(OwnershipMap, JoinAlongRows) {
  const OwnershipMap a(2, 3, {0, 1, 2, 3, 0, 1}, 4);
  const OwnershipMap b(1, 3, {3, 3, 2}, 4);
  const OwnershipMap j = OwnershipMap::join({a, b, a}, 0);
  EXPECT_EQ(j.num_chunks(0), 5);
  EXPECT_EQ(j.num_chunks(1), 3);
  EXPECT_EQ(j.ranks(), 4);
  EXPECT_EQ(j.owners(), (V{0, 1, 2, 3, 0, 1, 3, 3, 2, 0, 1, 2, 3, 0, 1}));
  EXPECT_EQ(j, OwnershipMap(5, 3, {0, 1, 2, 3, 0, 1, 3, 3, 2, 0, 1, 2, 3, 0, 1}, 4));
}

TEST(OwnershipMap, JoinAlongColumns) {
  const OwnershipMap a(2, 2, {0, 1, 2, 3}, 4);
  const OwnershipMap b(2, 1, {3, 0}, 4);
  const OwnershipMap j = OwnershipMap::join({a, b}, 1);
  EXPECT_EQ(j.num_chunks(0), 2);
  EXPECT_EQ(j.num_chunks(1), 3);
  EXPECT_EQ(j.owners(), (V{0, 1, 3, 2, 3, 0}));
  for (index_t i = 0; i < 2; ++i) {
    for (index_t c = 0; c < 2; ++c)
      EXPECT_EQ(j.owner(i, c), a.owner(i, c));
    EXPECT_EQ(j.owner(i, 2), b.owner(i, 0));
  }
}

TEST(OwnershipMap, JoinOfOneMapIsThatMap) {
  const OwnershipMap a = OwnershipMap::row_blocks(ChunkGrid::regular({97, 61}, 10, 16), 3);
  EXPECT_EQ(OwnershipMap::join({a}, 0), a);
  EXPECT_EQ(OwnershipMap::join({a}, 1), a);
}

TEST(OwnershipMap, JoinOfRowBlocksIsNotRowBlocks) {
  // Concatenation keeps every chunk where it is: the joined map is the inputs' maps stacked, not
  // the default map of the joined grid.
  const ChunkGrid g = ChunkGrid::regular({40, 10}, 10, 10);
  const OwnershipMap a = OwnershipMap::row_blocks(g, 2);
  const OwnershipMap j = OwnershipMap::join({a, a}, 0);
  EXPECT_EQ(j.owners(), (V{0, 0, 1, 1, 0, 0, 1, 1}));
  EXPECT_NE(j, OwnershipMap::row_blocks(ChunkGrid::regular({80, 10}, 10, 10), 2));
}

TEST(OwnershipMap, JoinRejectsMismatchedMaps) {
  const OwnershipMap a(2, 3, {0, 0, 0, 1, 1, 1}, 2);
  expect_distributed_error([] { (void)OwnershipMap::join({}, 0); }, "no maps");
  expect_distributed_error(
      [&] {
        (void)OwnershipMap::join({a, OwnershipMap(2, 3, {0, 0, 0, 1, 1, 1}, 3)}, 0);
      },
      "rank counts");
  expect_distributed_error(
      [&] {
        (void)OwnershipMap::join({a, OwnershipMap(1, 2, {0, 1}, 2)}, 0);
      },
      "columns");
  expect_distributed_error(
      [&] {
        (void)OwnershipMap::join({a, OwnershipMap(1, 2, {0, 1}, 2)}, 1);
      },
      "rows");
}

TEST(OwnershipMap, ConstructorValidates) {
  EXPECT_NO_THROW(OwnershipMap(2, 2, {0, 1, 1, 0}, 2));
  EXPECT_NO_THROW(OwnershipMap(0, 0, {}, 1));
  expect_distributed_error([] { OwnershipMap(1, 1, {0}, 0); }, "rank count");
  expect_distributed_error([] { OwnershipMap(1, 1, {0}, -3); }, "rank count");
  expect_distributed_error([] { OwnershipMap(2, 2, {0, 1, 1}, 2); }, "3 owners");
  expect_distributed_error([] { OwnershipMap(2, 2, {0, 1, 1, 0, 0}, 2); }, "2 x 2");
  expect_distributed_error([] { OwnershipMap(2, 2, {0, 1, 2, 0}, 2); }, "chunk 2");
  expect_distributed_error([] { OwnershipMap(2, 2, {0, -1, 1, 0}, 2); }, "owner -1");
  expect_distributed_error([] { OwnershipMap(1, 3, {0, 0, 4}, 4); }, "[0, 4)");
}

TEST(OwnershipMap, CountsChunksPerRank) {
  const OwnershipMap map(2, 3, {0, 2, 2, 1, 2, 0}, 4);
  EXPECT_EQ(map.count(0), 2);
  EXPECT_EQ(map.count(1), 1);
  EXPECT_EQ(map.count(2), 3);
  EXPECT_EQ(map.count(3), 0);
}

TEST(OwnershipMap, EqualityComparesEverything) {
  const OwnershipMap a(2, 2, {0, 1, 1, 0}, 2);
  EXPECT_EQ(a, OwnershipMap(2, 2, {0, 1, 1, 0}, 2));
  EXPECT_NE(a, OwnershipMap(2, 2, {0, 1, 1, 1}, 2));
  EXPECT_NE(a, OwnershipMap(2, 2, {0, 1, 1, 0}, 3));
  EXPECT_NE(a, OwnershipMap(1, 4, {0, 1, 1, 0}, 2));
}

TEST(OwnershipMap, SerializationRoundTrip) {
  const OwnershipMap a(3, 2, {0, 1, 3, 2, 2, 1}, 4);
  std::stringstream buffer;
  {
    boost::archive::binary_oarchive out(buffer);
    out << a;
  }
  OwnershipMap b;
  {
    boost::archive::binary_iarchive in(buffer);
    in >> b;
  }
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace tessera
