#include "tessera/distributed/ownership_map.hpp"

#include <algorithm>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera {

OwnershipMap::OwnershipMap(index_t chunk_rows, index_t chunk_cols, std::vector<int> owners,
                           int ranks)
    : rows_(chunk_rows), cols_(chunk_cols), ranks_(ranks), owners_(std::move(owners)) {
  if (ranks_ < 1)
    throw DistributedError("OwnershipMap: rank count must be positive, got " +
                           std::to_string(ranks_));
  if (static_cast<index_t>(owners_.size()) != rows_ * cols_) {
    throw DistributedError("OwnershipMap: " + std::to_string(owners_.size()) +
                           " owners for a grid of " + std::to_string(rows_) + " x " +
                           std::to_string(cols_) + " chunks");
  }
  for (std::size_t n = 0; n < owners_.size(); ++n) {
    if (owners_[n] < 0 || owners_[n] >= ranks_) {
      throw DistributedError("OwnershipMap: chunk " + std::to_string(n) + " has owner " +
                             std::to_string(owners_[n]) + ", outside [0, " +
                             std::to_string(ranks_) + ")");
    }
  }
}

OwnershipMap OwnershipMap::row_blocks(const ChunkGrid& grid, int ranks) {
  const index_t n = grid.num_chunks(0), m = grid.num_chunks(1);
  std::vector<int> owners(static_cast<std::size_t>(n * m));
  for (index_t i = 0; i < n; ++i) {
    std::fill_n(owners.begin() + i * m, m, row_block_owner(i, n, ranks));
  }
  return {n, m, std::move(owners), ranks};
}

OwnershipMap OwnershipMap::join(const std::vector<OwnershipMap>& maps, int axis) {
  if (maps.empty()) throw DistributedError("OwnershipMap::join of no maps");
  const int ranks = maps[0].ranks_;
  index_t rows = 0, cols = 0;
  for (const auto& m : maps) {
    if (m.ranks_ != ranks)
      throw DistributedError("OwnershipMap::join of maps over different rank counts");
    if (axis == 0) {
      if (m.cols_ != maps[0].cols_)
        throw DistributedError("OwnershipMap::join: chunk columns differ");
      rows += m.rows_;
    } else {
      if (m.rows_ != maps[0].rows_) throw DistributedError("OwnershipMap::join: chunk rows differ");
      cols += m.cols_;
    }
  }
  if (axis == 0)
    cols = maps[0].cols_;
  else
    rows = maps[0].rows_;
  std::vector<int> owners(static_cast<std::size_t>(rows * cols));
  index_t at = 0;
  for (const auto& m : maps) {
    for (index_t i = 0; i < m.rows_; ++i) {
      for (index_t j = 0; j < m.cols_; ++j) {
        const index_t r = axis == 0 ? at + i : i, c = axis == 0 ? j : at + j;
        owners[static_cast<std::size_t>(r * cols + c)] = m.owner(i, j);
      }
    }
    at += axis == 0 ? m.rows_ : m.cols_;
  }
  return {rows, cols, std::move(owners), ranks};
}

index_t OwnershipMap::count(int rank) const {
  return static_cast<index_t>(std::count(owners_.begin(), owners_.end(), rank));
}

}  // namespace tessera
