// concat on small objects with hand-computed results: axis 0 and 1, inner and outer joins (inner:
// common names in the first object's order; outer: sorted union, NaN for dense, 0 for sparse, or
// fill_value), index_unique, label and keys, obs columns joined (categories unioned, missing
// values filled), layers and obsm (inner: fewest columns; outer: padded), var and varm merged by
// strategy, raw joined, dtypes; aligned lazy inputs add no tasks; incompatible objects are typed
// errors. The comparison with the reference anndata.concat is reference_check.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "anndata_test_util.hpp"
#include "tessera/anndata/concat.hpp"

namespace tessera {
namespace {

using test::array_is;
using test::make_ref;
using test::Names;
using test::Ref;
using D = std::vector<double>;
const double NaN = std::nan("");

Ref rows_of(std::vector<D> rows) {
  Ref out(
      {static_cast<index_t>(rows.size()), rows.empty() ? 0 : static_cast<index_t>(rows[0].size())});
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c)
      out.at(static_cast<index_t>(r), static_cast<index_t>(c)) = rows[r][c];
  }
  return out;
}

Names texts(const Column& c) {
  Names out;
  for (index_t i = 0; i < c.size(); ++i)
    out.push_back(c.is_missing(i) ? "NA" : c.text_at(i));
  return out;
}

int gene_number(const std::string& g) {
  return std::stoi(g.substr(1));
}

DataFrame var_frame(const Names& genes, bool first) {
  DataFrame var(genes, "var");
  Names symbols;
  D gene_values;
  for (const auto& g : genes) {
    symbols.push_back(std::string("S").append(g, 1));
    gene_values.push_back(gene_number(g) * 0.5);
  }
  var.set("symbol", Column::strings(symbols));
  var.set("by_gene", Column::from(gene_values));
  // Same name, values by position: differs between the objects after alignment.
  D by_position;
  for (std::size_t i = 0; i < genes.size(); ++i)
    by_position.push_back(double(i));
  var.set("conflict", Column::from(by_position));
  var.set(first ? "only_p" : "only_q", Column::from(by_position));
  return var;
}

Chunk loadings(const Names& genes) {
  std::vector<double> v;
  for (const auto& g : genes) {
    v.push_back(gene_number(g));
    v.push_back(gene_number(g) + 0.5);
  }
  return Chunk::from_values<double>({static_cast<index_t>(genes.size()), 2}, v);
}

// P: 2 cells, genes g3 g1 g0 g2, X = 10 r + c + 1.
AnnData object_p(bool sparse = false) {
  const Names genes{"g3", "g1", "g0", "g2"};
  DataFrame obs(Names{"p0", "p1"}, "obs");
  obs.set("batch", Column::categorical({"a", "b"}));
  obs.set("n", Column::from(std::vector<std::int64_t>{1, 2}));
  obs.set("only_p", Column::from(D{0.5, 1.5}));
  const Ref x = make_ref({2, 4}, [](index_t r, index_t c) { return double(10 * r + c + 1); });
  AnnData a(sparse ? test::csr_of(x) : test::chunk_of(x), obs, var_frame(genes, true));
  a.layers().set("counts", from_chunk(test::chunk_of(x), ChunkSpec(1, 4)) * 2.0);
  a.layers().set("only_p", test::chunk_of(x));
  a.obsm().set("emb", test::chunk_of(rows_of({{1, 2}, {3, 4}})));
  a.varm().set("load", loadings(genes));
  return a;
}

