#include "detail/elements.hpp"

#include "detail/sources.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "tessera/core/chunk_source.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

std::string text_attribute(const Json& attrs, const char* key, const Group& parent,
                           const std::string& name) {
  if (!attrs.contains(key)) bad(parent, name, std::string("missing attribute '") + key + "'");
  const Json& v = attrs.at(key);
  if (!v.is_string())
    bad(parent, name, std::string("attribute '") + key + "' must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::vector<index_t> one_dim_chunks(index_t n) {
  return {vector_chunk(n)};
}

void check_version(const Group& parent, const std::string& name, const Encoding& e,
                   const char* expected) {
  if (e.version != expected) {
    bad(parent, name,
        "encoding-type '" + e.type + "' with unsupported encoding-version '" + e.version +
            "' (this reader knows " + expected + ")");
  }
}

// A Shape from a JSON `shape` attribute: two non-negative integers.
Shape shape_attribute(const Json& attrs, const Group& parent, const std::string& name) {
  if (!attrs.contains("shape")) bad(parent, name, "missing attribute 'shape'");
  const Json& s = attrs.at("shape");
  if (!s.is_array() || s.size() != 2 || !s[0].is_number_integer() || !s[1].is_number_integer()) {
    bad(parent, name, "attribute 'shape' must be two integers, got " + s.dump());
  }
  const auto r = s[0].get<std::int64_t>(), c = s[1].get<std::int64_t>();
  if (r < 0 || c < 0) bad(parent, name, "attribute 'shape' must not be negative, got " + s.dump());
  return {r, c};
}

Column read_column(const Group& frame, const std::string& name, index_t rows) {
  Column column;
  const Encoding e = encoding_of(frame, name);
  if (frame.has_group(name)) {
    const auto g = frame.group(name);
    if (e.type == "categorical") {
      check_version(frame, name, e, "0.2.0");
      const Json attrs = g->attributes();
      bool ordered = false;
      if (attrs.contains("ordered")) {
        const Json& o = attrs.at("ordered");
        if (!o.is_boolean() && !o.is_number_integer())
          bad(frame, name, "attribute 'ordered' must be a bool");
        ordered = o.is_boolean() ? o.get<bool>() : o.get<int>() != 0;
      }
      const ArrayMeta codes_meta = checked_meta(*g, "codes");
      if (codes_meta.is_string() || codes_meta.shape.size() != 1 ||
          !is_signed_int(*codes_meta.dtype)) {
        bad(*g, "codes", "categorical codes must be a one-dimensional signed integer array");
      }
      const ArrayMeta cat_meta = checked_meta(*g, "categories");
      if (cat_meta.shape.size() != 1) bad(*g, "categories", "categories must be one-dimensional");
      Column categories = cat_meta.is_string() ? Column::strings(g->read_strings("categories"))
                                               : Column::values(g->read_all("categories"));
      try {
        column =
            Column::categorical_from_codes(g->read_all("codes"), std::move(categories), ordered);
      } catch (const Error& err) {
        bad(frame, name, err.what());
      }
    } else if (e.type == "nullable-integer" || e.type == "nullable-boolean") {
      check_version(frame, name, e, "0.1.0");
      (void)checked_meta(*g, "values");
      if (g->has_array("mask")) (void)checked_meta(*g, "mask");
      const Chunk values = g->read_all("values");
      std::vector<bool> mask(static_cast<std::size_t>(values.shape().size()), false);
      if (g->has_array("mask")) {
        const Chunk m = g->read_all("mask").astype(DType::boolean);
        if (m.shape().size() != values.shape().size())
          bad(frame, name, "mask and values differ in length");
        for (index_t i = 0; i < m.cols(); ++i)
          mask[i] = m.value_at(0, i) != 0;
      }
      const bool boolean = e.type == "nullable-boolean";
      if (boolean != (values.dtype() == DType::boolean) ||
          (!boolean && !is_integer(values.dtype()))) {
        bad(frame, name,
            e.type + " values have dtype " + std::string(tessera::name(values.dtype())));
      }
      column = Column::nullable(values, std::move(mask));
    } else {
      bad(frame, name,
          e.type.empty() ? "a group without encoding-type cannot be a column"
                         : "unknown column encoding-type '" + e.type + "'");
    }
  } else if (frame.has_array(name)) {
    const ArrayMeta meta = checked_meta(frame, name);
    if (meta.shape.size() != 1) bad(frame, name, "a column must be one-dimensional");
    if (!e.type.empty() && e.type != "array" && e.type != "string-array") {
      bad(frame, name, "unknown column encoding-type '" + e.type + "'");
    }
    column = meta.is_string() ? Column::strings(frame.read_strings(name))
                              : Column::values(frame.read_all(name));
  } else {
    bad(frame, name, "column listed in column-order is missing");
  }
  if (column.size() != rows) {
    bad(frame, name,
        "column has " + std::to_string(column.size()) + " values but the index has " +
            std::to_string(rows));
  }
  return column;
}

Array read_sparse(const std::shared_ptr<const Group>& parent, const std::string& name,
                  const Encoding& e, const ReadOptions& options) {
  check_version(*parent, name, e, "0.1.0");
  std::shared_ptr<const Group> g = parent->group(name);
  const Shape shape = shape_attribute(g->attributes(), *parent, name);
  const bool csc = e.type == "csc_matrix";
  const index_t major = csc ? shape.cols : shape.rows, minor = csc ? shape.rows : shape.cols;
  // The file's compressed axis read by row blocks: the matrix itself for CSR; for CSC the CSR
  // matrix of its transpose, transposed lazily (column blocks of the element), which the writers
  // recognize and store as csc_matrix again.
  const Array rows = lazy_csr(g, Shape{major, minor}, std::nullopt, options, csc ? " csc" : "", {},
                              csc ? "read-csc" : "read-csr");
  return csc ? rows.transpose() : rows;
}

}  // namespace

