#include "tessera/core/chunk_grid.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

const char* axis_name(int axis) {
  return axis == 0 ? "rows" : "columns";
}

std::vector<index_t> regular_sizes(index_t length, index_t chunk, int axis) {
  if (chunk == -1) chunk = std::max<index_t>(length, 1);
  if (chunk < 1) {
    throw ValueError("chunk size along " + std::string(axis_name(axis)) +
                     " must be positive or -1, got " + std::to_string(chunk));
  }
  if (length == 0) return {0};
  std::vector<index_t> sizes(static_cast<std::size_t>((length + chunk - 1) / chunk), chunk);
  sizes.back() = length - chunk * (static_cast<index_t>(sizes.size()) - 1);
  return sizes;
}

}  // namespace

ChunkGrid::ChunkGrid(std::vector<index_t> row_chunks, std::vector<index_t> col_chunks)
    : sizes_{std::move(row_chunks), std::move(col_chunks)} {
  for (int axis = 0; axis < 2; ++axis) {
    auto& sizes = sizes_[axis];
    if (sizes.empty()) {
      throw ValueError("chunk sizes along " + std::string(axis_name(axis)) + " are empty");
    }
    index_t total = 0;
    for (index_t s : sizes) {
      if (s < 0 || (s == 0 && sizes.size() > 1)) {
        throw ValueError("chunk sizes along " + std::string(axis_name(axis)) +
                         " must be positive, got " + std::to_string(s));
      }
      total += s;
    }
    offsets_[axis].assign(1, 0);
    offsets_[axis].reserve(sizes.size() + 1);
    for (index_t s : sizes)
      offsets_[axis].push_back(offsets_[axis].back() + s);
    (axis == 0 ? shape_.rows : shape_.cols) = total;
  }
}

ChunkGrid ChunkGrid::regular(Shape shape, index_t chunk_rows, index_t chunk_cols) {
  if (shape.rows < 0 || shape.cols < 0) {
    throw ShapeError("array shape must not be negative, got " + tessera::to_string(shape));
  }
  return {regular_sizes(shape.rows, chunk_rows, 0), regular_sizes(shape.cols, chunk_cols, 1)};
}

Shape ChunkGrid::max_chunk_shape() const {
  return {*std::max_element(sizes_[0].begin(), sizes_[0].end()),
          *std::max_element(sizes_[1].begin(), sizes_[1].end())};
}

index_t ChunkGrid::chunk_of(int axis, index_t pos) const {
  const auto& off = offsets_[axis];
  auto it = std::upper_bound(off.begin(), off.end(), pos);
  return std::clamp<index_t>(static_cast<index_t>(it - off.begin()) - 1, 0, num_chunks(axis) - 1);
}

bool ChunkGrid::is_regular() const {
  // dask's notion: every chunk but the last has the same size, and the last is not larger.
  for (const auto& sizes : sizes_) {
    for (std::size_t i = 1; i < sizes.size(); ++i) {
      if (i + 1 < sizes.size() ? sizes[i] != sizes[0] : sizes[i] > sizes[0]) return false;
    }
  }
  return true;
}

std::string ChunkGrid::to_string() const {
  std::string out = "(";
  for (int axis = 0; axis < 2; ++axis) {
    out += axis == 0 ? "(" : ", (";
    for (std::size_t i = 0; i < sizes_[axis].size(); ++i) {
      if (i > 0) out += ", ";
      out += std::to_string(sizes_[axis][i]);
    }
    out += sizes_[axis].size() == 1 ? ",)" : ")";
  }
  return out + ")";
}

ChunkSpec ChunkSpec::automatic(index_t target_bytes) {
  if (target_bytes < 1) {
    throw ValueError("auto chunk target must be positive, got " + std::to_string(target_bytes) +
                     " bytes");
  }
  ChunkSpec spec;
  spec.target_bytes_ = target_bytes;
  return spec;
}

ChunkGrid ChunkSpec::resolve(Shape shape, DType dtype) const {
  if (shape.rows < 0 || shape.cols < 0) {
    throw ShapeError("array shape must not be negative, got " + tessera::to_string(shape));
  }
  // Resolve explicit and regular axes first; "auto" axes share what is left of the byte target,
  // as dask does: an auto axis shorter than its share takes the whole axis.
  std::vector<index_t> resolved[2];
  index_t fixed_elements = 1;
  int auto_axes = 0;
  for (int axis = 0; axis < 2; ++axis) {
    const index_t length = shape[axis];
    if (const auto* regular = std::get_if<index_t>(&axes_[axis])) {
      resolved[axis] = regular_sizes(length, *regular, axis);
    } else if (const auto* sizes = std::get_if<std::vector<index_t>>(&axes_[axis])) {
      index_t total = 0;
      for (index_t s : *sizes)
        total += s;
      if (total != length) {
        throw ShapeError("chunk sizes along " + std::string(axis_name(axis)) + " add up to " +
                         std::to_string(total) + " but the axis has length " +
                         std::to_string(length));
      }
      resolved[axis] = *sizes;
      if (resolved[axis].empty()) resolved[axis] = {0};
    } else {
      ++auto_axes;
      continue;
    }
    fixed_elements *=
        std::max<index_t>(1, *std::max_element(resolved[axis].begin(), resolved[axis].end()));
  }
  if (auto_axes > 0) {
    const double budget =
        std::max(1.0, static_cast<double>(target_bytes_) / static_cast<double>(itemsize(dtype)) /
                          static_cast<double>(fixed_elements));
    // Axes that are shorter than an even share take their full length; the rest split evenly.
    std::vector<int> pending;
    for (int axis = 0; axis < 2; ++axis) {
      if (std::holds_alternative<Auto>(axes_[axis])) pending.push_back(axis);
    }
    double remaining = budget;
    std::sort(pending.begin(), pending.end(), [&](int a, int b) { return shape[a] < shape[b]; });
    for (std::size_t n = 0; n < pending.size(); ++n) {
      const int axis = pending[n];
      const double share = std::pow(remaining, 1.0 / static_cast<double>(pending.size() - n));
      index_t chunk = std::max<index_t>(1, static_cast<index_t>(std::floor(share)));
      if (chunk >= shape[axis]) chunk = std::max<index_t>(shape[axis], 1);
      resolved[axis] = regular_sizes(shape[axis], chunk, axis);
      remaining = std::max(1.0, remaining / static_cast<double>(chunk));
    }
  }
  return {std::move(resolved[0]), std::move(resolved[1])};
}

}  // namespace tessera
