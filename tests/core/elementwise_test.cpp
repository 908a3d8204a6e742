// Element-wise operations: unary functions, binary operations between arrays and with scalars on
// either side, comparisons (bool results), numpy type promotion, and which sparse results stay
// sparse (f(0) == 0) or densify. Every expected value is a plain loop over doubles.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/local_executor.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using test::map_ref;
using test::Ref;
using test::values_equal;
using test::values_near;
using test::zip_ref;
using V = std::vector<index_t>;

constexpr Shape kShape{37, 23};
const ChunkSpec kRegular(5, 4);
const ChunkSpec kIrregular(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13});

double sign_of(double v) {
  return v > 0 ? 1.0 : (v < 0 ? -1.0 : (v == 0 ? 0.0 : v));
}

Ref computed(const Array& a) {
  return test::raw_values(a.compute());
}

// A sparse pattern with positive and negative values, ~1/4 of the elements non-zero.
Ref sparse_ref(Shape shape, int salt) {
  return test::make_ref(shape, [salt](index_t r, index_t c) {
    const index_t h = (r * 131 + c * 71 + salt * 17) % 23;
    return h < 6 ? (double(h) - 2.5) * 0.37 + 0.01 * double(salt) : 0.0;
  });
}
Array sparse_array(Shape shape, const ChunkSpec& chunks, int salt) {
  return from_chunk(test::chunk_of(sparse_ref(shape, salt)).to_csr(), chunks);
}

struct UnaryCase {
  UnaryOp op;
  std::function<double(double)> f;
  double shift;  // the input is x - shift, so that some ops see negative values
};

std::vector<UnaryCase> unary_cases() {
  return {
      {UnaryOp::negative, [](double v) { return -v; }, 0.5},
      {UnaryOp::absolute, [](double v) { return std::abs(v); }, 0.5},
      {UnaryOp::sqrt, [](double v) { return std::sqrt(v); }, 0.0},
      {UnaryOp::square, [](double v) { return v * v; }, 0.5},
      {UnaryOp::exp, [](double v) { return std::exp(v); }, 0.5},
      {UnaryOp::expm1, [](double v) { return std::expm1(v); }, 0.5},
      {UnaryOp::log, [](double v) { return std::log(v); }, 0.0},
      {UnaryOp::log1p, [](double v) { return std::log1p(v); }, 0.5},
      {UnaryOp::sin, [](double v) { return std::sin(v); }, 0.5},
      {UnaryOp::cos, [](double v) { return std::cos(v); }, 0.5},
      {UnaryOp::tanh, [](double v) { return std::tanh(v); }, 0.5},
      {UnaryOp::sign, sign_of, 0.5},
  };
}

TEST(Unary, EveryFloatOpMatchesTheReference) {
  const Array x = random(kShape, kRegular, 1);
  const Ref xr = test::random_ref(1, kShape);
  for (const UnaryCase& u : unary_cases()) {
    const Array in = u.shift == 0.0 ? x : x - u.shift;
    const Array y = apply(u.op, in);
    EXPECT_EQ(y.shape(), kShape) << name(u.op);
    EXPECT_EQ(y.dtype(), DType::float64) << name(u.op);
    EXPECT_EQ(y.layout(), Layout::dense) << name(u.op);
    const double shift = u.shift;
    const auto f = u.f;
    EXPECT_TRUE(values_near(y.compute(), map_ref(xr, [&](double v) { return f(v - shift); })))
        << name(u.op);
  }
}

TEST(Unary, OperatorsAndHelpers) {
  const Array x = random(kShape, kIrregular, 2);
  const Ref xr = test::random_ref(2, kShape);
  EXPECT_TRUE(values_equal((-x).compute(), map_ref(xr, [](double v) { return -v; })));
  EXPECT_TRUE(values_equal(abs(x - 0.5).compute(),
                           map_ref(xr, [](double v) { return std::abs(v - 0.5); })));
  EXPECT_TRUE(values_near(sqrt(x).compute(), map_ref(xr, [](double v) { return std::sqrt(v); })));
  EXPECT_TRUE(values_near(exp(x).compute(), map_ref(xr, [](double v) { return std::exp(v); })));
  EXPECT_TRUE(values_near(expm1(x).compute(), map_ref(xr, [](double v) { return std::expm1(v); })));
  EXPECT_TRUE(values_near(log(x).compute(), map_ref(xr, [](double v) { return std::log(v); })));
  EXPECT_TRUE(values_near(log1p(x).compute(), map_ref(xr, [](double v) { return std::log1p(v); })));
}