// Q: 3 cells, genes g0 g2 g3 g5, X = 100 + 10 r + c.
AnnData object_q(bool sparse = false) {
  const Names genes{"g0", "g2", "g3", "g5"};
  DataFrame obs(Names{"q0", "q1", "q2"}, "obs");
  obs.set("batch", Column::categorical({"b", "c", "c"}));
  obs.set("n", Column::from(std::vector<std::int64_t>{3, 4, 5}));
  obs.set("only_q", Column::strings({"x", "y", "z"}));
  const Ref x = make_ref({3, 4}, [](index_t r, index_t c) { return double(100 + 10 * r + c); });
  AnnData a(sparse ? from_chunk(test::csr_of(x), ChunkSpec(2, 2))
                   : from_chunk(test::chunk_of(x), ChunkSpec(2, 2)),
            obs, var_frame(genes, false));
  a.layers().set("counts", test::chunk_of(test::map_ref(x, [](double v) { return 2 * v; })));
  a.obsm().set("emb", test::chunk_of(rows_of({{5, 6, 7}, {8, 9, 10}, {11, 12, 13}})));
  a.varm().set("load", loadings(genes));
  return a;
}

// The expected X rows, by gene, for P and Q (NaN where a gene is absent).
const Ref kInnerX =
    rows_of({{1, 3, 4}, {11, 13, 14}, {102, 100, 101}, {112, 110, 111}, {122, 120, 121}});
const Ref kOuterX = rows_of({{3, 2, 4, 1, NaN},
                             {13, 12, 14, 11, NaN},
                             {100, NaN, 101, 102, 103},
                             {110, NaN, 111, 112, 113},
                             {120, NaN, 121, 122, 123}});

Ref fill(const Ref& r, double value) {
  return test::map_ref(r, [&](double v) { return std::isnan(v) ? value : v; });
}

ConcatOptions outer() {
  ConcatOptions o;
  o.join = Join::outer;
  return o;
}

// ---- joins -------------------------------------------------------------------------------------

TEST(Concat, InnerJoinKeepsCommonVarsInTheFirstObjectsOrder) {
  const AnnData c = concat({object_p(), object_q()});
  EXPECT_FALSE(c.is_view());
  EXPECT_EQ(c.obs_names(), (Names{"p0", "p1", "q0", "q1", "q2"}));
  EXPECT_EQ(c.var_names(), (Names{"g3", "g0", "g2"}));
  EXPECT_TRUE(array_is(c.X(), kInnerX));
  EXPECT_FALSE(c.X()->is_sparse());
}

TEST(Concat, OuterJoinFillsNaNForDenseArrays) {
  const AnnData c = concat({object_p(), object_q()}, outer());
  EXPECT_EQ(c.var_names(), (Names{"g0", "g1", "g2", "g3", "g5"}));
  EXPECT_TRUE(array_is(c.X(), kOuterX));
  EXPECT_EQ(c.X()->dtype(), DType::float64);
}

TEST(Concat, OuterJoinFillsZeroForSparseArraysAndStaysSparse) {
  const AnnData c = concat({object_p(true), object_q(true)}, outer());
  ASSERT_TRUE(c.X().has_value());
  EXPECT_TRUE(c.X()->is_sparse());
  const Chunk x = c.X()->compute();
  EXPECT_TRUE(x.is_sparse());
  EXPECT_TRUE(test::canonical_csr(x));
  EXPECT_TRUE(test::values_equal(x, fill(kOuterX, 0.0)));
  // Fill values are not stored as explicit entries: 4 + 4 non-zeros per P row, 4 per Q row.
  EXPECT_EQ(x.nnz(), 2 * 4 + 3 * 4);
}

TEST(Concat, MixedDenseAndSparseGivesSparseFilledWithZeroAsTheReference) {
  // anndata: any sparse input makes the default fill 0 for every input (default_fill_value).
  const AnnData c = concat({object_p(false), object_q(true)}, outer());
  EXPECT_TRUE(c.X()->is_sparse());
  EXPECT_TRUE(array_is(c.X(), fill(kOuterX, 0.0)));
}

TEST(Concat, FillValueReplacesTheDefault) {
  ConcatOptions o = outer();
  o.fill_value = -1.0;
  EXPECT_TRUE(array_is(concat({object_p(), object_q()}, o).X(), fill(kOuterX, -1.0)));
  EXPECT_TRUE(array_is(concat({object_p(true), object_q(true)}, o).X(), fill(kOuterX, -1.0)));
}

