// crc32c (Zarr v3 bytes-to-bytes codec): the CRC-32C (Castagnoli) of the bytes appended as 4
// little-endian bytes; decoding checks and strips it. Also the check of sharding_indexed's index.
// The shard reader calls crc32c(), which links this file and so its registration.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"

namespace tessera::io::detail {
namespace {

// Slicing-by-one table of the reflected Castagnoli polynomial 0x82F63B78.
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1U) != 0 ? 0x82F63B78U ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kTable = make_table();

class Crc32cCodec final : public ZarrCodec {
 public:
  [[nodiscard]] Json config() const override { return Json{{"id", "crc32c"}}; }
  [[nodiscard]] std::vector<std::byte> encode(std::span<const std::byte> raw,
                                              std::size_t /*typesize*/) const override {
    std::vector<std::byte> out(raw.begin(), raw.end());
    const std::uint32_t c = crc32c(raw);
    for (int k = 0; k < 4; ++k)
      out.push_back(static_cast<std::byte>((c >> (8 * k)) & 0xFFU));
    return out;
  }
  void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const override {
    const std::span<const std::byte> body = checked(encoded);
    if (body.size() != out.size()) {
      throw FormatError("crc32c: " + std::to_string(body.size()) + " bytes, expected " +
                        std::to_string(out.size()));
    }
    std::memcpy(out.data(), body.data(), body.size());
  }
  [[nodiscard]] std::vector<std::byte> decode(std::span<const std::byte> encoded,
                                              std::size_t limit) const override {
    const std::span<const std::byte> body = checked(encoded);
    if (body.size() > limit) throw FormatError("crc32c: data larger than the limit");
    return {body.begin(), body.end()};
  }

 private:
  static std::span<const std::byte> checked(std::span<const std::byte> encoded) {
    if (encoded.size() < 4) throw FormatError("crc32c: fewer than the 4 checksum bytes");
    const std::span<const std::byte> body = encoded.first(encoded.size() - 4);
    std::uint32_t stored = 0;
    for (int k = 0; k < 4; ++k)
      stored |= std::to_integer<std::uint32_t>(encoded[body.size() + static_cast<std::size_t>(k)])
                << (8 * k);
    if (stored != crc32c(body)) throw FormatError("crc32c: checksum mismatch (damaged data)");
    return body;
  }
};

struct Registration {
  Registration() {
    register_codec("crc32c", [](const Json&) { return std::make_unique<Crc32cCodec>(); });
  }
};
const Registration registration;

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> data) {
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::byte b : data)
    c = kTable[(c ^ std::to_integer<std::uint32_t>(b)) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

}  // namespace tessera::io::detail
