// Failures in collective runs: a task that throws on one rank makes every rank throw, quickly
// (the failing rank its own exception, the others DistributedError naming the failed rank and its
// message), whether others were waiting for its chunks or not; ranks that built different graphs
// all get DistributedError before anything runs; a bad root is refused on every rank. After each
// failure the same context computes correctly again.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mpi_test.hpp"
#include "tessera/core/array.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"

namespace tessera {
namespace {

using testing::all_ranks;
using S = Selector;

constexpr Shape kShape{97, 61};
const ChunkSpec kChunks(10, 16);

// Identity on every chunk of its input, except chunk (fail_i, fail_j), which throws ValueError
// when computed on rank `fail_rank`. Built identically on every rank (the rank it runs on is not
// part of the fingerprint), so the graphs agree and the failure happens mid-run.
class FailingNode final : public Node {
 public:
  FailingNode(const Array& x, int this_rank, int fail_rank, index_t fail_i, index_t fail_j)
      : Node("test_failing", x.dtype(), x.layout(), x.chunks(), {x.node()}),
        this_rank_(this_rank),
        fail_rank_(fail_rank),
        fail_i_(fail_i),
        fail_j_(fail_j) {
    finish_fingerprint(Hasher().add(fail_rank).add(fail_i).add(fail_j));
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const override {
    if (this_rank_ == fail_rank_ && key.i == fail_i_ && key.j == fail_j_) {
      throw ValueError("boom on rank " + std::to_string(this_rank_));
    }
    return deps[0];
  }

 private:
  int this_rank_, fail_rank_;
  index_t fail_i_, fail_j_;
};

// x with its last chunk failing on the last rank (where the default map puts that chunk).
Array failing(const Array& x, const Context& ctx) {
  return Array(std::make_shared<FailingNode>(
      x, ctx.rank(), ctx.size() - 1, x.chunks().num_chunks(0) - 1, x.chunks().num_chunks(1) - 1));
}

enum class Caught { nothing, value_error, distributed_error, other };

struct Outcome {
  Caught caught = Caught::nothing;
  std::string message;
  double seconds = 0;
};

Outcome run(const std::function<void()>& f) {
  Outcome out;
  const auto start = std::chrono::steady_clock::now();
  try {
    f();
  } catch (const ValueError& e) {
    out = {Caught::value_error, e.what()};
  } catch (const DistributedError& e) {
    out = {Caught::distributed_error, e.what()};
  } catch (const std::exception& e) {
    out = {Caught::other, e.what()};
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

bool contains(const std::string& text, const std::string& word) {
  return text.find(word) != std::string::npos;
}

// The failing rank (and a single process) sees its ValueError; every other rank DistributedError
// naming the failed rank and carrying its message.
bool expected_failure(const Outcome& o, const Context& ctx) {
  const int failed = ctx.size() - 1;
  if (ctx.rank() == failed) return o.caught == Caught::value_error && contains(o.message, "boom");
  return o.caught == Caught::distributed_error &&
         contains(o.message, "rank " + std::to_string(failed)) && contains(o.message, "boom");
}

// The context still works: a compute with data movement gives the one-process result.
bool still_works(Context& ctx) {
  const Array x = random(kShape, kChunks, 42);
  const Array px = ctx.persist(x);
  const Chunk taken = ctx.compute(px(S::take({90, 3, 47})).sum(0));
  const Chunk sums = ctx.compute(px.sum(1), 0);
  return identical(taken, x(S::take({90, 3, 47})).sum(0).compute()) &&
         (ctx.rank() == 0 ? identical(sums, x.sum(1).compute()) : sums.shape() == Shape{0, 0});
}

constexpr double kQuick = 10.0;  // seconds: a failure must end the run long before any timeout

void expect_everyone_fails(Context& ctx, const std::string& what, const std::function<void()>& f) {
  const Outcome o = run(f);
  const bool ok = expected_failure(o, ctx);
  const double slowest = ctx.comm().all_reduce_max(o.seconds, "test: timing a failure");
  EXPECT_TRUE(all_ranks(ok)) << what << ": rank " << ctx.rank() << " caught kind "
                             << static_cast<int>(o.caught) << ": " << o.message;
  EXPECT_LT(slowest, kQuick) << what;
  EXPECT_TRUE(all_ranks(still_works(ctx)))
      << what << ": the context does not work after the failure";
}

TEST(Failure, TaskFailingOnOneRankFailsEveryRank) {
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 1);
  // Every rank waits for the failing rank's chunks.
  expect_everyone_fails(ctx, "compute to all", [&] { (void)ctx.compute(failing(x, ctx)); });
}

TEST(Failure, ToOneRoot) {
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 1);
  expect_everyone_fails(ctx, "compute to root 0", [&] { (void)ctx.compute(failing(x, ctx), 0); });
}

TEST(Failure, InPersistWhereNobodyWaits) {
  // Nothing moves, so no rank needs the failing rank's chunk; all must still fail.
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 1);
  expect_everyone_fails(ctx, "persist", [&] { (void)ctx.persist(failing(x, ctx)); });
}

TEST(Failure, DownstreamOfTheFailureOnOtherRanks) {
  // The column sum combines on rank 0 a partial the last rank never produces.
  auto& ctx = testing::context();
  const Array px = ctx.persist(random(kShape, kChunks, 1));
  expect_everyone_fails(ctx, "column sum of a persisted array",
                        [&] { (void)ctx.compute(log1p(failing(px, ctx)).sum(0)); });
}

TEST(Failure, SparseAndSeveralOutputs) {
  auto& ctx = testing::context();
  const Array s = random_sparse(kShape, kChunks, 0.2, 2);
  expect_everyone_fails(ctx, "several outputs", [&] {
    (void)ctx.compute(std::vector<Array>{s.sum(1), failing(s, ctx).max(0), s(S::slice(90, 0, -7))});
  });
}

TEST(Failure, RepeatedFailuresThenSuccess) {
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 3);
  for (int n = 0; n < 3; ++n) {
    expect_everyone_fails(ctx, "failure " + std::to_string(n),
                          [&] { (void)ctx.compute(failing(x, ctx) * 2.0); });
  }
  EXPECT_TRUE(all_ranks(identical(ctx.compute(x * 2.0), (x * 2.0).compute())));
}

TEST(Failure, OnTheCoordinator) {
  // Rank 0 plans and is the root; its own task fails.
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 4);
  const Array f(std::make_shared<FailingNode>(x, ctx.rank(), 0, 0, 1));
  const Outcome o = run([&] { (void)ctx.compute(f.sum(1), 0); });
  const bool ok = ctx.rank() == 0
                      ? o.caught == Caught::value_error && contains(o.message, "boom on rank 0")
                      : o.caught == Caught::distributed_error && contains(o.message, "rank 0") &&
                            contains(o.message, "boom");
  EXPECT_TRUE(all_ranks(ok)) << "rank " << ctx.rank() << ": " << o.message;
  EXPECT_TRUE(all_ranks(still_works(ctx)));
}

