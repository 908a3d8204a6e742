// Builds a fixed set of AnnData objects and prints, for each case, either the result of concat
// (`reference_cases concat`) or AnnData::repr() (`reference_cases repr`) in the plain text format
// that reference_check.py also produces from Python's anndata: the two outputs must be equal line
// for line. The objects and cases here mirror reference_check.py one to one; keep them in step.
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/anndata/anndata.hpp"
#include "tessera/anndata/concat.hpp"
#include "tessera/core/array.hpp"

namespace tessera {
namespace {

using Names = std::vector<std::string>;

// ---- objects (mirrored in reference_check.py) ---------------------------------------------------

// X of object k: 100*k + r*n_vars + c + 1, as a plain row-major buffer.
std::vector<double> x_values(int k, index_t n_obs, index_t n_vars) {
  std::vector<double> v(static_cast<std::size_t>(n_obs * n_vars));
  for (index_t i = 0; i < n_obs * n_vars; ++i)
    v[static_cast<std::size_t>(i)] = double(100 * k + i + 1);
  return v;
}

Chunk dense_chunk(Shape shape, std::vector<double> values) {
  return Chunk::from_values<double>(shape, std::move(values));
}

// Zero where (r + c + k) % 3 == 0, as CSR (built by hand: indptr, indices, data).
Chunk sparsified(const std::vector<double>& values, Shape shape, int k) {
  std::vector<index_t> indptr{0}, indices;
  std::vector<double> data;
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t c = 0; c < shape.cols; ++c) {
      if ((r + c + k) % 3 == 0) continue;
      indices.push_back(c);
      data.push_back(values[static_cast<std::size_t>(r * shape.cols + c)]);
    }
    indptr.push_back(static_cast<index_t>(indices.size()));
  }
  return Chunk::from_csr<double>(shape, indptr, indices, data);
}

template <typename F>
Chunk make(Shape shape, F f) {
  std::vector<double> v;
  for (index_t r = 0; r < shape.rows; ++r) {
    for (index_t c = 0; c < shape.cols; ++c)
      v.push_back(f(r, c));
  }
  return dense_chunk(shape, std::move(v));
}

Chunk eye(index_t n) {
  return make({n, n}, [](index_t r, index_t c) { return r == c ? 1.0 : 0.0; });
}

// prefix + number (appending rather than "literal" + std::to_string, which trips GCC 12's
// -Wrestrict false positive).
std::string named(std::string prefix, long long n) {
  prefix += std::to_string(n);
  return prefix;
}

int gene_number(const std::string& name) {
  return std::stoi(name.substr(1));
}

DataFrame var_frame(const Names& names) {
  DataFrame var(names, "var");
  std::vector<std::string> type;
  std::vector<double> mean;
  std::vector<bool> hv;
  for (const auto& g : names) {
    const int n = gene_number(g);
    type.push_back(named("t", n));
    mean.push_back(0.25 * n);
    hv.push_back(n % 2 == 0);
  }
  var.set("gene_type", Column::strings(type));
  var.set("mean", Column::from(mean));
  var.set("hv", Column::from(hv));
  return var;
}

Chunk loadings(const Names& names) {
  return make({static_cast<index_t>(names.size()), 2}, [&](index_t r, index_t c) {
    return gene_number(names[static_cast<std::size_t>(r)]) + 0.5 * double(c);
  });
}

Chunk plus(const Chunk& base, double offset) {
  return make(base.shape(), [&](index_t r, index_t c) { return base.value_at(r, c) + offset; });
}

