// Zip stores (".zarr.zip"): a Zarr store packed into one zip archive, keys at the archive root,
// as zarr.ZipStore writes them and as anndata and scanpy ship datasets. Reading goes through
// libzip (stored, deflated and whatever else it decompresses; ZIP64); writing packs a finished
// Zarr directory into an archive whose entries are all stored (uncompressed), as such archives
// are, so that a chunk is a byte range of the archive.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/io/key_value_store.hpp"

namespace tessera::io {

namespace detail {
struct ZipArchive;  // the open libzip handle (zip_store.cpp)
}  // namespace detail

// A zip archive read as a read-only key-value store. Opening reads the central directory once
// and checks every entry name (no "..", ".", empty segments, absolute names or backslashes:
// FormatError naming the archive and the entry); the last entry of a name wins, as the rewritten
// keys of zarr.ZipStore archives want. An archive whose keys all sit in one top-level folder
// ("pbmc.zarr/...") is refused with a FormatError telling how to re-zip it. Reading a value
// checks its size against the declared one and its CRC: a damaged entry is a FormatError naming
// it; a declared size beyond what the archive could hold is refused before anything is
// allocated. set/erase throw IoError. Safe to call from several threads at once (libzip is
// called under one mutex: one reader per archive and process).
class ZipStore final : public KeyValueStore {
 public:
  // IoError when `archive` cannot be opened; FormatError when it is not a zip archive, is
  // damaged, or holds an unsafe entry name.
  explicit ZipStore(std::filesystem::path archive);
  ~ZipStore() override;
  ZipStore(const ZipStore&) = delete;
  ZipStore& operator=(const ZipStore&) = delete;

  [[nodiscard]] std::optional<Bytes> get(std::string_view key) const override;
  [[nodiscard]] bool contains(std::string_view key) const override;
  [[nodiscard]] std::optional<std::uint64_t> size_of(std::string_view key) const override;
  [[nodiscard]] std::optional<Bytes> get_range(std::string_view key, std::uint64_t offset,
                                               std::uint64_t length) const override;
  void set(std::string_view key, std::span<const std::byte> value) override;
  bool erase(std::string_view key) override;
  void erase_prefix(std::string_view prefix) override;
  [[nodiscard]] std::vector<std::string> list(std::string_view prefix) const override;
  // "/data/pbmc.zarr.zip/obs/.zattrs": the archive's path, then the key.
  [[nodiscard]] std::string describe(std::string_view key) const override;

  [[nodiscard]] const std::filesystem::path& archive() const { return archive_; }

 private:
  struct Entry {
    std::uint64_t index;  // libzip's entry index (the last entry of this name)
    std::uint64_t size;   // declared uncompressed size
    bool stored;          // uncompressed: byte ranges can be read by seeking
  };
  [[nodiscard]] const Entry* find(std::string_view key) const;
  [[nodiscard]] Bytes read(std::string_view key, const Entry& entry, std::uint64_t offset,
                           std::uint64_t length) const;

  std::filesystem::path archive_;
  std::uint64_t archive_bytes_ = 0;
  std::map<std::string, Entry, std::less<>> entries_;
  mutable std::mutex mutex_;  // libzip handles are not thread-safe
  std::unique_ptr<detail::ZipArchive> zip_;
};

// Packs the Zarr store in directory `dir` into the zip archive `archive`: one entry per file,
// named by its path relative to `dir` ("obs/.zattrs"), every entry stored (no compression), ZIP64
// where sizes or counts need it, in sorted order. The archive is written under a temporary
// sibling name and renamed into place (an existing file or folder at `archive` is replaced), so
// a failure leaves nothing at `archive`. IoError naming the file on any failure.
void pack_zip_store(const std::filesystem::path& dir, const std::filesystem::path& archive);

// Whether `path` names a zip store: its name ends with ".zarr.zip" (a bare ".zip" says nothing
// about what the archive holds, so it is not taken for one).
[[nodiscard]] bool is_zip_store_path(const std::filesystem::path& path);

}  // namespace tessera::io
