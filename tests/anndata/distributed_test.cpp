// The anndata layer across ranks: concat results (axis 0 and 1, inner and outer, dense and CSR)
// and views (slices, repeats, masks, names, views of views) computed with Context::compute at 1-4
// ranks equal the one-process Array::compute() bit for bit (identical()), and to_memory(ctx)
// equals to_memory() slot by slot. Every rank builds the same objects and makes the same
// collective calls in the same order; results are agreed across ranks with all_ranks() before
// any assertion.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/anndata/anndata.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera {
namespace {

using testing::all_ranks;
using testing::context;
using Names = std::vector<std::string>;
constexpr std::optional<index_t> None = std::nullopt;

Names numbered(const std::string& prefix, index_t n, index_t start = 0) {
  Names out;
  for (index_t i = start; i < start + n; ++i) {
    std::string s = prefix;
    s += std::to_string(i);
    out.push_back(std::move(s));
  }
  return out;
}

// Object k: 9 + 4k cells; genes g(k)..g(k+11) so that neighbours share most genes; lazy dense X,
// a CSR layer, an obsm, a varm and raw.
AnnData object(int k, bool sparse_x) {
  const index_t n_obs = 9 + 4 * k;
  const index_t n_vars = 12;
  const Shape shape{n_obs, n_vars};
  const ChunkSpec chunks(4, 5);
  DataFrame obs(numbered("c" + std::to_string(k) + "_", n_obs), "obs");
  std::vector<std::optional<std::string>> batch;
  for (index_t i = 0; i < n_obs; ++i)
    batch.emplace_back(i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c");
  obs.set("batch", Column::categorical(batch));
  const Array x =
      sparse_x ? random_sparse(shape, chunks, 0.3, 40 + k) : random(shape, chunks, 40 + k);
  AnnData a(x, obs, DataFrame(numbered("g", n_vars, k), "var"));
  a.layers().set("sparse", random_sparse(shape, ChunkSpec(3, 4), 0.25, 50 + k));
  a.layers().set("scaled", x * 2.0 + 1.0);
  a.obsm().set("pca", random({n_obs, 3 + k}, ChunkSpec(5, 2), 60 + k));
  a.varm().set("load", random({n_vars, 2}, ChunkSpec(6, 2), 70));
  a.obsp().set("conn", random_sparse({n_obs, n_obs}, ChunkSpec(4, 4), 0.2, 80 + k));
  Raw raw;
  raw.X = random({n_obs, n_vars + 3}, ChunkSpec(5, 5), 90 + k);
  raw.var = DataFrame(numbered("g", n_vars + 3, k));
  a.set_raw(raw);
  return a;
}

// Every array of an object, with its slot name, in a fixed order.
std::vector<std::pair<std::string, Array>> arrays_of(const AnnData& a) {
  std::vector<std::pair<std::string, Array>> out;
  if (a.X()) out.emplace_back("X", *a.X());
  for (const AlignedArrays* slot : {&a.layers(), &a.obsm(), &a.varm(), &a.obsp(), &a.varp()}) {
    for (const auto& [k, v] : *slot)
      out.emplace_back(slot->name() + "['" + k + "']", v);
  }
  if (a.raw() && a.raw()->X) out.emplace_back("raw.X", *a.raw()->X);
  return out;
}

// Computes every array of `a` across the ranks, one call per array and then all in one call, and
// checks each against the local executor's result.
void expect_distributed_equals_local(const AnnData& a, const std::string& what) {
  Context& ctx = context();
  const auto arrays = arrays_of(a);
  std::vector<Array> all;
  for (const auto& [name, array] : arrays) {
    const Chunk local = array.compute();
    const Chunk distributed = ctx.compute(array);
    EXPECT_TRUE(all_ranks(identical(distributed, local))) << what << ": " << name;
    all.push_back(array);
  }
  const std::vector<Chunk> together = ctx.compute(all);
  bool ok = together.size() == all.size();
  for (std::size_t i = 0; ok && i < all.size(); ++i)
    ok = identical(together[i], all[i].compute());
  EXPECT_TRUE(all_ranks(ok)) << what << ": all arrays in one compute";
}

TEST(DistributedAnnData, ConcatComputedAcrossRanksEqualsLocal) {
  const std::vector<AnnData> dense{object(0, false), object(1, false), object(2, false)};
  const std::vector<AnnData> mixed{object(0, true), object(1, false), object(2, true)};
  for (const auto& [name, objects] : {std::pair{"dense", dense}, {"mixed", mixed}}) {
    for (Join join : {Join::inner, Join::outer}) {
      ConcatOptions o;
      o.join = join;
      o.label = "part";
      o.index_unique = "-";
      o.merge = MergeStrategy::first;
      expect_distributed_equals_local(
          concat(objects, o), std::string(name) + (join == Join::inner ? " inner" : " outer"));
    }
  }
  ConcatOptions fill;
  fill.join = Join::outer;
  fill.fill_value = -2.0;
  expect_distributed_equals_local(concat(dense, fill), "outer with fill_value");
}

TEST(DistributedAnnData, ConcatAlongVariablesAcrossRanksEqualsLocal) {
  AnnData left = object(0, false);
  AnnData right = object(0, true);  // same cells, the same genes: index_unique separates them
  ConcatOptions o;
  o.axis = 1;
  o.index_unique = "@";
  expect_distributed_equals_local(concat({left, right(Selector::slice(None, None, -1))}, o),
                                  "axis 1 inner");
  o.join = Join::outer;
  expect_distributed_equals_local(concat({left(Selector::take({0, 2, 4, 6})), right}, o),
                                  "axis 1 outer");
}

TEST(DistributedAnnData, ViewsComputedAcrossRanksEqualLocal) {
  const AnnData a = object(1, false);
  const AnnData s = object(2, true);
  std::vector<bool> mask(static_cast<std::size_t>(s.n_obs()));
  for (std::size_t i = 0; i < mask.size(); ++i)
    mask[i] = i % 4 != 2;
  const std::vector<std::pair<std::string, AnnData>> views{
      {"slice with negative step", a(Selector::slice(-2, 1, -3), Selector::slice(None, None, -1))},
      {"take with repeats", a(Selector::take({5, 5, 0, 12, 3}), Selector::take({11, 0, 0, 7}))},
      {"mask", s(mask, Selector::slice(2, 9))},
      {"names", a(AxisIndex::names({"c1_7", "c1_1"}), AxisIndex::names({"g5", "g1", "g12"}))},
      {"obs column mask", s(s.obs()["batch"] == "b")},
      {"view of a view",
       a(Selector::slice(1, None))(Selector::take({3, 1, 3}), Selector::slice(None, None, 2))},
  };
  for (const auto& [name, v] : views)
    expect_distributed_equals_local(v, name);
}

// to_memory(ctx) and to_memory() give the same object: names, tables and every array bit for bit.
void expect_same_object(const AnnData& distributed, const AnnData& local, const std::string& what) {
  bool ok = distributed.obs() == local.obs() && distributed.var() == local.var() &&
            distributed.is_view() == local.is_view() && distributed.uns() == local.uns();
  const auto d = arrays_of(distributed);
  const auto l = arrays_of(local);
  ok = ok && d.size() == l.size();
  for (std::size_t i = 0; ok && i < d.size(); ++i) {
    ok = d[i].first == l[i].first && d[i].second.in_memory() != nullptr &&
         l[i].second.in_memory() != nullptr &&
         identical(*d[i].second.in_memory(), *l[i].second.in_memory());
  }
  EXPECT_TRUE(all_ranks(ok)) << what;
}

TEST(DistributedAnnData, ToMemoryWithAContextEqualsToMemory) {
  Context& ctx = context();
  AnnData a = object(1, true);
  a.uns().set("note", "x");
  a.obsm().set("in_memory", Chunk::dense_filled(DType::float32, {a.n_obs(), 2}, 0.5));
  for (bool copy : {false, true}) {
    const std::string what = copy ? "copy" : "no copy";
    expect_same_object(a.to_memory(ctx, copy), a.to_memory(copy), what);
    const AnnData v = a(Selector::take({1, 4, 4, 8}), Selector::slice(None, None, 3));
    expect_same_object(v.to_memory(ctx, copy), v.to_memory(copy), what + " of a view");
  }
  const AnnData in_memory = a.to_memory(ctx, false);
  EXPECT_TRUE(all_ranks(in_memory.obsm()["in_memory"].in_memory()->shares_memory_with(
      *a.obsm()["in_memory"].in_memory())));
  ConcatOptions o;
  o.join = Join::outer;
  const AnnData joined = concat({object(0, false), object(2, true)}, o);
  expect_same_object(joined.to_memory(ctx), joined.to_memory(), "concat result");
}

// Residence::distributed: every lazy array persisted (each rank holds its own chunks), gathered
// back bit for bit equal to to_memory()'s; arrays already in memory kept (copy=false) or copied;
// an array set in two slots, and arrays computing the same chunks, share their chunks.
TEST(DistributedAnnData, ToMemoryDistributedHoldsEachRanksChunks) {
  Context& ctx = context();
  AnnData a = object(1, true);
  a.layers().set("same", *a.X());  // the same node in two slots
  a.obsm().set("in_memory", Chunk::dense_filled(DType::float32, {a.n_obs(), 2}, 0.5));
  for (bool copy : {false, true}) {
    const std::string what = copy ? "copy" : "no copy";
    const AnnData d = a.to_memory(ctx, copy, Residence::distributed);
    const AnnData local = a.to_memory(copy);
    const auto held = arrays_of(d);
    const auto expected = arrays_of(local);
    ASSERT_EQ(held.size(), expected.size());
    bool ok = d.obs() == local.obs() && d.var() == local.var() && !d.is_view();
    for (std::size_t i = 0; i < held.size(); ++i) {
      const Array& x = held[i].second;
      const bool in_memory = held[i].first == "obsm['in_memory']";
      ok = ok && held[i].first == expected[i].first;
      // Lazy arrays became persisted ones; the in-memory one stayed in memory.
      ok = ok && (in_memory ? x.in_memory() != nullptr : Context::ownership(x) != nullptr);
      ok = ok && identical(ctx.compute(x), *expected[i].second.in_memory());
    }
    EXPECT_TRUE(all_ranks(ok)) << what;
    // X and layers['same'] share every chunk this rank holds.
    const auto x_chunks = Context::local_chunks(*d.X());
    const auto same_chunks = Context::local_chunks(d.layers()["same"]);
    bool shared = x_chunks.size() == same_chunks.size();
    for (std::size_t k = 0; shared && k < x_chunks.size(); ++k)
      shared = x_chunks[k].second.shares_memory_with(same_chunks[k].second);
    EXPECT_TRUE(all_ranks(shared)) << what;
    const bool kept =
        d.obsm()["in_memory"].in_memory()->shares_memory_with(*a.obsm()["in_memory"].in_memory());
    EXPECT_TRUE(all_ranks(kept != copy)) << what;
    // Materializing a persisted object again: kept as it is, or copied chunk by chunk.
    const AnnData again = d.to_memory(ctx, copy, Residence::distributed);
    const auto mine = Context::local_chunks(*d.X());
    const auto theirs = Context::local_chunks(*again.X());
    bool same_storage = mine.size() == theirs.size();
    bool equal = same_storage;
    for (std::size_t k = 0; equal && k < mine.size(); ++k) {
      same_storage = same_storage && mine[k].second.shares_memory_with(theirs[k].second);
      equal = identical(mine[k].second, theirs[k].second);
    }
    EXPECT_TRUE(all_ranks(equal)) << what;
    EXPECT_TRUE(all_ranks(mine.empty() || same_storage != copy)) << what;
  }
}

// Residence::root: rank 0 holds every array whole (equal to to_memory()'s), the other ranks keep
// the lazy arrays; Residence::every_rank shares one result between slots of the same chunks.
TEST(DistributedAnnData, ToMemoryOnRootAndSharedResults) {
  Context& ctx = context();
  AnnData a = object(2, false);
  a.layers().set("same", *a.X());
  const AnnData local = a.to_memory();
  const AnnData r = a.to_memory(ctx, false, Residence::root);
  const auto held = arrays_of(r);
  const auto expected = arrays_of(local);
  bool ok = held.size() == expected.size();
  for (std::size_t i = 0; ok && i < held.size(); ++i) {
    if (ctx.rank() == 0) {
      ok = held[i].second.in_memory() != nullptr &&
           identical(*held[i].second.in_memory(), *expected[i].second.in_memory());
    } else {
      ok = held[i].second.in_memory() == nullptr &&
           held[i].second.node() == arrays_of(a)[i].second.node();
    }
  }
  EXPECT_TRUE(all_ranks(ok));
  const AnnData e = a.to_memory(ctx);
  EXPECT_TRUE(all_ranks(e.X()->in_memory()->shares_memory_with(*e.layers()["same"].in_memory())));
  EXPECT_TRUE(all_ranks(identical(*e.layers()["same"].in_memory(), *local.X()->in_memory())));
}

}  // namespace
}  // namespace tessera
