// Source arrays: random (dense and sparse), full/zeros/ones, arange, from_chunk/from_csr. Random
// values must equal random_value() element by element and be bitwise identical for every chunking
// and thread count.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <utility>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/graph.hpp"
#include "tessera/core/local_executor.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using test::Ref;
using test::values_equal;
using V = std::vector<index_t>;

constexpr Shape kShape{37, 23};
ChunkSpec kRegularSpec() {
  return ChunkSpec(5, 4);
}

// Chunkings of (37, 23): regular, one row per chunk, one column per chunk, irregular, whole.
std::vector<ChunkSpec> chunkings() {
  return {ChunkSpec(5, 4),   ChunkSpec(1, -1),
          ChunkSpec(37, 1),  ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13}),
          ChunkSpec(-1, -1), ChunkSpec(8, 23)};
}

TEST(Random, EqualsRandomValueForEveryElement) {
  const Array x = random(kShape, ChunkSpec(5, 4), 42);
  EXPECT_EQ(x.shape(), kShape);
  EXPECT_EQ(x.dtype(), DType::float64);
  EXPECT_EQ(x.layout(), Layout::dense);
  EXPECT_FALSE(x.is_sparse());
  EXPECT_EQ(x.chunks().sizes(0), (V{5, 5, 5, 5, 5, 5, 5, 2}));
  EXPECT_EQ(x.chunks().sizes(1), (V{4, 4, 4, 4, 4, 3}));
  const Chunk c = x.compute();
  EXPECT_EQ(c.layout(), Layout::dense);
  EXPECT_TRUE(values_equal(c, test::random_ref(42, kShape)));
}

TEST(Random, IdenticalForEveryChunking) {
  const Chunk reference = random(kShape, ChunkSpec(5, 4), 7).compute();
  for (const ChunkSpec& spec : chunkings()) {
    const Array x = random(kShape, spec, 7);
    const Chunk c = x.compute();
    EXPECT_TRUE(identical(c, reference)) << x.chunks().to_string();
    EXPECT_TRUE(values_equal(c, test::random_ref(7, kShape))) << x.chunks().to_string();
  }
}

TEST(Random, IdenticalForEveryThreadCount) {
  const Array x = random(kShape, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13}), 11);
  LocalExecutor one(1);
  const Chunk reference = x.compute(one);
  for (int threads : {2, 4}) {
    LocalExecutor ex(threads);
    EXPECT_TRUE(identical(x.compute(ex), reference)) << threads << " threads";
  }
}

TEST(Random, SeedsGiveDifferentValues) {
  const Ref a = test::raw_values(random(kShape, ChunkSpec(5, 4), 1).compute());
  const Ref b = test::raw_values(random(kShape, ChunkSpec(5, 4), 2).compute());
  index_t same = 0;
  for (std::size_t i = 0; i < a.values.size(); ++i)
    same += a.values[i] == b.values[i] ? 1 : 0;
  EXPECT_EQ(same, 0);
  // Values within one array are (almost surely) all distinct.
  const std::set<double> distinct(a.values.begin(), a.values.end());
  EXPECT_EQ(distinct.size(), a.values.size());
}

TEST(Random, Float32DtypeIsChunkingIndependentToo) {
  const Array x = random(kShape, ChunkSpec(5, 4), 3, DType::float32);
  EXPECT_EQ(x.dtype(), DType::float32);
  EXPECT_EQ(x.nbytes(), 37 * 23 * 4);
  const Chunk c = x.compute();
  EXPECT_EQ(c.dtype(), DType::float32);
  EXPECT_TRUE(identical(random(kShape, ChunkSpec(-1, 3), 3, DType::float32).compute(), c));
}

