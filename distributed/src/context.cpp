#include "tessera/distributed/context.hpp"

#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <thread>

#include "tessera/core/error.hpp"
#include "tessera/distributed/planner.hpp"

namespace tessera {
namespace {

// A materialized distributed array: each rank holds the chunks it owns.
class PersistedNode final : public Node {
 public:
  PersistedNode(const Node& like, OwnershipMap map,
                std::map<std::pair<index_t, index_t>, Chunk> chunks, int rank, std::uint64_t serial)
      : Node("persisted", like.dtype(), like.layout(), like.grid(), {}),
        map_(std::move(map)),
        chunks_(std::move(chunks)),
        rank_(rank),
        serial_(serial) {
    Hasher h;
    h.add(like.fingerprint()).add(serial).add(map_.owners().size());
    h.bytes(map_.owners().data(), map_.owners().size() * sizeof(int));
    finish_fingerprint(h);
  }
  [[nodiscard]] int fixed_owner(index_t i, index_t j) const override { return map_.owner(i, j); }
  Chunk compute(const TaskKey& key, std::span<const Chunk>) const override {
    auto it = chunks_.find({key.i, key.j});
    if (it == chunks_.end()) {
      throw InternalError("rank " + std::to_string(rank_) + ": chunk (" + std::to_string(key.i) +
                          ", " + std::to_string(key.j) + ") of " + name() + " is owned by rank " +
                          std::to_string(map_.owner(key.i, key.j)));
    }
    return it->second;
  }
  [[nodiscard]] const OwnershipMap& map() const { return map_; }
  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] std::uint64_t serial() const { return serial_; }
  [[nodiscard]] const std::map<std::pair<index_t, index_t>, Chunk>& chunks() const {
    return chunks_;
  }

 private:
  OwnershipMap map_;
  std::map<std::pair<index_t, index_t>, Chunk> chunks_;
  int rank_;
  std::uint64_t serial_;
};

// Identity on every chunk, placed on the chunk's default owner: moves chunks home.
class RebalanceNode final : public Node {
 public:
  explicit RebalanceNode(const NodePtr& x)
      : Node("rebalance", x->dtype(), x->layout(), x->grid(), {x}) {
    finish_fingerprint(Hasher());
  }
  void lower(Lowering& lw) const override {
    for (index_t i = 0; i < grid().num_chunks(0); ++i) {
      for (index_t j = 0; j < grid().num_chunks(1); ++j) {
        const TaskId dep = lw.input_chunk(0, i, j);
        lw.add_chunk_task(i, j, {&dep, 1}, Placement::chunk_owner);
      }
    }
  }
  Chunk compute(const TaskKey&, std::span<const Chunk> deps) const override { return deps[0]; }
};

}  // namespace

int default_threads_per_rank(const Comm& comm) {
  const std::vector<int> mine = LocalExecutor::allowed_cpus();
  const auto own = static_cast<int>(mine.size());
  if (comm.is_serial() || comm.size() == 1) return std::max(1, own);
  // Every rank of this node says which CPUs it may run on, as a bitmask of a common width.
  const Comm node = comm.split_node("counting the ranks on this node");
  const auto width = static_cast<std::size_t>(
      node.all_reduce_max(static_cast<std::uint64_t>(mine.back()) + 1, "agreeing on CPU numbers"));
  const std::size_t mask_bytes = (width + 7) / 8;
  std::vector<std::byte> mask(mask_bytes);
  for (int cpu : mine)
    mask[static_cast<std::size_t>(cpu) / 8] |= std::byte{1} << (cpu % 8);
  const std::vector<std::byte> masks = node.all_gather(mask, "sharing CPU affinity");
  // This rank's fair share: each of its CPUs divided among the node's ranks allowed on it. Ranks
  // bound to cores of their own keep them; ranks that may all run anywhere (--bind-to none)
  // split the node.
  double share = 0;
  for (int cpu : mine) {
    int sharing = 0;
    for (int r = 0; r < node.size(); ++r) {
      const std::byte bits =
          masks[static_cast<std::size_t>(r) * mask_bytes + static_cast<std::size_t>(cpu) / 8];
      if ((bits & (std::byte{1} << (cpu % 8))) != std::byte{0}) ++sharing;
    }
    share += 1.0 / std::max(1, sharing);
  }
  return std::max(1, static_cast<int>(std::floor(share + 1e-9)));
}

