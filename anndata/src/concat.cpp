#include "tessera/anndata/concat.hpp"

#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

constexpr index_t kMissing = -1;

// The other axis' names after the join: inner keeps the first object's order, outer sorts the
// union unless every object has the same names (pandas' Index.intersection / Index.union).
std::vector<std::string> join_names(const std::vector<const std::vector<std::string>*>& lists,
                                    Join join) {
  bool identical = true;
  for (const auto* l : lists)
    identical = identical && *l == *lists[0];
  if (identical) return *lists[0];
  if (join == Join::inner) {
    std::vector<std::unordered_set<std::string_view>> sets;
    for (std::size_t n = 1; n < lists.size(); ++n)
      sets.emplace_back(lists[n]->begin(), lists[n]->end());
    std::vector<std::string> out;
    std::unordered_set<std::string_view> seen;
    for (const auto& name : *lists[0]) {
      bool everywhere = true;
      for (const auto& s : sets)
        everywhere = everywhere && s.contains(name);
      if (everywhere && seen.insert(name).second) out.push_back(name);
    }
    return out;
  }
  std::set<std::string> all;
  for (const auto* l : lists)
    all.insert(l->begin(), l->end());
  return {all.begin(), all.end()};
}

// Where each of `names` sits in `index` (kMissing when absent).
std::vector<index_t> positions_of(const std::vector<std::string>& names, const DataFrame& frame,
                                  std::size_t object) {
  std::unordered_map<std::string_view, index_t> where;
  for (index_t i = 0; i < frame.size(); ++i) {
    if (!where.emplace(frame.index()[i], i).second) {
      throw ValueError("concat: " + frame.name() + " names of object " + std::to_string(object) +
                       " are not unique ('" + frame.index()[i] +
                       "' repeats), so they cannot be joined");
    }
  }
  std::vector<index_t> out;
  out.reserve(names.size());
  for (const auto& n : names) {
    auto it = where.find(n);
    out.push_back(it == where.end() ? kMissing : it->second);
  }
  return out;
}

bool is_identity(const std::vector<index_t>& positions, index_t length) {
  if (static_cast<index_t>(positions.size()) != length) return false;
  for (index_t i = 0; i < length; ++i) {
    if (positions[i] != i) return false;
  }
  return true;
}

// anndata's default_fill_value: 0 when any of the joined arrays is sparse, else NaN.
double fill_for(const std::vector<const Array*>& arrays, const ConcatOptions& o) {
  if (o.fill_value) return *o.fill_value;
  for (const Array* a : arrays) {
    if (a->is_sparse()) return 0.0;
  }
  return std::nan("");
}

// A rows × cols block of `fill` with the given row chunks, dense or CSR, in a dtype that holds it:
// as pandas' take, floating dtypes hold NaN as they are (float32 stays float32), and other dtypes
// become float64 for a NaN or fractional fill.
Array fill_block(const std::vector<index_t>& row_chunks, index_t cols, double fill, DType dtype,
                 bool sparse) {
  const bool needs_float = std::isnan(fill) || fill != std::floor(fill);
  const DType d = needs_float && !is_float(dtype) ? promote(dtype, DType::float64) : dtype;
  index_t rows = 0;
  for (index_t r : row_chunks)
    rows += r;
  Array block = full({rows, cols}, fill, ChunkSpec(row_chunks, std::vector<index_t>{cols}), d);
  return sparse && fill == 0.0 ? block.tocsr() : block;
}

// Columns of `a` rearranged to `positions` (kMissing: a column of `fill`), lazily.
Array reindex_columns(const Array& a, const std::vector<index_t>& positions, double fill) {
  if (is_identity(positions, a.shape().cols)) return a;
  bool any_missing = false;
  for (index_t p : positions)
    any_missing = any_missing || p == kMissing;
  if (!any_missing) return a(Selector::all(), Selector::take(positions));
  const Array extra = fill_block(a.chunks().sizes(0), 1, fill, a.dtype(), a.is_sparse());
  const Array extended = concatenate({a, extra}, 1);
  std::vector<index_t> take = positions;
  for (auto& p : take) {
    if (p == kMissing) p = a.shape().cols;
  }
  return extended(Selector::all(), Selector::take(take));
}