TEST(Concat, IntegerXKeepsItsDtypeWithoutMissingValuesAndBecomesFloatWithThem) {
  const auto make = [](const Names& genes, std::int64_t base) {
    const Array x = arange({2, 3}, ChunkSpec(1, 3)) + base;
    return AnnData(x, DataFrame(Names{"c" + std::to_string(base), "d" + std::to_string(base)}),
                   DataFrame(genes));
  };
  const AnnData same = concat({make({"a", "b", "c"}, 0), make({"a", "b", "c"}, 10)});
  EXPECT_EQ(same.X()->dtype(), DType::int64);
  EXPECT_TRUE(array_is(same.X(), rows_of({{0, 1, 2}, {3, 4, 5}, {10, 11, 12}, {13, 14, 15}})));
  const AnnData missing = concat({make({"a", "b", "c"}, 0), make({"b", "c", "d"}, 10)}, outer());
  EXPECT_EQ(missing.X()->dtype(), DType::float64);
  EXPECT_TRUE(
      array_is(missing.X(),
               rows_of({{0, 1, 2, NaN}, {3, 4, 5, NaN}, {NaN, 10, 11, 12}, {NaN, 13, 14, 15}})));
}

// ---- names, labels, keys -------------------------------------------------------------------

TEST(Concat, IndexUniqueLabelAndKeys) {
  ConcatOptions o;
  o.label = "batch_id";
  o.keys = {"P", "Q"};
  o.index_unique = "-";
  const AnnData c = concat({object_p(), object_q()}, o);
  EXPECT_EQ(c.obs_names(), (Names{"p0-P", "p1-P", "q0-Q", "q1-Q", "q2-Q"}));
  const Column& label = c.obs()["batch_id"];
  EXPECT_EQ(label.kind(), ColumnKind::categorical);
  EXPECT_EQ(label.categories().string_values(), (Names{"P", "Q"}));
  EXPECT_EQ(test::column_numbers(label), (D{0, 0, 1, 1, 1}));
  EXPECT_EQ(c.obs().columns().keys().back(), "batch_id");
}

TEST(Concat, LabelCategoriesFollowTheKeysNotSortedOrder) {
  ConcatOptions o;
  o.label = "src";
  o.keys = {"z", "a"};
  const AnnData c = concat({object_p(), object_q()}, o);
  EXPECT_EQ(c.obs()["src"].categories().string_values(), (Names{"z", "a"}));
  EXPECT_EQ(texts(c.obs()["src"]), (Names{"z", "z", "a", "a", "a"}));
  EXPECT_EQ(c.obs_names(), (Names{"p0", "p1", "q0", "q1", "q2"}));  // no index_unique
}

TEST(Concat, DefaultKeysAreTheObjectsPositions) {
  ConcatOptions o;
  o.label = "src";
  o.index_unique = "_";
  const AnnData c = concat({object_p(), object_q(), object_p()}, o);
  EXPECT_EQ(c.obs_names(), (Names{"p0_0", "p1_0", "q0_1", "q1_1", "q2_1", "p0_2", "p1_2"}));
  EXPECT_EQ(c.obs()["src"].categories().string_values(), (Names{"0", "1", "2"}));
}

// ---- obs columns --------------------------------------------------------------------------------

TEST(Concat, InnerJoinKeepsCommonObsColumnsAndUnionsCategories) {
  const AnnData c = concat({object_p(), object_q()});
  EXPECT_EQ(c.obs().columns().keys(), (Names{"batch", "n"}));
  const Column& batch = c.obs()["batch"];
  EXPECT_EQ(batch.kind(), ColumnKind::categorical);
  EXPECT_EQ(batch.categories().string_values(), (Names{"a", "b", "c"}));
  EXPECT_EQ(test::column_numbers(batch), (D{0, 1, 1, 2, 2}));
  EXPECT_EQ(c.obs()["n"].dtype(), DType::int64);
  EXPECT_EQ(test::column_numbers(c.obs()["n"]), (D{1, 2, 3, 4, 5}));
}

