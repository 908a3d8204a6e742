#include "encodings/sources.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tessera/core/chunk_source.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail {
namespace {

// Limits on the matrices a file may declare (2^60 bytes, 2^24 chunk-rows: far beyond any real
// data, far below what would overflow or exhaust memory in the chunk grid).
constexpr double kMaxMatrixBytes = 1152921504606846976.0;  // 2^60
constexpr index_t kMaxChunksPerAxis = index_t{1} << 24;

// A dense matrix read box by box.
class DenseSource final : public ChunkSource {
 public:
  DenseSource(std::shared_ptr<const Group> parent, std::string name, DType dtype,
              std::string identity)
      : parent_(std::move(parent)),
        name_(std::move(name)),
        dtype_(dtype),
        identity_(std::move(identity)) {}
  [[nodiscard]] Chunk read(index_t i, index_t j, const ChunkGrid& grid) const override {
    const Shape s = grid.chunk_shape(i, j);
    Box box{{grid.chunk_offset(0, i), grid.chunk_offset(1, j)}, {s.rows, s.cols}};
    Chunk c = parent_->read(name_, box);
    return c.dtype() == dtype_ ? c : c.astype(dtype_);
  }
  [[nodiscard]] std::string identity() const override { return identity_; }

 private:
  std::shared_ptr<const Group> parent_;
  std::string name_;
  DType dtype_;
  std::string identity_;
};

// A CSR matrix read by row blocks: indptr is read once; each chunk reads its slice of indices
// and data, validated (indices in range) before use.
class CsrSource final : public ChunkSource {
 public:
  CsrSource(std::shared_ptr<const Group> group, CsrArrays names,
            std::shared_ptr<const std::vector<index_t>> indptr, index_t cols, DType dtype,
            std::string identity)
      : group_(std::move(group)),
        names_(std::move(names)),
        indptr_(std::move(indptr)),
        cols_(cols),
        dtype_(dtype),
        identity_(std::move(identity)) {}
  [[nodiscard]] Chunk read(index_t i, index_t /*j*/, const ChunkGrid& grid) const override {
    const index_t r0 = grid.chunk_offset(0, i), r1 = grid.chunk_offset(0, i + 1);
    const index_t p0 = (*indptr_)[r0], p1 = (*indptr_)[r1];
    std::vector<index_t> indptr(indptr_->begin() + r0, indptr_->begin() + r1 + 1);
    for (auto& v : indptr)
      v -= p0;
    std::vector<index_t> indices;
    std::shared_ptr<Buffer> values =
        Buffer::allocate(static_cast<std::size_t>(p1 - p0) * itemsize(dtype_));
    if (p1 > p0) {
      const Box box{{p0}, {p1 - p0}};
      const Chunk idx = group_->read(names_.indices, box).astype(DType::int64);
      indices.assign(idx.row<index_t>(0), idx.row<index_t>(0) + (p1 - p0));
      Chunk data = group_->read(names_.data, box);
      if (data.dtype() != dtype_) data = data.astype(dtype_);
      std::memcpy(values->data(), data.raw_row(0), values->size());
    }
    try {
      return Chunk::csr(dtype_, {r1 - r0, cols_}, std::move(indptr), std::move(indices),
                        std::move(values));
    } catch (const Error& e) {
      throw FormatError(group_->path() + ": rows " + std::to_string(r0) + " to " +
                        std::to_string(r1) + ": " + e.what());
    }
  }
  [[nodiscard]] std::string identity() const override { return identity_; }

 private:
  std::shared_ptr<const Group> group_;
  CsrArrays names_;
  std::shared_ptr<const std::vector<index_t>> indptr_;
  index_t cols_;
  DType dtype_;
  std::string identity_;
};

}  // namespace

std::string where(const Group& parent, const std::string& name) {
  const std::string base = parent.path();
  return base + (!base.empty() && base.back() == '/' ? "" : "/") + name;
}

void bad(const Group& parent, const std::string& name, const std::string& problem) {
  throw FormatError(where(parent, name) + ": " + problem);
}

ArrayMeta checked_meta(const Group& parent, const std::string& name) {
  ArrayMeta meta = parent.array_meta(name);
  index_t n = 1;
  for (index_t s : meta.shape) {
    if (s < 0 || (s > 0 && n > kMaxWholeRead / s)) bad(parent, name, "claims an impossible size");
    n *= s;
  }
  if (n > kMaxWholeRead) {
    bad(parent, name,
        "claims " + std::to_string(n) + " elements, more than an element read whole may hold (" +
            std::to_string(kMaxWholeRead) + ")");
  }
  return meta;
}

std::vector<index_t> read_indices(const Group& g, const std::string& name) {
  const ArrayMeta meta = checked_meta(g, name);
  if (meta.is_string() || meta.is_compound() || meta.shape.size() != 1 ||
      !is_integer(*meta.dtype)) {
    bad(g, name, "must be a one-dimensional integer array");
  }
  const Chunk c = g.read_all(name).astype(DType::int64);
  const index_t* p = c.row<index_t>(0);
  return {p, p + meta.shape[0]};
}

index_t rows_per_chunk(index_t rows, double bytes_per_row, index_t target) {
  if (rows <= 0) return 1;
  const auto per = static_cast<index_t>(static_cast<double>(target) / std::max(bytes_per_row, 1.0));
  return std::clamp<index_t>(per, 1, rows);
}

