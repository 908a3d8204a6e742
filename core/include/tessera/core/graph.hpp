// The lazy expression graph and its lowering to chunk tasks. A Node is one graph layer (one
// operation on whole arrays); lowering turns the nodes below an output into a TaskGraph of chunk
// tasks with explicit dependencies. Nodes compute their own tasks from the task key, so a task
// graph can be rebuilt identically on every rank (SPMD) and a plan can name tasks by id.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/chunk_grid.hpp"

namespace tessera {

using NodeId = std::int32_t;
using TaskId = std::int64_t;

// A task names one block of work: part 0 is output chunk (i, j) of the node; parts > 0 are a
// node's internal steps (selection pieces, reduction tree levels), with `k` numbering them.
struct TaskKey {
  NodeId node = 0;
  std::int32_t part = 0;
  index_t i = 0;
  index_t j = 0;
  index_t k = 0;
};

// Where a distributed planner runs a task: on the owner of output chunk (i, j) of the task's
// node under the default ownership of its grid (sources, and assemblies of pieces from several
// chunks), or on the rank that runs the task's first dependency (block-wise operations, pieces,
// partials: work stays next to the data it reads).
enum class Placement : std::uint8_t { chunk_owner, with_first_dep };

// FNV-1a over the bytes of a node's kind and parameters: equal graphs hash equal on every rank.
class Hasher {
 public:
  Hasher& bytes(const void* data, std::size_t n);
  // Scalars only: hashing an object's bytes would hash its pointers, which differ per process.
  template <typename T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T> Hasher& add(const T& value) {
    return bytes(&value, sizeof(T));
  }
  Hasher& add(std::string_view text);
  Hasher& add(const std::vector<index_t>& values);
  [[nodiscard]] std::uint64_t digest() const { return state_; }

 private:
  std::uint64_t state_ = 14695981039346656037ULL;
};

class Lowering;
class Node;
using NodePtr = std::shared_ptr<const Node>;

class Node {
 public:
  Node(std::string kind, DType dtype, Layout layout, ChunkGrid grid, std::vector<NodePtr> inputs);
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  [[nodiscard]] const std::string& kind() const { return kind_; }
  [[nodiscard]] DType dtype() const { return dtype_; }
  [[nodiscard]] Layout layout() const { return layout_; }
  [[nodiscard]] const ChunkGrid& grid() const { return grid_; }
  [[nodiscard]] Shape shape() const { return grid_.shape(); }
  [[nodiscard]] const std::vector<NodePtr>& inputs() const { return inputs_; }
  // Stable across ranks and runs: kind, parameters, and the inputs' fingerprints.
  [[nodiscard]] std::uint64_t fingerprint() const { return fingerprint_; }
  // dask-style layer name: "<kind>-<first 8 hex digits of the fingerprint>".
  [[nodiscard]] std::string name() const;

  // Emits the tasks producing every chunk of this node (inputs are lowered already).
  virtual void lower(Lowering& lowering) const;
  // Computes one task of this node from its dependencies' chunks, in dependency order.
  [[nodiscard]] virtual Chunk compute(const TaskKey& key, std::span<const Chunk> deps) const = 0;
  // For sources whose chunks already live on a given rank (persisted arrays, files read on
  // their owner); -1 lets the planner choose.
  [[nodiscard]] virtual int fixed_owner(index_t /*i*/, index_t /*j*/) const { return -1; }
  // The whole array when this node is an in-memory source (nothing to compute), else nullptr.
  [[nodiscard]] virtual const Chunk* in_memory() const { return nullptr; }

 protected:
  // Called once by every concrete constructor: mixes parameters into the fingerprint.
  void finish_fingerprint(const Hasher& params);

 private:
  std::string kind_;
  DType dtype_;
  Layout layout_;
  ChunkGrid grid_;
  std::vector<NodePtr> inputs_;
  std::uint64_t fingerprint_ = 0;
};

struct Task {
  TaskKey key;
  Placement placement = Placement::chunk_owner;
  index_t dep_begin = 0;  // into TaskGraph's flat dependency list
  index_t dep_end = 0;
};

// All chunk tasks below some output arrays, in a topological order (a task's dependencies have
// smaller ids). Built the same way on every rank from the same graph.
class TaskGraph {
 public:
  static TaskGraph lower(std::span<const NodePtr> outputs);

  [[nodiscard]] index_t num_tasks() const { return static_cast<index_t>(tasks_.size()); }
  [[nodiscard]] const Task& task(TaskId id) const { return tasks_[id]; }
  [[nodiscard]] std::span<const TaskId> deps(TaskId id) const {
    const Task& t = tasks_[id];
    return {dep_ids_.data() + t.dep_begin, static_cast<std::size_t>(t.dep_end - t.dep_begin)};
  }
  // Nodes in topological order; a NodeId indexes this list.
  [[nodiscard]] const std::vector<NodePtr>& nodes() const { return nodes_; }
  [[nodiscard]] const Node& node(NodeId id) const { return *nodes_[id]; }
  [[nodiscard]] NodeId node_id(const Node& node) const;
  // The task producing chunk (i, j) of a node (aliases resolved: a concatenation's chunk is its
  // source's task).
  [[nodiscard]] TaskId chunk_task(NodeId node, index_t i, index_t j) const;
  // Tasks producing every chunk of a node, row-major over its chunk grid.
  [[nodiscard]] std::vector<TaskId> chunk_tasks(NodeId node) const;
  // Which tasks are needed to produce `targets` (a dependency closure), as a mask by task id.
  [[nodiscard]] std::vector<bool> needed_for(std::span<const TaskId> targets) const;
  // Combined fingerprint of every node, in order: ranks compare it before executing.
  [[nodiscard]] std::uint64_t fingerprint() const;
  // Runs a task's computation given its dependencies' chunks.
  [[nodiscard]] Chunk compute(TaskId id, std::span<const Chunk> deps) const;

 private:
  friend class Lowering;
  std::vector<NodePtr> nodes_;
  std::unordered_map<const Node*, NodeId> ids_;
  std::vector<Task> tasks_;
  std::vector<TaskId> dep_ids_;
  std::vector<std::vector<TaskId>> chunk_tasks_;  // per node, row-major chunk grid
};

// Handed to Node::lower: look up input chunks' tasks, add tasks, name the output chunks.
class Lowering {
 public:
  Lowering(TaskGraph& graph, NodeId node) : graph_(graph), node_(node) {}

  [[nodiscard]] TaskId input_chunk(std::size_t input, index_t i, index_t j) const;
  TaskId add_task(TaskKey key, std::span<const TaskId> deps,
                  Placement placement = Placement::chunk_owner);
  // Adds the task for output chunk (i, j) (part 0) and records it.
  TaskId add_chunk_task(index_t i, index_t j, std::span<const TaskId> deps,
                        Placement placement = Placement::chunk_owner);
  // Names an existing task as output chunk (i, j): no new work (zero-copy concatenation).
  void alias_chunk(index_t i, index_t j, TaskId existing);
  [[nodiscard]] NodeId node_id() const { return node_; }

 private:
  TaskGraph& graph_;
  NodeId node_;
};

// Counts a user sees in the representation: "N chunks in M graph layers", and the task count.
struct GraphStats {
  index_t chunks = 0;
  index_t layers = 0;
  index_t tasks = 0;
};

}  // namespace tessera
