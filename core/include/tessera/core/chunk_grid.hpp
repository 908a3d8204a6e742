// How a 2-D array is cut into chunks: per-axis chunk sizes, like dask's
// `chunks=((4096, 4096), (4096, 4096))`. A ChunkSpec is what the user asks for (regular sizes,
// explicit sizes per axis, or "auto" by a target byte size); a ChunkGrid is the resolved answer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tessera/core/dtype.hpp"
#include "tessera/core/index.hpp"

namespace tessera {

// Default target for "auto" chunks, as dask's `array.chunk-size` (128 MiB).
inline constexpr index_t kDefaultChunkBytes = index_t{128} << 20;

class ChunkGrid {
 public:
  ChunkGrid() = default;
  // Explicit per-axis sizes; each must be positive (a zero-length axis has the single size 0)
  // and they must add up to the axis length. Throws ValueError / ShapeError otherwise.
  ChunkGrid(std::vector<index_t> row_chunks, std::vector<index_t> col_chunks);
  // Regular chunks of at most (chunk_rows, chunk_cols); the last chunk on an axis may be smaller.
  static ChunkGrid regular(Shape shape, index_t chunk_rows, index_t chunk_cols);

  [[nodiscard]] Shape shape() const { return shape_; }
  [[nodiscard]] const std::vector<index_t>& sizes(int axis) const { return sizes_[axis]; }
  // Start offset of each chunk along the axis, plus the axis length at the end (n+1 entries).
  [[nodiscard]] const std::vector<index_t>& offsets(int axis) const { return offsets_[axis]; }
  [[nodiscard]] index_t num_chunks(int axis) const {
    return static_cast<index_t>(sizes_[axis].size());
  }
  [[nodiscard]] index_t num_chunks() const { return num_chunks(0) * num_chunks(1); }
  [[nodiscard]] index_t chunk_size(int axis, index_t i) const { return sizes_[axis][i]; }
  [[nodiscard]] index_t chunk_offset(int axis, index_t i) const { return offsets_[axis][i]; }
  [[nodiscard]] Shape chunk_shape(index_t i, index_t j) const {
    return {sizes_[0][i], sizes_[1][j]};
  }
  // Largest chunk along each axis (what dask prints as the chunk shape).
  [[nodiscard]] Shape max_chunk_shape() const;
  // The chunk holding element `pos` along `axis` (binary search).
  [[nodiscard]] index_t chunk_of(int axis, index_t pos) const;
  [[nodiscard]] bool is_regular() const;

  friend bool operator==(const ChunkGrid& a, const ChunkGrid& b) {
    return a.sizes_[0] == b.sizes_[0] && a.sizes_[1] == b.sizes_[1];
  }
  // dask's notation: "((4096, 4096), (4096, 4096))".
  [[nodiscard]] std::string to_string() const;

 private:
  Shape shape_;
  std::vector<index_t> sizes_[2];
  std::vector<index_t> offsets_[2] = {{0}, {0}};
};

// The chunking a user asks for, per axis: a regular size (-1 = the whole axis), explicit sizes,
// or automatic. Converting constructors let one write `{4096, 4096}` or `ChunkSpec::automatic()`.
class ChunkSpec {
 public:
  struct Auto {};
  using Axis = std::variant<index_t, std::vector<index_t>, Auto>;

  ChunkSpec() : axes_{Auto{}, Auto{}} {}
  ChunkSpec(index_t rows, index_t cols) : axes_{rows, cols} {}
  ChunkSpec(std::vector<index_t> rows, std::vector<index_t> cols)
      : axes_{std::move(rows), std::move(cols)} {}
  ChunkSpec(Axis rows, Axis cols) : axes_{std::move(rows), std::move(cols)} {}
  ChunkSpec(const ChunkGrid& grid)
      : axes_{grid.sizes(0), grid.sizes(1)} {}  // NOLINT: implicit by design

  // dask's "auto": chunks near `target_bytes`, as square as the shape allows.
  static ChunkSpec automatic(index_t target_bytes = kDefaultChunkBytes);

  // The grid for an array of this shape and dtype. Throws ValueError for sizes < 1 (other than
  // -1) and ShapeError for explicit sizes that do not add up to the axis length.
  [[nodiscard]] ChunkGrid resolve(Shape shape, DType dtype) const;
  // The size asked for along `axis` (0 rows, 1 columns) when it is one regular size, not clamped
  // to any shape (Zarr shards and chunks may be larger than the array); nullopt for -1, explicit
  // sizes or automatic.
  [[nodiscard]] std::optional<index_t> regular_size(int axis) const {
    const index_t* size = std::get_if<index_t>(&axes_[axis == 0 ? 0 : 1]);
    if (size == nullptr || *size < 1) return std::nullopt;
    return *size;
  }

 private:
  Axis axes_[2];
  index_t target_bytes_ = kDefaultChunkBytes;
};

}  // namespace tessera
