// Selection on lazy arrays: slices with negative bounds and steps, take with repeated, unsorted and
// negative positions, boolean masks (literal and computed), empty results, dense and CSR inputs on
// regular and irregular grids. Expected values come from gathering a plain reference with
// positions computed by the test's own Python-slice code.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/local_executor.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using test::gather;
using test::python_slice;
using test::Ref;
using test::values_equal;
using V = std::vector<index_t>;
using Opt = std::optional<index_t>;
constexpr Opt None = std::nullopt;

constexpr Shape kShape{37, 23};
const ChunkSpec kRegular(5, 4);
const ChunkSpec kIrregular(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13});

// A selector and the positions it must select along an axis of length n, computed here.
struct Case {
  std::string what;
  Selector selector;
  std::function<V(index_t)> positions;
};

Case slice_case(Opt start, Opt stop, Opt step) {
  auto str = [](Opt v) { return v ? std::to_string(*v) : std::string("None"); };
  return {"slice(" + str(start) + ", " + str(stop) + ", " + str(step) + ")",
          Selector::slice(start, stop, step),
          [=](index_t n) { return python_slice(n, start, stop, step); }};
}

Case take_case(V positions) {
  std::string what = "take(";
  for (index_t p : positions)
    what += std::to_string(p) + ",";
  return {what + ")", Selector::take(positions), [positions](index_t n) {
            V out;
            for (index_t p : positions)
              out.push_back(p < 0 ? p + n : p);
            return out;
          }};
}

Case mask_case(std::string what, index_t n, std::function<bool(index_t)> keep) {
  std::vector<bool> mask(static_cast<std::size_t>(n));
  V positions;
  for (index_t i = 0; i < n; ++i) {
    mask[static_cast<std::size_t>(i)] = keep(i);
    if (keep(i)) positions.push_back(i);
  }
  return {"mask " + what, Selector::mask(mask), [positions](index_t) { return positions; }};
}

std::vector<Case> cases(index_t n) {
  return {
      {"all", Selector::all(), test::iota},
      slice_case(3, n - 7, 4),
      slice_case(None, None, -1),
      slice_case(-5, None, None),
      slice_case(n - 7, 2, -3),
      slice_case(-100, 100, 7),
      slice_case(n - 1, -(n + 1), -5),
      slice_case(-2, -n + 3, -2),
      take_case({n - 1, 0, 5, 5, -1, 12, 3, 3, 3, -n}),
      take_case({4}),
      mask_case("every third", n, [](index_t i) { return i % 3 == 0; }),
      mask_case("last", n, [n](index_t i) { return i == n - 1; }),
      // Empty selections.
      slice_case(5, 5, None),
      take_case({}),
      mask_case("none", n, [](index_t) { return false; }),
  };
}

// Every row case against every column case, on one input.
void check_selections(const Array& x, const Ref& xr, const std::string& what) {
  const auto row_cases = cases(x.shape().rows);
  const auto col_cases = cases(x.shape().cols);
  for (const Case& rc : row_cases) {
    for (const Case& cc : col_cases) {
      const std::string label = what + " [" + rc.what + ", " + cc.what + "]";
      const V rows = rc.positions(x.shape().rows);
      const V cols = cc.positions(x.shape().cols);
      const Array y = x(rc.selector, cc.selector);
      const Shape expected{static_cast<index_t>(rows.size()), static_cast<index_t>(cols.size())};
      EXPECT_EQ(y.shape(), expected) << label;
      EXPECT_EQ(y.dtype(), x.dtype()) << label;
      EXPECT_EQ(y.layout(), x.layout()) << label;
      const Chunk c = y.compute();
      EXPECT_EQ(c.layout(), x.layout()) << label;
      EXPECT_EQ(c.dtype(), x.dtype()) << label;
      if (c.is_sparse()) {
        EXPECT_TRUE(test::canonical_csr(c)) << label;
      }
      ASSERT_TRUE(values_equal(c, gather(xr, rows, cols))) << label;
    }
  }
}

