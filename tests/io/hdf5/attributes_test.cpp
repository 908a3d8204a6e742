// HDF5 attributes as JSON: every kind h5py/anndata write (strings, int64, float64, bools, lists of
// them, the empty list), on groups and arrays, replaced in place, and refused when JSON has no
// HDF5 form.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "h5_test_util.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/hdf5_file.hpp"

namespace tessera::io {
namespace {

using test::ScratchDir;

TEST(Hdf5Attributes, EveryKindRoundTrips) {
  ScratchDir dir("attrs");
  const std::string file = dir.file("a.h5");
  const Json values = {
      {"encoding-type", "dataframe"},
      {"encoding-version", "0.2.0"},
      {"unicode", "Grüße, 世界"},
      {"empty-string", ""},
      {"int", 42},
      {"negative", -7},
      {"big", std::numeric_limits<std::int64_t>::max()},
      {"small", std::numeric_limits<std::int64_t>::min()},
      {"float", 2.5},
      {"tiny", 1e-300},
      {"true", true},
      {"false", false},
      {"shape", Json::array({3, 4})},
      {"floats", Json::array({1.5, -2.0, 3.25})},
      {"mixed-numbers", Json::array({1, 2.5})},
      {"bools", Json::array({true, false, true})},
      {"column-order", Json::array({"a", "b", "long name é"})},
      {"one", Json::array({"only"})},
      {"empty", Json::array()},
  };
  {
    auto root = create_h5(file);
    for (const auto& [key, value] : values.items())
      root->set_attribute(key, value);
    root->create_array("x", ArrayMeta{{2}, DType::int32, {}}, Compression{});
    root->set_attribute("encoding-type", "array", "x");
    root->set_attribute("shape", Json::array({2}), "x");
  }
  auto root = open_h5(file);
  const Json got = root->attributes();
  EXPECT_EQ(got, values) << got.dump(1);
  // Integers stay integers, floats stay floats (2.0 is not 2).
  EXPECT_TRUE(got.at("int").is_number_integer());
  EXPECT_TRUE(got.at("floats").at(1).is_number_float());
  EXPECT_TRUE(got.at("mixed-numbers").at(0).is_number_float());
  EXPECT_TRUE(got.at("true").is_boolean());
  EXPECT_TRUE(got.at("empty").is_array());
  EXPECT_EQ(root->attributes("x"), (Json{{"encoding-type", "array"}, {"shape", {2}}}));
  EXPECT_EQ(root->attributes("x").at("shape").at(0).get<std::int64_t>(), 2);
}

TEST(Hdf5Attributes, UnsignedAboveInt64AndParsedJson) {
  ScratchDir dir("attrs_u");
  auto root = create_h5(dir.file("u.h5"));
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max();
  root->set_attribute("huge", huge);
  root->set_attribute("list", Json::array({std::uint64_t{1}, huge}));
  // JSON parsed from text gives unsigned numbers for non-negative literals: stored as int64.
  root->set_attribute("parsed", Json::parse("[3, 4]"));
  const Json got = root->attributes();
  EXPECT_EQ(got.at("huge").get<std::uint64_t>(), huge);
  EXPECT_EQ(got.at("list"), Json::array({std::uint64_t{1}, huge}));
  EXPECT_EQ(got.at("parsed"), Json::array({3, 4}));
  EXPECT_THROW(root->set_attribute("bad", Json::array({-1, huge})), ValueError);
}

TEST(Hdf5Attributes, ReplacingChangesTypeAndValue) {
  ScratchDir dir("attrs_replace");
  auto root = create_h5(dir.file("r.h5"));
  root->set_attribute("k", "text");
  root->set_attribute("k", Json::array({1, 2, 3}));
  EXPECT_EQ(root->attributes().at("k"), Json::array({1, 2, 3}));
  root->set_attribute("k", false);
  EXPECT_EQ(root->attributes().at("k"), false);
  EXPECT_EQ(root->attributes().size(), 1U);
}

TEST(Hdf5Attributes, LargeListsUseDenseStorage) {
  // More than HDF5's 64 KiB object-header limit: a column-order of a wide data frame.
  ScratchDir dir("attrs_large");
  const std::string file = dir.file("l.h5");
  Json columns = Json::array();
  for (int i = 0; i < 20000; ++i)
    columns.push_back("column_number_" + std::to_string(i));
  create_h5(file)->create_group("obs")->set_attribute("column-order", columns);
  EXPECT_EQ(open_h5(file)->group("obs")->attributes().at("column-order"), columns);
}

TEST(Hdf5Attributes, ValuesWithoutAnHdf5FormAreRefused) {
  ScratchDir dir("attrs_bad");
  auto root = create_h5(dir.file("b.h5"));
  EXPECT_THROW(root->set_attribute("null", nullptr), ValueError);
  EXPECT_THROW(root->set_attribute("object", Json{{"a", 1}}), ValueError);
  EXPECT_THROW(root->set_attribute("nested", Json::array({Json::array({1})})), ValueError);
  EXPECT_THROW(root->set_attribute("mixed", Json::array({1, "a"})), ValueError);
  EXPECT_THROW(root->set_attribute("bools-and-ints", Json::array({true, 1})), ValueError);
  EXPECT_THROW(root->set_attribute("", 1), ValueError);
  EXPECT_THROW(root->set_attribute("k", 1, "no-such-array"), FormatError);
  EXPECT_THROW((void)root->attributes("no-such-array"), FormatError);
  EXPECT_TRUE(root->attributes().empty());
}

}  // namespace
}  // namespace tessera::io