TEST(Concat, OuterJoinKeepsAllObsColumnsWithMissingValues) {
  const AnnData c = concat({object_p(), object_q()}, outer());
  EXPECT_EQ(c.obs().columns().keys(), (Names{"batch", "n", "only_p", "only_q"}));
  const std::vector<double> only_p = test::column_numbers(c.obs()["only_p"]);
  ASSERT_EQ(only_p.size(), 5U);
  EXPECT_EQ(only_p[0], 0.5);
  EXPECT_EQ(only_p[1], 1.5);
  for (std::size_t i = 2; i < 5; ++i)
    EXPECT_TRUE(std::isnan(only_p[i])) << i;
  EXPECT_EQ(texts(c.obs()["only_q"]), (Names{"NA", "NA", "x", "y", "z"}));
}

TEST(Concat, ObsColumnsOfIncompatibleKindsAreAValueErrorNamingTheColumn) {
  AnnData p = object_p();
  AnnData q = object_q();
  p.obs().set("mixed", Column::from(D{1, 2}));
  q.obs().set("mixed", Column::strings({"a", "b", "c"}));
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({p, q}), ValueError, "mixed");
}

// ---- layers and obsm ----------------------------------------------------------------------------

TEST(Concat, LayersInnerKeepsCommonKeysOuterFillsMissingOnes) {
  const AnnData inner = concat({object_p(), object_q()});
  EXPECT_EQ(inner.layers().keys(), Names{"counts"});
  EXPECT_TRUE(
      array_is(inner.layers()["counts"], test::map_ref(kInnerX, [](double v) { return 2 * v; })));
  const AnnData out = concat({object_p(), object_q()}, outer());
  EXPECT_EQ(out.layers().keys(), (Names{"counts", "only_p"}));
  EXPECT_TRUE(
      array_is(out.layers()["counts"], test::map_ref(kOuterX, [](double v) { return 2 * v; })));
  const Ref only_p = rows_of({{3, 2, 4, 1, NaN},
                              {13, 12, 14, 11, NaN},
                              {NaN, NaN, NaN, NaN, NaN},
                              {NaN, NaN, NaN, NaN, NaN},
                              {NaN, NaN, NaN, NaN, NaN}});
  EXPECT_TRUE(array_is(out.layers()["only_p"], only_p));
}

TEST(Concat, ObsmInnerTakesTheFewestColumnsOuterPads) {
  const AnnData inner = concat({object_p(), object_q()});
  EXPECT_TRUE(array_is(inner.obsm()["emb"], rows_of({{1, 2}, {3, 4}, {5, 6}, {8, 9}, {11, 12}})));
  const AnnData out = concat({object_p(), object_q()}, outer());
  EXPECT_TRUE(array_is(out.obsm()["emb"],
                       rows_of({{1, 2, NaN}, {3, 4, NaN}, {5, 6, 7}, {8, 9, 10}, {11, 12, 13}})));
  ConcatOptions o = outer();
  o.fill_value = 0.0;
  EXPECT_TRUE(array_is(concat({object_p(), object_q()}, o).obsm()["emb"],
                       rows_of({{1, 2, 0}, {3, 4, 0}, {5, 6, 7}, {8, 9, 10}, {11, 12, 13}})));
}

TEST(Concat, ObspVarpAndUnsAreDroppedWithoutMerge) {
  AnnData p = object_p();
  AnnData q = object_q();
  p.obsp().set("d", Chunk::dense_filled(DType::float64, {2, 2}, 1));
  q.obsp().set("d", Chunk::dense_filled(DType::float64, {3, 3}, 1));
  p.uns().set("u", "x");
  q.uns().set("u", "x");
  const AnnData c = concat({p, q});
  EXPECT_TRUE(c.obsp().empty());
  EXPECT_TRUE(c.varp().empty());
  EXPECT_TRUE(c.uns().empty());
  EXPECT_TRUE(c.varm().empty());
  EXPECT_TRUE(c.var().columns().empty());
}

