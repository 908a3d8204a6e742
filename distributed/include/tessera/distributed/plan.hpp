// Plan: what one rank does for one execution (Tpetra's Import/DistributorPlan): the tasks it
// computes, the chunks it sends (to whom) and receives (from whom), and the outputs it holds at
// the end. Built once by the coordinator, immutable, and serialized to its rank. What every rank
// needs alike (the owner of each output) is not in the Plan: it is shipped once (PlanSet).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "tessera/core/graph.hpp"

namespace tessera {

// Where the outputs of an execution end up.
enum class Delivery : std::uint8_t {
  in_place,  // persist: each output chunk stays on the rank that computed it
  all,       // every rank receives every output chunk (to_memory / compute)
  root,      // one rank receives every output chunk
};

struct Plan {
  int rank = 0;
  int ranks = 1;
  std::uint64_t graph_fingerprint = 0;
  std::vector<TaskId> run;                       // tasks computed here, in id order
  std::vector<std::pair<TaskId, int>> sends;     // (task, destination rank), by task
  std::vector<std::pair<TaskId, int>> receives;  // (task, source rank), by task
  std::vector<TaskId> outputs;                   // output tasks held here at the end
  std::int64_t bytes_sent_estimate = 0;          // dense-size upper bound of this rank's sends
  std::int64_t bytes_moved_estimate = 0;         // the same, over all ranks

  template <typename Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& rank& ranks& graph_fingerprint& run& sends& receives& outputs& bytes_sent_estimate&
        bytes_moved_estimate;
  }
};

// One execution as the coordinator plans it: a Plan per rank, and the part all ranks share,
// kept apart so that it is broadcast once rather than copied into every plan (copying it made
// planning O(outputs x ranks): 2.8 s for 2^20 outputs over 1024 ranks).
struct PlanSet {
  std::vector<Plan> plans;         // plans[r] is rank r's
  std::vector<int> output_owners;  // the rank computing each requested output, in request order
};

}  // namespace tessera
