// uns: numpy-like arrays (0-, 1-, 2-D), string arrays, data frames and nested mappings; equality,
// deep copies that share nothing (buffers or nested mappings), and how AnnData's copy(), views and
// to_memory() treat uns (a copied object's uns can change without touching the original's).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "anndata_test_util.hpp"
#include "tessera/anndata/anndata.hpp"
#include "tessera/anndata/uns.hpp"

namespace tessera {
namespace {

using test::Names;

Uns sample_uns() {
  Uns uns("uns");
  uns.set("title", "experiment 1");
  uns.set("n_pcs", NdArray::scalar<std::int64_t>(50));
  uns.set("threshold", NdArray::scalar(0.25));
  uns.set("weights", NdArray::vector<double>({0.5, 1.5, 2.5}));
  uns.set("matrix", NdArray::matrix(Chunk::from_values<std::int32_t>({2, 3}, {1, 2, 3, 4, 5, 6})));
  uns.set("colors", StringArray{{"#ff0000", "#00ff00"}, {2}});
  uns.set("label", StringArray{{"only"}, {}});
  DataFrame table(Names{"r0", "r1"}, "uns['table']");
  table.set("v", Column::from(std::vector<double>{1.0, 2.0}));
  uns.set("table", table);
  Uns inner("uns['neighbors']['params']");
  inner.set("method", "umap");
  inner.set("k", NdArray::scalar<std::int64_t>(15));
  Uns neighbors("uns['neighbors']");
  neighbors.set("params", inner);
  neighbors.set("connectivities_key", "connectivities");
  uns.set("neighbors", neighbors);
  return uns;
}

TEST(NdArray, ShapesOfScalarsVectorsAndMatrices) {
  const NdArray s = NdArray::scalar<std::int64_t>(7);
  EXPECT_TRUE(s.is_scalar());
  EXPECT_EQ(s.shape, std::vector<index_t>{});
  EXPECT_EQ(s.data.shape(), (Shape{1, 1}));
  EXPECT_EQ(s.data.dtype(), DType::int64);
  EXPECT_EQ(test::raw_values(s.data).values, std::vector<double>{7});

  const NdArray v = NdArray::vector<float>({1.5F, 2.5F});
  EXPECT_FALSE(v.is_scalar());
  EXPECT_EQ(v.shape, std::vector<index_t>{2});
  EXPECT_EQ(v.data.shape(), (Shape{1, 2}));
  EXPECT_EQ(v.data.dtype(), DType::float32);

  const NdArray m = NdArray::matrix(Chunk::from_values<double>({2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(m.shape, (std::vector<index_t>{2, 3}));
  EXPECT_EQ(test::raw_values(m.data).values, (std::vector<double>{1, 2, 3, 4, 5, 6}));

  const NdArray from_chunk = NdArray::scalar(Chunk::from_values<double>({1, 1}, {3.5}));
  EXPECT_TRUE(from_chunk.is_scalar());
  TESSERA_EXPECT_THROW_MENTIONING((void)NdArray::scalar(Chunk::from_values<double>({1, 2}, {1, 2})),
                                  ShapeError, "(1, 2)", "scalar");
}

TEST(NdArray, EqualityNeedsShapeDtypeAndValues) {
  EXPECT_TRUE(NdArray::vector<double>({1, 2}) == NdArray::vector<double>({1, 2}));
  EXPECT_FALSE(NdArray::vector<double>({1, 2}) == NdArray::vector<double>({1, 3}));
  EXPECT_FALSE(NdArray::vector<double>({1, 2}) == NdArray::vector<std::int64_t>({1, 2}));
  // Same values, a (1, 2) matrix is not a length-2 vector.
  EXPECT_FALSE(NdArray::vector<double>({1, 2}) ==
               NdArray::matrix(Chunk::from_values<double>({1, 2}, {1, 2})));
  EXPECT_FALSE(NdArray::scalar<double>(1) == NdArray::vector<double>({1}));
}

TEST(UnsValue, HoldsEachKindOfValue) {
  const Uns uns = sample_uns();
  EXPECT_EQ(uns.keys(), (Names{"title", "n_pcs", "threshold", "weights", "matrix", "colors",
                               "label", "table", "neighbors"}));
  EXPECT_TRUE(uns.at("title").holds<std::string>());
  EXPECT_EQ(uns.at("title").as<std::string>(), "experiment 1");
  EXPECT_TRUE(uns.at("n_pcs").holds<NdArray>());
  EXPECT_EQ(uns.at("n_pcs").as<NdArray>().data.dtype(), DType::int64);
  EXPECT_EQ(uns.at("threshold").as<NdArray>().data.dtype(), DType::float64);
  EXPECT_EQ(uns.at("colors").as<StringArray>().values, (Names{"#ff0000", "#00ff00"}));
  EXPECT_EQ(uns.at("label").as<StringArray>().shape, std::vector<index_t>{});
  EXPECT_TRUE(uns.at("table").holds<DataFrame>());
  EXPECT_EQ(uns.at("table").as<DataFrame>().index(), (Names{"r0", "r1"}));
  ASSERT_TRUE(uns.at("neighbors").holds<UnsValue::Mapping>());
  const Uns& neighbors = uns.at("neighbors").mapping();
  EXPECT_EQ(neighbors.keys(), (Names{"params", "connectivities_key"}));
  EXPECT_EQ(neighbors.at("params").mapping().at("method").as<std::string>(), "umap");
  TESSERA_EXPECT_THROW_MENTIONING((void)neighbors.at("nope"), IndexError, "nope");
}

TEST(UnsValue, MappingIsWritableInPlace) {
  Uns uns = sample_uns();
  uns.at("neighbors").mapping().set("added", "yes");
  EXPECT_TRUE(uns.at("neighbors").mapping().contains("added"));
}

TEST(UnsValue, DeepCopyEqualsAndSharesNothing) {
  const Uns uns = sample_uns();
  Uns copy = deep_copy(uns);
  EXPECT_TRUE(copy == uns);
  EXPECT_FALSE(copy.at("weights").as<NdArray>().data.shares_memory_with(
      uns.at("weights").as<NdArray>().data));
  EXPECT_FALSE(copy.at("table").as<DataFrame>()["v"].values().shares_memory_with(
      uns.at("table").as<DataFrame>()["v"].values()));
  // A nested mapping of the copy is a different mapping.
  copy.at("neighbors").mapping().at("params").mapping().set("method", "gauss");
  EXPECT_EQ(uns.at("neighbors").mapping().at("params").mapping().at("method").as<std::string>(),
            "umap");
  EXPECT_FALSE(copy == uns);

  const UnsValue one = uns.at("neighbors").deep_copy();
  EXPECT_TRUE(one == uns.at("neighbors"));
}

TEST(UnsValue, EqualityComparesKindsValuesAndKeyOrder) {
  Uns a("uns"), b("uns");
  a.set("x", "1");
  a.set("y", NdArray::scalar<std::int64_t>(1));
  b.set("y", NdArray::scalar<std::int64_t>(1));
  b.set("x", "1");
  EXPECT_FALSE(a == b);  // key order differs
  Uns c = deep_copy(a);
  EXPECT_TRUE(a == c);
  c.set("x", NdArray::scalar<std::int64_t>(1));
  EXPECT_FALSE(a == c);  // a string is not a number
  EXPECT_FALSE(UnsValue("1") == UnsValue(StringArray{{"1"}, {}}));
}

TEST(Uns, AnnDataCopyAndViewsDoNotAliasTheOriginalsNestedMappings) {
  AnnData a(3, 2);
  a.uns() = sample_uns();
  AnnData c = a.copy();
  EXPECT_TRUE(c.uns() == a.uns());
  c.uns().at("neighbors").mapping().set("connectivities_key", "changed");
  c.uns().set("new", "value");
  EXPECT_EQ(a.uns().at("neighbors").mapping().at("connectivities_key").as<std::string>(),
            "connectivities");
  EXPECT_FALSE(a.uns().contains("new"));

  AnnData v = a(Selector::take({0, 2}));
  EXPECT_TRUE(v.uns() == a.uns());
  v.uns().at("neighbors").mapping().set("connectivities_key", "changed");
  EXPECT_EQ(a.uns().at("neighbors").mapping().at("connectivities_key").as<std::string>(),
            "connectivities");

  AnnData m = a.to_memory(false);
  EXPECT_TRUE(m.uns() == a.uns());
  m.uns().at("neighbors").mapping().set("connectivities_key", "changed");
  EXPECT_EQ(a.uns().at("neighbors").mapping().at("connectivities_key").as<std::string>(),
            "connectivities");
}

TEST(Uns, ToMemorySharesArraysWithoutCopyAndCopiesThemWithCopy) {
  AnnData a(2, 2);
  a.uns() = sample_uns();
  const Chunk& original = a.uns().at("weights").as<NdArray>().data;
  const AnnData shared = a.to_memory(false);
  EXPECT_TRUE(shared.uns().at("weights").as<NdArray>().data.shares_memory_with(original));
  const AnnData copied = a.to_memory(true);
  EXPECT_FALSE(copied.uns().at("weights").as<NdArray>().data.shares_memory_with(original));
  EXPECT_TRUE(copied.uns() == a.uns());
}

}  // namespace
}  // namespace tessera
