// Reductions (sum, mean, min, max, count_nonzero) along axis 0, 1 and all, on dense and CSR
// arrays with regular and irregular grids: kept dimensions, numpy's result dtypes, implicit zeros
// of sparse min/max, and bitwise determinism across thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/local_executor.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using test::Ref;
using test::values_equal;
using test::values_near;
using V = std::vector<index_t>;

constexpr Shape kShape{37, 23};
const ChunkSpec kRegular(5, 4);
const ChunkSpec kIrregular(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13});
constexpr ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::min, ReduceOp::max,
                             ReduceOp::count_nonzero};
const std::optional<int> kAxes[] = {0, 1, std::nullopt};

std::string axis_name(std::optional<int> axis) {
  return axis ? "axis " + std::to_string(*axis) : std::string("all");
}

// numpy's x.<op>(axis, keepdims=True) over a dense reference, with plain loops.
Ref reduce_ref(const Ref& in, ReduceOp op, std::optional<int> axis) {
  const Shape s = in.shape;
  const Shape out_shape = !axis ? Shape{1, 1} : (*axis == 0 ? Shape{1, s.cols} : Shape{s.rows, 1});
  Ref out(out_shape);
  for (index_t i = 0; i < out_shape.rows; ++i) {
    for (index_t j = 0; j < out_shape.cols; ++j) {
      // The input elements reduced into output (i, j).
      std::vector<double> group;
      for (index_t r = 0; r < s.rows; ++r) {
        for (index_t c = 0; c < s.cols; ++c) {
          const bool in_group = !axis || (*axis == 0 && c == j) || (*axis == 1 && r == i);
          if (in_group) group.push_back(in.at(r, c));
        }
      }
      double v = 0.0;
      switch (op) {
        case ReduceOp::sum:
          for (double g : group)
            v += g;
          break;
        case ReduceOp::mean:
          for (double g : group)
            v += g;
          v /= double(group.size());
          break;
        case ReduceOp::min:  // numpy propagates NaN
          v = group.empty() ? 0.0 : group[0];
          for (double g : group)
            v = std::isnan(v) || std::isnan(g) ? NAN : std::min(v, g);
          break;
        case ReduceOp::max:
          v = group.empty() ? 0.0 : group[0];
          for (double g : group)
            v = std::isnan(v) || std::isnan(g) ? NAN : std::max(v, g);
          break;
        case ReduceOp::count_nonzero:
          for (double g : group)
            v += g != 0.0 ? 1.0 : 0.0;
          break;
      }
      out.at(i, j) = v;
    }
  }
  return out;
}

// numpy's dtype of x.<op>() for an input dtype.
DType expected_dtype(ReduceOp op, DType in) {
  switch (op) {
    case ReduceOp::sum:
      if (in == DType::float32 || in == DType::float64) return in;
      return is_unsigned_int(in) ? DType::uint64 : DType::int64;
    case ReduceOp::mean:
      return in == DType::float32 ? DType::float32 : DType::float64;
    case ReduceOp::min:
    case ReduceOp::max:
      return in;
    case ReduceOp::count_nonzero:
      return DType::int64;
  }
  return in;
}

// Checks every op on every axis of `x` against the reference of its values `xr`. Float sums and
// means use a relative tolerance; integer results, min, max and count_nonzero are exact.
void check_all(const Array& x, const Ref& xr, const std::string& what, double float_tol = 1e-12) {
  for (ReduceOp op : kOps) {
    for (std::optional<int> axis : kAxes) {
      const std::string label = what + " " + std::string(name(op)) + " " + axis_name(axis);
      const Array y = x.reduce(op, axis);
      const Ref expected = reduce_ref(xr, op, axis);
      EXPECT_EQ(y.shape(), expected.shape) << label;
      EXPECT_EQ(y.dtype(), expected_dtype(op, x.dtype())) << label;
      const Chunk c = y.compute();
      EXPECT_EQ(c.dtype(), y.dtype()) << label;
      EXPECT_EQ(c.layout(), y.layout()) << label;
      const bool exact = op == ReduceOp::min || op == ReduceOp::max ||
                         op == ReduceOp::count_nonzero ||
                         (op == ReduceOp::sum && !is_float(x.dtype()));
      if (exact) {
        EXPECT_TRUE(values_equal(c, expected)) << label;
      } else {
        EXPECT_TRUE(values_near(c, expected, float_tol)) << label;
      }
    }
  }
}