TEST(Unary, LogicalNotGivesBool) {
  // numpy: logical_not(v) is v == 0, as bool.
  const Ref ar = test::make_ref(kShape, [](index_t r, index_t c) { return double((r + c) % 3); });
  const Array a = from_chunk(test::chunk_of<std::int32_t>(ar), kRegular);
  const Array y = apply(UnaryOp::logical_not, a);
  EXPECT_EQ(y.dtype(), DType::boolean);
  const Chunk c = y.compute();
  EXPECT_EQ(c.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(c, map_ref(ar, [](double v) { return v == 0 ? 1.0 : 0.0; })));
}

TEST(Unary, IntegerDtypes) {
  const Ref ar =
      test::make_ref(kShape, [](index_t r, index_t c) { return double(r * 23 + c) - 400; });
  const Array a = from_chunk(test::chunk_of<std::int32_t>(ar), kIrregular);
  // Integer-preserving ops keep int32.
  const Array neg = -a;
  EXPECT_EQ(neg.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(neg.compute(), map_ref(ar, [](double v) { return -v; })));
  const Array ab = abs(a);
  EXPECT_EQ(ab.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(ab.compute(), map_ref(ar, [](double v) { return std::abs(v); })));
  const Array sq = apply(UnaryOp::square, a);
  EXPECT_EQ(sq.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(sq.compute(), map_ref(ar, [](double v) { return v * v; })));
  const Array sg = apply(UnaryOp::sign, a);
  EXPECT_EQ(sg.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(sg.compute(), map_ref(ar, sign_of)));
  // Float functions of int32 compute in float64 (np.sqrt(int32) is float64).
  const Array rt = sqrt(abs(a));
  EXPECT_EQ(rt.dtype(), DType::float64);
  EXPECT_TRUE(
      values_near(rt.compute(), map_ref(ar, [](double v) { return std::sqrt(std::abs(v)); })));
  const Array ex = exp(a / 1000.0);
  EXPECT_EQ(ex.dtype(), DType::float64);
}

TEST(Unary, Float32StaysFloat32) {
  const Array f = random(kShape, kRegular, 3, DType::float32);
  const Ref fr = computed(f);
  const Array y = exp(f);
  EXPECT_EQ(y.dtype(), DType::float32);
  const Chunk c = y.compute();
  EXPECT_EQ(c.dtype(), DType::float32);
  EXPECT_TRUE(values_near(c, map_ref(fr, [](double v) { return std::exp(v); }), 1e-6));
}

struct BinaryCase {
  BinaryOp op;
  std::function<double(double, double)> f;
  bool is_bool;
};

std::vector<BinaryCase> float_binary_cases() {
  return {
      {BinaryOp::add, [](double a, double b) { return a + b; }, false},
      {BinaryOp::subtract, [](double a, double b) { return a - b; }, false},
      {BinaryOp::multiply, [](double a, double b) { return a * b; }, false},
      {BinaryOp::divide, [](double a, double b) { return a / b; }, false},
      {BinaryOp::power, [](double a, double b) { return std::pow(a, b); }, false},
      {BinaryOp::minimum, [](double a, double b) { return std::min(a, b); }, false},
      {BinaryOp::maximum, [](double a, double b) { return std::max(a, b); }, false},
      {BinaryOp::equal, [](double a, double b) { return double(a == b); }, true},
      {BinaryOp::not_equal, [](double a, double b) { return double(a != b); }, true},
      {BinaryOp::less, [](double a, double b) { return double(a < b); }, true},
      {BinaryOp::less_equal, [](double a, double b) { return double(a <= b); }, true},
      {BinaryOp::greater, [](double a, double b) { return double(a > b); }, true},
      {BinaryOp::greater_equal, [](double a, double b) { return double(a >= b); }, true},
      {BinaryOp::logical_and, [](double a, double b) { return double(a != 0 && b != 0); }, true},
      {BinaryOp::logical_or, [](double a, double b) { return double(a != 0 || b != 0); }, true},
  };
}

// Inputs with ties (so equal/less_equal see both answers) and zeros (for logical ops).
Ref tie_ref(int salt) {
  return test::make_ref(kShape, [salt](index_t r, index_t c) {
    return double((r * 3 + c * (salt + 1) + salt) % 7) * 0.25;
  });
}

