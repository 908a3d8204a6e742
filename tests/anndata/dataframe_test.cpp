// Column and DataFrame: columns of every kind (numeric of several dtypes, bool, string,
// categorical ordered/unordered with missing = code -1, nullable integer and bool), text as Python
// prints it, equality masks, take, missing_like, Column::concat (promotion, categorical category
// unions, missing values); DataFrame index, columns, shape and name errors, take, positions,
// make_index_unique as anndata's (checked against anndata 0.8 by hand: a, a, a-1, a, b, b ->
// a, a-2, a-1, a-3, b, b-1). Values are read from the columns' raw storage and compared with
// hand-written expectations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "anndata_test_util.hpp"
#include "tessera/anndata/dataframe.hpp"

namespace tessera {
namespace {

using test::column_numbers;
using test::Names;
using D = std::vector<double>;
using Opt = std::optional<std::string>;
using Bools = std::vector<bool>;
const double kNaN = std::nan("");

bool same_numbers(const D& a, const D& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!test::same_value(a[i], b[i])) return false;
  }
  return true;
}

Names texts(const Column& c) {
  Names out;
  for (index_t i = 0; i < c.size(); ++i)
    out.push_back(c.text_at(i));
  return out;
}

Names category_names(const Column& c) {
  return c.categories().string_values();
}

// ---- numeric and bool columns ---------------------------------------------------------------

template <typename T>
void check_numeric_column(DType dtype) {
  SCOPED_TRACE(std::string(name(dtype)));
  const std::vector<T> values{T(1), T(0), T(7), T(3)};
  const Column c = Column::from(values);
  EXPECT_EQ(c.kind(), ColumnKind::numeric);
  EXPECT_EQ(c.dtype(), dtype);
  EXPECT_EQ(c.size(), 4);
  EXPECT_EQ(c.values().shape(), (Shape{4, 1}));
  EXPECT_TRUE(same_numbers(column_numbers(c), D{1, 0, 7, 3}));
  for (index_t i = 0; i < 4; ++i) {
    EXPECT_EQ(c.number_at(i), double(values[static_cast<std::size_t>(i)]));
    EXPECT_FALSE(c.is_missing(i));
  }
}

TEST(Column, NumericColumnsOfEveryDtypeKeepDtypeAndValues) {
  check_numeric_column<std::int8_t>(DType::int8);
  check_numeric_column<std::int16_t>(DType::int16);
  check_numeric_column<std::int32_t>(DType::int32);
  check_numeric_column<std::int64_t>(DType::int64);
  check_numeric_column<std::uint8_t>(DType::uint8);
  check_numeric_column<std::uint16_t>(DType::uint16);
  check_numeric_column<std::uint32_t>(DType::uint32);
  check_numeric_column<std::uint64_t>(DType::uint64);
  check_numeric_column<float>(DType::float32);
  check_numeric_column<double>(DType::float64);
}

TEST(Column, ValuesAcceptsARowOrAColumnChunkAndRefuses2D) {
  const Column across = Column::values(Chunk::from_values<double>({1, 3}, {1.5, 2.5, 3.5}));
  EXPECT_EQ(across.size(), 3);
  EXPECT_TRUE(same_numbers(column_numbers(across), D{1.5, 2.5, 3.5}));
  const Column down = Column::values(Chunk::from_values<std::int32_t>({3, 1}, {4, 5, 6}));
  EXPECT_TRUE(same_numbers(column_numbers(down), D{4, 5, 6}));
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::values(Chunk::from_values<double>({2, 2}, {1, 2, 3, 4})), ShapeError, "(2, 2)",
      "one-dimensional");
}

TEST(Column, NaNIsMissingInAFloatColumn) {
  const Column c = Column::from(D{1.0, kNaN, 3.0});
  EXPECT_FALSE(c.is_missing(0));
  EXPECT_TRUE(c.is_missing(1));
  EXPECT_TRUE(std::isnan(c.number_at(1)));
  EXPECT_EQ(c.text_at(1), "nan");
}

TEST(Column, BoolColumn) {
  const Column c = Column::from(Bools{true, false, true});
  EXPECT_EQ(c.kind(), ColumnKind::boolean);
  EXPECT_EQ(c.dtype(), DType::boolean);
  EXPECT_TRUE(same_numbers(column_numbers(c), D{1, 0, 1}));
  EXPECT_EQ(texts(c), (Names{"True", "False", "True"}));
}