AnnData obj_a(bool sparse_x = false) {
  DataFrame obs(Names{"a0", "a1", "a2"}, "obs");
  obs.set("batch", Column::categorical({"x", "y", "x"}, Names{"x", "y"}));
  obs.set("n_counts", Column::from(std::vector<std::int64_t>{10, 11, 12}));
  obs.set("score", Column::from(std::vector<double>{0.5, 1.5, 2.25}));
  obs.set("kind", Column::strings({"p", "q", "p"}));
  const Names var_names{"g0", "g1", "g2", "g3"};
  const Shape shape{3, 4};
  const std::vector<double> x = x_values(0, 3, 4);
  // Dense X is lazy here (arange + 1 in 2 x 3 chunks); sparse X is an in-memory CSR chunk.
  AnnData a = sparse_x ? AnnData(sparsified(x, shape, 0), obs, var_frame(var_names))
                       : AnnData(arange(shape, ChunkSpec(2, 3)).astype(DType::float64) + 1.0, obs,
                                 var_frame(var_names));
  a.obsm().set("pca",
               plus(make({3, 2}, [](index_t r, index_t c) { return double(r * 2 + c); }), 1000));
  a.obsm().set("umap",
               plus(make({3, 2}, [](index_t r, index_t c) { return double(r * 2 + c); }), 2000));
  a.varm().set("loadings", loadings(var_names));
  a.layers().set("counts", from_chunk(dense_chunk(shape, x), ChunkSpec(2, 2)) * 2.0);
  a.layers().set("spliced", plus(dense_chunk(shape, x), 0.5));
  a.obsp().set("conn", eye(3));
  a.varp().set("corr", eye(4));
  a.uns().set("note", "hello");
  return a;
}

AnnData obj_b(bool sparse_x = false) {
  DataFrame obs(Names{"b0", "b1"}, "obs");
  obs.set("batch", Column::categorical({"y", "z"}, Names{"y", "z"}));
  obs.set("n_counts", Column::from(std::vector<std::int64_t>{20, 21}));
  obs.set("extra", Column::from(std::vector<double>{9.5, 8.5}));
  const Names var_names{"g2", "g0", "g4", "g1"};
  const Shape shape{2, 4};
  const std::vector<double> x = x_values(1, 2, 4);
  AnnData b(sparse_x ? sparsified(x, shape, 1) : dense_chunk(shape, x), obs, var_frame(var_names));
  b.obsm().set("pca",
               plus(make({2, 3}, [](index_t r, index_t c) { return double(r * 3 + c); }), 3000));
  b.varm().set("loadings", loadings(var_names));
  b.layers().set("counts", make(shape, [&](index_t r, index_t c) {
                   return 2 * x[static_cast<std::size_t>(r * 4 + c)];
                 }));
  return b;
}

AnnData obj_c() {
  DataFrame obs(Names{"c0", "c1", "c2", "c3"}, "obs");
  obs.set("batch", Column::categorical({"x", "x", "y", "x"}, Names{"x", "y"}));
  obs.set("n_counts", Column::from(std::vector<std::int64_t>{30, 31, 32, 33}));
  obs.set("score", Column::from(std::vector<double>{3.5, 4.5, 5.5, 6.5}));
  obs.set("kind", Column::strings({"q", "q", "p", "r"}));
  const Names var_names{"g0", "g1", "g2", "g3"};
  const Shape shape{4, 4};
  const std::vector<double> x = x_values(2, 4, 4);
  // Sparse X, lazy: the in-memory CSR cut into 2 x 4 chunks.
  AnnData c(from_chunk(sparsified(x, shape, 2), ChunkSpec(2, 4)), obs, var_frame(var_names));
  c.obsm().set("pca",
               plus(make({4, 2}, [](index_t r, index_t k) { return double(r * 2 + k); }), 4000));
  c.obsm().set("umap",
               plus(make({4, 2}, [](index_t r, index_t k) { return double(r * 2 + k); }), 5000));
  c.varm().set("loadings", loadings(var_names));
  c.varm().set("only_c", make({4, 1}, [](index_t, index_t) { return 1.0; }));
  c.layers().set("counts", make(shape, [&](index_t r, index_t k) {
                   return 2 * x[static_cast<std::size_t>(r * 4 + k)];
                 }));
  c.varp().set("corr", eye(4));
  return c;
}

// Vars of A, obs columns of A's names in another order plus one of its own.
AnnData obj_k() {
  DataFrame obs(Names{"k0", "k1"}, "obs");
  obs.set("kind", Column::strings({"r", "s"}));
  obs.set("w", Column::from(std::vector<double>{7.25, 8.25}));
  obs.set("batch", Column::categorical({"y", "x"}, Names{"x", "y"}));
  obs.set("n_counts", Column::from(std::vector<std::int64_t>{40, 41}));
  return AnnData(dense_chunk({2, 4}, x_values(3, 2, 4)), obs, var_frame({"g0", "g1", "g2", "g3"}));
}

