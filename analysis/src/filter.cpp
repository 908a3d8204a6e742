// filter: pass 1 computes every per-cell number the cell filters need in one Context::compute
// (each chunk read once); pass 2 counts each gene's cells over the kept rows (a lazy row
// selection of X, so only the kept cells' values are reduced).
#include "tessera/analysis/filter.hpp"

#include <algorithm>
#include <cmath>

#include "detail/vectors.hpp"
#include "tessera/analysis/qc.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera::analysis {

using detail::as_doubles;
using detail::column_of;
using detail::whole;

namespace {

std::vector<bool> var_mask(const AnnData& a, const std::string& name) {
  const Column& c = a.var()[name];
  std::vector<bool> mask(static_cast<std::size_t>(c.size()));
  for (index_t i = 0; i < c.size(); ++i)
    mask[static_cast<std::size_t>(i)] = c.values().value_at(i, 0) != 0.0;
  return mask;
}

// numpy compares a float32 array with a Python number in float32 (the number rounded to float32
// first, by value-based casting and NEP 50 alike); any other dtype compares exactly in double.
double as_compared(double threshold, DType dtype) {
  return dtype == DType::float32 ? static_cast<double>(static_cast<float>(threshold)) : threshold;
}

void keep_where(std::vector<bool>& keep, const std::vector<double>& values, auto&& test) {
  for (std::size_t r = 0; r < keep.size(); ++r)
    keep[r] = keep[r] && test(values[r]);
}

}  // namespace

AnnData filter(const AnnData& adata, Context& ctx, const FilterOptions& options,
               FilterStats* stats) {
  const Array x = matrix_of(adata, "");
  const bool by_genes = options.min_genes || options.max_genes;
  const bool by_counts = options.min_counts || options.max_counts;

  // Pass 1: the cells' numbers.
  std::vector<Array> wanted;
  std::optional<std::size_t> at_genes, at_counts, at_total;
  std::vector<std::optional<std::size_t>> at_qc(options.max_pct.size());
  if (by_genes) {
    at_genes = wanted.size();
    wanted.push_back((x > 0).sum(1));
  }
  if (by_counts) {
    at_counts = wanted.size();
    wanted.push_back(x.sum(1));
  }
  for (std::size_t q = 0; q < options.max_pct.size(); ++q) {
    const std::string& name = options.max_pct[q].first;
    if (adata.var().contains(name)) {
      if (adata.var()[name].kind() != ColumnKind::boolean)
        throw ValueError("--max-pct " + name + ": var column '" + name + "' is not bool");
      if (!at_total) {
        at_total = at_counts ? *at_counts : wanted.size();
        if (!at_counts) wanted.push_back(x.sum(1));
      }
      const std::vector<bool> mask = var_mask(adata, name);
      at_qc[q] = wanted.size();
      if (std::find(mask.begin(), mask.end(), true) == mask.end()) {
        wanted.push_back(full({x.shape().rows, 1}, 0.0, ChunkSpec(index_t{-1}, index_t{1}),
                              wanted[*at_total].dtype()));
      } else {
        wanted.push_back(x(Selector::all(), Selector::mask(mask)).sum(1));
      }
    } else if (!adata.obs().contains("pct_counts_" + name)) {
      throw ValueError("--max-pct " + name + " needs a bool var column '" + name +
                       "' (tessera qc --qc-vars " + name +
                       "=PREFIX adds it) or an obs column 'pct_counts_" + name + "'");
    }
  }
  const std::vector<Chunk> got = ctx.compute(wanted);

  AnnData out = adata.copy();
  std::vector<bool> keep(static_cast<std::size_t>(adata.n_obs()), true);
  if (at_genes) {
    const Chunk& n = got[*at_genes];
    out.obs().set("n_genes", column_of(n));
    const std::vector<double> v = as_doubles(n);
    if (options.min_genes) keep_where(keep, v, [&](double g) { return g >= *options.min_genes; });
    if (options.max_genes) keep_where(keep, v, [&](double g) { return g <= *options.max_genes; });
  }
  if (at_counts) {
    const Chunk& n = got[*at_counts];
    out.obs().set("n_counts", column_of(n));
    const std::vector<double> v = as_doubles(n);
    if (options.min_counts) {
      const double t = as_compared(*options.min_counts, n.dtype());
      keep_where(keep, v, [&](double c) { return c >= t; });
    }
    if (options.max_counts) {
      const double t = as_compared(*options.max_counts, n.dtype());
      keep_where(keep, v, [&](double c) { return c <= t; });
    }
  }
  for (std::size_t q = 0; q < options.max_pct.size(); ++q) {
    const auto& [name, limit] = options.max_pct[q];
    std::vector<double> pct;
    DType pct_dtype = DType::float64;
    if (at_qc[q]) {
      // calculate_qc_metrics' pct_counts_{name}: total_{name} / total * 100 in numpy's dtypes.
      const Chunk p = ((whole(got[*at_qc[q]]) / whole(got[*at_total])) * 100).compute();
      pct = as_doubles(p);
      pct_dtype = p.dtype();
    } else {
      const Column& c = adata.obs()["pct_counts_" + name];
      pct.resize(static_cast<std::size_t>(c.size()));
      for (index_t r = 0; r < c.size(); ++r)
        pct[static_cast<std::size_t>(r)] = c.number_at(r);
      pct_dtype = c.kind() == ColumnKind::numeric ? c.dtype() : DType::float64;
    }
    const double t = as_compared(limit, pct_dtype);
    keep_where(keep, pct, [&](double p) { return p <= t; });  // NaN: dropped
  }
  const bool cut_cells = std::find(keep.begin(), keep.end(), false) != keep.end();
  if (cut_cells) out = out(AxisIndex(keep)).copy();

  // Pass 2: the genes' numbers over the cells kept.
  std::vector<bool> genes(static_cast<std::size_t>(adata.n_vars()), true);
  if (options.min_cells) {
    const Chunk n = ctx.compute((*out.X() > 0).sum(0));
    out.var().set("n_cells", column_of(n));
    keep_where(genes, as_doubles(n), [&](double c) { return c >= *options.min_cells; });
    if (std::find(genes.begin(), genes.end(), false) != genes.end())
      out = out(AxisIndex(), AxisIndex(genes)).copy();
  }
  if (stats != nullptr) {
    *stats = {adata.n_obs(), out.n_obs(), adata.n_vars(), out.n_vars()};
  }
  return out;
}

}  // namespace tessera::analysis