TEST(Binary, ArrayArrayEveryOp) {
  const Ref ar = tie_ref(1);
  const Ref br = tie_ref(2);
  const Array a = from_chunk(test::chunk_of(ar), kRegular) + 0.5;
  const Array b = from_chunk(test::chunk_of(br), kRegular);
  const Ref a_in = map_ref(ar, [](double v) { return v + 0.5; });
  for (const BinaryCase& bc : float_binary_cases()) {
    const Array y = apply(bc.op, a, b);
    EXPECT_EQ(y.shape(), kShape);
    EXPECT_EQ(y.dtype(), bc.is_bool ? DType::boolean : DType::float64) << name(bc.op);
    const Chunk c = y.compute();
    EXPECT_EQ(c.dtype(), y.dtype()) << name(bc.op);
    EXPECT_TRUE(values_near(c, zip_ref(a_in, br, bc.f))) << name(bc.op);
  }
}

TEST(Binary, RandomArraysOperators) {
  const Array x = random(kShape, kRegular, 4);
  const Array y = random(kShape, kRegular, 5);
  const Ref xr = test::random_ref(4, kShape);
  const Ref yr = test::random_ref(5, kShape);
  EXPECT_TRUE(values_equal((x + y).compute(), zip_ref(xr, yr, std::plus<>())));
  EXPECT_TRUE(values_equal((x - y).compute(), zip_ref(xr, yr, std::minus<>())));
  EXPECT_TRUE(values_equal((x * y).compute(), zip_ref(xr, yr, std::multiplies<>())));
  EXPECT_TRUE(values_equal((x / y).compute(), zip_ref(xr, yr, std::divides<>())));
  EXPECT_TRUE(values_equal(minimum(x, y).compute(),
                           zip_ref(xr, yr, [](double a, double b) { return std::min(a, b); })));
  EXPECT_TRUE(values_equal(maximum(x, y).compute(),
                           zip_ref(xr, yr, [](double a, double b) { return std::max(a, b); })));
  EXPECT_TRUE(values_equal((x < y).compute(),
                           zip_ref(xr, yr, [](double a, double b) { return double(a < b); })));
  EXPECT_TRUE(values_equal((x >= y).compute(),
                           zip_ref(xr, yr, [](double a, double b) { return double(a >= b); })));
  EXPECT_TRUE(values_equal((x == x).compute(), Ref(kShape, 1.0)));
  EXPECT_TRUE(values_equal((x != x).compute(), Ref(kShape, 0.0)));
}

TEST(Binary, DifferentChunkingsOfTheSameShape) {
  const Array x = random(kShape, kRegular, 6);
  const Array y = random(kShape, kIrregular, 7);
  const Ref xr = test::random_ref(6, kShape);
  const Ref yr = test::random_ref(7, kShape);
  EXPECT_TRUE(values_equal((x - y).compute(), zip_ref(xr, yr, std::minus<>())));
  EXPECT_TRUE(values_equal((y * x).compute(), zip_ref(yr, xr, std::multiplies<>())));
  const Array rows = random(kShape, ChunkSpec(1, -1), 7);
  EXPECT_TRUE(values_equal((x + rows).compute(), zip_ref(xr, yr, std::plus<>())));
}

