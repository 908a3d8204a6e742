// normalize_total: the per-cell totals are the one statistic (a collective compute of a row
// sum); the rest is a lazy graph over the input — astype, divide_rows, log1p — that the writer
// computes chunk by chunk on the ranks owning the rows.
#include "tessera/analysis/normalize.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "detail/vectors.hpp"
#include "tessera/analysis/qc.hpp"
#include "tessera/analysis/row_ops.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera::analysis {

DType normalized_dtype(DType dtype) {
  return is_float(dtype) ? dtype : DType::float32;
}

Array cell_totals(const Array& x) {
  const DType t = normalized_dtype(x.dtype());
  return (x.dtype() == t ? x : x.astype(t)).sum(1);
}

double median_of_positive(const Chunk& totals) {
  return dispatch(totals.dtype(), [&](auto tag) -> double {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      const Chunk d = totals.to_dense();
      std::vector<T> v;
      for (index_t r = 0; r < d.rows(); ++r) {
        for (index_t c = 0; c < d.cols(); ++c) {
          const T value = d.row<T>(r)[c];
          if (value > 0) v.push_back(value);
        }
      }
      if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
      const std::size_t mid = v.size() / 2;
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
      const T upper = v[mid];
      if (v.size() % 2 == 1) return static_cast<double>(upper);
      const T lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
      // np.mean of the two in their own dtype: (a + b) / 2.
      return static_cast<double>(static_cast<T>(static_cast<T>(lower + upper) / T{2}));
    } else {
      throw ValueError("median_of_positive: totals must be float32 or float64");
    }
  });
}

Array normalize_rows(const Array& x, const Chunk& totals, double target_sum) {
  const DType t = normalized_dtype(x.dtype());
  const Chunk divisors = dispatch(t, [&](auto tag) -> Chunk {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_floating_point_v<T>) {
      const Chunk d = totals.to_dense().astype(t);
      const auto target = static_cast<T>(target_sum);
      std::vector<T> out(static_cast<std::size_t>(d.rows()));
      for (index_t r = 0; r < d.rows(); ++r) {
        const T scaled = *d.row<T>(r) / target;
        out[static_cast<std::size_t>(r)] =
            scaled == T{0} ? T{1} : scaled;  // scaled + (scaled == 0)
      }
      return Chunk::from_values<T>({d.rows(), 1}, std::move(out));
    } else {
      throw InternalError("normalize_rows: not a float dtype");
    }
  });
  return divide_rows(x, divisors, t);
}

NormalizeStats normalize_total(AnnData& adata, Context& ctx, const NormalizeOptions& options) {
  const Array x = matrix_of(adata, options.layer);
  if (!options.keep_counts.empty() && options.keep_counts == options.layer)
    throw ValueError("--keep-counts " + options.keep_counts + " is the layer being normalized");
  if (options.target_sum && !(*options.target_sum > 0))
    throw ValueError("target_sum must be positive, got " + std::to_string(*options.target_sum));
  const Chunk totals = ctx.compute(cell_totals(x));
  NormalizeStats stats;
  for (const double v : detail::as_doubles(totals))
    stats.zero_cells += v == 0 ? 1 : 0;
  stats.target_sum = options.target_sum ? *options.target_sum : median_of_positive(totals);
  if (std::isnan(stats.target_sum))
    throw ValueError("normalize_total: no cell has counts, so there is no median to scale to");
  Array normalized = normalize_rows(x, totals, stats.target_sum);
  if (options.log1p) normalized = log1p(normalized);
  if (!options.keep_counts.empty()) adata.layers().set(options.keep_counts, x);
  if (options.layer.empty()) {
    adata.set_X(normalized);
  } else {
    adata.layers().set(options.layer, normalized);
  }
  if (options.log1p) {
    // scanpy sets {'base': None}; anndata before 0.10 writes None as nothing (and cannot read the
    // newer `null` encoding), so the mapping is written empty, which every anndata reads and
    // which scanpy reads back as base None.
    adata.uns().set("log1p", UnsValue(Uns()));
  }
  return stats;
}

}  // namespace tessera::analysis