TEST(RandomSparse, CsrWithValuesInZeroOneAndTheRequestedDensity) {
  const Array x = random_sparse(kShape, ChunkSpec(5, 4), 0.2, 5);
  EXPECT_TRUE(x.is_sparse());
  EXPECT_EQ(x.layout(), Layout::csr);
  EXPECT_EQ(x.dtype(), DType::float64);
  EXPECT_EQ(x.nbytes(), 37 * 23 * 8);  // logical (dense) size
  const Chunk c = x.compute();
  ASSERT_TRUE(c.is_sparse());
  EXPECT_TRUE(test::canonical_csr(c));
  // 851 elements at density 0.2: 170 expected, standard deviation 11.7.
  EXPECT_GT(c.nnz(), 110);
  EXPECT_LT(c.nnz(), 230);
  const Ref v = test::raw_values(c);
  index_t nonzero = 0;
  for (double value : v.values) {
    EXPECT_GE(value, 0.0);
    EXPECT_LE(value, 1.0);
    nonzero += value != 0.0 ? 1 : 0;
  }
  EXPECT_EQ(nonzero, c.nnz());  // no explicit zeros: values lie in (0, 1]
}

TEST(RandomSparse, IdenticalForEveryChunkingAndThreadCount) {
  const Chunk reference = random_sparse(kShape, ChunkSpec(5, 4), 0.3, 9).compute();
  for (const ChunkSpec& spec : chunkings()) {
    const Array x = random_sparse(kShape, spec, 0.3, 9);
    EXPECT_TRUE(identical(x.compute(), reference)) << x.chunks().to_string();
  }
  const Array x = random_sparse(kShape, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13}), 0.3, 9);
  for (int threads : {1, 2, 4}) {
    LocalExecutor ex(threads);
    EXPECT_TRUE(identical(x.compute(ex), reference)) << threads << " threads";
  }
}

TEST(RandomSparse, DensityZeroAndOne) {
  const Chunk empty = random_sparse(kShape, ChunkSpec(5, 4), 0.0, 1).compute();
  EXPECT_EQ(empty.nnz(), 0);
  EXPECT_TRUE(values_equal(empty, Ref(kShape, 0.0)));
  const Chunk full_ = random_sparse(kShape, ChunkSpec(5, 4), 1.0, 1).compute();
  EXPECT_EQ(full_.nnz(), kShape.size());
}

TEST(Full, ValuesAndDtypes) {
  const Array f = full(kShape, 2.5, ChunkSpec(5, 4));
  EXPECT_EQ(f.dtype(), DType::float64);
  EXPECT_TRUE(values_equal(f.compute(), Ref(kShape, 2.5)));

  const Array i = full(kShape, 3.0, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13}), DType::int32);
  EXPECT_EQ(i.dtype(), DType::int32);
  const Chunk ic = i.compute();
  EXPECT_EQ(ic.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(ic, Ref(kShape, 3.0)));

  EXPECT_TRUE(values_equal(zeros(kShape, ChunkSpec(5, 4)).compute(), Ref(kShape, 0.0)));
  const Array o = ones(kShape, ChunkSpec(5, 4), DType::uint8);
  EXPECT_EQ(o.dtype(), DType::uint8);
  EXPECT_TRUE(values_equal(o.compute(), Ref(kShape, 1.0)));
}

TEST(Arange, ElementIsRowTimesColsPlusCol) {
  const Array a = arange(kShape, ChunkSpec(5, 4));
  EXPECT_EQ(a.dtype(), DType::int64);
  const Chunk c = a.compute();
  EXPECT_EQ(c.dtype(), DType::int64);
  EXPECT_TRUE(values_equal(c, test::arange_ref(kShape)));

  const Array f = arange(kShape, ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13}), DType::float32);
  EXPECT_EQ(f.dtype(), DType::float32);
  EXPECT_TRUE(values_equal(f.compute(), test::arange_ref(kShape)));
}

