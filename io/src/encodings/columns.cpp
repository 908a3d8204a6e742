// Data frames and their columns, every generation:
//   dataframe 0.2.0 (anndata >= 0.8): columns are arrays, string-arrays or encoded groups;
//   dataframe 0.1.0 (anndata 0.7): a categorical column is its codes, with an attribute
//     `categories` naming `__categories/<col>` (an HDF5 object reference, a path in zarr);
//   pre-0.7: one compound dataset, the first field the index, no encoding attributes.
#include <algorithm>
#include <map>
#include <string>

#include "encodings/elements.hpp"
#include "encodings/sources.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

const ArrayMeta& one_dimensional(const ArrayMeta& meta, const Group& g, const std::string& name) {
  if (meta.is_compound()) bad(g, name, "a column cannot be a compound array");
  if (meta.shape.size() != 1) bad(g, name, "a column must be one-dimensional");
  return meta;
}

Column read_values(const Group& g, const std::string& name) {
  const ArrayMeta meta = one_dimensional(checked_meta(g, name), g, name);
  return meta.is_string() ? Column::strings(g.read_strings(name))
                          : Column::values(g.read_all(name));
}

std::vector<bool> read_mask(const Group& g, const std::string& name, index_t n, const Group& frame,
                            const std::string& column) {
  std::vector<bool> mask(static_cast<std::size_t>(n), false);
  if (!g.has_array(name)) return mask;
  const ArrayMeta meta = one_dimensional(checked_meta(g, name), g, name);
  if (meta.is_string()) bad(g, name, "a mask must hold booleans, not strings");
  const Chunk m = g.read_all(name).astype(DType::boolean);
  if (m.cols() != n) bad(frame, column, "mask and values differ in length");
  for (index_t i = 0; i < n; ++i)
    mask[static_cast<std::size_t>(i)] = m.value_at(0, i) != 0;
  return mask;
}

bool ordered_attribute(const Json& attrs, const Group& g, const std::string& name) {
  if (!attrs.contains("ordered")) return false;
  const Json& o = attrs.at("ordered");
  if (o.is_boolean()) return o.get<bool>();
  if (o.is_number_integer()) return o.get<std::int64_t>() != 0;
  bad(g, name, "attribute 'ordered' must be a bool, got " + o.dump());
}

Column categorical(const Group& frame, const std::string& name, const Chunk& codes,
                   Column categories, bool ordered) {
  try {
    return Column::categorical_from_codes(codes, std::move(categories), ordered);
  } catch (const Error& err) {
    bad(frame, name, err.what());
  }
}

Column categories_of(const Group& g, const std::string& name) {
  const ArrayMeta meta = checked_meta(g, name);
  if (meta.is_compound() || meta.shape.size() != 1)
    bad(g, name, "categories must be a one-dimensional array");
  return meta.is_string() ? Column::strings(g.read_strings(name))
                          : Column::values(g.read_all(name));
}

Chunk read_codes(const Group& g, const std::string& name) {
  const ArrayMeta meta = one_dimensional(checked_meta(g, name), g, name);
  if (meta.is_string() || !is_signed_int(*meta.dtype))
    bad(g, name, "categorical codes must be a one-dimensional signed integer array");
  return g.read_all(name);
}

// ---- column readers, by encoding ---------------------------------------------------------------

using ColumnReader = Column (*)(const Group& frame, const std::string& name);

Column read_categorical(const Group& frame, const std::string& name) {
  const auto g = frame.group(name);
  const bool ordered = ordered_attribute(g->attributes(), frame, name);
  Column categories = categories_of(*g, "categories");
  return categorical(frame, name, read_codes(*g, "codes"), std::move(categories), ordered);
}

Column read_nullable(const Group& frame, const std::string& name, const std::string& type) {
  const auto g = frame.group(name);
  const ArrayMeta meta = one_dimensional(checked_meta(*g, "values"), *g, "values");
  if (meta.is_string()) bad(frame, name, type + " values must be numbers, not strings");
  const Chunk values = g->read_all("values");
  std::vector<bool> mask = read_mask(*g, "mask", values.cols(), frame, name);
  const bool boolean = type == "nullable-boolean";
  if (boolean != (values.dtype() == DType::boolean) || (!boolean && !is_integer(values.dtype()))) {
    bad(frame, name, type + " values have dtype " + std::string(tessera::name(values.dtype())));
  }
  return Column::nullable(values, std::move(mask));
}

Column read_nullable_integer(const Group& frame, const std::string& name) {
  return read_nullable(frame, name, "nullable-integer");
}