Encoding encoding_of(const Group& parent, const std::string& name) {
  Json attrs;
  if (parent.has_group(name)) {
    attrs = parent.group(name)->attributes();
  } else if (parent.has_array(name)) {
    attrs = parent.attributes(name);
  } else {
    bad(parent, name, "no such element");
  }
  Encoding e;
  if (attrs.contains("encoding-type"))
    e.type = text_attribute(attrs, "encoding-type", parent, name);
  if (attrs.contains("encoding-version"))
    e.version = text_attribute(attrs, "encoding-version", parent, name);
  return e;
}

void set_encoding(Group& parent, const std::string& name, bool is_group, const std::string& type,
                  const std::string& version) {
  if (is_group) {
    auto g = parent.group(name);
    g->set_attribute("encoding-type", type);
    g->set_attribute("encoding-version", version);
  } else {
    parent.set_attribute("encoding-type", type, name);
    parent.set_attribute("encoding-version", version, name);
  }
}

void check_writable_name(const Group& parent, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    throw ValueError(where(parent, name) + ": cannot write an element named '" + name +
                     "' (names must not be empty, '.' or '..', nor hold '/' or NUL)");
  }
}

Chunk as_row(const Chunk& values) {
  const Chunk dense = values.to_dense();
  const index_t n = dense.shape().size();
  if (dense.rows() == 1 && dense.is_contiguous()) return dense;
  Chunk c = dense.rows() == n && dense.ld() == 1 ? dense : dense.deep_copy();
  return Chunk::dense_view(c.dtype(), {1, n}, c.buffer(), 0, n).deep_copy();
}

void write_chunk_array(Group& parent, const std::string& name, const Chunk& data,
                       const Compression& compression) {
  if (data.is_sparse()) {
    create_csr(parent, name, data.shape(), data.dtype(), data.nnz(), compression);
    auto g = parent.group(name);
    const DType index_dtype = csr_index_dtype(data.shape(), data.nnz());
    const auto p = data.indptr();
    std::vector<index_t> indptr(p.begin(), p.end());
    for (auto& v : indptr)
      v -= p.front();
    const index_t nnz = data.nnz();
    if (nnz > 0) {
      std::vector<index_t> indices(data.indices() + p.front(), data.indices() + p.back());
      g->write("indices", Box{{0}, {nnz}},
               Chunk::from_values<index_t>({1, nnz}, std::move(indices)).astype(index_dtype));
      const Chunk values = data.block(0, data.rows(), 0, data.cols()).deep_copy();
      auto buf = values.buffer();
      g->write("data", Box{{0}, {nnz}}, Chunk::dense_view(data.dtype(), {1, nnz}, buf, 0, nnz));
    }
    const auto n = static_cast<index_t>(indptr.size());
    g->write("indptr", Box{{0}, {n}},
             Chunk::from_values<index_t>({1, n}, std::move(indptr)).astype(index_dtype));
    return;
  }
  create_dense(parent, name, data.shape(), data.dtype(), data.shape(), compression);
  if (data.shape().size() > 0) parent.write(name, Box{{0, 0}, {data.rows(), data.cols()}}, data);
}

