// PlanExecutor: runs one rank's Plan on the local thread pool, exchanging chunks with the other
// ranks through non-blocking point-to-point messages on a private communicator. Only the calling
// thread touches MPI (the pool's workers hand finished chunks to it).
//
// Failure: a rank whose task throws tells every other rank, everyone stops waiting, and all ranks
// leave together (a non-blocking barrier while draining messages, then an agreement on who failed):
// the failing rank rethrows its own exception, the others throw DistributedError with its message.
#pragma once

#include <vector>

#include "tessera/core/local_executor.hpp"
#include "tessera/distributed/comm.hpp"
#include "tessera/distributed/plan.hpp"

namespace tessera {

struct ExecutionStats {
  std::int64_t bytes_sent = 0;            // this rank, actual bytes of chunk messages
  std::int64_t bytes_received = 0;        // this rank
  std::int64_t messages_sent = 0;         // this rank
  std::int64_t bytes_moved = 0;           // all ranks, actual
  std::int64_t bytes_moved_estimate = 0;  // all ranks, the plan's dense-size estimate
  index_t tasks_run = 0;                  // this rank
  double plan_seconds = 0;                // lowering + planning + scattering the plans
  double execute_seconds = 0;             // this rank
};

class PlanExecutor {
 public:
  PlanExecutor(const Comm& comm, LocalExecutor& executor) : comm_(comm), executor_(executor) {}

  // Collective over `comm`. Returns the chunks of plan.outputs, in order.
  std::vector<Chunk> execute(const TaskGraph& graph, const Plan& plan, ExecutionStats& stats);

 private:
  const Comm& comm_;
  LocalExecutor& executor_;
};

}  // namespace tessera
