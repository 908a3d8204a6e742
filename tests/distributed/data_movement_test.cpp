// Bytes moved between ranks, from Context::last_stats() (bytes_moved: the actual total over all
// ranks; bytes_moved_estimate: the plan's), for the movements the design promises: concatenating
// persisted arrays moves nothing and joins their ownership maps; a persisted row sum moves
// nothing and gathering it to a root moves one small vector per chunk-row; a slice across a chunk
// boundary moves only the selected rows, never the whole chunks. Bounds allow each chunk message
// a header of at most kHeader bytes. Values are checked against the one-process result too.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/core/array.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/distributed/ownership_map.hpp"

namespace tessera {
namespace {

using testing::all_ranks;
using S = Selector;

constexpr Shape kShape{97, 61};
const ChunkSpec kChunks(10, 16);
constexpr std::int64_t kHeader = 64;  // per chunk message

Array make_source(bool sparse, Shape shape, std::uint64_t seed) {
  return sparse ? random_sparse(shape, kChunks, 0.2, seed) : random(shape, kChunks, seed);
}

std::string layout_name(bool sparse) {
  return sparse ? "csr" : "dense";
}

// Every rank agrees on the whole run's counts: the estimate is the plan's, bytes_moved the
// all-ranks total; messages are summed here.
struct Moved {
  std::int64_t bytes = 0;
  std::int64_t estimate = 0;
  std::int64_t messages = 0;
};

Moved last_moved(Context& ctx) {
  const ExecutionStats& s = ctx.last_stats();
  return {s.bytes_moved, s.bytes_moved_estimate,
          ctx.comm().all_reduce_sum(s.messages_sent, "test: messages")};
}

TEST(DataMovement, PersistingSourcesMovesNothing) {
  auto& ctx = testing::context();
  for (const bool sparse : {false, true}) {
    (void)ctx.persist(make_source(sparse, kShape, 1));
    const Moved m = last_moved(ctx);
    EXPECT_TRUE(all_ranks(m.bytes == 0 && m.estimate == 0 && m.messages == 0))
        << layout_name(sparse);
  }
}

TEST(DataMovement, ConcatenatingPersistedArraysMovesNothingAndJoinsTheirMaps) {
  auto& ctx = testing::context();
  for (const bool sparse : {false, true}) {
    for (const int axis : {0, 1}) {
      const Shape other = axis == 0 ? Shape{50, 61} : Shape{97, 30};
      const Array a = make_source(sparse, kShape, 1);
      const Array b = make_source(sparse, other, 2);
      const Array pa = ctx.persist(a);
      const Array pb = ctx.persist(b);
      const Array c = ctx.persist(concatenate({pa, pb}, axis));
      const Moved m = last_moved(ctx);
      const OwnershipMap* ma = Context::ownership(pa);
      const OwnershipMap* mb = Context::ownership(pb);
      const OwnershipMap* mc = Context::ownership(c);
      const bool maps_ok = ma != nullptr && mb != nullptr && mc != nullptr &&
                           *mc == OwnershipMap::join({*ma, *mb}, axis);
      // Three inputs, one of them twice, still move nothing.
      (void)ctx.persist(concatenate({pb, pa, pb}, axis));
      const Moved m3 = last_moved(ctx);
      const bool values_ok = identical(ctx.compute(c), concatenate({a, b}, axis).compute());
      const std::string what = layout_name(sparse) + ", axis " + std::to_string(axis);
      EXPECT_TRUE(all_ranks(m.bytes == 0 && m.estimate == 0 && m.messages == 0))
          << what << ": moved " << m.bytes << " bytes (estimate " << m.estimate << ")";
      EXPECT_TRUE(all_ranks(m3.bytes == 0 && m3.estimate == 0))
          << what << ": three inputs moved " << m3.bytes;
      EXPECT_TRUE(all_ranks(maps_ok))
          << what << ": concatenated map is not the join of the inputs' maps";
      EXPECT_TRUE(all_ranks(values_ok)) << what;
    }
  }
}

TEST(DataMovement, RowSumOfAPersistedArray) {
  auto& ctx = testing::context();
  const index_t chunk_rows = ChunkGrid::regular(kShape, 10, 16).num_chunks(0);
  for (const bool sparse : {false, true}) {
    const Array x = make_source(sparse, kShape, 3);
    const Array px = ctx.persist(x);

    // Persisted: every row's partials are on the rank that owns the row.
    const Array sums = ctx.persist(px.sum(1));
    const Moved persisted = last_moved(ctx);
    const bool persisted_map_ok =
        *Context::ownership(sums) == OwnershipMap::row_blocks(sums.chunks(), ctx.size());

    // Gathered to root 0: one vector of its rows from each chunk-row that is not there already.
    const Chunk at_root = ctx.compute(px.sum(1), 0);
    const Moved gathered = last_moved(ctx);
    const bool values_ok = ctx.rank() != 0 || identical(at_root, x.sum(1).compute());
    const std::int64_t bound = kShape.rows * 8 + kHeader * chunk_rows;

    const std::string what = layout_name(sparse);
    EXPECT_TRUE(all_ranks(persisted.bytes == 0 && persisted.estimate == 0))
        << what << ": persisting a row sum moved " << persisted.bytes << " bytes";
    EXPECT_TRUE(all_ranks(persisted_map_ok)) << what;
    EXPECT_TRUE(all_ranks(gathered.bytes <= bound && gathered.estimate <= kShape.rows * 8))
        << what << ": gathering a row sum moved " << gathered.bytes << " bytes (estimate "
        << gathered.estimate << "), bound " << bound;
    EXPECT_TRUE(all_ranks(gathered.messages <= chunk_rows))
        << what << ": " << gathered.messages << " messages";
    EXPECT_TRUE(all_ranks(ctx.size() == 1 || gathered.bytes > 0))
        << what << ": nothing moved on several ranks";
    EXPECT_TRUE(all_ranks(values_ok)) << what;
  }
}

TEST(DataMovement, ColumnSumOfAPersistedArrayMovesPartialsNotChunks) {
  // Each chunk-row's partial column sums (1 x 61) travel to where they are combined; no chunk
  // of the array itself moves.
  auto& ctx = testing::context();
  const index_t chunk_rows = ChunkGrid::regular(kShape, 10, 16).num_chunks(0);
  for (const bool sparse : {false, true}) {
    const Array x = make_source(sparse, kShape, 4);
    const Array px = ctx.persist(x);
    const Chunk got = ctx.compute(px.sum(0), 0);
    const Moved m = last_moved(ctx);
    const std::int64_t bound = chunk_rows * (kShape.cols * 8 + 4 * kHeader);
    const bool values_ok = ctx.rank() != 0 || identical(got, x.sum(0).compute());
    EXPECT_TRUE(all_ranks(m.bytes <= bound))
        << layout_name(sparse) << ": moved " << m.bytes << ", bound " << bound;
    EXPECT_TRUE(all_ranks(values_ok)) << layout_name(sparse);
  }
}

TEST(DataMovement, SliceAcrossAChunkBoundaryMovesOnlyTheSelectedRows) {
  auto& ctx = testing::context();
  const index_t col_chunks = ChunkGrid::regular(kShape, 10, 16).num_chunks(1);
  // Rows 45..54: the end of chunk-row 4 and the start of chunk-row 5, owned by different ranks
  // at 2 and 4 ranks; a few columns across a column-chunk boundary too.
  struct Slice {
    std::string name;
    S rows, cols;
    index_t n_rows, n_cols, pieces;
  };
  const std::vector<Slice> slices = {
      {"rows 45:55", S::slice(45, 55), S::all(), 10, kShape.cols, 2 * col_chunks},
      {"rows 54:44:-1", S::slice(54, 44, -1), S::all(), 10, kShape.cols, 2 * col_chunks},
      {"rows 45:55, cols 10:20", S::slice(45, 55), S::slice(10, 20), 10, 10, 4},
  };
  for (const bool sparse : {false, true}) {
    const Array x = make_source(sparse, kShape, 5);
    const Array px = ctx.persist(x);
    for (const Slice& s : slices) {
      const Array e = px(s.rows, s.cols);
      const Chunk got = ctx.compute(e, 0);
      const Moved to_root = last_moved(ctx);
      (void)ctx.persist(e);
      const Moved in_place = last_moved(ctx);
      const bool values_ok = ctx.rank() != 0 || identical(got, x(s.rows, s.cols).compute());
      const std::int64_t selected = s.n_rows * s.n_cols * 8;
      const std::string what = layout_name(sparse) + ", " + s.name;
      EXPECT_TRUE(
          all_ranks(to_root.bytes <= selected + kHeader * s.pieces && to_root.estimate <= selected))
          << what << ": moved " << to_root.bytes << " bytes (estimate " << to_root.estimate
          << "), selected " << selected;
      EXPECT_TRUE(all_ranks(in_place.bytes == 0 && in_place.estimate == 0))
          << what << ": persisting the slice moved " << in_place.bytes;
      EXPECT_TRUE(all_ranks(values_ok)) << what;
    }
  }
}

TEST(DataMovement, UnsortedTakeMovesOnlyTheTakenRows) {
  // Rows from five chunk-rows packed into one output chunk-row: pieces travel to the rank that
  // assembles them, each carrying only its rows.
  auto& ctx = testing::context();
  const std::vector<index_t> rows = {95, 3, 50, 4, 96, 12, 12};
  const index_t col_chunks = ChunkGrid::regular(kShape, 10, 16).num_chunks(1);
  for (const bool sparse : {false, true}) {
    const Array x = make_source(sparse, kShape, 6);
    const Array px = ctx.persist(x);
    const Array e = ctx.persist(px(S::take(rows)));
    const Moved m = last_moved(ctx);
    const std::int64_t selected = static_cast<std::int64_t>(rows.size()) * kShape.cols * 8;
    const std::int64_t bound = selected + kHeader * 6 * col_chunks;
    const bool values_ok = identical(ctx.compute(e), x(S::take(rows)).compute());
    EXPECT_TRUE(all_ranks(m.bytes <= bound))
        << layout_name(sparse) << ": moved " << m.bytes << ", bound " << bound;
    EXPECT_TRUE(all_ranks(ctx.size() == 1 || m.bytes > 0)) << layout_name(sparse);
    EXPECT_TRUE(all_ranks(values_ok)) << layout_name(sparse);
  }
}

TEST(DataMovement, GatherToEveryRankMovesEachChunkToEachOtherRank) {
  auto& ctx = testing::context();
  const Array px = ctx.persist(random(kShape, kChunks, 7));
  const Chunk got = ctx.compute(px);
  const Moved m = last_moved(ctx);
  const std::int64_t payload = (ctx.size() - 1) * kShape.size() * 8;
  const index_t chunks = ChunkGrid::regular(kShape, 10, 16).num_chunks();
  EXPECT_TRUE(all_ranks(m.estimate == payload))
      << "estimate " << m.estimate << ", expected " << payload;
  EXPECT_TRUE(
      all_ranks(m.bytes >= payload && m.bytes <= payload + (ctx.size() - 1) * chunks * kHeader))
      << "moved " << m.bytes << ", payload " << payload;
  EXPECT_TRUE(all_ranks(m.messages == (ctx.size() - 1) * chunks)) << m.messages << " messages";
  EXPECT_TRUE(all_ranks(identical(got, random(kShape, kChunks, 7).compute())));
}

TEST(DataMovement, SparseChunksTravelSmallerThanDense) {
  // A CSR chunk message carries its non-zeros, not the dense size the estimate assumes.
  auto& ctx = testing::context();
  const Array px = ctx.persist(random_sparse(kShape, kChunks, 0.05, 8));
  (void)ctx.compute(px, 0);
  const Moved m = last_moved(ctx);
  EXPECT_TRUE(all_ranks(m.bytes <= m.estimate))
      << "moved " << m.bytes << ", dense estimate " << m.estimate;
}

TEST(DataMovement, PersistingOrRebalancingWhatIsAlreadyInPlaceMovesNothing) {
  auto& ctx = testing::context();
  for (const bool sparse : {false, true}) {
    const Array px = ctx.persist(make_source(sparse, kShape, 10));
    const Array again = ctx.persist(px);
    const Moved persisted = last_moved(ctx);
    const Array balanced = ctx.rebalance(px);
    const Moved rebalanced = last_moved(ctx);
    const bool maps_ok = *Context::ownership(again) == *Context::ownership(px) &&
                         *Context::ownership(balanced) == *Context::ownership(px);
    EXPECT_TRUE(
        all_ranks(persisted.bytes == 0 && rebalanced.bytes == 0 && rebalanced.estimate == 0))
        << layout_name(sparse) << ": persist moved " << persisted.bytes << ", rebalance moved "
        << rebalanced.bytes;
    EXPECT_TRUE(all_ranks(maps_ok)) << layout_name(sparse);
  }
}

TEST(DataMovement, RebalancingAConcatenationMovesOnlyMisplacedChunks) {
  // concatenate(y, x) keeps y's and x's chunks where they were; rebalancing moves each chunk whose
  // owner differs from the default map of the joined grid, and nothing else.
  auto& ctx = testing::context();
  const Array py = ctx.persist(random({50, 61}, kChunks, 11));
  const Array px = ctx.persist(random(kShape, kChunks, 12));
  const Array c = concatenate({py, px}, 0);
  const OwnershipMap joined =
      OwnershipMap::join({*Context::ownership(py), *Context::ownership(px)}, 0);
  const OwnershipMap target = OwnershipMap::row_blocks(c.chunks(), ctx.size());
  std::int64_t expected = 0;
  for (index_t i = 0; i < c.chunks().num_chunks(0); ++i) {
    for (index_t j = 0; j < c.chunks().num_chunks(1); ++j) {
      if (joined.owner(i, j) != target.owner(i, j))
        expected += c.chunks().chunk_shape(i, j).size() * 8;
    }
  }
  const Array r = ctx.rebalance(c);
  const Moved m = last_moved(ctx);
  EXPECT_TRUE(all_ranks(m.estimate == expected && m.bytes >= expected))
      << "estimate " << m.estimate << ", moved " << m.bytes << ", expected " << expected;
  EXPECT_TRUE(all_ranks(*Context::ownership(r) == target));
}

TEST(DataMovement, StatsAreTheSameOnEveryRank) {
  auto& ctx = testing::context();
  const Array px = ctx.persist(random(kShape, kChunks, 9));
  (void)ctx.compute(px(S::take({90, 1, 45})).sum(0), 0);
  const ExecutionStats& s = ctx.last_stats();
  const std::uint64_t bytes = static_cast<std::uint64_t>(s.bytes_moved);
  const std::uint64_t estimate = static_cast<std::uint64_t>(s.bytes_moved_estimate);
  const bool same =
      ctx.comm().all_reduce_min(bytes, "test") == ctx.comm().all_reduce_max(bytes, "test") &&
      ctx.comm().all_reduce_min(estimate, "test") == ctx.comm().all_reduce_max(estimate, "test");
  const std::int64_t sent = ctx.comm().all_reduce_sum(s.bytes_sent, "test");
  const std::int64_t received = ctx.comm().all_reduce_sum(s.bytes_received, "test");
  EXPECT_TRUE(all_ranks(same));
  EXPECT_TRUE(all_ranks(sent == s.bytes_moved && received == sent))
      << "sent " << sent << ", received " << received << ", bytes_moved " << s.bytes_moved;
}

}  // namespace
}  // namespace tessera
