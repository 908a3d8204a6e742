// Support for tests that run under mpirun at several rank counts (and without mpirun): one
// Context for the whole test binary, and helpers that agree on a condition across ranks before
// asserting, so no rank leaves a collective that the others are still in.
#pragma once

#include "tessera/distributed/context.hpp"

namespace tessera::testing {

// The binary's context on Comm::world() (serial without mpirun).
Context& context();
// True on every rank when `ok` holds on every rank.
bool all_ranks(bool ok);

}  // namespace tessera::testing