// Python's str() of numpy scalars, written out by hand (checked with numpy 1.24).
TEST(Column, FloatTextIsPythonsRepr) {
  const D values{0.5,  2.0,  -0.0, 0.1,   1.0 / 3.0, 123.456, 1e16,
                 1e22, 1e-5, 10.0, 100.0, 1e15,      2.5e-7,  1.5e300};
  const Names expected{
      "0.5",   "2.0",   "-0.0", "0.1",   "0.3333333333333333", "123.456", "1e+16",
      "1e+22", "1e-05", "10.0", "100.0", "1000000000000000.0", "2.5e-07", "1.5e+300"};
  const Column c = Column::from(values);
  EXPECT_EQ(texts(c), expected);
}

TEST(Column, IntegerTextIsExactEvenBeyondDoublePrecision) {
  const Column small = Column::from(std::vector<std::int8_t>{-5, 0, 127});
  EXPECT_EQ(texts(small), (Names{"-5", "0", "127"}));
  const Column big = Column::from(std::vector<std::int64_t>{
      std::numeric_limits<std::int64_t>::max(), std::int64_t{9007199254740993},
      std::numeric_limits<std::int64_t>::min()});
  EXPECT_EQ(texts(big), (Names{"9223372036854775807", "9007199254740993", "-9223372036854775808"}));
  const Column ubig =
      Column::from(std::vector<std::uint64_t>{std::numeric_limits<std::uint64_t>::max()});
  EXPECT_EQ(texts(ubig), (Names{"18446744073709551615"}));
}

// ---- strings and categoricals -----------------------------------------------------------------

TEST(Column, StringColumn) {
  const Column c = Column::strings({"b", "größe", ""});
  EXPECT_EQ(c.kind(), ColumnKind::string);
  EXPECT_EQ(c.size(), 3);
  EXPECT_EQ(c.string_values(), (Names{"b", "größe", ""}));
  EXPECT_EQ(texts(c), (Names{"b", "größe", ""}));
  EXPECT_FALSE(c.is_missing(2));
  TESSERA_EXPECT_THROW_MENTIONING((void)c.categories(), ValueError, "categories");
}

TEST(Column, CategoricalFromValuesHasSortedCategoriesAndMissingCodeMinusOne) {
  const Column c = Column::categorical({"b", "a", std::nullopt, "c", "a"});
  EXPECT_EQ(c.kind(), ColumnKind::categorical);
  EXPECT_TRUE(is_signed_int(c.dtype()));
  EXPECT_FALSE(c.ordered());
  EXPECT_EQ(category_names(c), (Names{"a", "b", "c"}));
  EXPECT_TRUE(same_numbers(column_numbers(c), D{1, 0, -1, 2, 0}));
  EXPECT_TRUE(c.is_missing(2));
  EXPECT_FALSE(c.is_missing(1));
  EXPECT_EQ(c.text_at(0), "b");
  EXPECT_EQ(c.text_at(3), "c");
}

TEST(Column, CategoricalWithGivenCategoriesKeepsTheirOrderAndOrderedness) {
  const Column c = Column::categorical({"lo", "hi", "mid", std::nullopt},
                                       Names{"lo", "mid", "hi", "unused"}, true);
  EXPECT_TRUE(c.ordered());
  EXPECT_EQ(category_names(c), (Names{"lo", "mid", "hi", "unused"}));
  EXPECT_TRUE(same_numbers(column_numbers(c), D{0, 2, 1, -1}));
  EXPECT_EQ(texts(c)[1], "hi");
}

TEST(Column, CategoricalRefusesValuesOutsideTheCategoriesAndRepeatedCategories) {
  TESSERA_EXPECT_THROW_MENTIONING((void)Column::categorical({"a", "zz"}, Names{"a", "b"}),
                                  ValueError, "zz");
  TESSERA_EXPECT_THROW_MENTIONING((void)Column::categorical({"a"}, Names{"a", "a"}), ValueError,
                                  "'a'", "twice");
}

