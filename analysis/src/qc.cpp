// calculate_qc_metrics: every reduction of the metrics is built on the same lazy matrix and
// computed in one Context::compute, so the planner reads each chunk once for all of them; the
// columns are then derived from the small vectors with numpy's dtype rules (core's kernels).
#include "tessera/analysis/qc.hpp"

#include <algorithm>

#include "detail/vectors.hpp"
#include "tessera/analysis/row_ops.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera::analysis {

using detail::as_doubles;
using detail::column_of;
using detail::whole;

Array matrix_of(const AnnData& adata, const std::string& layer) {
  if (layer.empty()) {
    if (!adata.X()) throw ValueError("the object has no X");
    return *adata.X();
  }
  if (!adata.layers().contains(layer)) {
    std::string known;
    for (const auto& k : adata.layers().array_keys())
      known += (known.empty() ? "" : ", ") + k;
    throw ValueError("no layer '" + layer + "' (layers: " + (known.empty() ? "none" : known) + ")");
  }
  return adata.layers()[layer];
}

QcArrays qc_arrays(const Array& x, const std::vector<std::vector<bool>>& qc_masks,
                   const std::vector<index_t>& percent_top) {
  QcArrays out{x.count_nonzero(1), x.sum(1),  std::nullopt, {},
               x.count_nonzero(0), x.mean(0), x.sum(0)};
  if (!percent_top.empty()) out.top = top_n_sums(x, percent_top);
  for (const auto& mask : qc_masks) {
    if (std::find(mask.begin(), mask.end(), true) == mask.end()) {
      out.qc_totals.push_back(full({x.shape().rows, 1}, 0.0, ChunkSpec(index_t{-1}, index_t{1}),
                                   out.total_obs.dtype()));
    } else {
      out.qc_totals.push_back(x(Selector::all(), Selector::mask(mask)).sum(1));
    }
  }
  return out;
}

void mark_var_prefix(AnnData& adata, const std::string& column, const std::string& prefix) {
  std::vector<bool> marks;
  marks.reserve(adata.var_names().size());
  for (const auto& name : adata.var_names())
    marks.push_back(name.starts_with(prefix));
  adata.var().set(column, Column::from(marks));
}

void calculate_qc_metrics(AnnData& adata, Context& ctx, const QcOptions& options) {
  const Array x = matrix_of(adata, options.layer);
  std::vector<index_t> ns = options.percent_top;
  std::sort(ns.begin(), ns.end());
  if (!ns.empty() && (ns.front() < 1 || ns.back() > x.shape().cols)) {
    throw ValueError("percent_top: positions outside range of features (1 to " +
                     std::to_string(x.shape().cols) +
                     "): " + std::to_string(ns.front() < 1 ? ns.front() : ns.back()));
  }
  std::vector<std::vector<bool>> masks;
  for (const auto& q : options.qc_vars) {
    if (!adata.var().contains(q)) {
      throw ValueError("qc var '" + q + "' is not a var column (mark it first, e.g. --qc-vars " +
                       q + "=PREFIX)");
    }
    const Column& c = adata.var()[q];
    if (c.kind() != ColumnKind::boolean)
      throw ValueError("qc var '" + q + "' must be a bool var column, it is " +
                       std::string(name(c.kind())));
    std::vector<bool> mask(static_cast<std::size_t>(c.size()));
    for (index_t i = 0; i < c.size(); ++i)
      mask[static_cast<std::size_t>(i)] = c.values().value_at(i, 0) != 0.0;
    masks.push_back(std::move(mask));
  }

  const QcArrays lazy = qc_arrays(x, masks, ns);
  std::vector<Array> wanted{lazy.n_by_counts_obs, lazy.total_obs, lazy.n_by_counts_var,
                            lazy.mean_var, lazy.total_var};
  if (lazy.top) wanted.push_back(*lazy.top);
  wanted.insert(wanted.end(), lazy.qc_totals.begin(), lazy.qc_totals.end());
  const std::vector<Chunk> got = ctx.compute(wanted);

  const auto log1p_of = [](const Chunk& c) { return log1p(whole(c)).compute(); };
  const std::string expr = "counts", vars = "genes";
  DataFrame& obs = adata.obs();
  // scipy's getnnz(axis=1) of a CSR matrix is np.diff(indptr): int32 for the matrices anndata
  // reads; of a CSC matrix (which Tessera holds as the transpose of a CSR one, as the writers
  // recognise it) a bincount, int64; numpy's count_nonzero gives int64.
  const NodePtr& top = x.node();
  const bool csc = x.is_sparse() && top->kind() == "transpose" && top->inputs().size() == 1 &&
                   top->inputs()[0]->layout() == Layout::csr;
  const Chunk n_obs = x.is_sparse() && !csc ? got[0].astype(DType::int32) : got[0];
  const Chunk& total = got[1];
  obs.set("n_" + vars + "_by_" + expr, column_of(n_obs));
  if (options.log1p) obs.set("log1p_n_" + vars + "_by_" + expr, column_of(log1p_of(n_obs)));
  obs.set("total_" + expr, column_of(total));
  if (options.log1p) obs.set("log1p_total_" + expr, column_of(log1p_of(total)));
  if (lazy.top) {
    const Chunk& top = got[5];
    const std::vector<double> totals = as_doubles(total);
    for (std::size_t k = 0; k < ns.size(); ++k) {
      std::vector<double> pct(totals.size());
      for (std::size_t r = 0; r < totals.size(); ++r)
        pct[r] = top.row<double>(static_cast<index_t>(r))[k] / totals[r] * 100;
      obs.set("pct_" + expr + "_in_top_" + std::to_string(ns[k]) + "_" + vars,
              Column::from(std::move(pct)));
    }
  }
  const std::size_t first_qc = lazy.top ? 6 : 5;
  for (std::size_t q = 0; q < options.qc_vars.size(); ++q) {
    const std::string& name = options.qc_vars[q];
    const Chunk& qc_total = got[first_qc + q];
    obs.set("total_" + expr + "_" + name, column_of(qc_total));
    if (options.log1p) obs.set("log1p_total_" + expr + "_" + name, column_of(log1p_of(qc_total)));
    const Chunk pct = ((whole(qc_total) / whole(total)) * 100).compute();
    obs.set("pct_" + expr + "_" + name, column_of(pct));
  }

  DataFrame& var = adata.var();
  const Chunk& n_var = got[2];
  const Chunk& mean = got[3];
  const Chunk& total_var = got[4];
  var.set("n_cells_by_" + expr, column_of(n_var));
  var.set("mean_" + expr, column_of(mean));
  if (options.log1p) var.set("log1p_mean_" + expr, column_of(log1p_of(mean)));
  const std::vector<double> cells = as_doubles(n_var);
  std::vector<double> dropout(cells.size());
  const auto rows = static_cast<double>(x.shape().rows);
  for (std::size_t c = 0; c < cells.size(); ++c)
    dropout[c] = (1 - cells[c] / rows) * 100;
  var.set("pct_dropout_by_" + expr, Column::from(std::move(dropout)));
  var.set("total_" + expr, column_of(total_var));
  if (options.log1p) var.set("log1p_total_" + expr, column_of(log1p_of(total_var)));
}

}  // namespace tessera::analysis