Column read_nullable_boolean(const Group& frame, const std::string& name) {
  return read_nullable(frame, name, "nullable-boolean");
}

// anndata 0.11+: values ("" where missing) and mask; 0.13 adds `na-value` ("NA" or "NaN").
Column read_nullable_string(const Group& frame, const std::string& name) {
  const auto g = frame.group(name);
  const ArrayMeta meta = one_dimensional(checked_meta(*g, "values"), *g, "values");
  if (!meta.is_string()) bad(frame, name, "nullable-string-array values must be strings");
  std::vector<std::string> values = g->read_strings("values");
  std::vector<bool> mask = read_mask(*g, "mask", static_cast<index_t>(values.size()), frame, name);
  std::string na;
  const Json attrs = g->attributes();
  if (attrs.contains("na-value")) {
    na = text_attribute(attrs, "na-value", frame, name);
    if (na != "NA" && na != "NaN")
      bad(frame, name, "attribute 'na-value' must be 'NA' or 'NaN', got '" + na + "'");
  }
  return Column::nullable_strings(std::move(values), std::move(mask), std::move(na));
}

Column read_plain(const Group& frame, const std::string& name) {
  return read_values(frame, name);
}

const std::map<std::pair<std::string, std::string>, ColumnReader>& group_columns() {
  static const std::map<std::pair<std::string, std::string>, ColumnReader> table{
      {{"categorical", "0.2.0"}, read_categorical},
      {{"nullable-integer", "0.1.0"}, read_nullable_integer},
      {{"nullable-boolean", "0.1.0"}, read_nullable_boolean},
      {{"nullable-string-array", "0.1.0"}, read_nullable_string},
  };
  return table;
}

const std::map<std::pair<std::string, std::string>, ColumnReader>& array_columns() {
  static const std::map<std::pair<std::string, std::string>, ColumnReader> table{
      {{"array", "0.2.0"}, read_plain},
      {{"string-array", "0.2.0"}, read_plain},
  };
  return table;
}

// The array named by a 0.7 categorical's `categories` attribute: an absolute path in HDF5 (the
// object reference resolved), a path relative to the data frame in zarr. It must lie inside the
// frame; it is opened by walking down from it.
struct Categories {
  Column values;
  bool ordered = false;
};

Categories legacy_categories(const Group& frame, const std::string& column, const Json& target) {
  if (!target.is_string())
    bad(frame, column, "attribute 'categories' must name the categories, got " + target.dump());
  std::string path = target.get<std::string>();
  if (path.starts_with("/")) {
    const std::string base = frame.location() == "/" ? "/" : frame.location() + "/";
    if (!path.starts_with(base))
      bad(frame, column, "attribute 'categories' points outside the data frame, to " + path);
    path = path.substr(base.size());
  }
  std::vector<std::string> parts;
  for (std::size_t begin = 0; begin <= path.size();) {
    const std::size_t end = std::min(path.find('/', begin), path.size());
    parts.push_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  for (const std::string& p : parts) {
    if (p.empty() || p == "." || p == "..")
      bad(frame, column,
          "attribute 'categories' holds a malformed path '" + target.get<std::string>() + "'");
  }
  std::unique_ptr<Group> owned;
  const Group* at = &frame;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!at->has_group(parts[i]))
      bad(frame, column,
          "attribute 'categories' points to " + target.get<std::string>() +
              ", which does not exist");
    owned = at->group(parts[i]);
    at = owned.get();
  }
  if (!at->has_array(parts.back()))
    bad(frame, column,
        "attribute 'categories' points to " + target.get<std::string>() +
            ", which is not an array");
  return {categories_of(*at, parts.back()),
          ordered_attribute(at->attributes(parts.back()), *at, parts.back())};
}

std::optional<Column> read_column(const Group& frame, const std::string& name, index_t rows,
                                  bool legacy, const ReadOptions& options) {
  std::optional<Column> column;
  if (!frame.has_group(name) && !frame.has_array(name))
    bad(frame, name, "column listed in column-order is missing");
  const Encoding e = encoding_of(frame, name);
  if (legacy && e.empty() && frame.has_array(name) &&
      frame.attributes(name).contains("categories")) {
    Categories cats = legacy_categories(frame, name, frame.attributes(name).at("categories"));
    column =
        categorical(frame, name, read_codes(frame, name), std::move(cats.values), cats.ordered);
  } else if (frame.has_group(name)) {
    const auto& table = group_columns();
    const auto it = table.find({e.type, e.version});
    if (it == table.end()) {
      if (e.empty()) bad(frame, name, "a group without encoding-type cannot be a column");
      if (skip_unknown(frame, name, e, options, "column")) return std::nullopt;
    } else {
      column = it->second(frame, name);
    }
  } else if (e.empty()) {
    column = read_values(frame, name);
  } else {
    const auto& table = array_columns();
    const auto it = table.find({e.type, e.version});
    if (it == table.end()) {
      if (skip_unknown(frame, name, e, options, "column")) return std::nullopt;
    } else {
      column = it->second(frame, name);
    }
  }
  if (column->size() != rows) {
    bad(frame, name,
        "column has " + std::to_string(column->size()) + " values but the index has " +
            std::to_string(rows));
  }
  return column;
}