TEST(Column, CategoricalFromCodesWithStringAndNumericCategories) {
  const Column s =
      Column::categorical_from_codes(Chunk::from_values<std::int16_t>({4, 1}, {2, -1, 0, 2}),
                                     Column::strings({"x", "y", "z"}), false);
  EXPECT_EQ(s.kind(), ColumnKind::categorical);
  EXPECT_EQ(s.dtype(), DType::int16);
  EXPECT_EQ(category_names(s), (Names{"x", "y", "z"}));
  EXPECT_TRUE(s.is_missing(1));
  EXPECT_EQ(s.text_at(0), "z");
  EXPECT_EQ(s.text_at(2), "x");

  const Column n = Column::categorical_from_codes(
      Chunk::from_values<std::int8_t>({3, 1}, {1, 0, -1}), Column::from(D{0.5, 7.0}), true);
  EXPECT_TRUE(n.ordered());
  EXPECT_EQ(n.number_at(0), 7.0);
  EXPECT_EQ(n.number_at(1), 0.5);
  EXPECT_TRUE(std::isnan(n.number_at(2)));
}

TEST(Column, CategoricalFromCodesRefusesCodesOutOfRangeAndUnsignedCodes) {
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::categorical_from_codes(Chunk::from_values<std::int8_t>({2, 1}, {0, 2}),
                                           Column::strings({"a", "b"}), false),
      IndexError, "2");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::categorical_from_codes(Chunk::from_values<std::int8_t>({1, 1}, {-2}),
                                           Column::strings({"a"}), false),
      IndexError, "-2");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::categorical_from_codes(Chunk::from_values<std::uint8_t>({1, 1}, {0}),
                                           Column::strings({"a"}), false),
      ValueError, "signed");
}

// ---- nullable columns -----------------------------------------------------------------------

TEST(Column, NullableIntegerHasValuesAndMask) {
  const Column c =
      Column::nullable(Chunk::from_values<std::int32_t>({3, 1}, {4, 0, -6}), {false, true, false});
  EXPECT_EQ(c.kind(), ColumnKind::nullable_integer);
  EXPECT_EQ(c.dtype(), DType::int32);
  EXPECT_EQ(c.mask(), (Bools{false, true, false}));
  EXPECT_TRUE(c.is_missing(1));
  EXPECT_EQ(c.number_at(0), 4.0);
  EXPECT_TRUE(std::isnan(c.number_at(1)));
  EXPECT_EQ(texts(c), (Names{"4", "<NA>", "-6"}));
}

TEST(Column, NullableBool) {
  const Column c =
      Column::nullable(Chunk::from_values({3, 1}, Bools{true, false, false}), {false, false, true});
  EXPECT_EQ(c.kind(), ColumnKind::nullable_boolean);
  EXPECT_EQ(texts(c), (Names{"True", "False", "<NA>"}));
  EXPECT_TRUE(c.is_missing(2));
}

TEST(Column, NullableRefusesFloatsAndMasksOfTheWrongLength) {
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::nullable(Chunk::from_values<double>({2, 1}, {1, 2}), {false, false}),
      ValueError, "float64");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::nullable(Chunk::from_values<std::int64_t>({2, 1}, {1, 2}), {false}), ShapeError,
      "mask");
}

// ---- masks ------------------------------------------------------------------------------------

TEST(Column, EqualityMasksOfEveryKind) {
  EXPECT_EQ(Column::strings({"a", "b", "b"}) == "b", (Bools{false, true, true}));
  const Column cat = Column::categorical({"b", std::nullopt, "a", "b"});
  EXPECT_EQ(cat == "b", (Bools{true, false, false, true}));
  EXPECT_EQ(cat == "zz", (Bools{false, false, false, false}));  // not a category: nothing matches
  EXPECT_EQ(Column::from(D{2.0, kNaN, 2.5, 2.0}) == 2.0, (Bools{true, false, false, true}));
  EXPECT_EQ(Column::from(std::vector<std::int64_t>{3, 1, 3}) == 3.0, (Bools{true, false, true}));
  const Column nul =
      Column::nullable(Chunk::from_values<std::int64_t>({3, 1}, {3, 3, 1}), {false, true, false});
  EXPECT_EQ(nul == 3.0, (Bools{true, false, false}));  // missing compares false
  EXPECT_EQ(Column::strings({"1"}) == 1.0, (Bools{false}));
}

// ---- take and missing_like ------------------------------------------------------------------

