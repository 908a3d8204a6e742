// A user's program against the installed Tessera: build an AnnData with a lazy X, write it to
// h5ad collectively, read it back lazily, and print its row sums (rank 0). Run with or without
// mpirun; the expected output is computed here from the same formula, independently of Tessera.
#include <cstdio>
#include <exception>
#include <filesystem>

#include "tessera/anndata/anndata.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

int main(int argc, char** argv) try {
  using namespace tessera;
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer OUT.h5ad\n");
    return 2;
  }
  Context ctx;
  const index_t rows = 7, cols = 5;
  // X[i, j] = i * cols + j, in chunks of 3 × 2.
  const Array X = arange({rows, cols}, ChunkSpec{3, 2}, DType::float64);
  io::write(AnnData(X), argv[1], ctx);
  const AnnData back = io::read(argv[1], ctx);
  const Chunk sums = ctx.compute(back.X()->sum(1));
  int wrong = 0;
  for (index_t i = 0; i < rows; ++i) {
    double expected = 0;
    for (index_t j = 0; j < cols; ++j)
      expected += static_cast<double>(i * cols + j);
    if (sums.value_at(i, 0) != expected) ++wrong;
  }
  if (ctx.rank() == 0) {
    std::printf("consumer: %d rank(s), %lld rows, %d wrong sums\n", ctx.size(),
                static_cast<long long>(rows), wrong);
  }
  return wrong == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "consumer: %s\n", e.what());
  return 1;
}
