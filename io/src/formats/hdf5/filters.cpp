#include "formats/hdf5/filters.hpp"

#include <blosc.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "formats/hdf5/h5_api.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail::h5 {
namespace {

// HDF5 keeps chunks below 4 GiB; nothing a decoder produces may be larger.
constexpr std::size_t kMaxChunkBytes = 0xFFFFFFFFULL;
// hdf5-blosc's filter revision (2: several compressors, since Blosc 1.3).
constexpr unsigned kBloscFilterRevision = 2;

// A filter fails by pushing a message on HDF5's error stack and returning 0.
std::size_t filter_error(const char* function, const std::string& message) {
  H5Epush2(H5E_DEFAULT, __FILE__, function, __LINE__, H5E_ERR_CLS, H5E_PLINE, H5E_CALLBACK, "%s",
           message.c_str());
  return 0;
}

// Hands the filter's output to HDF5 in place of its input.
std::size_t replace_buffer(void* out, std::size_t out_bytes, std::size_t* buf_size, void** buf) {
  H5free_memory(*buf);
  *buf = out;
  *buf_size = out_bytes;
  return out_bytes;
}

// ---- Blosc ------------------------------------------------------------------------------------

herr_t blosc_set_local(hid_t dcpl, hid_t type, hid_t /*space*/) {
  unsigned flags = 0;
  std::size_t count = 8;
  std::array<unsigned, 8> values{};
  if (H5Pget_filter_by_id2(dcpl, kBloscFilter, &flags, &count, values.data(), 0, nullptr, nullptr) <
      0)
    return -1;
  count = std::clamp<std::size_t>(count, 4, values.size());
  values[0] = kBloscFilterRevision;
  values[1] = BLOSC_VERSION_FORMAT;

  std::array<hsize_t, 32> chunk{};
  const int rank = H5Pget_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  if (rank < 0) return -1;
  if (rank > static_cast<int>(chunk.size())) {
    filter_error("blosc_set_local", "chunk rank exceeds 32");
    return -1;
  }
  const std::size_t type_size = H5Tget_size(type);
  if (type_size == 0) return -1;
  std::size_t base_size = type_size;
  if (H5Tget_class(type) == H5T_ARRAY) {
    const hid_t super = H5Tget_super(type);
    if (super < 0) return -1;
    base_size = H5Tget_size(super);
    H5Tclose(super);
  }
  // Blosc shuffles elements of at most 255 bytes; larger ones are compressed as bytes.
  if (base_size > BLOSC_MAX_TYPESIZE) base_size = 1;
  values[2] = static_cast<unsigned>(base_size);

  std::uint64_t chunk_bytes = type_size;
  for (int i = 0; i < rank; ++i)
    chunk_bytes *= chunk[static_cast<std::size_t>(i)];
  if (chunk_bytes > kMaxChunkBytes) {
    filter_error("blosc_set_local", "chunk of " + std::to_string(chunk_bytes) +
                                        " bytes is larger than HDF5's 4 GiB limit");
    return -1;
  }
  values[3] = static_cast<unsigned>(chunk_bytes);
  return H5Pmodify_filter(dcpl, kBloscFilter, flags, count, values.data());
}

std::size_t blosc_compress_chunk(std::size_t cd_nelmts, const unsigned cd_values[],
                                 std::size_t nbytes, std::size_t* buf_size, void** buf) {
  std::size_t type_size = cd_nelmts >= 3 ? cd_values[2] : 1;
  if (type_size == 0 || type_size > BLOSC_MAX_TYPESIZE) type_size = 1;
  const int level = cd_nelmts >= 5 ? static_cast<int>(std::min(cd_values[4], 9U)) : 5;
  const int shuffle = cd_nelmts >= 6 ? static_cast<int>(cd_values[5]) : BLOSC_SHUFFLE;
  if (shuffle != BLOSC_NOSHUFFLE && shuffle != BLOSC_SHUFFLE && shuffle != BLOSC_BITSHUFFLE)
    return filter_error("blosc_filter", "unknown Blosc shuffle " + std::to_string(shuffle));
  const int code = cd_nelmts >= 7 ? static_cast<int>(cd_values[6]) : BLOSC_BLOSCLZ;
  const char* compressor = nullptr;
  if (blosc_compcode_to_compname(code, &compressor) < 0 || compressor == nullptr)
    return filter_error("blosc_filter", "this libblosc lacks compressor code " +
                                            std::to_string(code) + " (it has " +
                                            blosc_list_compressors() + ")");
  if (nbytes > static_cast<std::size_t>(BLOSC_MAX_BUFFERSIZE))
    return filter_error("blosc_filter", "chunk too large for Blosc");
  const std::size_t capacity = nbytes + BLOSC_MAX_OVERHEAD;
  void* out = H5allocate_memory(capacity, false);
  if (out == nullptr) return filter_error("blosc_filter", "out of memory");
  const int written =
      blosc_compress_ctx(level, shuffle, type_size, nbytes, *buf, out, capacity, compressor, 0, 1);
  if (written <= 0) {
    H5free_memory(out);
    return filter_error("blosc_filter", "Blosc compression failed");
  }
  return replace_buffer(out, static_cast<std::size_t>(written), buf_size, buf);
}

std::size_t blosc_decompress_chunk(std::size_t cd_nelmts, const unsigned cd_values[],
                                   std::size_t nbytes, std::size_t* buf_size, void** buf) {
  if (nbytes < BLOSC_MIN_HEADER_LENGTH)
    return filter_error("blosc_filter", "Blosc chunk of " + std::to_string(nbytes) +
                                            " bytes is shorter than a Blosc header");
  std::size_t decoded = 0;
  if (blosc_cbuffer_validate(*buf, nbytes, &decoded) != 0)
    return filter_error("blosc_filter", "corrupt Blosc chunk (its header does not fit its " +
                                            std::to_string(nbytes) + " bytes)");
  // The chunk size recorded at creation: a shorter result can only be corruption.
  if (cd_nelmts >= 4 && cd_values[3] != 0 && decoded < cd_values[3])
    return filter_error("blosc_filter", "corrupt Blosc chunk: decodes to " +
                                            std::to_string(decoded) + " bytes, expected " +
                                            std::to_string(cd_values[3]));
  void* out = H5allocate_memory(std::max<std::size_t>(decoded, 1), false);
  if (out == nullptr) return filter_error("blosc_filter", "out of memory");
  const int got = blosc_decompress_ctx(*buf, out, decoded, 1);
  if (got < 0 || static_cast<std::size_t>(got) != decoded) {
    H5free_memory(out);
    return filter_error("blosc_filter", "corrupt Blosc chunk (decompression failed)");
  }
  return replace_buffer(out, decoded, buf_size, buf);
}

std::size_t blosc_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[],
                         std::size_t nbytes, std::size_t* buf_size, void** buf) {
  try {
    if ((flags & H5Z_FLAG_REVERSE) != 0)
      return blosc_decompress_chunk(cd_nelmts, cd_values, nbytes, buf_size, buf);
    return blosc_compress_chunk(cd_nelmts, cd_values, nbytes, buf_size, buf);
  } catch (...) {
    return 0;
  }
}

