// The coordinator's planner, called directly with 1 to 4 simulated ranks (no communication): every
// needed task runs on exactly one rank, every receive has its matching send and the reverse, every
// dependency a rank needs is computed there or received, outputs end where the delivery says, and
// bytes_moved_estimate is the sum of the sends' dense sizes, computed here from the chunk grids for
// graphs whose movement is known in advance (gathers, row sums, a slice across a chunk boundary).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/ownership_map.hpp"
#include "tessera/distributed/plan.hpp"
#include "tessera/distributed/planner.hpp"

namespace tessera {
namespace {

constexpr Shape kShape{97, 61};
const ChunkSpec kChunks(10, 16);

const char* delivery_name(Delivery d) {
  switch (d) {
    case Delivery::in_place:
      return "in_place";
    case Delivery::all:
      return "all";
    case Delivery::root:
      return "root";
  }
  return "?";
}

// A lowered graph and the tasks of its output's chunks, row-major.
struct Lowered {
  TaskGraph graph;
  std::vector<TaskId> outputs;
};

Lowered lower(const std::vector<Array>& arrays) {
  std::vector<NodePtr> nodes;
  for (const auto& a : arrays)
    nodes.push_back(a.node());
  Lowered out{TaskGraph::lower(nodes), {}};
  for (const auto& n : nodes) {
    const auto tasks = out.graph.chunk_tasks(out.graph.node_id(*n));
    out.outputs.insert(out.outputs.end(), tasks.begin(), tasks.end());
  }
  return out;
}

// A source whose every chunk lives on one given rank, as a persisted array's chunks do.
class PinnedSource final : public Node {
 public:
  PinnedSource(Shape shape, int owner)
      : Node("test_pinned", DType::float64, Layout::dense, ChunkGrid::regular(shape, 10, 16), {}),
        owner_(owner) {
    finish_fingerprint(Hasher().add(owner));
  }
  [[nodiscard]] int fixed_owner(index_t, index_t) const override { return owner_; }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    return Chunk::dense_filled(DType::float64, grid().chunk_shape(key.i, key.j), 1.0);
  }

