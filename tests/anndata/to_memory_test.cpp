// to_memory(copy): every array slot (X, layers, obsm, varm, obsp, varp, raw.X, raw.varm) ends up
// in memory with the values it had (lazy ones computed; references built here from the sources'
// definitions: arange, Philox random values, hand-made chunks). copy=false shares every buffer
// that was already in memory (Chunk::shares_memory_with), copy=true shares none; neither result
// is a view.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "anndata_test_util.hpp"
#include "tessera/anndata/anndata.hpp"

namespace tessera {
namespace {

using test::make_ref;
using test::Names;
using test::Ref;
using test::values_equal;

constexpr Shape kShape{6, 4};

struct Fixture {
  AnnData a{6, 4};
  Chunk x, csr_layer, pca, conn, raw_varm;
  Ref x_ref, csr_ref, pca_ref, conn_ref, raw_varm_ref, lazy_obsm_ref;
};

Fixture make() {
  Fixture f;
  f.x_ref = make_ref(kShape, [](index_t r, index_t c) { return r * 1.5 + c; });
  f.csr_ref = test::sparse_ref(kShape, 0.25);
  f.pca_ref = make_ref({6, 2}, [](index_t r, index_t c) { return double(-r - c); });
  f.conn_ref = test::sparse_ref({6, 6});
  f.raw_varm_ref = make_ref({5, 1}, [](index_t r, index_t) { return double(r * r); });
  f.lazy_obsm_ref = make_ref({6, 3}, [](index_t r, index_t c) { return double(r * 3 + c) * 2.0; });
  f.x = test::chunk_of(f.x_ref);
  f.csr_layer = test::csr_of(f.csr_ref);
  f.pca = test::chunk_of(f.pca_ref);
  f.conn = test::csr_of(f.conn_ref);
  f.raw_varm = test::chunk_of(f.raw_varm_ref);

  DataFrame obs(test::numbered("c", 6), "obs");
  obs.set("n", Column::from(std::vector<double>{1, 2, 3, 4, 5, 6}));
  obs.set("batch", Column::categorical({"a", "b", "a", "b", "a", "b"}));
  DataFrame var(test::numbered("g", 4), "var");
  var.set("mean", Column::from(std::vector<double>{0.5, 0.25, 0.125, 0}));
  f.a = AnnData(f.x, obs, var);
  f.a.layers().set("lazy", random(kShape, ChunkSpec(2, 2), 21));
  f.a.layers().set("csr_mem", f.csr_layer);
  f.a.obsm().set("pca", f.pca);
  f.a.obsm().set("lazy", arange({6, 3}, ChunkSpec(4, 2)) * 2.0);
  f.a.varm().set("load", random_sparse({4, 2}, ChunkSpec(2, 2), 0.5, 22));
  f.a.obsp().set("conn", f.conn);
  f.a.varp().set("corr", random({4, 4}, ChunkSpec(3, 3), 23));
  Raw raw;
  raw.X = random({6, 5}, ChunkSpec(4, 5), 24);
  raw.var = DataFrame(test::numbered("rg", 5));
  raw.varm.set("r", f.raw_varm);
  f.a.set_raw(raw);
  f.a.uns().set("weights", NdArray::vector<double>({1, 2, 3}));
  return f;
}

// The in-memory data of an array, or an empty chunk (that compares unequal to any reference) when
// it is not in memory, so a missing buffer fails the comparison instead of crashing the test.
Chunk mem(const Array& a) {
  const Chunk* data = a.in_memory();
  return data != nullptr ? *data : Chunk();
}

// Every array of `m` is in memory.
void expect_all_in_memory(const AnnData& m) {
  if (m.X()) {
    EXPECT_NE(m.X()->in_memory(), nullptr) << "X";
  }
  for (const AlignedArrays* slot : {&m.layers(), &m.obsm(), &m.varm(), &m.obsp(), &m.varp()}) {
    for (const auto& [k, v] : *slot)
      EXPECT_NE(v.in_memory(), nullptr) << slot->name() << "['" << k << "']";
  }
  if (m.raw()) {
    if (m.raw()->X) {
      EXPECT_NE(m.raw()->X->in_memory(), nullptr) << "raw.X";
    }
    for (const auto& [k, v] : m.raw()->varm)
      EXPECT_NE(v.in_memory(), nullptr) << "raw.varm['" << k << "']";
  }
}

// The values of every slot of `m` equal the fixture's definitions. `load_ref` is what the original
// random_sparse varm computes to: the one source without an element formula to compare with.
void expect_values(const Fixture& f, const AnnData& m, const Ref& load_ref) {
  EXPECT_TRUE(values_equal(mem(*m.X()), f.x_ref)) << "X";
  EXPECT_TRUE(values_equal(mem(m.layers()["lazy"]), test::random_ref(21, kShape)))
      << "layers['lazy']";
  EXPECT_TRUE(values_equal(mem(m.layers()["csr_mem"]), f.csr_ref));
  EXPECT_TRUE(mem(m.layers()["csr_mem"]).is_sparse());
  EXPECT_TRUE(values_equal(mem(m.obsm()["pca"]), f.pca_ref));
  EXPECT_TRUE(values_equal(mem(m.obsm()["lazy"]), f.lazy_obsm_ref));
  EXPECT_TRUE(values_equal(mem(m.varm()["load"]), load_ref));
  EXPECT_TRUE(mem(m.varm()["load"]).is_sparse());
  EXPECT_TRUE(values_equal(mem(m.obsp()["conn"]), f.conn_ref));
  EXPECT_TRUE(values_equal(mem(m.varp()["corr"]), test::random_ref(23, {4, 4})));
  EXPECT_TRUE(values_equal(mem(*m.raw()->X), test::random_ref(24, {6, 5})));
  EXPECT_TRUE(values_equal(mem(m.raw()->varm["r"]), f.raw_varm_ref));
  EXPECT_EQ(m.raw()->var.index(), test::numbered("rg", 5));
  EXPECT_TRUE(m.obs() == f.a.obs());
  EXPECT_TRUE(m.var() == f.a.var());
  EXPECT_TRUE(m.uns() == f.a.uns());
  EXPECT_EQ(m.layers().keys(), f.a.layers().keys());
  EXPECT_EQ(m.obsm().keys(), f.a.obsm().keys());
}

TEST(ToMemory, WithoutCopySharesBuffersAlreadyInMemory) {
  const Fixture f = make();
  const Ref load_ref = test::computed(f.a.varm()["load"]);
  const AnnData m = f.a.to_memory(false);
  EXPECT_FALSE(m.is_view());
  expect_all_in_memory(m);
  expect_values(f, m, load_ref);
  EXPECT_TRUE(mem(*m.X()).shares_memory_with(f.x));
  EXPECT_TRUE(mem(m.layers()["csr_mem"]).shares_memory_with(f.csr_layer));
  EXPECT_TRUE(mem(m.obsm()["pca"]).shares_memory_with(f.pca));
  EXPECT_TRUE(mem(m.obsp()["conn"]).shares_memory_with(f.conn));
  EXPECT_TRUE(mem(m.raw()->varm["r"]).shares_memory_with(f.raw_varm));
  EXPECT_TRUE(m.obs()["n"].values().shares_memory_with(f.a.obs()["n"].values()));
  EXPECT_TRUE(m.uns().at("weights").as<NdArray>().data.shares_memory_with(
      f.a.uns().at("weights").as<NdArray>().data));
  // The original is untouched: its lazy arrays are still lazy.
  EXPECT_EQ(f.a.layers()["lazy"].in_memory(), nullptr);
}

TEST(ToMemory, WithCopySharesNothing) {
  const Fixture f = make();
  const Ref load_ref = test::computed(f.a.varm()["load"]);
  const AnnData m = f.a.to_memory(true);
  EXPECT_FALSE(m.is_view());
  expect_all_in_memory(m);
  expect_values(f, m, load_ref);
  EXPECT_FALSE(mem(*m.X()).shares_memory_with(f.x));
  EXPECT_FALSE(mem(m.layers()["csr_mem"]).shares_memory_with(f.csr_layer));
  EXPECT_FALSE(mem(m.obsm()["pca"]).shares_memory_with(f.pca));
  EXPECT_FALSE(mem(m.obsp()["conn"]).shares_memory_with(f.conn));
  EXPECT_FALSE(mem(m.raw()->varm["r"]).shares_memory_with(f.raw_varm));
  EXPECT_FALSE(m.obs()["n"].values().shares_memory_with(f.a.obs()["n"].values()));
  EXPECT_FALSE(m.var()["mean"].values().shares_memory_with(f.a.var()["mean"].values()));
  EXPECT_FALSE(m.uns().at("weights").as<NdArray>().data.shares_memory_with(
      f.a.uns().at("weights").as<NdArray>().data));
}

TEST(ToMemory, AgainWithoutCopySharesTheFirstResult) {
  const Fixture f = make();
  const AnnData m1 = f.a.to_memory(false);
  const AnnData m2 = m1.to_memory(false);
  EXPECT_TRUE(mem(m2.layers()["lazy"]).shares_memory_with(mem(m1.layers()["lazy"])));
  EXPECT_TRUE(mem(*m2.raw()->X).shares_memory_with(mem(*m1.raw()->X)));
  const AnnData m3 = m1.to_memory(true);
  EXPECT_FALSE(mem(m3.layers()["lazy"]).shares_memory_with(mem(m1.layers()["lazy"])));
}

TEST(ToMemory, OfAViewIsNotAViewAndHoldsTheSelection) {
  const Fixture f = make();
  const std::vector<index_t> rows{5, 1, 1};
  const std::vector<index_t> cols{3, 0};
  const AnnData v = f.a(Selector::take(rows), Selector::take(cols));
  for (bool copy : {false, true}) {
    SCOPED_TRACE(copy ? "copy" : "no copy");
    const AnnData m = v.to_memory(copy);
    EXPECT_FALSE(m.is_view());
    expect_all_in_memory(m);
    EXPECT_EQ(m.obs_names(), (Names{"c5", "c1", "c1"}));
    EXPECT_EQ(m.var_names(), (Names{"g3", "g0"}));
    EXPECT_TRUE(values_equal(mem(*m.X()), test::gather(f.x_ref, rows, cols)));
    EXPECT_TRUE(values_equal(mem(m.layers()["lazy"]),
                             test::gather(test::random_ref(21, kShape), rows, cols)));
    EXPECT_TRUE(values_equal(mem(m.obsm()["pca"]), test::gather(f.pca_ref, rows, test::iota(2))));
    EXPECT_TRUE(values_equal(mem(m.obsp()["conn"]), test::gather(f.conn_ref, rows, rows)));
    EXPECT_TRUE(values_equal(mem(m.varp()["corr"]),
                             test::gather(test::random_ref(23, {4, 4}), cols, cols)));
    EXPECT_TRUE(values_equal(mem(*m.raw()->X),
                             test::gather(test::random_ref(24, {6, 5}), rows, test::iota(5))));
  }
}

TEST(ToMemory, ObjectWithoutXOrRaw) {
  AnnData a(3, 2);
  a.obsm().set("e", arange({3, 2}, ChunkSpec(1, 2)));
  const AnnData m = a.to_memory();
  EXPECT_FALSE(m.X().has_value());
  EXPECT_FALSE(m.raw().has_value());
  ASSERT_NE(m.obsm()["e"].in_memory(), nullptr);
  EXPECT_TRUE(values_equal(mem(m.obsm()["e"]), test::arange_ref({3, 2})));
  EXPECT_EQ(m.obsm()["e"].dtype(), DType::int64);
}

}  // namespace
}  // namespace tessera
