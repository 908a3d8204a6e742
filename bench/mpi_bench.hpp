// What the benchmarks of tessera_bench_mpi share with its main: the one Context of the process
// (MPI_COMM_WORLD under mpirun), created by main before any benchmark runs and destroyed after.
#pragma once

#include "tessera/distributed/context.hpp"

namespace tessera::bench {

Context& context();

}  // namespace tessera::bench