// Fails on every rank, each on a chunk it owns.
class FailingEverywhere final : public Node {
 public:
  FailingEverywhere(const Array& x, int this_rank)
      : Node("test_failing_everywhere", x.dtype(), x.layout(), x.chunks(), {x.node()}),
        this_rank_(this_rank) {
    finish_fingerprint(Hasher());
  }
  Chunk compute(const TaskKey&, std::span<const Chunk>) const override {
    throw ValueError("boom on rank " + std::to_string(this_rank_));
  }

 private:
  int this_rank_;
};

TEST(Failure, OnEveryRankAtOnce) {
  // Every rank throws (unless a notice from another stops it first); all agree on one failed rank
  // F: F sees its own ValueError, every other rank DistributedError carrying F's message.
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 5);
  const Outcome o =
      run([&] { (void)ctx.compute(Array(std::make_shared<FailingEverywhere>(x, ctx.rank()))); });
  std::uint64_t failed = 1000;  // the rank this rank believes failed
  if (o.caught == Caught::value_error &&
      contains(o.message, "boom on rank " + std::to_string(ctx.rank()))) {
    failed = static_cast<std::uint64_t>(ctx.rank());
  } else if (o.caught == Caught::distributed_error) {
    for (int r = 0; r < ctx.size(); ++r) {
      if (r != ctx.rank() &&
          contains(o.message,
                   "rank " + std::to_string(r) + " failed: boom on rank " + std::to_string(r))) {
        failed = static_cast<std::uint64_t>(r);
      }
    }
  }
  const bool agree = ctx.comm().all_reduce_min(failed, "test: failed rank") ==
                     ctx.comm().all_reduce_max(failed, "test: failed rank");
  const double slowest = ctx.comm().all_reduce_max(o.seconds, "test: timing a failure");
  EXPECT_TRUE(all_ranks(failed < 1000 && agree)) << "rank " << ctx.rank() << ": " << o.message;
  EXPECT_LT(slowest, kQuick);
  EXPECT_TRUE(all_ranks(still_works(ctx)));
}

