// The bytes of a chunk on the wire: a fixed 64-byte header message, then a payload message (dense
// values row by row, or CSR indptr relative to 0, indices, values). A dense chunk whose rows are
// contiguous is sent straight from its own buffer (no encoding copy); other chunks are encoded
// into a fresh buffer. Decoding validates sizes: a short or inconsistent message is a
// DistributedError, never a wild read.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "tessera/core/chunk.hpp"
#include "tessera/core/graph.hpp"

namespace tessera::detail {

inline constexpr std::size_t kWireHeaderBytes = 64;
using WireHeader = std::array<std::byte, kWireHeaderBytes>;

// What to send for a chunk: the header, and the payload's bytes, which stay valid while `keep`
// lives (the chunk's own buffer, or the encoded copy).
struct WireChunk {
  WireHeader header;
  std::span<const std::byte> payload;
  std::shared_ptr<const void> keep;
};
WireChunk encode_chunk(TaskId task, const Chunk& chunk);

// The payload size a header announces (validated: a corrupt header throws).
std::size_t payload_bytes(std::span<const std::byte> header);
// Returns the task id and the chunk; a dense chunk is a view into `payload` (no copy).
std::pair<TaskId, Chunk> decode_chunk(std::span<const std::byte> header,
                                      const std::shared_ptr<Buffer>& payload);

}  // namespace tessera::detail
