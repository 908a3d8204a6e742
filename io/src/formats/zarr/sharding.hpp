// Zarr v3 sharding (`sharding_indexed`): a shard is one stored object holding inner chunks end to
// end plus an index of (offset, nbytes) little-endian uint64 pairs, one per inner chunk in C
// order (all ones: empty), at the start or the end, followed by its crc32c when the index codecs
// say so. Reading takes the index by byte range and then only the inner chunks wanted; writing
// assembles a whole shard at once (each shard has exactly one writer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tessera/io/detail/zarr_metadata.hpp"
#include "tessera/io/key_value_store.hpp"

namespace tessera::io::detail {

// The index of one stored shard, read and checked (its size, its crc32c).
class ShardIndex {
 public:
  // The index of the shard at `key` (nullopt: no such shard, every inner chunk is fill).
  // FormatError naming the shard when it cannot hold its index or the index fails its crc32c.
  static std::optional<ShardIndex> read(const KeyValueStore& store, const std::string& key,
                                        const ZarrArraySpec& spec);

  // Where inner chunk `entry` (C order within the shard) lies: (offset, nbytes), nullopt when it
  // is empty. FormatError when the entry points outside the shard's data.
  [[nodiscard]] std::optional<std::pair<std::uint64_t, std::uint64_t>> range(
      std::size_t entry) const;

 private:
  std::vector<std::uint64_t> entries_;  // offset, nbytes, offset, nbytes, ...
  std::uint64_t data_begin_ = 0, data_end_ = 0;
  std::string where_;
};

// Inner chunks per shard along rows and columns.
std::pair<std::int64_t, std::int64_t> inner_per_shard(const ZarrArraySpec& spec);

// Builds one shard: add the inner chunks in C order (skip() for those outside the array), then
// finish() gives the object to store, the index at the end with its crc32c (what to_json_v3
// declares). The shard is assembled in `storage`, cleared and reserved for `expected_bytes` (the
// raw shard plus its index): a pooled buffer reused shard after shard, because a fresh vector
// grown chunk by chunk was reallocated and page-faulted about twice per shard (docs/benchmarks.md,
// "Zarr v3 sharded vs v2").
class ShardBuilder {
 public:
  ShardBuilder(std::vector<std::byte>& storage, std::size_t expected_bytes);
  void add(std::span<const std::byte> encoded);
  void skip();
  // The whole shard, in `storage` (valid until it is changed).
  [[nodiscard]] std::span<const std::byte> finish();

 private:
  std::vector<std::byte>& object_;
  std::vector<std::uint64_t> index_;
};

}  // namespace tessera::io::detail