Array lazy_csr(const std::shared_ptr<const Group>& g, Shape stored, std::optional<DType> dtype,
               const ReadOptions& options, const std::string& label, const CsrArrays& names,
               const std::string& op) {
  const index_t major = stored.rows, minor = stored.cols;
  auto indptr = std::make_shared<std::vector<index_t>>(read_indices(*g, names.indptr));
  const ArrayMeta data_meta = g->array_meta(names.data);
  const ArrayMeta indices_meta = g->array_meta(names.indices);
  if (data_meta.is_string() || data_meta.is_compound() || data_meta.shape.size() != 1)
    bad(*g, names.data, "must be a one-dimensional numeric array");
  if (indices_meta.is_string() || indices_meta.is_compound() || indices_meta.shape.size() != 1 ||
      !is_integer(*indices_meta.dtype))
    bad(*g, names.indices, "must be a one-dimensional integer array");
  if (static_cast<index_t>(indptr->size()) != major + 1) {
    bad(*g, names.indptr,
        "has " + std::to_string(indptr->size()) + " entries but " + std::to_string(major) +
            " rows need " + std::to_string(major + 1));
  }
  if (indptr->front() != 0)
    bad(*g, names.indptr, "must start at 0, starts at " + std::to_string(indptr->front()));
  for (std::size_t n = 1; n < indptr->size(); ++n) {
    if ((*indptr)[n] < (*indptr)[n - 1])
      bad(*g, names.indptr, "decreases at position " + std::to_string(n));
  }
  const index_t nnz = indptr->back();
  if (nnz != data_meta.shape[0] || nnz != indices_meta.shape[0]) {
    bad(*g, names.indptr,
        "ends at " + std::to_string(nnz) + " but " + names.data + " has " +
            std::to_string(data_meta.shape[0]) + " and " + names.indices + " " +
            std::to_string(indices_meta.shape[0]) + " entries");
  }
  const DType type = dtype.value_or(*data_meta.dtype);
  const double bytes_per_row = major == 0 ? 1.0
                                          : static_cast<double>(nnz) *
                                                static_cast<double>(itemsize(type) + 8) /
                                                static_cast<double>(major);
  const index_t step = rows_per_chunk(major, bytes_per_row, options.chunk_bytes);
  const ChunkGrid grid = ChunkGrid::regular(stored, step, std::max<index_t>(minor, 1));
  auto source = std::make_shared<CsrSource>(
      g, names, indptr, minor, type,
      g->path() + label + " nnz=" + std::to_string(nnz) + " " + to_string(stored));
  return from_source(source, grid, type, Layout::csr, op);
}

Array lazy_dense(const std::shared_ptr<const Group>& parent, const std::string& name,
                 const ReadOptions& options) {
  const ArrayMeta meta = parent->array_meta(name);
  if (meta.is_string() || meta.is_compound()) bad(*parent, name, "a matrix must be numeric");
  if (meta.shape.size() != 2) {
    bad(*parent, name,
        "a matrix must be two-dimensional, got " + std::to_string(meta.shape.size()) +
            " dimensions");
  }
  const Shape shape{meta.shape[0], meta.shape[1]};
  const DType dtype = *meta.dtype;
  // The file's own column chunks when they are narrower than the array (as dask's from_zarr
  // takes the store's chunks): each task decodes whole file chunks, and an array written from
  // 4096 x 4096 chunks reads back in the same grid, so its reductions combine in the same order
  // (bitwise the same sums). Rows: chunks near the byte target, a multiple of the file's chunk
  // rows when it has some; one chunk-row when that is below the target and at most 4 times it (a
  // smaller block would decode, and read, each file chunk more than once).
  // Files cut into more than 1024 chunks across are read in whole rows still (a grid that wide
  // would cost more in tasks than it saves in decoding).
  const bool narrow = meta.chunks.size() == 2 && meta.chunks[1] > 0 &&
                      meta.chunks[1] < shape.cols && shape.cols / meta.chunks[1] < 1024;
  const index_t cols = narrow ? meta.chunks[1] : shape.cols;
  const double row_bytes = static_cast<double>(cols) * static_cast<double>(itemsize(dtype));
  index_t rows = rows_per_chunk(shape.rows, row_bytes, options.chunk_bytes);
  if (meta.chunks.size() == 2 && meta.chunks[0] > 0 && rows >= meta.chunks[0]) {
    rows -= rows % meta.chunks[0];
  } else if (meta.chunks.size() == 2 && meta.chunks[0] > 0 &&
             static_cast<double>(meta.chunks[0]) * row_bytes <=
                 4.0 * static_cast<double>(options.chunk_bytes)) {
    rows = std::min(shape.rows, meta.chunks[0]);
  }
  // Shapes come from the file: one that no memory or disk could hold (its chunk grid alone would
  // exhaust memory) is refused, naming it, before anything is allocated.
  const double elements = static_cast<double>(shape.rows) * static_cast<double>(shape.cols);
  const double chunk_rows =
      std::ceil(static_cast<double>(shape.rows) / static_cast<double>(std::max<index_t>(rows, 1)));
  if (elements * static_cast<double>(itemsize(dtype)) > kMaxMatrixBytes ||
      chunk_rows > static_cast<double>(kMaxChunksPerAxis)) {
    bad(*parent, name,
        "shape " + to_string(shape) + " is beyond what Tessera reads (at most 2^60 bytes in at " +
            "most 2^24 chunk-rows)");
  }
  const ChunkGrid grid =
      ChunkGrid::regular(shape, std::max<index_t>(rows, 1), std::max<index_t>(cols, 1));
  auto source = std::make_shared<DenseSource>(parent, name, dtype,
                                              where(*parent, name) + " " + to_string(shape));
  return from_source(source, grid, dtype, Layout::dense, "read-dense");
}

}  // namespace tessera::io::detail