// ---- Zstandard (hdf5plugin's filter: cd_values[0] is the level) -------------------------------

std::size_t zstd_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[],
                        std::size_t nbytes, std::size_t* buf_size, void** buf) {
  try {
    if ((flags & H5Z_FLAG_REVERSE) != 0) {
      const unsigned long long size = ZSTD_getFrameContentSize(*buf, nbytes);
      if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
          size > kMaxChunkBytes)
        return filter_error("zstd_filter", "corrupt Zstandard chunk (no valid frame size)");
      void* out = H5allocate_memory(std::max<std::size_t>(size, 1), false);
      if (out == nullptr) return filter_error("zstd_filter", "out of memory");
      const std::size_t got = ZSTD_decompress(out, size, *buf, nbytes);
      if (ZSTD_isError(got) != 0 || got != size) {
        H5free_memory(out);
        return filter_error("zstd_filter",
                            std::string("corrupt Zstandard chunk: ") +
                                (ZSTD_isError(got) != 0 ? ZSTD_getErrorName(got) : "wrong size"));
      }
      return replace_buffer(out, got, buf_size, buf);
    }
    const int level = cd_nelmts >= 1 ? static_cast<int>(cd_values[0]) : ZSTD_CLEVEL_DEFAULT;
    const std::size_t capacity = ZSTD_compressBound(nbytes);
    void* out = H5allocate_memory(capacity, false);
    if (out == nullptr) return filter_error("zstd_filter", "out of memory");
    const std::size_t written = ZSTD_compress(out, capacity, *buf, nbytes, level);
    if (ZSTD_isError(written) != 0) {
      H5free_memory(out);
      return filter_error("zstd_filter", ZSTD_getErrorName(written));
    }
    return replace_buffer(out, written, buf_size, buf);
  } catch (...) {
    return 0;
  }
}

// ---- LZF (h5py's filter; decoding only) -------------------------------------------------------

enum class LzfResult : std::uint8_t { ok, too_small, corrupt };