// A sparse pattern with positive and negative values and empty rows and columns.
Ref sparse_ref(Shape shape, int salt) {
  return test::make_ref(shape, [&](index_t r, index_t c) {
    if (r % 7 == 3 || c % 5 == 2) return 0.0;  // empty rows and columns
    const index_t h = (r * 131 + c * 71 + salt * 17) % 11;
    return h < 4 ? (double(h) - 1.5) * 0.37 : 0.0;
  });
}

TEST(Reduce, DenseFloat64Regular) {
  check_all(random(kShape, kRegular, 1), test::random_ref(1, kShape), "dense regular");
}

TEST(Reduce, DenseFloat64Irregular) {
  check_all(random(kShape, kIrregular, 2) - 0.5,
            test::map_ref(test::random_ref(2, kShape), [](double v) { return v - 0.5; }),
            "dense irregular");
}

TEST(Reduce, SparseRegularAndIrregular) {
  const Ref sr = sparse_ref(kShape, 1);
  const Chunk csr = test::chunk_of(sr).to_csr();
  for (const ChunkSpec& spec : {kRegular, kIrregular, ChunkSpec(1, -1), ChunkSpec(-1, -1)}) {
    const Array x = from_chunk(csr, spec);
    ASSERT_TRUE(x.is_sparse());
    check_all(x, sr, "sparse " + x.chunks().to_string());
  }
}

TEST(Reduce, RandomSparse) {
  const Array x = random_sparse(kShape, kIrregular, 0.25, 3);
  check_all(x, test::raw_values(x.compute()), "random_sparse");
}

TEST(Reduce, Int32SumsToInt64MeanToFloat64) {
  const Ref ar = test::map_ref(test::arange_ref(kShape), [](double v) { return v - 400; });
  const Array a = from_chunk(test::chunk_of<std::int32_t>(ar), kRegular);
  ASSERT_EQ(a.dtype(), DType::int32);
  check_all(a, ar, "int32");
  check_all(arange(kShape, kIrregular, DType::int32), test::arange_ref(kShape), "arange int32");
  EXPECT_EQ(a.sum().dtype(), DType::int64);
  EXPECT_EQ(a.mean(0).dtype(), DType::float64);
  EXPECT_EQ(a.count_nonzero(1).dtype(), DType::int64);
  EXPECT_EQ(a.min(1).dtype(), DType::int32);
}

TEST(Reduce, Int32SumDoesNotOverflow) {
  // 37 * 23 elements of 2e9 would wrap around in int32.
  const Array a = full(kShape, 2.0e9, kIrregular, DType::int32);
  const Chunk total = a.sum().compute();
  EXPECT_EQ(total.dtype(), DType::int64);
  EXPECT_TRUE(values_equal(total, Ref(Shape{1, 1}, 2.0e9 * 37 * 23)));
  EXPECT_TRUE(values_equal(a.sum(0).compute(), Ref(Shape{1, 23}, 2.0e9 * 37)));
}

TEST(Reduce, Uint8AndBool) {
  const Ref ur =
      test::make_ref(kShape, [](index_t r, index_t c) { return double((r * 29 + c * 7) % 256); });
  const Array u = from_chunk(test::chunk_of<std::uint8_t>(ur), kIrregular);
  check_all(u, ur, "uint8");
  EXPECT_EQ(u.sum(0).dtype(), DType::uint64);

  const Array x = random(kShape, kRegular, 4);
  const Ref br =
      test::map_ref(test::random_ref(4, kShape), [](double v) { return double(v > 0.5); });
  const Array b = x > 0.5;
  ASSERT_EQ(b.dtype(), DType::boolean);
  check_all(b, br, "bool");
  EXPECT_EQ(b.sum().dtype(), DType::int64);
}

TEST(Reduce, Float32KeepsFloat32) {
  const Array f = random(kShape, kIrregular, 5, DType::float32);
  const Ref fr = test::raw_values(f.compute());
  // float32 accumulation: tolerance of float32 rounding.
  check_all(f, fr, "float32", 1e-5);
  EXPECT_EQ(f.sum().dtype(), DType::float32);
  EXPECT_EQ(f.mean(0).dtype(), DType::float32);
}

