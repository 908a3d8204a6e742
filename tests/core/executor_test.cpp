// LocalExecutor and TaskGraph: bitwise identical results for 1, 2 and 4 threads, chunks freed as
// their last consumer runs (peak live chunks far below the task count), exceptions thrown in a
// task reaching the caller as the same exception, custom source nodes, and the general run form
// with delivered chunks (the distributed executor's entry point).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/graph.hpp"
#include "tessera/core/local_executor.hpp"
#include "test_util.hpp"

namespace tessera {
namespace {

using test::Ref;
using test::values_equal;
using V = std::vector<index_t>;

constexpr Shape kShape{37, 23};
const ChunkSpec kRegular(5, 4);
const ChunkSpec kIrregular(V{3, 1, 5, 10, 1, 17}, V{2, 7, 1, 13});

// A source whose chunk (i, j) is filled with 100 * i + j, and whose chunk `bad` throws instead:
// the way an io/ reader plugs into core/ (a Node subclass with the default block-wise lowering).
class TestSource final : public Node {
 public:
  enum class Throw { none, io_error, out_of_range };
  TestSource(const ChunkGrid& grid, index_t bad_i, index_t bad_j, Throw kind)
      : Node("test_source", DType::float64, Layout::dense, grid, {}),
        bad_i_(bad_i),
        bad_j_(bad_j),
        kind_(kind) {
    finish_fingerprint(Hasher().add(bad_i_).add(bad_j_).add(kind_));
  }
  Chunk compute(const TaskKey& key, std::span<const Chunk> /*deps*/) const override {
    if (key.i == bad_i_ && key.j == bad_j_) {
      const std::string where = "test_source: chunk (" + std::to_string(key.i) + ", " +
                                std::to_string(key.j) + ") unreadable";
      if (kind_ == Throw::io_error) throw IoError(where);
      if (kind_ == Throw::out_of_range) throw std::out_of_range(where);
    }
    return Chunk::dense_filled(DType::float64, grid().chunk_shape(key.i, key.j),
                               double(100 * key.i + key.j));
  }

