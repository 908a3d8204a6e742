// Threads per rank (default_threads_per_rank, LocalExecutor::default_threads): taken from the CPUs
// each process may run on, each CPU divided among the node's ranks that may run on it too. Every
// rank pins its main thread to hand-chosen CPU sets (sched_setaffinity), and the expected thread
// counts are worked out by hand for each set; the original affinity is restored afterwards.
// TESSERA_THREADS overrides the count. Runs serially and at 1-4 ranks on one node.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/core/local_executor.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera {
namespace {

using testing::all_ranks;

// The calling thread's CPU set, to restore.
cpu_set_t current_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  return set;
}

// Pins the calling thread to `cpus`; false if the system refuses (a CPU outside the cpuset).
bool pin(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus)
    CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

// Restores the affinity and TESSERA_THREADS when a test ends, whatever it asserted.
class Restore {
 public:
  Restore() : affinity_(current_affinity()) {
    if (const char* env = std::getenv("TESSERA_THREADS")) threads_ = env;
    ::unsetenv("TESSERA_THREADS");
  }
  ~Restore() {
    sched_setaffinity(0, sizeof(affinity_), &affinity_);
    if (threads_) {
      ::setenv("TESSERA_THREADS", threads_->c_str(), 1);
    } else {
      ::unsetenv("TESSERA_THREADS");
    }
  }
  Restore(const Restore&) = delete;
  Restore& operator=(const Restore&) = delete;

 private:
  cpu_set_t affinity_;
  std::optional<std::string> threads_;
};

// The machine's CPUs 0 .. k-1 (all online here: a test VM without CPU holes).
int machine_cpus() {
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

// Ranks of this node: every rank of the test (ctest starts them on one machine); 1 when serial.
int node_ranks(const Context& ctx) {
  return ctx.comm().is_serial() ? 1 : ctx.comm().split_node("test: node ranks").size();
}

TEST(Threads, AllowedCpusFollowTheAffinity) {
  const Restore restore;
  const int k = machine_cpus();
  bool ok = pin({k - 1});
  ok = ok && LocalExecutor::allowed_cpus() == std::vector<int>{k - 1} &&
       LocalExecutor::default_threads() == 1 && LocalExecutor(0).threads() == 1;
  std::vector<int> every(static_cast<std::size_t>(k));
  for (int c = 0; c < k; ++c)
    every[static_cast<std::size_t>(c)] = c;
  ok = ok && pin(every) && LocalExecutor::allowed_cpus() == every &&
       LocalExecutor::default_threads() == k;
  ::setenv("TESSERA_THREADS", "3", 1);
  ok = ok && LocalExecutor::default_threads() == 3;
  EXPECT_TRUE(all_ranks(ok));
}

TEST(Threads, RanksOnOneSharedCpuGetOneThreadEach) {
  const Restore restore;
  const Context& ctx = testing::context();
  const bool pinned = all_ranks(pin({0}));
  ASSERT_TRUE(pinned) << "CPU 0 is not available";
  // One CPU among n ranks: 1/n each, never less than one thread.
  EXPECT_TRUE(all_ranks(default_threads_per_rank(ctx.comm()) == 1));
}

TEST(Threads, UnboundRanksSplitTheMachine) {
  const Restore restore;
  const Context& ctx = testing::context();
  const int k = machine_cpus();
  std::vector<int> every(static_cast<std::size_t>(k));
  for (int c = 0; c < k; ++c)
    every[static_cast<std::size_t>(c)] = c;
  ASSERT_TRUE(all_ranks(pin(every)));
  // Like --bind-to none: every rank may run anywhere, so k CPUs over n ranks.
  const int n = node_ranks(ctx);
  const int expected = std::max(1, k / n);
  const int got = default_threads_per_rank(ctx.comm());
  EXPECT_TRUE(all_ranks(got == expected))
      << "rank " << ctx.rank() << ": " << got << " threads, " << expected << " expected (" << k
      << " CPUs, " << n << " ranks)";
  // A Context built the default way agrees; TESSERA_THREADS overrides it.
  const Context fresh(Comm::world());
  EXPECT_TRUE(all_ranks(fresh.threads() == expected));
  ::setenv("TESSERA_THREADS", "3", 1);
  const Context overridden(Comm::world());
  EXPECT_TRUE(all_ranks(overridden.threads() == 3));
}

TEST(Threads, BoundRanksKeepTheirOwnCpus) {
  const Restore restore;
  const Context& ctx = testing::context();
  const int k = machine_cpus();
  const int n = node_ranks(ctx);
  // Like mpirun's default binding: rank r on CPU r mod k. A CPU that no other rank shares is
  // this rank's alone; with more ranks than CPUs some share, and keep one thread anyway.
  ASSERT_TRUE(all_ranks(pin({ctx.rank() % k})));
  EXPECT_TRUE(all_ranks(default_threads_per_rank(ctx.comm()) == 1));
  if (k < 2) return;
  // Rank 0 on CPUs 0 and 1, every other rank on CPU 1 only: rank 0 has CPU 0 to itself and a
  // 1/n share of CPU 1 (one thread at n >= 2, two alone); the others share CPU 1 (one thread).
  ASSERT_TRUE(all_ranks(ctx.rank() == 0 ? pin({0, 1}) : pin({1})));
  const int expected = ctx.rank() == 0 ? (n == 1 ? 2 : 1) : 1;
  const int got = default_threads_per_rank(ctx.comm());
  EXPECT_TRUE(all_ranks(got == expected))
      << "rank " << ctx.rank() << ": " << got << " threads, " << expected << " expected";
}

}  // namespace
}  // namespace tessera
