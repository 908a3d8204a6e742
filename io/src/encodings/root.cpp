// The anndata object itself and raw, as every generation stored them:
//   anndata 0.1.0 (anndata >= 0.8): encoded root, raw a group (or `null`);
//   anndata 0.7: no root encoding, raw a group;
//   before 0.7: obs/var/obsm/varm compound datasets, raw as top-level raw.X/raw.var/raw.varm,
//     categories of obs/var columns in uns/<column>_categories.
// The reference's read-time fix-ups happen here the same way: categories move from uns into the
// columns (anndata's _clean_uns, for files without a root encoding) and
// uns['neighbors']['distances'/'connectivities'] move into obsp (_move_adj_mtx, for every file).
#include <functional>
#include <string>

#include "encodings/elements.hpp"
#include "encodings/sources.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

void set_group_encoding(Group& g, const char* type, const char* version) {
  g.set_attribute("encoding-type", type);
  g.set_attribute("encoding-version", version);
}

// Shape errors from the model become format errors naming the element.
void place(const Group& root, const std::string& element, const std::function<void()>& action) {
  try {
    action();
  } catch (const ShapeError& e) {
    bad(root, element, e.what());
  }
}

DataFrame required_frame(const Group& root, const std::string& name, const ReadOptions& options) {
  ReadOptions strict = options;
  strict.skip_unknown = false;  // obs and var cannot be dropped
  return *read_dataframe(root, name, strict);
}

// A pre-0.7 obsm/varm: one compound dataset, a field per key (n × count values each).
void read_compound_mapping(const Group& root, const std::string& name, AlignedArrays& into) {
  const ArrayMeta meta = checked_meta(root, name);
  if (!meta.is_compound() || meta.shape.size() != 1)
    bad(root, name, "must be a group or (before anndata 0.7) a one-dimensional compound array");
  for (const Field& f : meta.fields) {
    FieldValues v = root.read_field(name, f.name);
    if (!v.values) bad(root, name, "field '" + f.name + "' holds strings, not numbers");
    place(root, name + "/" + f.name, [&] { into.set(f.name, *v.values); });
  }
}

void read_mapping_into(const std::shared_ptr<const Group>& root, const std::string& name,
                       AlignedArrays& into, const ReadOptions& options) {
  if (root->has_array(name)) {
    const Encoding e = encoding_of(*root, name);
    if (e.type == "null") return;
    read_compound_mapping(*root, name, into);
    return;
  }
  const std::shared_ptr<const Group> g = root->group(name);
  for (const auto& key : g->children()) {
    AlignedValue value = read_aligned(g, key, options);
    place(*root, name + "/" + key, [&] {
      std::visit(
          [&](auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (!std::is_same_v<T, std::monostate>) into.set(key, std::move(v));
          },
          value);
    });
  }
}

// anndata's _clean_uns: uns/<col>_categories become the categories of an integer column <col>
// of obs and of var whose codes all fit.
void clean_uns(AnnData& a, const Group& root) {
  std::vector<std::string> moved;
  for (const auto& [key, value] : a.uns()) {
    if (!key.ends_with("_categories")) continue;
    std::string column = key;
    for (std::size_t at = column.find("_categories"); at != std::string::npos;
         at = column.find("_categories"))
      column.erase(at, 11);
    Column categories;
    if (value.holds<std::string>()) {
      categories = Column::strings({value.as<std::string>()});
    } else if (value.holds<StringArray>() && value.as<StringArray>().shape.size() == 1) {
      categories = Column::strings(value.as<StringArray>().values);
    } else if (value.holds<NdArray>() && value.as<NdArray>().shape.size() <= 1 &&
               !value.as<NdArray>().data.is_sparse()) {
      categories = Column::values(value.as<NdArray>().data);
    } else {
      continue;
    }
    // The reference guesses the axis by which column's codes fit; a file where an integer column
    // of that name exists but no codes fit is damaged (the reference would keep the bare codes
    // and the stray categories): say so.
    std::string misfit;
    bool placed = false;
    for (DataFrame* frame : {&a.obs(), &a.var()}) {
      if (!frame->contains(column)) continue;
      const Column& codes = (*frame)[column];
      if (codes.kind() != ColumnKind::numeric || !is_integer(codes.dtype())) continue;
      bool fits = true;
      for (index_t i = 0; i < codes.size() && fits; ++i) {
        const double code = codes.values().value_at(i, 0);
        fits = code >= -1 && code < static_cast<double>(categories.size());
        if (!fits && misfit.empty()) {
          misfit = frame->name() + "/" + column + ": code " +
                   std::to_string(static_cast<index_t>(code)) + " at row " + std::to_string(i) +
                   " is outside the " + std::to_string(categories.size()) + " categories in uns/" +
                   key;
        }
      }
      if (!fits) continue;
      placed = true;
      try {
        const DType wide = is_signed_int(codes.dtype()) ? codes.dtype() : DType::int64;
        frame->set(column,
                   Column::categorical_from_codes(codes.values().astype(wide), categories, false));
      } catch (const Error& e) {
        bad(root, frame->name() + "/" + column,
            std::string("codes do not fit uns/") + key + ": " + e.what());
      }
      if (moved.empty() || moved.back() != key) moved.push_back(key);
    }
    if (!placed && !misfit.empty()) throw FormatError(root.path() + ": " + misfit);
  }
  for (const std::string& key : moved)
    a.uns().erase(key);
}

