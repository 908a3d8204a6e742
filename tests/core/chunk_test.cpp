// Chunk: dense blocks with a leading dimension, CSR blocks (validated, canonicalized), views,
// conversions, and the comparison helpers (array_equal, identical, max_relative_difference).
#include "tessera/core/chunk.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "test_util.hpp"

namespace tessera {
namespace {

using test::make_ref;
using test::raw_values;
using test::Ref;
using test::values_equal;
using V = std::vector<index_t>;

// The 3×4 matrix
//   [[0, 1, 0, 2],
//    [0, 0, 0, 0],
//    [3, 0, 4, 0]]
Chunk small_csr() {
  return Chunk::from_csr<double>(Shape{3, 4}, {0, 2, 2, 4}, {1, 3, 0, 2}, {1, 2, 3, 4});
}
Ref small_ref() {
  return Ref(Shape{3, 4}, {0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 4, 0});
}

TEST(Chunk, DefaultIsEmptyFloat64Dense) {
  const Chunk c;
  EXPECT_EQ(c.shape(), (Shape{0, 0}));
  EXPECT_EQ(c.dtype(), DType::float64);
  EXPECT_EQ(c.layout(), Layout::dense);
  EXPECT_FALSE(c.is_sparse());
}

TEST(Chunk, FromValuesIsRowMajor) {
  const Chunk c = Chunk::from_values<std::int32_t>(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(c.dtype(), DType::int32);
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(c.rows(), 2);
  EXPECT_EQ(c.cols(), 3);
  EXPECT_EQ(c.nnz(), 6);
  EXPECT_EQ(c.nbytes(), 6u * 4u);
  EXPECT_EQ(c.ld(), 3);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.row<std::int32_t>(1)[0], 4);
  EXPECT_EQ(c.row<std::int32_t>(1)[2], 6);
  EXPECT_EQ(c.value_at(0, 1), 2.0);
  EXPECT_EQ(c.value_at(1, 2), 6.0);
}

TEST(Chunk, FromValuesWithTheWrongCountThrowsShapeError) {
  TESSERA_EXPECT_THROW_MENTIONING((void)Chunk::from_values<double>(Shape{2, 3}, {1, 2, 3, 4, 5}),
                                  ShapeError, "(2, 3)", "5", "6", "shape", "size");
}

TEST(Chunk, DenseFilledAndWritableDense) {
  const Chunk f = Chunk::dense_filled(DType::int16, Shape{3, 2}, 7.0);
  EXPECT_EQ(f.dtype(), DType::int16);
  EXPECT_TRUE(values_equal(f, Ref(Shape{3, 2}, 7.0)));

  const Chunk d = Chunk::dense(DType::float32, Shape{2, 2});
  for (index_t r = 0; r < 2; ++r) {
    for (index_t c = 0; c < 2; ++c)
      d.mutable_row<float>(r)[c] = static_cast<float>(10 * r + c);
  }
  EXPECT_TRUE(values_equal(d, Ref(Shape{2, 2}, {0, 1, 10, 11})));
}

TEST(Chunk, ValueAtAgreesWithRawStorageForEveryLayoutAndDtype) {
  const Ref ref = make_ref(
      Shape{4, 5}, [](index_t r, index_t c) { return (r + c) % 3 == 0 ? 0.0 : double(r * 5 + c); });
  const Chunk dense = test::chunk_of<std::uint16_t>(ref);
  const Chunk sparse = dense.to_csr();
  for (const Chunk* c : {&dense, &sparse}) {
    for (index_t r = 0; r < 4; ++r) {
      for (index_t j = 0; j < 5; ++j)
        EXPECT_EQ(c->value_at(r, j), ref.at(r, j));
    }
  }
}

TEST(Chunk, DenseViewUsesOffsetAndLeadingDimension) {
  std::vector<double> values(12);
  for (int i = 0; i < 12; ++i)
    values[static_cast<std::size_t>(i)] = i;
  const auto buffer = Buffer::adopt(std::move(values));
  EXPECT_EQ(buffer->size(), 12u * sizeof(double));
  // 3 rows of 4 with ld 4; the view is rows 0..1, cols 1..2 of it.
  const Chunk v = Chunk::dense_view(DType::float64, Shape{2, 2}, buffer, 1, 4);
  EXPECT_EQ(v.ld(), 4);
  EXPECT_FALSE(v.is_contiguous());
  EXPECT_TRUE(values_equal(v, Ref(Shape{2, 2}, {1, 2, 5, 6})));
}

TEST(Chunk, DenseBlockIsAZeroCopyView) {
  const Ref ref = test::arange_ref(Shape{4, 5});
  const Chunk c = test::chunk_of(ref);
  const Chunk b = c.block(1, 3, 2, 5);
  EXPECT_EQ(b.shape(), (Shape{2, 3}));
  EXPECT_TRUE(b.shares_memory_with(c));
  EXPECT_EQ(b.ld(), 5);
  EXPECT_TRUE(values_equal(b, test::gather(ref, {1, 2}, {2, 3, 4})));
  // A view of a view composes offsets.
  const Chunk bb = c.block(1, 4, 1, 5).block(1, 3, 2, 4);
  EXPECT_TRUE(values_equal(bb, test::gather(ref, {2, 3}, {3, 4})));
  // One row and an empty block are fine.
  EXPECT_TRUE(values_equal(c.block(3, 4, 0, 5), test::gather(ref, {3}, {0, 1, 2, 3, 4})));
  EXPECT_EQ(c.block(2, 2, 0, 5).shape(), (Shape{0, 5}));
}

TEST(Chunk, BlockOutsideTheChunkThrowsIndexError) {
  const Chunk c = test::chunk_of(test::arange_ref(Shape{4, 5}));
  TESSERA_EXPECT_THROW_MENTIONING((void)c.block(0, 5, 0, 2), IndexError, "block", "range", "5",
                                  "bound");
  TESSERA_EXPECT_THROW_MENTIONING((void)c.block(0, 2, 3, 6), IndexError, "block", "range", "6",
                                  "bound");
  TESSERA_EXPECT_THROW_MENTIONING((void)c.block(-1, 2, 0, 2), IndexError, "block", "range", "-1",
                                  "bound");
  TESSERA_EXPECT_THROW_MENTIONING((void)small_csr().block(0, 4, 0, 4), IndexError, "block", "range",
                                  "4", "bound");
}

TEST(Chunk, CsrFromScipyTriple) {
  const Chunk c = small_csr();
  EXPECT_TRUE(c.is_sparse());
  EXPECT_EQ(c.layout(), Layout::csr);
  EXPECT_EQ(c.nnz(), 4);
  EXPECT_TRUE(test::canonical_csr(c));
  EXPECT_TRUE(values_equal(c, small_ref()));
  EXPECT_EQ(c.nbytes(), 4u * 8u + 4u * sizeof(index_t) + 4u * sizeof(index_t));
  for (index_t r = 0; r < 3; ++r) {
    for (index_t j = 0; j < 4; ++j)
      EXPECT_EQ(c.value_at(r, j), small_ref().at(r, j));
  }
}

TEST(Chunk, CsrSortsUnsortedIndicesAndSumsDuplicates) {
  // Row 0 lists columns 3, 1, 3; row 1 lists 2, 0: scipy's sum_duplicates gives
  // [[0, 2, 0, 4], [5, 0, 4, 0]] with 4 stored values.
  const Chunk c = Chunk::from_csr<float>(Shape{2, 4}, {0, 3, 5}, {3, 1, 3, 2, 0}, {1, 2, 3, 4, 5});
  EXPECT_TRUE(test::canonical_csr(c));
  EXPECT_EQ(c.nnz(), 4);
  EXPECT_TRUE(values_equal(c, Ref(Shape{2, 4}, {0, 2, 0, 4, 5, 0, 4, 0})));
}

TEST(Chunk, CsrWithEmptyRowsAndNoValues) {
  const Chunk c = Chunk::from_csr<double>(Shape{3, 2}, {0, 0, 0, 0}, {}, {});
  EXPECT_EQ(c.nnz(), 0);
  EXPECT_TRUE(values_equal(c, Ref(Shape{3, 2}, 0.0)));
  const Chunk one = Chunk::from_csr<double>(Shape{1, 1}, {0, 1}, {0}, {2.5});
  EXPECT_TRUE(values_equal(one, Ref(Shape{1, 1}, 2.5)));
}

// Every invalid CSR input raises IndexError or ShapeError naming what is wrong.
template <typename F>
void expect_invalid_csr(F&& make, std::initializer_list<std::string_view> words) {
  try {
    (void)make();
    ADD_FAILURE() << "invalid CSR accepted";
  } catch (const IndexError& e) {
    EXPECT_TRUE(test::mentions(e.what(), words));
  } catch (const ShapeError& e) {
    EXPECT_TRUE(test::mentions(e.what(), words));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected IndexError or ShapeError, got: " << e.what();
  }
}

TEST(Chunk, InvalidCsrThrowsNamingTheProblem) {
  // indptr not monotone.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{3, 3}, {0, 2, 1, 3}, {0, 1, 2}, {1, 2, 3});
      },
      {"indptr", "monoton", "decreas"});
  // indptr of the wrong length.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{3, 3}, {0, 1, 3}, {0, 1, 2}, {1, 2, 3});
      },
      {"indptr"});
  // indptr not starting at 0.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{2, 3}, {1, 2, 3}, {0, 1, 2}, {1, 2, 3});
      },
      {"indptr"});
  // indptr ending elsewhere than nnz.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{2, 3}, {0, 1, 2}, {0, 1, 2}, {1, 2, 3});
      },
      {"indptr", "nnz", "data", "indices"});
  // Column index out of range, and negative.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{2, 3}, {0, 1, 2}, {0, 7}, {1, 2});
      },
      {"ind", "column", "7"});
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{2, 3}, {0, 1, 2}, {-1, 0}, {1, 2});
      },
      {"ind", "column", "-1"});
  // Fewer values than indices.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{2, 3}, {0, 1, 3}, {0, 1, 2}, {1, 2});
      },
      {"indices", "data", "nnz", "length", "size", "values"});
}

