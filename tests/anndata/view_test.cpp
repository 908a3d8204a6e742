// Views: adata(rows, cols) with slices (negative bounds and steps), positions with repeats and
// negatives, boolean masks, names, and masks from obs columns; views of views compose; every
// array slot of a view (X, layers, obsm, varm, obsp, varp, raw.X) equals a naive selection of the
// parent's computed data, with positions worked out here (Python's slice rules written out in
// test_util.hpp); tables are subset; arrays stay lazy; copy() is not a view; bad selections are
// typed errors.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "anndata_test_util.hpp"
#include "tessera/anndata/anndata.hpp"

namespace tessera {
namespace {

using test::gather;
using test::iota;
using test::Names;
using test::pick;
using test::python_slice;
using test::Ref;
using test::values_equal;
using V = std::vector<index_t>;
using Opt = std::optional<index_t>;
constexpr Opt None = std::nullopt;

constexpr index_t kObs = 7;
constexpr index_t kVars = 5;
constexpr index_t kRawVars = 8;

AnnData parent() {
  DataFrame obs(test::numbered("cell", kObs), "obs");
  obs.set("batch", Column::categorical({"a", "b", "a", "c", "b", "b", std::nullopt}));
  obs.set("n", Column::from(std::vector<double>{0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5}));
  obs.set("label", Column::strings(test::numbered("L", kObs)));
  obs.set("count",
          Column::nullable(Chunk::from_values<std::int64_t>({kObs, 1}, {1, 2, 3, 4, 5, 6, 7}),
                           {false, true, false, false, true, false, false}));
  DataFrame var(test::numbered("gene", kVars), "var");
  var.set("hv", Column::from(std::vector<bool>{true, false, true, true, false}));
  AnnData a(random({kObs, kVars}, ChunkSpec(3, 2), 5), obs, var);
  a.layers().set("csr", random_sparse({kObs, kVars}, ChunkSpec(2, 3), 0.4, 6));
  a.layers().set("mem", test::chunk_of(test::make_ref({kObs, kVars}, [](index_t r, index_t c) {
                   return double(r * 100 + c);
                 })));
  a.obsm().set("pca", random({kObs, 3}, ChunkSpec(4, 3), 7));
  a.varm().set("load", test::chunk_of(test::make_ref(
                           {kVars, 2}, [](index_t r, index_t c) { return double(r * 10 + c); })));
  a.obsp().set("conn", random_sparse({kObs, kObs}, ChunkSpec(3, 3), 0.3, 8));
  a.varp().set("corr", random({kVars, kVars}, ChunkSpec(2, 5), 9));
  Raw raw;
  raw.X = random_sparse({kObs, kRawVars}, ChunkSpec(3, 4), 0.5, 10);
  raw.var = DataFrame(test::numbered("rawgene", kRawVars));
  a.set_raw(raw);
  a.uns().set("title", "parent");
  return a;
}

// The parent's computed data, once per slot.
struct Computed {
  Ref X, csr, mem, pca, load, conn, corr, raw_X;
};

Computed compute_all(const AnnData& a) {
  return {test::computed(*a.X()),
          test::computed(a.layers()["csr"]),
          test::computed(a.layers()["mem"]),
          test::computed(a.obsm()["pca"]),
          test::computed(a.varm()["load"]),
          test::computed(a.obsp()["conn"]),
          test::computed(a.varp()["corr"]),
          test::computed(*a.raw()->X)};
}

// Checks every slot of `v` against a naive selection of the parent's data at rows × cols.
void check_view(const AnnData& p, const Computed& ref, const AnnData& v, const V& rows,
                const V& cols) {
  EXPECT_TRUE(v.is_view());
  const auto n = static_cast<index_t>(rows.size());
  const auto m = static_cast<index_t>(cols.size());
  EXPECT_EQ(v.shape(), (Shape{n, m}));
  EXPECT_EQ(v.obs_names(), pick(p.obs_names(), rows));
  EXPECT_EQ(v.var_names(), pick(p.var_names(), cols));

  // Tables: each column's raw values picked by hand.
  EXPECT_EQ(v.obs().columns().keys(), p.obs().columns().keys());
  for (const auto& [key, column] : p.obs().columns()) {
    SCOPED_TRACE("obs column " + key);
    const Column& got = v.obs()[key];
    EXPECT_EQ(got.kind(), column.kind());
    EXPECT_EQ(got.size(), n);
    if (column.kind() == ColumnKind::string) {
      EXPECT_EQ(got.string_values(), pick(column.string_values(), rows));
      continue;
    }
    const std::vector<double> all = test::column_numbers(column);
    std::vector<double> expected;
    for (index_t r : rows)
      expected.push_back(all[static_cast<std::size_t>(r)]);
    const std::vector<double> values = test::column_numbers(got);
    ASSERT_EQ(values.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
      EXPECT_TRUE(test::same_value(values[i], expected[i])) << i;
    if (column.kind() == ColumnKind::categorical) {
      EXPECT_EQ(got.categories().string_values(), column.categories().string_values());
    }
    if (!column.mask().empty()) {
      std::vector<bool> mask;
      for (index_t r : rows)
        mask.push_back(column.mask()[static_cast<std::size_t>(r)]);
      EXPECT_EQ(got.mask(), mask);
    }
  }
  EXPECT_TRUE(test::column_numbers(v.var()["hv"]) == [&] {
    std::vector<double> e;
    const auto all = test::column_numbers(p.var()["hv"]);
    for (index_t c : cols)
      e.push_back(all[static_cast<std::size_t>(c)]);
    return e;
  }());

  ASSERT_TRUE(v.X().has_value());
  EXPECT_TRUE(values_equal(v.X()->compute(), gather(ref.X, rows, cols))) << "X";
  EXPECT_TRUE(values_equal(v.layers()["csr"].compute(), gather(ref.csr, rows, cols)))
      << "layers['csr']";
  EXPECT_TRUE(v.layers()["csr"].is_sparse());
  EXPECT_TRUE(values_equal(v.layers()["mem"].compute(), gather(ref.mem, rows, cols)))
      << "layers['mem']";
  EXPECT_TRUE(values_equal(v.obsm()["pca"].compute(), gather(ref.pca, rows, iota(3))))
      << "obsm['pca']";
  EXPECT_TRUE(values_equal(v.varm()["load"].compute(), gather(ref.load, cols, iota(2))))
      << "varm['load']";
  EXPECT_TRUE(values_equal(v.obsp()["conn"].compute(), gather(ref.conn, rows, rows)))
      << "obsp['conn']";
  EXPECT_TRUE(v.obsp()["conn"].is_sparse());
  EXPECT_TRUE(values_equal(v.varp()["corr"].compute(), gather(ref.corr, cols, cols)))
      << "varp['corr']";
  // raw keeps every variable: only observations are selected.
  ASSERT_TRUE(v.raw().has_value());
  EXPECT_EQ(v.raw()->var.index(), p.raw()->var.index());
  EXPECT_TRUE(values_equal(v.raw()->X->compute(), gather(ref.raw_X, rows, iota(kRawVars))))
      << "raw.X";
  EXPECT_TRUE(v.uns() == p.uns());
}

struct Case {
  std::string what;
  AxisIndex obs, var;
  V rows, cols;
};

std::vector<Case> cases(const AnnData& a) {
  const auto mask_rows = [](index_t n, const std::function<bool(index_t)>& keep) {
    std::vector<bool> m(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i)
      m[static_cast<std::size_t>(i)] = keep(i);
    return m;
  };
  const std::vector<bool> every_third_skipped =
      mask_rows(kObs, [](index_t i) { return i % 3 != 1; });
  return {
      {"slice(1, 6, 2), all", Selector::slice(1, 6, 2), AxisIndex(), python_slice(kObs, 1, 6, 2),
       iota(kVars)},
      {"slice(::-1), slice(-2::-2)", Selector::slice(None, None, -1), Selector::slice(-2, None, -2),
       python_slice(kObs, None, None, -1), python_slice(kVars, -2, None, -2)},
      {"slice(5, 1, -1), slice(::2)", Selector::slice(5, 1, -1), Selector::slice(None, None, 2),
       python_slice(kObs, 5, 1, -1), python_slice(kVars, None, None, 2)},
      {"slice(-100, 100), slice(10, None)", Selector::slice(-100, 100), Selector::slice(10, None),
       python_slice(kObs, -100, 100, None), V{}},
      {"take with repeats and negatives", Selector::take({3, 3, 0, -1}), Selector::take({4, 0, 4}),
       V{3, 3, 0, 6}, V{4, 0, 4}},
      {"masks", every_third_skipped, std::vector<bool>{true, false, true, true, false},
       V{0, 2, 3, 5, 6}, V{0, 2, 3}},
      {"names", AxisIndex::names({"cell4", "cell0"}), AxisIndex::names({"gene3", "gene1", "gene3"}),
       V{4, 0}, V{3, 1, 3}},
      {"obs['batch'] == 'b'", a.obs()["batch"] == "b", AxisIndex(), V{1, 4, 5}, iota(kVars)},
      {"var['hv'] mask from a bool column", AxisIndex(), a.var()["hv"] == 1.0, iota(kObs),
       V{0, 2, 3}},
      {"empty", Selector::take({}), Selector::take({}), V{}, V{}},
  };
}

TEST(View, EverySlotEqualsANaiveSelectionOfTheParent) {
  const AnnData a = parent();
  const Computed ref = compute_all(a);
  for (const Case& c : cases(a)) {
    SCOPED_TRACE(c.what);
    check_view(a, ref, a(c.obs, c.var), c.rows, c.cols);
  }
}

TEST(View, OneAxisArgumentSelectsObservationsOnly) {
  const AnnData a = parent();
  const AnnData v = a(Selector::take({2, 1}));
  check_view(a, compute_all(a), v, V{2, 1}, iota(kVars));
}

TEST(View, SelectingEverythingIsStillAView) {
  const AnnData a = parent();
  const AnnData v = a(AxisIndex(), AxisIndex());
  check_view(a, compute_all(a), v, iota(kObs), iota(kVars));
  EXPECT_FALSE(a.is_view());
}

TEST(View, ArraysOfAViewStayLazy) {
  const AnnData a = parent();
  const AnnData v = a(Selector::take({0, 2}), Selector::slice(1, 4));
  // Even the in-memory layer is a lazy selection in the view: nothing was computed.
  EXPECT_EQ(v.layers()["mem"].in_memory(), nullptr);
  EXPECT_EQ(v.varm()["load"].in_memory(), nullptr);
  EXPECT_EQ(v.X()->in_memory(), nullptr);
}

TEST(View, ViewsOfViewsComposeLikeOneSelection) {
  const AnnData a = parent();
  const Computed ref = compute_all(a);
  // rows: reversed, then every other from 1 -> parent rows 5, 3, 1.
  // cols: 4, 0, 4, then positions 2, 1 -> parent cols 4, 0.
  const AnnData v1 = a(Selector::slice(None, None, -1), Selector::take({4, 0, 4}));
  const AnnData v2 = v1(Selector::slice(1, None, 2), Selector::take({2, 1}));
  check_view(a, ref, v2, V{5, 3, 1}, V{4, 0});
  // The same as the single selection.
  const AnnData single = a(Selector::take({5, 3, 1}), Selector::take({4, 0}));
  EXPECT_EQ(v2.obs_names(), single.obs_names());
  EXPECT_TRUE(values_equal(v2.X()->compute(), test::computed(*single.X())));

  // Three levels, with a mask, names and an obs-column mask on the way.
  const AnnData w1 =
      a(std::vector<bool>{true, true, false, true, true, true, true});  // 0 1 3 4 5 6
  const AnnData w2 =
      w1(AxisIndex::names({"cell6", "cell1", "cell4", "cell5"}), Selector::slice(None, None, -2));
  const AnnData w3 = w2(w2.obs()["batch"] == "b");  // cell1, cell4, cell5 are batch b
  check_view(a, ref, w3, V{1, 4, 5}, V{4, 2, 0});
}

TEST(View, CopyIsNotAViewAndKeepsTheValues) {
  const AnnData a = parent();
  const Computed ref = compute_all(a);
  const AnnData v = a(Selector::take({6, 0}), Selector::slice(None, None, -1));
  const AnnData c = v.copy();
  EXPECT_TRUE(v.is_view());
  EXPECT_FALSE(c.is_view());
  EXPECT_EQ(c.obs_names(), (Names{"cell6", "cell0"}));
  EXPECT_TRUE(values_equal(c.X()->compute(), gather(ref.X, V{6, 0}, V{4, 3, 2, 1, 0})));
  EXPECT_TRUE(values_equal(c.obsp()["conn"].compute(), gather(ref.conn, V{6, 0}, V{6, 0})));
  EXPECT_EQ(c.repr().rfind("AnnData object", 0), 0U);
  EXPECT_FALSE(a.copy().is_view());
}

TEST(View, UnknownNamesAreIndexErrorsNamingTheName) {
  const AnnData a = parent();
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex::names({"cell0", "no_such_cell"})), IndexError,
                                  "no_such_cell");
  EXPECT_NO_THROW((void)a(AxisIndex::names({"cell0"})));
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex(), AxisIndex::names({"gene9"})), IndexError,
                                  "gene9");
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex(), AxisIndex::names({"gene9"})), IndexError,
                                  "var");
  // Names of the other axis are not names of this one.
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex::names({"gene0"})), IndexError, "gene0");
}

