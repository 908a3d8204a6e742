// Filtering cells and genes: scanpy.pp.filter_cells (min/max genes, min/max counts) then
// scanpy.pp.filter_genes (min cells), with the columns they add, plus dropping cells above a
// percentage of counts in a qc var. The result is a lazy view of the input: nothing of X is
// computed beyond the per-cell and per-gene numbers the filters need (two collective passes: the
// cells' numbers, then the genes' over the cells kept, as filter_genes sees them).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/anndata/anndata.hpp"

namespace tessera {
class Context;
}

namespace tessera::analysis {

struct FilterOptions {
  // filter_cells, applied in this order as separate scanpy calls would be: n_genes (count of
  // values > 0, int64) against min/max_genes, then n_counts (sum of X) against min/max_counts.
  std::optional<double> min_genes, max_genes, min_counts, max_counts;
  // Cells whose percentage of counts in qc var NAME is above P are dropped (kept: pct <= P; a
  // cell without counts has NaN and is dropped). The percentage is computed from X when var
  // holds a bool column NAME, as calculate_qc_metrics computes pct_counts_NAME; otherwise obs
  // must hold pct_counts_NAME (from an earlier qc); otherwise ValueError.
  std::vector<std::pair<std::string, double>> max_pct;
  // filter_genes on the cells kept: n_cells (count of values > 0, int64) >= min_cells.
  std::optional<double> min_cells;
};

struct FilterStats {
  index_t cells_before = 0, cells_kept = 0, genes_before = 0, genes_kept = 0;
};

// obs gets n_genes (when min/max_genes is given) and n_counts (min/max_counts), var gets
// n_cells (min_cells), computed over the whole rows (scanpy filters cells before genes), then
// the object is cut to the cells and genes kept. Bounds are inclusive and compared as numpy
// compares the numbers with a Python float: in float32 for float32 numbers, else exactly.
// Collective.
AnnData filter(const AnnData& adata, Context& ctx, const FilterOptions& options,
               FilterStats* stats = nullptr);

}  // namespace tessera::analysis
