// highly_variable_genes: one Context::compute of every gene's mean and mean square (and, with
// batches, its count of cells > 0 per batch), then scanpy's per-gene arithmetic on the vectors.
// The arithmetic follows the numpy/pandas operations scanpy runs, in their order: numpy's
// linspace and linear percentile for the bin edges, pandas' right-closed pd.cut, its Kahan-summed
// group means, Welford group variances (ddof 1) and group medians, statsmodels' MAD (median of
// |d - median| / 0.6744897501960817).
#include "tessera/analysis/hvg.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "detail/vectors.hpp"
#include "tessera/analysis/qc.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera::analysis {
namespace {

using detail::as_doubles;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMadScale = 0.6744897501960817;  // scipy.stats.norm.ppf(0.75)

struct Table {  // one batch's (or the merged) per-gene columns
  std::vector<double> means, dispersions, norm;
  std::vector<bool> selected;
};

// pandas' group mean: Kahan-compensated sum of the non-NaN values over their count.
struct KahanMean {
  double sum = 0, compensation = 0;
  index_t count = 0;
  void add(double v) {
    if (std::isnan(v)) return;
    const double y = v - compensation;
    const double t = sum + y;
    compensation = (t - sum) - y;
    sum = t;
    ++count;
  }
  [[nodiscard]] double value() const {
    return count == 0 ? kNaN : sum / static_cast<double>(count);
  }
};

// pandas' group std (ddof 1): Welford's update over the non-NaN values.
struct Welford {
  double mean = 0, m2 = 0;
  index_t count = 0;
  void add(double v) {
    if (std::isnan(v)) return;
    ++count;
    const double old = mean;
    mean += (v - old) / static_cast<double>(count);
    m2 += (v - mean) * (v - old);
  }
  [[nodiscard]] double std_dev() const {
    return count > 1 ? std::sqrt(m2 / static_cast<double>(count - 1)) : kNaN;
  }
};

// numpy's median of the non-NaN values (pandas' group median skips NaN): the mean of the two
// middle values for an even count.
double median_of(std::vector<double> v) {
  std::erase_if(v, [](double x) { return std::isnan(x); });
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// np.median with NaN propagating (statsmodels' mad calls it on the whole group).
double median_nan(const std::vector<double>& v) {
  for (const double x : v)
    if (std::isnan(x)) return kNaN;
  return median_of(v);
}

// pd.cut(x, bins=n) (right-closed): numpy's linspace from min to max, the first edge lowered by
// 0.1% of the range (or both ends moved by 0.1% when all values are equal).
std::vector<double> equal_width_edges(const std::vector<double>& x, index_t n) {
  double mn = std::numeric_limits<double>::infinity(), mx = -mn;
  for (const double v : x) {
    if (std::isnan(v)) continue;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  if (std::isinf(mn) || std::isinf(mx))
    throw ValueError("highly_variable_genes: the means hold infinity, which pd.cut refuses");
  const bool same = mn == mx;
  if (same) {
    mn -= mn != 0 ? 0.001 * std::abs(mn) : 0.001;
    mx += mx != 0 ? 0.001 * std::abs(mx) : 0.001;
  }
  std::vector<double> edges(static_cast<std::size_t>(n + 1));
  const double delta = mx - mn;
  const double step = delta / static_cast<double>(n);
  for (index_t i = 0; i <= n; ++i) {
    const auto k = static_cast<double>(i);
    edges[static_cast<std::size_t>(i)] =
        step == 0 ? k / static_cast<double>(n) * delta + mn : k * step + mn;
  }
  edges.back() = mx;
  if (!same) edges.front() -= delta * 0.001;
  return edges;
}

// np.percentile(x, q) with the default linear method: index (n - 1) * q / 100, numpy's lerp.
double percentile(const std::vector<double>& sorted, double q) {
  const auto n = static_cast<index_t>(sorted.size());
  const double quantile = q / 100;
  const double at = static_cast<double>(n - 1) * quantile;
  if (at >= static_cast<double>(n - 1)) return sorted.back();
  if (at < 0) return sorted.front();
  const double below = std::floor(at);
  const double t = at - below;
  const double a = sorted[static_cast<std::size_t>(below)];
  const double b = sorted[static_cast<std::size_t>(below) + 1];
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

// Right-closed bins: the bin of x is the first edge >= x, minus one (searchsorted, side left).
std::vector<index_t> cut(const std::vector<double>& x, const std::vector<double>& edges) {
  std::vector<index_t> bin(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto it = std::lower_bound(edges.begin(), edges.end(), x[i]);
    bin[i] = static_cast<index_t>(it - edges.begin()) - 1;
  }
  return bin;
}

// np.nan_to_num: NaN to 0, infinities to the largest finite numbers.
double nan_to_num(double v) {
  if (std::isnan(v)) return 0;
  if (std::isinf(v))
    return v > 0 ? std::numeric_limits<double>::max() : std::numeric_limits<double>::lowest();
  return v;
}

// scanpy's _highly_variable_genes_single_batch on one batch's means and variances.
Table single_batch(std::vector<double> mean, const std::vector<double>& var, const HvgOptions& o) {
  const std::size_t n = mean.size();
  if (n == 0) throw ValueError("highly_variable_genes: no genes to bin (pd.cut of nothing)");
  const bool seurat = o.flavor == HvgFlavor::seurat;
  Table t;
  t.dispersions.resize(n);
  for (std::size_t g = 0; g < n; ++g) {
    if (mean[g] == 0) mean[g] = 1e-12;
    double d = var[g] / mean[g];
    if (seurat) {
      if (d == 0) d = kNaN;
      d = std::log(d);
      mean[g] = std::log1p(mean[g]);
    }
    t.dispersions[g] = d;
  }
  t.means = mean;
  t.norm.resize(n);
  if (seurat) {
    const std::vector<index_t> bin = cut(mean, equal_width_edges(mean, o.n_bins));
    std::vector<KahanMean> avg(static_cast<std::size_t>(o.n_bins));
    std::vector<Welford> spread(static_cast<std::size_t>(o.n_bins));
    for (std::size_t g = 0; g < n; ++g) {
      avg[static_cast<std::size_t>(bin[g])].add(t.dispersions[g]);
      spread[static_cast<std::size_t>(bin[g])].add(t.dispersions[g]);
    }
    for (std::size_t g = 0; g < n; ++g) {
      const auto b = static_cast<std::size_t>(bin[g]);
      double m = avg[b].value(), s = spread[b].std_dev();
      if (std::isnan(s)) {  // one gene in its bin (or none with a dispersion): scanpy's 1
        s = m;
        m = 0;
      }
      t.norm[g] = (t.dispersions[g] - m) / s;
    }
  } else {
    std::vector<double> sorted = mean;
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> edges{-std::numeric_limits<double>::infinity()};
    for (int q = 10; q <= 100; q += 5)
      edges.push_back(percentile(sorted, q));
    edges.push_back(std::numeric_limits<double>::infinity());
    for (std::size_t k = 1; k < edges.size(); ++k) {
      if (edges[k] == edges[k - 1]) {
        throw ValueError(
            "highly_variable_genes: flavor cell_ranger: bin edges must be unique (pd.cut), but "
            "the " +
            std::to_string(5 * (k + 1)) +
            "th percentile of the means equals the one before (too many genes share a mean)");
      }
    }
    const std::vector<index_t> bin = cut(mean, edges);
    std::vector<std::vector<double>> members(edges.size() - 1);
    for (std::size_t g = 0; g < n; ++g)
      members[static_cast<std::size_t>(bin[g])].push_back(t.dispersions[g]);
    std::vector<double> median(members.size()), mad(members.size());
    for (std::size_t b = 0; b < members.size(); ++b) {
      if (members[b].empty()) continue;
      median[b] = median_of(members[b]);
      const double center = median_nan(members[b]);
      std::vector<double> dev;
      for (const double d : members[b])
        dev.push_back(std::abs(d - center) / kMadScale);
      mad[b] = median_nan(dev);
    }
    for (std::size_t g = 0; g < n; ++g) {
      const auto b = static_cast<std::size_t>(bin[g]);
      t.norm[g] = (t.dispersions[g] - median[b]) / mad[b];
    }
  }
  t.selected.resize(n);
  if (o.n_top_genes) {
    std::vector<double> valid;
    for (const double v : t.norm)
      if (!std::isnan(v)) valid.push_back(v);
    if (valid.empty())
      throw ValueError("highly_variable_genes: no gene has a normalized dispersion");
    std::sort(valid.begin(), valid.end(), std::greater<>());
    const auto top = std::min<std::size_t>(
        static_cast<std::size_t>(std::min<index_t>(*o.n_top_genes, static_cast<index_t>(n))),
        valid.size());
    const double cutoff = valid[top - 1];
    for (std::size_t g = 0; g < n; ++g)
      t.selected[g] = nan_to_num(t.norm[g]) >= cutoff;
  } else {
    // scanpy sets the NaN normalized dispersions to 0 in place (a view of its frame's column
    // under pandas < 3), so they are written as 0 too.
    for (std::size_t g = 0; g < n; ++g) {
      if (std::isnan(t.norm[g])) t.norm[g] = 0;
      const double m = t.means[g], d = t.norm[g];
      t.selected[g] = m > o.min_mean && m < o.max_mean && d > o.min_disp && d < o.max_disp;
    }
  }
  return t;
}

// numpy's unbiased variance as scanpy's _get_mean_var forms it: (E[x^2] - E[x]^2) * n / (n - 1).
std::vector<double> variances(const std::vector<double>& mean, const std::vector<double>& square,
                              index_t n) {
  const double factor = static_cast<double>(n) / static_cast<double>(n - 1);
  std::vector<double> var(mean.size());
  for (std::size_t g = 0; g < mean.size(); ++g) {
    var[g] = square[g] - mean[g] * mean[g];
    var[g] *= factor;
  }
  return var;
}

// The batches' names and each cell's batch (-1: none), as sanitize_anndata makes the column a
// categorical: its categories, or the sorted distinct strings.
std::pair<std::vector<std::string>, std::vector<index_t>> batches_of(const AnnData& a,
                                                                     const std::string& key) {
  if (!a.obs().contains(key)) throw ValueError("--batch-key: obs has no column '" + key + "'");
  const Column& c = a.obs()[key];
  std::vector<index_t> of(static_cast<std::size_t>(c.size()), -1);
  std::vector<std::string> names;
  if (c.kind() == ColumnKind::categorical) {
    const Column& cats = c.categories();
    for (index_t k = 0; k < cats.size(); ++k)
      names.push_back(cats.text_at(k));
    for (index_t i = 0; i < c.size(); ++i)
      of[static_cast<std::size_t>(i)] =
          c.is_missing(i) ? -1 : static_cast<index_t>(c.values().value_at(i, 0));
  } else if (c.holds_strings()) {
    for (index_t i = 0; i < c.size(); ++i)
      if (!c.is_missing(i)) names.push_back(c.text_at(i));
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (index_t i = 0; i < c.size(); ++i) {
      if (c.is_missing(i)) continue;
      of[static_cast<std::size_t>(i)] = static_cast<index_t>(
          std::lower_bound(names.begin(), names.end(), c.text_at(i)) - names.begin());
    }
  } else {
    throw ValueError("--batch-key " + key + ": obs column '" + key + "' is " +
                     std::string(name(c.kind())) + ", not categorical or strings");
  }
  return {names, of};
}

Column float32_column(const std::vector<double>& v) {
  std::vector<float> f(v.begin(), v.end());
  return Column::from(std::move(f));
}

}  // namespace

HvgStats highly_variable_genes(AnnData& adata, Context& ctx, const HvgOptions& options) {
  if (options.n_top_genes && *options.n_top_genes < 1)
    throw ValueError("n_top_genes must be at least 1, got " + std::to_string(*options.n_top_genes));
  if (options.n_bins < 1)
    throw ValueError("n_bins must be at least 1, got " + std::to_string(options.n_bins));
  if (options.flavor == HvgFlavor::seurat && adata.uns().contains("log1p")) {
    const UnsValue& log1p = adata.uns().at("log1p");
    if (log1p.holds<UnsValue::Mapping>() && log1p.mapping().contains("base") &&
        !log1p.mapping().at("base").holds<Null>()) {
      throw ValueError(
          "highly_variable_genes: uns['log1p']['base'] is set; only natural-log data (base "
          "None, as tessera normalize --log1p writes) is supported");
    }
  }
  const Array x = matrix_of(adata, options.layer);
  // scanpy: seurat works on expm1(X) in X's dtype; means and mean squares accumulate in float64,
  // the squares taken in X's dtype for dense X (np.multiply) and in float64 for sparse X (its
  // numba kernel).
  const Array base = is_float(x.dtype()) ? x : x.astype(DType::float64);
  const Array y = options.flavor == HvgFlavor::seurat ? expm1(base) : base;
  const Array y64 = y.dtype() == DType::float64 ? y : y.astype(DType::float64);
  const Array squares = y.is_sparse() ? apply(UnaryOp::square, y64) : [&] {
    const Array s = apply(UnaryOp::square, y);
    return s.dtype() == DType::float64 ? s : s.astype(DType::float64);
  }();

  const bool batched = !options.batch_key.empty();
  std::vector<std::string> names{""};
  std::vector<index_t> of;
  if (batched) std::tie(names, of) = batches_of(adata, options.batch_key);
  const auto n_batches = static_cast<index_t>(names.size());
  std::vector<Array> wanted;
  std::vector<index_t> cells(names.size(), adata.n_obs());
  for (index_t b = 0; b < n_batches; ++b) {
    if (!batched) {
      wanted.push_back(y64.mean(0));
      wanted.push_back(squares.mean(0));
      continue;
    }
    std::vector<bool> rows(of.size());
    for (std::size_t i = 0; i < of.size(); ++i)
      rows[i] = of[i] == b;
    cells[static_cast<std::size_t>(b)] = std::count(rows.begin(), rows.end(), true);
    if (cells[static_cast<std::size_t>(b)] == 0)
      throw ValueError("--batch-key " + options.batch_key + ": batch '" +
                       names[static_cast<std::size_t>(b)] + "' has no cells");
    const Selector sel = Selector::mask(rows);
    wanted.push_back(y64(sel).mean(0));
    wanted.push_back(squares(sel).mean(0));
    wanted.push_back((x(sel) > 0).sum(0));  // filter_genes(min_cells=1) on the batch
  }
  const std::vector<Chunk> got = ctx.compute(wanted);

  const auto n_genes = static_cast<std::size_t>(adata.n_vars());
  Table out;
  std::vector<std::int64_t> nbatches(n_genes, 0);
  if (!batched) {
    out = single_batch(as_doubles(got[0]),
                       variances(as_doubles(got[0]), as_doubles(got[1]), adata.n_obs()), options);
  } else {
    std::vector<KahanMean> means(n_genes), disp(n_genes), norm(n_genes);
    for (index_t b = 0; b < n_batches; ++b) {
      const std::vector<double> mean = as_doubles(got[3 * b]);
      const std::vector<double> var =
          variances(mean, as_doubles(got[3 * b + 1]), cells[static_cast<std::size_t>(b)]);
      const std::vector<double> present = as_doubles(got[3 * b + 2]);
      std::vector<double> m, v;
      for (std::size_t g = 0; g < n_genes; ++g) {
        if (present[g] >= 1) {
          m.push_back(mean[g]);
          v.push_back(var[g]);
        }
      }
      const Table t = single_batch(m, v, options);
      std::size_t k = 0;
      for (std::size_t g = 0; g < n_genes; ++g) {
        const bool kept = present[g] >= 1;
        means[g].add(kept ? t.means[k] : 0.0);  // genes absent from the batch count as 0
        disp[g].add(kept ? t.dispersions[k] : 0.0);
        norm[g].add(kept ? t.norm[k] : 0.0);
        nbatches[g] += kept && t.selected[k] ? 1 : 0;
        k += kept ? 1 : 0;
      }
    }
    for (std::size_t g = 0; g < n_genes; ++g) {
      out.means.push_back(means[g].value());
      out.dispersions.push_back(disp[g].value());
      out.norm.push_back(norm[g].value());
    }
    out.selected.assign(n_genes, false);
    if (options.n_top_genes) {
      // Sorted by the number of batches, then the mean normalized dispersion (NaN last), both
      // descending; ties keep the merged frame's order, which groupby sorted by gene name.
      std::vector<std::size_t> order(n_genes);
      std::iota(order.begin(), order.end(), 0);
      const auto& var_names = adata.var_names();
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return var_names[a] < var_names[b]; });
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (nbatches[a] != nbatches[b]) return nbatches[a] > nbatches[b];
        const double da = out.norm[a], db = out.norm[b];
        if (std::isnan(da) || std::isnan(db)) return !std::isnan(da) && std::isnan(db);
        return da > db;
      });
      const auto top =
          std::min<std::size_t>(static_cast<std::size_t>(*options.n_top_genes), n_genes);
      for (std::size_t i = 0; i < top; ++i)
        out.selected[order[i]] = true;
    } else {
      for (std::size_t g = 0; g < n_genes; ++g) {
        if (std::isnan(out.norm[g])) out.norm[g] = 0;  // in place, as scanpy (pandas < 3)
        const double m = out.means[g], d = out.norm[g];
        out.selected[g] = m > options.min_mean && m < options.max_mean && d > options.min_disp &&
                          d < options.max_disp;
      }
    }
  }

  DataFrame& var = adata.var();
  var.set("highly_variable", Column::from(out.selected));
  var.set("means", Column::from(out.means));
  var.set("dispersions", Column::from(out.dispersions));
  var.set("dispersions_norm", float32_column(out.norm));
  if (batched) {
    std::vector<bool> all(n_genes);
    for (std::size_t g = 0; g < n_genes; ++g)
      all[g] = nbatches[g] == n_batches;
    var.set("highly_variable_nbatches", Column::from(nbatches));
    var.set("highly_variable_intersection", Column::from(all));
  }
  Uns hvg;
  hvg.set("flavor", UnsValue(options.flavor == HvgFlavor::seurat ? "seurat" : "cell_ranger"));
  adata.uns().set("hvg", UnsValue(std::move(hvg)));
  HvgStats stats;
  stats.selected = static_cast<index_t>(std::count(out.selected.begin(), out.selected.end(), true));
  stats.batches = n_batches;
  return stats;
}

}  // namespace tessera::analysis
