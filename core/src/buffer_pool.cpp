#include "tessera/core/buffer_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <list>
#include <mutex>
#include <new>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // keep ASan's view of every allocation: no recycling
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

std::size_t default_budget() {
  if (const char* env = std::getenv("TESSERA_BUFFER_POOL_MIB"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long long mib = std::strtoll(env, &end, 10);
    if (end == env || *end != '\0' || mib < 0 || mib > (1LL << 30)) {
      throw ValueError("TESSERA_BUFFER_POOL_MIB must be a whole number of MiB, got '" +
                       std::string(env) + "'");
    }
    return static_cast<std::size_t>(mib) << 20;
  }
  std::size_t budget = std::size_t{1} << 30;
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) {
    budget = std::min(budget, static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 8);
  }
  return budget;
}

std::size_t page_size() {
  static const std::size_t size = [] {
    const long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
  }();
  return size;
}

// Whole pages straight from the kernel (what malloc does for these sizes anyway).
std::byte* map(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<std::byte*>(p);
}

void unmap(std::byte* p, std::size_t bytes) {
  munmap(p, bytes);
}

}  // namespace

struct BufferPool::State {
  struct Entry {
    std::byte* data;
    std::size_t capacity;
  };
  mutable std::mutex mutex;
  std::list<Entry> cached;  // most recently freed first
  Stats stats;

  void give(std::byte* data, std::size_t capacity) {
    std::list<Entry> evicted;
    {
      std::lock_guard lock(mutex);
      if (capacity <= stats.budget) {
        cached.push_front({data, capacity});
        stats.cached_bytes += capacity;
        while (stats.cached_bytes > stats.budget) {
          stats.cached_bytes -= cached.back().capacity;
          evicted.splice(evicted.begin(), cached, std::prev(cached.end()));
        }
        data = nullptr;
      }
    }
    if (data != nullptr) unmap(data, capacity);
    for (const Entry& e : evicted)
      unmap(e.data, e.capacity);
  }
};

BufferPool::BufferPool() : state_(new State) {
  state_->stats.budget = kSanitized ? 0 : default_budget();
}

BufferPool& BufferPool::instance() {
  static BufferPool* pool = new BufferPool;  // never destroyed, see state_
  return *pool;
}

std::shared_ptr<std::byte> BufferPool::take(std::size_t bytes) {
  if (kSanitized) {
    return {static_cast<std::byte*>(::operator new(bytes)),
            [](std::byte* p) { ::operator delete(p); }};
  }
  const std::size_t capacity = (bytes + page_size() - 1) / page_size() * page_size();
  State* state = state_;
  std::byte* data = nullptr;
  std::size_t found = 0;
  {
    std::lock_guard lock(state->mutex);
    // The most recently freed buffer that fits without wasting more than an eighth.
    for (auto it = state->cached.begin(); it != state->cached.end(); ++it) {
      if (it->capacity >= capacity && it->capacity - capacity <= capacity / 8) {
        data = it->data;
        found = it->capacity;
        state->stats.cached_bytes -= found;
        state->cached.erase(it);
        break;
      }
    }
    ++(data != nullptr ? state->stats.reused : state->stats.fresh);
  }
  if (data == nullptr) {
    found = capacity;
    data = map(capacity);
  }
  return {data, [state, found](std::byte* p) { state->give(p, found); }};
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

void BufferPool::release() {
  std::list<State::Entry> all;
  {
    std::lock_guard lock(state_->mutex);
    all.swap(state_->cached);
    state_->stats.cached_bytes = 0;
  }
  for (const State::Entry& e : all)
    unmap(e.data, e.capacity);
}

}  // namespace tessera
