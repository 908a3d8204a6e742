// The one thin layer over the HDF5 C library (HighFive's h5*_wrapper.hpp): every H5* return code
// is checked here and turned into a tessera::FormatError or IoError naming the path, the operation
// and the top of HDF5's error stack; every hid_t is owned by an RAII handle whose destructor never
// throws. The HDF5 build on Debian is not thread-safe, so every HDF5 call runs under one global
// recursive mutex (chunk reads come from executor worker threads): callers hold `lock()` across
// whatever they do with handles, and handle destructors take it themselves.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/core/dtype.hpp"
#include "tessera/core/index.hpp"

namespace tessera::io::detail::h5 {

std::recursive_mutex& mutex();
[[nodiscard]] inline std::unique_lock<std::recursive_mutex> lock() {
  return std::unique_lock<std::recursive_mutex>(mutex());
}

// Once per process: opens the library, silences HDF5's automatic error printing, and registers
// Tessera's filters (Blosc 32001, Zstandard 32015, LZF 32000 read-only). Takes the lock itself.
void initialize();

// Which error a failed call becomes: malformed or unexpected content (FormatError) or a failure of
// the storage itself (IoError).
enum class Fail : std::uint8_t { format, io };

// "H5Dread(): can't read data (filter returned failure during read)": the API function's message
// and the innermost cause, then the stack is cleared. Empty when the stack is empty.
std::string error_stack_message();
[[noreturn]] void fail(Fail kind, const std::string& where, std::string_view what);

// Return-code checks: a negative value throws `kind` with "<where>: <what>: <HDF5's message>".
hid_t check_id(hid_t id, Fail kind, const std::string& where, std::string_view what);
void check(herr_t rc, Fail kind, const std::string& where, std::string_view what);
bool check_tri(htri_t rc, Fail kind, const std::string& where, std::string_view what);
// Discards whatever an expected failure (a probe) left on the error stack.
void clear_errors();

// An owned identifier, closed by `Close` under the lock. Move-only.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  [[nodiscard]] hid_t id() const { return id_; }
  [[nodiscard]] bool valid() const { return id_ >= 0; }
  // Closes now, reporting failure (destructors swallow it); used where a close can lose data.
  [[nodiscard]] herr_t close() {
    if (id_ < 0) return 0;
    const auto guard = lock();
    const herr_t rc = Close(id_);
    id_ = H5I_INVALID_HID;
    return rc;
  }
  void reset() noexcept {
    if (id_ < 0) return;
    try {
      const auto guard = lock();
      if (Close(id_) < 0) clear_errors();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor never throws
    }
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using FileId = Handle<H5Fclose>;
using GroupId = Handle<H5Gclose>;
using DatasetId = Handle<H5Dclose>;
using SpaceId = Handle<H5Sclose>;
using TypeId = Handle<H5Tclose>;
using AttributeId = Handle<H5Aclose>;
using PropListId = Handle<H5Pclose>;
using ObjectId = Handle<H5Oclose>;

// Typed property lists (HighFive's MPIOFileAccess, UseCollectiveIO, Chunking, Deflate).
class FileAccess {
 public:
  FileAccess();
  // The MPI-IO driver over `comm` (HDF5 duplicates it).
  FileAccess& mpio(MPI_Comm comm, const std::string& where);
  // Oldest format that still allows dense attribute storage (attributes over 64 KiB, such as a
  // long column-order) while staying readable by every HDF5 1.8+ (h5py, anndata).
  FileAccess& format_v18(const std::string& where);
  [[nodiscard]] hid_t id() const { return plist_.id(); }

 private:
  PropListId plist_;
};

class DatasetCreate {
 public:
  DatasetCreate();
  DatasetCreate& chunked(const std::vector<hsize_t>& chunks, const std::string& where);
  DatasetCreate& deflate(unsigned level, const std::string& where);
  // An optional filter (the chunk is stored raw if the filter declines, as h5py does).
  DatasetCreate& filter(H5Z_filter_t filter, const std::vector<unsigned>& cd_values,
                        const std::string& where);
  // Storage is never pre-filled with the fill value: Tessera writes every element of the arrays
  // it creates. Without this, opening a file with MPI-IO allocates every chunk of a dataset and
  // writes fill values into all of them first (HDF5 1.10 fills in parallel even for the default
  // fill value), doubling the bytes written by a parallel h5ad write.
  DatasetCreate& never_fill(const std::string& where);
  [[nodiscard]] hid_t id() const { return plist_.id(); }

 private:
  PropListId plist_;
};

// Names of new links and attributes are UTF-8 (as h5py writes them); links create the groups
// they pass through.
class LinkCreate {
 public:
  explicit LinkCreate(const std::string& where);
  [[nodiscard]] hid_t id() const { return plist_.id(); }

 private:
  PropListId plist_;
};

class AttributeCreate {
 public:
  explicit AttributeCreate(const std::string& where);
  [[nodiscard]] hid_t id() const { return plist_.id(); }

 private:
  PropListId plist_;
};

class DataTransfer {
 public:
  DataTransfer();
  // One collective MPI-IO call for all ranks (H5FD_MPIO_COLLECTIVE).
  DataTransfer& collective(const std::string& where);
  // Inside the collective call, each rank writes its own selection itself (no two-phase
  // aggregation through other ranks): for unfiltered data whose boxes are whole HDF5 chunks or
  // other runs contiguous in the file.
  DataTransfer& individual_io(const std::string& where);
  [[nodiscard]] hid_t id() const { return plist_.id(); }

 private:
  PropListId plist_;
};

// Element types. Files are written in little-endian standard types (as numpy on x86 writes them)
// and bools as h5py's enum {FALSE = 0, TRUE = 1} over int8; memory types are native.
TypeId file_type(DType dtype);
TypeId memory_type(DType dtype);
TypeId utf8_string_type();  // variable-length UTF-8

// How a stored element type is read: as numeric dtype `dtype` (through a memory buffer of
// `buffer_dtype` read with `memory`, then turned into bools when `to_bool`), or as strings.
struct ElementType {
  bool is_string = false;
  bool variable_length = false;  // strings
  DType dtype = DType::float64;
  DType buffer_dtype = DType::float64;
  bool to_bool = false;
  TypeId memory;
};
// FormatError naming `where` for element types Tessera cannot represent (compound, opaque, …).
ElementType classify(hid_t type, const std::string& where);

// Dims of a simple or scalar space (scalar: none); FormatError for a null space (h5py.Empty).
std::vector<hsize_t> dims_of(hid_t space, const std::string& where);
SpaceId simple_space(const std::vector<hsize_t>& dims, const std::string& where);

// Every string of a string-typed dataset or attribute (`object`, of `stored_type`, its whole
// `space`), variable- or fixed-length (NUL- or space-padded), ASCII or UTF-8.
enum class Holder : std::uint8_t { dataset, attribute };
std::vector<std::string> read_string_values(Holder holder, hid_t object, hid_t stored_type,
                                            hid_t space, const std::string& where);

}  // namespace tessera::io::detail::h5