// a with raw: X's vars plus `extra` more (r4, r5, …); raw.X[r, c] = 0.5 * (r + c) + n_counts[0].
AnnData with_raw(const AnnData& a, int extra) {
  Names names = a.var_names();
  for (int i = 0; i < extra; ++i)
    names.push_back(named("r", 4 + i));
  const double base = a.obs()["n_counts"].number_at(0);
  Raw raw;
  raw.X = from_chunk(make({a.n_obs(), static_cast<index_t>(names.size())},
                          [&](index_t r, index_t c) { return 0.5 * double(r + c) + base; }),
                     ChunkSpec(2, 3));
  raw.var = DataFrame(names, "raw.var");
  std::vector<double> rv;
  for (std::size_t i = 0; i < names.size(); ++i)
    rv.push_back(double(i));
  raw.var.set("rv", Column::from(rv));
  AnnData out = a.copy();
  out.set_raw(std::move(raw));
  return out;
}

// Objects with missing values: categorical with missing, nullable integer and bool.
AnnData obj_n(int k) {
  const bool first = k == 0;
  DataFrame obs(first ? Names{"n0", "n1", "n2"} : Names{"m0", "m1"}, "obs");
  if (first) {
    obs.set("grp", Column::categorical({"u", std::nullopt, "v"}, Names{"u", "v"}));
    obs.set("cnt", Column::nullable(Chunk::from_values<std::int64_t>({3, 1}, {1, 0, 3}),
                                    {false, true, false}));
    obs.set("flag",
            Column::nullable(Chunk::from_values({3, 1}, std::vector<bool>{true, false, false}),
                             {false, true, false}));
  } else {
    obs.set("grp", Column::categorical({"w", std::nullopt}, Names{"v", "w"}));
    obs.set("cnt",
            Column::nullable(Chunk::from_values<std::int64_t>({2, 1}, {0, 5}), {true, false}));
    obs.set("flag", Column::nullable(Chunk::from_values({2, 1}, std::vector<bool>{false, true}),
                                     {false, false}));
  }
  const index_t n = obs.size();
  return AnnData(dense_chunk({n, 2}, x_values(k, n, 2)), obs, DataFrame(Names{"g0", "g1"}, "var"));
}

// Objects for axis=1: shared observations, different variables.
AnnData obj_axis1(int k) {
  const Names obs_names = k == 0 ? Names{"o0", "o1", "o2"} : Names{"o1", "o0", "o3"};
  const Names var_names = k == 0 ? Names{"d0", "d1"} : Names{"e0", "e1", "e2"};
  DataFrame obs(obs_names, "obs");
  obs.set("cond",
          Column::strings(k == 0 ? Names{"ctl", "trt", "ctl"} : Names{"trt", "ctl", "trt"}));
  DataFrame var(var_names, "var");
  Names vtype;
  for (std::size_t i = 0; i < var_names.size(); ++i)
    vtype.push_back(named(named("v", k) + "_", static_cast<long long>(i)));
  var.set("vtype", Column::strings(vtype));
  const Shape shape{3, static_cast<index_t>(var_names.size())};
  const Array x =
      from_chunk(dense_chunk(shape, x_values(k, shape.rows, shape.cols)), ChunkSpec(2, 2));
  AnnData a(x, obs, var);
  a.obsm().set("emb",
               make({3, 2}, [&](index_t r, index_t c) { return double(r * 2 + c + 10 * k); }));
  a.varm().set("vload", make({shape.cols, 2},
                             [&](index_t r, index_t c) { return double(r * 2 + c + 10 * k); }));
  a.layers().set("L", x + 0.25);
  return a;
}

