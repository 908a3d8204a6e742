#include "io_bench_common.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <system_error>
#include <thread>

#include "tessera/core/error.hpp"

namespace tessera::bench {

namespace fs = std::filesystem;

double since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int iterations_from_env(const char* variable, int fallback) {
  const char* env = std::getenv(variable);
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : fallback;
}

fs::path work_dir(const char* variable, const char* fallback) {
  const char* env = std::getenv(variable);
  return fs::absolute(env != nullptr && *env != '\0' ? fs::path(env) : fs::path(fallback));
}

void sleeping_barrier(const Comm& comm, const char* hint) {
  Comm::Request barrier = comm.ibarrier(hint);
  while (!barrier.test())
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

double slowest(const Context& ctx, double seconds, const char* hint) {
  sleeping_barrier(ctx.comm(), hint);
  return ctx.comm().all_reduce_max(seconds, hint);
}

std::string errno_text() {
  return std::error_code(errno, std::generic_category()).message();
}

Fd::Fd(const fs::path& path, int flags) : fd_(::open(path.c_str(), flags | O_CLOEXEC, 0644)) {
  if (fd_ < 0) throw IoError(path.string() + ": open: " + errno_text());
}

Fd::~Fd() {
  ::close(fd_);
}

void fsync_one(const fs::path& path) {
  const Fd fd(path, O_RDONLY);
  if (::fsync(fd.get()) != 0) throw IoError(path.string() + ": fsync: " + errno_text());
}

void fsync_tree(const fs::path& path) {
  if (fs::is_directory(path)) {
    for (const auto& entry : fs::recursive_directory_iterator(path))
      fsync_one(entry.path());
  }
  fsync_one(path);
  fsync_one(path.parent_path());
}

void remove_path(const fs::path& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

bool drop_caches() {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << "3\n";
  out.flush();
  return static_cast<bool>(out);
}

void write_all(int fd, const std::byte* data, std::size_t bytes, off_t offset,
               const fs::path& path) {
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, data, bytes, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError(path.string() + ": pwrite: " + errno_text());
    data += n;
    bytes -= static_cast<std::size_t>(n);
    offset += n;
  }
}

void read_all(int fd, std::byte* data, std::size_t bytes, off_t offset, const fs::path& path) {
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, data, bytes, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw IoError(path.string() + ": pread: " + errno_text());
    data += n;
    bytes -= static_cast<std::size_t>(n);
    offset += n;
  }
}

WriteTimes slowest_write(const Context& ctx, WriteTimes mine) {
  sleeping_barrier(ctx.comm(), "io bench: waiting for the slowest rank");
  return {ctx.comm().all_reduce_max(mine.cache_s, "io bench: slowest rank (cache)"),
          ctx.comm().all_reduce_max(mine.durable_s, "io bench: slowest rank (durable)")};
}

WriteTimes durable_write(const Context& ctx, const fs::path& path,
                         const std::function<void()>& write) {
  if (ctx.rank() == 0) remove_path(path);
  ctx.comm().barrier("io bench: starting together");
  const auto start = Clock::now();
  write();
  WriteTimes t;
  t.cache_s = since(start);
  if (ctx.rank() == 0) fsync_tree(path);
  ctx.comm().barrier("io bench: durable");
  t.durable_s = since(start);
  return slowest_write(ctx, t);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double minimum(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

double maximum(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

bool agree_ok(benchmark::State& state, const Context& ctx, const std::string& error) {
  const std::uint64_t failed =
      ctx.comm().all_reduce_max(std::uint64_t{error.empty() ? 0U : 1U}, "io bench: check");
  if (failed == 0) return true;
  state.SkipWithError(error.empty() ? "the check failed on another rank" : error.c_str());
  return false;
}

}  // namespace tessera::bench
