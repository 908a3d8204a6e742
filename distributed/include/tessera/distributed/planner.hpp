// The coordinator's planner: places every needed chunk task on a rank (owner computes: sources on
// their owners, block-wise work next to its input, pieces and partials next to the data they
// read, multi-piece assemblies on the default owner of the output chunk) and derives each rank's
// Plan. Pure and deterministic: the same graph and targets give the same plans.
#pragma once

#include <span>
#include <vector>

#include "tessera/core/graph.hpp"
#include "tessera/distributed/plan.hpp"

namespace tessera {

struct PlanRequest {
  std::span<const TaskId> outputs;
  int ranks = 1;
  Delivery delivery = Delivery::all;
  int root = 0;
};

// One plan per rank and the outputs' owners. Time and size grow with the tasks, the transfers and
// the outputs each rank holds (every output on every rank for Delivery::all), never with outputs
// x ranks otherwise. Throws DistributedError if a source names an owner outside the ranks.
PlanSet make_plans(const TaskGraph& graph, const PlanRequest& request);

// The rank each needed task runs on (-1: not needed), the planner's first step.
std::vector<int> place_tasks(const TaskGraph& graph, std::span<const TaskId> outputs, int ranks);

}  // namespace tessera