namespace {

// Root's values on every rank, as one broadcast of their bytes.
std::vector<int> broadcast_ints(const Comm& comm, std::vector<int> values, const char* hint) {
  if (comm.size() == 1) return values;
  std::vector<std::byte> bytes(values.size() * sizeof(int));
  if (comm.rank() == 0) std::memcpy(bytes.data(), values.data(), bytes.size());
  comm.broadcast(bytes, 0, hint);
  values.resize(bytes.size() / sizeof(int));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(int));
  return values;
}

int pick_threads(const Comm& comm, int threads) {
  if (threads > 0) return threads;
  if (const char* env = std::getenv("TESSERA_THREADS"); env != nullptr && *env != '\0') {
    return LocalExecutor::default_threads();  // validates the variable
  }
  return default_threads_per_rank(comm);
}
}  // namespace

Context::Context() : Context(Comm::world()) {}

Context::Context(Comm comm, int threads)
    : comm_(std::move(comm)), executor_(pick_threads(comm_, threads)) {}

void Context::check_same_graph(const TaskGraph& graph, const char* what) const {
  const std::uint64_t mine = graph.fingerprint();
  const std::uint64_t lo = comm_.all_reduce_min(mine, what);
  const std::uint64_t hi = comm_.all_reduce_max(mine, what);
  if (lo != hi) {
    throw DistributedError(std::string(what) + ": ranks built different graphs (rank " +
                           std::to_string(rank()) + " has fingerprint " + std::to_string(mine) +
                           "); every rank must build the same lazy expression (SPMD)");
  }
}

std::vector<Chunk> Context::run(const std::vector<Array>& arrays, Delivery delivery, int root,
                                std::vector<int>* owners) {
  if (root >= size()) {
    throw DistributedError("compute: root rank " + std::to_string(root) + " is outside [0, " +
                           std::to_string(size()) + ")");
  }
  const auto started = std::chrono::steady_clock::now();
  std::vector<NodePtr> nodes;
  for (const auto& a : arrays)
    nodes.push_back(a.node());
  const TaskGraph graph = TaskGraph::lower(nodes);
  check_same_graph(graph, "Context::compute");
  std::vector<TaskId> outputs;
  for (const auto& n : nodes) {
    const auto tasks = graph.chunk_tasks(graph.node_id(*n));
    outputs.insert(outputs.end(), tasks.begin(), tasks.end());
  }
  // The coordinator plans; each rank receives its own plan.
  PlanSet planned;
  std::exception_ptr planning_error;
  std::string planning_message;
  if (rank() == 0) {
    try {
      planned = make_plans(graph, {outputs, size(), delivery, std::max(root, 0)});
    } catch (const std::exception& e) {
      planning_error = std::current_exception();
      planning_message = e.what();
    }
  }
  // Everyone learns whether the coordinator could plan before anyone waits for a plan.
  if (size() > 1) {
    std::vector<std::byte> message(planning_message.size());
    std::memcpy(message.data(), planning_message.data(), message.size());
    comm_.broadcast(message, 0, "sharing the planning outcome");
    if (!message.empty() && rank() != 0) {
      throw DistributedError(
          "the coordinator (rank 0) could not plan: " +
          std::string(reinterpret_cast<const char*>(message.data()), message.size()));
    }
  }
  if (planning_error) std::rethrow_exception(planning_error);
  const Plan plan = comm_.scatter(planned.plans, 0, "shipping plans");
  if (plan.graph_fingerprint != graph.fingerprint() || plan.rank != rank()) {
    throw DistributedError("rank " + std::to_string(rank()) +
                           ": received a plan for another graph or rank");
  }
  // The outputs' owners are the same for every rank: broadcast once, and only when the caller
  // keeps them (persist's ownership map).
  if (owners != nullptr) {
    *owners = broadcast_ints(comm_, std::move(planned.output_owners), "shipping output owners");
    if (owners->size() != outputs.size()) {
      throw DistributedError("rank " + std::to_string(rank()) + ": received " +
                             std::to_string(owners->size()) + " output owners for " +
                             std::to_string(outputs.size()) + " outputs");
    }
  }
  planned = PlanSet{};
  stats_ = ExecutionStats{};
  stats_.plan_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  PlanExecutor executor(comm_, executor_);
  std::vector<Chunk> held = executor.execute(graph, plan, stats_);

  // Map held outputs back to every requested output (duplicates allowed), then assemble arrays.
  std::map<TaskId, Chunk> by_task;
  for (std::size_t n = 0; n < plan.outputs.size(); ++n)
    by_task.emplace(plan.outputs[n], held[n]);
  std::vector<Chunk> per_output;
  per_output.reserve(outputs.size());
  for (TaskId t : outputs) {
    auto it = by_task.find(t);
    per_output.push_back(it == by_task.end() ? Chunk() : it->second);
  }
  return per_output;
}