void plain_name(const Group& parent, const std::string& frame, const std::string& n) {
  if (n.empty() || n.find('/') != std::string::npos || n == "." || n == "..")
    bad(parent, frame, "names a child '" + n + "' that is not a plain name");
}

std::vector<std::string> read_index(const Group& g, const std::string& key) {
  if (!g.has_array(key)) bad(g, key, "the index named by '_index' is missing");
  const ArrayMeta meta = one_dimensional(checked_meta(g, key), g, key);
  if (meta.is_string()) return g.read_strings(key);
  const Column numbers = Column::values(g.read_all(key));
  std::vector<std::string> index;
  for (index_t i = 0; i < numbers.size(); ++i)
    index.push_back(numbers.text_at(i));
  return index;
}

// dataframe 0.1.0 and 0.2.0 differ only in how a categorical column is stored.
DataFrame read_frame_group(const Group& parent, const std::string& name, bool legacy,
                           const ReadOptions& options) {
  const auto g = parent.group(name);
  const Json attrs = g->attributes();
  const std::string index_key = text_attribute(attrs, "_index", parent, name);
  plain_name(parent, name, index_key);
  std::vector<std::string> order;
  if (!attrs.contains("column-order")) bad(parent, name, "missing attribute 'column-order'");
  const Json& co = attrs.at("column-order");
  if (co.is_string()) {
    order.push_back(co.get<std::string>());  // R and Julia writers store one name as a scalar
  } else if (co.is_array()) {
    // h5py stores an empty list as an empty float64 array: [] either way.
    for (const Json& c : co) {
      if (!c.is_string())
        bad(parent, name, "attribute 'column-order' holds a non-string " + c.dump());
      order.push_back(c.get<std::string>());
    }
  } else {
    bad(parent, name, "attribute 'column-order' must be a list of names, got " + co.dump());
  }
  for (const std::string& c : order)
    plain_name(parent, name, c);
  DataFrame frame(read_index(*g, index_key), name);
  if (index_key != "_index") frame.set_index_name(index_key);
  for (const auto& column : order) {
    if (frame.contains(column))
      bad(parent, name, "column '" + column + "' appears twice in column-order");
    if (auto c = read_column(*g, column, frame.size(), legacy, options))
      frame.set(column, std::move(*c));
  }
  return frame;
}

// Before anndata 0.7: one compound dataset; pandas makes its first field the index (named after
// it) and every other field a column. Strings come as bytes and are decoded as UTF-8.
DataFrame read_compound_frame(const Group& parent, const std::string& name) {
  const ArrayMeta meta = checked_meta(parent, name);
  if (meta.shape.size() != 1) bad(parent, name, "a compound table must be one-dimensional");
  const std::vector<Field>& fields = meta.fields;
  const auto read = [&](const Field& f) -> Column {
    if (f.count != 1)
      bad(parent, name,
          "field '" + f.name + "' holds " + std::to_string(f.count) +
              " values per row; a table column holds one");
    FieldValues v = parent.read_field(name, f.name);
    if (!v.values) return Column::strings(std::move(v.strings));
    return Column::values(*v.values);
  };
  if (fields.front().dtype)
    bad(parent, name,
        "the first field ('" + fields.front().name + "') is the index and must hold strings, not " +
            std::string(tessera::name(*fields.front().dtype)));
  const Column index_column = read(fields.front());
  std::vector<std::string> index;
  for (index_t i = 0; i < index_column.size(); ++i)
    index.push_back(index_column.text_at(i));
  DataFrame frame(std::move(index), name);
  frame.set_index_name(fields.front().name);
  for (std::size_t i = 1; i < fields.size(); ++i) {
    if (frame.contains(fields[i].name))
      bad(parent, name, "field '" + fields[i].name + "' appears twice");
    frame.set(fields[i].name, read(fields[i]));
  }
  return frame;
}

}  // namespace