// A column rearranged to `positions` (kMissing: a missing value).
Column reindex_column(const Column& c, const std::vector<index_t>& positions) {
  bool any_missing = false;
  for (index_t p : positions)
    any_missing = any_missing || p == kMissing;
  if (!any_missing) return c.take(positions);
  const Column extended = Column::concat({c, c.missing_like(1)});
  std::vector<index_t> take = positions;
  for (auto& p : take) {
    if (p == kMissing) p = c.size();
  }
  return extended.take(take);
}

std::vector<std::string> key_union(const std::vector<std::vector<std::string>>& key_lists) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const auto& keys : key_lists) {
    for (const auto& k : keys) {
      if (seen.insert(k).second) out.push_back(k);
    }
  }
  return out;
}

std::vector<std::string> key_intersection(const std::vector<std::vector<std::string>>& key_lists) {
  std::vector<std::string> out;
  for (const auto& k : key_lists.at(0)) {
    bool everywhere = true;
    for (const auto& keys : key_lists)
      everywhere = everywhere && std::find(keys.begin(), keys.end(), k) != keys.end();
    if (everywhere) out.push_back(k);
  }
  return out;
}

// same/unique compare array values: computed here, on this process (varm/varp are small).
bool arrays_equal(const Array& a, const Array& b) {
  return a.shape() == b.shape() && array_equal(a.compute(), b.compute());
}

std::vector<std::string> join_keys(const std::vector<std::vector<std::string>>& key_lists,
                                   Join join) {
  return join == Join::inner ? key_intersection(key_lists) : key_union(key_lists);
}

// Values for one key from every object that has it (nullopt where absent), merged by strategy:
// the index of the chosen object, or nullopt to drop the key.
template <typename V, typename Equal>
std::optional<std::size_t> pick(const std::vector<std::optional<V>>& values, MergeStrategy strategy,
                                Equal equal) {
  std::vector<std::size_t> present;
  for (std::size_t n = 0; n < values.size(); ++n) {
    if (values[n]) present.push_back(n);
  }
  if (present.empty()) return std::nullopt;
  switch (strategy) {
    case MergeStrategy::none:
      return std::nullopt;
    case MergeStrategy::first:
      return present[0];
    case MergeStrategy::only:
      return present.size() == 1 ? std::optional(present[0]) : std::nullopt;
    case MergeStrategy::same:
      if (present.size() != values.size()) return std::nullopt;
      [[fallthrough]];
    case MergeStrategy::unique:
      for (std::size_t n : present) {
        if (!equal(*values[n], *values[present[0]])) return std::nullopt;
      }
      return present[0];
  }
  return std::nullopt;
}