TEST(Column, TakeWithRepeatsForEveryKind) {
  const std::vector<index_t> rows{2, 0, 2};
  EXPECT_TRUE(
      same_numbers(column_numbers(Column::from(D{1.5, 2.5, 3.5}).take(rows)), D{3.5, 1.5, 3.5}));
  EXPECT_TRUE(
      same_numbers(column_numbers(Column::from(std::vector<std::int64_t>{10, 20, 30}).take(rows)),
                   D{30, 10, 30}));
  EXPECT_TRUE(
      same_numbers(column_numbers(Column::from(std::vector<std::uint16_t>{10, 20, 30}).take(rows)),
                   D{30, 10, 30}));
  EXPECT_EQ(Column::strings({"a", "b", "c"}).take(rows).string_values(), (Names{"c", "a", "c"}));
  const Column cat = Column::categorical({"y", std::nullopt, "x"}).take(rows);
  EXPECT_EQ(category_names(cat), (Names{"x", "y"}));
  EXPECT_TRUE(same_numbers(column_numbers(cat), D{0, 1, 0}));
  const Column nul =
      Column::nullable(Chunk::from_values<std::int64_t>({3, 1}, {7, 8, 9}), {true, false, false})
          .take(rows);
  EXPECT_EQ(nul.kind(), ColumnKind::nullable_integer);
  EXPECT_EQ(nul.mask(), (Bools{false, true, false}));
  EXPECT_TRUE(same_numbers(column_numbers(nul), D{9, 7, 9}));
  EXPECT_TRUE(
      same_numbers(column_numbers(Column::from(Bools{true, false, false}).take(rows)), D{0, 1, 0}));
  EXPECT_EQ(Column::from(D{1, 2}).take(std::vector<index_t>{}).size(), 0);
}

TEST(Column, TakeOutOfRangeIsAnIndexError) {
  TESSERA_EXPECT_THROW_MENTIONING((void)Column::from(D{1, 2}).take(std::vector<index_t>{2}),
                                  IndexError, "2");
  // Every kind reports a bad row the same way: IndexError (not std::out_of_range).
  TESSERA_EXPECT_THROW_MENTIONING((void)Column::strings({"a"}).take(std::vector<index_t>{1}),
                                  IndexError, "1");
  TESSERA_EXPECT_THROW_MENTIONING((void)Column::categorical({"a"}).take(std::vector<index_t>{-1}),
                                  IndexError, "-1");
}

TEST(Column, MissingLikeGivesAllMissingValuesOfAFittingKind) {
  const Column f = Column::from(D{1.0}).missing_like(2);
  EXPECT_EQ(f.kind(), ColumnKind::numeric);
  EXPECT_EQ(f.dtype(), DType::float64);
  EXPECT_TRUE(f.is_missing(0) && f.is_missing(1));
  // Integers cannot hold NaN: float64, as pandas.
  EXPECT_EQ(Column::from(std::vector<std::int32_t>{1}).missing_like(1).dtype(), DType::float64);
  const Column cat = Column::categorical({"a", "b"}).missing_like(3);
  EXPECT_EQ(cat.kind(), ColumnKind::categorical);
  EXPECT_EQ(cat.size(), 3);
  EXPECT_TRUE(same_numbers(column_numbers(cat), D{-1, -1, -1}));
  const Column s = Column::strings({"a"}).missing_like(2);
  EXPECT_EQ(s.size(), 2);
  EXPECT_TRUE(s.is_missing(0) && s.is_missing(1));
  const Column ni =
      Column::nullable(Chunk::from_values<std::int16_t>({1, 1}, {1}), {false}).missing_like(2);
  EXPECT_EQ(ni.kind(), ColumnKind::nullable_integer);
  EXPECT_EQ(ni.mask(), (Bools{true, true}));
  const Column b = Column::from(Bools{true}).missing_like(2);
  EXPECT_TRUE(b.is_missing(0) && b.is_missing(1));
}

// ---- equality and copies --------------------------------------------------------------------

TEST(Column, EqualityComparesKindDtypeValuesAndCategories) {
  EXPECT_TRUE(Column::from(D{1, kNaN}) == Column::from(D{1, kNaN}));
  EXPECT_FALSE(Column::from(D{1, 2}) == Column::from(D{1, 3}));
  EXPECT_FALSE(Column::from(D{1, 2}) == Column::from(std::vector<std::int64_t>{1, 2}));
  EXPECT_FALSE(Column::from(D{1, 2}) == Column::from(D{1, 2, 3}));
  EXPECT_TRUE(Column::categorical({"a", "b"}) == Column::categorical({"a", "b"}));
  EXPECT_FALSE(Column::categorical({"a", "b"}) ==
               Column::categorical({"a", "b"}, Names{"a", "b", "c"}));
  EXPECT_FALSE(Column::categorical({"a", "b"}) ==
               Column::categorical({"a", "b"}, std::nullopt, true));
  EXPECT_FALSE(Column::strings({"a"}) == Column::categorical({"a"}));
}

