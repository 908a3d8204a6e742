// Matrices and what the aligned mappings (obsm, varm, layers, obsp, varp) hold:
//   array 0.2.0 (dense), csr_matrix / csc_matrix 0.1.0 (any integer width of indices),
//   pre-0.8 sparse groups with h5sparse_format / h5sparse_shape, `null` (absent),
//   data frames (obsm/varm, anndata >= 0.7) and awkward arrays (kept as stored).
// Matrices are read lazily: chunks come from the file when computed, on the rank that owns them.
#include <algorithm>
#include <limits>
#include <map>
#include <string>

#include "encodings/elements.hpp"
#include "encodings/sources.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

using MatrixReader = std::optional<Array> (*)(const std::shared_ptr<const Group>& parent,
                                              const std::string& name, const Encoding& e,
                                              const ReadOptions& options);

// CSR as stored; CSC as the CSR matrix of its transpose, read by row blocks and transposed
// lazily (column blocks of the element), which the writers recognize and store as CSC again.
Array sparse_group(const std::shared_ptr<const Group>& parent, const std::string& name, bool csc,
                   Shape shape, const ReadOptions& options) {
  std::shared_ptr<const Group> g = parent->group(name);
  const index_t major = csc ? shape.cols : shape.rows, minor = csc ? shape.rows : shape.cols;
  const Array rows = lazy_csr(g, Shape{major, minor}, std::nullopt, options, csc ? " csc" : "", {},
                              csc ? "read-csc" : "read-csr");
  return csc ? rows.transpose() : rows;
}

std::optional<Array> read_sparse(const std::shared_ptr<const Group>& parent,
                                 const std::string& name, const Encoding& e,
                                 const ReadOptions& options) {
  const Shape shape = shape_attribute(parent->group(name)->attributes(), "shape", *parent, name);
  return sparse_group(parent, name, e.type == "csc_matrix", shape, options);
}

// Before anndata 0.7 (h5sparse): attributes h5sparse_format "csr"/"csc" and h5sparse_shape.
std::optional<Array> read_h5sparse(const std::shared_ptr<const Group>& parent,
                                   const std::string& name, const Encoding& e,
                                   const ReadOptions& options) {
  const Json attrs = parent->group(name)->attributes();
  if (!attrs.contains("h5sparse_format")) {
    if (skip_unknown(*parent, name, e, options, "matrix")) return std::nullopt;
  }
  const std::string format = text_attribute(attrs, "h5sparse_format", *parent, name);
  if (format != "csr" && format != "csc")
    bad(*parent, name, "attribute 'h5sparse_format' must be 'csr' or 'csc', got '" + format + "'");
  const Shape shape = shape_attribute(attrs, "h5sparse_shape", *parent, name);
  return sparse_group(parent, name, format == "csc", shape, options);
}

std::optional<Array> read_dense(const std::shared_ptr<const Group>& parent, const std::string& name,
                                const Encoding&, const ReadOptions& options) {
  return lazy_dense(parent, name, options);
}

std::optional<Array> read_absent(const std::shared_ptr<const Group>&, const std::string&,
                                 const Encoding&, const ReadOptions&) {
  return std::nullopt;
}

const std::map<std::pair<std::string, std::string>, MatrixReader>& group_matrices() {
  static const std::map<std::pair<std::string, std::string>, MatrixReader> table{
      {{"csr_matrix", "0.1.0"}, read_sparse},
      {{"csc_matrix", "0.1.0"}, read_sparse},
      {{"", ""}, read_h5sparse},
      {{"null", "0.1.0"}, read_absent},
  };
  return table;
}

const std::map<std::pair<std::string, std::string>, MatrixReader>& array_matrices() {
  static const std::map<std::pair<std::string, std::string>, MatrixReader> table{
      {{"array", "0.2.0"}, read_dense},
      {{"", ""}, read_dense},
      {{"null", "0.1.0"}, read_absent},
  };
  return table;
}

}  // namespace

std::optional<Array> read_matrix(const std::shared_ptr<const Group>& parent,
                                 const std::string& name, const ReadOptions& options) {
  const Encoding e = encoding_of(*parent, name);
  const bool group = parent->has_group(name);
  const auto& table = group ? group_matrices() : array_matrices();
  const auto it = table.find({e.type, e.version});
  if (it == table.end()) {
    skip_unknown(*parent, name, e, options, "matrix");
    return std::nullopt;
  }
  return it->second(parent, name, e, options);
}

AlignedValue read_aligned(const std::shared_ptr<const Group>& parent, const std::string& name,
                          const ReadOptions& options) {
  const Encoding e = encoding_of(*parent, name);
  if (e.type == "dataframe") {
    if (auto frame = read_dataframe(*parent, name, options)) return std::move(*frame);
    return {};
  }
  if (e.type == "awkward-array") {
    if (e.version != "0.1.0" && skip_unknown(*parent, name, e, options, "aligned element"))
      return {};
    return read_stored(*parent, name, e);
  }
  if (auto m = read_matrix(parent, name, options)) return std::move(*m);
  return {};
}

void write_aligned_extras(Group& group, const AlignedArrays& arrays) {
  for (const auto& [key, frame] : arrays.frames()) {
    check_writable_name(group, key);
    write_dataframe(group, key, frame);
  }
  for (const auto& [key, element] : arrays.stored())
    write_stored(group, key, element);
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
                  const Compression& compression, Shape shards) {
  ArrayMeta meta{{shape.rows, shape.cols},
                 dtype,
                 {std::max<index_t>(chunks.rows, 1), std::max<index_t>(chunks.cols, 1)}};
  if (shards.rows > 0 && shards.cols > 0) meta.shards = {shards.rows, shards.cols};
  parent.create_array(name, meta, compression);
  set_encoding(parent, name, false, "array", "0.2.0");
}

}  // namespace tessera::io::detail
