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
#include "tessera/io/options.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io {

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