TEST(Column, DeepCopySharesNoBuffer) {
  const Column c = Column::from(D{1, 2, 3});
  const Column d = c.deep_copy();
  EXPECT_TRUE(c == d);
  EXPECT_FALSE(d.values().shares_memory_with(c.values()));
  const Column cat = Column::categorical({"a", "b"});
  EXPECT_FALSE(cat.deep_copy().values().shares_memory_with(cat.values()));
}

// ---- concat ---------------------------------------------------------------------------------

TEST(ColumnConcat, NumericJoinsAndPromotesAsNumpy) {
  const Column same = Column::concat({Column::from(D{1.5, 2.5}), Column::from(D{3.5})});
  EXPECT_EQ(same.dtype(), DType::float64);
  EXPECT_TRUE(same_numbers(column_numbers(same), D{1.5, 2.5, 3.5}));
  const Column ints = Column::concat({Column::from(std::vector<std::int8_t>{1, -2}),
                                      Column::from(std::vector<std::int64_t>{300})});
  EXPECT_EQ(ints.dtype(), DType::int64);
  EXPECT_TRUE(same_numbers(column_numbers(ints), D{1, -2, 300}));
  const Column mixed =
      Column::concat({Column::from(std::vector<std::int32_t>{1, 2}), Column::from(D{0.25})});
  EXPECT_EQ(mixed.dtype(), DType::float64);
  EXPECT_TRUE(same_numbers(column_numbers(mixed), D{1, 2, 0.25}));
  const Column bools =
      Column::concat({Column::from(Bools{true}), Column::from(Bools{false, true})});
  EXPECT_EQ(bools.kind(), ColumnKind::boolean);
  EXPECT_TRUE(same_numbers(column_numbers(bools), D{1, 0, 1}));
}

TEST(ColumnConcat, StringsStayStrings) {
  const Column c =
      Column::concat({Column::strings({"a", "b"}), Column::strings({"c"}), Column::strings({})});
  EXPECT_EQ(c.kind(), ColumnKind::string);
  EXPECT_EQ(c.string_values(), (Names{"a", "b", "c"}));
}

TEST(ColumnConcat, CategoricalsWithTheSameCategoriesKeepThemInTheirOrder) {
  const Names cats{"z", "a"};
  const Column c = Column::concat({Column::categorical({"a", "z"}, cats, true),
                                   Column::categorical({std::nullopt, "a"}, cats, true)});
  EXPECT_EQ(c.kind(), ColumnKind::categorical);
  EXPECT_EQ(category_names(c), cats);
  EXPECT_TRUE(c.ordered());
  EXPECT_TRUE(same_numbers(column_numbers(c), D{1, 0, -1, 1}));
}

TEST(ColumnConcat, CategoricalsWithDifferentCategoriesGetTheSortedUnion) {
  const Column a = Column::categorical({"b", "a", std::nullopt}, Names{"b", "a"});
  const Column b = Column::categorical({"c", "a", std::nullopt}, Names{"c", "a"});
  const Column c = Column::concat({a, b});
  EXPECT_EQ(c.kind(), ColumnKind::categorical);
  EXPECT_EQ(category_names(c), (Names{"a", "b", "c"}));
  EXPECT_FALSE(c.ordered());
  EXPECT_TRUE(same_numbers(column_numbers(c), D{1, 0, -1, 2, 0, -1}));
  EXPECT_EQ(c.text_at(3), "c");
  EXPECT_TRUE(c.is_missing(5));
}

TEST(ColumnConcat, CategoricalThenStringsBecomesCategorical) {
  const Column c =
      Column::concat({Column::categorical({"b", std::nullopt}), Column::strings({"a", "b"})});
  EXPECT_EQ(c.kind(), ColumnKind::categorical);
  EXPECT_EQ(category_names(c), (Names{"a", "b"}));
  EXPECT_TRUE(same_numbers(column_numbers(c), D{1, -1, 0, 1}));
}