TEST(Binary, ArrayScalarAndScalarArray) {
  const Array x = random(kShape, kIrregular, 8);
  const Ref xr = test::random_ref(8, kShape);
  const double s = 0.3;
  auto m = [&](auto f) { return map_ref(xr, f); };
  EXPECT_TRUE(values_equal((x + s).compute(), m([&](double v) { return v + s; })));
  EXPECT_TRUE(values_equal((s + x).compute(), m([&](double v) { return s + v; })));
  EXPECT_TRUE(values_equal((x - s).compute(), m([&](double v) { return v - s; })));
  EXPECT_TRUE(values_equal((s - x).compute(), m([&](double v) { return s - v; })));
  EXPECT_TRUE(values_equal((x * s).compute(), m([&](double v) { return v * s; })));
  EXPECT_TRUE(values_equal((s * x).compute(), m([&](double v) { return s * v; })));
  EXPECT_TRUE(values_equal((x / s).compute(), m([&](double v) { return v / s; })));
  EXPECT_TRUE(values_equal((s / x).compute(), m([&](double v) { return s / v; })));
  EXPECT_TRUE(values_near(apply(BinaryOp::power, x, 2.0).compute(),
                          m([](double v) { return std::pow(v, 2.0); })));
  EXPECT_TRUE(values_near(apply(BinaryOp::power, 2.0, x).compute(),
                          m([](double v) { return std::pow(2.0, v); })));
  EXPECT_TRUE(values_equal(apply(BinaryOp::minimum, x, 0.5).compute(),
                           m([](double v) { return std::min(v, 0.5); })));
  EXPECT_TRUE(values_equal(apply(BinaryOp::maximum, 0.5, x).compute(),
                           m([](double v) { return std::max(0.5, v); })));
  // Comparisons keep the operand order: 0.5 < x is x > 0.5.
  const Array lt = x < 0.5;
  EXPECT_EQ(lt.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(lt.compute(), m([](double v) { return double(v < 0.5); })));
  const Array rlt = 0.5 < x;
  EXPECT_EQ(rlt.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(rlt.compute(), m([](double v) { return double(0.5 < v); })));
  EXPECT_TRUE(values_equal((0.5 >= x).compute(), m([](double v) { return double(0.5 >= v); })));
  EXPECT_TRUE(values_equal((x != 0.5).compute(), m([](double v) { return double(v != 0.5); })));
  EXPECT_TRUE(values_equal(apply(BinaryOp::subtract, 1.0, x).compute(),
                           m([](double v) { return 1.0 - v; })));
  EXPECT_TRUE(
      values_equal(apply(BinaryOp::divide, 1.0, x).compute(), m([](double v) { return 1.0 / v; })));
}

TEST(Binary, LogicalOpsOnBoolArrays) {
  const Array x = random(kShape, kRegular, 9);
  const Array y = random(kShape, kIrregular, 10);
  const Ref xr = test::random_ref(9, kShape);
  const Ref yr = test::random_ref(10, kShape);
  const Array a = apply(BinaryOp::logical_and, x > 0.3, y < 0.6);
  const Array o = apply(BinaryOp::logical_or, x > 0.7, y < 0.2);
  EXPECT_EQ(a.dtype(), DType::boolean);
  EXPECT_EQ(o.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(
      a.compute(), zip_ref(xr, yr, [](double p, double q) { return double(p > 0.3 && q < 0.6); })));
  EXPECT_TRUE(values_equal(
      o.compute(), zip_ref(xr, yr, [](double p, double q) { return double(p > 0.7 || q < 0.2); })));
  const Array n = apply(UnaryOp::logical_not, x > 0.3);
  EXPECT_EQ(n.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(n.compute(), map_ref(xr, [](double p) { return double(!(p > 0.3)); })));
}

TEST(Promotion, Int32PlusFloat32IsFloat64ComputedInFloat64) {
  const Array i = arange(kShape, kRegular, DType::int32);
  const Array f = random(kShape, kIrregular, 11, DType::float32);
  const Ref fr = computed(f);
  const Ref ir = test::arange_ref(kShape);
  const Array y = i + f;
  EXPECT_EQ(y.dtype(), DType::float64);
  const Chunk c = y.compute();
  EXPECT_EQ(c.dtype(), DType::float64);
  // int + float32 is exact in float64, so the comparison is exact.
  EXPECT_TRUE(values_equal(c, zip_ref(ir, fr, std::plus<>())));
  EXPECT_EQ((f + i).dtype(), DType::float64);
}

TEST(Promotion, Int8PlusInt16IsInt16) {
  const Ref ar =
      test::make_ref(kShape, [](index_t r, index_t c) { return double((r * 7 + c) % 251) - 125; });
  const Ref br =
      test::make_ref(kShape, [](index_t r, index_t c) { return double(r * 300 - c * 50); });
  const Array a = from_chunk(test::chunk_of<std::int8_t>(ar), kRegular);
  const Array b = from_chunk(test::chunk_of<std::int16_t>(br), kIrregular);
  const Array y = a + b;
  EXPECT_EQ(y.dtype(), DType::int16);
  const Chunk c = y.compute();
  EXPECT_EQ(c.dtype(), DType::int16);
  EXPECT_TRUE(values_equal(c, zip_ref(ar, br, std::plus<>())));
}

