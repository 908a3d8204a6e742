// A Chunk is an in-memory 2-D block: dense (row-major with a leading dimension, so that row and
// column ranges of another chunk are zero-copy views) or CSR (indptr, indices, data; row ranges are
// zero-copy views too). Chunks are immutable once published: copies share storage, and every
// operation returns a new chunk. compute() returns a whole array as one Chunk.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "tessera/core/dtype.hpp"
#include "tessera/core/index.hpp"

namespace tessera {

enum class Layout : std::uint8_t { dense, csr };

// Owned or adopted raw storage. Allocation leaves bytes uninitialized (writers fill them).
class Buffer {
  struct Key {
    explicit Key() = default;
  };

 public:
  static std::shared_ptr<Buffer> allocate(std::size_t bytes);
  // Adopts a vector without copying; the buffer keeps it alive.
  template <typename T>
  static std::shared_ptr<Buffer> adopt(std::vector<T> values) {
    auto owner = std::make_shared<std::vector<T>>(std::move(values));
    auto* bytes = reinterpret_cast<std::byte*>(owner->data());
    const std::size_t size = owner->size() * sizeof(T);
    return std::make_shared<Buffer>(Key{}, std::move(owner), bytes, size);
  }
  Buffer(Key, std::shared_ptr<void> owner, std::byte* data, std::size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  [[nodiscard]] std::byte* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  std::shared_ptr<void> owner_;
  std::byte* data_;
  std::size_t size_;
};

class Chunk {
 public:
  // An empty 0×0 float64 dense chunk.
  Chunk();

  // Dense chunk with uninitialized values, to be filled through mutable_row().
  static Chunk dense(DType dtype, Shape shape);
  static Chunk dense_filled(DType dtype, Shape shape, double value);
  // Dense chunk adopting row-major values (no copy). Throws ShapeError if the sizes disagree.
  template <typename T>
  static Chunk from_values(Shape shape, std::vector<T> values) {
    check_dense_size(shape, static_cast<index_t>(values.size()));
    return Chunk(dtype_of<T>, shape, Buffer::adopt(std::move(values)), 0, shape.cols);
  }
  // std::vector<bool> is bit-packed, so bools are copied into a byte buffer.
  static Chunk from_values(Shape shape, const std::vector<bool>& values);
  // Dense view over a buffer: element (r, c) at element offset `offset + r * ld + c`.
  static Chunk dense_view(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, index_t offset,
                          index_t ld);

  // CSR chunk, scipy's triple. Validates everything (IndexError / ShapeError naming the problem):
  // indptr has rows+1 non-decreasing entries from 0 to nnz, indices lie in [0, cols). Unsorted
  // column indices within a row are sorted and duplicates summed, as scipy's sum_duplicates.
  static Chunk csr(DType dtype, Shape shape, std::vector<index_t> indptr,
                   std::vector<index_t> indices, std::shared_ptr<Buffer> data);
  template <typename T>
  static Chunk from_csr(Shape shape, std::vector<index_t> indptr, std::vector<index_t> indices,
                        std::vector<T> data) {
    return csr(dtype_of<T>, shape, std::move(indptr), std::move(indices),
               Buffer::adopt(std::move(data)));
  }
  // CSR from parts already known to be valid and canonical (kernels); checked only by assertions.
  static Chunk csr_unchecked(DType dtype, Shape shape,
                             std::shared_ptr<const std::vector<index_t>> indptr,
                             index_t indptr_offset,
                             std::shared_ptr<const std::vector<index_t>> indices,
                             std::shared_ptr<Buffer> data);

  [[nodiscard]] DType dtype() const { return dtype_; }
  [[nodiscard]] Shape shape() const { return shape_; }
  [[nodiscard]] index_t rows() const { return shape_.rows; }
  [[nodiscard]] index_t cols() const { return shape_.cols; }
  [[nodiscard]] Layout layout() const { return layout_; }
  [[nodiscard]] bool is_sparse() const { return layout_ == Layout::csr; }
  // Stored values: rows*cols for dense, non-zeros for CSR.
  [[nodiscard]] index_t nnz() const;
  // Bytes this chunk's logical content occupies (dense values, or CSR data+indices+indptr).
  [[nodiscard]] std::size_t nbytes() const;