// Regression: a string column followed by a categorical one (what concat's outer join builds when
// the first object has a string column the second lacks) must not crash. Run in a child process
// so that a crash fails this test only.
// Regression: a string column followed by a categorical one (what concat's outer join builds when
// it aligns a string column to names some object lacks) must not crash. The first call runs in a
// child process so that a crash fails this test only.
TEST(ColumnConcat, StringsThenCategoricalBecomesCategorical) {
  const auto join = [] {
    return Column::concat({Column::strings({"a", "b"}), Column::categorical({"b", std::nullopt})});
  };
  if (!test::runs_without_crashing(join)) return;
  const Column c = join();
  EXPECT_EQ(c.kind(), ColumnKind::categorical);
  EXPECT_EQ(category_names(c), (Names{"a", "b"}));
  EXPECT_TRUE(same_numbers(column_numbers(c), D{0, 1, 1, -1}));
  EXPECT_TRUE(c.is_missing(3));
}

TEST(ColumnConcat, NullableIntegersKeepTheirMasks) {
  const Column a =
      Column::nullable(Chunk::from_values<std::int64_t>({2, 1}, {1, 0}), {false, true});
  const Column b =
      Column::nullable(Chunk::from_values<std::int64_t>({2, 1}, {0, 5}), {true, false});
  const Column c = Column::concat({a, b});
  EXPECT_EQ(c.kind(), ColumnKind::nullable_integer);
  EXPECT_EQ(c.mask(), (Bools{false, true, true, false}));
  EXPECT_EQ(c.number_at(0), 1.0);
  EXPECT_EQ(c.number_at(3), 5.0);
  // With a plain integer column: still nullable, the plain values never missing.
  const Column d = Column::concat({a, Column::from(std::vector<std::int64_t>{9})});
  EXPECT_EQ(d.kind(), ColumnKind::nullable_integer);
  EXPECT_EQ(d.mask(), (Bools{false, true, false}));
  EXPECT_EQ(d.number_at(2), 9.0);
}

TEST(ColumnConcat, NullableIntegerWithFloatsBecomesFloatWithNaN) {
  const Column a =
      Column::nullable(Chunk::from_values<std::int32_t>({2, 1}, {4, 0}), {false, true});
  const Column c = Column::concat({a, Column::from(D{0.5})});
  EXPECT_EQ(c.kind(), ColumnKind::numeric);
  EXPECT_EQ(c.dtype(), DType::float64);
  EXPECT_TRUE(same_numbers(column_numbers(c), D{4, kNaN, 0.5}));
}

TEST(ColumnConcat, NullableBools) {
  const Column a = Column::nullable(Chunk::from_values({2, 1}, Bools{true, false}), {false, true});
  const Column c = Column::concat({a, Column::from(Bools{false})});
  EXPECT_EQ(c.kind(), ColumnKind::nullable_boolean);
  EXPECT_EQ(c.mask(), (Bools{false, true, false}));
  EXPECT_EQ(c.text_at(0), "True");
  EXPECT_EQ(c.text_at(2), "False");
}

TEST(ColumnConcat, IncompatibleKindsAreAValueErrorNamingThem) {
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::concat({Column::from(D{1}), Column::strings({"a"})}), ValueError, "string");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)Column::concat({Column::from(D{1}), Column::strings({"a"})}), ValueError, "numeric");
}

TEST(ColumnConcat, OneOrNoParts) {
  const Column one = Column::concat({Column::from(D{1, 2})});
  EXPECT_TRUE(same_numbers(column_numbers(one), D{1, 2}));
  EXPECT_EQ(Column::concat({}).size(), 0);
}

// ---- DataFrame ------------------------------------------------------------------------------

DataFrame sample_frame() {
  DataFrame df(Names{"c0", "c1", "c2", "c3"}, "obs");
  df.set("num", Column::from(D{0.5, 1.5, 2.5, 3.5}));
  df.set("int", Column::from(std::vector<std::int64_t>{10, 11, 12, 13}));
  df.set("flag", Column::from(Bools{true, false, false, true}));
  df.set("name", Column::strings({"w", "x", "y", "z"}));
  df.set("batch", Column::categorical({"b", "a", std::nullopt, "b"}, std::nullopt, false));
  df.set("level", Column::categorical({"lo", "hi", "lo", "hi"}, Names{"lo", "hi"}, true));
  df.set("count", Column::nullable(Chunk::from_values<std::int32_t>({4, 1}, {1, 0, 3, 4}),
                                   {false, true, false, false}));
  df.set("ok", Column::nullable(Chunk::from_values({4, 1}, Bools{true, true, false, false}),
                                {false, false, true, false}));
  return df;
}