// ---- merge strategies for var and varm -------------------------------------------------------

TEST(Concat, MergeStrategiesChooseVarColumns) {
  const auto columns = [](MergeStrategy m) {
    ConcatOptions o;
    o.merge = m;
    return concat({object_p(), object_q()}, o).var().columns().keys();
  };
  EXPECT_EQ(columns(MergeStrategy::none), Names{});
  // same: in every object and equal after alignment (symbol, by_gene); conflict differs.
  EXPECT_EQ(columns(MergeStrategy::same), (Names{"symbol", "by_gene"}));
  // unique: every present value equal, also when in one object only.
  EXPECT_EQ(columns(MergeStrategy::unique), (Names{"symbol", "by_gene", "only_p", "only_q"}));
  EXPECT_EQ(columns(MergeStrategy::first),
            (Names{"symbol", "by_gene", "conflict", "only_p", "only_q"}));
  EXPECT_EQ(columns(MergeStrategy::only), (Names{"only_p", "only_q"}));
}

TEST(Concat, MergedVarColumnsAreAlignedToTheJoinedNames) {
  ConcatOptions o;
  o.merge = MergeStrategy::first;
  const AnnData c = concat({object_p(), object_q()}, o);  // vars g3 g0 g2
  EXPECT_EQ(c.var()["symbol"].string_values(), (Names{"S3", "S0", "S2"}));
  EXPECT_EQ(test::column_numbers(c.var()["by_gene"]), (D{1.5, 0, 1}));
  EXPECT_EQ(test::column_numbers(c.var()["conflict"]), (D{0, 2, 3}));  // P's positions of g3 g0 g2
  EXPECT_EQ(test::column_numbers(c.var()["only_q"]), (D{2, 0, 1}));    // Q's positions
}

TEST(Concat, OuterMergeAlignsStringColumnsWithMissingValues) {
  ConcatOptions u = outer();
  u.merge = MergeStrategy::unique;
  // Aligning P's string column "symbol" to the union needs a missing value for g5.
  if (!test::runs_without_crashing([&] { (void)concat({object_p(), object_q()}, u); })) return;
  const AnnData d = concat({object_p(), object_q()}, u);  // g0 g1 g2 g3 g5
  // After alignment to the union P's symbol is missing at g5 and Q's at g1: they differ, so
  // "unique" drops them (anndata 0.8 does the same); columns of one object stay.
  EXPECT_EQ(d.var().columns().keys(), (Names{"only_p", "only_q"}));
  const std::vector<double> only_p = test::column_numbers(d.var()["only_p"]);
  EXPECT_EQ(only_p[0], 2);
  EXPECT_EQ(only_p[1], 1);
  EXPECT_TRUE(std::isnan(only_p[4]));  // g5 is not in P
}

TEST(Concat, VarmMergedByStrategyAndAligned) {
  ConcatOptions o;
  o.merge = MergeStrategy::same;
  const AnnData c = concat({object_p(), object_q()}, o);
  ASSERT_EQ(c.varm().keys(), Names{"load"});
  EXPECT_TRUE(array_is(c.varm()["load"], rows_of({{3, 3.5}, {0, 0.5}, {2, 2.5}})));
  AnnData q = object_q();
  q.varm().set("load", Chunk::dense_filled(DType::float64, {4, 2}, 9));
  EXPECT_TRUE(concat({object_p(), q}, o).varm().empty());
  o.merge = MergeStrategy::first;
  EXPECT_TRUE(
      array_is(concat({object_p(), q}, o).varm()["load"], rows_of({{3, 3.5}, {0, 0.5}, {2, 2.5}})));
}

