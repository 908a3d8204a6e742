#include "formats/zarr/chunk_layout.hpp"

#include <cstring>
#include <new>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"

namespace tessera::io::detail {

void byteswap_all(std::span<std::byte> data, std::size_t itemsize) {
  if (itemsize <= 1) return;
  for (std::size_t off = 0; off + itemsize <= data.size(); off += itemsize) {
    std::reverse(data.begin() + static_cast<std::ptrdiff_t>(off),
                 data.begin() + static_cast<std::ptrdiff_t>(off + itemsize));
  }
}

void transpose_bytes(std::span<std::byte> data, Dims d, std::size_t itemsize, bool to_fortran) {
  if (d.rows <= 1 || d.cols <= 1) return;
  std::vector<std::byte> copy(data.begin(), data.end());
  const auto is = static_cast<index_t>(itemsize);
  for (index_t r = 0; r < d.rows; ++r) {
    for (index_t c = 0; c < d.cols; ++c) {
      const index_t cpos = r * d.cols + c;
      const index_t fpos = c * d.rows + r;
      const index_t from = to_fortran ? cpos : fpos;
      const index_t to = to_fortran ? fpos : cpos;
      std::memcpy(data.data() + to * is, copy.data() + from * is, itemsize);
    }
  }
}

void fill_items(std::byte* dst, index_t count, std::span<const std::byte> pattern) {
  const std::size_t is = pattern.size();
  bool zero = true;
  for (std::byte b : pattern)
    zero = zero && b == std::byte{0};
  if (zero) {
    std::memset(dst, 0, static_cast<std::size_t>(count) * is);
    return;
  }
  for (index_t i = 0; i < count; ++i)
    std::memcpy(dst + static_cast<std::size_t>(i) * is, pattern.data(), is);
}

std::shared_ptr<Buffer> allocate_chunk(std::size_t bytes, const std::string& what) {
  if (bytes > kMaxChunkBytes) {
    throw FormatError(what + ": chunks of " + std::to_string(bytes) +
                      " bytes are larger than the " + std::to_string(kMaxChunkBytes) +
                      " bytes Tessera decodes");
  }
  try {
    return Buffer::allocate(bytes);
  } catch (const std::bad_alloc&) {
    throw FormatError(what + ": cannot allocate " + std::to_string(bytes) + " bytes for a chunk");
  }
}

std::string utf32_to_utf8(const std::byte* p, std::size_t units, bool big_endian) {
  std::vector<std::uint32_t> cps;
  cps.reserve(units);
  for (std::size_t i = 0; i < units; ++i) {
    const auto* b = reinterpret_cast<const unsigned char*>(p + 4 * i);
    const std::uint32_t cp = big_endian
                                 ? (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                       (std::uint32_t{b[2]} << 8) | b[3]
                                 : (std::uint32_t{b[3]} << 24) | (std::uint32_t{b[2]} << 16) |
                                       (std::uint32_t{b[1]} << 8) | b[0];
    cps.push_back(cp);
  }
  while (!cps.empty() && cps.back() == 0)
    cps.pop_back();  // numpy strips trailing NULs
  std::string out;
  for (std::uint32_t cp : cps) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      throw FormatError("invalid code point " + std::to_string(cp) + " in a fixed-width string");
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

std::u32string utf8_to_utf32(const std::string& text, const std::string& where) {
  if (!is_valid_utf8(text)) throw ValueError("zarr: " + where + ": a string is not valid UTF-8");
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    std::uint32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1FU : extra == 2 ? c & 0x0FU : c & 0x07U;
    for (int k = 1; k <= extra; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]) & 0x3FU);
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

}  // namespace tessera::io::detail
