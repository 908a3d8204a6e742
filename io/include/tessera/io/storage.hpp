// The storage layer under the anndata element codecs: a hierarchy of groups holding attributes
// and arrays, implemented by HDF5 (serial or MPI-IO) and by Zarr v2 (on a key-value store). The
// codecs in elements.cpp are written once against this interface (design card §4: "one codec per
// encoding, used by both HDF5 and Zarr backends").
//
// Arrays are 0-, 1- or 2-D, of a numeric DType or of UTF-8 strings. Numeric data crosses this
// interface as 2-D Chunks: a 0-D array is (1, 1), a 1-D array of n is (1, n), a 2-D array is
// itself. Every error names the path of the element ("data.h5ad:/obs/batch/codes") and the problem.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/core/chunk.hpp"

namespace tessera::io {

using Json = nlohmann::json;

enum class Codec : std::uint8_t { none, blosc, zlib, zstd };

// How array data is compressed. Blosc: `cname` lz4, lz4hc, zstd, zlib or blosclz; `shuffle`
// 0 none, 1 byte, 2 bit. zlib (gzip in HDF5) and zstd use `level` only.
struct Compression {
  Codec codec = Codec::none;
  std::string cname = "lz4";
  int level = 5;
  int shuffle = 1;

  static Compression from_name(
      std::string_view name);  // "none", "lz4", "zstd", "zlib", "blosc-zlib"…
};

// One field of a compound array (HDF5 compound type, numpy structured dtype): pre-0.7 obs/var
// tables and obsm, and rec-arrays in uns.
struct Field {
  std::string name;
  std::optional<DType> dtype;  // nullopt: strings (fixed- or variable-length)
  index_t count = 1;           // values per record: a sub-array field of shape (count,)
};

// The values of one field of a compound array of n records.
struct FieldValues {
  std::string name;
  std::optional<Chunk> values;       // numeric: an (n, count) chunk
  std::vector<std::string> strings;  // strings: n of them (when values is empty)
};

struct ArrayMeta {
  ArrayMeta() = default;
  ArrayMeta(std::vector<index_t> shape_, std::optional<DType> dtype_,
            std::vector<index_t> chunks_ = {}, std::vector<Field> fields_ = {})
      : shape(std::move(shape_)),
        dtype(dtype_),
        chunks(std::move(chunks_)),
        fields(std::move(fields_)) {}

  std::vector<index_t> shape;   // 0, 1 or 2 dimensions
  std::optional<DType> dtype;   // nullopt: UTF-8 strings, or a compound array (fields)
  std::vector<index_t> chunks;  // chunk shape (same rank as shape); empty: one chunk/contiguous
  std::vector<Field> fields;    // compound arrays only (1-D)
  // Zarr v3 only: the shard shape (a multiple of `chunks`, which are then the inner chunks), or
  // empty for no sharding. Writes of a sharded array cover whole shards.
  std::vector<index_t> shards;
  // Strings stored as fixed-length bytes not marked UTF-8 (HDF5 ASCII strings, which h5py reads
  // as numpy bytes): anndata before 0.7 wrote its strings so, and reads a 1-element one back as a
  // scalar.
  bool fixed_bytes = false;
  [[nodiscard]] bool is_string() const { return !dtype.has_value() && fields.empty(); }
  [[nodiscard]] bool is_compound() const { return !fields.empty(); }
  [[nodiscard]] index_t size() const;  // number of elements
};

// A box of an array: start and count per dimension (same rank as the array).
struct Box {
  std::vector<index_t> start;
  std::vector<index_t> count;
};

class Group {
 public:
  virtual ~Group() = default;

  // "file.h5ad:/obs" — used in every error message about this group or its children.
  [[nodiscard]] virtual std::string path() const = 0;
  // The group's own path inside the file or store: "/" for the root, "/obs", "/raw/var". HDF5
  // object references (attributes read as the path of the object they point to) and anndata
  // 0.7's category paths resolve against it.
  [[nodiscard]] virtual std::string location() const = 0;

  // Children in the order the format lists them (HDF5: creation order when tracked, else name
  // order; Zarr: name order).
  [[nodiscard]] virtual std::vector<std::string> children() const = 0;
  [[nodiscard]] virtual bool has_group(const std::string& name) const = 0;
  [[nodiscard]] virtual bool has_array(const std::string& name) const = 0;
  // FormatError naming the path when there is no such group.
  [[nodiscard]] virtual std::unique_ptr<Group> group(const std::string& name) const = 0;
  virtual std::unique_ptr<Group> create_group(const std::string& name) = 0;

  // Attributes of this group (name empty) or of a child array, as a JSON object. Values are
  // strings, numbers, bools, or arrays of strings or numbers.
  [[nodiscard]] virtual Json attributes(const std::string& array = "") const = 0;
  virtual void set_attribute(const std::string& key, const Json& value,
                             const std::string& array = "") = 0;

  [[nodiscard]] virtual ArrayMeta array_meta(const std::string& name) const = 0;
  // Numeric values in a box, as a 2-D chunk (see above). FormatError for string arrays, boxes
  // outside the array, or data that fails to decode.
  [[nodiscard]] virtual Chunk read(const std::string& name, const Box& box) const = 0;
  [[nodiscard]] Chunk read_all(const std::string& name) const;
  // Every string of a string array, row-major.
  [[nodiscard]] virtual std::vector<std::string> read_strings(const std::string& name) const = 0;
  // One field of a 1-D compound array, whole (FormatError when it is not one, or has no such
  // field). Numeric fields come as an (n, count) chunk, string fields as n strings.
  [[nodiscard]] virtual FieldValues read_field(const std::string& name,
                                               const std::string& field) const;

  // Creates an array (its data written later with write / write_blocks).
  virtual void create_array(const std::string& name, const ArrayMeta& meta,
                            const Compression& compression) = 0;
  // Writes a box of a numeric array from a 2-D chunk shaped as the box (see above).
  virtual void write(const std::string& name, const Box& box, const Chunk& data) = 0;
  // Collective form for parallel files: every rank calls it for the same array with its own
  // blocks (possibly none). Serial backends write the blocks one by one.
  virtual void write_blocks(const std::string& name,
                            const std::vector<std::pair<Box, Chunk>>& blocks);
  virtual void write_strings(const std::string& name, const std::vector<std::string>& values,
                             const std::vector<index_t>& shape, const Compression& compression) = 0;
  // A 1-D compound array of n records, created and written whole (small: uns rec-arrays). String
  // fields are stored as anndata 0.8 stores them: HDF5 variable-length UTF-8, zarr fixed U.
  virtual void write_compound(const std::string& name, const std::vector<FieldValues>& fields,
                              index_t n);
  // A null array: HDF5 a dataset with a null dataspace (h5py.Empty), zarr a 0-d bool array with
  // no chunk. anndata's `null` encoding (a None in uns) is one.
  virtual void create_null(const std::string& name);
  // Makes everything written so far durable (HDF5: H5Fflush; Zarr: nothing buffered).
  virtual void flush() {}
};

}  // namespace tessera::io