TEST(Concat, VarpMergedByStrategyAsTheReference) {
  // anndata.concat merges the other axis' pairwise arrays (varp along axis 0) with `merge`, both
  // axes aligned to the joined names; `pairwise` only concerns obsp.
  const auto corr = [](const Names& genes) {
    const auto n = static_cast<index_t>(genes.size());
    return test::chunk_of(make_ref({n, n}, [&](index_t r, index_t c) {
      return double(10 * gene_number(genes[static_cast<std::size_t>(r)]) +
                    gene_number(genes[static_cast<std::size_t>(c)]));
    }));
  };
  AnnData p = object_p();
  AnnData q = object_q();
  p.varp().set("corr", corr(p.var_names()));
  q.varp().set("corr", corr(q.var_names()));
  ConcatOptions o;
  o.merge = MergeStrategy::same;
  const AnnData c = concat({p, q}, o);  // vars g3 g0 g2
  ASSERT_EQ(c.varp().keys(), Names{"corr"});
  EXPECT_TRUE(array_is(c.varp()["corr"], rows_of({{33, 30, 32}, {3, 0, 2}, {23, 20, 22}})));
}

// ---- raw ----------------------------------------------------------------------------------------

AnnData with_raw(AnnData a, const Names& raw_genes, double base) {
  Raw raw;
  raw.X =
      from_chunk(test::chunk_of(make_ref({a.n_obs(), static_cast<index_t>(raw_genes.size())},
                                         [&](index_t r, index_t c) { return base + 10 * r + c; })),
                 ChunkSpec(1, 3));
  raw.var = DataFrame(raw_genes);
  a.set_raw(raw);
  return a;
}

TEST(Concat, RawIsJoinedWhenEveryObjectHasOne) {
  const AnnData p = with_raw(object_p(), {"g3", "g1", "g0", "g2", "r9"}, 1000);
  const AnnData q = with_raw(object_q(), {"g0", "g2", "g3", "g5"}, 2000);
  const AnnData c = concat({p, q});
  ASSERT_TRUE(c.raw().has_value());
  EXPECT_EQ(c.raw()->var.index(), (Names{"g3", "g0", "g2"}));
  EXPECT_TRUE(array_is(c.raw()->X, rows_of({{1000, 1002, 1003},
                                            {1010, 1012, 1013},
                                            {2002, 2000, 2001},
                                            {2012, 2010, 2011},
                                            {2022, 2020, 2021}})));
  const AnnData o = concat({p, q}, outer());
  ASSERT_TRUE(o.raw().has_value());
  EXPECT_EQ(o.raw()->var.index(), (Names{"g0", "g1", "g2", "g3", "g5", "r9"}));
  EXPECT_TRUE(array_is(o.raw()->X, rows_of({{1002, 1001, 1003, 1000, NaN, 1004},
                                            {1012, 1011, 1013, 1010, NaN, 1014},
                                            {2000, NaN, 2001, 2002, 2003, NaN},
                                            {2010, NaN, 2011, 2012, 2013, NaN},
                                            {2020, NaN, 2021, 2022, 2023, NaN}})));
  // Not every object has raw: no raw.
  EXPECT_FALSE(concat({p, object_q()}).raw().has_value());
}

TEST(Concat, RawVarAnnotationIsNotMergedAsTheReference) {
  // anndata.concat joins raw without passing `merge` on: raw.var keeps no columns.
  AnnData p = with_raw(object_p(), {"g3", "g0"}, 1000);
  AnnData q = with_raw(object_q(), {"g0", "g3"}, 2000);
  Raw rp = *p.raw();
  rp.var.set("rv", Column::from(D{1, 2}));
  p.set_raw(rp);
  Raw rq = *q.raw();
  rq.var.set("rv", Column::from(D{2, 1}));
  q.set_raw(rq);
  ConcatOptions o;
  o.merge = MergeStrategy::same;
  const AnnData c = concat({p, q}, o);
  ASSERT_TRUE(c.raw().has_value());
  EXPECT_TRUE(c.raw()->var.columns().empty());
}

// ---- axis 1 -------------------------------------------------------------------------------------

AnnData object_r() {
  DataFrame var(Names{"d0", "d1"}, "var");
  var.set("kind", Column::strings({"r0", "r1"}));
  DataFrame obs(Names{"o0", "o1", "o2"}, "obs");
  obs.set("cond", Column::strings({"ctl", "trt", "ctl"}));
  AnnData a(test::chunk_of(rows_of({{1, 2}, {3, 4}, {5, 6}})), obs, var);
  a.varm().set("vl", test::chunk_of(rows_of({{1, 1}, {2, 2}})));
  return a;
}