TEST(Reduce, KeepsDims) {
  const Array x = random(kShape, kRegular, 6);
  EXPECT_EQ(x.sum(0).shape(), (Shape{1, 23}));
  EXPECT_EQ(x.sum(1).shape(), (Shape{37, 1}));
  EXPECT_EQ(x.sum().shape(), (Shape{1, 1}));
  EXPECT_EQ(x.max(std::nullopt).shape(), (Shape{1, 1}));
  // The reduced axis is one chunk of 1; the other keeps the input's chunks.
  EXPECT_EQ(x.sum(0).chunks().sizes(1), x.chunks().sizes(1));
  EXPECT_EQ(x.sum(1).chunks().sizes(0), x.chunks().sizes(0));
  EXPECT_EQ(x.sum(0).chunks().sizes(0), (V{1}));
}

TEST(Reduce, SparseMinMaxCountImplicitZeros) {
  // [[1, 2, 3],
  //  [0, -1, 0],
  //  [0, 0, 0]]   rows 1 and 2 hold implicit zeros, row 0 has none.
  const Ref ref(Shape{3, 3}, {1, 2, 3, 0, -1, 0, 0, 0, 0});
  for (const ChunkSpec& spec : {ChunkSpec(2, 2), ChunkSpec(1, 1), ChunkSpec(-1, -1)}) {
    const Array x = from_csr<double>(Shape{3, 3}, {0, 3, 4, 4}, {0, 1, 2, 1}, {1, 2, 3, -1}, spec);
    const std::string what = x.chunks().to_string();
    EXPECT_TRUE(values_equal(x.min(1).compute(), Ref(Shape{3, 1}, {1, -1, 0}))) << what;
    EXPECT_TRUE(values_equal(x.max(1).compute(), Ref(Shape{3, 1}, {3, 0, 0}))) << what;
    EXPECT_TRUE(values_equal(x.min(0).compute(), Ref(Shape{1, 3}, {0, -1, 0}))) << what;
    EXPECT_TRUE(values_equal(x.max(0).compute(), Ref(Shape{1, 3}, {1, 2, 3}))) << what;
    EXPECT_TRUE(values_equal(x.min().compute(), Ref(Shape{1, 1}, -1.0))) << what;
    EXPECT_TRUE(values_equal(x.max().compute(), Ref(Shape{1, 1}, 3.0))) << what;
    EXPECT_TRUE(values_equal(x.count_nonzero(1).compute(), Ref(Shape{3, 1}, {3, 1, 0}))) << what;
    EXPECT_TRUE(values_equal(x.count_nonzero().compute(), Ref(Shape{1, 1}, 4.0))) << what;
    check_all(x, ref, "3x3 sparse " + what);
  }
}

TEST(Reduce, SparseFullyStoredHasNoImplicitZero) {
  // Every element stored and positive: min is 1, not 0.
  const Array x =
      from_csr<double>(Shape{2, 2}, {0, 2, 4}, {0, 1, 0, 1}, {1, 2, 3, 4}, ChunkSpec(1, 2));
  EXPECT_TRUE(values_equal(x.min().compute(), Ref(Shape{1, 1}, 1.0)));
  EXPECT_TRUE(values_equal(x.min(0).compute(), Ref(Shape{1, 2}, {1, 2})));
  EXPECT_TRUE(values_equal(x.min(1).compute(), Ref(Shape{2, 1}, {1, 3})));
  // All stored values negative with implicit zeros: max is 0.
  const Array n =
      from_csr<double>(Shape{2, 3}, {0, 2, 3}, {0, 2, 1}, {-1, -2, -3}, ChunkSpec(1, 3));
  EXPECT_TRUE(values_equal(n.max().compute(), Ref(Shape{1, 1}, 0.0)));
  EXPECT_TRUE(values_equal(n.max(1).compute(), Ref(Shape{2, 1}, {0, 0})));
  EXPECT_TRUE(values_equal(n.min(1).compute(), Ref(Shape{2, 1}, {-2, -3})));
}

TEST(Reduce, OneByOneAndOneRowChunks) {
  const Array one = random(Shape{1, 1}, ChunkSpec(1, 1), 7);
  check_all(one, test::random_ref(7, Shape{1, 1}), "1x1");
  const Array rows = random(kShape, ChunkSpec(1, -1), 8);
  check_all(rows, test::random_ref(8, kShape), "one-row chunks");
  const Array cols = random(kShape, ChunkSpec(-1, 1), 9);
  check_all(cols, test::random_ref(9, kShape), "one-column chunks");
}

TEST(Reduce, OfAnExpression) {
  const Array x = random(kShape, kIrregular, 10);
  const Ref xr = test::random_ref(10, kShape);
  const Ref yr = test::map_ref(xr, [](double v) { return v * 2.0 - 0.7; });
  check_all(x * 2.0 - 0.7, yr, "expression");
}