TEST(Promotion, Uint8PlusInt8IsInt16WithoutWrapAround) {
  const Ref ar =
      test::make_ref(kShape, [](index_t r, index_t c) { return double(200 + (r + c) % 56); });
  const Ref br =
      test::make_ref(kShape, [](index_t r, index_t c) { return double((r * 5 + c) % 200) - 100; });
  const Array a = from_chunk(test::chunk_of<std::uint8_t>(ar), kRegular);
  const Array b = from_chunk(test::chunk_of<std::int8_t>(br), kRegular);
  const Array y = a + b;
  EXPECT_EQ(y.dtype(), DType::int16);
  EXPECT_TRUE(values_equal(y.compute(), zip_ref(ar, br, std::plus<>())));  // up to 354
  const Array d = b - a;
  EXPECT_EQ(d.dtype(), DType::int16);
  EXPECT_TRUE(values_equal(d.compute(), zip_ref(br, ar, std::minus<>())));  // down to -355
}

// The scalar operand is a C++ double, i.e. a Python float: numpy gives float64 for an integer
// array with any float scalar, integral-valued or not (np.int32 array * 2.0 is float64).
TEST(Promotion, IntArrayWithIntegralValuedFloatScalarIsFloat64) {
  const Array i = arange(kShape, kRegular, DType::int32);
  const Ref ir = test::arange_ref(kShape);
  EXPECT_EQ((i * 2.0).dtype(), DType::float64);
  EXPECT_EQ((i + 1.0).dtype(), DType::float64);
  EXPECT_EQ((3.0 - i).dtype(), DType::float64);
  EXPECT_EQ((i * 2.0).compute().dtype(), DType::float64);
  EXPECT_TRUE(values_equal((i + 1.0).compute(), map_ref(ir, [](double v) { return v + 1.0; })));
  const Array h = arange(kShape, kRegular, DType::int16);
  EXPECT_EQ((h * 300.0).dtype(), DType::float64);
}

TEST(Promotion, ScalarsAndTrueDivision) {
  const Array i = arange(kShape, kRegular, DType::int32);
  const Ref ir = test::arange_ref(kShape);
  // numpy: int32 array * Python float is float64; float32 array * Python float stays float32.
  const Array d = i * 2.5;
  EXPECT_EQ(d.dtype(), DType::float64);
  EXPECT_TRUE(values_equal(d.compute(), map_ref(ir, [](double v) { return v * 2.5; })));
  EXPECT_EQ((2.5 * i).dtype(), DType::float64);
  const Array f = random(kShape, kRegular, 12, DType::float32);
  EXPECT_EQ((f * 2.0).dtype(), DType::float32);
  EXPECT_EQ((1.0 - f).dtype(), DType::float32);
  // int32 / int32 is true division in float64.
  const Array q = i / full(kShape, 4.0, kIrregular, DType::int32);
  EXPECT_EQ(q.dtype(), DType::float64);
  EXPECT_TRUE(values_equal(q.compute(), map_ref(ir, [](double v) { return v / 4.0; })));
  // Comparisons of ints with a float scalar compare the values, not truncated ones.
  const Array cmp = i < 100.5;
  EXPECT_EQ(cmp.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(cmp.compute(), map_ref(ir, [](double v) { return double(v < 100.5); })));
  // float32 with float64 is float64.
  EXPECT_EQ((f + random(kShape, kRegular, 13)).dtype(), DType::float64);
}

TEST(Sparse, MultiplyDivideAndZeroPreservingFunctionsStaySparse) {
  const Array s = sparse_array(kShape, kRegular, 1);
  const Ref sr = sparse_ref(kShape, 1);
  struct Case {
    const char* what;
    Array y;
    std::function<double(double)> f;
  };
  const Array pos = abs(s);
  const std::vector<Case> cases = {
      {"x * 2.0", s * 2.0, [](double v) { return v * 2.0; }},
      {"2.0 * x", 2.0 * s, [](double v) { return 2.0 * v; }},
      {"x / 4.0", s / 4.0, [](double v) { return v / 4.0; }},
      {"log1p(x)", log1p(s), [](double v) { return std::log1p(v); }},
      {"expm1(x)", expm1(s), [](double v) { return std::expm1(v); }},
      {"sqrt(abs(x))", sqrt(pos), [](double v) { return std::sqrt(std::abs(v)); }},
      {"abs(x)", pos, [](double v) { return std::abs(v); }},
      {"-x", -s, [](double v) { return -v; }},
      {"sin(x)", apply(UnaryOp::sin, s), [](double v) { return std::sin(v); }},
      {"tanh(x)", apply(UnaryOp::tanh, s), [](double v) { return std::tanh(v); }},
      {"square(x)", apply(UnaryOp::square, s), [](double v) { return v * v; }},
      {"sign(x)", apply(UnaryOp::sign, s), sign_of},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(c.y.is_sparse()) << c.what;
    const Chunk out = c.y.compute();
    EXPECT_TRUE(out.is_sparse()) << c.what;
    if (out.is_sparse()) {
      EXPECT_TRUE(test::canonical_csr(out)) << c.what;
    }
    EXPECT_TRUE(values_near(out, map_ref(sr, c.f))) << c.what;
  }
}

