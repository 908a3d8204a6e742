// Reading and writing AnnData as h5ad (HDF5) and zarr (v2), in anndata 0.8's on-disk format, so
// that the reference anndata reads what Tessera writes and the other way round.
//
// Every function is collective over the context's ranks (the same call on every rank). Writers
// build the result under a temporary sibling name and rename it into place only after every rank
// succeeded: a failed write leaves nothing at `path`. Big arrays (X, layers, obsm, varm, obsp,
// varp, raw/X) are streamed: computed band by band on the ranks that own their chunks, written by
// those ranks and freed, so memory stays near WriteOptions::band_bytes per rank whatever the size;
// small elements are written by rank 0. Readers open big arrays lazily (chunks read on the rank
// that will own them) unless `lazy` is false. A sparse matrix stored as csc_matrix is read as
// the transpose of the CSR matrix the file holds, and any CSR array that is a transpose of a CSR
// array is written as csc_matrix (scipy's csr.T is a csc_matrix too), so CSC stays CSC.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include "tessera/anndata/anndata.hpp"
#include "tessera/distributed/context.hpp"
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
  // >= 0.12 with zarr-python 3 only); for 3, X and layers may be sharded, each shard `shards` in
  // shape (a multiple of the chunks), written whole by one rank.
  int zarr_format = 2;
  std::optional<ChunkSpec> shards;
  // zarr outputs: consolidated metadata (v2 `.zmetadata`, v3 inline in the root zarr.json), as
  // anndata >= 0.12 writes it, so that opening the store costs one read.
  bool consolidated = true;
  std::optional<ChunkSpec> chunks;  // chunking of X and layers in the file (default: their own)
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
  bool lazy = true;                          // big arrays as lazy arrays read chunk by chunk
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

// zarr_zip: a Zarr store packed into one zip archive (read through a ZipStore, zip_store.hpp).
enum class Format : std::uint8_t { h5ad, zarr, zarr_zip };
// By suffix: ".h5ad"/".h5"/".hdf5" are HDF5, ".zarr" is zarr, ".zarr.zip" is zarr_zip; ValueError
// naming the path otherwise. An HDF5 file without an 'obs' group that holds a Cell Ranger matrix
// (10x Genomics `.h5`, v1-2 genome groups or v3 '/matrix') is read as scanpy's read_10x_h5 reads
// it (see ReadOptions).
Format format_of(const std::filesystem::path& path);

void write_h5ad(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options = {});
void write_zarr(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options = {});
AnnData read_h5ad(const std::filesystem::path& path, Context& ctx, const ReadOptions& options = {});
AnnData read_zarr(const std::filesystem::path& path, Context& ctx, const ReadOptions& options = {});
// A .zarr.zip: the zarr store is written into a temporary sibling folder as write_zarr does, then
// rank 0 packs it into an archive of stored (uncompressed) entries, removes the folder and
// renames the archive into place; a failure at any step leaves nothing at `path`. Reading opens
// the archive on every rank (each rank reads its own chunks from it).
void write_zarr_zip(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                    const WriteOptions& options = {});
AnnData read_zarr_zip(const std::filesystem::path& path, Context& ctx,
                      const ReadOptions& options = {});
// What WriteOptions::compression resolves to for `format` (h5ad, zarr) and `zarr_format`.
Compression compression_for(const WriteOptions& options, Format format);

// By suffix.
void write(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
           const WriteOptions& options = {});
AnnData read(const std::filesystem::path& path, Context& ctx, const ReadOptions& options = {});

// The element layer, on any storage Group (tests use in-memory Zarr stores): the AnnData written
// into a group / read from one. Writing here is single-process (every array computed locally).
void write_anndata(Group& group, const AnnData& adata, const WriteOptions& options = {});
AnnData read_anndata(std::shared_ptr<const Group> group, const ReadOptions& options = {});

}  // namespace tessera::io