TEST(DataFrame, HoldsColumnsOfEveryKindInOrder) {
  const DataFrame df = sample_frame();
  EXPECT_EQ(df.name(), "obs");
  EXPECT_EQ(df.size(), 4);
  EXPECT_EQ(df.index(), (Names{"c0", "c1", "c2", "c3"}));
  EXPECT_EQ(df.columns().keys(),
            (Names{"num", "int", "flag", "name", "batch", "level", "count", "ok"}));
  EXPECT_EQ(df["num"].kind(), ColumnKind::numeric);
  EXPECT_EQ(df["int"].dtype(), DType::int64);
  EXPECT_EQ(df["flag"].kind(), ColumnKind::boolean);
  EXPECT_EQ(df["name"].kind(), ColumnKind::string);
  EXPECT_EQ(df["batch"].kind(), ColumnKind::categorical);
  EXPECT_FALSE(df["batch"].ordered());
  EXPECT_TRUE(df["level"].ordered());
  EXPECT_EQ(df["count"].kind(), ColumnKind::nullable_integer);
  EXPECT_EQ(df["ok"].kind(), ColumnKind::nullable_boolean);
  EXPECT_TRUE(df.contains("num"));
  EXPECT_FALSE(df.contains("Num"));
}

TEST(DataFrame, SetWithTheWrongLengthIsAShapeErrorNamingTheColumn) {
  DataFrame df = sample_frame();
  TESSERA_EXPECT_THROW_MENTIONING(df.set("short", Column::from(D{1, 2, 3})), ShapeError, "short");
  TESSERA_EXPECT_THROW_MENTIONING(df.set("short", Column::strings({"a"})), ShapeError, "obs");
  TESSERA_EXPECT_THROW_MENTIONING(df.set("num", Column::from(D{1, 2, 3, 4, 5})), ShapeError, "num");
  EXPECT_FALSE(df.contains("short"));
  EXPECT_TRUE(same_numbers(column_numbers(df["num"]), D{0.5, 1.5, 2.5, 3.5}));  // unchanged
}

TEST(DataFrame, UnknownColumnIsAnIndexErrorNamingIt) {
  const DataFrame df = sample_frame();
  TESSERA_EXPECT_THROW_MENTIONING((void)df["nope"], IndexError, "nope");
  TESSERA_EXPECT_THROW_MENTIONING((void)df["nope"], IndexError, "obs");
}

TEST(DataFrame, SetReplacesInPlaceAndEraseRemoves) {
  DataFrame df = sample_frame();
  df.set("int", Column::strings({"p", "q", "r", "s"}));
  EXPECT_EQ(df.columns().keys()[1], "int");
  EXPECT_EQ(df["int"].kind(), ColumnKind::string);
  EXPECT_TRUE(df.erase("int"));
  EXPECT_FALSE(df.erase("int"));
  EXPECT_EQ(df.columns().keys(), (Names{"num", "flag", "name", "batch", "level", "count", "ok"}));
}

TEST(DataFrame, IndexNamesAndRangeIndex) {
  DataFrame df = DataFrame::range_index(3, "var");
  EXPECT_EQ(df.index(), (Names{"0", "1", "2"}));
  EXPECT_EQ(df.name(), "var");
  df.set_index({"x", "y", "z"});
  EXPECT_EQ(df.index(), (Names{"x", "y", "z"}));
  TESSERA_EXPECT_THROW_MENTIONING(df.set_index({"x"}), ShapeError, "1", "var");
  df.set_index_name("gene_ids");
  EXPECT_EQ(df.index_name(), "gene_ids");
  EXPECT_EQ(DataFrame::range_index(0).size(), 0);
}

