// The bytes of a chunk on the wire: a fixed header then the payload (dense values row by row, or
// CSR indptr relative to 0, indices, values). Decoding validates sizes: a short or inconsistent
// message is a DistributedError, never a wild read.
#pragma once

#include <cstddef>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/graph.hpp"

namespace tessera::detail {

std::vector<std::byte> encode_chunk(TaskId task, const Chunk& chunk);
// Returns the task id and the chunk; a dense chunk is a view into `bytes` (no copy).
std::pair<TaskId, Chunk> decode_chunk(const std::shared_ptr<Buffer>& bytes);

}  // namespace tessera::detail
