// Normalization: scanpy.pp.normalize_total (each cell divided by its total over target_sum;
// target_sum defaults to the median of the non-zero totals) and scanpy.pp.log1p. One collective
// pass computes the totals; the normalized matrix itself stays lazy (a row division, then log1p)
// and is computed chunk by chunk when written.
#pragma once

#include <optional>
#include <string>

#include "tessera/anndata/anndata.hpp"
#include "tessera/core/array.hpp"

namespace tessera {
class Context;
}

namespace tessera::analysis {

struct NormalizeOptions {
  std::optional<double> target_sum;  // default: median of the non-zero per-cell totals
  std::string layer;                 // normalize this layer instead of X
  // Keep the matrix as it was (before normalizing) in layers[keep_counts]; empty: not kept.
  std::string keep_counts;
  bool log1p = false;  // then scanpy.pp.log1p on the same matrix
};

struct NormalizeStats {
  double target_sum = 0;   // what the cells were scaled to (in the matrix's float dtype)
  index_t zero_cells = 0;  // cells without counts (left as they are; scanpy warns)
};

// The dtype normalize_total computes in: float32 for integer or bool matrices (as scanpy casts
// them), the matrix's own float dtype otherwise.
DType normalized_dtype(DType dtype);

// Per-cell totals (n_obs, 1) of the matrix normalize_total sees (cast to normalized_dtype), lazy.
Array cell_totals(const Array& x);

// median of the totals > 0, in their dtype (numpy's np.median: the mean of the two middle values
// for an even count); NaN when no total is positive.
double median_of_positive(const Chunk& totals);

// x / ((totals / target_sum) + (that == 0)) row-wise in normalized_dtype, lazy: scanpy's
// axis_mul_or_truediv(..., allow_divide_by_zero=False).
Array normalize_rows(const Array& x, const Chunk& totals, double target_sum);

// normalize_total (and log1p) of X or options.layer in place, lazily; the totals are computed
// by one collective pass. log1p also records uns['log1p'], as scanpy, but empty (scanpy's
// {'base': None} as anndata < 0.10 writes it: None is left out). Collective.
NormalizeStats normalize_total(AnnData& adata, Context& ctx, const NormalizeOptions& options = {});

}  // namespace tessera::analysis
