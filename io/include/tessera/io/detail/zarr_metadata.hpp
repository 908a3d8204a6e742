// The .zarray document of Zarr v2, parsed and validated (every field of an untrusted file is
// checked before use), and written back the way zarr-python writes it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "tessera/core/dtype.hpp"
#include "tessera/core/index.hpp"
#include "tessera/io/storage.hpp"

namespace tessera::io::detail {

// How the elements of a chunk are laid out, from the numpy dtype string of .zarray.
enum class ZarrKind : std::uint8_t {
  numeric,        // "<f8", "|b1", ">i4", … (one of Tessera's DTypes, either byte order)
  object,         // "|O": strings through an object codec (vlen-utf8 / vlen-bytes) in filters[0]
  fixed_unicode,  // "<U5": UTF-32 code units, NUL-padded
  fixed_bytes,    // "|S5": bytes, NUL-padded
  structured,     // [["index", "|S16"], ["x", "<f4", [50]]]: records of named fields
};

// One field of a structured dtype: a numeric or fixed-width string type, `count` of them (a
// sub-array field), at `offset` bytes into the record.
struct ZarrField {
  std::string name;
  ZarrKind kind = ZarrKind::numeric;  // numeric, fixed_unicode or fixed_bytes
  DType dtype = DType::float64;       // numeric only
  bool big_endian = false;
  std::size_t itemsize = 0;  // bytes of one element
  index_t count = 1;
  std::size_t offset = 0;
};

struct ZarrDType {
  ZarrKind kind = ZarrKind::numeric;
  DType dtype = DType::float64;   // numeric only
  bool big_endian = false;        // numeric and fixed_unicode
  std::size_t itemsize = 0;       // bytes per element in a decoded chunk (0 for object)
  std::vector<ZarrField> fields;  // structured only

  // Parses a numpy dtype string, or a structured dtype's list of [name, type(, shape)]; a
  // FormatError naming it when Tessera cannot hold it.
  static ZarrDType parse(const Json& text);
  static ZarrDType little_endian(DType dtype);
  [[nodiscard]] std::string str() const;  // numpy's dtype.str: "<f8", "|b1", "|O", "<U5"
  [[nodiscard]] Json json() const;        // as .zarray holds it: str(), or the list of fields
  [[nodiscard]] bool is_string() const {
    return kind == ZarrKind::object || kind == ZarrKind::fixed_unicode ||
           kind == ZarrKind::fixed_bytes;
  }
};

struct ZarrArraySpec {
  std::vector<index_t> shape;   // 0, 1 or 2 dimensions
  std::vector<index_t> chunks;  // same rank, each >= 1
  ZarrDType dtype;
  Json compressor;  // null or a codec config
  Json filters;     // null or an array of codec configs
  Json fill_value;  // as in the file
  bool fortran_order = false;
  char separator = '.';

  // Zarr v3 (zarr.json): chunk keys "c/1/2" (default encoding) or "1.2" (v2 encoding), and the
  // sharding_indexed codec. A sharded array's `chunks` are the inner chunks, each read on its own
  // by byte range; `shard` is the shape of the stored objects; compressor/filters/fortran_order/
  // byte order describe the inner chunks' pipeline.
  int zarr_format = 2;
  bool default_keys = false;   // v3 "default" chunk key encoding: "c" + separator + indices
  std::vector<index_t> shard;  // empty: not sharded
  bool index_at_end = true;    // where the shard index sits
  bool index_checksum = true;  // index codecs bytes + crc32c (else bytes alone)

  // Validates a parsed .zarray; FormatError naming `where` and the field on any problem.
  static ZarrArraySpec parse(const Json& doc, const std::string& where);
  // Validates a Zarr v3 array's zarr.json the same way (FORMATS.md §3): unknown keys without
  // "must_understand": false, unknown codecs or data types are errors naming them.
  static ZarrArraySpec parse_v3(const Json& doc, const std::string& where);
  [[nodiscard]] Json to_json() const;
  // The Zarr v3 zarr.json of this spec (attributes empty): data_type, the codec chain in v3 names
  // (blosc, zstd, gzip, crc32c; numcodecs.zlib), sharding_indexed when sharded.
  [[nodiscard]] Json to_json_v3() const;

  // Elements in one chunk (fits index_t, checked by parse).
  [[nodiscard]] index_t chunk_elements() const;
  // One element of fill_value in the machine's byte order, as decoded chunks hold them (numeric
  // kinds; zeros for null). FormatError naming `where` when the value does not fit the dtype.
  [[nodiscard]] std::vector<std::byte> fill_bytes(const std::string& where) const;
  // The string fill_value of a string array ("" unless the file has a string).
  [[nodiscard]] std::string fill_string() const;
  // "1.2", "3", "0" (0-D), with the separator; v3 default encoding "c/1/2", "c/3", "c". For a
  // sharded array, the key of the shard object at these shard-grid indices.
  [[nodiscard]] std::string chunk_key(index_t chunk_row, index_t chunk_col) const;
};

// The fill_value JSON zarr-python writes for a numeric dtype: false, 0 or 0.0.
Json default_fill_value(DType dtype);

}  // namespace tessera::io::detail