TEST(View, MasksOfTheWrongLengthAreIndexErrors) {
  const AnnData a = parent();
  TESSERA_EXPECT_THROW_MENTIONING((void)a(std::vector<bool>(kObs - 1, true)), IndexError, "mask",
                                  "6", "length");
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex(), std::vector<bool>(kVars + 1, true)),
                                  IndexError, "var");
  // A mask built from the var table used on observations.
  TESSERA_EXPECT_THROW_MENTIONING((void)a(a.var()["hv"] == 1.0), IndexError, "obs");
}

TEST(View, PositionsOutOfRangeAndZeroStepsAreTypedErrors) {
  const AnnData a = parent();
  TESSERA_EXPECT_THROW_MENTIONING((void)a(Selector::take({0, kObs})), IndexError, "7");
  TESSERA_EXPECT_THROW_MENTIONING((void)a(Selector::take({-kObs - 1})), IndexError, "-8");
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex(), Selector::slice(None, None, 0)), ValueError,
                                  "step");
}

TEST(View, NamesOnANonUniqueIndexAreAValueError) {
  AnnData a(zeros({3, 2}, ChunkSpec(3, 2)), DataFrame(Names{"c", "c", "d"}),
            DataFrame(Names{"g0", "g1"}));
  TESSERA_EXPECT_THROW_MENTIONING((void)a(AxisIndex::names({"d"})), ValueError, "unique");
  // Positions still work.
  EXPECT_EQ(a(Selector::take({1, 2})).obs_names(), (Names{"c", "d"}));
}

}  // namespace
}  // namespace tessera