// Integer X (int64): vars g0, g1, g2 (g1, g2, g5 when k == 2).
AnnData obj_int(int k) {
  const Names var_names = k == 2 ? Names{"g1", "g2", "g5"} : Names{"g0", "g1", "g2"};
  const Names obs_names{named("i", k) + "_0", named("i", k) + "_1"};
  const Array x = arange({2, 3}, ChunkSpec(1, 3)) + std::int64_t{10 * k};
  return AnnData(x, DataFrame(obs_names, "obs"), DataFrame(var_names, "var"));
}

ConcatOptions opts(std::function<void(ConcatOptions&)> f = {}) {
  ConcatOptions o;
  if (f) f(o);
  return o;
}

using Case = std::pair<std::string, std::function<AnnData()>>;

std::vector<Case> concat_cases() {
  const AnnData A = obj_a(), B = obj_b(), C = obj_c();
  const AnnData As = obj_a(true), Bs = obj_b(true);
  std::vector<Case> out;
  const auto add = [&](std::string name, std::vector<AnnData> objects, ConcatOptions o) {
    out.emplace_back(std::move(name), [objects = std::move(objects), o = std::move(o)] {
      return concat(objects, o);
    });
  };
  add("inner_AB", {A, B}, opts());
  add("outer_AB", {A, B}, opts([](auto& o) { o.join = Join::outer; }));
  add("outer_AB_fill", {A, B}, opts([](auto& o) {
        o.join = Join::outer;
        o.fill_value = -1.0;
      }));
  add("inner_ABC_label_keys", {A, B, C}, opts([](auto& o) {
        o.label = "source";
        o.keys = {"A", "B", "C"};
        o.index_unique.emplace(1, '-');
      }));
  add("outer_ABC_label_default", {A, B, C}, opts([](auto& o) {
        o.join = Join::outer;
        o.label = "src";
        o.index_unique.emplace(1, '_');
      }));
  // float32 holds the NaN fill as it is (pandas' take), ints become float64 (obj_int below).
  const auto as_float32 = [](AnnData a) {
    a.set_X(a.X()->astype(DType::float32));
    return a;
  };
  add("outer_AB_float32", {as_float32(A), as_float32(B)},
      opts([](auto& o) { o.join = Join::outer; }));
  add("outer_sparse_AB", {As, Bs}, opts([](auto& o) { o.join = Join::outer; }));
  add("outer_dense_sparse_AB", {A, Bs}, opts([](auto& o) { o.join = Join::outer; }));
  add("inner_AC_sparse_dense", {A, C}, opts());
  for (const char* m : {"same", "unique", "first", "only"}) {
    const MergeStrategy s = merge_from_name(m);
    add(std::string("merge_") + m + "_ABC", {A, B, C}, opts([&](auto& o) { o.merge = s; }));
    add(std::string("merge_") + m + "_AC_outer", {A, C}, opts([&](auto& o) {
          o.join = Join::outer;
          o.merge = s;
        }));
  }
  add("missing_values", {obj_n(0), obj_n(1)}, opts([](auto& o) {
        o.join = Join::outer;
        o.label = "part";
      }));
  const AnnData D = obj_axis1(0), E = obj_axis1(1);
  add("axis1_inner", {D, E}, opts([](auto& o) {
        o.axis = 1;
        o.label = "which";
        o.index_unique.emplace(1, ':');
      }));
  add("axis1_outer", {D, E}, opts([](auto& o) {
        o.axis = 1;
        o.join = Join::outer;
        o.merge = MergeStrategy::first;
      }));
  add("axis1_outer_same", {D, E}, opts([](auto& o) {
        o.axis = 1;
        o.join = Join::outer;
        o.merge = MergeStrategy::same;
      }));
  add("int_identical", {obj_int(0), obj_int(1)}, opts());
  add("int_outer", {obj_int(0), obj_int(2)}, opts([](auto& o) { o.join = Join::outer; }));
  add("raw_inner", {with_raw(A, 1), with_raw(C, 2)}, opts());
  add("raw_outer", {with_raw(A, 1), with_raw(C, 2)}, opts([](auto& o) { o.join = Join::outer; }));
  add("raw_merge_same", {with_raw(A, 1), with_raw(C, 2)},
      opts([](auto& o) { o.merge = MergeStrategy::same; }));
  add("column_order_inner", {A, obj_k()}, opts());
  add("column_order_outer", {obj_k(), A}, opts([](auto& o) {
        o.join = Join::outer;
        o.merge = MergeStrategy::same;
      }));
  add("same_object_twice", {A, A}, opts([](auto& o) {
        o.index_unique.emplace(1, '-');
        o.label = "copy";
        o.keys = {"first", "second"};
      }));
  add("view_inputs",
      {A(Selector::take({2, 0}), AxisIndex::names({"g3", "g1", "g0"})),
       B(std::vector<bool>{true, false})},
      opts([](auto& o) { o.join = Join::outer; }));
  return out;
}

