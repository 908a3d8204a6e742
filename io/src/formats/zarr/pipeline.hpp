// The codec chain of one Zarr array (v2: filters then compressor; v3: the bytes-to-bytes codecs
// after the array-to-bytes one, mapped onto the same chain by ZarrArraySpec::parse_v3), made once
// per operation from its spec and applied to one chunk's bytes at a time.
#pragma once

#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/detail/zarr_metadata.hpp"

namespace tessera::io::detail {

// The codecs of one array, made once per operation.
struct Pipeline {
  std::unique_ptr<ZarrCodec> compressor;            // may be null
  std::unique_ptr<ZarrObjectCodec> object;          // "|O" arrays: filters[0]
  std::vector<std::unique_ptr<ZarrCodec>> filters;  // byte filters, in file order

  explicit Pipeline(const ZarrArraySpec& spec) {
    if (!spec.compressor.is_null()) compressor = make_codec(spec.compressor);
    if (spec.filters.is_array()) {
      std::size_t first = 0;
      if (spec.dtype.kind == ZarrKind::object) {
        object = make_object_codec(spec.filters[0]);
        first = 1;
      }
      for (std::size_t i = first; i < spec.filters.size(); ++i) {
        filters.push_back(make_codec(spec.filters[i]));
      }
    }
  }

  // Encoded bytes → the bytes the object codec or the array's items start from, of exactly
  // `out.size()` bytes (fixed-size items) ...
  void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const {
    if (filters.empty()) {
      if (compressor) {
        compressor->decode_into(encoded, out);
      } else if (encoded.size() != out.size()) {
        throw FormatError("uncompressed chunk of " + std::to_string(encoded.size()) +
                          " bytes, expected " + std::to_string(out.size()));
      } else {
        std::memcpy(out.data(), encoded.data(), out.size());
      }
      return;
    }
    std::vector<std::byte> bytes = compressor
                                       ? compressor->decode(encoded, kMaxUnsizedDecodeBytes)
                                       : std::vector<std::byte>(encoded.begin(), encoded.end());
    for (std::size_t i = filters.size(); i-- > 1;) {
      bytes = filters[i]->decode(bytes, kMaxUnsizedDecodeBytes);
    }
    filters[0]->decode_into(bytes, out);
  }

  // ... or of unknown size (variable-length strings).
  std::vector<std::byte> decode(std::span<const std::byte> encoded) const {
    std::vector<std::byte> bytes = compressor
                                       ? compressor->decode(encoded, kMaxUnsizedDecodeBytes)
                                       : std::vector<std::byte>(encoded.begin(), encoded.end());
    for (std::size_t i = filters.size(); i-- > 0;) {
      bytes = filters[i]->decode(bytes, kMaxUnsizedDecodeBytes);
    }
    return bytes;
  }

  // Encoded bytes of `raw`: in `scratch` (reused, see ZarrCodec::encode_into), or `raw` itself
  // when there is nothing to apply.
  std::span<const std::byte> encode_into(std::span<const std::byte> raw, std::size_t typesize,
                                         std::vector<std::byte>& scratch) const {
    if (filters.empty() && !compressor) return raw;
    if (filters.empty()) {
      const std::size_t n = compressor->encode_into(raw, typesize, scratch);  // may move scratch
      return {scratch.data(), n};
    }
    scratch = encode(raw, typesize);
    return scratch;
  }

  std::vector<std::byte> encode(std::span<const std::byte> raw, std::size_t typesize) const {
    if (filters.empty()) {
      return compressor ? compressor->encode(raw, typesize)
                        : std::vector<std::byte>(raw.begin(), raw.end());
    }
    std::vector<std::byte> bytes = filters[0]->encode(raw, typesize);
    for (std::size_t i = 1; i < filters.size(); ++i)
      bytes = filters[i]->encode(bytes, typesize);
    if (compressor) bytes = compressor->encode(bytes, typesize);
    return bytes;
  }
};

}  // namespace tessera::io::detail
