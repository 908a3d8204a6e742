// OwnershipMap: which rank owns each chunk of a distributed array (Tpetra's Map, per chunk). The
// default gives each rank a contiguous block of whole chunk-rows, so every rank holds whole cells
// (rows), the access pattern of single-cell work. Maps are plain values: compared, joined along an
// axis (concatenation moves nothing), and serialized into plans.
#pragma once

#include <vector>

#include "tessera/core/chunk_grid.hpp"

namespace tessera {

class OwnershipMap {
 public:
  OwnershipMap() = default;
  // owners: row-major over a chunks_rows × chunks_cols grid, each in [0, ranks). Throws
  // DistributedError naming the first bad entry.
  OwnershipMap(index_t chunk_rows, index_t chunk_cols, std::vector<int> owners, int ranks);
  // The default: chunk-row i goes to rank floor(i * ranks / chunk_rows).
  static OwnershipMap row_blocks(const ChunkGrid& grid, int ranks);
  // The default owner of chunk-row i of n over `ranks` ranks, without building a map.
  static int row_block_owner(index_t i, index_t n, int ranks) {
    return n == 0 ? 0 : static_cast<int>(i * ranks / n);
  }
  // Concatenation's map: the inputs' maps side by side along `axis`.
  static OwnershipMap join(const std::vector<OwnershipMap>& maps, int axis);

  [[nodiscard]] int owner(index_t i, index_t j) const {
    return owners_[static_cast<std::size_t>(i * cols_ + j)];
  }
  [[nodiscard]] index_t num_chunks(int axis) const { return axis == 0 ? rows_ : cols_; }
  [[nodiscard]] int ranks() const { return ranks_; }
  [[nodiscard]] const std::vector<int>& owners() const { return owners_; }
  // Chunks a rank owns, row-major.
  [[nodiscard]] index_t count(int rank) const;
  friend bool operator==(const OwnershipMap&, const OwnershipMap&) = default;

  template <typename Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& rows_& cols_& ranks_& owners_;
  }

 private:
  index_t rows_ = 0;
  index_t cols_ = 0;
  int ranks_ = 1;
  std::vector<int> owners_;
};

}  // namespace tessera
