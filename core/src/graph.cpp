#include "tessera/core/graph.hpp"

#include <cstdio>
#include <string>

#include "tessera/core/error.hpp"

namespace tessera {

Hasher& Hasher::bytes(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    state_ ^= p[i];
    state_ *= 1099511628211ULL;
  }
  return *this;
}

Hasher& Hasher::add(std::string_view text) {
  add(text.size());
  return bytes(text.data(), text.size());
}

Hasher& Hasher::add(const std::vector<index_t>& values) {
  add(values.size());
  return bytes(values.data(), values.size() * sizeof(index_t));
}

Node::Node(std::string kind, DType dtype, Layout layout, ChunkGrid grid,
           std::vector<NodePtr> inputs)
    : kind_(std::move(kind)),
      dtype_(dtype),
      layout_(layout),
      grid_(std::move(grid)),
      inputs_(std::move(inputs)) {}

void Node::finish_fingerprint(const Hasher& params) {
  Hasher h;
  h.add(kind_)
      .add(dtype_)
      .add(layout_)
      .add(grid_.sizes(0))
      .add(grid_.sizes(1))
      .add(params.digest());
  for (const auto& in : inputs_)
    h.add(in->fingerprint());
  fingerprint_ = h.digest();
}

std::string Node::name() const {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08llx", static_cast<unsigned long long>(fingerprint_ >> 32));
  return kind_ + "-" + hex;
}

void Node::lower(Lowering& lowering) const {
  // Block-wise: output chunk (i, j) needs chunk (i, j) of every input (sources need nothing).
  std::vector<TaskId> deps(inputs_.size());
  for (index_t i = 0; i < grid_.num_chunks(0); ++i) {
    for (index_t j = 0; j < grid_.num_chunks(1); ++j) {
      for (std::size_t n = 0; n < inputs_.size(); ++n)
        deps[n] = lowering.input_chunk(n, i, j);
      lowering.add_chunk_task(i, j, deps,
                              inputs_.empty() ? Placement::chunk_owner : Placement::with_first_dep);
    }
  }
}

TaskGraph TaskGraph::lower(std::span<const NodePtr> outputs) {
  TaskGraph g;
  // Iterative depth-first post-order: inputs before their consumers, in input order, so every
  // rank numbers nodes and tasks identically.
  std::vector<std::pair<const NodePtr*, std::size_t>> stack;
  std::unordered_map<const Node*, bool> seen;
  for (const auto& out : outputs) {
    TESSERA_ASSERT(out != nullptr, "TaskGraph::lower of a null node");
    if (seen.contains(out.get())) continue;
    seen[out.get()] = true;
    stack.emplace_back(&out, 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const auto& inputs = (*node)->inputs();
      if (next < inputs.size()) {
        const NodePtr* child = &inputs[next++];
        if (!seen.contains(child->get())) {
          seen[child->get()] = true;
          stack.emplace_back(child, 0);
        }
        continue;
      }
      const auto id = static_cast<NodeId>(g.nodes_.size());
      g.ids_[node->get()] = id;
      g.nodes_.push_back(*node);
      stack.pop_back();
    }
  }
  g.chunk_tasks_.resize(g.nodes_.size());
  for (NodeId id = 0; id < static_cast<NodeId>(g.nodes_.size()); ++id) {
    const Node& n = *g.nodes_[id];
    g.chunk_tasks_[id].assign(static_cast<std::size_t>(n.grid().num_chunks()), -1);
    Lowering lowering(g, id);
    n.lower(lowering);
    for (TaskId t : g.chunk_tasks_[id]) {
      TESSERA_ASSERT(t >= 0, "node " + n.name() + " left a chunk without a task");
    }
  }
  return g;
}

NodeId TaskGraph::node_id(const Node& node) const {
  auto it = ids_.find(&node);
  TESSERA_ASSERT(it != ids_.end(), "node " + node.name() + " is not in this task graph");
  return it->second;
}

TaskId TaskGraph::chunk_task(NodeId node, index_t i, index_t j) const {
  const ChunkGrid& grid = nodes_[node]->grid();
  TESSERA_ASSERT(i >= 0 && i < grid.num_chunks(0) && j >= 0 && j < grid.num_chunks(1),
                 "chunk index outside the grid of " + nodes_[node]->name());
  return chunk_tasks_[node][static_cast<std::size_t>(i * grid.num_chunks(1) + j)];
}

std::vector<TaskId> TaskGraph::chunk_tasks(NodeId node) const {
  return chunk_tasks_[node];
}

std::vector<bool> TaskGraph::needed_for(std::span<const TaskId> targets) const {
  std::vector<bool> needed(tasks_.size(), false);
  std::vector<TaskId> stack(targets.begin(), targets.end());
  while (!stack.empty()) {
    const TaskId t = stack.back();
    stack.pop_back();
    if (needed[t]) continue;
    needed[t] = true;
    for (TaskId d : deps(t)) {
      if (!needed[d]) stack.push_back(d);
    }
  }
  return needed;
}

std::uint64_t TaskGraph::fingerprint() const {
  Hasher h;
  for (const auto& n : nodes_)
    h.add(n->fingerprint());
  h.add(tasks_.size());
  return h.digest();
}

Chunk TaskGraph::compute(TaskId id, std::span<const Chunk> deps) const {
  const Task& t = tasks_[id];
  return nodes_[t.key.node]->compute(t.key, deps);
}

TaskId Lowering::input_chunk(std::size_t input, index_t i, index_t j) const {
  const Node& self = *graph_.nodes_[node_];
  TESSERA_ASSERT(input < self.inputs().size(), "input index out of range in " + self.name());
  return graph_.chunk_task(graph_.node_id(*self.inputs()[input]), i, j);
}

TaskId Lowering::add_task(TaskKey key, std::span<const TaskId> deps, Placement placement) {
  key.node = node_;
  const auto id = static_cast<TaskId>(graph_.tasks_.size());
  Task t;
  t.key = key;
  t.placement = placement;
  t.dep_begin = static_cast<index_t>(graph_.dep_ids_.size());
  graph_.dep_ids_.insert(graph_.dep_ids_.end(), deps.begin(), deps.end());
  t.dep_end = static_cast<index_t>(graph_.dep_ids_.size());
  graph_.tasks_.push_back(t);
  return id;
}

TaskId Lowering::add_chunk_task(index_t i, index_t j, std::span<const TaskId> deps,
                                Placement placement) {
  const TaskId id = add_task(TaskKey{node_, 0, i, j, 0}, deps, placement);
  alias_chunk(i, j, id);
  return id;
}

void Lowering::alias_chunk(index_t i, index_t j, TaskId existing) {
  const ChunkGrid& grid = graph_.nodes_[node_]->grid();
  graph_.chunk_tasks_[node_][static_cast<std::size_t>(i * grid.num_chunks(1) + j)] = existing;
}

}  // namespace tessera
