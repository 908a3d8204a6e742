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

std::vector<Plan> make_plans(const TaskGraph& graph, const PlanRequest& request) {
  const int ranks = request.ranks;
  if (request.delivery == Delivery::root && (request.root < 0 || request.root >= ranks)) {
    throw DistributedError("planner: root rank " + std::to_string(request.root) +
                           " is outside [0, " + std::to_string(ranks) + ")");
  }
  const std::vector<int> rank = place_tasks(graph, request.outputs, ranks);
  std::vector<Plan> plans(static_cast<std::size_t>(ranks));
  const std::uint64_t fingerprint = graph.fingerprint();
  for (int r = 0; r < ranks; ++r) {
    plans[r].rank = r;
    plans[r].ranks = ranks;
    plans[r].graph_fingerprint = fingerprint;
  }
  // Transfers (task, destination): every dependency computed on another rank, and the outputs'
  // delivery. Sorted and deduplicated so each chunk goes to each rank once.
  std::vector<std::pair<TaskId, int>> moves;
  for (TaskId t = 0; t < graph.num_tasks(); ++t) {
    const int r = rank[t];
    if (r < 0) continue;
    plans[r].run.push_back(t);
    for (TaskId d : graph.deps(t)) {
      if (rank[d] != r) moves.emplace_back(d, r);
    }
  }
  std::vector<int> owners;
  owners.reserve(request.outputs.size());
  for (TaskId t : request.outputs) {
    owners.push_back(rank[t]);
    switch (request.delivery) {
      case Delivery::in_place:
        break;
      case Delivery::root:
        if (rank[t] != request.root) moves.emplace_back(t, request.root);
        break;
      case Delivery::all:
        for (int r = 0; r < ranks; ++r) {
          if (r != rank[t]) moves.emplace_back(t, r);
        }
        break;
    }
  }
  std::sort(moves.begin(), moves.end());
  moves.erase(std::unique(moves.begin(), moves.end()), moves.end());
  std::int64_t total = 0;
  for (const auto& [t, dest] : moves) {
    const std::int64_t bytes = chunk_bytes_estimate(graph, t);
    plans[rank[t]].sends.emplace_back(t, dest);
    plans[rank[t]].bytes_sent_estimate += bytes;
    plans[dest].receives.emplace_back(t, rank[t]);
    total += bytes;
  }
  for (auto& p : plans) {
    p.bytes_moved_estimate = total;
    p.output_owners = owners;
    for (std::size_t n = 0; n < request.outputs.size(); ++n) {
      const bool here = request.delivery == Delivery::all || owners[n] == p.rank ||
                        (request.delivery == Delivery::root && p.rank == request.root);
      if (here) p.outputs.push_back(request.outputs[n]);
    }
  }
  return plans;
}

}  // namespace tessera
