// concat: anndata.concat's semantics on lazy objects. Along axis 0 (observations): X, layers and
// obsm are joined lazily (aligned chunks are reused), the other axis is joined inner (names in
// every object, in the first object's order) or outer (all names, sorted unless identical; missing
// values filled with 0 for sparse arrays and NaN for dense ones, or `fill_value`). obs tables are
// joined (inner: common columns; outer: all, missing values filled); `label` adds a categorical
// column of `keys` (default "0", "1", …); `index_unique` joins name and key with the separator.
// The other axis' annotation (var, varm, varp) is merged with `merge` (none, same, unique,
// first, only); obsp and uns are dropped (anndata's defaults pairwise=False, uns_merge=None); raw
// is joined, without merging, when every object has one. Axis 1 is the same on the transposed
// objects.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tessera/anndata/anndata.hpp"

namespace tessera {

enum class Join : std::uint8_t { inner, outer };
enum class MergeStrategy : std::uint8_t { none, same, unique, first, only };

Join join_from_name(std::string_view name);
MergeStrategy merge_from_name(std::string_view name);

struct ConcatOptions {
  int axis = 0;
  Join join = Join::inner;
  MergeStrategy merge = MergeStrategy::none;
  std::optional<std::string> label;
  std::vector<std::string> keys;  // default: "0", "1", …
  std::optional<std::string> index_unique;
  std::optional<double> fill_value;
};

AnnData concat(const std::vector<AnnData>& objects, const ConcatOptions& options = {});

}  // namespace tessera