std::vector<Chunk> Context::compute(const std::vector<Array>& arrays, int root) {
  const std::vector<Chunk> chunks =
      run(arrays, root < 0 ? Delivery::all : Delivery::root, root, nullptr);
  std::vector<Chunk> out;
  std::vector<std::size_t> starts;  // of each array's chunks in `chunks`
  std::size_t at = 0;
  for (std::size_t a = 0; a < arrays.size(); ++a) {
    const ChunkGrid& grid = arrays[a].chunks();
    const auto n = static_cast<std::size_t>(grid.num_chunks());
    const std::span<const Chunk> mine = std::span<const Chunk>(chunks).subspan(at, n);
    starts.push_back(at);
    at += n;
    if (root >= 0 && rank() != root) {
      out.emplace_back();
      continue;
    }
    // An earlier array of the same chunks (the same tasks, or aliases of them) is the same
    // result: share it rather than assemble a second copy.
    std::optional<Chunk> same;
    for (std::size_t b = 0; b < a && !same; ++b) {
      if (arrays[b].chunks() != grid) continue;
      const Chunk* theirs = chunks.data() + starts[b];
      bool equal = true;
      for (std::size_t k = 0; k < n && equal; ++k)
        equal = mine[k].same_view(theirs[k]) && mine[k].buffer() != nullptr;
      if (equal) same = out[b];
    }
    out.push_back(same ? *same : assemble_blocks(mine, grid.num_chunks(0), grid.num_chunks(1)));
  }
  return out;
}

Chunk Context::compute(const Array& array, int root) {
  return compute(std::vector<Array>{array}, root).at(0);
}

Array Context::persisted(const Array& array, std::span<const Chunk> chunks,
                         std::vector<int> owners) {
  const ChunkGrid& grid = array.chunks();
  std::map<std::pair<index_t, index_t>, Chunk> mine;
  for (index_t i = 0; i < grid.num_chunks(0); ++i) {
    for (index_t j = 0; j < grid.num_chunks(1); ++j) {
      const auto n = static_cast<std::size_t>(i * grid.num_chunks(1) + j);
      if (owners[n] == rank()) mine.emplace(std::pair{i, j}, chunks[n]);
    }
  }
  OwnershipMap map(grid.num_chunks(0), grid.num_chunks(1), std::move(owners), size());
  return Array(std::make_shared<PersistedNode>(*array.node(), std::move(map), std::move(mine),
                                               rank(), persist_count_++));
}

Array Context::persist(const Array& array) {
  return persist(std::vector<Array>{array}).at(0);
}

std::vector<Array> Context::persist(const std::vector<Array>& arrays) {
  std::vector<int> owners;
  const std::vector<Chunk> chunks = run(arrays, Delivery::in_place, 0, &owners);
  std::vector<Array> out;
  std::size_t at = 0;
  for (const Array& a : arrays) {
    const auto n = static_cast<std::size_t>(a.chunks().num_chunks());
    out.push_back(
        persisted(a, std::span<const Chunk>(chunks).subspan(at, n),
                  std::vector<int>(owners.begin() + static_cast<std::ptrdiff_t>(at),
                                   owners.begin() + static_cast<std::ptrdiff_t>(at + n))));
    at += n;
  }
  return out;
}

Array Context::deep_copy(const Array& array) {
  const auto* node = dynamic_cast<const PersistedNode*>(array.node().get());
  if (node == nullptr) return array;
  std::map<std::pair<index_t, index_t>, Chunk> copies;
  for (const auto& [key, chunk] : node->chunks())
    copies.emplace(key, chunk.deep_copy());
  return Array(std::make_shared<PersistedNode>(*node, node->map(), std::move(copies), node->rank(),
                                               node->serial()));
}

Array Context::rebalance(const Array& array) {
  return persist(Array(std::make_shared<RebalanceNode>(array.node())));
}

std::vector<std::pair<std::pair<index_t, index_t>, Chunk>> Context::local_chunks(
    const Array& array) {
  const auto* node = dynamic_cast<const PersistedNode*>(array.node().get());
  if (node == nullptr) return {};
  return {node->chunks().begin(), node->chunks().end()};
}

const OwnershipMap* Context::ownership(const Array& array) {
  const auto* node = dynamic_cast<const PersistedNode*>(array.node().get());
  return node == nullptr ? nullptr : &node->map();
}

}  // namespace tessera