DType csr_index_dtype(Shape shape, index_t nnz) {
  constexpr index_t kMax = std::numeric_limits<std::int32_t>::max();
  return nnz < kMax && shape.cols < kMax && shape.rows < kMax ? DType::int32 : DType::int64;
}

index_t vector_chunk(index_t n, index_t limit) {
  return std::clamp<index_t>(n, 1, std::max<index_t>(limit, 1));
}

void create_csr(Group& parent, const std::string& name, Shape shape, DType dtype, index_t nnz,
                const Compression& compression, bool csc, index_t chunk) {
  auto g = parent.create_group(name);
  g->set_attribute("encoding-type", csc ? "csc_matrix" : "csr_matrix");
  g->set_attribute("encoding-version", "0.1.0");
  g->set_attribute("shape", Json::array({shape.rows, shape.cols}));
  const DType index_dtype = csr_index_dtype(shape, nnz);
  const index_t pointers = (csc ? shape.cols : shape.rows) + 1;
  g->create_array("data", ArrayMeta{{nnz}, dtype, {vector_chunk(nnz, chunk)}}, compression);
  g->create_array("indices", ArrayMeta{{nnz}, index_dtype, {vector_chunk(nnz, chunk)}},
                  compression);
  g->create_array("indptr", ArrayMeta{{pointers}, index_dtype, {vector_chunk(pointers, chunk)}},
                  compression);
}

void create_dense(Group& parent, const std::string& name, Shape shape, DType dtype, Shape chunks,
                  const Compression& compression) {
  ArrayMeta meta{{shape.rows, shape.cols},
                 dtype,
                 {std::max<index_t>(chunks.rows, 1), std::max<index_t>(chunks.cols, 1)}};
  parent.create_array(name, meta, compression);
  set_encoding(parent, name, false, "array", "0.2.0");
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
    into.create_array(key, ArrayMeta{{row.cols()}, row.dtype(), one_dim_chunks(row.cols())}, none);
    if (row.cols() > 0) into.write(key, Box{{0}, {row.cols()}}, row);
    set_encoding(into, key, false, "array", "0.2.0");
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
        write_values(*c, "mask", Chunk::from_values({column.size(), 1}, column.mask()));
        break;
      }
    }
  }
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
            if (v.data.is_sparse()) {
              write_chunk_array(*g, key, v.data, none);
              return;
            }
            std::vector<index_t> chunks = v.shape;
            for (auto& c : chunks)
              c = std::max<index_t>(c, 1);
            g->create_array(key, ArrayMeta{v.shape, v.data.dtype(), chunks}, none);
            Box box{std::vector<index_t>(v.shape.size(), 0), v.shape};
            if (v.data.shape().size() > 0) g->write(key, box, v.data);
            set_encoding(*g, key, false, v.is_scalar() ? "numeric-scalar" : "array", "0.2.0");
          } else if constexpr (std::is_same_v<T, DataFrame>) {
            write_dataframe(*g, key, v);
          } else {
            write_uns(*g, key, *v);
          }
        },
        value.get());
  }
}