 private:
  int owner_;
};

struct NamedArray {
  std::string name;
  std::vector<Array> arrays;
};

std::vector<NamedArray> graphs() {
  const Array x = random(kShape, kChunks, 1);
  const Array y = random({50, 61}, kChunks, 2);
  const Array s = random_sparse(kShape, kChunks, 0.2, 3);
  return {
      {"random", {x}},
      {"elementwise", {log1p(x * 2.0) + x}},
      {"row sum", {x.sum(1)}},
      {"column sum", {x.sum(0)}},
      {"total mean", {x.mean()}},
      {"slice across a chunk boundary", {x(Selector::slice(45, 55))}},
      {"negative-step slice", {x(Selector::slice(-1, 3, -4), Selector::slice(60, 0, -7))}},
      {"unsorted take with repeats", {x(Selector::take({95, 3, 50, 4, 96, 12, 12}))}},
      {"rechunk", {x.rechunk({7, 25})}},
      {"transpose", {x.transpose()}},
      {"concatenate", {concatenate({x, y}, 0)}},
      {"sparse column mean", {s.mean(0)}},
      {"dense + sparse row max", {(x + s).max(1)}},
      {"fewer chunks than ranks", {full({2, 3}, 1.5, {2, 3})}},
      {"several outputs sharing work", {x.sum(1), x, x.sum(1), (x * 3.0).sum(0)}},
      {"pinned to the last of 4 ranks", {Array(std::make_shared<PinnedSource>(kShape, 3)).sum(0)}},
  };
}

// Checks every invariant of a set of plans; returns a description of the first problems.
std::vector<std::string> plan_problems(const Lowered& in, const PlanRequest& request,
                                       const PlanSet& set) {
  const std::vector<Plan>& plans = set.plans;
  std::vector<std::string> problems;
  const auto bad = [&](const std::string& what) {
    if (problems.size() < 8) problems.push_back(what);
  };
  const TaskGraph& g = in.graph;
  const int ranks = request.ranks;
  if (static_cast<int>(plans.size()) != ranks) {
    bad("one plan per rank expected");
    return problems;
  }
  const std::vector<int> place = place_tasks(g, in.outputs, ranks);
  const std::vector<bool> needed = g.needed_for(in.outputs);

  std::vector<int> runs_on(static_cast<std::size_t>(g.num_tasks()), -1);
  std::set<std::tuple<TaskId, int, int>> sent, received;  // (task, from, to)
  std::int64_t total_sent = 0;
  for (int r = 0; r < ranks; ++r) {
    const Plan& p = plans[static_cast<std::size_t>(r)];
    const std::string who = "rank " + std::to_string(r) + ": ";
    if (p.rank != r || p.ranks != ranks) bad(who + "wrong rank or rank count");
    if (p.graph_fingerprint != g.fingerprint()) bad(who + "wrong graph fingerprint");
    if (!std::is_sorted(p.run.begin(), p.run.end())) bad(who + "run list not in id order");
    for (TaskId t : p.run) {
      if (runs_on[t] >= 0) bad(who + "task " + std::to_string(t) + " also runs on another rank");
      runs_on[t] = r;
      if (place[t] != r) bad(who + "task " + std::to_string(t) + " placed elsewhere");
    }
    // The executor finds a task's destinations with equal_range on sends.
    const auto by_task = [](const auto& a, const auto& b) { return a.first < b.first; };
    if (!std::is_sorted(p.sends.begin(), p.sends.end(), by_task)) bad(who + "sends not sorted");
    if (!std::is_sorted(p.receives.begin(), p.receives.end(), by_task))
      bad(who + "receives not sorted");
    for (const auto& [t, dest] : p.sends) {
      if (dest == r || dest < 0 || dest >= ranks) bad(who + "send to an invalid rank");
      if (!sent.emplace(t, r, dest).second) bad(who + "duplicate send");
    }
    for (const auto& [t, src] : p.receives) {
      if (src == r || src < 0 || src >= ranks) bad(who + "receive from an invalid rank");
      if (!received.emplace(t, src, r).second) bad(who + "duplicate receive");
    }
    total_sent += p.bytes_sent_estimate;
  }
  for (TaskId t = 0; t < g.num_tasks(); ++t) {
    if (needed[t] && runs_on[t] < 0) bad("needed task " + std::to_string(t) + " runs nowhere");
    if (!needed[t] && runs_on[t] >= 0) bad("unneeded task " + std::to_string(t) + " runs");
  }
  if (sent != received) bad("sends and receives do not match");
  for (const auto& [t, from, to] : sent) {
    if (runs_on[t] != from) bad("a rank sends a chunk it does not compute");
  }
  for (const auto& p : plans) {
    if (p.bytes_moved_estimate != total_sent)
      bad("bytes_moved_estimate is not the sum of the sends");
  }
  if (ranks == 1 && (total_sent != 0 || !sent.empty())) bad("one rank moves something");

  // Every dependency a rank needs is computed there or received from where it is computed.
  for (int r = 0; r < ranks; ++r) {
    const Plan& p = plans[static_cast<std::size_t>(r)];
    const auto has = [&](TaskId t) {
      return runs_on[t] == r || received.contains({t, runs_on[t], r});
    };
    for (TaskId t : p.run) {
      for (TaskId d : g.deps(t)) {
        if (!has(d)) bad("rank " + std::to_string(r) + " lacks dependency " + std::to_string(d));
      }
    }
    for (TaskId t : p.outputs) {
      if (!has(t))
        bad("rank " + std::to_string(r) + " holds output " + std::to_string(t) + " it never gets");
    }
    // Where outputs end up.
    std::multiset<TaskId> expected;
    for (TaskId t : in.outputs) {
      const bool here = request.delivery == Delivery::all || place[t] == r ||
                        (request.delivery == Delivery::root && r == request.root);
      if (here) expected.insert(t);
    }
    if (std::multiset<TaskId>(p.outputs.begin(), p.outputs.end()) != expected) {
      bad("rank " + std::to_string(r) + " holds the wrong outputs");
    }
  }
  // The shared part: the rank computing each output, once for all ranks.
  std::vector<int> owners;
  for (TaskId t : in.outputs)
    owners.push_back(place[t]);
  if (set.output_owners != owners) bad("wrong output owners");
  // Nothing moves that nobody needs: every send feeds a task or an output of its destination.
  for (const auto& [t, from, to] : sent) {
    const Plan& p = plans[static_cast<std::size_t>(to)];
    bool used = std::find(p.outputs.begin(), p.outputs.end(), t) != p.outputs.end();
    for (TaskId c : p.run) {
      const auto deps = g.deps(c);
      used = used || std::find(deps.begin(), deps.end(), t) != deps.end();
    }
    if (!used)
      bad("task " + std::to_string(t) + " is sent to rank " + std::to_string(to) + " for nothing");
  }
  return problems;
}

TEST(Planner, EveryReceiveHasItsSendForOneToFourRanks) {
  for (const auto& [name, arrays] : graphs()) {
    const Lowered in = lower(arrays);
    for (int ranks = 1; ranks <= 4; ++ranks) {
      for (const Delivery delivery : {Delivery::in_place, Delivery::all, Delivery::root}) {
        for (int root = 0; root < (delivery == Delivery::root ? ranks : 1); ++root) {
          if (name.starts_with("pinned") && ranks < 4)
            continue;  // checked in PinnedChunkOutsideTheRanks
          const PlanRequest request{in.outputs, ranks, delivery, root};
          const PlanSet plans = make_plans(in.graph, request);
          const auto problems = plan_problems(in, request, plans);
          std::string text;
          for (const auto& p : problems)
            text += "\n  " + p;
          EXPECT_TRUE(problems.empty())
              << name << ", " << ranks << " ranks, delivery " << delivery_name(delivery)
              << ", root " << root << ":" << text;
        }
      }
    }
  }
}

// Bytes of the chunk rows of a (rows, cols) float64 array, chunked by 10 rows, whose default
// owner over `ranks` ranks is not `rank`.
std::int64_t bytes_not_on(int rank, int ranks, Shape shape, std::int64_t bytes_per_row) {
  const ChunkGrid grid = ChunkGrid::regular(shape, 10, 16);
  std::int64_t total = 0;
  for (index_t i = 0; i < grid.num_chunks(0); ++i) {
    if (OwnershipMap::row_block_owner(i, grid.num_chunks(0), ranks) != rank) {
      total += grid.chunk_size(0, i) * bytes_per_row;
    }
  }
  return total;
}

TEST(Planner, GatheringAnArrayMovesEveryChunkToEveryOtherRank) {
  const Lowered in = lower({random(kShape, kChunks, 1)});
  for (int ranks = 1; ranks <= 4; ++ranks) {
    const auto all = make_plans(in.graph, {in.outputs, ranks, Delivery::all, 0}).plans;
    EXPECT_EQ(all[0].bytes_moved_estimate, (ranks - 1) * kShape.size() * 8) << ranks << " ranks";
    const auto in_place = make_plans(in.graph, {in.outputs, ranks, Delivery::in_place, 0}).plans;
    EXPECT_EQ(in_place[0].bytes_moved_estimate, 0) << ranks << " ranks";
    for (int root = 0; root < ranks; ++root) {
      const auto to_root = make_plans(in.graph, {in.outputs, ranks, Delivery::root, root}).plans;
      EXPECT_EQ(to_root[0].bytes_moved_estimate, bytes_not_on(root, ranks, kShape, kShape.cols * 8))
          << ranks << " ranks, root " << root;
      // Only the root receives; each other rank sends exactly the chunks it owns.
      for (int r = 0; r < ranks; ++r) {
        const Plan& p = to_root[static_cast<std::size_t>(r)];
        if (r != root) {
          EXPECT_TRUE(p.receives.empty());
          EXPECT_EQ(p.bytes_sent_estimate,
                    kShape.size() * 8 - bytes_not_on(r, ranks, kShape, kShape.cols * 8));
        }
      }
    }
  }
}

TEST(Planner, RowSumMovesOneSmallVectorPerChunkRowAndNothingInPlace) {
  const Array x = random(kShape, kChunks, 1);
  for (const Array& e : {x.sum(1), x.mean(1), random_sparse(kShape, kChunks, 0.2, 4).max(1)}) {
    const Lowered in = lower({e});
    for (int ranks = 1; ranks <= 4; ++ranks) {
      EXPECT_EQ(make_plans(in.graph, {in.outputs, ranks, Delivery::in_place, 0})
                    .plans[0]
                    .bytes_moved_estimate,
                0);
      const auto plans = make_plans(in.graph, {in.outputs, ranks, Delivery::root, 0}).plans;
      EXPECT_EQ(plans[0].bytes_moved_estimate, bytes_not_on(0, ranks, kShape, 8))
          << ranks << " ranks";
      EXPECT_LE(plans[0].bytes_moved_estimate, kShape.rows * 8);
    }
  }
}

TEST(Planner, SliceAcrossAChunkBoundaryMovesOnlyTheSelectedRows) {
  // Rows 45..54 are the last 5 rows of chunk-row 4 and the first 5 of chunk-row 5.
  const Lowered in = lower({random(kShape, kChunks, 1)(Selector::slice(45, 55))});
  for (int ranks = 1; ranks <= 4; ++ranks) {
    EXPECT_EQ(make_plans(in.graph, {in.outputs, ranks, Delivery::in_place, 0})
                  .plans[0]
                  .bytes_moved_estimate,
              0);
    std::int64_t expected = 0;
    for (const index_t chunk_row : {4, 5}) {
      if (OwnershipMap::row_block_owner(chunk_row, 10, ranks) != 0) expected += 5 * kShape.cols * 8;
    }
    const auto plans = make_plans(in.graph, {in.outputs, ranks, Delivery::root, 0}).plans;
    EXPECT_EQ(plans[0].bytes_moved_estimate, expected) << ranks << " ranks";
    EXPECT_LE(plans[0].bytes_moved_estimate, 10 * kShape.cols * 8);
  }
}

TEST(Planner, ConcatenatingInPlaceMovesNothing) {
  const Array x = random(kShape, kChunks, 1);
  const Lowered in = lower({concatenate({x, random({50, 61}, kChunks, 2)}, 0),
                            concatenate({x, random({97, 30}, kChunks, 3)}, 1)});
  for (int ranks = 1; ranks <= 4; ++ranks) {
    const auto plans = make_plans(in.graph, {in.outputs, ranks, Delivery::in_place, 0}).plans;
    EXPECT_EQ(plans[0].bytes_moved_estimate, 0) << ranks << " ranks";
    for (const auto& p : plans)
      EXPECT_TRUE(p.sends.empty() && p.receives.empty());
  }
}

TEST(Planner, PinnedChunksRunOnTheirRank) {
  const Lowered in = lower({Array(std::make_shared<PinnedSource>(kShape, 1))});
  for (int ranks = 2; ranks <= 4; ++ranks) {
    const auto place = place_tasks(in.graph, in.outputs, ranks);
    for (TaskId t : in.outputs)
      EXPECT_EQ(place[t], 1);
    const auto plans = make_plans(in.graph, {in.outputs, ranks, Delivery::in_place, 0}).plans;
    EXPECT_EQ(plans[1].run.size(), in.outputs.size());
  }
}

template <typename F>
void expect_distributed_error(F&& f, const std::string& word) {
  try {
    f();
    ADD_FAILURE() << "expected DistributedError mentioning \"" << word << "\", nothing was thrown";
  } catch (const DistributedError& e) {
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected DistributedError, got: " << e.what();
  }
}

TEST(Planner, PinnedChunkOutsideTheRanks) {
  const Lowered in = lower({Array(std::make_shared<PinnedSource>(kShape, 3))});
  expect_distributed_error(
      [&] {
        (void)make_plans(in.graph, {in.outputs, 2, Delivery::all, 0});
      },
      "lives on rank 3");
}

TEST(Planner, RejectsBadRanksAndRoots) {
  const Lowered in = lower({random(kShape, kChunks, 1)});
  expect_distributed_error(
      [&] {
        (void)make_plans(in.graph, {in.outputs, 0, Delivery::all, 0});
      },
      "rank count");
  expect_distributed_error(
      [&] {
        (void)make_plans(in.graph, {in.outputs, 2, Delivery::root, 2});
      },
      "root rank 2");
  expect_distributed_error(
      [&] {
        (void)make_plans(in.graph, {in.outputs, 2, Delivery::root, -1});
      },
      "root rank -1");
}

bool same_plan(const Plan& a, const Plan& b) {
  return a.rank == b.rank && a.ranks == b.ranks && a.graph_fingerprint == b.graph_fingerprint &&
         a.run == b.run && a.sends == b.sends && a.receives == b.receives &&
         a.outputs == b.outputs && a.bytes_sent_estimate == b.bytes_sent_estimate &&
         a.bytes_moved_estimate == b.bytes_moved_estimate;
}

TEST(Planner, DeterministicAndSerializable) {
  for (const auto& [name, arrays] : graphs()) {
    // Lowered twice from freshly built graphs, as two ranks would.
    const Lowered a = lower(arrays);
    const Lowered b = lower(arrays);
    const PlanSet sa = make_plans(a.graph, {a.outputs, 4, Delivery::all, 0});
    const PlanSet sb = make_plans(b.graph, {b.outputs, 4, Delivery::all, 0});
    EXPECT_EQ(sa.output_owners, sb.output_owners) << name;
    const std::vector<Plan>& pa = sa.plans;
    const std::vector<Plan>& pb = sb.plans;
    for (std::size_t r = 0; r < pa.size(); ++r) {
      EXPECT_TRUE(same_plan(pa[r], pb[r])) << name << " rank " << r;
      std::stringstream buffer;
      {
        boost::archive::binary_oarchive out(buffer);
        out << pa[r];
      }
      Plan back;
      {
        boost::archive::binary_iarchive in(buffer);
        in >> back;
      }
      EXPECT_TRUE(same_plan(pa[r], back)) << name << " rank " << r << " after a round trip";
    }
  }
}

}  // namespace
}  // namespace tessera