TEST(Reduce, EmptyRows) {
  const Array x = random(kShape, kRegular, 11);
  const Array e = x(Selector::slice(5, 5));
  ASSERT_EQ(e.shape(), (Shape{0, 23}));
  EXPECT_TRUE(values_equal(e.sum(0).compute(), Ref(Shape{1, 23}, 0.0)));
  EXPECT_TRUE(values_equal(e.count_nonzero(0).compute(), Ref(Shape{1, 23}, 0.0)));
  EXPECT_TRUE(values_equal(e.sum().compute(), Ref(Shape{1, 1}, 0.0)));
  EXPECT_EQ(e.sum(1).shape(), (Shape{0, 1}));
  EXPECT_EQ(e.sum(1).compute().shape(), (Shape{0, 1}));
}

// numpy's sum, mean, min and max propagate NaN; count_nonzero counts it.
TEST(Reduce, NaNPropagates) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Ref ref(Shape{3, 3}, {1, nan, 3, 4, 5, 6, 7, 8, nan});
  for (const ChunkSpec& spec : {ChunkSpec(2, 2), ChunkSpec(1, 1), ChunkSpec(-1, -1)}) {
    const Array x = from_chunk(test::chunk_of(ref), spec);
    for (ReduceOp op :
         {ReduceOp::sum, ReduceOp::mean, ReduceOp::min, ReduceOp::max, ReduceOp::count_nonzero}) {
      for (std::optional<int> axis : kAxes) {
        EXPECT_TRUE(values_near(x.reduce(op, axis).compute(), reduce_ref(ref, op, axis)))
            << name(op) << " " << axis_name(axis) << " " << x.chunks().to_string();
      }
    }
  }
  // Explicit checks so that the reference's own NaN handling is not trusted blindly.
  const Array x = from_chunk(test::chunk_of(ref), ChunkSpec(2, 2));
  EXPECT_TRUE(values_equal(x.min(0).compute(), Ref(Shape{1, 3}, {1, nan, nan})));
  EXPECT_TRUE(values_equal(x.max(1).compute(), Ref(Shape{3, 1}, {nan, 6, nan})));
  EXPECT_TRUE(values_equal(x.count_nonzero().compute(), Ref(Shape{1, 1}, 9.0)));
}

TEST(Reduce, ZeroSizeInputs) {
  const Array rows0 = zeros(Shape{0, 5}, ChunkSpec(3, 2));
  EXPECT_TRUE(values_equal(rows0.sum(0).compute(), Ref(Shape{1, 5}, 0.0)));
  EXPECT_TRUE(values_equal(rows0.count_nonzero().compute(), Ref(Shape{1, 1}, 0.0)));
  const Array cols0 = random(Shape{4, 0}, ChunkSpec(3, 2), 1);
  EXPECT_TRUE(values_equal(cols0.sum(1).compute(), Ref(Shape{4, 1}, 0.0)));
  EXPECT_EQ(cols0.sum(0).compute().shape(), (Shape{1, 0}));
}

TEST(Reduce, IdenticalForEveryThreadCount) {
  const Array x = random(kShape, kIrregular, 12);
  const Array s = random_sparse(kShape, kRegular, 0.3, 13);
  for (ReduceOp op : kOps) {
    for (std::optional<int> axis : kAxes) {
      for (const Array* in : {&x, &s}) {
        const Array y = in->reduce(op, axis);
        LocalExecutor one(1);
        const Chunk reference = y.compute(one);
        for (int threads : {2, 4}) {
          LocalExecutor ex(threads);
          EXPECT_TRUE(identical(y.compute(ex), reference))
              << name(op) << " " << axis_name(axis) << " " << threads << " threads";
        }
      }
    }
  }
}

TEST(Reduce, BadAxisThrows) {
  const Array x = random(kShape, kRegular, 14);
  EXPECT_THROW((void)x.sum(2), Error);
  EXPECT_THROW((void)x.reduce(ReduceOp::max, -3), Error);
}

TEST(Reduce, OpNames) {
  EXPECT_EQ(name(ReduceOp::sum), "sum");
  EXPECT_EQ(name(ReduceOp::mean), "mean");
  EXPECT_EQ(name(ReduceOp::min), "min");
  EXPECT_EQ(name(ReduceOp::max), "max");
  EXPECT_EQ(name(ReduceOp::count_nonzero), "count_nonzero");
}

}  // namespace
}  // namespace tessera
