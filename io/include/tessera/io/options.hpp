// How AnnData is read and written: the options of the whole-object readers and writers
// (anndata_io.hpp), which the element encodings and the streaming writer below them see too. Kept
// apart from anndata_io.hpp so that those lower floors never include the floor above them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "tessera/core/chunk_grid.hpp"
#include "tessera/distributed/residence.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io {

// What one write did on this rank (filled in when WriteOptions::stats points somewhere).
struct WriteStats {
  index_t bands = 0;                // collective steps of computing, writing and freeing a band
  std::size_t peak_bytes_held = 0;  // most array bytes the writer held materialized at once
  std::size_t bytes_written = 0;    // array bytes this rank handed to the storage (uncompressed)
};

// The default of WriteOptions::band_bytes: a couple of default-sized chunks per rank.
inline constexpr index_t kDefaultBandBytes = 2 * kDefaultChunkBytes;

struct WriteOptions {
  // For the big arrays; small elements are stored plain. Unset: the format's default, which is
  // zarr-python's: none for h5ad and Zarr v2 (as Tessera always wrote), `zstd` level 0 for Zarr v3
  // (zarr-python 3's default codecs, `bytes` + `zstd`).
  std::optional<Compression> compression;
  // zarr outputs: Zarr format 2 (anndata <= 0.12's default, read by every anndata) or 3 (anndata
  // >= 0.12 with zarr-python 3 only); for 3, dense X, raw.X and layers may be sharded, each shard
  // `shards` in shape (a multiple of the chunks), written whole by one rank.
  int zarr_format = 2;
  std::optional<ChunkSpec> shards;
  // zarr outputs: consolidated metadata (v2 `.zmetadata`, v3 inline in the root zarr.json), as
  // anndata >= 0.12 writes it, so that opening the store costs one read.
  bool consolidated = true;
  std::optional<ChunkSpec>
      chunks;  // chunking of X, raw.X and layers in the file (default: their own)
  // Big arrays are written in bands of whole chunk-rows: each rank computes about this many bytes
  // of its own chunk-rows (at least one chunk-row), writes them, frees them, and goes on. The
  // peak memory of a write is near this, whatever the array's size.
  index_t band_bytes = kDefaultBandBytes;
  // Elements per chunk of the 1-D data, indices and indptr arrays of sparse matrices.
  index_t sparse_chunk = index_t{1} << 20;
  // Called on every rank after each band with the array bytes written so far by all ranks and
  // the total (the same figures on every rank).
  std::function<void(std::int64_t done, std::int64_t total)> progress;
  WriteStats* stats = nullptr;  // this rank's figures for the write, when set
};

struct ReadOptions {
  bool lazy = true;  // big arrays as lazy arrays read chunk by chunk
  // lazy = false: where the arrays are held once read (residence.hpp; as AnnData::to_memory).
  Residence residence = Residence::every_rank;
  index_t chunk_bytes = kDefaultChunkBytes;  // lazy chunk size target where the file has none
  // h5ad: read the file's structure once in a child process first (rank 0), so that damaged
  // metadata that would crash libhdf5 gives a FormatError instead. Costs one more reading of
  // the small elements.
  bool check_hdf5_metadata = true;
  // Cell Ranger files holding several genomes: the one to read (without it such a file is an
  // error listing them). Cell Ranger >= 3 files keep only the features of this genome.
  std::string genome;
  // Cell Ranger >= 3 files: only the 'Gene Expression' features, as scanpy's read_10x_h5 keeps
  // by default (false keeps antibody capture, CRISPR guides, custom features too).
  bool gex_only = true;
  // Elements of an encoding this reader does not know are dropped, with one warning each,
  // instead of failing the read.
  bool skip_unknown = false;
  // Receives one line per warning (an element dropped, a legacy layout upgraded); every rank
  // calls it with the same lines. Without it warnings are not shown.
  std::function<void(const std::string&)> warn;
};

}  // namespace tessera::io
