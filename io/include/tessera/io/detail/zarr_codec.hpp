// The Zarr codec registry: numcodecs' codecs by their "id" ("blosc", "zlib", "gzip", "zstd" turn
// bytes into bytes; "vlen-utf8" and "vlen-bytes" turn strings into bytes). Each codec is made from
// its JSON config, validated field by field, and gives its config back for .zarray.
//
// Every codec lives in io/src/zarr/codecs.cpp next to its registration, so adding one touches one
// file (and, the library being static, the registrations sit where the lookup is and are linked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/index.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// The largest decoded chunk Tessera handles (16 GiB; Blosc itself stops at 2 GiB, and writers
// use chunks of megabytes). Larger chunks are refused with FormatError before any allocation, so
// a few hostile bytes declaring a huge chunk cannot make the reader take the memory; decoding
// data of unknown size (strings) stops at the same bound.
inline constexpr std::size_t kMaxChunkBytes = std::size_t{1} << 34;
inline constexpr std::size_t kMaxUnsizedDecodeBytes = kMaxChunkBytes;

// A bytes-to-bytes codec (compressor or byte filter). Errors are FormatError (corrupt input) or
// ValueError (bad parameters when encoding); messages name the codec, not the path: callers add it.
class ZarrCodec {
 public:
  virtual ~ZarrCodec() = default;
  [[nodiscard]] virtual Json config() const = 0;
  // `typesize`: bytes per array element (Blosc shuffles by it; 1 for strings).
  [[nodiscard]] virtual std::vector<std::byte> encode(std::span<const std::byte> raw,
                                                      std::size_t typesize) const = 0;
  // The same into `out`, whose storage is reused (grown when too small, never shrunk): returns
  // the encoded size, the bytes being out[0, size). Writers encode chunk after chunk into one
  // buffer this way; fresh memory for every chunk (page faults and zeroing) can cost more than
  // the compression itself.
  virtual std::size_t encode_into(std::span<const std::byte> raw, std::size_t typesize,
                                  std::vector<std::byte>& out) const {
    out = encode(raw, typesize);
    return out.size();
  }
  // Decodes into exactly out.size() bytes; FormatError when the data is corrupt or decodes to any
  // other size (checked before decoding where the format says the size, as Blosc's header does).
  virtual void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const = 0;
  // Decodes data of unknown size, at most `limit` bytes.
  [[nodiscard]] virtual std::vector<std::byte> decode(std::span<const std::byte> encoded,
                                                      std::size_t limit) const = 0;
};

// A codec for arrays of strings (Zarr's object codecs, always the first filter of a "|O" array).
class ZarrObjectCodec {
 public:
  virtual ~ZarrObjectCodec() = default;
  [[nodiscard]] virtual Json config() const = 0;
  [[nodiscard]] virtual std::vector<std::byte> encode(
      std::span<const std::string> values) const = 0;
  // FormatError unless the data holds exactly `count` items, each inside the data.
  [[nodiscard]] virtual std::vector<std::string> decode(std::span<const std::byte> encoded,
                                                        index_t count) const = 0;
};

using CodecFactory = std::function<std::unique_ptr<ZarrCodec>(const Json& config)>;
using ObjectCodecFactory = std::function<std::unique_ptr<ZarrObjectCodec>(const Json& config)>;

// Registration (done by codecs.cpp for the built-in codecs; tests may add their own).
void register_codec(std::string id, CodecFactory factory);
void register_object_codec(std::string id, ObjectCodecFactory factory);

// The codec a JSON config names. FormatError naming the id when it is unknown (or of the other
// kind), or when a field has the wrong type or value, or when the config is not an object with a
// string "id".
std::unique_ptr<ZarrCodec> make_codec(const Json& config);
std::unique_ptr<ZarrObjectCodec> make_object_codec(const Json& config);
bool is_object_codec(const Json& config);

// The numcodecs compressor config of a Compression (null for none). ValueError for an unknown
// Blosc cname, a level or shuffle out of range.
Json compressor_config(const Compression& compression);

// CRC-32C (Castagnoli) of `data`, as Zarr v3's crc32c codec and shard indexes use it.
std::uint32_t crc32c(std::span<const std::byte> data);

// Strict UTF-8 check (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace tessera::io::detail
