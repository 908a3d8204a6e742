// BufferPool: large chunk buffers are recycled. glibc maps every allocation above its mmap
// threshold (32 MiB at most) afresh and unmaps it when freed, so every new 128 MiB chunk
// page-faults on first touch, which runs at about 2.2 GiB/s on the benchmark VM: a quarter of a
// generated reduction's time. Buffer::allocate takes buffers of at least kMinBytes from here; a
// freed one is kept (up to a byte budget, oldest dropped first) and handed to the next allocation
// of the same size, or up to 1/8 smaller. Contents are stale, as fresh buffers' are undefined:
// writers fill every byte they publish.
#pragma once

#include <cstddef>
#include <memory>

namespace tessera {

class BufferPool {
 public:
  static constexpr std::size_t kMinBytes = std::size_t{1} << 20;

  struct Stats {
    std::size_t cached_bytes = 0;  // freed bytes held for reuse now
    std::size_t budget = 0;        // the most it holds
    std::size_t reused = 0;        // allocations served from the pool, since the process started
    std::size_t fresh = 0;         // pooled-size allocations that had to map new memory
  };

  // The process's pool. The budget is TESSERA_BUFFER_POOL_MIB (0 turns recycling off), else
  // 1 GiB or an eighth of physical memory, whichever is smaller.
  static BufferPool& instance();

  // At least `bytes` bytes (bytes >= kMinBytes), released back here when the last owner lets go.
  std::shared_ptr<std::byte> take(std::size_t bytes);
  [[nodiscard]] Stats stats() const;
  // Returns every cached buffer to the system.
  void release();

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

 private:
  BufferPool();
  ~BufferPool() = default;
  struct State;
  State* state_;  // never freed: buffers may come back during static destruction
};

}  // namespace tessera