AnnData object_s() {
  DataFrame var(Names{"e0"}, "var");
  var.set("kind", Column::strings({"s0"}));
  DataFrame obs(Names{"o2", "o0", "o9"}, "obs");
  obs.set("cond", Column::strings({"ctl", "ctl", "trt"}));
  AnnData a(test::chunk_of(rows_of({{10}, {20}, {30}})), obs, var);
  a.varm().set("vl", test::chunk_of(rows_of({{3, 3}})));
  return a;
}

TEST(Concat, AlongVariables) {
  ConcatOptions o;
  o.axis = 1;
  o.label = "part";
  o.index_unique = ":";
  o.merge = MergeStrategy::same;
  const AnnData c = concat({object_r(), object_s()}, o);
  EXPECT_EQ(c.obs_names(), (Names{"o0", "o2"}));
  EXPECT_EQ(c.var_names(), (Names{"d0:0", "d1:0", "e0:1"}));
  EXPECT_TRUE(array_is(c.X(), rows_of({{1, 2, 20}, {5, 6, 10}})));
  EXPECT_EQ(c.var()["kind"].string_values(), (Names{"r0", "r1", "s0"}));
  EXPECT_EQ(texts(c.var()["part"]), (Names{"0", "0", "1"}));
  EXPECT_EQ(texts(c.obs()["cond"]), (Names{"ctl", "ctl"}));  // same in both after alignment
  EXPECT_TRUE(array_is(c.varm()["vl"], rows_of({{1, 1}, {2, 2}, {3, 3}})));
}

TEST(Concat, AlongVariablesOuter) {
  ConcatOptions u;
  u.axis = 1;
  u.join = Join::outer;
  u.label = "part";
  u.merge = MergeStrategy::same;
  // Merging obs aligns the string column "cond" to names some object lacks.
  if (!test::runs_without_crashing([&] { (void)concat({object_r(), object_s()}, u); })) return;
  const AnnData d = concat({object_r(), object_s()}, u);
  EXPECT_EQ(d.obs_names(), (Names{"o0", "o1", "o2", "o9"}));
  EXPECT_EQ(d.var_names(), (Names{"d0", "d1", "e0"}));
  EXPECT_TRUE(array_is(d.X(), rows_of({{1, 2, 20}, {3, 4, NaN}, {5, 6, 10}, {NaN, NaN, 30}})));
  EXPECT_FALSE(d.obs().contains("cond"));  // o1 and o9 are missing in one object each: not the same
}

// ---- laziness and views -----------------------------------------------------------------------

TEST(Concat, AlignedLazyInputsAddNoTasks) {
  const ChunkSpec chunks(2, 3);
  std::vector<AnnData> objects;
  index_t input_tasks = 0, layer_tasks = 0;
  for (int k = 0; k < 3; ++k) {
    const Shape shape{2 + 2 * k, 6};  // whole row chunks in each object
    AnnData a(random(shape, chunks, 100 + k),
              DataFrame(test::numbered("o" + std::to_string(k) + "_", shape.rows)),
              DataFrame(test::numbered("g", 6)));
    a.layers().set("s", random_sparse(shape, chunks, 0.5, 200 + k));
    input_tasks += a.X()->graph_stats().tasks;
    layer_tasks += a.layers()["s"].graph_stats().tasks;
    objects.push_back(a);
  }
  for (Join j : {Join::inner, Join::outer}) {
    ConcatOptions o;
    o.join = j;
    const AnnData c = concat(objects, o);
    EXPECT_EQ(c.X()->graph_stats().tasks, input_tasks);
    EXPECT_EQ(c.layers()["s"].graph_stats().tasks, layer_tasks);
    EXPECT_EQ(c.X()->in_memory(), nullptr);  // still lazy
    Ref expected({12, 6});
    index_t row = 0;
    for (int k = 0; k < 3; ++k) {
      const Ref part = test::random_ref(100 + k, {2 + 2 * k, 6});
      for (index_t r = 0; r < part.shape.rows; ++r, ++row) {
        for (index_t col = 0; col < 6; ++col)
          expected.at(row, col) = part.at(r, col);
      }
    }
    EXPECT_TRUE(array_is(c.X(), expected));
  }
}

