// Streaming writes of the big arrays of an AnnData (X, layers, obsm, varm, obsp, varp, raw/X,
// raw/varm): each array goes to the file in bands of whole chunk-rows. A band holds, for every
// rank, the next few of the chunk-rows that rank owns (about WriteOptions::band_bytes of them);
// it is computed where its chunks are owned (Context::persist of a selection of whole chunks, so
// nothing moves), written by the ranks holding it, and freed before the next band. Peak memory
// per rank is therefore near one band, whatever the array's size.
//
// Sparse matrices are written as CSR (or, for the transpose of a CSR array, as CSC: the CSR of
// the transpose under encoding csc_matrix). Their data/indices offsets need the number of stored
// values before each chunk-row: a first pass over the lazy graph counts them per chunk-row
// (nothing is kept; the graph is evaluated again by the bands), and an exclusive scan of the
// counts gives every chunk-row's offset on every rank. HDF5 then writes each band collectively
// at those offsets. Zarr must encode each 1-D chunk whole, by one rank: a rank writes the chunks
// its own chunk-rows cover (carrying a partial one to its next band), and the chunks shared by
// several ranks' chunk-rows are assembled at the end through a small plan that moves the edge
// pieces to one writer per chunk.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tessera/anndata/anndata.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/options.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// The CSR array a CSC element stores, when `x` is the transpose of a CSR array (the lazy reading
// of a csc_matrix, or any CSR array transposed); nullopt otherwise.
std::optional<Array> csc_source(const Array& x);

enum class MatrixEncoding : std::uint8_t { dense, csr, csc };

// One big array of an AnnData and how it is written. Built identically on every rank.
struct MatrixPlan {
  MatrixPlan(std::string g, std::string n, Array r)
      : group(std::move(g)), name(std::move(n)), rows(std::move(r)) {}
  std::string group;  // "" for the root, else "layers", "obsm", …, "raw", "raw/varm"
  std::string name;
  MatrixEncoding encoding = MatrixEncoding::dense;
  Shape shape;  // the element's shape
  DType dtype = DType::float64;
  // What the bands select from: dense in the file's chunk boxes, or CSR by whole-row chunk-rows
  // (for CSC, the CSR matrix of the transpose).
  Array rows;
  Shape file_chunks;         // dense: the file's chunk shape (the shard shape when sharded)
  Shape inner_chunks{0, 0};  // dense, sharded (Zarr v3): the chunks inside each shard
  // Sparse: stored values per chunk-row of `rows`, and their sum.
  std::vector<index_t> nnz;
  index_t total_nnz = 0;
  std::vector<int> row_owner;      // the rank each chunk-row of `rows` is computed on
  std::vector<index_t> row_bytes;  // bytes of each chunk-row as written
  [[nodiscard]] std::string element() const { return group.empty() ? name : group + "/" + name; }
};

// Every big array of `a`, in a fixed order. Collective: owners are predicted with the planner's
// placement and sparse arrays are counted (one compute over all of them).
std::vector<MatrixPlan> plan_matrices(const AnnData& a, Context& ctx, const WriteOptions& options);
// The element's datasets, created and empty (one process: rank 0 or a serial write).
void create_matrix(Group& root, const MatrixPlan& plan, const WriteOptions& options);

// Progress and statistics of one write, carried across its arrays.
struct StreamState {
  WriteStats stats;
  std::int64_t done = 0;
  std::int64_t total = 0;
  void hold(std::size_t bytes) { stats.peak_bytes_held = std::max(stats.peak_bytes_held, bytes); }
};

// Writes the element's data band by band. Collective: every rank calls it with its own handle on
// the file (HDF5 with MPI-IO, or the same zarr directory). `whole_chunks`: each 1-D chunk of a
// sparse array must be written whole by one rank (zarr); otherwise the storage merges partial
// writes itself (HDF5).
void write_matrix(Group& root, const MatrixPlan& plan, Context& ctx, const WriteOptions& options,
                  bool whole_chunks, StreamState& state);

// The bands: each a sorted list of chunk-rows, made of the next chunk-rows of every rank whose
// bytes fit in `band_bytes` (at least one per rank while it has some). Pure; the same everywhere.
std::vector<std::vector<index_t>> plan_bands(std::span<const int> row_owner,
                                             std::span<const index_t> row_bytes, int ranks,
                                             index_t band_bytes);

}  // namespace tessera::io::detail