std::vector<Case> repr_cases() {
  const AnnData A = obj_a(), B = obj_b(), C = obj_c();
  std::vector<Case> out;
  out.emplace_back("empty", [=] { return AnnData(Chunk::dense(DType::float64, {0, 0})); });
  out.emplace_back("shape_only", [=] {
    return AnnData(DataFrame(Names{"a", "b", "c"}), DataFrame(Names{"x", "y"}));
  });
  out.emplace_back("A", [=] { return A; });
  out.emplace_back("B", [=] { return B; });
  out.emplace_back("C", [=] { return C; });
  out.emplace_back("view_A_rows", [=] { return A(Selector::take({0, 2})); });
  out.emplace_back("view_A_all", [=] { return A(AxisIndex(), AxisIndex()); });
  out.emplace_back("view_of_view", [=] {
    return A(Selector::slice(1, std::nullopt))(AxisIndex(), AxisIndex::names({"g1", "g0"}));
  });
  out.emplace_back("copy_of_view", [=] { return A(Selector::take({0, 2})).copy(); });
  ConcatOptions o;
  o.label = "batch_id";
  o.merge = MergeStrategy::same;
  out.emplace_back("concat_ABC", [=] { return concat({A, B, C}, o); });

  AnnData u(make({2, 2}, [](index_t, index_t) { return 1.0; }));
  u.obs().set("it's", Column::from(std::vector<std::int64_t>{1, 2}));
  u.obs().set("say \"hi\"", Column::from(std::vector<std::int64_t>{1, 2}));
  u.var().set("both'\"", Column::from(std::vector<double>{1.0, 2.0}));
  u.var().set("größe 细胞 🧬", Column::strings({"a", "b"}));
  u.uns().set("back\\slash", NdArray::scalar<std::int64_t>(1));
  u.uns().set("tab\there", "t");
  u.uns().set("new\nline", NdArray::vector<std::int64_t>({0, 1, 2}));
  u.obsm().set("émbedding", Chunk::dense_filled(DType::float64, {2, 1}, 0));
  u.varm().set("ключ", Chunk::dense_filled(DType::float64, {2, 1}, 0));
  u.layers().set("🙂", Chunk::dense_filled(DType::float64, {2, 2}, 0));
  u.obsp().set("dist'", Chunk::dense_filled(DType::float64, {2, 2}, 0));
  u.varp().set("\"q\"", Chunk::dense_filled(DType::float64, {2, 2}, 0));
  out.emplace_back("unicode_quotes", [=] { return u; });

  AnnData w(make({1, 1}, [](index_t, index_t) { return 1.0; }));
  w.uns().set("nb\u00a0space", NdArray::scalar<std::int64_t>(1));
  w.uns().set("zero\u200bwidth", NdArray::scalar<std::int64_t>(2));
  w.uns().set("bell\x07", NdArray::scalar<std::int64_t>(3));
  out.emplace_back("nonprintable_keys", [=] { return w; });

  AnnData nested(make({2, 3}, [](index_t, index_t) { return 1.0; }));
  Uns sub("uns['params']['sub']");
  sub.set("a", "b");
  Uns params("uns['params']");
  params.set("n", NdArray::scalar<std::int64_t>(3));
  params.set("sub", std::move(sub));
  nested.uns().set("params", std::move(params));
  DataFrame table = DataFrame::range_index(2, "table");
  table.set("c", Column::from(std::vector<std::int64_t>{1, 2}));
  nested.uns().set("table", table);
  nested.uns().set("names", StringArray{{"x", "y"}, {2}});
  out.emplace_back("uns_nested", [=] { return nested; });
  return out;
}