TEST(Chunk, CsrWithMoreValuesThanIndicesIsRejected) {
  // scipy: "indices and data should have the same size". Extra values mean the caller passed
  // the wrong array; accepting them silently hides that.
  expect_invalid_csr(
      [] {
        return Chunk::from_csr<double>(Shape{2, 3}, {0, 1, 2}, {0, 1}, {1, 2, 3});
      },
      {"indices", "data", "nnz", "length", "size", "values"});
}

TEST(Chunk, CsrRowBlockIsZeroCopyColumnBlockIsCorrect) {
  const Chunk c = small_csr();
  const Chunk rows = c.block(1, 3, 0, 4);
  EXPECT_TRUE(rows.is_sparse());
  EXPECT_TRUE(rows.shares_memory_with(c));
  EXPECT_TRUE(test::canonical_csr(rows));
  EXPECT_TRUE(values_equal(rows, test::gather(small_ref(), {1, 2}, {0, 1, 2, 3})));
  EXPECT_EQ(rows.nnz(), 2);

  const Chunk cols = c.block(0, 3, 1, 3);
  EXPECT_TRUE(cols.is_sparse());
  EXPECT_TRUE(test::canonical_csr(cols));
  EXPECT_TRUE(values_equal(cols, test::gather(small_ref(), {0, 1, 2}, {1, 2})));
  EXPECT_EQ(cols.nnz(), 2);

  const Chunk last = c.block(2, 3, 2, 4);
  EXPECT_TRUE(values_equal(last, Ref(Shape{1, 2}, {4, 0})));
}

