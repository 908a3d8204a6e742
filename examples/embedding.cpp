// Embedding Tessera in an MPI application: the application initializes MPI itself, splits
// MPI_COMM_WORLD into two groups (even and odd ranks), and runs Tessera on its group's
// communicator. Tessera borrows the communicator: it neither initializes nor finalizes MPI.
// Each group computes row sums of its own random array and checks them against a one-process
// computation; the exit status says whether every rank agreed.
#include <mpi.h>

#include <iostream>

#include "tessera/core/array.hpp"
#include "tessera/distributed/context.hpp"

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int world_rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm group = MPI_COMM_NULL;
  const int color = world_rank % 2;
  MPI_Comm_split(MPI_COMM_WORLD, color, world_rank, &group);

  int ok = 1;
  try {
    tessera::Context ctx(tessera::Comm::borrow(group), /*threads=*/1);
    // Each group works on its own array (seed = group colour).
    const tessera::Array x =
        tessera::random({300, 200}, tessera::ChunkSpec{50, 64}, /*seed=*/color);
    const tessera::Array px = ctx.persist(x);
    const tessera::Chunk sums = ctx.compute(px.sum(1));
    const tessera::Chunk expected = x.sum(1).compute();
    ok = tessera::identical(sums, expected) ? 1 : 0;
    if (ctx.rank() == 0) {
      std::cout << "group " << color << ": " << ctx.size() << " of " << world_size
                << " ranks, row sums " << (ok ? "match" : "DIFFER from")
                << " the one-process result; first = " << sums.value_at(0, 0) << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "rank " << world_rank << ": " << e.what() << std::endl;
    ok = 0;
  }
  int all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Comm_free(&group);
  MPI_Finalize();
  return all_ok == 1 ? 0 : 1;
}
