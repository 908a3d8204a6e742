// Highly variable genes: scanpy.pp.highly_variable_genes for the dispersion-based flavors,
// 'seurat' (expm1 of log-normalized data, log dispersions, equal-width bins of log1p means,
// z-scores per bin) and 'cell_ranger' (percentile bins of the means, median and MAD per bin),
// with scanpy's batch handling. One collective pass computes every gene's mean and mean square
// (per batch with batch_key), with core's reductions in a fixed combine order, so the columns
// hold the same bits at any rank count; the binning and selection run on those vectors,
// identically on every rank.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "tessera/anndata/anndata.hpp"

namespace tessera {
class Context;
}

namespace tessera::analysis {

enum class HvgFlavor : std::uint8_t { seurat, cell_ranger };

struct HvgOptions {
  HvgFlavor flavor = HvgFlavor::seurat;
  // The number of genes selected (ranked by normalized dispersion; with batches by the number
  // of batches a gene is selected in, then its mean normalized dispersion). Unset: scanpy's
  // cutoffs on the means and normalized dispersions below.
  std::optional<index_t> n_top_genes;
  index_t n_bins = 20;    // seurat's equal-width bins of the means
  std::string batch_key;  // obs column (categorical or strings): select per batch, then merge
  std::string layer;      // compute on this layer instead of X
  double min_mean = 0.0125, max_mean = 3, min_disp = 0.5;
  double max_disp = std::numeric_limits<double>::infinity();
};

struct HvgStats {
  index_t selected = 0;  // genes with highly_variable True
  index_t batches = 1;
};

// Adds var highly_variable (bool), means, dispersions (float64), dispersions_norm (float32),
// with batch_key also highly_variable_nbatches (int64) and highly_variable_intersection (bool),
// and uns['hvg'] = {'flavor': ...}, as scanpy does with inplace=True. ValueError for a batch
// key that is missing or not categorical/strings, an empty batch, n_top_genes < 1, or (as
// scanpy) percentile bin edges that coincide (cell_ranger). Collective.
HvgStats highly_variable_genes(AnnData& adata, Context& ctx, const HvgOptions& options);

}  // namespace tessera::analysis