TEST(Concat, ViewsAsInputs) {
  const AnnData p = object_p();
  const AnnData q = object_q();
  const AnnData c = concat({p(Selector::take({1, 1}), AxisIndex::names({"g0", "g3"})),
                            q(std::vector<bool>{false, true, false})},
                           outer());
  EXPECT_EQ(c.obs_names(), (Names{"p1", "p1", "q1"}));
  EXPECT_EQ(c.var_names(), (Names{"g0", "g2", "g3", "g5"}));
  EXPECT_TRUE(
      array_is(c.X(), rows_of({{13, NaN, 11, NaN}, {13, NaN, 11, NaN}, {110, 111, 112, 113}})));
}

TEST(Concat, OneObject) {
  const AnnData c = concat({object_p()});
  EXPECT_EQ(c.obs_names(), (Names{"p0", "p1"}));
  EXPECT_EQ(c.var_names(), (Names{"g3", "g1", "g0", "g2"}));
  EXPECT_TRUE(array_is(
      c.X(), make_ref({2, 4}, [](index_t r, index_t col) { return double(10 * r + col + 1); })));
}

// ---- errors -------------------------------------------------------------------------------------

TEST(ConcatErrors, SomeWithXSomeWithout) {
  const AnnData no_x(DataFrame(Names{"z0"}), DataFrame(Names{"g3", "g1", "g0", "g2"}));
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({object_p(), no_x}), ValueError, "X");
  // None with X is fine.
  const AnnData c = concat({no_x, no_x});
  EXPECT_FALSE(c.X().has_value());
  EXPECT_EQ(c.obs_names(), (Names{"z0", "z0"}));
}

TEST(ConcatErrors, NonUniqueVarNamesWithDifferentVarSets) {
  const AnnData dup(zeros({1, 3}, ChunkSpec(1, 3)), DataFrame(Names{"x"}),
                    DataFrame(Names{"g0", "g0", "g1"}));
  const AnnData other(zeros({1, 2}, ChunkSpec(1, 2)), DataFrame(Names{"y"}),
                      DataFrame(Names{"g0", "g1"}));
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({dup, other}), ValueError, "unique");
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({other, dup}, outer()), ValueError, "g0");
}

TEST(ConcatErrors, BadOptions) {
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({}), ValueError, "object");
  ConcatOptions axis;
  axis.axis = 2;
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({object_p()}, axis), ValueError, "axis");
  ConcatOptions keys;
  keys.keys = {"only_one"};
  TESSERA_EXPECT_THROW_MENTIONING((void)concat({object_p(), object_q()}, keys), ValueError, "keys");
}

TEST(ConcatErrors, NamesOfJoinsAndStrategies) {
  EXPECT_EQ(join_from_name("inner"), Join::inner);
  EXPECT_EQ(join_from_name("outer"), Join::outer);
  TESSERA_EXPECT_THROW_MENTIONING((void)join_from_name("left"), ValueError, "left");
  EXPECT_EQ(merge_from_name("same"), MergeStrategy::same);
  EXPECT_EQ(merge_from_name("unique"), MergeStrategy::unique);
  EXPECT_EQ(merge_from_name("first"), MergeStrategy::first);
  EXPECT_EQ(merge_from_name("only"), MergeStrategy::only);
  EXPECT_EQ(merge_from_name("none"), MergeStrategy::none);
  TESSERA_EXPECT_THROW_MENTIONING((void)merge_from_name("bogus"), ValueError, "bogus");
}

}  // namespace
}  // namespace tessera
