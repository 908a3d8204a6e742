#include "tessera/distributed/planner.hpp"

#include <algorithm>
#include <string>

#include "tessera/core/error.hpp"
#include "tessera/distributed/ownership_map.hpp"

namespace tessera {
namespace {

// Dense size of the chunk a task produces: exact for dense part-0 tasks, an upper bound for
// pieces, partials and CSR.
std::int64_t chunk_bytes_estimate(const TaskGraph& graph, TaskId t) {
  const TaskKey& key = graph.task(t).key;
  const Node& node = graph.node(key.node);
  const ChunkGrid& g = node.grid();
  const index_t i = std::min(key.i, g.num_chunks(0) - 1), j = std::min(key.j, g.num_chunks(1) - 1);
  return g.chunk_shape(i, j).size() * static_cast<std::int64_t>(itemsize(node.dtype()));
}

}  // namespace

std::vector<int> place_tasks(const TaskGraph& graph, std::span<const TaskId> outputs, int ranks) {
  if (ranks < 1)
    throw DistributedError("planner: rank count must be positive, got " + std::to_string(ranks));
  const std::vector<bool> needed = graph.needed_for(outputs);
  std::vector<int> rank(static_cast<std::size_t>(graph.num_tasks()), -1);
  for (TaskId t = 0; t < graph.num_tasks(); ++t) {
    if (!needed[t]) continue;
    const Task& task = graph.task(t);
    const Node& node = graph.node(task.key.node);
    const auto deps = graph.deps(t);
    int r = task.key.part == 0 ? node.fixed_owner(task.key.i, task.key.j) : -1;
    if (r >= ranks) {
      throw DistributedError("planner: chunk (" + std::to_string(task.key.i) + ", " +
                             std::to_string(task.key.j) + ") of " + node.name() +
                             " lives on rank " + std::to_string(r) + " but there are only " +
                             std::to_string(ranks) + " ranks");
    }
    if (r < 0) {
      if (task.placement == Placement::with_first_dep && !deps.empty()) {
        r = rank[deps[0]];
      } else {
        r = OwnershipMap::row_block_owner(std::min(task.key.i, node.grid().num_chunks(0) - 1),
                                          node.grid().num_chunks(0), ranks);
      }
    }
    rank[t] = r;
  }
  return rank;
}

PlanSet make_plans(const TaskGraph& graph, const PlanRequest& request) {
  const int ranks = request.ranks;
  if (request.delivery == Delivery::root && (request.root < 0 || request.root >= ranks)) {
    throw DistributedError("planner: root rank " + std::to_string(request.root) +
                           " is outside [0, " + std::to_string(ranks) + ")");
  }
  const std::vector<int> rank = place_tasks(graph, request.outputs, ranks);
  PlanSet set;
  std::vector<Plan>& plans = set.plans;
  plans.resize(static_cast<std::size_t>(ranks));
  const std::uint64_t fingerprint = graph.fingerprint();
  for (int r = 0; r < ranks; ++r) {
    plans[r].rank = r;
    plans[r].ranks = ranks;
    plans[r].graph_fingerprint = fingerprint;
  }
  const index_t n = graph.num_tasks();
  for (TaskId t = 0; t < n; ++t) {
    if (rank[t] >= 0) plans[rank[t]].run.push_back(t);
  }
  // One pass over the outputs: each lands in the plans of the ranks that hold it at the end.
  set.output_owners.reserve(request.outputs.size());
  for (TaskId t : request.outputs) {
    const int owner = rank[t];
    set.output_owners.push_back(owner);
    if (request.delivery == Delivery::all) {
      for (int r = 0; r < ranks; ++r)
        plans[r].outputs.push_back(t);
    } else {
      plans[owner].outputs.push_back(t);
      if (request.delivery == Delivery::root && owner != request.root)
        plans[request.root].outputs.push_back(t);
    }
  }
  // Transfers (task, destination): every dependency computed on another rank, and the outputs'
  // delivery. Grouped by task with a counting sort (ids are dense), each task's destinations
  // sorted and deduplicated so each chunk goes to each rank once: linear in the transfers, where
  // sorting all (task, destination) pairs cost most of the planning of a gather to 1024 ranks.
  const auto for_each_move = [&](const auto& visit) {
    for (TaskId t = 0; t < n; ++t) {
      const int r = rank[t];
      if (r < 0) continue;
      for (TaskId d : graph.deps(t)) {
        if (rank[d] != r) visit(d, r);
      }
    }
    for (TaskId t : request.outputs) {
      const int owner = rank[t];
      if (request.delivery == Delivery::root && owner != request.root) visit(t, request.root);
      if (request.delivery == Delivery::all) {
        for (int r = 0; r < ranks; ++r) {
          if (r != owner) visit(t, r);
        }
      }
    }
  };
  // Counts go to first[t + 2]; after the prefix sum, filling through first[t + 1] leaves
  // first[t] at the start of t's destinations and first[t + 1] at their end.
  std::vector<index_t> first(static_cast<std::size_t>(n) + 2, 0);
  for_each_move([&](TaskId t, int) { ++first[t + 2]; });
  for (TaskId t = 0; t < n; ++t)
    first[t + 2] += first[t + 1];
  std::vector<int> dests(static_cast<std::size_t>(first[n + 1]));
  if (!dests.empty()) for_each_move([&](TaskId t, int dest) { dests[first[t + 1]++] = dest; });
  std::int64_t total = 0;
  for (TaskId t = 0; t < n; ++t) {
    if (first[t] == first[t + 1]) continue;
    const auto begin = dests.begin() + first[t], end = dests.begin() + first[t + 1];
    if (!std::is_sorted(begin, end)) std::sort(begin, end);
    const std::int64_t bytes = chunk_bytes_estimate(graph, t);
    Plan& from = plans[rank[t]];
    for (auto it = begin; it != end; ++it) {
      if (it != begin && *it == *(it - 1)) continue;
      from.sends.emplace_back(t, *it);
      from.bytes_sent_estimate += bytes;
      plans[*it].receives.emplace_back(t, rank[t]);
      total += bytes;
    }
  }
  for (auto& p : plans)
    p.bytes_moved_estimate = total;
  return set;
}

}  // namespace tessera