AnnData concat_rows(const std::vector<AnnData>& objects, const ConcatOptions& o) {
  const std::size_t count = objects.size();
  std::vector<std::string> keys = o.keys;
  if (keys.empty()) {
    for (std::size_t n = 0; n < count; ++n)
      keys.push_back(std::to_string(n));
  }
  if (keys.size() != count) {
    throw ValueError("concat: " + std::to_string(keys.size()) + " keys for " +
                     std::to_string(count) + " objects");
  }

  // Names along the concatenated axis, made unique with the keys when asked.
  std::vector<std::string> obs_names;
  std::vector<std::optional<std::string>> labels;
  for (std::size_t n = 0; n < count; ++n) {
    for (const auto& name : objects[n].obs_names()) {
      obs_names.push_back(o.index_unique ? name + *o.index_unique + keys[n] : name);
      labels.emplace_back(keys[n]);
    }
  }

  // The other axis: joined names and, per object, where each joined name sits.
  std::vector<const std::vector<std::string>*> var_lists;
  for (const auto& a : objects)
    var_lists.push_back(&a.var_names());
  const std::vector<std::string> var_names = join_names(var_lists, o.join);
  std::vector<std::vector<index_t>> where;
  for (std::size_t n = 0; n < count; ++n) {
    where.push_back(*var_lists[n] == var_names ? [&] {
      std::vector<index_t> iota(var_names.size());
      for (std::size_t i = 0; i < iota.size(); ++i) iota[i] = static_cast<index_t>(i);
      return iota;
    }()
                                               : positions_of(var_names, objects[n].var(), n));
  }
  const auto n_vars = static_cast<index_t>(var_names.size());

  // obs: the tables joined, plus the label column.
  DataFrame obs(obs_names, "obs");
  // pandas keeps an index's name when every part has the same one.
  const auto common_name = [&](const auto& frame_of) {
    const std::string& first = frame_of(objects.front()).index_name();
    for (const auto& a : objects) {
      if (frame_of(a).index_name() != first) return std::string();
    }
    return first;
  };
  obs.set_index_name(common_name([](const AnnData& a) -> const DataFrame& { return a.obs(); }));
  std::vector<std::vector<std::string>> column_lists;
  for (const auto& a : objects)
    column_lists.push_back(a.obs().columns().keys());
  for (const auto& column : join_keys(column_lists, o.join)) {
    std::vector<Column> parts;
    const Column* example = nullptr;
    for (const auto& a : objects) {
      if (a.obs().contains(column)) example = &a.obs()[column];
    }
    for (const auto& a : objects) {
      parts.push_back(a.obs().contains(column) ? a.obs()[column]
                                               : example->missing_like(a.n_obs()));
    }
    try {
      obs.set(column, Column::concat(parts));
    } catch (const ValueError& e) {
      throw ValueError("concat: obs column '" + column + "': " + e.what());
    }
  }
  if (o.label) obs.set(*o.label, Column::categorical(labels, keys));

  // var: merged by strategy from the tables reindexed to the joined names.
  DataFrame var(var_names, "var");
  var.set_index_name(common_name([](const AnnData& a) -> const DataFrame& { return a.var(); }));
  std::vector<std::vector<std::string>> var_columns;
  for (const auto& a : objects)
    var_columns.push_back(a.var().columns().keys());
  if (o.merge != MergeStrategy::none) {
    for (const auto& column : key_union(var_columns)) {
      std::vector<std::optional<Column>> values;
      for (std::size_t n = 0; n < count; ++n) {
        values.push_back(objects[n].var().contains(column)
                             ? std::optional(reindex_column(objects[n].var()[column], where[n]))
                             : std::nullopt);
      }
      if (auto chosen =
              pick(values, o.merge, [](const Column& a, const Column& b) { return a == b; })) {
        var.set(column, *values[*chosen]);
      }
    }
  }

  AnnData out(std::move(obs), std::move(var));

  // X and layers: every object's array with its columns reindexed, stacked lazily.
  std::size_t with_x = 0;
  for (const auto& a : objects)
    with_x += a.X() ? 1 : 0;
  if (with_x != 0 && with_x != count) {
    throw ValueError("concat: some but not all of the objects have X (" + std::to_string(with_x) +
                     " of " + std::to_string(count) + ")");
  }
  const auto stack = [&](const std::vector<std::optional<Array>>& arrays) {
    std::vector<Array> parts;
    const Array* example = nullptr;
    std::vector<const Array*> present;
    for (const auto& a : arrays) {
      if (a) {
        example = &*a;
        present.push_back(&*a);
      }
    }
    const double fill = fill_for(present, o);
    for (std::size_t n = 0; n < count; ++n) {
      if (arrays[n]) {
        parts.push_back(reindex_columns(*arrays[n], where[n], fill));
      } else {  // an outer join's missing element: all fill
        parts.push_back(
            fill_block({objects[n].n_obs()}, n_vars, fill, example->dtype(), example->is_sparse()));
      }
    }
    return concatenate(parts, 0);
  };
  if (with_x == count) {
    std::vector<std::optional<Array>> xs;
    for (const auto& a : objects)
      xs.push_back(a.X());
    out.set_X(stack(xs));
  }
  std::vector<std::vector<std::string>> layer_keys;
  for (const auto& a : objects) {
    layer_keys.push_back(a.layers().array_keys());
    for (const AlignedArrays* m : {&a.layers(), &a.obsm(), &a.obsp()}) {
      if (!m->stored().empty()) {
        const auto& [k, element] = *m->stored().begin();
        throw ValueError("concat: " + m->name() + "[" + python_repr(k) + "] is kept as stored (" +
                         element.encoding + ") and cannot be concatenated by Tessera");
      }
    }
  }
  for (const auto& key : join_keys(layer_keys, o.join)) {
    std::vector<std::optional<Array>> layers;
    for (const auto& a : objects) {
      layers.push_back(a.layers().contains(key) ? std::optional(a.layers()[key]) : std::nullopt);
    }
    out.layers().set(key, stack(layers));
  }

  // obsm: inner keeps the keys every object has, cut to the fewest columns; outer keeps all,
  // padded to the most columns with the fill value.
  std::vector<std::vector<std::string>> obsm_keys;
  for (const auto& a : objects)
    obsm_keys.push_back(a.obsm().array_keys());
  for (const auto& key : join_keys(obsm_keys, o.join)) {
    index_t min_cols = -1, max_cols = 0;
    const Array* example = nullptr;
    for (const auto& a : objects) {
      if (!a.obsm().contains(key)) continue;
      const index_t c = a.obsm()[key].shape().cols;
      min_cols = min_cols < 0 ? c : std::min(min_cols, c);
      max_cols = std::max(max_cols, c);
      example = &a.obsm()[key];
    }
    const index_t width = o.join == Join::inner ? min_cols : max_cols;
    std::vector<const Array*> present;
    for (const auto& a : objects) {
      if (a.obsm().contains(key)) present.push_back(&a.obsm()[key]);
    }
    const double fill = fill_for(present, o);
    std::vector<Array> parts;
    for (const auto& a : objects) {
      if (!a.obsm().contains(key)) {
        parts.push_back(
            fill_block({a.n_obs()}, width, fill, example->dtype(), example->is_sparse()));
        continue;
      }
      const Array& m = a.obsm()[key];
      std::vector<index_t> cols(static_cast<std::size_t>(width));
      for (index_t c = 0; c < width; ++c)
        cols[c] = c < m.shape().cols ? c : kMissing;
      parts.push_back(reindex_columns(m, cols, fill));
    }
    out.obsm().set(key, concatenate(parts, 0));
  }
  // obsm data frames (pandas.concat): inner keeps the keys and columns every object has, outer
  // all of them, missing values filled as pandas fills them.
  std::vector<std::vector<std::string>> frame_keys;
  for (const auto& a : objects)
    frame_keys.push_back(a.obsm().frames().keys());
  for (const auto& key : join_keys(frame_keys, o.join)) {
    std::vector<std::vector<std::string>> columns;
    for (const auto& a : objects) {
      if (a.obsm().frames().contains(key))
        columns.push_back(a.obsm().frames().at(key).columns().keys());
    }
    DataFrame frame(obs_names, "obsm");
    for (const auto& column : join_keys(columns, o.join)) {
      const Column* example = nullptr;
      for (const auto& a : objects) {
        if (a.obsm().frames().contains(key) && a.obsm().frames().at(key).contains(column))
          example = &a.obsm().frames().at(key)[column];
      }
      std::vector<Column> parts;
      for (const auto& a : objects) {
        const bool has =
            a.obsm().frames().contains(key) && a.obsm().frames().at(key).contains(column);
        parts.push_back(has ? a.obsm().frames().at(key)[column] : example->missing_like(a.n_obs()));
      }
      try {
        frame.set(column, Column::concat(parts));
      } catch (const ValueError& e) {
        throw ValueError("concat: obsm['" + key + "'] column '" + column + "': " + e.what());
      }
    }
    out.obsm().set(key, std::move(frame));
  }

  // varm: merged by strategy from arrays reindexed (by rows) to the joined names.
  if (o.merge != MergeStrategy::none) {
    std::vector<std::vector<std::string>> varm_keys;
    for (const auto& a : objects)
      varm_keys.push_back(a.varm().array_keys());
    for (const auto& key : key_union(varm_keys)) {
      std::vector<std::optional<Array>> values;
      for (std::size_t n = 0; n < count; ++n) {
        if (!objects[n].varm().contains(key)) {
          values.emplace_back();
          continue;
        }
        const Array& m = objects[n].varm()[key];
        values.push_back(reindex_columns(m.transpose(), where[n], fill_for({&m}, o)).transpose());
      }
      if (auto chosen = pick(values, o.merge, arrays_equal)) out.varm().set(key, *values[*chosen]);
    }
    // varp: both axes reindexed, then merged the same way.
    std::vector<std::vector<std::string>> varp_keys;
    for (const auto& a : objects)
      varp_keys.push_back(a.varp().array_keys());
    for (const auto& key : key_union(varp_keys)) {
      std::vector<std::optional<Array>> values;
      for (std::size_t n = 0; n < count; ++n) {
        if (!objects[n].varp().contains(key)) {
          values.emplace_back();
          continue;
        }
        const Array& m = objects[n].varp()[key];
        const double fill = fill_for({&m}, o);
        values.push_back(
            reindex_columns(reindex_columns(m, where[n], fill).transpose(), where[n], fill)
                .transpose());
      }
      if (auto chosen = pick(values, o.merge, arrays_equal)) out.varp().set(key, *values[*chosen]);
    }
  }

  // raw: joined when every object has one.
  std::size_t with_raw = 0;
  for (const auto& a : objects)
    with_raw += a.raw() && a.raw()->X ? 1 : 0;
  if (with_raw == count) {
    std::vector<AnnData> raws;
    for (const auto& a : objects) {
      AnnData r(*a.raw()->X, DataFrame(a.obs_names(), "obs"), a.raw()->var);
      for (const auto& [k, v] : a.raw()->varm)
        r.varm().set(k, v);
      raws.push_back(std::move(r));
    }
    ConcatOptions raw_options = o;
    raw_options.label.reset();
    raw_options.merge = MergeStrategy::none;  // anndata joins raw without a merge strategy
    const AnnData joined = concat_rows(raws, raw_options);
    Raw raw;
    raw.X = joined.X();
    raw.var = joined.var();
    for (const auto& [k, v] : joined.varm())
      raw.varm.set(k, v);
    out.set_raw(std::move(raw));
  }
  return out;
}

}  // namespace

