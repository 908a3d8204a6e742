// Small helpers on computed per-row / per-column vectors (chunks of shape (n, 1) or (1, n)):
// numpy's element-wise arithmetic on them goes through core's own kernels (local, in memory), so
// the dtypes and roundings are core's numpy rules, the same the lazy arrays follow.
#pragma once

#include <cstring>
#include <vector>

#include "tessera/anndata/dataframe.hpp"
#include "tessera/core/array.hpp"

namespace tessera::analysis::detail {

// An in-memory array over the chunk, one chunk.
inline Array whole(const Chunk& c) {
  return from_chunk(c, ChunkSpec(index_t{-1}, index_t{-1}));
}
// The values as doubles, in row-major order.
inline std::vector<double> as_doubles(const Chunk& c) {
  const Chunk d = c.to_dense().astype(DType::float64);
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(d.rows() * d.cols()));
  for (index_t r = 0; r < d.rows(); ++r) {
    const double* p = d.row<double>(r);
    out.insert(out.end(), p, p + d.cols());
  }
  return out;
}
// A column of a data frame from a vector chunk, laid out (n, 1) whatever the input's shape.
inline Column column_of(const Chunk& vector) {
  const Chunk d = vector.to_dense();
  const index_t n = d.rows() * d.cols();
  Chunk flat = Chunk::dense(d.dtype(), {n, 1});
  const std::size_t item = itemsize(d.dtype());
  index_t k = 0;
  for (index_t r = 0; r < d.rows(); ++r) {
    for (index_t c = 0; c < d.cols(); ++c, ++k) {
      std::memcpy(flat.mutable_raw_row(k), d.raw_row(r) + static_cast<std::size_t>(c) * item, item);
    }
  }
  return Column::values(flat);
}

}  // namespace tessera::analysis::detail