 private:
  index_t bad_i_;
  index_t bad_j_;
  Throw kind_;
};

Array test_source(const ChunkGrid& grid, index_t bad_i = -1, index_t bad_j = -1,
                  TestSource::Throw kind = TestSource::Throw::none) {
  return Array(std::make_shared<const TestSource>(grid, bad_i, bad_j, kind));
}

Ref test_source_ref(const ChunkGrid& grid) {
  return test::make_ref(grid.shape(), [&](index_t r, index_t c) {
    return double(100 * grid.chunk_of(0, r) + grid.chunk_of(1, c));
  });
}

TEST(LocalExecutor, ThreadCounts) {
  for (int n : {1, 2, 3, 4})
    EXPECT_EQ(LocalExecutor(n).threads(), n);
  EXPECT_GE(LocalExecutor::default_threads(), 1);
  EXPECT_EQ(LocalExecutor(0).threads(), LocalExecutor::default_threads());

  const char* saved = std::getenv("TESSERA_THREADS");
  const std::optional<std::string> old = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::setenv("TESSERA_THREADS", "3", 1);
  EXPECT_EQ(LocalExecutor::default_threads(), 3);
  EXPECT_EQ(LocalExecutor(0).threads(), 3);
  EXPECT_EQ(LocalExecutor(-1).threads(), 3);
  if (old) {
    ::setenv("TESSERA_THREADS", old->c_str(), 1);
  } else {
    ::unsetenv("TESSERA_THREADS");
  }
}

// Expressions covering every node kind, dense and sparse.
std::vector<Array> mixed_expressions() {
  const Array x = random(kShape, kIrregular, 1);
  const Array y = random(kShape, kRegular, 2);
  const Array s = random_sparse(kShape, kRegular, 0.3, 3);
  return {
      (exp(x * 3.0) - y / (x + 1.0)).sum(0),
      (x - y).mean(1),
      (s * 2.0 + s).sum(),
      s.max(0),
      concatenate(
          {x(Selector::slice(std::nullopt, std::nullopt, -2)), s(Selector::take({5, 5, 0, -1}))}, 0)
          .rechunk(ChunkSpec(6, 6))
          .transpose(),
      maximum(x, y).astype(DType::float32).count_nonzero(1),
      (x(Selector::take({36, 0, 7}), Selector::slice(-3, std::nullopt)) > 0.5),
      log1p(s).sum(1),
  };
}

TEST(LocalExecutor, BitwiseIdenticalForOneTwoAndFourThreads) {
  const std::vector<Array> outputs = mixed_expressions();
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    LocalExecutor one(1);
    const Chunk reference = outputs[k].compute(one);
    for (int threads : {2, 4}) {
      LocalExecutor ex(threads);
      EXPECT_TRUE(identical(outputs[k].compute(ex), reference))
          << "expression " << k << ", " << threads << " threads";
      // Running again on the same executor gives the same bits.
      EXPECT_TRUE(identical(outputs[k].compute(ex), reference))
          << "expression " << k << ", second run, " << threads << " threads";
    }
    EXPECT_TRUE(identical(outputs[k].compute(), reference)) << "default executor";
  }
}

TEST(LocalExecutor, RunReturnsTargetsInTheOrderAsked) {
  const Array y = random(kShape, kIrregular, 4) * 2.0;
  const NodePtr out = y.node();
  const TaskGraph g = TaskGraph::lower({&out, 1});
  EXPECT_EQ(g.num_tasks(), y.graph_stats().tasks);
  EXPECT_EQ(static_cast<index_t>(g.nodes().size()), y.graph_stats().layers);
  const NodeId id = g.node_id(*out);
  std::vector<TaskId> targets = g.chunk_tasks(id);
  ASSERT_EQ(static_cast<index_t>(targets.size()), y.chunks().num_chunks());
  const ChunkGrid& grid = y.chunks();
  for (index_t i = 0; i < grid.num_chunks(0); ++i) {
    for (index_t j = 0; j < grid.num_chunks(1); ++j) {
      EXPECT_EQ(g.chunk_task(id, i, j),
                targets[static_cast<std::size_t>(i * grid.num_chunks(1) + j)]);
    }
  }
  // Dependencies come before the tasks that use them.
  for (TaskId t = 0; t < g.num_tasks(); ++t) {
    for (TaskId d : g.deps(t))
      EXPECT_LT(d, t);
  }
  std::reverse(targets.begin(), targets.end());
  LocalExecutor ex(2);
  const std::vector<Chunk> chunks = ex.run(g, targets);
  ASSERT_EQ(chunks.size(), targets.size());
  EXPECT_EQ(ex.last_stats().tasks_run, g.num_tasks());
  const Ref full = test::map_ref(test::random_ref(4, kShape), [](double v) { return v * 2.0; });
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    const std::size_t flat = chunks.size() - 1 - k;
    const index_t i = static_cast<index_t>(flat) / grid.num_chunks(1);
    const index_t j = static_cast<index_t>(flat) % grid.num_chunks(1);
    V rows;
    V cols;
    for (index_t r = grid.chunk_offset(0, i); r < grid.chunk_offset(0, i + 1); ++r)
      rows.push_back(r);
    for (index_t c = grid.chunk_offset(1, j); c < grid.chunk_offset(1, j + 1); ++c)
      cols.push_back(c);
    EXPECT_TRUE(values_equal(chunks[k], test::gather(full, rows, cols)))
        << "chunk " << i << ", " << j;
  }
}

TEST(LocalExecutor, RunsOnlyTheTasksTargetsNeed) {
  const Array y = random(kShape, kRegular, 5) + 1.0;
  const NodePtr out = y.node();
  const TaskGraph g = TaskGraph::lower({&out, 1});
  const TaskId one = g.chunk_task(g.node_id(*out), 2, 3);
  const std::vector<bool> needed = g.needed_for({&one, 1});
  EXPECT_EQ(std::count(needed.begin(), needed.end(), true), 2);  // the source chunk and the add
  LocalExecutor ex(2);
  const std::vector<Chunk> chunks = ex.run(g, {&one, 1});
  EXPECT_EQ(ex.last_stats().tasks_run, 2);
  const Ref full = test::map_ref(test::random_ref(5, kShape), [](double v) { return v + 1.0; });
  EXPECT_TRUE(
      values_equal(chunks.at(0), test::gather(full, {10, 11, 12, 13, 14}, {12, 13, 14, 15})));
}

