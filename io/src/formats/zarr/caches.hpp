// What the groups opened from one store share: the buffers chunks are encoded into, and the
// metadata documents already read (node caches).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// Buffers that encoded chunks are built in, reused from chunk to chunk by every group opened from
// the same factory call, and freed with the last of them. On machines where the first touch of
// fresh memory is slow (this project's VM: page faults and zeroing), Blosc lz4 compresses a
// 128 MiB chunk at 2.5 GB/s into a buffer it used before and at about 1 GB/s into a new one.
class ChunkBufferPool {
 public:
  // A buffer from the pool (an empty one when there is none), handed back when `Held` ends.
  class Held {
   public:
    explicit Held(ChunkBufferPool& pool) : pool_(pool), bytes_(pool.take()) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() { pool_.give(std::move(bytes_)); }
    std::vector<std::byte>& bytes() { return bytes_; }

   private:
    ChunkBufferPool& pool_;
    std::vector<std::byte> bytes_;
  };

 private:
  // Buffers kept while not in use: one per thread writing at once, in practice one.
  static constexpr std::size_t kKept = 2;

  std::vector<std::byte> take() {
    const std::lock_guard lock(mutex_);
    if (free_.empty()) return {};
    std::vector<std::byte> b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::vector<std::byte> bytes) noexcept {
    try {
      const std::lock_guard lock(mutex_);
      if (free_.size() < kKept && !bytes.empty()) free_.push_back(std::move(bytes));
    } catch (...) {  // a buffer not kept is only freed
    }
  }

  std::mutex mutex_;
  std::vector<std::vector<std::byte>> free_;
};

// Zarr v3 node documents (zarr.json) of one store, by key, read once: from the root's
// consolidated metadata when it has some, else from each node's own file. An array's own file,
// when there is one, wins over its consolidated copy (consolidated metadata may be stale).
class NodeCache {
 public:
  struct Entry {
    std::optional<Json> doc;
    bool own = false;  // read from the node's own file (not consolidated)
  };
  std::optional<Entry> find(const std::string& key) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = nodes_.find(key);
    if (it == nodes_.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& key, Entry entry) {
    const std::lock_guard<std::mutex> lock(mutex_);
    nodes_[key] = std::move(entry);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Entry> nodes_;
};

}  // namespace tessera::io::detail
