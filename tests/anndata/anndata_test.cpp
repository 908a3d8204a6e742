// AnnData's slots: X, obs, var, obsm, varm, obsp, varp, layers, uns and raw each accept a lazy
// Array (dense or CSR) or an in-memory Chunk, check shapes on assignment with a ShapeError naming
// the slot and key, and hold values that compute to what was put in (compared with references
// built here). Also transpose(), python_repr() and repr() on hand-written expectations (the
// reference comparison of repr is in reference_check.py).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "anndata_test_util.hpp"
#include "tessera/anndata/anndata.hpp"

namespace tessera {
namespace {

using test::array_is;
using test::csr_of;
using test::make_ref;
using test::Names;
using test::Ref;

constexpr Shape kShape{5, 4};

Ref x_ref() {
  return make_ref(kShape, [](index_t r, index_t c) { return double(r * 4 + c); });
}

DataFrame obs_frame() {
  return DataFrame(test::numbered("cell", 5), "obs");
}
DataFrame var_frame() {
  return DataFrame(test::numbered("gene", 4), "var");
}

// ---- construction and X ---------------------------------------------------------------------

TEST(AnnData, ShapeOnlyObjectHasRangeNamesAndNoX) {
  const AnnData a(3, 2);
  EXPECT_EQ(a.shape(), (Shape{3, 2}));
  EXPECT_EQ(a.n_obs(), 3);
  EXPECT_EQ(a.n_vars(), 2);
  EXPECT_FALSE(a.X().has_value());
  EXPECT_EQ(a.obs_names(), (Names{"0", "1", "2"}));
  EXPECT_EQ(a.var_names(), (Names{"0", "1"}));
  EXPECT_FALSE(a.is_view());
  EXPECT_FALSE(a.raw().has_value());
  TESSERA_EXPECT_THROW_MENTIONING((void)AnnData(-1, 2), ShapeError, "-1");
}

TEST(AnnData, FromALazyDenseArray) {
  const Array x = arange(kShape, ChunkSpec(2, 3)).astype(DType::float64);
  const AnnData a(x, obs_frame(), var_frame());
  EXPECT_EQ(a.shape(), kShape);
  EXPECT_EQ(a.obs_names(), test::numbered("cell", 5));
  EXPECT_EQ(a.var_names(), test::numbered("gene", 4));
  ASSERT_TRUE(a.X().has_value());
  EXPECT_EQ(a.X()->in_memory(), nullptr);  // still lazy
  EXPECT_TRUE(array_is(a.X(), x_ref()));
}

TEST(AnnData, FromALazyCsrArray) {
  const Ref ref = test::sparse_ref(kShape);
  const AnnData a(from_chunk(csr_of(ref), ChunkSpec(2, 4)).tocsr() * 2.0);
  EXPECT_TRUE(a.X()->is_sparse());
  EXPECT_EQ(a.obs_names(), (Names{"0", "1", "2", "3", "4"}));
  EXPECT_TRUE(array_is(a.X(), test::map_ref(ref, [](double v) { return 2 * v; })));
}

TEST(AnnData, FromAnInMemoryChunkSharesIt) {
  const Chunk x = test::chunk_of(x_ref());
  const AnnData a(x);
  ASSERT_NE(a.X()->in_memory(), nullptr);
  EXPECT_TRUE(a.X()->in_memory()->shares_memory_with(x));
  EXPECT_TRUE(array_is(a.X(), x_ref()));
  const Chunk csr = csr_of(test::sparse_ref(kShape));
  const AnnData s(csr);
  EXPECT_TRUE(s.X()->is_sparse());
  EXPECT_TRUE(array_is(s.X(), test::sparse_ref(kShape)));
}

TEST(AnnData, FromTablesWithoutX) {
  DataFrame obs = obs_frame();
  obs.set("n", Column::from(std::vector<double>{1, 2, 3, 4, 5}));
  const AnnData a(obs, var_frame());
  EXPECT_EQ(a.shape(), kShape);
  EXPECT_FALSE(a.X().has_value());
  EXPECT_EQ(a.obs().columns().keys(), Names{"n"});
}

TEST(AnnData, TablesThatDisagreeWithXAreAShapeError) {
  const Chunk x = test::chunk_of(x_ref());
  TESSERA_EXPECT_THROW_MENTIONING((void)AnnData(x, DataFrame(test::numbered("c", 4), "obs")),
                                  ShapeError, "X", "obs");
  TESSERA_EXPECT_THROW_MENTIONING(
      (void)AnnData(x, std::nullopt, DataFrame(test::numbered("g", 5), "var")), ShapeError, "X",
      "var");
}

TEST(AnnData, SetXChecksTheShapeAndAcceptsEveryKindOfArray) {
  AnnData a(obs_frame(), var_frame());
  TESSERA_EXPECT_THROW_MENTIONING(a.set_X(zeros({4, 5}, ChunkSpec(2, 2))), ShapeError, "X");
  TESSERA_EXPECT_THROW_MENTIONING(a.set_X(Chunk::dense_filled(DType::float64, {5, 3}, 0)),
                                  ShapeError, "(5, 3)");
  EXPECT_FALSE(a.X().has_value());
  a.set_X(random(kShape, ChunkSpec(3, 3), 11));
  EXPECT_TRUE(array_is(a.X(), test::random_ref(11, kShape)));
  a.set_X(random_sparse(kShape, ChunkSpec(3, 3), 0.3, 12));
  EXPECT_TRUE(a.X()->is_sparse());
  a.set_X(test::chunk_of<std::int32_t>(x_ref()));
  EXPECT_EQ(a.X()->dtype(), DType::int32);
  EXPECT_TRUE(array_is(a.X(), x_ref()));
  a.clear_X();
  EXPECT_FALSE(a.X().has_value());
}

TEST(AnnData, SetObsAndVarCheckTheLength) {
  AnnData a(test::chunk_of(x_ref()));
  TESSERA_EXPECT_THROW_MENTIONING(a.set_obs(DataFrame(test::numbered("c", 6))), ShapeError, "obs");
  TESSERA_EXPECT_THROW_MENTIONING(a.set_var(DataFrame(test::numbered("g", 3))), ShapeError, "var");
  DataFrame obs = obs_frame();
  obs.set("batch", Column::categorical({"a", "b", "a", "b", "b"}));
  a.set_obs(obs);
  EXPECT_EQ(a.obs_names(), test::numbered("cell", 5));
  EXPECT_EQ(a.obs().name(), "obs");
  // Columns added through the table are checked too.
  TESSERA_EXPECT_THROW_MENTIONING(a.obs().set("short", Column::from(std::vector<double>{1})),
                                  ShapeError, "short");
  TESSERA_EXPECT_THROW_MENTIONING(a.var().set("long", Column::strings(test::numbered("x", 5))),
                                  ShapeError, "long");
  a.var().set("ok", Column::strings(test::numbered("x", 4)));
  EXPECT_EQ(a.var()["ok"].string_values(), test::numbered("x", 4));
}

TEST(AnnData, NamesMakeUnique) {
  AnnData a(DataFrame(Names{"c", "c", "d"}), DataFrame(Names{"g", "g"}));
  a.obs_names_make_unique();
  a.var_names_make_unique();
  EXPECT_EQ(a.obs_names(), (Names{"c", "c-1", "d"}));
  EXPECT_EQ(a.var_names(), (Names{"g", "g-1"}));
}

// ---- aligned slots ----------------------------------------------------------------------------

struct Slot {
  const char* name;
  AlignedArrays& (*get)(AnnData&);
  Shape good;   // an accepted shape
  Shape wrong;  // a rejected one
};

std::vector<Slot> slots() {
  return {
      {"obsm", [](AnnData& a) -> AlignedArrays& { return a.obsm(); }, {5, 7}, {4, 7}},
      {"varm", [](AnnData& a) -> AlignedArrays& { return a.varm(); }, {4, 2}, {5, 2}},
      {"layers", [](AnnData& a) -> AlignedArrays& { return a.layers(); }, {5, 4}, {5, 5}},
      {"obsp", [](AnnData& a) -> AlignedArrays& { return a.obsp(); }, {5, 5}, {5, 4}},
      {"varp", [](AnnData& a) -> AlignedArrays& { return a.varp(); }, {4, 4}, {4, 5}},
  };
}

TEST(AlignedSlots, AcceptLazyDenseLazyCsrAndInMemoryArrays) {
  for (const Slot& s : slots()) {
    SCOPED_TRACE(s.name);
    AnnData a(test::chunk_of(x_ref()));
    AlignedArrays& m = s.get(a);
    EXPECT_EQ(m.name(), s.name);
    const Ref dense = make_ref(s.good, [](index_t r, index_t c) { return r * 0.5 - c; });
    const Ref sparse = test::sparse_ref(s.good);
    m.set("lazy", from_chunk(test::chunk_of(dense), ChunkSpec(2, 2)) + 1.0);
    m.set("csr", from_chunk(csr_of(sparse), ChunkSpec(3, 2)));
    m.set("memory", test::chunk_of(dense));
    EXPECT_EQ(m.keys(), (Names{"lazy", "csr", "memory"}));
    EXPECT_EQ(m.size(), 3U);
    EXPECT_TRUE(array_is(m["lazy"], test::map_ref(dense, [](double v) { return v + 1; })));
    EXPECT_TRUE(m["csr"].is_sparse());
    EXPECT_TRUE(array_is(m["csr"], sparse));
    ASSERT_NE(m["memory"].in_memory(), nullptr);
    EXPECT_TRUE(array_is(m["memory"], dense));
    // Only this slot changed.
    std::size_t filled = 0;
    for (const Slot& other : slots())
      filled += other.get(a).size();
    EXPECT_EQ(filled, 3U);
  }
}

TEST(AlignedSlots, WrongShapesAreShapeErrorsNamingSlotAndKey) {
  for (const Slot& s : slots()) {
    SCOPED_TRACE(s.name);
    AnnData a(test::chunk_of(x_ref()));
    AlignedArrays& m = s.get(a);
    const std::string slot_key = std::string(s.name) + "['bad']";
    TESSERA_EXPECT_THROW_MENTIONING(m.set("bad", zeros(s.wrong, ChunkSpec(2, 2))), ShapeError,
                                    slot_key);
    TESSERA_EXPECT_THROW_MENTIONING(m.set("bad", Chunk::dense_filled(DType::float64, s.wrong, 0)),
                                    ShapeError, slot_key);
    TESSERA_EXPECT_THROW_MENTIONING(m.set("bad", zeros(s.wrong, ChunkSpec(2, 2))), ShapeError,
                                    to_string(s.wrong));
    EXPECT_FALSE(m.contains("bad"));
    EXPECT_TRUE(m.empty());
  }
}

TEST(AlignedSlots, KeysWithQuotesAreQuotedAsPythonInErrors) {
  AnnData a(test::chunk_of(x_ref()));
  TESSERA_EXPECT_THROW_MENTIONING(a.obsm().set("it's", zeros({1, 1}, ChunkSpec(1, 1))), ShapeError,
                                  "obsm[\"it's\"]");
  TESSERA_EXPECT_THROW_MENTIONING(a.layers().set("a", zeros({5, 1}, ChunkSpec(1, 1))), ShapeError,
                                  "layers['a']");
}

TEST(AlignedSlots, RequiredExtentsFollowTheObject) {
  AnnData a(test::chunk_of(x_ref()));
  EXPECT_EQ(a.obsm().required_rows(), 5);
  EXPECT_EQ(a.obsm().required_cols(), -1);
  EXPECT_EQ(a.varm().required_rows(), 4);
  EXPECT_EQ(a.layers().required_rows(), 5);
  EXPECT_EQ(a.layers().required_cols(), 4);
  EXPECT_EQ(a.obsp().required_cols(), 5);
  EXPECT_EQ(a.varp().required_rows(), 4);
  // obsm and varm accept any number of columns, including none.
  a.obsm().set("wide", zeros({5, 40}, ChunkSpec(5, 8)));
  a.obsm().set("empty", zeros({5, 0}, ChunkSpec(5, -1)));
  EXPECT_EQ(a.obsm()["wide"].shape(), (Shape{5, 40}));
}

TEST(AlignedSlots, SetReplacesEraseRemovesUnknownKeyIsAnIndexError) {
  AnnData a(test::chunk_of(x_ref()));
  a.layers().set("a", zeros(kShape, ChunkSpec(5, 4)));
  a.layers().set("b", ones(kShape, ChunkSpec(5, 4)));
  a.layers().set("a", full(kShape, 3.0, ChunkSpec(5, 4)));
  EXPECT_EQ(a.layers().keys(), (Names{"a", "b"}));
  EXPECT_TRUE(array_is(a.layers()["a"], Ref(kShape, 3.0)));
  EXPECT_TRUE(a.layers().erase("a"));
  EXPECT_FALSE(a.layers().contains("a"));
  TESSERA_EXPECT_THROW_MENTIONING((void)a.layers()["a"], IndexError, "'a'");
  TESSERA_EXPECT_THROW_MENTIONING((void)a.varp()["corr"], IndexError, "varp", "corr");
}

// ---- uns and raw ------------------------------------------------------------------------------

TEST(AnnData, UnsHoldsNestedScalarsStringsArraysMappingsAndFrames) {
  AnnData a(test::chunk_of(x_ref()));
  Uns params("uns['pca']['params']");
  params.set("zero_center", NdArray::scalar(Chunk::from_values({1, 1}, std::vector<bool>{true})));
  params.set("use_highly_variable", "false");
  Uns pca("uns['pca']");
  pca.set("params", params);
  pca.set("variance", NdArray::vector<double>({3.0, 1.5}));
  pca.set("variance_ratio", NdArray::matrix(Chunk::from_values<float>({1, 2}, {0.6F, 0.3F})));
  a.uns().set("pca", pca);
  a.uns().set("name", "pbmc");
  a.uns().set("n", NdArray::scalar<std::int64_t>(5));
  a.uns().set("categories", StringArray{{"a", "b", "c"}, {3}});
  DataFrame frame(Names{"x", "y"});
  frame.set("score", Column::from(std::vector<double>{0.5, 0.25}));
  a.uns().set("rank_genes", frame);
  EXPECT_EQ(a.uns().keys(), (Names{"pca", "name", "n", "categories", "rank_genes"}));
  const Uns& got = a.uns().at("pca").mapping();
  EXPECT_EQ(got.at("params").mapping().at("use_highly_variable").as<std::string>(), "false");
  EXPECT_EQ(got.at("variance").as<NdArray>().shape, std::vector<index_t>{2});
  EXPECT_EQ(got.at("variance_ratio").as<NdArray>().data.dtype(), DType::float32);
  EXPECT_EQ(a.uns().at("rank_genes").as<DataFrame>().index(), (Names{"x", "y"}));
  TESSERA_EXPECT_THROW_MENTIONING(a.uns().insert("name", "again"), ValueError, "name");
}

TEST(AnnData, RawMayHaveMoreVariablesThanX) {
  AnnData a(test::chunk_of(x_ref()), obs_frame(), var_frame());
  const Ref raw_ref = make_ref({5, 7}, [](index_t r, index_t c) { return double(r + 10 * c); });
  Raw raw;
  raw.X = from_chunk(csr_of(raw_ref), ChunkSpec(2, 7));
  raw.var = DataFrame(test::numbered("gene", 7));
  raw.var.set("highly_variable",
              Column::from(std::vector<bool>{true, false, true, false, true, false, true}));
  raw.varm.set("PCs", Chunk::dense_filled(DType::float64, {7, 2}, 1.0));
  a.set_raw(raw);
  ASSERT_TRUE(a.raw().has_value());
  EXPECT_TRUE(a.raw()->X->is_sparse());
  EXPECT_TRUE(array_is(a.raw()->X, raw_ref));
  EXPECT_EQ(a.raw()->var.index(), test::numbered("gene", 7));
  EXPECT_EQ(a.raw()->var.columns().keys(), Names{"highly_variable"});
  EXPECT_EQ(a.raw()->varm.keys(), Names{"PCs"});
  // Later raw.varm assignments are checked against raw.var's length.
  AnnData b = a;
  Raw r2 = *b.raw();
  TESSERA_EXPECT_THROW_MENTIONING(r2.varm.set("short", zeros({4, 1}, ChunkSpec(1, 1))), ShapeError,
                                  "raw.varm['short']");
  a.clear_raw();
  EXPECT_FALSE(a.raw().has_value());
}

TEST(AnnData, RawWithoutVarGetsRangeNames) {
  AnnData a(test::chunk_of(x_ref()));
  Raw raw;
  raw.X = zeros({5, 6}, ChunkSpec(5, 6));
  a.set_raw(raw);
  EXPECT_EQ(a.raw()->var.index(), (Names{"0", "1", "2", "3", "4", "5"}));
}

TEST(AnnData, RawShapeErrorsNameWhatDisagrees) {
  AnnData a(test::chunk_of(x_ref()));
  Raw rows;
  rows.X = zeros({4, 6}, ChunkSpec(4, 6));
  rows.var = DataFrame(test::numbered("g", 6));
  TESSERA_EXPECT_THROW_MENTIONING(a.set_raw(rows), ShapeError, "raw.X");
  Raw cols;
  cols.X = zeros({5, 6}, ChunkSpec(5, 6));
  cols.var = DataFrame(test::numbered("g", 7));
  TESSERA_EXPECT_THROW_MENTIONING(a.set_raw(cols), ShapeError, "raw.var");
  Raw varm;
  varm.X = zeros({5, 6}, ChunkSpec(5, 6));
  varm.var = DataFrame(test::numbered("g", 6));
  varm.varm.set("bad", zeros({5, 2}, ChunkSpec(5, 2)));  // 5 rows: fits X's vars, not raw's 6
  TESSERA_EXPECT_THROW_MENTIONING(a.set_raw(varm), ShapeError, "raw.varm['bad']");
  EXPECT_FALSE(a.raw().has_value());
}

// ---- transpose --------------------------------------------------------------------------------

TEST(AnnData, TransposeSwapsAxesAndTransposesArrays) {
  AnnData a(test::chunk_of(x_ref()), obs_frame(), var_frame());
  a.obs().set("o", Column::from(std::vector<double>{1, 2, 3, 4, 5}));
  a.var().set("v", Column::strings({"a", "b", "c", "d"}));
  const Ref layer = make_ref(kShape, [](index_t r, index_t c) { return double(100 + r - c); });
  a.layers().set("l", from_chunk(csr_of(layer), ChunkSpec(2, 2)));
  a.obsm().set("pca", Chunk::dense_filled(DType::float64, {5, 3}, 2.0));
  a.varm().set("loadings", Chunk::dense_filled(DType::float64, {4, 2}, 3.0));
  a.obsp().set("dist", Chunk::dense_filled(DType::float64, {5, 5}, 4.0));
  a.uns().set("k", "v");
  const AnnData t = a.transpose();
  EXPECT_EQ(t.shape(), (Shape{4, 5}));
  EXPECT_EQ(t.obs_names(), test::numbered("gene", 4));
  EXPECT_EQ(t.var_names(), test::numbered("cell", 5));
  EXPECT_EQ(t.obs().columns().keys(), Names{"v"});
  EXPECT_EQ(t.var().columns().keys(), Names{"o"});
  const auto transposed = [](const Ref& r) {
    return make_ref({r.shape.cols, r.shape.rows}, [&](index_t i, index_t j) { return r.at(j, i); });
  };
  EXPECT_TRUE(array_is(t.X(), transposed(x_ref())));
  EXPECT_TRUE(array_is(t.layers()["l"], transposed(layer)));
  EXPECT_EQ(t.obsm().keys(), Names{"loadings"});
  EXPECT_EQ(t.varm().keys(), Names{"pca"});
  EXPECT_EQ(t.varp().keys(), Names{"dist"});
  EXPECT_TRUE(t.obsp().empty());
  EXPECT_TRUE(t.uns() == a.uns());
  EXPECT_EQ(t.transpose().shape(), kShape);
}

// ---- repr -------------------------------------------------------------------------------------

TEST(PythonRepr, QuotesAsPython) {
  EXPECT_EQ(python_repr("plain"), "'plain'");
  EXPECT_EQ(python_repr("it's"), "\"it's\"");
  EXPECT_EQ(python_repr("say \"hi\""), "'say \"hi\"'");
  EXPECT_EQ(python_repr("both'\""), "'both\\'\"'");
  EXPECT_EQ(python_repr("back\\slash"), "'back\\\\slash'");
  EXPECT_EQ(python_repr("tab\tnew\nline\r"), "'tab\\tnew\\nline\\r'");
  EXPECT_EQ(python_repr(std::string("nul\0x", 5)), "'nul\\x00x'");
  EXPECT_EQ(python_repr("\x1b"), "'\\x1b'");
  EXPECT_EQ(python_repr("größe 细胞 🧬"), "'größe 细胞 🧬'");
  EXPECT_EQ(python_repr(""), "''");
  // Python escapes characters that are not printable: U+00A0 (no-break space), U+200B.
  EXPECT_EQ(python_repr("nb\u00a0sp"), "'nb\\xa0sp'");
  EXPECT_EQ(python_repr("zw\u200bsp"), "'zw\\u200bsp'");
  EXPECT_EQ(python_repr("del\x7f"), "'del\\x7f'");
}

TEST(Repr, ListsNonEmptySlotsInTheReferenceOrder) {
  AnnData a(test::chunk_of(x_ref()));
  EXPECT_EQ(a.repr(), "AnnData object with n_obs × n_vars = 5 × 4");
  a.varp().set("vp", Chunk::dense_filled(DType::float64, {4, 4}, 0));
  a.layers().set("counts", test::chunk_of(x_ref()));
  a.obs().set("batch", Column::strings(test::numbered("b", 5)));
  a.obs().set("it's", Column::strings(test::numbered("b", 5)));
  a.uns().set("u", "x");
  a.obsm().set("X_pca", Chunk::dense_filled(DType::float64, {5, 2}, 0));
  a.var().set("gene_ids", Column::strings(test::numbered("g", 4)));
  a.varm().set("PCs", Chunk::dense_filled(DType::float64, {4, 2}, 0));
  a.obsp().set("distances", Chunk::dense_filled(DType::float64, {5, 5}, 0));
  const std::string expected =
      "AnnData object with n_obs × n_vars = 5 × 4\n"
      "    obs: 'batch', \"it's\"\n"
      "    var: 'gene_ids'\n"
      "    uns: 'u'\n"
      "    obsm: 'X_pca'\n"
      "    varm: 'PCs'\n"
      "    layers: 'counts'\n"
      "    obsp: 'distances'\n"
      "    varp: 'vp'";
  EXPECT_EQ(a.repr(), expected);
  EXPECT_EQ(a(Selector::take({0, 1})).repr(), "View of AnnData object with n_obs × n_vars = 2 × 4" +
                                                  expected.substr(expected.find('\n')));
}

}  // namespace
}  // namespace tessera