TEST(TaskGraph, SharedNodesAreLoweredOnce) {
  const Array x = random(kShape, kRegular, 11);
  const Array a = x * 2.0;
  const Array b = (x + 1.0).sum(0);
  const std::vector<NodePtr> outs = {a.node(), b.node()};
  const TaskGraph g = TaskGraph::lower(outs);
  EXPECT_EQ(g.nodes().size(), 4u);  // x, multiply, add, sum
  EXPECT_EQ(g.num_tasks(), a.graph_stats().tasks + b.graph_stats().tasks - x.graph_stats().tasks);
  std::vector<TaskId> targets = g.chunk_tasks(g.node_id(*outs[0]));
  const std::vector<TaskId> more = g.chunk_tasks(g.node_id(*outs[1]));
  targets.insert(targets.end(), more.begin(), more.end());
  // The same target twice is returned twice.
  targets.push_back(targets.front());
  LocalExecutor ex(2);
  const std::vector<Chunk> chunks = ex.run(g, targets);
  ASSERT_EQ(chunks.size(), targets.size());
  EXPECT_EQ(ex.last_stats().tasks_run, g.num_tasks());
  EXPECT_TRUE(identical(chunks.front(), chunks.back()));
  EXPECT_TRUE(ex.run(g, std::span<const TaskId>()).empty());
}

TEST(TaskGraph, FingerprintIsTheSameForTheSameGraph) {
  const Array a = (random(kShape, kRegular, 6) * 2.0).sum(0);
  const Array b = (random(kShape, kRegular, 6) * 2.0).sum(0);
  const NodePtr na = a.node();
  const NodePtr nb = b.node();
  EXPECT_EQ(TaskGraph::lower({&na, 1}).fingerprint(), TaskGraph::lower({&nb, 1}).fingerprint());
  const Array c = (random(kShape, kRegular, 7) * 2.0).sum(0);
  const NodePtr nc = c.node();
  EXPECT_NE(TaskGraph::lower({&na, 1}).fingerprint(), TaskGraph::lower({&nc, 1}).fingerprint());
}

TEST(LocalExecutor, ChunksAreFreedWhenTheirLastConsumerRuns) {
  // 64 chunks of 8x8 through 13 element-wise layers, reduced to one value.
  const Shape shape{64, 64};
  const Array x = random(shape, ChunkSpec(8, 8), 8);
  Array y = x;
  for (int k = 0; k < 4; ++k)
    y = sqrt(y * 2.0 + 1.0);
  const Array total = (y - x).sum();
  const GraphStats stats = total.graph_stats();
  const std::size_t produced_bytes = static_cast<std::size_t>(x.nbytes()) * 14;
  Ref yr = test::random_ref(8, shape);
  const Ref xr = yr;
  for (int k = 0; k < 4; ++k)
    yr = test::map_ref(yr, [](double v) { return std::sqrt(v * 2.0 + 1.0); });
  double expected = 0.0;
  for (std::size_t i = 0; i < yr.values.size(); ++i)
    expected += yr.values[i] - xr.values[i];
  for (int threads : {1, 2}) {
    LocalExecutor ex(threads);
    const Chunk c = total.compute(ex);
    EXPECT_TRUE(test::values_near(c, Ref(Shape{1, 1}, expected)));
    const ExecutorStats& s = ex.last_stats();
    EXPECT_EQ(s.tasks_run, stats.tasks);
    EXPECT_GT(s.peak_live_chunks, 0);
    EXPECT_LT(s.peak_live_chunks, stats.tasks / 4)
        << threads << " threads: " << s.peak_live_chunks << " live of " << stats.tasks << " tasks";
    EXPECT_GT(s.peak_live_bytes, 0u);
    EXPECT_LT(s.peak_live_bytes, produced_bytes / 8)
        << threads << " threads: " << s.peak_live_bytes << " of " << produced_bytes << " bytes";
  }
}

TEST(LocalExecutor, CustomSourceNode) {
  const ChunkGrid grid = ChunkSpec(kIrregular).resolve(kShape, DType::float64);
  const Array x = test_source(grid);
  EXPECT_EQ(x.graph_stats().tasks, grid.num_chunks());
  EXPECT_TRUE(values_equal(x.compute(), test_source_ref(grid)));
  const Array y = (x * 2.0).sum(0);
  EXPECT_TRUE(test::values_near(y.compute(), [&] {
    Ref out(Shape{1, 23});
    const Ref xr = test_source_ref(grid);
    for (index_t r = 0; r < 37; ++r) {
      for (index_t c = 0; c < 23; ++c)
        out.at(0, c) += 2.0 * xr.at(r, c);
    }
    return out;
  }()));
}

