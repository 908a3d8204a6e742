// DType names, sizes, kinds and numpy's promotion rules. The expected tables were produced by
// numpy 1.24 (np.result_type, np.sum(...).dtype) and are written out here literally.
#include "tessera/core/dtype.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

#include "test_util.hpp"

namespace tessera {
namespace {

using D = DType;
constexpr std::array<DType, kDTypeCount> kAll = {
    D::boolean, D::int8,   D::int16,  D::int32,   D::int64,   D::uint8,
    D::uint16,  D::uint32, D::uint64, D::float32, D::float64,
};

TEST(DType, NamesAreNumpys) {
  const std::array<const char*, kDTypeCount> names = {
      "bool",   "int8",   "int16",  "int32",   "int64",   "uint8",
      "uint16", "uint32", "uint64", "float32", "float64",
  };
  for (int i = 0; i < kDTypeCount; ++i) {
    EXPECT_EQ(name(kAll[i]), names[i]);
    EXPECT_EQ(dtype_from_name(names[i]), kAll[i]) << names[i];
  }
}

TEST(DType, UnknownNameThrowsValueErrorNamingTheText) {
  TESSERA_EXPECT_THROW_MENTIONING((void)dtype_from_name("float128"), ValueError, "float128");
  TESSERA_EXPECT_THROW_MENTIONING((void)dtype_from_name(""), ValueError, "dtype", "type");
  EXPECT_THROW((void)dtype_from_name("Float64"), ValueError);
}

TEST(DType, ItemSizes) {
  const std::array<std::size_t, kDTypeCount> sizes = {1, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8};
  for (int i = 0; i < kDTypeCount; ++i)
    EXPECT_EQ(itemsize(kAll[i]), sizes[i]) << name(kAll[i]);
}

TEST(DType, Kinds) {
  for (DType d : kAll) {
    const bool f = d == D::float32 || d == D::float64;
    const bool s = d == D::int8 || d == D::int16 || d == D::int32 || d == D::int64;
    const bool u = d == D::uint8 || d == D::uint16 || d == D::uint32 || d == D::uint64;
    EXPECT_EQ(is_float(d), f) << name(d);
    EXPECT_EQ(is_signed_int(d), s) << name(d);
    EXPECT_EQ(is_unsigned_int(d), u) << name(d);
    EXPECT_EQ(is_integer(d), s || u) << name(d);
  }
}

TEST(DType, PromoteMatchesNumpyResultType) {
  // Rows and columns in kAll order; np.result_type(row, col).
  const char* table[kDTypeCount][kDTypeCount] = {
      {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32",
       "float64"},
      {"int8", "int8", "int16", "int32", "int64", "int16", "int32", "int64", "float64", "float32",
       "float64"},
      {"int16", "int16", "int16", "int32", "int64", "int16", "int32", "int64", "float64", "float32",
       "float64"},
      {"int32", "int32", "int32", "int32", "int64", "int32", "int32", "int64", "float64", "float64",
       "float64"},
      {"int64", "int64", "int64", "int64", "int64", "int64", "int64", "int64", "float64", "float64",
       "float64"},
      {"uint8", "int16", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
       "float32", "float64"},
      {"uint16", "int32", "int32", "int32", "int64", "uint16", "uint16", "uint32", "uint64",
       "float32", "float64"},
      {"uint32", "int64", "int64", "int64", "int64", "uint32", "uint32", "uint32", "uint64",
       "float64", "float64"},
      {"uint64", "float64", "float64", "float64", "float64", "uint64", "uint64", "uint64", "uint64",
       "float64", "float64"},
      {"float32", "float32", "float32", "float64", "float64", "float32", "float32", "float64",
       "float64", "float32", "float64"},
      {"float64", "float64", "float64", "float64", "float64", "float64", "float64", "float64",
       "float64", "float64", "float64"},
  };
  for (int i = 0; i < kDTypeCount; ++i) {
    for (int j = 0; j < kDTypeCount; ++j) {
      EXPECT_EQ(name(promote(kAll[i], kAll[j])), table[i][j])
          << name(kAll[i]) << " + " << name(kAll[j]);
    }
  }
}

TEST(DType, PromoteExamplesFromTheIssue) {
  EXPECT_EQ(promote(D::int32, D::float32), D::float64);
  EXPECT_EQ(promote(D::int8, D::int16), D::int16);
  EXPECT_EQ(promote(D::uint8, D::int8), D::int16);
  EXPECT_EQ(promote(D::int8, D::uint8), D::int16);
}

TEST(DType, FloatResult) {
  // np.sqrt's result type; numpy's float16 results (bool, int8, uint8) have no Tessera dtype,
  // so only "some float" is required for those.
  EXPECT_EQ(float_result(D::int16), D::float32);
  EXPECT_EQ(float_result(D::uint16), D::float32);
  EXPECT_EQ(float_result(D::int32), D::float64);
  EXPECT_EQ(float_result(D::uint32), D::float64);
  EXPECT_EQ(float_result(D::int64), D::float64);
  EXPECT_EQ(float_result(D::uint64), D::float64);
  EXPECT_EQ(float_result(D::float32), D::float32);
  EXPECT_EQ(float_result(D::float64), D::float64);
  for (DType d : kAll)
    EXPECT_TRUE(is_float(float_result(d))) << name(d);
}

TEST(DType, SumResult) {
  const std::array<DType, kDTypeCount> expected = {
      D::int64,  D::int64,  D::int64,  D::int64,   D::int64,   D::uint64,
      D::uint64, D::uint64, D::uint64, D::float32, D::float64,
  };
  for (int i = 0; i < kDTypeCount; ++i) {
    EXPECT_EQ(sum_result(kAll[i]), expected[i]) << name(kAll[i]);
  }
}

TEST(DType, DispatchGivesTheCxxType) {
  for (DType d : kAll) {
    const std::size_t size = dispatch(d, [](auto tag) {
      using T = typename decltype(tag)::type;
      return sizeof(T);
    });
    const DType back = dispatch(d, [](auto tag) {
      using T = typename decltype(tag)::type;
      return dtype_of<T>;
    });
    EXPECT_EQ(size, itemsize(d)) << name(d);
    EXPECT_EQ(back, d) << name(d);
  }
  EXPECT_EQ(dtype_of<bool>, D::boolean);
  EXPECT_EQ(dtype_of<std::uint16_t>, D::uint16);
  EXPECT_EQ(dtype_of<float>, D::float32);
}

TEST(Shape, ToStringLikeNumpy) {
  EXPECT_EQ(to_string(Shape{37, 23}), "(37, 23)");
  EXPECT_EQ(to_string(Shape{0, 5}), "(0, 5)");
  EXPECT_EQ((Shape{3, 4}).size(), 12);
  EXPECT_EQ((Shape{3, 4})[0], 3);
  EXPECT_EQ((Shape{3, 4})[1], 4);
}

}  // namespace
}  // namespace tessera
