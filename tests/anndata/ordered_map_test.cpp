// OrderedMap: insertion order kept, set() replaces in place, insert() refuses duplicates
// (ValueError naming map and key), at() of a missing key is an IndexError naming map and key.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/anndata/ordered_map.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using Keys = std::vector<std::string>;

TEST(OrderedMap, KeepsInsertionOrderNotSortedOrder) {
  OrderedMap<int> m("obsm");
  m.set("zeta", 1);
  m.set("alpha", 2);
  m.insert("mid", 3);
  EXPECT_EQ(m.keys(), (Keys{"zeta", "alpha", "mid"}));
  EXPECT_EQ(m.size(), 3U);
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.name(), "obsm");
  std::vector<int> values;
  for (const auto& [k, v] : m)
    values.push_back(v);
  EXPECT_EQ(values, (std::vector<int>{1, 2, 3}));
}

TEST(OrderedMap, SetReplacesInPlaceKeepingThePosition) {
  OrderedMap<int> m;
  m.set("a", 1);
  m.set("b", 2);
  m.set("c", 3);
  m.set("a", 10);
  EXPECT_EQ(m.keys(), (Keys{"a", "b", "c"}));
  EXPECT_EQ(m.at("a"), 10);
  EXPECT_EQ(m.size(), 3U);
}

TEST(OrderedMap, InsertOfAnExistingKeyIsAValueErrorNamingMapAndKey) {
  OrderedMap<int> m("layers");
  m.insert("counts", 1);
  TESSERA_EXPECT_THROW_MENTIONING(m.insert("counts", 2), ValueError, "counts");
  TESSERA_EXPECT_THROW_MENTIONING(m.insert("counts", 2), ValueError, "layers");
  TESSERA_EXPECT_THROW_MENTIONING(m.insert("counts", 2), ValueError, "duplicate");
  EXPECT_EQ(m.at("counts"), 1);  // unchanged
  EXPECT_EQ(m.size(), 1U);
}

TEST(OrderedMap, AtOfAMissingKeyIsAnIndexErrorNamingMapAndKey) {
  OrderedMap<std::string> m("uns");
  m.set("present", "x");
  TESSERA_EXPECT_THROW_MENTIONING((void)m.at("absent"), IndexError, "absent");
  TESSERA_EXPECT_THROW_MENTIONING((void)m.at("absent"), IndexError, "uns");
  const auto& cm = m;
  TESSERA_EXPECT_THROW_MENTIONING((void)cm.at("Present"), IndexError, "Present");  // case-sensitive
  EXPECT_EQ(cm.at("present"), "x");
}

TEST(OrderedMap, AtReturnsAWritableReference) {
  OrderedMap<int> m;
  m.set("a", 1);
  m.at("a") = 5;
  EXPECT_EQ(m.at("a"), 5);
  for (auto& [k, v] : m)
    v += 1;
  EXPECT_EQ(m.at("a"), 6);
}

TEST(OrderedMap, EraseRemovesOnlyThatKeyAndReportsWhetherItWasThere) {
  OrderedMap<int> m;
  m.set("a", 1);
  m.set("b", 2);
  m.set("c", 3);
  EXPECT_TRUE(m.erase("b"));
  EXPECT_FALSE(m.erase("b"));
  EXPECT_FALSE(m.contains("b"));
  EXPECT_TRUE(m.contains("a"));
  EXPECT_EQ(m.keys(), (Keys{"a", "c"}));
  m.set("b", 4);  // comes back at the end, as in a dict
  EXPECT_EQ(m.keys(), (Keys{"a", "c", "b"}));
  m.clear();
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.keys(), Keys{});
}

TEST(OrderedMap, KeysAreArbitraryUtf8AndQuotes) {
  OrderedMap<int> m;
  m.insert("größe", 1);
  m.insert("it's", 2);
  m.insert("say \"hi\"", 3);
  m.insert("", 4);
  EXPECT_EQ(m.at("größe"), 1);
  EXPECT_EQ(m.at("it's"), 2);
  EXPECT_EQ(m.at("say \"hi\""), 3);
  EXPECT_EQ(m.at(""), 4);
  TESSERA_EXPECT_THROW_MENTIONING(m.insert("größe", 5), ValueError, "größe");
}

}  // namespace
}  // namespace tessera
