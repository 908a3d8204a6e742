// The anndata element codecs on the storage interface: one reader and one writer per encoding
// (dataframe, categorical, nullable-*, array, string-array, string, numeric-scalar, dict,
// csr_matrix/csc_matrix, raw, anndata), shared by the HDF5 and Zarr backends.
#pragma once

#include <memory>
#include <string>

#include "tessera/anndata/anndata.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

inline constexpr index_t kDefaultVectorChunk = index_t{1} << 20;  // elements per 1-D chunk

// "encoding-type" / "encoding-version" of a child (empty strings when absent). FormatError when
// they are present but not strings.
struct Encoding {
  std::string type;
  std::string version;
};
Encoding encoding_of(const Group& parent, const std::string& name);
void set_encoding(Group& parent, const std::string& name, bool is_group, const std::string& type,
                  const std::string& version);

// ValueError naming the element when `name` could not be a child's name in either format
// (empty, "." or "..", or holding '/' or NUL): HDF5 would make nested groups of "a/b".
void check_writable_name(const Group& parent, const std::string& name);

// Writers (single process).
void write_dataframe(Group& parent, const std::string& name, const DataFrame& frame);
void write_uns(Group& parent, const std::string& name, const Uns& uns);
void write_chunk_array(Group& parent, const std::string& name, const Chunk& data,
                       const Compression& compression);
// The csr_matrix (or, with `csc`, csc_matrix) group of a matrix of `shape` with its data,
// indices and indptr datasets created (sizes given: indptr has one entry per row, or per column
// for CSC, plus one), not filled. The 1-D datasets are cut into chunks of `chunk` elements.
void create_csr(Group& parent, const std::string& name, Shape shape, DType dtype, index_t nnz,
                const Compression& compression, bool csc = false,
                index_t chunk = kDefaultVectorChunk);
// The datatype indices and indptr are stored in: int32 when everything fits, else int64.
DType csr_index_dtype(Shape shape, index_t nnz);
// Elements per chunk of a 1-D dataset of n elements cut into chunks of at most `limit`.
index_t vector_chunk(index_t n, index_t limit = kDefaultVectorChunk);
// A dense 2-D array dataset, created (not filled).
void create_dense(Group& parent, const std::string& name, Shape shape, DType dtype, Shape chunks,
                  const Compression& compression);
// A (1, n) chunk sharing the values of an (n, 1) or (1, n) chunk (1-D data on the storage API).
Chunk as_row(const Chunk& values);

// Readers.
DataFrame read_dataframe(const Group& parent, const std::string& name);
UnsValue read_uns_value(const Group& parent, const std::string& name);
Uns read_mapping(const Group& group, const std::string& what);
// X, a layer, obsm/varm/obsp/varp entry, raw/X: dense array or csr/csc group, lazy or in memory.
Array read_matrix(const std::shared_ptr<const Group>& parent, const std::string& name,
                  const ReadOptions& options);

}  // namespace tessera::io::detail
