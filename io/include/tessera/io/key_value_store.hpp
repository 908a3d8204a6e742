// The byte stores under Zarr (the storage floor of io/): a store maps '/'-separated keys
// ("obs/.zattrs", "X/c/0/1") to bytes. Directory stores keep one file per key under a root
// folder; memory stores keep everything in a map (tests, scratch data); zip stores
// (zip_store.hpp) read an archive. Nothing here knows arrays or AnnData.
//
// Keys can never leave the store: every key is checked (no "..", ".", empty segments, absolute
// paths, backslashes or NUL) before it reaches the file system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::io {

using Bytes = std::vector<std::byte>;

// The small interface the Zarr format code sits on (tensorstore's kvstore). Implementations are
// safe to call from several threads at once. Keys are validated with check_store_key; an invalid
// key throws ValueError naming it.
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;

  // The value of `key`, or nullopt when there is none.
  [[nodiscard]] virtual std::optional<Bytes> get(std::string_view key) const = 0;
  [[nodiscard]] virtual bool contains(std::string_view key) const { return get(key).has_value(); }
  // The size of the value of `key`, or nullopt when there is none.
  [[nodiscard]] virtual std::optional<std::uint64_t> size_of(std::string_view key) const;
  // `length` bytes of the value of `key` from `offset` (Zarr v3 shards are read by range: the
  // index, then each inner chunk needed). FormatError when the range is not inside the value;
  // nullopt when there is no value. The default reads the whole value.
  [[nodiscard]] virtual std::optional<Bytes> get_range(std::string_view key, std::uint64_t offset,
                                                       std::uint64_t length) const;
  virtual void set(std::string_view key, std::span<const std::byte> value) = 0;
  // Removes one key; false when it did not exist.
  virtual bool erase(std::string_view key) = 0;
  // Removes every key below `prefix` + "/" (and `prefix` itself); prefix "" clears the store.
  virtual void erase_prefix(std::string_view prefix) = 0;
  // Names of the direct children of the folder `prefix` ("" is the root), sorted: the next path
  // segment of every key below it, once each. `list("obs")` of keys "obs/.zgroup" and
  // "obs/batch/.zarray" is {".zgroup", "batch"}.
  [[nodiscard]] virtual std::vector<std::string> list(std::string_view prefix) const = 0;
  // Where `key` lives, for error messages ("/data/pbmc.zarr/obs/.zattrs", "<memory>/obs/.zattrs").
  [[nodiscard]] virtual std::string describe(std::string_view key) const = 0;
};

// Throws ValueError unless `key` is a valid store key: '/'-separated non-empty segments, none of
// them "." or "..", no leading '/', no backslash or NUL. `allow_empty` admits "" (the root folder).
void check_store_key(std::string_view key, bool allow_empty = false);

// One file per key below `root`; "a/b/c" is the file root/a/b/c (folders made on demand). Writes
// go straight to the key's file: concurrent writers (ranks) must write different keys.
class DirectoryStore final : public KeyValueStore {
 public:
  explicit DirectoryStore(std::filesystem::path root);

  [[nodiscard]] std::optional<Bytes> get(std::string_view key) const override;
  [[nodiscard]] bool contains(std::string_view key) const override;
  [[nodiscard]] std::optional<std::uint64_t> size_of(std::string_view key) const override;
  [[nodiscard]] std::optional<Bytes> get_range(std::string_view key, std::uint64_t offset,
                                               std::uint64_t length) const override;
  void set(std::string_view key, std::span<const std::byte> value) override;
  bool erase(std::string_view key) override;
  void erase_prefix(std::string_view prefix) override;
  [[nodiscard]] std::vector<std::string> list(std::string_view prefix) const override;
  [[nodiscard]] std::string describe(std::string_view key) const override;

  [[nodiscard]] const std::filesystem::path& root() const { return root_; }

 private:
  [[nodiscard]] std::filesystem::path file_of(std::string_view key) const;
  std::filesystem::path root_;
};

// Everything in memory, behind a reader-writer lock.
class MemoryStore final : public KeyValueStore {
 public:
  [[nodiscard]] std::optional<Bytes> get(std::string_view key) const override;
  [[nodiscard]] bool contains(std::string_view key) const override;
  void set(std::string_view key, std::span<const std::byte> value) override;
  bool erase(std::string_view key) override;
  void erase_prefix(std::string_view prefix) override;
  [[nodiscard]] std::vector<std::string> list(std::string_view prefix) const override;
  [[nodiscard]] std::string describe(std::string_view key) const override;

  // Every key, sorted (tests).
  [[nodiscard]] std::vector<std::string> keys() const;

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, Bytes, std::less<>> values_;
};

}  // namespace tessera::io