TEST(Sparse, NonZeroAtZeroDensifies) {
  const Array s = sparse_array(kShape, kIrregular, 2);
  const Ref sr = sparse_ref(kShape, 2);
  struct Case {
    const char* what;
    Array y;
    std::function<double(double)> f;
  };
  const std::vector<Case> cases = {
      {"x + 1.0", s + 1.0, [](double v) { return v + 1.0; }},
      {"1.0 - x", 1.0 - s, [](double v) { return 1.0 - v; }},
      {"exp(x)", exp(s), [](double v) { return std::exp(v); }},
      {"cos(x)", apply(UnaryOp::cos, s), [](double v) { return std::cos(v); }},
      {"x <= 0.5", s <= 0.5, [](double v) { return double(v <= 0.5); }},
      {"x == 0", s == 0.0, [](double v) { return double(v == 0.0); }},
      {"logical_not(x)", apply(UnaryOp::logical_not, s), [](double v) { return double(v == 0); }},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(c.y.is_sparse()) << c.what;
    const Chunk out = c.y.compute();
    EXPECT_EQ(out.layout(), Layout::dense) << c.what;
    EXPECT_TRUE(values_near(out, map_ref(sr, c.f))) << c.what;
  }
}

TEST(Sparse, ComparisonsFalseAtZeroAreCorrect) {
  const Array s = sparse_array(kShape, kRegular, 3);
  const Ref sr = sparse_ref(kShape, 3);
  const Array y = s > 0.1;
  EXPECT_EQ(y.dtype(), DType::boolean);
  EXPECT_TRUE(values_equal(y.compute(), map_ref(sr, [](double v) { return double(v > 0.1); })));
}

TEST(Sparse, SparseSparseBinaryOps) {
  const Array a = sparse_array(kShape, kRegular, 4);
  const Array b = sparse_array(kShape, kRegular, 5);
  const Ref ar = sparse_ref(kShape, 4);
  const Ref br = sparse_ref(kShape, 5);
  enum class Expect { sparse, dense, either };
  struct Case {
    const char* what;
    Array y;
    std::function<double(double, double)> f;
    Expect layout;
  };
  const std::vector<Case> cases = {
      {"a + b", a + b, std::plus<>(), Expect::sparse},
      {"a - b", a - b, std::minus<>(), Expect::sparse},
      {"a * b", a * b, std::multiplies<>(), Expect::sparse},
      {"minimum", minimum(a, b), [](double p, double q) { return std::min(p, q); }, Expect::sparse},
      {"maximum", maximum(a, b), [](double p, double q) { return std::max(p, q); }, Expect::sparse},
      // Other binary operations between two sparse arrays densify (0 / 0 is NaN, 0 == 0 true).
      {"a / b", a / b, std::divides<>(), Expect::dense},
      {"a == b", a == b, [](double p, double q) { return double(p == q); }, Expect::dense},
      {"a > b", a > b, [](double p, double q) { return double(p > q); }, Expect::either},
  };
  for (const Case& c : cases) {
    if (c.layout != Expect::either) {
      EXPECT_EQ(c.y.is_sparse(), c.layout == Expect::sparse) << c.what;
    }
    const Chunk out = c.y.compute();
    EXPECT_EQ(out.layout(), c.y.layout()) << c.what;
    if (out.is_sparse()) {
      EXPECT_TRUE(test::canonical_csr(out)) << c.what;
    }
    EXPECT_TRUE(values_near(out, zip_ref(ar, br, c.f))) << c.what;
  }
}