Ref sparse_ref(Shape shape) {
  return test::make_ref(shape, [](index_t r, index_t c) {
    const index_t h = (r * 131 + c * 71) % 13;
    return h < 4 ? double(r * 100 + c) + 0.5 : 0.0;
  });
}

TEST(Selection, DenseRegular) {
  check_selections(random(kShape, kRegular, 1), test::random_ref(1, kShape), "dense regular");
}

TEST(Selection, DenseIrregularInt64) {
  check_selections(arange(kShape, kIrregular), test::arange_ref(kShape), "arange irregular");
}

TEST(Selection, SparseRegularAndIrregular) {
  const Ref sr = sparse_ref(kShape);
  const Chunk csr = test::chunk_of(sr).to_csr();
  check_selections(from_chunk(csr, kRegular), sr, "sparse regular");
  check_selections(from_chunk(csr, kIrregular), sr, "sparse irregular");
}

TEST(Selection, OneRowChunksAndOneByOne) {
  check_selections(random(kShape, ChunkSpec(1, -1), 2), test::random_ref(2, kShape),
                   "one-row chunks");
  const Array one = random(Shape{1, 1}, ChunkSpec(1, 1), 3);
  const double v = random_value(3, Shape{1, 1}, 0, 0);
  EXPECT_TRUE(values_equal(one(Selector::take({0, 0, -1})).compute(), Ref(Shape{3, 1}, v)));
  EXPECT_TRUE(values_equal(one(Selector::slice(None, None, -1), Selector::take({-1, 0})).compute(),
                           Ref(Shape{1, 2}, v)));
  EXPECT_EQ(one(Selector::mask(std::vector<bool>{false})).compute().shape(), (Shape{0, 1}));
  const Array s = from_csr<double>(Shape{1, 1}, {0, 1}, {0}, {2.0}, ChunkSpec(1, 1));
  EXPECT_TRUE(values_equal(s(Selector::take({0, 0})).compute(), Ref(Shape{2, 1}, 2.0)));
}

TEST(Selection, SelectAlongOneAxisEqualsCallOperator) {
  const Array x = random(kShape, kIrregular, 4);
  const Ref xr = test::random_ref(4, kShape);
  const V rows = {7, 7, 0, 36, -1 + 37};
  const Array by_rows = x.select(0, Selector::take({7, 7, 0, 36, -1}));
  EXPECT_TRUE(values_equal(by_rows.compute(), gather(xr, rows, test::iota(23))));
  const Array by_cols = x.select(1, Selector::slice(None, None, -2));
  EXPECT_TRUE(values_equal(by_cols.compute(),
                           gather(xr, test::iota(37), python_slice(23, None, None, -2))));
}

TEST(Selection, ChainedSelections) {
  const Array x = arange(kShape, kRegular);
  const Ref xr = test::arange_ref(kShape);
  const Array y =
      x(Selector::slice(30, 2, -2))(Selector::take({3, 0, 3}), Selector::slice(-4, None));
  const V first = python_slice(37, 30, 2, -2);
  const V rows = {first[3], first[0], first[3]};
  EXPECT_TRUE(values_equal(y.compute(), gather(xr, rows, python_slice(23, -4, None, None))));
}

