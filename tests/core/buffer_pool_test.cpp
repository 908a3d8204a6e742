// BufferPool: a freed large buffer is handed to the next allocation of the same size (or up to an
// eighth smaller), never to a larger one or a much smaller one; small buffers bypass it; the pool
// never holds more than its budget; values written into a recycled buffer are the ones read back.
// Checked through Buffer::allocate, the way every chunk gets its storage.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/buffer_pool.hpp"
#include "tessera/core/chunk.hpp"

namespace tessera {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

bool recycling() {
  return BufferPool::instance().stats().budget >= 64 * kMiB;
}

TEST(BufferPool, ReusesAFreedBufferOfTheSameSize) {
  if (!recycling()) GTEST_SKIP() << "recycling is off (sanitizer build or TESSERA_BUFFER_POOL_MIB)";
  BufferPool& pool = BufferPool::instance();
  pool.release();
  const std::byte* first = nullptr;
  {
    const auto a = Buffer::allocate(8 * kMiB);
    first = a->data();
    std::memset(a->data(), 0x5a, a->size());
  }
  EXPECT_EQ(pool.stats().cached_bytes, 8 * kMiB);
  const auto before = pool.stats().reused;
  const auto b = Buffer::allocate(8 * kMiB - 100);  // same pages
  EXPECT_EQ(b->data(), first);
  EXPECT_EQ(b->size(), 8 * kMiB - 100);
  EXPECT_EQ(pool.stats().reused, before + 1);
  EXPECT_EQ(pool.stats().cached_bytes, 0U);
}

TEST(BufferPool, NeverHandsOutTooSmallOrFarTooLargeBuffers) {
  if (!recycling()) GTEST_SKIP() << "recycling is off";
  BufferPool& pool = BufferPool::instance();
  pool.release();
  const std::byte* old = nullptr;
  {
    const auto a = Buffer::allocate(4 * kMiB);
    old = a->data();
  }
  {
    // Larger than the cached one: a fresh mapping, and the cached one stays.
    const auto bigger = Buffer::allocate(5 * kMiB);
    EXPECT_NE(bigger->data(), old);
    // Half its size: 4 MiB would waste more than an eighth.
    const auto half = Buffer::allocate(2 * kMiB);
    EXPECT_NE(half->data(), old);
    // An eighth smaller fits.
    const auto close = Buffer::allocate(4 * kMiB - kMiB / 4);
    EXPECT_EQ(close->data(), old);
  }
  // Below kMinBytes nothing goes through the pool.
  pool.release();
  { const auto small = Buffer::allocate(BufferPool::kMinBytes / 2); }
  EXPECT_EQ(pool.stats().cached_bytes, 0U);
}

TEST(BufferPool, StaysWithinItsBudget) {
  if (!recycling()) GTEST_SKIP() << "recycling is off";
  BufferPool& pool = BufferPool::instance();
  pool.release();
  const std::size_t budget = pool.stats().budget;
  const std::size_t each = 32 * kMiB;
  const std::size_t count = budget / each + 3;
  {
    std::vector<std::shared_ptr<Buffer>> held;
    for (std::size_t n = 0; n < count; ++n)
      held.push_back(Buffer::allocate(each));
  }
  // All were freed; only what fits the budget is kept.
  EXPECT_LE(pool.stats().cached_bytes, budget);
  EXPECT_EQ(pool.stats().cached_bytes, budget / each * each);
  pool.release();
  EXPECT_EQ(pool.stats().cached_bytes, 0U);
}

TEST(BufferPool, RecycledChunksHoldTheirOwnValues) {
  // A generated array whose 2 MiB chunks are computed, reduced and freed one after another on
  // several threads, so later chunks reuse earlier chunks' buffers: every value must be the
  // chunk's own (compared with random_value, which needs no buffer).
  const Shape shape{1024, 2048};
  const Array x = random(shape, ChunkSpec{128, 2048}, 7);  // 2 MiB chunks
  for (int round = 0; round < 3; ++round) {
    const Chunk sums = (x * 2.0).sum(1).compute();
    for (const index_t r : {index_t{0}, index_t{127}, index_t{128}, index_t{1023}}) {
      double want = 0;
      for (index_t c = 0; c < shape.cols; ++c)
        want += 2.0 * random_value(7, shape, r, c);
      EXPECT_NEAR(sums.value_at(r, 0), want, 1e-9 * want) << "row " << r;
    }
    const Chunk whole = x.compute();
    EXPECT_EQ(whole.value_at(1000, 2000), random_value(7, shape, 1000, 2000));
  }
}

TEST(BufferPool, ConcurrentTakeAndGive) {
  BufferPool& pool = BufferPool::instance();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int n = 0; n < 50; ++n) {
        const auto b = Buffer::allocate((2 + static_cast<std::size_t>((t + n) % 3)) * kMiB);
        std::memset(b->data(), t, b->size());
        for (std::size_t k = 0; k < b->size(); k += 4096)
          ASSERT_EQ(b->data()[k], static_cast<std::byte>(t));
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_LE(pool.stats().cached_bytes, pool.stats().budget);
}

}  // namespace
}  // namespace tessera