Join join_from_name(std::string_view name) {
  if (name == "inner") return Join::inner;
  if (name == "outer") return Join::outer;
  throw ValueError("join must be 'inner' or 'outer', got '" + std::string(name) + "'");
}

MergeStrategy merge_from_name(std::string_view name) {
  if (name == "none" || name.empty()) return MergeStrategy::none;
  if (name == "same") return MergeStrategy::same;
  if (name == "unique") return MergeStrategy::unique;
  if (name == "first") return MergeStrategy::first;
  if (name == "only") return MergeStrategy::only;
  throw ValueError("merge must be none, same, unique, first or only, got '" + std::string(name) +
                   "'");
}

AnnData concat(const std::vector<AnnData>& objects, const ConcatOptions& options) {
  if (objects.empty()) throw ValueError("concat needs at least one object");
  if (options.axis != 0 && options.axis != 1) {
    throw ValueError("concat: axis must be 0 or 1, got " + std::to_string(options.axis));
  }
  if (options.axis == 0) return concat_rows(objects, options);
  // Along variables: the same on the transposed objects (raw is not carried, as adata.T drops it).
  std::vector<AnnData> transposed;
  transposed.reserve(objects.size());
  for (const auto& a : objects)
    transposed.push_back(a.transpose());
  ConcatOptions rows = options;
  rows.axis = 0;
  return concat_rows(transposed, rows).transpose();
}

}  // namespace tessera