// anndata's _move_adj_mtx: neighbor graphs stored in uns (anndata < 0.7) belong in obsp.
void move_adjacency(AnnData& a, const Group& root) {
  if (!a.uns().contains("neighbors") || !a.uns().at("neighbors").holds<UnsValue::Mapping>()) return;
  Uns& neighbors = a.uns().at("neighbors").mapping();
  for (const char* key : {"distances", "connectivities"}) {
    if (!neighbors.contains(key) || !neighbors.at(key).holds<NdArray>()) continue;
    if (a.obsp().has_key(key)) {
      bad(root, std::string("uns/neighbors/") + key,
          "is also in obsp; the reference refuses such a file");
    }
    const NdArray& graph = neighbors.at(key).as<NdArray>();
    if (graph.shape.size() != 2) continue;
    place(root, std::string("uns/neighbors/") + key, [&] { a.obsp().set(key, graph.data); });
    neighbors.erase(key);
  }
}

void read_raw(AnnData& a, const std::shared_ptr<const Group>& root, const ReadOptions& options) {
  const bool legacy = root->has_array("raw.X") || root->has_group("raw.X") ||
                      root->has_array("raw.var") || root->has_group("raw.var") ||
                      root->has_array("raw.varm") || root->has_group("raw.varm");
  Raw raw;
  bool any = false;
  std::vector<std::pair<std::string, std::function<void()>>> varm;
  if (root->has_group("raw")) {
    const Encoding e = encoding_of(*root, "raw");
    if (e.type == "null") return;
    if (!e.empty() && e.type != "raw") {
      if (skip_unknown(*root, "raw", e, options, "raw")) return;
    }
    if (legacy) bad(*root, "raw", "the file has both a raw group and legacy raw.X/raw.var");
    const std::shared_ptr<const Group> rg = root->group("raw");
    if (rg->has_group("var") || rg->has_array("var")) raw.var = required_frame(*rg, "var", options);
    if (rg->has_array("X") || rg->has_group("X")) raw.X = read_matrix(rg, "X", options);
    AlignedArrays m("raw.varm", raw.var.size(), -1);
    if (rg->has_group("varm")) read_mapping_into(rg, "varm", m, options);
    raw.varm = std::move(m);
    any = true;
  } else if (root->has_array("raw")) {
    const Encoding e = encoding_of(*root, "raw");
    if (e.type == "null") return;  // anndata 0.12 zarr: raw stored as null when there is none
    if (skip_unknown(*root, "raw", e, options, "raw")) return;
  } else if (legacy) {
    if (root->has_array("raw.X") || root->has_group("raw.X"))
      raw.X = read_matrix(root, "raw.X", options);
    if (root->has_array("raw.var") || root->has_group("raw.var"))
      raw.var = required_frame(*root, "raw.var", options);
    AlignedArrays m("raw.varm", raw.var.size(), -1);
    if (root->has_array("raw.varm") || root->has_group("raw.varm"))
      read_mapping_into(root, "raw.varm", m, options);
    raw.varm = std::move(m);
    any = true;
  }
  if (any) place(*root, "raw", [&] { a.set_raw(std::move(raw)); });
}

}  // namespace

AnnData read_root(const std::shared_ptr<const Group>& root, const ReadOptions& options) {
  const Json attrs = root->attributes();
  const bool encoded = attrs.contains("encoding-type");
  if (encoded) {
    const Json& type = attrs.at("encoding-type");
    if (!type.is_string() || type.get<std::string>() != "anndata") {
      throw FormatError(root->path() + ": encoding-type " + type.dump() +
                        " is not an AnnData object");
    }
    const Json version = attrs.value("encoding-version", Json("0.1.0"));
    if (!version.is_string() || version.get<std::string>() != "0.1.0") {
      throw FormatError(root->path() + ": unsupported AnnData encoding-version " + version.dump());
    }
  }
  for (const char* required : {"obs", "var"}) {
    if (!root->has_group(required) && !root->has_array(required)) {
      throw FormatError(root->path() + ": not an AnnData store (no '" + std::string(required) +
                        "' group)");
    }
  }
  AnnData a(required_frame(*root, "obs", options), required_frame(*root, "var", options));
  if (root->has_array("X") || root->has_group("X")) {
    if (auto x = read_matrix(root, "X", options)) place(*root, "X", [&] { a.set_X(*x); });
  }
  const std::pair<const char*, AlignedArrays*> maps[] = {{"layers", &a.layers()},
                                                         {"obsm", &a.obsm()},
                                                         {"varm", &a.varm()},
                                                         {"obsp", &a.obsp()},
                                                         {"varp", &a.varp()}};
  for (const auto& [name, m] : maps) {
    if (root->has_group(name) || root->has_array(name)) read_mapping_into(root, name, *m, options);
  }
  if (root->has_group("uns")) a.uns() = read_mapping(*root->group("uns"), "uns", options);
  read_raw(a, root, options);
  if (!encoded) clean_uns(a, *root);
  move_adjacency(a, *root);
  return a;
}

void write_skeleton(Group& root, const AnnData& a) {
  set_group_encoding(root, "anndata", "0.1.0");
  write_dataframe(root, "obs", a.obs());
  write_dataframe(root, "var", a.var());
  for (auto [name, arrays] : {std::pair{"obsm", &a.obsm()},
                              {"varm", &a.varm()},
                              {"obsp", &a.obsp()},
                              {"varp", &a.varp()},
                              {"layers", &a.layers()}}) {
    auto g = root.create_group(name);
    set_group_encoding(*g, "dict", "0.1.0");
    write_aligned_extras(*g, *arrays);
  }
  write_uns(root, "uns", a.uns());
  if (a.raw()) {
    auto raw = root.create_group("raw");
    set_group_encoding(*raw, "raw", "0.1.0");
    write_dataframe(*raw, "var", a.raw()->var);
    auto varm = raw->create_group("varm");
    set_group_encoding(*varm, "dict", "0.1.0");
    write_aligned_extras(*varm, a.raw()->varm);
  }
}

}  // namespace tessera::io::detail
