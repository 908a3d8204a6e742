// Zarr v2 on a key-value store: a store maps '/'-separated keys ("obs/.zattrs", "X/0.1") to bytes,
// and a Zarr group (tessera::io::Group) is a store plus a key prefix. Directory stores keep one
// file per key under a root folder; memory stores keep everything in a map (tests, scratch data).
//
// Keys can never leave the store: every key is checked (no "..", ".", empty segments, absolute
// paths, backslashes or NUL) before it reaches the file system.
//
// Parallel writers (design card §4): one rank creates the groups and arrays (.zgroup, .zarray,
// .zattrs); then every rank opens the same directory and writes its own blocks with write() or
// write_blocks(). A block covering whole chunks (ending at the array's edge counts) is encoded
// and written without reading anything, so ranks whose blocks are chunk-aligned never touch the
// same chunk file. A block covering part of a chunk reads, updates and rewrites that chunk: two
// ranks doing so to the same chunk at once would race, so unaligned blocks must not share chunks.
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

#include "tessera/io/storage.hpp"

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

// Zarr specifics of the Group these return: children are named by one path segment (no '/',
// '\\', NUL, ".", ".." or .z* metadata names: ValueError when writing, FormatError when reading);
// create_group opens a group that exists; create_array and write_strings replace an array of the
// same name (its chunks and attributes go); a group and an array never share a name. Numeric
// arrays are written little-endian with fill_value 0, strings as "|O" with the vlen-utf8 filter in
// one chunk (up to 2^20 strings per chunk). Reads accept what zarr-python 2 writes: either byte
// order, C or F order, '.' or '/' separators, "|O" (vlen-utf8/-bytes), "<U{n}" and "|S{n}" strings.

// Opens the Zarr group at `prefix` of `store` ("" is the root). FormatError naming the file when
// there is no .zgroup (a Zarr v3 store, with zarr.json, is named as such) or its zarr_format is
// not 2. `label` starts every path() and error message ("pbmc.zarr" gives "pbmc.zarr:/obs"). A
// group opened read-only throws IoError on any write.
std::unique_ptr<Group> open_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                 bool writable, const std::string& prefix = "");
// Writes the root .zgroup of `store` (Zarr v3: the root zarr.json) and nothing else, and opens it
// for writing. Zarr v3 groups write zarr.json nodes, chunk keys "c/i/j", and shard arrays created
// with ArrayMeta::shards.
std::unique_ptr<Group> create_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                   int zarr_format = 2);

// The Zarr group stored in directory `dir` (a DirectoryStore); IoError if `dir` is not a
// directory, FormatError as above.
std::unique_ptr<Group> open_zarr(const std::filesystem::path& dir, bool writable);
// Creates directory `dir` with a root .zgroup. An existing empty folder is used; an existing Zarr
// store (a folder holding .zgroup or .zarray) is emptied first only when `overwrite`; any other
// existing path is refused with IoError, so a mistyped path never loses unrelated files.
std::unique_ptr<Group> create_zarr(const std::filesystem::path& dir, bool overwrite = false,
                                   int zarr_format = 2);

// Gathers the metadata of the whole store into its root, as zarr-python's consolidate_metadata
// does (anndata >= 0.12 writes stores this way): Zarr v2 writes `.zmetadata` with every .zgroup,
// .zattrs and .zarray by key; Zarr v3 rewrites the root zarr.json with an inline
// "consolidated_metadata" holding every node's zarr.json by path. Readers opening the store
// read-only use it instead of each node's files (an array's own metadata still wins); a store
// opened for writing ignores it. FormatError when the store has no root group.
void consolidate_metadata(KeyValueStore& store);

// A new empty Zarr group in memory (a root .zgroup in a fresh MemoryStore), for tests and scratch.
// The store stays reachable through `store` when given.
std::unique_ptr<Group> memory_zarr(std::shared_ptr<MemoryStore>* store = nullptr);

}  // namespace tessera::io