TEST(Sparse, MixingDenseAndSparseDensifies) {
  const Array s = sparse_array(kShape, kRegular, 6);
  const Array d = random(kShape, kRegular, 14);
  const Ref sr = sparse_ref(kShape, 6);
  const Ref dr = test::random_ref(14, kShape);
  const Array sum = s + d;
  EXPECT_FALSE(sum.is_sparse());
  EXPECT_TRUE(values_equal(sum.compute(), zip_ref(sr, dr, std::plus<>())));
  const Array prod = d * s;
  EXPECT_FALSE(prod.is_sparse());
  EXPECT_TRUE(values_equal(prod.compute(), zip_ref(dr, sr, std::multiplies<>())));
}

TEST(Sparse, DifferentChunkingsAndIntegerSparse) {
  const Array a = sparse_array(kShape, kRegular, 7);
  const Array b = sparse_array(kShape, kIrregular, 8);
  EXPECT_TRUE(values_equal((a + b).compute(),
                           zip_ref(sparse_ref(kShape, 7), sparse_ref(kShape, 8), std::plus<>())));
}

TEST(Sparse, IntegerSparseTimesAFloatScalar) {
  const Ref ir = map_ref(sparse_ref(kShape, 9), [](double v) { return std::trunc(v * 10); });
  const Array i = from_chunk(test::chunk_of<std::int32_t>(ir).to_csr(), kIrregular);
  for (double s : {2.5, 2.0}) {
    const Array y = i * s;
    EXPECT_TRUE(y.is_sparse()) << s;
    EXPECT_EQ(y.dtype(), DType::float64) << "int32 * " << s << " is float64 in numpy";
    EXPECT_TRUE(values_equal(y.compute(), map_ref(ir, [s](double v) { return v * s; }))) << s;
  }
}

TEST(EdgeShapes, OneByOneAndOneRowChunks) {
  const Array a = random(Shape{1, 1}, ChunkSpec(1, 1), 15);
  const Array b = random(Shape{1, 1}, ChunkSpec(1, 1), 16);
  const double av = random_value(15, Shape{1, 1}, 0, 0);
  const double bv = random_value(16, Shape{1, 1}, 0, 0);
  EXPECT_TRUE(values_equal((a * b + 1.0).compute(), Ref(Shape{1, 1}, av * bv + 1.0)));
  EXPECT_TRUE(values_near(sqrt(a).compute(), Ref(Shape{1, 1}, std::sqrt(av))));

  const Array r = random(kShape, ChunkSpec(1, -1), 17);
  const Ref rr = test::random_ref(17, kShape);
  EXPECT_TRUE(values_near(exp(r * 2.0 - 1.0).compute(),
                          map_ref(rr, [](double v) { return std::exp(v * 2.0 - 1.0); })));
}

// numpy: minimum and maximum propagate NaN from either side; comparisons with NaN are false
// except !=.
TEST(NaN, MinimumMaximumPropagateAndComparisonsAreFalse) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Ref ar(Shape{1, 4}, {nan, 1.0, nan, 2.0});
  const Ref br(Shape{1, 4}, {1.0, nan, nan, 3.0});
  const Array a = from_chunk(test::chunk_of(ar), ChunkSpec(1, 2));
  const Array b = from_chunk(test::chunk_of(br), ChunkSpec(1, 2));
  EXPECT_TRUE(values_equal(minimum(a, b).compute(), Ref(Shape{1, 4}, {nan, nan, nan, 2.0})));
  EXPECT_TRUE(values_equal(maximum(a, b).compute(), Ref(Shape{1, 4}, {nan, nan, nan, 3.0})));
  EXPECT_TRUE(values_equal(apply(BinaryOp::minimum, a, 1.5).compute(),
                           Ref(Shape{1, 4}, {nan, 1.0, nan, 1.5})));
  EXPECT_TRUE(values_equal(apply(BinaryOp::maximum, 1.5, a).compute(),
                           Ref(Shape{1, 4}, {nan, 1.5, nan, 2.0})));
  EXPECT_TRUE(values_equal((a < b).compute(), Ref(Shape{1, 4}, {0, 0, 0, 1})));
  EXPECT_TRUE(values_equal((a == a).compute(), Ref(Shape{1, 4}, {0, 1, 0, 1})));
  EXPECT_TRUE(values_equal((a != a).compute(), Ref(Shape{1, 4}, {1, 0, 1, 0})));
  EXPECT_TRUE(values_equal(apply(UnaryOp::sign, a).compute(), Ref(Shape{1, 4}, {nan, 1, nan, 1})));
}

