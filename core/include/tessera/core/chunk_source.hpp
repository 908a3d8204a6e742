// ChunkSource: where a lazy read gets its chunks. core/ defines the interface and io/ implements
// it (dependency inversion), so a file read is an ordinary source node: the planner places each
// chunk's read on the rank that will own the chunk, and nothing is read until a task runs.
#pragma once

#include <memory>
#include <string>

#include "tessera/core/array.hpp"

namespace tessera {

class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Chunk (i, j) of `grid`, in the array's dtype and layout. Called from executor threads: must
  // be safe to call concurrently. Errors name the element and the problem.
  [[nodiscard]] virtual Chunk read(index_t i, index_t j, const ChunkGrid& grid) const = 0;
  // What is read (file, element, and anything that changes the data, e.g. size and mtime): the
  // source's part of the graph fingerprint, so ranks agree they read the same thing.
  [[nodiscard]] virtual std::string identity() const = 0;
};

// A lazy array whose chunks come from `source`. `kind` names the graph layer ("read-h5ad", …).
Array from_source(std::shared_ptr<const ChunkSource> source, const ChunkGrid& grid, DType dtype,
                  Layout layout, std::string kind = "read");

}  // namespace tessera