TEST(DataFrame, TakeSelectsIndexAndEveryColumnWithRepeats) {
  const DataFrame df = sample_frame();
  const std::vector<index_t> rows{3, 1, 3, 0};
  const DataFrame t = df.take(rows);
  EXPECT_EQ(t.index(), (Names{"c3", "c1", "c3", "c0"}));
  EXPECT_EQ(t.columns().keys(), df.columns().keys());
  EXPECT_EQ(t.name(), "obs");
  EXPECT_TRUE(same_numbers(column_numbers(t["num"]), D{3.5, 1.5, 3.5, 0.5}));
  EXPECT_TRUE(same_numbers(column_numbers(t["int"]), D{13, 11, 13, 10}));
  EXPECT_TRUE(same_numbers(column_numbers(t["flag"]), D{1, 0, 1, 1}));
  EXPECT_EQ(t["name"].string_values(), (Names{"z", "x", "z", "w"}));
  EXPECT_EQ(category_names(t["batch"]), (Names{"a", "b"}));
  EXPECT_TRUE(same_numbers(column_numbers(t["batch"]), D{1, 0, 1, 1}));
  EXPECT_TRUE(t["level"].ordered());
  EXPECT_EQ(t["count"].mask(), (Bools{false, true, false, false}));
  EXPECT_TRUE(same_numbers(column_numbers(t["count"]), D{4, 0, 4, 1}));
  EXPECT_EQ(t["ok"].mask(), (Bools{false, false, false, false}));
  EXPECT_TRUE(same_numbers(column_numbers(t["ok"]), D{0, 1, 0, 1}));
  TESSERA_EXPECT_THROW_MENTIONING((void)df.take(std::vector<index_t>{4}), IndexError, "4");
  TESSERA_EXPECT_THROW_MENTIONING((void)df.take(std::vector<index_t>{-1}), IndexError, "-1");
}

TEST(DataFrame, PositionsOfNames) {
  const DataFrame df = sample_frame();
  EXPECT_EQ(df.positions({"c2", "c0", "c2"}), (std::vector<index_t>{2, 0, 2}));
  EXPECT_EQ(df.positions({}), std::vector<index_t>{});
  TESSERA_EXPECT_THROW_MENTIONING((void)df.positions({"c0", "missing_cell"}), IndexError,
                                  "missing_cell");
  DataFrame dup(Names{"a", "b", "a"}, "var");
  TESSERA_EXPECT_THROW_MENTIONING((void)dup.positions({"b"}), ValueError, "unique");
}

TEST(DataFrame, MakeIndexUniqueAsAnndata) {
  DataFrame three(Names{"a", "a", "a"});
  EXPECT_FALSE(three.index_is_unique());
  three.make_index_unique();
  EXPECT_EQ(three.index(), (Names{"a", "a-1", "a-2"}));
  EXPECT_TRUE(three.index_is_unique());

  // anndata.utils.make_index_unique(pd.Index([...])) gives exactly this (a-1 is taken).
  DataFrame tricky(Names{"a", "a", "a-1", "a", "b", "b"});
  tricky.make_index_unique();
  EXPECT_EQ(tricky.index(), (Names{"a", "a-2", "a-1", "a-3", "b", "b-1"}));

  DataFrame joined(Names{"x", "y", "x"});
  joined.make_index_unique("_");
  EXPECT_EQ(joined.index(), (Names{"x", "y", "x_1"}));

  DataFrame unique(Names{"p", "q"});
  unique.make_index_unique();
  EXPECT_EQ(unique.index(), (Names{"p", "q"}));
}

TEST(DataFrame, EqualityAndDeepCopy) {
  const DataFrame df = sample_frame();
  const DataFrame copy = df.deep_copy();
  EXPECT_TRUE(df == copy);
  for (const auto& [k, c] : df.columns()) {
    if (c.kind() == ColumnKind::string) continue;
    EXPECT_FALSE(copy[k].values().shares_memory_with(c.values())) << k;
  }
  DataFrame other = df;
  other.set("num", Column::from(D{0.5, 1.5, 2.5, 9.0}));
  EXPECT_FALSE(df == other);
  DataFrame renamed = df;
  renamed.set_index({"c0", "c1", "c2", "x"});
  EXPECT_FALSE(df == renamed);
  DataFrame reordered(df.index(), "obs");
  reordered.set("int", df["int"]);
  reordered.set("num", df["num"]);
  DataFrame ordered(df.index(), "obs");
  ordered.set("num", df["num"]);
  ordered.set("int", df["int"]);
  EXPECT_FALSE(ordered == reordered);
}

TEST(DataFrame, SetNameRenamesErrorMessages) {
  DataFrame df(Names{"a"}, "dataframe");
  df.set_name("raw.var");
  EXPECT_EQ(df.name(), "raw.var");
  TESSERA_EXPECT_THROW_MENTIONING((void)df["x"], IndexError, "raw.var");
}

}  // namespace
}  // namespace tessera
