// uns: nested mappings of scalars, strings, arrays, record arrays, data frames, sparse matrices,
// None, and elements kept as stored (awkward arrays). Elements without encoding attributes
// (anndata before 0.8) are read as the reference reads them: groups are mappings (or sparse
// matrices when they carry h5sparse_format), compound arrays record arrays, and a one-element
// array of HDF5 byte strings a scalar string.
#include <map>
#include <string>

#include "encodings/elements.hpp"
#include "encodings/sources.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

using Reader = std::optional<UnsValue> (*)(const Group& parent, const std::string& name,
                                           const Encoding& e, const ReadOptions& options);

std::optional<UnsValue> read_dict(const Group& parent, const std::string& name, const Encoding&,
                                  const ReadOptions& options) {
  const auto g = parent.group(name);
  if (g->attributes().contains("h5sparse_format")) {
    const std::shared_ptr<const Group> borrowed(&parent, [](const Group*) {});
    if (auto m = read_matrix(borrowed, name, options)) return NdArray::matrix(m->compute());
    return std::nullopt;
  }
  return read_mapping(*g, where(parent, name), options);
}

std::optional<UnsValue> read_frame(const Group& parent, const std::string& name, const Encoding&,
                                   const ReadOptions& options) {
  if (auto frame = read_dataframe(parent, name, options)) return std::move(*frame);
  return std::nullopt;
}

// Small by nature: read whole, in memory.
std::optional<UnsValue> read_sparse(const Group& parent, const std::string& name, const Encoding&,
                                    const ReadOptions& options) {
  const std::shared_ptr<const Group> borrowed(&parent, [](const Group*) {});
  if (auto m = read_matrix(borrowed, name, options)) return NdArray::matrix(m->compute());
  return std::nullopt;
}

std::optional<UnsValue> read_awkward(const Group& parent, const std::string& name,
                                     const Encoding& e, const ReadOptions&) {
  return read_stored(parent, name, e);
}

std::optional<UnsValue> read_null(const Group&, const std::string&, const Encoding&,
                                  const ReadOptions&) {
  return Null{};
}

std::optional<UnsValue> read_records(const Group& parent, const std::string& name, const Encoding&,
                                     const ReadOptions&) {
  const ArrayMeta meta = checked_meta(parent, name);
  if (!meta.is_compound() || meta.shape.size() != 1)
    bad(parent, name, "a rec-array must be a one-dimensional compound array");
  RecArray records;
  records.length = meta.shape[0];
  for (const Field& f : meta.fields) {
    FieldValues v = parent.read_field(name, f.name);
    records.fields.push_back(RecField{f.name, std::move(v.values), std::move(v.strings)});
  }
  return records;
}

std::optional<UnsValue> read_array(const Group& parent, const std::string& name, const Encoding& e,
                                   const ReadOptions& options) {
  const ArrayMeta meta = checked_meta(parent, name);
  if (meta.is_compound()) {
    if (!e.empty()) bad(parent, name, "encoding-type '" + e.type + "' on a compound array");
    return read_records(parent, name, e, options);
  }
  if (meta.is_string()) {
    std::vector<std::string> values = parent.read_strings(name);
    if (meta.shape.empty()) return values.at(0);
    // h5py reads fixed-length ASCII strings as bytes, and anndata before 0.8 returned a
    // one-element array of them as the string itself.
    if (e.empty() && meta.fixed_bytes && meta.shape == std::vector<index_t>{1}) return values.at(0);
    return StringArray{std::move(values), meta.shape};
  }
  return NdArray{parent.read_all(name), meta.shape};
}

// (encoding-type, encoding-version) -> reader, for groups and for arrays. ("", "") is what
// anndata wrote before encodings.
const std::map<std::pair<std::string, std::string>, Reader>& group_readers() {
  static const std::map<std::pair<std::string, std::string>, Reader> table{
      {{"", ""}, read_dict},
      {{"dict", "0.1.0"}, read_dict},
      {{"dataframe", "0.1.0"}, read_frame},
      {{"dataframe", "0.2.0"}, read_frame},
      {{"csr_matrix", "0.1.0"}, read_sparse},
      {{"csc_matrix", "0.1.0"}, read_sparse},
      {{"awkward-array", "0.1.0"}, read_awkward},
      {{"null", "0.1.0"}, read_null},
  };
  return table;
}

const std::map<std::pair<std::string, std::string>, Reader>& array_readers() {
  static const std::map<std::pair<std::string, std::string>, Reader> table{
      {{"", ""}, read_array},
      {{"array", "0.2.0"}, read_array},
      {{"string-array", "0.2.0"}, read_array},
      {{"string", "0.2.0"}, read_array},
      {{"numeric-scalar", "0.2.0"}, read_array},
      {{"rec-array", "0.2.0"}, read_records},
      {{"null", "0.1.0"}, read_null},
  };
  return table;
}