TEST(Selection, MaskFromAComputedBoolArray) {
  const Array x = random(kShape, kIrregular, 5);
  const Ref xr = test::random_ref(5, kShape);
  // Rows whose sum exceeds the threshold, as numpy's x[x.sum(1) > t].
  const double threshold = 11.5;
  V rows;
  for (index_t r = 0; r < 37; ++r) {
    double sum = 0.0;
    for (index_t c = 0; c < 23; ++c)
      sum += xr.at(r, c);
    ASSERT_GT(std::abs(sum - threshold), 1e-9);  // no row on the fence
    if (sum > threshold) rows.push_back(r);
  }
  const Chunk row_mask = (x.sum(1) > threshold).compute();
  ASSERT_EQ(row_mask.shape(), (Shape{37, 1}));
  ASSERT_EQ(row_mask.dtype(), DType::boolean);
  const Array y = x(Selector::mask(row_mask));
  EXPECT_TRUE(values_equal(y.compute(), gather(xr, rows, test::iota(23))));

  // Columns by a (1, n) mask.
  V cols;
  for (index_t c = 0; c < 23; ++c) {
    double sum = 0.0;
    for (index_t r = 0; r < 37; ++r)
      sum += xr.at(r, c);
    ASSERT_GT(std::abs(sum / 37 - 0.5), 1e-9);
    if (sum / 37 > 0.5) cols.push_back(c);
  }
  const Chunk col_mask = (x.mean(0) > 0.5).compute();
  ASSERT_EQ(col_mask.shape(), (Shape{1, 23}));
  EXPECT_TRUE(values_equal(x(Selector::all(), Selector::mask(col_mask)).compute(),
                           gather(xr, test::iota(37), cols)));
}

// The single-cell idiom x[x.sum(1) > 0] on a sparse matrix: the mask is computed from a sparse
// reduction, whatever layout that computed bool array has.
TEST(Selection, MaskComputedFromASparseArray) {
  const Ref sr = sparse_ref(kShape);
  const Array s = from_chunk(test::chunk_of(sr).to_csr(), kIrregular);
  V rows;
  for (index_t r = 0; r < 37; ++r) {
    double sum = 0.0;
    for (index_t c = 0; c < 23; ++c)
      sum += sr.at(r, c);
    if (sum > 1500.0) rows.push_back(r);
  }
  ASSERT_GT(rows.size(), 0u);
  ASSERT_LT(rows.size(), 37u);
  const Chunk mask = (s.sum(1) > 1500.0).compute();
  ASSERT_EQ(mask.shape(), (Shape{37, 1}));
  const Array y = s(Selector::mask(mask));
  EXPECT_TRUE(y.is_sparse());
  EXPECT_TRUE(values_equal(y.compute(), gather(sr, rows, test::iota(23))));
}

TEST(Selection, OfDerivedArrays) {
  const Array x = random(kShape, kIrregular, 10);
  const Ref xr = test::random_ref(10, kShape);
  // A selection of a reduction, of a transpose, and of a strided in-memory view.
  const Array sums = x.sum(1)(Selector::take({36, 0, 0, 17}));
  Ref expected(Shape{4, 1});
  const V picked = {36, 0, 0, 17};
  for (std::size_t k = 0; k < picked.size(); ++k) {
    for (index_t c = 0; c < 23; ++c)
      expected.at(static_cast<index_t>(k), 0) += xr.at(picked[k], c);
  }
  EXPECT_TRUE(test::values_near(sums.compute(), expected));
  const Array t = x.transpose()(Selector::slice(None, None, -4), Selector::take({1, -1}));
  Ref tr(Shape{23, 37});
  for (index_t r = 0; r < 37; ++r) {
    for (index_t c = 0; c < 23; ++c)
      tr.at(c, r) = xr.at(r, c);
  }
  EXPECT_TRUE(values_equal(t.compute(), gather(tr, python_slice(23, None, None, -4), {1, 36})));
  const Chunk big = test::chunk_of(test::arange_ref(Shape{20, 20}));
  const Array v = from_chunk(big.block(3, 17, 2, 19), ChunkSpec(4, 5));
  const V vr = python_slice(14, 12, 1, -3);
  const V vc = {16, 0, 3};
  V rows;
  V cols;
  for (index_t r : vr)
    rows.push_back(r + 3);
  for (index_t c : vc)
    cols.push_back(c + 2);
  EXPECT_TRUE(values_equal(v(Selector::slice(12, 1, -3), Selector::take(vc)).compute(),
                           gather(test::arange_ref(Shape{20, 20}), rows, cols)));
}