TEST(Integers, WrapAroundLikeNumpy) {
  // numpy: np.int8(100) + np.int8(100) == -56 (same-type integer arithmetic wraps).
  const Array a = from_chunk(test::chunk_of<std::int8_t>(Ref(Shape{2, 2}, {100, -100, 127, 5})),
                             ChunkSpec(1, 2));
  const Array y = a + a;
  EXPECT_EQ(y.dtype(), DType::int8);
  EXPECT_TRUE(values_equal(y.compute(), Ref(Shape{2, 2}, {-56, 56, -2, 10})));
}

TEST(Integers, PowerOfIntArraysStaysInteger) {
  const Ref ar = test::make_ref(kShape, [](index_t r, index_t c) { return double((r + c) % 9); });
  const Array a = from_chunk(test::chunk_of<std::int32_t>(ar), kRegular);
  const Array two = full(kShape, 3.0, kIrregular, DType::int32);
  const Array y = apply(BinaryOp::power, a, two);
  EXPECT_EQ(y.dtype(), DType::int32);
  EXPECT_TRUE(values_equal(y.compute(), map_ref(ar, [](double v) { return v * v * v; })));
  // Integer division by zero is true division: inf and nan, as numpy.
  const Array q = a / full(kShape, 0.0, kRegular, DType::int32);
  EXPECT_EQ(q.dtype(), DType::float64);
  EXPECT_TRUE(values_equal(q.compute(), map_ref(ar, [](double v) { return v / 0.0; })));
}

TEST(EdgeShapes, StridedInMemoryViewsAndRepeatedOperands) {
  // Kernels must honour the leading dimension of a strided view.
  const Ref full = test::make_ref(Shape{20, 30}, [](index_t r, index_t c) { return r * 0.5 - c; });
  const Chunk big = test::chunk_of(full);
  const Array v = from_chunk(big.block(3, 17, 5, 26), ChunkSpec(4, 6));
  const Ref vr =
      test::gather(full, {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
                   {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25});
  EXPECT_TRUE(
      values_equal((v * 2.0 + 1.0).compute(), map_ref(vr, [](double x) { return x * 2.0 + 1.0; })));
  EXPECT_TRUE(values_equal((v - v * v).compute(), map_ref(vr, [](double x) { return x - x * x; })));
  EXPECT_TRUE(values_equal(v.tocsr().compute(), vr));
  // The same intermediate used twice by one task, and by two branches.
  const Array x = random(kShape, kIrregular, 20);
  const Ref xr = test::random_ref(20, kShape);
  const Array twice = x * 2.0;
  EXPECT_TRUE(values_equal((twice + twice).compute(),
                           map_ref(xr, [](double a) { return a * 2.0 + a * 2.0; })));
  EXPECT_TRUE(values_equal((twice - x + twice * x).compute(),
                           map_ref(xr, [](double a) { return a * 2.0 - a + a * 2.0 * a; })));
}

TEST(Errors, ShapeMismatchThrowsShapeError) {
  const Array a = random(kShape, kRegular, 1);
  const Array b = random(Shape{37, 22}, kRegular, 2);
  TESSERA_EXPECT_THROW_MENTIONING((void)(a + b), ShapeError, "(37, 23)", "(37, 22)", "shape");
  TESSERA_EXPECT_THROW_MENTIONING((void)apply(BinaryOp::less, b, a), ShapeError, "(37, 23)",
                                  "(37, 22)", "shape");
  const Array c = random(Shape{23, 37}, kRegular, 3);
  TESSERA_EXPECT_THROW_MENTIONING((void)(a * c), ShapeError, "(37, 23)", "(23, 37)", "shape");
}

TEST(Determinism, ElementwiseIdenticalForThreadCounts) {
  const Array y = exp(random(kShape, kIrregular, 18) * 3.0) - random(kShape, kRegular, 19);
  LocalExecutor one(1);
  const Chunk reference = y.compute(one);
  for (int threads : {2, 4}) {
    LocalExecutor ex(threads);
    EXPECT_TRUE(identical(y.compute(ex), reference)) << threads;
  }
}

}  // namespace
}  // namespace tessera