TEST(FromChunk, DenseCutIntoChunks) {
  const Ref ref = test::make_ref(kShape, [](index_t r, index_t c) { return r * 0.5 - c; });
  const Array x = from_chunk(test::chunk_of(ref), ChunkSpec(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13}));
  EXPECT_EQ(x.shape(), kShape);
  EXPECT_EQ(x.dtype(), DType::float64);
  EXPECT_EQ(x.chunks().sizes(0), (V{3, 1, 5, 10, 1, 17}));
  EXPECT_EQ(x.chunks().sizes(1), (V{2, 7, 1, 13}));
  EXPECT_TRUE(values_equal(x.compute(), ref));

  // A strided view as the source.
  const Chunk big = test::chunk_of<std::int16_t>(test::arange_ref(Shape{10, 10}));
  const Array v = from_chunk(big.block(2, 9, 3, 8), ChunkSpec(3, 2));
  EXPECT_EQ(v.dtype(), DType::int16);
  EXPECT_TRUE(values_equal(v.compute(), test::gather(test::arange_ref(Shape{10, 10}),
                                                     {2, 3, 4, 5, 6, 7, 8}, {3, 4, 5, 6, 7})));
}

TEST(FromChunk, CsrCutIntoChunksStaysSparse) {
  const Ref ref = test::make_ref(kShape, [](index_t r, index_t c) {
    return (r * 7 + c * 3) % 5 == 0 ? double(r - c) + 0.25 : 0.0;
  });
  const Chunk csr = test::chunk_of(ref).to_csr();
  for (const ChunkSpec& spec : chunkings()) {
    const Array x = from_chunk(csr, spec);
    EXPECT_TRUE(x.is_sparse());
    const Chunk c = x.compute();
    EXPECT_TRUE(c.is_sparse());
    EXPECT_TRUE(test::canonical_csr(c));
    EXPECT_TRUE(values_equal(c, ref)) << x.chunks().to_string();
  }
}

// "chunks are zero-copy views of data": the source tasks hand out views of the one buffer.
TEST(FromChunk, ChunksAreZeroCopyViews) {
  const Chunk dense = test::chunk_of(test::arange_ref(kShape));
  const Chunk csr = test::chunk_of(test::make_ref(kShape, [](index_t r, index_t c) {
                      return (r + c) % 4 == 0 ? 1.0 : 0.0;
                    })).to_csr();
  // Dense: any block is a view. CSR: full-width row blocks are views.
  const std::vector<std::pair<Chunk, ChunkSpec>> inputs = {{dense, kRegularSpec()},
                                                           {csr, ChunkSpec(5, -1)}};
  for (const auto& [data, spec] : inputs) {
    const Array x = from_chunk(data, spec);
    const NodePtr node = x.node();
    const TaskGraph g = TaskGraph::lower({&node, 1});
    const std::vector<TaskId> targets = g.chunk_tasks(g.node_id(*node));
    LocalExecutor ex(2);
    const std::vector<Chunk> chunks = ex.run(g, targets);
    ASSERT_EQ(chunks.size(), static_cast<std::size_t>(x.chunks().num_chunks()));
    for (const Chunk& c : chunks)
      EXPECT_TRUE(c.shares_memory_with(data));
  }
}

TEST(FromCsr, BuildsASparseArray) {
  // [[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 4, 0]]
  const Array x =
      from_csr<float>(Shape{3, 4}, {0, 2, 2, 4}, {1, 3, 0, 2}, {1, 2, 3, 4}, ChunkSpec(2, 3));
  EXPECT_TRUE(x.is_sparse());
  EXPECT_EQ(x.dtype(), DType::float32);
  EXPECT_TRUE(values_equal(x.compute(), Ref(Shape{3, 4}, {0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 4, 0})));
}

TEST(Sources, ZeroSizeArrays) {
  const Array r = random(Shape{0, 5}, ChunkSpec(3, 2), 1);
  EXPECT_EQ(r.shape(), (Shape{0, 5}));
  EXPECT_EQ(r.chunks().sizes(0), (V{0}));
  EXPECT_EQ(r.compute().shape(), (Shape{0, 5}));
  const Array c = arange(Shape{4, 0}, ChunkSpec(3, 2));
  EXPECT_EQ(c.compute().shape(), (Shape{4, 0}));
  const Chunk s = random_sparse(Shape{0, 5}, ChunkSpec(3, 2), 0.5, 1).compute();
  EXPECT_TRUE(s.is_sparse());
  EXPECT_EQ(s.shape(), (Shape{0, 5}));
  EXPECT_EQ(s.nnz(), 0);
}