void write_ndarray(Group& g, const std::string& key, const NdArray& v) {
  const Compression none;
  if (v.data.is_sparse()) {
    write_chunk_array(g, key, v.data, none);
    return;
  }
  if (v.shape.size() > 2) bad(g, key, "arrays of more than two dimensions cannot be written");
  std::vector<index_t> chunks = v.shape;
  for (auto& c : chunks)
    c = std::max<index_t>(c, 1);
  g.create_array(key, ArrayMeta{v.shape, v.data.dtype(), chunks}, none);
  Box box{std::vector<index_t>(v.shape.size(), 0), v.shape};
  if (v.data.shape().size() > 0) g.write(key, box, v.data);
}

void set_attributes(Group& parent, const std::string& name, bool is_group,
                    const std::string& text) {
  const Json attrs = Json::parse(text, nullptr, false);
  if (!attrs.is_object())
    throw InternalError(where(parent, name) + ": stored attributes are not an object");
  for (const auto& [k, v] : attrs.items()) {
    if (is_group) {
      parent.group(name)->set_attribute(k, v);
    } else {
      parent.set_attribute(k, v, name);
    }
  }
}

}  // namespace

std::optional<UnsValue> read_uns_value(const Group& parent, const std::string& name,
                                       const ReadOptions& options) {
  const Encoding e = encoding_of(parent, name);
  const bool group = parent.has_group(name);
  const auto& table = group ? group_readers() : array_readers();
  const auto it = table.find({e.type, e.version});
  if (it == table.end()) {
    if (skip_unknown(parent, name, e, options, "uns value")) return std::nullopt;
    return std::nullopt;
  }
  return it->second(parent, name, e, options);
}

Uns read_mapping(const Group& group, const std::string& what, const ReadOptions& options) {
  Uns uns(what);
  for (const auto& key : group.children()) {
    if (auto value = read_uns_value(group, key, options)) uns.set(key, std::move(*value));
  }
  return uns;
}

StoredElement read_stored(const Group& parent, const std::string& name, const Encoding& e) {
  StoredElement element;
  element.encoding = e.text();
  if (parent.has_group(name)) {
    const auto g = parent.group(name);
    const Json attrs = g->attributes();
    element.attributes = attrs.dump();
    element.is_group = true;
    if (attrs.contains("length")) {
      const Json& length = attrs.at("length");
      if (!length.is_number_integer() || length.get<std::int64_t>() < 0)
        bad(parent, name,
            "attribute 'length' must be a non-negative integer, got " + length.dump());
      element.length = length.get<std::int64_t>();
    }
    for (const std::string& child : g->children())
      element.children.emplace_back(child, read_stored(*g, child, Encoding{}));
    return element;
  }
  const ArrayMeta meta = checked_meta(parent, name);
  element.attributes = parent.attributes(name).dump();
  if (meta.is_compound()) bad(parent, name, "a compound array inside a stored element");
  if (meta.is_string()) {
    element.strings = StringArray{parent.read_strings(name), meta.shape};
  } else {
    element.values = NdArray{parent.read_all(name), meta.shape};
  }
  return element;
}

void write_stored(Group& parent, const std::string& name, const StoredElement& element) {
  check_writable_name(parent, name);
  if (element.is_group) {
    auto g = parent.create_group(name);
    for (const auto& [child, value] : element.children)
      write_stored(*g, child, value);
    set_attributes(parent, name, true, element.attributes);
    return;
  }
  if (element.strings) {
    parent.write_strings(name, element.strings->values, element.strings->shape, Compression{});
  } else if (element.values) {
    write_ndarray(parent, name, *element.values);
  } else {
    throw InternalError(where(parent, name) + ": a stored element without values");
  }
  set_attributes(parent, name, false, element.attributes);
}

void write_uns(Group& parent, const std::string& name, const Uns& uns) {
  auto g = parent.create_group(name);
  g->set_attribute("encoding-type", "dict");
  g->set_attribute("encoding-version", "0.1.0");
  const Compression none;
  for (const auto& [key, value] : uns) {
    check_writable_name(*g, key);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            g->write_strings(key, {v}, {}, none);
            set_encoding(*g, key, false, "string", "0.2.0");
          } else if constexpr (std::is_same_v<T, StringArray>) {
            g->write_strings(key, v.values, v.shape, none);
            set_encoding(*g, key, false, v.shape.empty() ? "string" : "string-array", "0.2.0");
          } else if constexpr (std::is_same_v<T, NdArray>) {
            write_ndarray(*g, key, v);
            if (!v.data.is_sparse())
              set_encoding(*g, key, false, v.is_scalar() ? "numeric-scalar" : "array", "0.2.0");
          } else if constexpr (std::is_same_v<T, DataFrame>) {
            write_dataframe(*g, key, v);
          } else if constexpr (std::is_same_v<T, RecArray>) {
            std::vector<FieldValues> fields;
            for (const RecField& f : v.fields)
              fields.push_back(FieldValues{f.name, f.values, f.strings});
            g->write_compound(key, fields, v.length);
            set_encoding(*g, key, false, "rec-array", "0.2.0");
          } else if constexpr (std::is_same_v<T, Null>) {
            g->create_null(key);
            set_encoding(*g, key, false, "null", "0.1.0");
          } else if constexpr (std::is_same_v<T, StoredElement>) {
            write_stored(*g, key, v);
          } else {
            write_uns(*g, key, *v);
          }
        },
        value.get());
  }
}

}  // namespace tessera::io::detail