// ---- text format (mirrored in reference_check.py) -----------------------------------------------

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string join(const Names& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += (i ? "|" : "") + names[i];
  return out;
}

void print_array(const std::string& tag, const Array& a) {
  const Chunk c = a.compute();
  std::cout << tag << " " << (c.is_sparse() ? "sparse" : "dense") << " " << name(c.dtype()) << " "
            << c.rows() << "x" << c.cols() << "\n";
  for (index_t r = 0; r < c.rows(); ++r) {
    std::cout << " ";
    for (index_t k = 0; k < c.cols(); ++k)
      std::cout << " " << number(c.value_at(r, k));
    std::cout << "\n";
  }
}

void print_frame(const std::string& tag, const DataFrame& df,
                 const std::optional<std::string>& label) {
  std::cout << tag << "_names " << join(df.index()) << "\n";
  for (const auto& [key, col] : df.columns()) {
    Names text;
    for (index_t i = 0; i < col.size(); ++i)
      text.push_back(col.is_missing(i) ? "NA" : col.text_at(i));
    std::cout << tag << "[" << key << "] " << join(text) << "\n";
    if (label && key == *label && col.kind() == ColumnKind::categorical) {
      Names cats;
      for (index_t i = 0; i < col.categories().size(); ++i)
        cats.push_back(col.categories().text_at(i));
      std::cout << tag << "[" << key << "].categories " << join(cats) << "\n";
    }
  }
}

std::optional<std::string> label_of(const std::string& name) {
  if (name == "inner_ABC_label_keys") return "source";
  if (name == "outer_ABC_label_default") return "src";
  if (name == "missing_values") return "part";
  if (name == "axis1_inner") return "which";
  if (name == "same_object_twice") return "copy";
  return std::nullopt;
}

void print_concat(const std::string& name, const AnnData& a) {
  std::cout << "=== " << name << "\n" << a.repr() << "\n";
  const auto label = label_of(name);
  print_frame("obs", a.obs(), label);
  print_frame("var", a.var(), label);
  if (a.X()) print_array("X", *a.X());
  for (const auto& [slot, arrays] : {std::pair{"layers", &a.layers()},
                                     {"obsm", &a.obsm()},
                                     {"varm", &a.varm()},
                                     {"obsp", &a.obsp()},
                                     {"varp", &a.varp()}}) {
    for (const auto& [k, v] : *arrays)
      print_array(std::string(slot) + "[" + k + "]", v);
  }
  if (a.raw()) {
    print_frame("raw.var", a.raw()->var, std::nullopt);
    if (a.raw()->X) print_array("raw.X", *a.raw()->X);
  }
}

// One case: an error is printed in its place (the comparison then fails for that case only).
void run_case(const std::string& name, const std::function<AnnData()>& build,
              const std::function<void(const std::string&, const AnnData&)>& print) {
  try {
    const AnnData a = build();
    print(name, a);
  } catch (const std::exception& e) {
    std::cout << "=== " << name << "\nerror: " << e.what() << "\n";
  }
  std::cout.flush();
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  // reference_cases MODE [CASE]: every case of MODE, or only CASE (so that a crash in one case
  // cannot hide the results of the others: reference_check.py runs the cases one by one).
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string only = argc > 2 ? argv[2] : "";
  const auto selected = [&](const std::string& name) { return only.empty() || name == only; };
  if (mode == "concat") {
    for (const auto& [name, build] : tessera::concat_cases()) {
      if (selected(name)) tessera::run_case(name, build, tessera::print_concat);
    }
  } else if (mode == "repr") {
    for (const auto& [name, build] : tessera::repr_cases()) {
      if (!selected(name)) continue;
      tessera::run_case(name, build, [](const std::string& n, const tessera::AnnData& a) {
        std::cout << "=== " << n << "\n" << a.repr() << "\n";
      });
    }
  } else {
    std::cerr << "usage: " << argv[0] << " concat|repr [CASE]\n";
    return 2;
  }
  return 0;
}