DataFrame read_dataframe(const Group& parent, const std::string& name) {
  if (!parent.has_group(name)) bad(parent, name, "a dataframe must be a group");
  const Encoding e = encoding_of(parent, name);
  if (e.type != "dataframe") {
    bad(parent, name,
        e.type.empty() ? "missing encoding-type (expected 'dataframe')"
                       : "encoding-type '" + e.type + "' where a dataframe was expected");
  }
  if (e.version == "0.1.0") {
    bad(parent, name,
        "dataframe encoding-version 0.1.0 (anndata before 0.8) is not supported; re-save it with "
        "anndata 0.8 or later");
  }
  check_version(parent, name, e, "0.2.0");
  const auto g = parent.group(name);
  const Json attrs = g->attributes();
  const std::string index_key = text_attribute(attrs, "_index", parent, name);
  const auto child_name = [&](const std::string& n) {
    if (n.empty() || n.find('/') != std::string::npos || n == "." || n == "..") {
      bad(parent, name, "names a child '" + n + "' that is not a plain name");
    }
  };
  child_name(index_key);
  std::vector<std::string> order;
  if (attrs.contains("column-order")) {
    const Json& co = attrs.at("column-order");
    if (!co.is_array())
      bad(parent, name, "attribute 'column-order' must be a list of names, got " + co.dump());
    for (const Json& c : co) {
      if (!c.is_string())
        bad(parent, name, "attribute 'column-order' holds a non-string " + c.dump());
      order.push_back(c.get<std::string>());
      child_name(order.back());
    }
  } else {
    bad(parent, name, "missing attribute 'column-order'");
  }
  if (!g->has_array(index_key)) bad(*g, index_key, "the index named by '_index' is missing");
  const ArrayMeta index_meta = checked_meta(*g, index_key);
  if (index_meta.shape.size() != 1) bad(*g, index_key, "the index must be one-dimensional");
  std::vector<std::string> index;
  if (index_meta.is_string()) {
    index = g->read_strings(index_key);
  } else {
    const Column numbers = Column::values(g->read_all(index_key));
    for (index_t i = 0; i < numbers.size(); ++i)
      index.push_back(numbers.text_at(i));
  }
  DataFrame frame(std::move(index), name);
  if (index_key != "_index") frame.set_index_name(index_key);
  for (const auto& column : order) {
    if (frame.contains(column))
      bad(parent, name, "column '" + column + "' appears twice in column-order");
    frame.set(column, read_column(*g, column, frame.size()));
  }
  return frame;
}

UnsValue read_uns_value(const Group& parent, const std::string& name) {
  const Encoding e = encoding_of(parent, name);
  if (parent.has_group(name)) {
    if (e.type.empty() || e.type == "dict") {
      if (!e.type.empty()) check_version(parent, name, e, "0.1.0");
      return read_mapping(*parent.group(name), where(parent, name));
    }
    if (e.type == "dataframe") return read_dataframe(parent, name);
    if (e.type == "csr_matrix" || e.type == "csc_matrix") {
      // Small by nature: read whole, in memory. The group is borrowed for the duration only.
      const std::shared_ptr<const Group> borrowed(&parent, [](const Group*) {});
      return NdArray::matrix(read_sparse(borrowed, name, e, ReadOptions{}).compute());
    }
    bad(parent, name, "unknown encoding-type '" + e.type + "'");
  }
  const ArrayMeta meta = checked_meta(parent, name);
  if (meta.shape.size() > 2)
    bad(parent, name, "arrays of more than two dimensions are not supported");
  if (!e.type.empty() && e.type != "array" && e.type != "string-array" && e.type != "string" &&
      e.type != "numeric-scalar") {
    bad(parent, name, "unknown encoding-type '" + e.type + "'");
  }
  if (!e.type.empty()) check_version(parent, name, e, "0.2.0");
  if (meta.is_string()) {
    std::vector<std::string> values = parent.read_strings(name);
    if (meta.shape.empty()) return values.at(0);
    return StringArray{std::move(values), meta.shape};
  }
  return NdArray{parent.read_all(name), meta.shape};
}

Uns read_mapping(const Group& group, const std::string& what) {
  Uns uns(what);
  for (const auto& key : group.children())
    uns.set(key, read_uns_value(group, key));
  return uns;
}

Array read_matrix(const std::shared_ptr<const Group>& parent, const std::string& name,
                  const ReadOptions& options) {
  const Encoding e = encoding_of(*parent, name);
  if (parent->has_group(name)) {
    if (e.type == "csr_matrix" || e.type == "csc_matrix")
      return read_sparse(parent, name, e, options);
    bad(*parent, name,
        e.type.empty() ? "a group without encoding-type where a matrix was expected"
                       : "unknown matrix encoding-type '" + e.type + "'");
  }
  if (!e.type.empty() && e.type != "array")
    bad(*parent, name, "unknown matrix encoding-type '" + e.type + "'");
  if (!e.type.empty()) check_version(*parent, name, e, "0.2.0");
  return lazy_dense(parent, name, options);
}

}  // namespace tessera::io::detail