TEST(Selection, EmptyResultsHaveZeroRows) {
  const Array x = random(kShape, kRegular, 6);
  for (const Selector& s :
       {Selector::slice(5, 5), Selector::take({}), Selector::mask(std::vector<bool>(37, false)),
        Selector::slice(0, 10, -1)}) {
    const Array y = x(s);
    EXPECT_EQ(y.shape(), (Shape{0, 23}));
    EXPECT_EQ(y.compute().shape(), (Shape{0, 23}));
  }
  const Array s = from_chunk(test::chunk_of(sparse_ref(kShape)).to_csr(), kRegular);
  const Chunk e = s(Selector::slice(10, 3)).compute();
  EXPECT_TRUE(e.is_sparse());
  EXPECT_EQ(e.shape(), (Shape{0, 23}));
  EXPECT_EQ(e.nnz(), 0);
  const Chunk ec = s(Selector::all(), Selector::take({})).compute();
  EXPECT_EQ(ec.shape(), (Shape{37, 0}));
  EXPECT_EQ(ec.nnz(), 0);
}

TEST(Selection, TouchesOnlyTheChunksItNeeds) {
  // 20 row chunks; the first five rows need one source chunk.
  const Array x = random(Shape{100, 8}, ChunkSpec(5, 8), 7);
  LocalExecutor ex(1);
  const Chunk first = x(Selector::slice(0, 5)).compute(ex);
  EXPECT_TRUE(values_equal(
      first, gather(test::random_ref(7, Shape{100, 8}), test::iota(5), test::iota(8))));
  EXPECT_LT(ex.last_stats().tasks_run, 10);
  const Chunk two = x(Selector::take({97, 3})).compute(ex);
  EXPECT_TRUE(
      values_equal(two, gather(test::random_ref(7, Shape{100, 8}), {97, 3}, test::iota(8))));
  EXPECT_LT(ex.last_stats().tasks_run, 10);
}

TEST(Selection, BadSelectionsThrowTypedErrors) {
  const Array x = random(kShape, kRegular, 8);
  TESSERA_EXPECT_THROW_MENTIONING((void)x(Selector::take({0, 37})).compute(), IndexError, "37",
                                  "out of range", "bounds");
  TESSERA_EXPECT_THROW_MENTIONING((void)x(Selector::take({-38})).compute(), IndexError, "-38",
                                  "out of range", "bounds");
  TESSERA_EXPECT_THROW_MENTIONING((void)x(Selector::all(), Selector::take({23})).compute(),
                                  IndexError, "23", "out of range", "bounds");
  TESSERA_EXPECT_THROW_MENTIONING((void)x(Selector::mask(std::vector<bool>(36, true))).compute(),
                                  IndexError, "mask", "length");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)x(Selector::all(), Selector::mask(std::vector<bool>(37, true))).compute(), IndexError,
      "mask", "length");
  TESSERA_EXPECT_THROW_MENTIONING((void)x(Selector::slice(0, 10, 0)).compute(), ValueError, "step");
  TESSERA_EXPECT_THROW_MENTIONING((void)x.select(1, Selector::slice(None, None, 0)).compute(),
                                  ValueError, "step");
}

TEST(Selection, IdenticalForEveryThreadCount) {
  const Array x = random_sparse(kShape, kIrregular, 0.3, 9);
  const Array y = x(Selector::take({36, 0, 5, 5, -1}), Selector::slice(None, None, -3));
  LocalExecutor one(1);
  const Chunk reference = y.compute(one);
  for (int threads : {2, 4}) {
    LocalExecutor ex(threads);
    EXPECT_TRUE(identical(y.compute(ex), reference)) << threads;
  }
}

}  // namespace
}  // namespace tessera