TEST(Sources, OneByOneArrays) {
  const Array r = random(Shape{1, 1}, ChunkSpec(5, 4), 99);
  EXPECT_EQ(r.chunks().num_chunks(), 1);
  EXPECT_TRUE(values_equal(r.compute(), Ref(Shape{1, 1}, random_value(99, Shape{1, 1}, 0, 0))));
  EXPECT_TRUE(
      values_equal(full(Shape{1, 1}, -4.0, ChunkSpec(1, 1)).compute(), Ref(Shape{1, 1}, -4.0)));
  EXPECT_TRUE(values_equal(arange(Shape{1, 1}, ChunkSpec(1, 1)).compute(), Ref(Shape{1, 1}, 0.0)));
  const Chunk s = random_sparse(Shape{1, 1}, ChunkSpec(1, 1), 1.0, 4).compute();
  EXPECT_TRUE(s.is_sparse());
  EXPECT_EQ(s.nnz(), 1);
}

TEST(Sources, BadChunkSizesThrow) {
  TESSERA_EXPECT_THROW_MENTIONING((void)random(kShape, ChunkSpec(0, 4), 1), ValueError, "chunk",
                                  "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)full(kShape, 1.0, ChunkSpec(5, -7)), ValueError, "chunk",
                                  "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)arange(kShape, ChunkSpec(V{3, 0, 34}, V{23})), ValueError,
                                  "chunk", "size");
  TESSERA_EXPECT_THROW_MENTIONING((void)random_sparse(kShape, ChunkSpec(V{3, 1}, V{23}), 0.1, 1),
                                  ShapeError, "chunk", "size", "sum", "37");
}

TEST(Sources, GraphStatsOfASource) {
  const Array x = random(kShape, ChunkSpec(5, 4), 1);
  const GraphStats s = x.graph_stats();
  EXPECT_EQ(s.chunks, 48);
  EXPECT_EQ(s.layers, 1);
  EXPECT_EQ(s.tasks, 48);
}

TEST(Sources, NamesAreDaskStyle) {
  const std::regex pattern("[a-z0-9_]+-[0-9a-f]{8}");
  const Array a = random(kShape, ChunkSpec(5, 4), 1);
  EXPECT_TRUE(std::regex_match(a.name(), pattern)) << a.name();
  EXPECT_TRUE(std::regex_match(arange(kShape, ChunkSpec(5, 4)).name(), pattern));
  EXPECT_TRUE(std::regex_match((a + 1.0).sum(0).name(), pattern));
}

// Fingerprints are "stable across ranks and runs": the same expression built twice (as every rank
// does in SPMD) has the same fingerprint and name; other parameters give other ones.
TEST(Sources, FingerprintsAreStableAndParameterDependent) {
  const Array a = random(kShape, ChunkSpec(5, 4), 1);
  const Array again = random(kShape, ChunkSpec(5, 4), 1);
  EXPECT_EQ(a.node()->fingerprint(), again.node()->fingerprint());
  EXPECT_EQ(a.name(), again.name());
  EXPECT_EQ((a * 2.0).sum(0).node()->fingerprint(), (again * 2.0).sum(0).node()->fingerprint());
  EXPECT_NE(a.name(), random(kShape, ChunkSpec(5, 4), 2).name());
  EXPECT_NE(a.name(), random(kShape, ChunkSpec(4, 4), 1).name());
  EXPECT_NE(a.node()->fingerprint(), (a * 2.0).node()->fingerprint());
  EXPECT_NE((a * 2.0).node()->fingerprint(), (a * 3.0).node()->fingerprint());
}

TEST(Sources, BuildingAHugeExpressionComputesNothing) {
  // 2^40 elements (8 TiB): building the graph must be instant and allocate no chunk.
  const Array x = random(Shape{index_t{1} << 20, index_t{1} << 20}, ChunkSpec(4096, 4096), 1);
  const Array y = (x * 2.0 + 1.0).sum(0);
  EXPECT_EQ(y.shape(), (Shape{1, index_t{1} << 20}));
  EXPECT_EQ(x.nbytes(), (index_t{1} << 40) * 8);
}

}  // namespace
}  // namespace tessera