std::optional<DataFrame> read_dataframe(const Group& parent, const std::string& name,
                                        const ReadOptions& options) {
  if (parent.has_array(name)) {
    const ArrayMeta meta = parent.array_meta(name);
    if (meta.is_compound()) return read_compound_frame(parent, name);
    bad(parent, name, "a dataframe must be a group (or, before anndata 0.7, a compound array)");
  }
  if (!parent.has_group(name)) bad(parent, name, "no such dataframe");
  const Encoding e = encoding_of(parent, name);
  if (e.type != "dataframe") {
    if (e.empty()) bad(parent, name, "missing encoding-type (expected 'dataframe')");
    if (skip_unknown(parent, name, e, options, "dataframe")) return std::nullopt;
  }
  if (e.version == "0.1.0") return read_frame_group(parent, name, true, options);
  if (e.version == "0.2.0") return read_frame_group(parent, name, false, options);
  if (skip_unknown(parent, name, e, options, "dataframe")) return std::nullopt;
  return std::nullopt;
}

void write_dataframe(Group& parent, const std::string& name, const DataFrame& frame) {
  const auto g = parent.create_group(name);
  const std::string index_key = frame.index_name().empty() ? "_index" : frame.index_name();
  if (frame.contains("_index")) {
    throw ValueError(frame.name() + ": '_index' is a reserved name for dataframe columns");
  }
  g->set_attribute("encoding-type", "dataframe");
  g->set_attribute("encoding-version", "0.2.0");
  g->set_attribute("_index", index_key);
  g->set_attribute("column-order", Json(frame.columns().keys()));
  const Compression none;
  const auto write_strings = [&](Group& into, const std::string& key,
                                 const std::vector<std::string>& values) {
    into.write_strings(key, values, {static_cast<index_t>(values.size())}, none);
    set_encoding(into, key, false, "string-array", "0.2.0");
  };
  const auto write_values = [&](Group& into, const std::string& key, const Chunk& values) {
    const Chunk row = as_row(values);
    into.create_array(key, ArrayMeta{{row.cols()}, row.dtype(), {vector_chunk(row.cols())}}, none);
    if (row.cols() > 0) into.write(key, Box{{0}, {row.cols()}}, row);
    set_encoding(into, key, false, "array", "0.2.0");
  };
  const auto mask_chunk = [](const Column& column) {
    return Chunk::from_values({column.size(), 1}, column.mask());
  };
  check_writable_name(*g, index_key);
  write_strings(*g, index_key, frame.index());
  for (const auto& [key, column] : frame.columns()) {
    check_writable_name(*g, key);
    switch (column.kind()) {
      case ColumnKind::string:
        write_strings(*g, key, column.string_values());
        break;
      case ColumnKind::numeric:
      case ColumnKind::boolean:
        write_values(*g, key, column.values());
        break;
      case ColumnKind::categorical: {
        auto c = g->create_group(key);
        c->set_attribute("encoding-type", "categorical");
        c->set_attribute("encoding-version", "0.2.0");
        c->set_attribute("ordered", column.ordered());
        write_values(*c, "codes", column.values());
        const Column& cats = column.categories();
        if (cats.kind() == ColumnKind::string) {
          write_strings(*c, "categories", cats.string_values());
        } else {
          write_values(*c, "categories", cats.values());
        }
        break;
      }
      case ColumnKind::nullable_integer:
      case ColumnKind::nullable_boolean: {
        auto c = g->create_group(key);
        const bool boolean = column.kind() == ColumnKind::nullable_boolean;
        c->set_attribute("encoding-type", boolean ? "nullable-boolean" : "nullable-integer");
        c->set_attribute("encoding-version", "0.1.0");
        write_values(*c, "values", column.values());
        write_values(*c, "mask", mask_chunk(column));
        break;
      }
      case ColumnKind::nullable_string: {
        // As anndata writes pandas' StringArray: "" where missing, and the mask.
        auto c = g->create_group(key);
        c->set_attribute("encoding-type", "nullable-string-array");
        c->set_attribute("encoding-version", "0.1.0");
        if (!column.na_value().empty()) c->set_attribute("na-value", column.na_value());
        std::vector<std::string> values = column.string_values();
        for (std::size_t i = 0; i < values.size(); ++i) {
          if (column.mask()[i]) values[i].clear();
        }
        write_strings(*c, "values", values);
        write_values(*c, "mask", mask_chunk(column));
        break;
      }
    }
  }
}

}  // namespace tessera::io::detail
