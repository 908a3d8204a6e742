// Context: what a Tessera program holds to run lazy arrays across ranks: the communicator and the
// thread pool. Every rank builds the same lazy graph (SPMD); the context checks that they agree,
// rank 0 (the coordinator) plans and ships each rank its Plan, and every rank runs its part.
//
//   tessera::Context ctx;                        // MPI_COMM_WORLD under mpirun, serial otherwise
//   Array x = ctx.persist(random(...));          // chunks materialized where they are owned
//   Chunk sums = ctx.compute(x.sum(1));          // gathered to every rank
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/core/array.hpp"
#include "tessera/core/local_executor.hpp"
#include "tessera/distributed/comm.hpp"
#include "tessera/distributed/ownership_map.hpp"
#include "tessera/distributed/plan_executor.hpp"

namespace tessera {

class Context {
 public:
  // Comm::world(), with TESSERA_THREADS threads (default: default_threads_per_rank).
  Context();
  explicit Context(Comm comm, int threads = 0);

  [[nodiscard]] const Comm& comm() const { return comm_; }
  [[nodiscard]] int rank() const { return comm_.rank(); }
  [[nodiscard]] int size() const { return comm_.size(); }
  [[nodiscard]] int threads() const { return executor_.threads(); }

  // The whole array on every rank (root < 0), or on `root` only (others get an empty chunk).
  // Arrays of one call that compute the same chunks (an array passed twice, layers['a'] = X)
  // are assembled once and share the result's buffer. Collective.
  Chunk compute(const Array& array, int root = -1);
  std::vector<Chunk> compute(const std::vector<Array>& arrays, int root = -1);
  // Materializes the array where its chunks are computed; the result is a source backed by an
  // ownership map (each rank holds its own chunks). Collective.
  Array persist(const Array& array);
  // persist() of several arrays in one collective; arrays computing the same chunks share them.
  std::vector<Array> persist(const std::vector<Array>& arrays);
  // A persisted array whose chunks on this rank are fresh copies (to_memory(copy=true)); any
  // other array is returned as it is. Not collective.
  static Array deep_copy(const Array& persisted);
  // persist() with every chunk moved to the default ownership (chunk-row blocks). Collective.
  Array rebalance(const Array& array);

  // Statistics of the last compute/persist/rebalance on this rank.
  [[nodiscard]] const ExecutionStats& last_stats() const { return stats_; }

  // The ownership map of a persisted array; nullptr for any other array.
  static const OwnershipMap* ownership(const Array& array);
  // The chunks of a persisted array held on this rank: ((i, j), chunk), row-major. Empty for
  // any other array.
  static std::vector<std::pair<std::pair<index_t, index_t>, Chunk>> local_chunks(
      const Array& array);

  // Graph fingerprints must agree before anything runs; a mismatch throws DistributedError on
  // every rank. Exposed for tests.
  void check_same_graph(const TaskGraph& graph, const char* what) const;

 private:
  std::vector<Chunk> run(const std::vector<Array>& arrays, Delivery delivery, int root,
                         std::vector<int>* owners);
  Array persisted(const Array& array, std::span<const Chunk> chunks, std::vector<int> owners);

  Comm comm_;
  LocalExecutor executor_;
  ExecutionStats stats_;
  std::uint64_t persist_count_ = 0;
};

// Threads per rank when TESSERA_THREADS is not set: the CPUs this rank may run on
// (sched_getaffinity), each divided among the ranks of the node that may run on it too. Bound
// ranks (mpirun's default at up to 2 ranks, srun --cpu-bind) keep their own cores; unbound ones
// (--bind-to none) split the node. Collective.
int default_threads_per_rank(const Comm& comm);

}  // namespace tessera
