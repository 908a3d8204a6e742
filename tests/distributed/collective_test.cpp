// on_root / on_all (collective.hpp): a step that throws on some ranks makes every rank throw at
// the same point — the failing rank its own exception (type and message kept), the others
// DistributedError naming the step, the failing rank and its message — and a step that succeeds
// everywhere throws nowhere. After a failure the communicator is usable again (the next
// collective agrees), which is what "no rank left inside a collective" means in practice.
#include <gtest/gtest.h>

#include <string>

#include "mpi_test.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/collective.hpp"

namespace tessera {
namespace {

using testing::all_ranks;
using testing::context;

enum class Caught { nothing, value_error, distributed_error, other };

struct Outcome {
  Caught caught = Caught::nothing;
  std::string message;
};

template <typename F>
Outcome run(F&& f) {
  Outcome out;
  try {
    f();
  } catch (const ValueError& e) {
    out = {Caught::value_error, e.what()};
  } catch (const DistributedError& e) {
    out = {Caught::distributed_error, e.what()};
  } catch (...) {
    out = {Caught::other, ""};
  }
  return out;
}

// The broadcast after a step: every rank must still be in step with every other.
bool comm_still_agrees() {
  const Comm& comm = context().comm();
  return comm.all_reduce_sum(std::uint64_t{1}, "counting ranks") ==
         static_cast<std::uint64_t>(comm.size());
}

TEST(Collective, SucceedingStepsThrowNowhere) {
  const Comm& comm = context().comm();
  int ran = 0;
  const Outcome all = run([&] { on_all(comm, "counting", [&] { ++ran; }); });
  const Outcome root = run([&] { on_root(comm, 0, "counting on the root", [&] { ++ran; }); });
  const int expected = comm.rank() == 0 ? 2 : 1;  // on_root runs on rank 0 alone
  EXPECT_TRUE(all_ranks(all.caught == Caught::nothing && root.caught == Caught::nothing &&
                        ran == expected));
}

TEST(Collective, OnRootFailureReachesEveryRank) {
  const Comm& comm = context().comm();
  const int root = comm.size() - 1;  // not only rank 0
  const Outcome o = run([&] {
    on_root(comm, root, "making the folder", [&] { throw ValueError("disk full on purpose"); });
  });
  bool ok;
  if (comm.rank() == root) {
    ok = o.caught == Caught::value_error && o.message == "disk full on purpose";
  } else {
    ok = o.caught == Caught::distributed_error && o.message == "making the folder failed on rank " +
                                                                   std::to_string(root) +
                                                                   ": disk full on purpose";
  }
  EXPECT_TRUE(all_ranks(ok)) << o.message;
  EXPECT_TRUE(all_ranks(comm_still_agrees()));
}

TEST(Collective, OnAllSharesTheHighestFailingRank) {
  const Comm& comm = context().comm();
  // Every even rank fails with its own message; the highest of them is the one shared.
  const int highest = (comm.size() - 1) / 2 * 2;
  const Outcome o = run([&] {
    on_all(comm, "writing a band", [&] {
      if (comm.rank() % 2 == 0) throw ValueError("band " + std::to_string(comm.rank()));
    });
  });
  bool ok;
  if (comm.rank() % 2 == 0) {
    ok = o.caught == Caught::value_error && o.message == "band " + std::to_string(comm.rank());
  } else {
    ok = o.caught == Caught::distributed_error &&
         o.message == "writing a band failed on rank " + std::to_string(highest) + ": band " +
                          std::to_string(highest);
  }
  EXPECT_TRUE(all_ranks(ok)) << o.message;
  EXPECT_TRUE(all_ranks(comm_still_agrees()));
}

TEST(Collective, ExceptionsOfUnknownTypeAreShared) {
  const Comm& comm = context().comm();
  const Outcome o = run([&] {
    on_all(comm, "an odd step", [&] {
      if (comm.rank() == 0) throw 42;  // not a std::exception
    });
  });
  bool ok = comm.rank() == 0 ? o.caught == Caught::other
                             : o.caught == Caught::distributed_error &&
                                   o.message.find("an odd step failed on rank 0") == 0;
  EXPECT_TRUE(all_ranks(ok)) << o.message;
}

}  // namespace
}  // namespace tessera
