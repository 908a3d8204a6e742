#include "formats/zarr/sharding.hpp"

#include "formats/zarr/chunk_layout.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"

namespace tessera::io::detail {
namespace {

constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

std::uint64_t u64_at(std::span<const std::byte> bytes, std::size_t at) {
  std::uint64_t v = 0;
  for (int k = 0; k < 8; ++k)
    v |= std::to_integer<std::uint64_t>(bytes[at + static_cast<std::size_t>(k)]) << (8 * k);
  return v;
}

void put_le(std::vector<std::byte>& out, std::uint64_t v, int bytes) {
  for (int b = 0; b < bytes; ++b)
    out.push_back(static_cast<std::byte>((v >> (8 * b)) & 0xFFU));
}

}  // namespace

std::pair<std::int64_t, std::int64_t> inner_per_shard(const ZarrArraySpec& spec) {
  const Dims inner = dims_of(spec.chunks);
  const Dims outer = dims_of(spec.shard);
  return {outer.rows / inner.rows, outer.cols / inner.cols};
}

std::optional<ShardIndex> ShardIndex::read(const KeyValueStore& store, const std::string& key,
                                           const ZarrArraySpec& spec) {
  const std::optional<std::uint64_t> size = store.size_of(key);
  if (!size) return std::nullopt;
  const auto [per_rows, per_cols] = inner_per_shard(spec);
  const auto entries = static_cast<std::uint64_t>(per_rows * per_cols);
  const std::uint64_t index_bytes = 16 * entries + (spec.index_checksum ? 4 : 0);
  ShardIndex out;
  out.where_ = store.describe(key);
  if (*size < index_bytes) {
    throw FormatError("zarr: " + out.where_ + ": a shard of " + std::to_string(*size) +
                      " bytes cannot hold its index of " + std::to_string(index_bytes));
  }
  const std::uint64_t index_at = spec.index_at_end ? *size - index_bytes : 0;
  const std::optional<Bytes> index = store.get_range(key, index_at, index_bytes);
  if (!index || index->size() != index_bytes)
    throw FormatError("zarr: " + out.where_ + ": the shard index cannot be read whole");
  if (spec.index_checksum) {
    const auto body = std::span<const std::byte>(*index).first(index_bytes - 4);
    std::uint32_t stored = 0;
    for (int k = 0; k < 4; ++k)
      stored |=
          std::to_integer<std::uint32_t>((*index)[index_bytes - 4 + static_cast<std::size_t>(k)])
          << (8 * k);
    if (stored != crc32c(body))
      throw FormatError("zarr: " + out.where_ + ": the shard index fails its crc32c check");
  }
  out.entries_.resize(2 * entries);
  for (std::size_t i = 0; i < out.entries_.size(); ++i)
    out.entries_[i] = u64_at(*index, 8 * i);
  out.data_begin_ = spec.index_at_end ? 0 : index_bytes;
  out.data_end_ = spec.index_at_end ? index_at : *size;
  return out;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> ShardIndex::range(std::size_t entry) const {
  const std::uint64_t offset = entries_.at(2 * entry), nbytes = entries_.at(2 * entry + 1);
  if (offset == kEmpty && nbytes == kEmpty) return std::nullopt;
  if (offset < data_begin_ || offset > data_end_ || nbytes > data_end_ - offset) {
    throw FormatError("zarr: " + where_ + ": the shard index points inner chunk " +
                      std::to_string(entry) + " at bytes " + std::to_string(offset) + "+" +
                      std::to_string(nbytes) + ", outside the shard's data");
  }
  return std::pair{offset, nbytes};
}

ShardBuilder::ShardBuilder(std::vector<std::byte>& storage, std::size_t expected_bytes)
    : object_(storage) {
  object_.clear();
  object_.reserve(expected_bytes);
}

void ShardBuilder::add(std::span<const std::byte> encoded) {
  index_.push_back(object_.size());
  index_.push_back(encoded.size());
  object_.insert(object_.end(), encoded.begin(), encoded.end());
}

void ShardBuilder::skip() {
  index_.push_back(kEmpty);
  index_.push_back(kEmpty);
}

std::span<const std::byte> ShardBuilder::finish() {
  const std::size_t tail_at = object_.size();
  for (const std::uint64_t v : index_)
    put_le(object_, v, 8);
  const std::uint32_t crc = crc32c(std::span<const std::byte>(object_).subspan(tail_at));
  put_le(object_, crc, 4);
  index_.clear();
  return object_;
}

}  // namespace tessera::io::detail