TEST(Chunk, DenseCsrConversions) {
  const Chunk c = small_csr();
  const Chunk d = c.to_dense();
  EXPECT_EQ(d.layout(), Layout::dense);
  EXPECT_EQ(d.dtype(), DType::float64);
  EXPECT_TRUE(values_equal(d, small_ref()));

  const Chunk back = d.to_csr();
  EXPECT_TRUE(back.is_sparse());
  EXPECT_EQ(back.nnz(), 4);  // zeros are not stored
  EXPECT_TRUE(test::canonical_csr(back));
  EXPECT_TRUE(values_equal(back, small_ref()));

  EXPECT_EQ(c.to_layout(Layout::dense).layout(), Layout::dense);
  EXPECT_EQ(d.to_layout(Layout::csr).layout(), Layout::csr);
  EXPECT_TRUE(values_equal(c.to_layout(Layout::csr), small_ref()));

  // A strided dense view converts correctly too.
  const Chunk view = d.block(0, 3, 1, 3).to_csr();
  EXPECT_TRUE(values_equal(view, test::gather(small_ref(), {0, 1, 2}, {1, 2})));
}

TEST(Chunk, AstypeFollowsNumpy) {
  const Chunk f = Chunk::from_values<double>(Shape{1, 6}, {2.7, -2.7, 0.5, -0.5, 0.0, 3.0});
  const Chunk i = f.astype(DType::int32);
  EXPECT_EQ(i.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(i, Ref(Shape{1, 6}, {2, -2, 0, 0, 0, 3})));  // truncation toward 0
  const Chunk b = f.astype(DType::boolean);
  EXPECT_EQ(b.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(b, Ref(Shape{1, 6}, {1, 1, 1, 1, 0, 1})));
  const Chunk s = small_csr().astype(DType::float32);
  EXPECT_TRUE(s.is_sparse());
  EXPECT_EQ(s.dtype(), DType::float32);
  EXPECT_TRUE(values_equal(s, small_ref()));
}

