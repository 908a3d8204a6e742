// How Zarr chunks lie in memory: arrays are handled as 2-D (a 0-D array is 1x1, a 1-D array of n
// is 1xn), chunks are decoded to C order and the machine's byte order, and these helpers move
// items between the two layouts. No store, no metadata parsing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/buffer_pool.hpp"
#include "tessera/core/chunk.hpp"
#include "tessera/core/index.hpp"

namespace tessera::io::detail {

// A 2-D extent.
struct Dims {
  index_t rows = 1;
  index_t cols = 1;
};

inline Dims dims_of(const std::vector<index_t>& v) {
  switch (v.size()) {
    case 0:
      return {1, 1};
    case 1:
      return {1, v[0]};
    default:
      return {v[0], v[1]};
  }
}

inline index_t ceil_div(index_t a, index_t b) {
  return a == 0 ? 0 : (a - 1) / b + 1;
}

// Where chunk `c` of size `chunk` ends inside an axis of `extent` elements, without computing
// (c + 1) * chunk, which may overflow for the sizes an untrusted .zarray can declare.
inline index_t chunk_end(index_t c, index_t chunk, index_t extent) {
  const index_t begin = c * chunk;  // below extent, so it fits
  return begin + std::min(chunk, extent - begin);
}

inline std::string dims_text(const std::vector<index_t>& v) {
  std::string s = "(";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(v[i]);
  }
  if (v.size() == 1) s += ",";
  return s + ")";
}

// Reverses the bytes of every item of `itemsize` bytes (byte order).
void byteswap_all(std::span<std::byte> data, std::size_t itemsize);
// Column-major (rows x cols) to row-major, or back (`to_fortran`).
void transpose_bytes(std::span<std::byte> data, Dims d, std::size_t itemsize, bool to_fortran);
// Fills `count` items of `pattern.size()` bytes at `dst` with `pattern`.
void fill_items(std::byte* dst, index_t count, std::span<const std::byte> pattern);
// A buffer for one decoded chunk; FormatError naming `what` when it is beyond kMaxChunkBytes or
// cannot be allocated (sizes come from untrusted metadata).
std::shared_ptr<Buffer> allocate_chunk(std::size_t bytes, const std::string& what);
// UTF-32 code units (NUL-padded) to UTF-8; FormatError for code points that are not characters.
std::string utf32_to_utf8(const std::byte* p, std::size_t units, bool big_endian);
// UTF-8 text as code points (numpy's U strings); ValueError naming `where` if not UTF-8.
std::u32string utf8_to_utf32(const std::string& text, const std::string& where);

}  // namespace tessera::io::detail
