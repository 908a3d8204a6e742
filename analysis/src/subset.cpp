// subset: masks from bool columns and name lists, then one lazy view of every slot (the view is
// anndata's: raw rows follow obs, raw vars stay whole).
#include "tessera/analysis/subset.hpp"

#include <algorithm>
#include <unordered_map>

#include "tessera/core/error.hpp"

namespace tessera::analysis {
namespace {

void and_column(std::vector<bool>& keep, const DataFrame& frame, const std::string& column,
                const char* axis) {
  if (!frame.contains(column)) {
    std::string have;
    for (const auto& k : frame.columns().keys())
      have += (have.empty() ? "'" : ", '") + k + "'";
    throw ValueError(std::string("subset: ") + axis + " has no column '" + column + "' (" + axis +
                     " columns: " + (have.empty() ? "none" : have) + ")");
  }
  const Column& c = frame[column];
  if (c.kind() != ColumnKind::boolean)
    throw ValueError(std::string("subset: ") + axis + " column '" + column + "' is not bool");
  for (index_t i = 0; i < c.size(); ++i)
    keep[static_cast<std::size_t>(i)] =
        keep[static_cast<std::size_t>(i)] && c.values().value_at(i, 0) != 0.0;
}

void and_names(std::vector<bool>& keep, const std::vector<std::string>& index,
               const std::vector<std::string>& names, const char* axis) {
  std::unordered_map<std::string_view, index_t> where;
  where.reserve(index.size());
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (!where.emplace(index[i], static_cast<index_t>(i)).second) {
      throw ValueError(std::string("subset: ") + axis + " names are not unique ('" + index[i] +
                       "' repeats), so names cannot select");
    }
  }
  std::vector<bool> named(index.size(), false);
  std::vector<std::string> unknown, twice;
  for (const auto& n : names) {
    const auto it = where.find(n);
    if (it == where.end()) {
      unknown.push_back(n);
    } else if (named[static_cast<std::size_t>(it->second)]) {
      twice.push_back(n);
    } else {
      named[static_cast<std::size_t>(it->second)] = true;
    }
  }
  const auto listed = [](const std::vector<std::string>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size() && i < 5; ++i)
      out += (i == 0 ? "'" : ", '") + v[i] + "'";
    if (v.size() > 5) out += ", …";
    return out;
  };
  if (!unknown.empty()) {
    throw IndexError(std::string("subset: ") + std::to_string(unknown.size()) + " name" +
                     (unknown.size() == 1 ? " is" : "s are") + " not in " + axis +
                     "_names: " + listed(unknown));
  }
  if (!twice.empty())
    throw IndexError(std::string("subset: ") + axis + " names listed twice: " + listed(twice));
  for (std::size_t i = 0; i < keep.size(); ++i)
    keep[i] = keep[i] && named[i];
}

}  // namespace

std::vector<bool> cell_mask(const AnnData& adata, const SubsetOptions& options) {
  std::vector<bool> keep(static_cast<std::size_t>(adata.n_obs()), true);
  if (options.obs_mask) and_column(keep, adata.obs(), *options.obs_mask, "obs");
  if (options.cells) and_names(keep, adata.obs_names(), *options.cells, "obs");
  return keep;
}

std::vector<bool> gene_mask(const AnnData& adata, const SubsetOptions& options) {
  std::vector<bool> keep(static_cast<std::size_t>(adata.n_vars()), true);
  if (options.genes) and_names(keep, adata.var_names(), *options.genes, "var");
  if (options.highly_variable) and_column(keep, adata.var(), "highly_variable", "var");
  return keep;
}

AnnData subset(const AnnData& adata, const SubsetOptions& options) {
  std::vector<bool> cells = cell_mask(adata, options);
  std::vector<bool> genes = gene_mask(adata, options);
  const auto all = [](const std::vector<bool>& m) {
    return std::find(m.begin(), m.end(), false) == m.end();
  };
  const AxisIndex rows = all(cells) ? AxisIndex() : AxisIndex(std::move(cells));
  const AxisIndex cols = all(genes) ? AxisIndex() : AxisIndex(std::move(genes));
  return adata(rows, cols).copy();
}

}  // namespace tessera::analysis
