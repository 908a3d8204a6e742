// Subsetting: the cells and genes a later step needs, as anndata's adata[cells, genes].copy()
// keeps them: X, layers, obsm, varm, obsp and varp cut consistently, raw keeping all its
// variables with its rows cut. The result is a lazy view: every array is a monotone selection
// whose chunks are extracted next to the source chunks they come from, so writing it moves only
// the selected values and holds a rank's share of the output plus a couple of chunks.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tessera/anndata/anndata.hpp"

namespace tessera::analysis {

struct SubsetOptions {
  // Cells: obs bool column obs_mask True, and (when given) the cells named in `cells`.
  std::optional<std::string> obs_mask;
  std::optional<std::vector<std::string>> cells;
  // Genes: the genes named in `genes`, and (when set) var bool column highly_variable True.
  std::optional<std::vector<std::string>> genes;
  bool highly_variable = false;
};

// The masks of the cells and genes selected (every criterion given must hold), in the input's
// order. ValueError naming the column for a missing or non-bool column; IndexError naming the
// first unknown names (up to five, and how many there are) for names not in obs or var, and
// for a list naming one twice.
std::vector<bool> cell_mask(const AnnData& adata, const SubsetOptions& options);
std::vector<bool> gene_mask(const AnnData& adata, const SubsetOptions& options);

// adata[cell_mask, gene_mask] as an object of its own (arrays stay lazy). Local: no collective.
AnnData subset(const AnnData& adata, const SubsetOptions& options);

}  // namespace tessera::analysis