TEST(LocalExecutor, ATaskErrorPropagatesAsTheThrownException) {
  const ChunkGrid grid = ChunkGrid::regular(kShape, 5, 4);
  const Array bad = test_source(grid, 1, 2, TestSource::Throw::io_error);
  const Array y = (bad + 1.0).sum(1);
  for (int threads : {1, 2, 4}) {
    LocalExecutor ex(threads);
    TESSERA_EXPECT_THROW_MENTIONING((void)y.compute(ex), IoError, "chunk (1, 2) unreadable");
    // The executor is still usable afterwards.
    EXPECT_TRUE(values_equal(random(kShape, kRegular, 9).compute(ex), test::random_ref(9, kShape)))
        << threads;
  }
  const Array other = test_source(grid, 7, 5, TestSource::Throw::out_of_range) * 3.0;
  for (int threads : {1, 2, 4}) {
    LocalExecutor ex(threads);
    TESSERA_EXPECT_THROW_MENTIONING((void)other.compute(ex), std::out_of_range,
                                    "chunk (7, 5) unreadable");
  }
}

// The general form: run only the tasks of `y`, and deliver the source chunks from outside through
// poll, a few at a time, as the distributed executor does with received chunks.
TEST(LocalExecutor, RunWithDeliveredChunks) {
  const ChunkGrid grid = ChunkGrid::regular(Shape{20, 8}, 5, 4);
  const Array x = random(grid.shape(), ChunkSpec(grid), 10);
  const Array y = x * 2.0;
  const NodePtr out = y.node();
  const TaskGraph g = TaskGraph::lower({&out, 1});
  const std::vector<TaskId> x_tasks = g.chunk_tasks(g.node_id(*x.node()));
  const std::vector<TaskId> y_tasks = g.chunk_tasks(g.node_id(*out));
  std::vector<bool> run_mask(static_cast<std::size_t>(g.num_tasks()), false);
  for (TaskId t : y_tasks)
    run_mask[static_cast<std::size_t>(t)] = true;
  std::vector<bool> export_mask(static_cast<std::size_t>(g.num_tasks()), false);
  export_mask[static_cast<std::size_t>(y_tasks[3])] = true;

  // The delivered source chunks hold 1000 + k instead of the random values, so the results show
  // that the delivered chunks were used.
  std::size_t next = 0;
  std::mutex mutex;
  std::map<TaskId, int> exported;
  LocalExecutor::Hooks hooks;
  hooks.poll = [&](LocalExecutor::Inbox& inbox) {
    if (next < x_tasks.size()) {
      const index_t i = static_cast<index_t>(next) / grid.num_chunks(1);
      const index_t j = static_cast<index_t>(next) % grid.num_chunks(1);
      inbox.deliver(x_tasks[next], Chunk::dense_filled(DType::float64, grid.chunk_shape(i, j),
                                                       1000.0 + double(next)));
      ++next;
    }
    return false;  // nothing in flight: wait for the next poll interval
  };
  hooks.on_done = [&](TaskId id, const Chunk&) {
    const std::lock_guard<std::mutex> lock(mutex);
    ++exported[id];
  };
  hooks.export_mask = &export_mask;
  for (int threads : {1, 2, 4}) {
    next = 0;
    exported.clear();
    LocalExecutor ex(threads);
    const std::vector<Chunk> chunks = ex.run(g, run_mask, y_tasks, hooks);
    ASSERT_EQ(chunks.size(), y_tasks.size());
    for (std::size_t k = 0; k < chunks.size(); ++k) {
      const Shape s = chunks[k].shape();
      EXPECT_TRUE(values_equal(chunks[k], Ref(s, 2.0 * (1000.0 + double(k))))) << k;
    }
    EXPECT_EQ(ex.last_stats().tasks_run, static_cast<index_t>(y_tasks.size()));
    EXPECT_EQ(exported.size(), 1u);
    EXPECT_EQ(exported[y_tasks[3]], 1);
  }
}

}  // namespace
}  // namespace tessera