TEST(Chunk, DeepCopyOwnsFreshStorage) {
  const Chunk c = test::chunk_of(test::arange_ref(Shape{4, 5}));
  const Chunk view = c.block(1, 3, 1, 4);
  const Chunk copy = view.deep_copy();
  EXPECT_FALSE(copy.shares_memory_with(c));
  EXPECT_TRUE(values_equal(copy, raw_values(view)));
  const Chunk s = small_csr();
  const Chunk scopy = s.deep_copy();
  EXPECT_FALSE(scopy.shares_memory_with(s));
  EXPECT_TRUE(identical(scopy, s));
}

TEST(Chunk, ArrayEqualComparesNumbersAcrossLayoutsAndDtypes) {
  const Chunk s = small_csr();
  EXPECT_TRUE(array_equal(s, s.to_dense()));
  EXPECT_TRUE(array_equal(s.to_dense().astype(DType::int32), s));
  const Chunk other = Chunk::from_values<double>(Shape{3, 4}, {0, 1, 0, 2, 0, 0, 0, 0, 3, 0, 4, 1});
  EXPECT_FALSE(array_equal(s, other));
  EXPECT_FALSE(array_equal(s, s.block(0, 2, 0, 4)));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Chunk n1 = Chunk::from_values<double>(Shape{1, 2}, {nan, 1.0});
  const Chunk n2 = Chunk::from_values<double>(Shape{1, 2}, {nan, 1.0});
  EXPECT_TRUE(array_equal(n1, n2));
}

TEST(Chunk, IdenticalMeansBitForBit) {
  const Chunk s = small_csr();
  EXPECT_TRUE(identical(s, small_csr()));
  EXPECT_FALSE(identical(s, s.to_dense()));  // layouts differ
  const Chunk d = s.to_dense();
  EXPECT_TRUE(identical(d, d.deep_copy()));
  EXPECT_FALSE(identical(d, d.astype(DType::float32)));
  const Chunk pz = Chunk::from_values<double>(Shape{1, 1}, {0.0});
  const Chunk nz = Chunk::from_values<double>(Shape{1, 1}, {-0.0});
  EXPECT_TRUE(array_equal(pz, nz));
  EXPECT_FALSE(identical(pz, nz));
  // A strided view and its compact copy hold the same bits.
  const Chunk big = test::chunk_of(test::arange_ref(Shape{4, 5}));
  EXPECT_TRUE(identical(big.block(1, 3, 1, 4), big.block(1, 3, 1, 4).deep_copy()));
}

TEST(Chunk, MaxRelativeDifference) {
  const Chunk a = Chunk::from_values<double>(Shape{1, 3}, {1.5, 101, 0.25});
  const Chunk b = Chunk::from_values<double>(Shape{1, 3}, {1.0, 100, 0.5});
  // |1.5-1|/1 = 0.5, |101-100|/100 = 0.01, |0.25-0.5|/1 = 0.25.
  EXPECT_DOUBLE_EQ(max_relative_difference(a, b), 0.5);
  EXPECT_EQ(max_relative_difference(a, a), 0.0);
  EXPECT_TRUE(std::isinf(max_relative_difference(a, a.block(0, 1, 0, 2))));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Chunk n = Chunk::from_values<double>(Shape{1, 3}, {nan, 101, 0.25});
  EXPECT_TRUE(std::isinf(max_relative_difference(n, a)));
  EXPECT_EQ(max_relative_difference(n, n), 0.0);
  EXPECT_EQ(max_relative_difference(small_csr(), small_csr().to_dense()), 0.0);
}

}  // namespace
}  // namespace tessera
