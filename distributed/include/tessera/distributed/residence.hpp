// Residence: where a collective materialization leaves its results (AnnData::to_memory,
// io::read_h5ad / read_zarr with lazy = false).
#pragma once

#include <cstdint>
#include <string_view>

namespace tessera {

enum class Residence : std::uint8_t {
  // Every rank holds every array whole: the memory of R copies, plus the exchange that brings each
  // rank the chunks it did not compute. What anndata's to_memory gives one process.
  every_rank,
  // Rank 0 holds every array whole; the other ranks keep the object as it was (lazy). For handing
  // the data to serial code on rank 0; the object then differs between ranks, so it must not go
  // into a collective again (the graph check refuses it, naming the step).
  root,
  // Each rank holds the chunks it owns (Context::persist): one copy of the data across the job,
  // no exchange. Later collectives (writes, reductions, views) use the chunks where they are.
  distributed,
};

// "every_rank", "root", "distributed"
std::string_view name(Residence residence);
// The inverse of name(); throws ValueError naming the accepted words.
Residence parse_residence(std::string_view text);

}  // namespace tessera
