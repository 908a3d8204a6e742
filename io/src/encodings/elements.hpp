// The anndata element layer on the storage interface: one reader and one writer per encoding,
// shared by the HDF5 and Zarr backends, plus the layouts anndata wrote before encodings existed
// (recognised by structure). Each family lives in its own file under src/encodings/ and lists
// its encodings in a table keyed by (encoding-type, encoding-version):
//   columns.cpp   dataframe 0.1.0 / 0.2.0, pre-0.7 compound tables, and their columns
//                 (array, string-array, categorical, nullable-integer/-boolean/-string-array)
//   mapping.cpp   uns: dict, string, numeric-scalar, array, string-array, rec-array, null,
//                 awkward-array (kept as stored), legacy values
//   matrices.cpp  array, csr_matrix, csc_matrix, h5sparse groups, and what obsm/varm/layers/
//                 obsp/varp hold (matrices, data frames, stored elements)
//   root.cpp      the anndata object and raw, every generation, with the reference's fix-ups
// A new encoding is one reader (and writer) function and one line in its family's table.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "tessera/anndata/anndata.hpp"
#include "tessera/io/options.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

inline constexpr index_t kDefaultVectorChunk = index_t{1} << 20;  // elements per 1-D chunk

// "encoding-type" / "encoding-version" of a child (empty strings when absent). FormatError when
// they are present but not strings.
struct Encoding {
  std::string type;
  std::string version;
  [[nodiscard]] bool empty() const { return type.empty(); }
  [[nodiscard]] std::string text() const;  // "csr_matrix 0.1.0", "no encoding-type"
};
Encoding encoding_of(const Group& parent, const std::string& name);
void set_encoding(Group& parent, const std::string& name, bool is_group, const std::string& type,
                  const std::string& version);

// What to do with an element of an encoding no reader here knows (or a known type of an unknown
// version): with ReadOptions::skip_unknown, warn (one line naming element and encoding) and
// return true so that the caller drops it; otherwise a FormatError naming them.
bool skip_unknown(const Group& parent, const std::string& name, const Encoding& e,
                  const ReadOptions& options, const std::string& role);

// ValueError naming the element when `name` could not be a child's name in either format
// (empty, "." or "..", or holding '/' or NUL): HDF5 would make nested groups of "a/b".
void check_writable_name(const Group& parent, const std::string& name);

// Attribute helpers shared by the families.
std::string text_attribute(const Json& attrs, const char* key, const Group& parent,
                           const std::string& name);
Shape shape_attribute(const Json& attrs, const char* key, const Group& parent,
                      const std::string& name);

// ---- writers (single process) ------------------------------------------------------------------
void write_dataframe(Group& parent, const std::string& name, const DataFrame& frame);
void write_uns(Group& parent, const std::string& name, const Uns& uns);
void write_stored(Group& parent, const std::string& name, const StoredElement& element);
// The frames and stored elements of an aligned mapping, into its (existing) group.
void write_aligned_extras(Group& group, const AlignedArrays& arrays);
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
                  const Compression& compression, Shape shards = {0, 0});
// A (1, n) chunk sharing the values of an (n, 1) or (1, n) chunk (1-D data on the storage API).
Chunk as_row(const Chunk& values);

// ---- readers -----------------------------------------------------------------------------------
// obs, var, raw/var, obsm/varm frames: a dataframe group (0.1.0 or 0.2.0) or a pre-0.7 compound
// dataset. nullopt when the element is of an unknown encoding and skip_unknown drops it.
std::optional<DataFrame> read_dataframe(const Group& parent, const std::string& name,
                                        const ReadOptions& options = {});
// nullopt: dropped (unknown encoding with skip_unknown).
std::optional<UnsValue> read_uns_value(const Group& parent, const std::string& name,
                                       const ReadOptions& options = {});
Uns read_mapping(const Group& group, const std::string& what, const ReadOptions& options = {});
// X, a layer, obsm/varm/obsp/varp entry, raw/X: dense array, csr/csc group or h5sparse group,
// lazy (chunks read when computed). nullopt: dropped, or stored as `null`.
std::optional<Array> read_matrix(const std::shared_ptr<const Group>& parent,
                                 const std::string& name, const ReadOptions& options);
// What an entry of obsm/varm/layers/obsp/varp holds.
using AlignedValue = std::variant<std::monostate, Array, DataFrame, StoredElement>;
AlignedValue read_aligned(const std::shared_ptr<const Group>& parent, const std::string& name,
                          const ReadOptions& options);
// An element kept as stored (awkward arrays), read whole.
StoredElement read_stored(const Group& parent, const std::string& name, const Encoding& e);

// The whole object at `root`, every generation (anndata_io's read_anndata).
AnnData read_root(const std::shared_ptr<const Group>& root, const ReadOptions& options);
// The structure and small elements of an AnnData: root attributes, obs, var, uns, the mapping
// groups with their frames and stored elements, and raw's var. Big arrays are written separately.
void write_skeleton(Group& root, const AnnData& a);

}  // namespace tessera::io::detail