TEST(Failure, RanksBuildingDifferentGraphs) {
  auto& ctx = testing::context();
  const bool several = ctx.size() > 1;
  // Different seeds, and different chunkings, per rank.
  const Array by_seed =
      random(kShape, kChunks, several ? static_cast<std::uint64_t>(ctx.rank()) : 0).sum(1);
  const Array by_chunks = random(kShape, {10 + ctx.rank(), 16}, 5);
  const Array px = ctx.persist(random(kShape, kChunks, 6));
  const Array by_selection = px(S::take({ctx.rank(), 0}));
  const std::vector<std::pair<std::string, std::function<void()>>> runs = {
      {"compute", [&] { (void)ctx.compute(by_seed); }},
      {"compute to root", [&] { (void)ctx.compute(by_seed, 0); }},
      {"persist", [&] { (void)ctx.persist(by_chunks); }},
      {"rebalance", [&] { (void)ctx.rebalance(by_selection); }},
      {"several arrays",
       [&] {
         (void)ctx.compute(std::vector<Array>{px.sum(0), by_selection});
       }},
  };
  for (const auto& [what, f] : runs) {
    const Outcome o = run(f);
    const bool ok =
        several ? o.caught == Caught::distributed_error && contains(o.message, "different graphs")
                : o.caught == Caught::nothing;
    EXPECT_TRUE(all_ranks(ok)) << what << ": rank " << ctx.rank() << " caught kind "
                               << static_cast<int>(o.caught) << ": " << o.message;
    EXPECT_TRUE(all_ranks(still_works(ctx)))
        << what << ": the context does not work after the mismatch";
  }
}

TEST(Failure, RootOutsideTheRanks) {
  auto& ctx = testing::context();
  const Array x = random(kShape, kChunks, 1);
  const Outcome o = run([&] { (void)ctx.compute(x, ctx.size()); });
  EXPECT_TRUE(all_ranks(o.caught == Caught::distributed_error && contains(o.message, "root")))
      << "rank " << ctx.rank() << ": " << o.message;
  EXPECT_TRUE(all_ranks(still_works(ctx)));
}

TEST(Failure, CheckSameGraphAgrees) {
  auto& ctx = testing::context();
  const Array same = random(kShape, kChunks, 1).sum(0);
  const NodePtr node = same.node();
  const Outcome agree = run([&] {
    ctx.check_same_graph(TaskGraph::lower({&node, 1}), "test: same graph");
  });
  EXPECT_TRUE(all_ranks(agree.caught == Caught::nothing)) << agree.message;
  const NodePtr differ = (random(kShape, kChunks, 1) + static_cast<double>(ctx.rank())).node();
  const Outcome o = run([&] {
    ctx.check_same_graph(TaskGraph::lower({&differ, 1}), "test: differing graph");
  });
  const bool ok = ctx.size() == 1 ? o.caught == Caught::nothing
                                  : o.caught == Caught::distributed_error &&
                                        contains(o.message, "test: differing graph");
  EXPECT_TRUE(all_ranks(ok)) << o.message;
}

}  // namespace
}  // namespace tessera
