// Quality-control metrics: scanpy.pp.calculate_qc_metrics(adata, qc_vars, percent_top,
// inplace=True), with its column names, order and dtypes, computed in one collective pass over
// the matrix (each chunk read once) with core's fixed-order reductions, so the columns are the
// same bits for any number of ranks.
#pragma once

#include <string>
#include <vector>

#include "tessera/anndata/anndata.hpp"
#include "tessera/core/array.hpp"

namespace tessera {
class Context;
}

namespace tessera::analysis {

struct QcOptions {
  std::vector<std::string> qc_vars;  // bool var columns (mark_var_prefix makes them)
  std::vector<index_t> percent_top = {50, 100, 200, 500};  // empty: no pct_counts_in_top_*
  std::string layer;                                       // empty: X
  bool log1p = true;                                       // the log1p_* columns
};

// The lazy reductions behind the metrics of one matrix; nothing is computed. Row vectors are
// (n_obs, 1), column vectors (1, n_vars).
struct QcArrays {
  Array n_by_counts_obs;         // count_nonzero(1), int64
  Array total_obs;               // sum(1): float dtypes kept, integers as int64
  std::optional<Array> top;      // top_n_sums over sorted percent_top, (n_obs, k) float64
  std::vector<Array> qc_totals;  // sum(1) over each qc var's columns
  Array n_by_counts_var;         // count_nonzero(0), int64
  Array mean_var;                // mean(0): float32 for float32, else float64
  Array total_var;               // sum(0)
};
// `qc_masks`: one mask over the columns per qc var (a mask selecting nothing gives a zero sum
// computed without the matrix). `percent_top` must be sorted.
QcArrays qc_arrays(const Array& x, const std::vector<std::vector<bool>>& qc_masks,
                   const std::vector<index_t>& percent_top);

// Adds to obs, in scanpy's order: n_genes_by_counts (int32 for CSR, as scipy's getnnz; int64 for
// dense and CSC), log1p_n_genes_by_counts, total_counts, log1p_total_counts,
// pct_counts_in_top_{n}_genes (n sorted), then per qc var total_counts_{q},
// log1p_total_counts_{q}, pct_counts_{q}; to var: n_cells_by_counts, mean_counts,
// log1p_mean_counts, pct_dropout_by_counts, total_counts, log1p_total_counts. Existing columns of
// those names are replaced in place. Cells without counts get NaN percentages, as scanpy.
// ValueError for a percent_top value outside [1, n_vars] (scanpy's IndexError), a qc var that is
// not a bool var column, or a missing layer. Collective.
void calculate_qc_metrics(AnnData& adata, Context& ctx, const QcOptions& options = {});

// var[column] = var_names that start with `prefix` (bool), as
// `adata.var["mt"] = adata.var_names.str.startswith("MT-")`.
void mark_var_prefix(AnnData& adata, const std::string& column, const std::string& prefix);

// The matrix a step works on: X, or layers[layer]; ValueError naming what exists otherwise.
Array matrix_of(const AnnData& adata, const std::string& layer);

}  // namespace tessera::analysis
