// Contexts on a borrowed communicator (Comm::borrow of an MPI_Comm_split, the embedding case)
// beside the binary's world context: lazy graphs compute there bit for bit as in one process,
// and a planning error on the coordinator (an array persisted in the larger world context, whose
// chunks live on ranks the smaller context does not have) must reach every rank of the smaller
// context instead of leaving its other ranks waiting for a plan.
//
// A watchdog ends the process with a message if a collective does not return in time, so a hang
// fails this binary in seconds rather than at the ctest timeout.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "mpi_test.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera {
namespace {

using testing::all_ranks;

constexpr Shape kShape{97, 61};
const ChunkSpec kChunks(10, 16);

// Ends the process with `what` on stderr unless disarmed (destroyed) within `seconds`.
class Watchdog {
 public:
  Watchdog(std::string what, int rank, double seconds)
      : thread_([this, what = std::move(what), rank, seconds] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                            [this] { return done_; })) {
            std::fprintf(stderr, "[rank %d] HANG: %s did not return within %.0f s\n", rank,
                         what.c_str(), seconds);
            std::fflush(stderr);
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

// The world's ranks split in two halves by parity, each half its own communicator.
class Halves {
 public:
  explicit Halves(const Context& world) {
    MPI_Comm_split(world.comm().native(), world.rank() % 2, world.rank(), &comm_);
  }
  ~Halves() {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  Halves(const Halves&) = delete;
  Halves& operator=(const Halves&) = delete;
  [[nodiscard]] MPI_Comm native() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

TEST(SubCommunicator, LazyGraphsComputeAsInOneProcess) {
  auto& world = testing::context();
  if (world.comm().is_serial()) GTEST_SKIP() << "needs MPI (run under mpirun)";
  const Watchdog watchdog("computing on half of the ranks", world.rank(), 20);
  bool ok = true;
  {
    const Halves halves(world);
    Context half(Comm::borrow(halves.native()), 1);
    ok = half.size() == (world.size() + (world.rank() % 2 == 0 ? 1 : 0)) / 2 &&
         half.rank() == world.rank() / 2;
    const Array x = random(kShape, kChunks, 1);
    for (const Array& e :
         {x, log1p(x).sum(0), x(Selector::take({90, 1, 45, 45})), x.transpose().mean(1)}) {
      ok = identical(half.compute(e), e.compute()) && ok;
    }
    const Array s = random_sparse(kShape, kChunks, 0.2, 2);
    const Array ps = half.persist(s);
    const Chunk everywhere = half.compute(ps.sum(1));
    const Chunk at_root = half.compute(ps.sum(1), 0);
    ok = identical(everywhere, s.sum(1).compute()) &&
         (half.rank() == 0 ? identical(at_root, s.sum(1).compute())
                           : at_root.shape() == Shape{0, 0}) &&
         ok;
  }
  EXPECT_TRUE(all_ranks(ok));
}

TEST(SubCommunicator, SerialStandInBesideTheWorld) {
  // Each rank alone: a serial context computes the one-process result with no communication.
  Context alone(Comm::serial(), 2);
  const Array x = random(kShape, kChunks, 4);
  const Array px = alone.persist(x);
  const bool ok = alone.size() == 1 && alone.rank() == 0 && alone.comm().is_serial() &&
                  identical(alone.compute(px(Selector::slice(90, 2, -3)).max(0)),
                            x(Selector::slice(90, 2, -3)).max(0).compute()) &&
                  alone.last_stats().bytes_moved == 0;
  EXPECT_TRUE(all_ranks(ok));
}

// Regression: Context::compute in a smaller context of an array persisted in the world context.
// The coordinator's planner throws (a chunk lives on a rank the context does not have) before the
// plans are scattered; every rank of the context must get the error (STYLE.md, convention 4), not
// only the coordinator while the others wait in the scatter forever.
TEST(SubCommunicator, PlanningErrorOnTheCoordinatorReachesEveryRank) {
  auto& world = testing::context();
  if (world.comm().is_serial()) GTEST_SKIP() << "needs MPI (run under mpirun)";
  const Array px = world.persist(random(kShape, kChunks, 3));
  const Watchdog watchdog("Context::compute of a world-persisted array on half of the ranks",
                          world.rank(), 10);
  bool ok = true;
  std::string message;
  {
    const Halves halves(world);
    Context half(Comm::borrow(halves.native()), 1);
    // Chunks owned by ranks >= half.size() cannot be read in the half context.
    bool impossible = false;
    const OwnershipMap& map = *Context::ownership(px);
    for (int owner : map.owners())
      impossible = impossible || owner >= half.size();
    try {
      const Chunk got = half.compute(px.sum(1));
      ok = !impossible && identical(got, random(kShape, kChunks, 3).sum(1).compute());
      message = "no error";
    } catch (const DistributedError& e) {
      ok = impossible;
      message = e.what();
    } catch (const std::exception& e) {
      ok = false;
      message = std::string("not a DistributedError: ") + e.what();
    }
  }
  EXPECT_TRUE(all_ranks(ok)) << "rank " << world.rank() << ": " << message;
  // The world context is unaffected.
  EXPECT_TRUE(
      all_ranks(identical(world.compute(px.sum(1)), random(kShape, kChunks, 3).sum(1).compute())));
}

}  // namespace
}  // namespace tessera