  // Dense access. ld() is the element distance between row starts (>= cols).
  [[nodiscard]] index_t ld() const { return ld_; }
  [[nodiscard]] bool is_contiguous() const { return ld_ == shape_.cols || shape_.rows <= 1; }
  template <typename T>
  [[nodiscard]] const T* row(index_t r) const {
    return reinterpret_cast<const T*>(buffer_->data()) + offset_ + r * ld_;
  }
  template <typename T>
  [[nodiscard]] T* mutable_row(index_t r) const {
    return reinterpret_cast<T*>(buffer_->data()) + offset_ + r * ld_;
  }
  [[nodiscard]] const std::byte* raw_row(index_t r) const {
    return buffer_->data() + (offset_ + r * ld_) * static_cast<index_t>(itemsize(dtype_));
  }
  // Row r's first byte for writing (mutable_row<std::byte> would step by bytes, not items).
  [[nodiscard]] std::byte* mutable_raw_row(index_t r) const {
    return buffer_->data() + (offset_ + r * ld_) * static_cast<index_t>(itemsize(dtype_));
  }

  // CSR access: indptr() has rows+1 absolute offsets into indices() and data<T>().
  [[nodiscard]] std::span<const index_t> indptr() const {
    return {indptr_->data() + indptr_offset_, static_cast<std::size_t>(shape_.rows + 1)};
  }
  [[nodiscard]] const index_t* indices() const { return indices_->data(); }
  template <typename T>
  [[nodiscard]] const T* data() const {
    return reinterpret_cast<const T*>(buffer_->data());
  }
  [[nodiscard]] const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  // Element (r, c) converted to double, for any layout (tests, printing).
  [[nodiscard]] double value_at(index_t r, index_t c) const;

  // Sub-block [r0, r1) × [c0, c1). Dense: a zero-copy view. CSR: zero-copy for full-width row
  // ranges, a copy otherwise. Throws IndexError for a range outside the chunk.
  [[nodiscard]] Chunk block(index_t r0, index_t r1, index_t c0, index_t c1) const;
  // CSR only: this chunk's structure with new values (nnz() of them, in storage order).
  [[nodiscard]] Chunk with_values(DType dtype, std::shared_ptr<Buffer> values) const;
  [[nodiscard]] Chunk to_dense() const;
  [[nodiscard]] Chunk to_csr() const;
  [[nodiscard]] Chunk to_layout(Layout layout) const;
  [[nodiscard]] Chunk astype(DType dtype) const;
  // A chunk that owns fresh storage with the same values (to_memory(copy=true)).
  [[nodiscard]] Chunk deep_copy() const;
  [[nodiscard]] bool shares_memory_with(const Chunk& other) const {
    return buffer_ != nullptr && buffer_ == other.buffer_;
  }
  // The same elements of the same storage (a copy of the same Chunk): equal values without
  // looking at them.
  [[nodiscard]] bool same_view(const Chunk& other) const {
    return dtype_ == other.dtype_ && layout_ == other.layout_ && shape_ == other.shape_ &&
           buffer_ == other.buffer_ && offset_ == other.offset_ && ld_ == other.ld_ &&
           indptr_ == other.indptr_ && indptr_offset_ == other.indptr_offset_ &&
           indices_ == other.indices_;
  }

 private:
  Chunk(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, index_t offset, index_t ld);
  static void check_dense_size(Shape shape, index_t n);

  DType dtype_ = DType::float64;
  Layout layout_ = Layout::dense;
  Shape shape_;
  std::shared_ptr<Buffer> buffer_;  // dense values, or CSR data
  index_t offset_ = 0;              // dense: element offset of (0, 0)
  index_t ld_ = 0;                  // dense: leading dimension
  std::shared_ptr<const std::vector<index_t>> indptr_;
  index_t indptr_offset_ = 0;
  std::shared_ptr<const std::vector<index_t>> indices_;
};

// Joins a row-major grid of blocks (block_rows × block_cols of them, one layout and dtype, sizes
// lining up) into one chunk: how compute() assembles an array from its chunks.
Chunk assemble_blocks(std::span<const Chunk> blocks, index_t block_rows, index_t block_cols);

// Same values, compared as numbers whatever the layouts and dtypes; NaN equals NaN.
bool array_equal(const Chunk& a, const Chunk& b);
// Same layout, dtype, shape and bit patterns (CSR: same structure too): "bit for bit".
bool identical(const Chunk& a, const Chunk& b);
// Largest |a - b| / max(1, |b|) over all elements; infinity if shapes differ or NaNs disagree.
double max_relative_difference(const Chunk& a, const Chunk& b);

}  // namespace tessera