// liblzf's format: a control byte below 32 starts a literal run of ctrl + 1 bytes; otherwise a
// back reference of length (ctrl >> 5) + 2 (7 adds a length byte) at distance from the low bits.
LzfResult lzf_decode(const unsigned char* in, std::size_t in_size, unsigned char* out,
                     std::size_t capacity, std::size_t* produced) {
  std::size_t ip = 0;
  std::size_t op = 0;
  while (ip < in_size) {
    const unsigned ctrl = in[ip++];
    if (ctrl < 32) {
      const std::size_t run = ctrl + 1;
      if (ip + run > in_size) return LzfResult::corrupt;
      if (op + run > capacity) return LzfResult::too_small;
      std::memcpy(out + op, in + ip, run);
      ip += run;
      op += run;
      continue;
    }
    std::size_t length = ctrl >> 5;
    if (ip >= in_size) return LzfResult::corrupt;
    if (length == 7) {
      length += in[ip++];
      if (ip >= in_size) return LzfResult::corrupt;
    }
    const std::size_t distance = ((static_cast<std::size_t>(ctrl & 0x1F) << 8) | in[ip++]) + 1;
    length += 2;
    if (distance > op) return LzfResult::corrupt;
    if (op + length > capacity) return LzfResult::too_small;
    // Overlapping copies repeat the pattern, so byte by byte.
    for (std::size_t i = 0; i < length; ++i, ++op)
      out[op] = out[op - distance];
  }
  *produced = op;
  return LzfResult::ok;
}

std::size_t lzf_filter(unsigned flags, std::size_t cd_nelmts, const unsigned cd_values[],
                       std::size_t nbytes, std::size_t* buf_size, void** buf) {
  try {
    if ((flags & H5Z_FLAG_REVERSE) == 0)
      return filter_error("lzf_filter", "Tessera reads LZF but does not write it");
    // h5py records the chunk size in slot 2; grow if a chunk decodes larger (other filters).
    std::size_t capacity = cd_nelmts >= 3 && cd_values[2] != 0 ? cd_values[2] : *buf_size;
    capacity = std::max<std::size_t>(capacity, 1);
    while (true) {
      auto* out = static_cast<unsigned char*>(H5allocate_memory(capacity, false));
      if (out == nullptr) return filter_error("lzf_filter", "out of memory");
      std::size_t produced = 0;
      const LzfResult result =
          lzf_decode(static_cast<const unsigned char*>(*buf), nbytes, out, capacity, &produced);
      if (result == LzfResult::ok) return replace_buffer(out, produced, buf_size, buf);
      H5free_memory(out);
      if (result == LzfResult::corrupt || capacity >= kMaxChunkBytes)
        return filter_error("lzf_filter", "corrupt LZF chunk");
      capacity = std::min(kMaxChunkBytes, capacity * 2);
    }
  } catch (...) {
    return 0;
  }
}

void register_filter(const H5Z_class2_t& cls) {
  check(H5Zregister(&cls), Fail::io, "HDF5",
        std::string("registering the ") + cls.name + " filter (H5Zregister)");
}

}  // namespace

void register_filters() {
  static const H5Z_class2_t blosc{H5Z_CLASS_T_VERS, kBloscFilter,    1,           1, "blosc",
                                  nullptr,          blosc_set_local, blosc_filter};
  static const H5Z_class2_t zstd{H5Z_CLASS_T_VERS, kZstdFilter, 1,       1,
                                 "zstd",           nullptr,     nullptr, zstd_filter};
  static const H5Z_class2_t lzf{H5Z_CLASS_T_VERS, kLzfFilter, 0,         1, "lzf",
                                nullptr,          nullptr,    lzf_filter};
  register_filter(blosc);
  register_filter(zstd);
  register_filter(lzf);
}

std::vector<unsigned> blosc_cd_values(const std::string& cname, int level, int shuffle) {
  const int code = blosc_compname_to_compcode(cname.c_str());
  if (code < 0)
    throw ValueError("Blosc compressor '" + cname + "' is not available (this libblosc has " +
                     blosc_list_compressors() + ")");
  if (level < 0 || level > 9)
    throw ValueError("Blosc level " + std::to_string(level) + " is outside 0-9");
  if (shuffle < 0 || shuffle > 2)
    throw ValueError("Blosc shuffle " + std::to_string(shuffle) +
                     " is not 0 (none), 1 (byte) or 2 (bit)");
  return {0,
          0,
          0,
          0,
          static_cast<unsigned>(level),
          static_cast<unsigned>(shuffle),
          static_cast<unsigned>(code)};
}

}  // namespace tessera::io::detail::h5
