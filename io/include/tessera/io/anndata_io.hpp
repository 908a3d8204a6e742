// Reading and writing AnnData as h5ad (HDF5) and zarr (v2), in anndata 0.8's on-disk format, so
// that the reference anndata reads what Tessera writes and the other way round.
//
// Every function is collective over the context's ranks (the same call on every rank). Writers
// build the result under a temporary sibling name and rename it into place only after every rank
// succeeded: a failed write leaves nothing at `path`. Big arrays (X, layers, obsm, varm, obsp,
// varp, raw/X) are written by the ranks that own their chunks; small elements by rank 0. Readers
// open big arrays lazily (chunks read on the rank that will own them) unless `lazy` is false.
#pragma once

#include <filesystem>
#include <optional>

#include "tessera/anndata/anndata.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io {

struct WriteOptions {
  Compression compression;          // for the big arrays; small elements are stored plain
  std::optional<ChunkSpec> chunks;  // chunking of X and layers in the file (default: their own)
};

struct ReadOptions {
  bool lazy = true;                          // big arrays as lazy arrays read chunk by chunk
  index_t chunk_bytes = kDefaultChunkBytes;  // lazy chunk size target where the file has none
};

enum class Format : std::uint8_t { h5ad, zarr };
// By suffix: ".h5ad"/".h5" are h5ad, ".zarr" is zarr; ValueError naming the path otherwise.
Format format_of(const std::filesystem::path& path);

void write_h5ad(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options = {});
void write_zarr(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                const WriteOptions& options = {});
AnnData read_h5ad(const std::filesystem::path& path, Context& ctx, const ReadOptions& options = {});
AnnData read_zarr(const std::filesystem::path& path, Context& ctx, const ReadOptions& options = {});
// By suffix.
void write(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
           const WriteOptions& options = {});
AnnData read(const std::filesystem::path& path, Context& ctx, const ReadOptions& options = {});

// The element layer, on any storage Group (tests use in-memory Zarr stores): the AnnData written
// into a group / read from one. Writing here is single-process (every array computed locally).
void write_anndata(Group& group, const AnnData& adata, const WriteOptions& options = {});
AnnData read_anndata(std::shared_ptr<const Group> group, const ReadOptions& options = {});

}  // namespace tessera::io
