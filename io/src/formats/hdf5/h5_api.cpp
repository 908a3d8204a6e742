#include "formats/hdf5/h5_api.hpp"

#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "formats/hdf5/filters.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail::h5 {

std::recursive_mutex& mutex() {
  static std::recursive_mutex m;
  return m;
}

void initialize() {
  static std::once_flag once;
  std::call_once(once, [] {
    const auto guard = lock();
    if (H5open() < 0) throw IoError("HDF5: the library failed to initialize (H5open)");
    // Errors are reported through exceptions carrying the stack's message, never printed.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    register_filters();
  });
}

namespace {

herr_t collect_error(unsigned /*n*/, const H5E_error2_t* err, void* client) {
  auto* entries = static_cast<std::vector<std::string>*>(client);
  try {
    std::string entry;
    if (err->func_name != nullptr) entry = std::string(err->func_name) + "(): ";
    if (err->desc != nullptr) entry += err->desc;
    entries->push_back(std::move(entry));
  } catch (...) {
    return -1;
  }
  return 0;
}

}  // namespace

std::string error_stack_message() {
  const auto guard = lock();
  std::vector<std::string> entries;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &entries);
  H5Eclear2(H5E_DEFAULT);
  if (entries.empty()) return {};
  std::string message = entries.front();
  if (entries.size() > 1) {
    // The innermost entry says why ("file signature not found", "filter returned failure").
    const std::string& cause = entries.back();
    const auto colon = cause.find("(): ");
    message += " (" + (colon == std::string::npos ? cause : cause.substr(colon + 4)) + ")";
  }
  return message;
}

void clear_errors() {
  const auto guard = lock();
  H5Eclear2(H5E_DEFAULT);
}

void fail(Fail kind, const std::string& where, std::string_view what) {
  std::string message = where + ": " + std::string(what);
  const std::string stack = error_stack_message();
  if (!stack.empty()) message += ": " + stack;
  if (kind == Fail::format) throw FormatError(message);
  throw IoError(message);
}

hid_t check_id(hid_t id, Fail kind, const std::string& where, std::string_view what) {
  if (id < 0) fail(kind, where, what);
  return id;
}

void check(herr_t rc, Fail kind, const std::string& where, std::string_view what) {
  if (rc < 0) fail(kind, where, what);
}

bool check_tri(htri_t rc, Fail kind, const std::string& where, std::string_view what) {
  if (rc < 0) fail(kind, where, what);
  return rc > 0;
}

// ---- property lists ---------------------------------------------------------------------------

FileAccess::FileAccess()
    : plist_(check_id(H5Pcreate(H5P_FILE_ACCESS), Fail::io, "HDF5", "H5Pcreate")) {}

FileAccess& FileAccess::mpio(MPI_Comm comm, const std::string& where) {
  check(H5Pset_fapl_mpio(plist_.id(), comm, MPI_INFO_NULL), Fail::io, where,
        "selecting the MPI-IO driver (H5Pset_fapl_mpio)");
  return *this;
}

FileAccess& FileAccess::format_v18(const std::string& where) {
  check(H5Pset_libver_bounds(plist_.id(), H5F_LIBVER_V18, H5F_LIBVER_V18), Fail::io, where,
        "H5Pset_libver_bounds");
  return *this;
}

DatasetCreate::DatasetCreate()
    : plist_(check_id(H5Pcreate(H5P_DATASET_CREATE), Fail::io, "HDF5", "H5Pcreate")) {}

DatasetCreate& DatasetCreate::chunked(const std::vector<hsize_t>& chunks,
                                      const std::string& where) {
  check(H5Pset_chunk(plist_.id(), static_cast<int>(chunks.size()), chunks.data()), Fail::io, where,
        "setting the chunk shape (H5Pset_chunk)");
  return *this;
}

DatasetCreate& DatasetCreate::deflate(unsigned level, const std::string& where) {
  check(H5Pset_deflate(plist_.id(), level), Fail::io, where, "adding gzip (H5Pset_deflate)");
  return *this;
}

DatasetCreate& DatasetCreate::filter(H5Z_filter_t filter, const std::vector<unsigned>& cd_values,
                                     const std::string& where) {
  check(H5Pset_filter(plist_.id(), filter, H5Z_FLAG_OPTIONAL, cd_values.size(), cd_values.data()),
        Fail::io, where, "adding filter " + std::to_string(filter) + " (H5Pset_filter)");
  return *this;
}

DatasetCreate& DatasetCreate::never_fill(const std::string& where) {
  check(H5Pset_fill_time(plist_.id(), H5D_FILL_TIME_NEVER), Fail::io, where,
        "H5Pset_fill_time(NEVER)");
  return *this;
}

LinkCreate::LinkCreate(const std::string& where)
    : plist_(check_id(H5Pcreate(H5P_LINK_CREATE), Fail::io, where, "H5Pcreate")) {
  check(H5Pset_char_encoding(plist_.id(), H5T_CSET_UTF8), Fail::io, where, "H5Pset_char_encoding");
  check(H5Pset_create_intermediate_group(plist_.id(), 1), Fail::io, where,
        "H5Pset_create_intermediate_group");
}

AttributeCreate::AttributeCreate(const std::string& where)
    : plist_(check_id(H5Pcreate(H5P_ATTRIBUTE_CREATE), Fail::io, where, "H5Pcreate")) {
  check(H5Pset_char_encoding(plist_.id(), H5T_CSET_UTF8), Fail::io, where, "H5Pset_char_encoding");
}

DataTransfer::DataTransfer()
    : plist_(check_id(H5Pcreate(H5P_DATASET_XFER), Fail::io, "HDF5", "H5Pcreate")) {}

DataTransfer& DataTransfer::collective(const std::string& where) {
  check(H5Pset_dxpl_mpio(plist_.id(), H5FD_MPIO_COLLECTIVE), Fail::io, where,
        "H5Pset_dxpl_mpio(COLLECTIVE)");
  return *this;
}

DataTransfer& DataTransfer::individual_io(const std::string& where) {
  check(H5Pset_dxpl_mpio_collective_opt(plist_.id(), H5FD_MPIO_INDIVIDUAL_IO), Fail::io, where,
        "H5Pset_dxpl_mpio_collective_opt(INDIVIDUAL_IO)");
  return *this;
}

// ---- element types ----------------------------------------------------------------------------

namespace {

TypeId copy_type(hid_t predefined) {
  return TypeId(check_id(H5Tcopy(predefined), Fail::io, "HDF5", "H5Tcopy"));
}

// `base` is a one-byte integer type, so the member values need no byte-order conversion.
TypeId bool_enum(hid_t base) {
  TypeId t(check_id(H5Tenum_create(base), Fail::io, "HDF5", "H5Tenum_create"));
  const std::int8_t no = 0;
  const std::int8_t yes = 1;
  check(H5Tenum_insert(t.id(), "FALSE", &no), Fail::io, "HDF5", "H5Tenum_insert");
  check(H5Tenum_insert(t.id(), "TRUE", &yes), Fail::io, "HDF5", "H5Tenum_insert");
  return t;
}

hid_t standard_type(DType dtype) {
  switch (dtype) {
    case DType::boolean:
    case DType::int8:
      return H5T_STD_I8LE;
    case DType::int16:
      return H5T_STD_I16LE;
    case DType::int32:
      return H5T_STD_I32LE;
    case DType::int64:
      return H5T_STD_I64LE;
    case DType::uint8:
      return H5T_STD_U8LE;
    case DType::uint16:
      return H5T_STD_U16LE;
    case DType::uint32:
      return H5T_STD_U32LE;
    case DType::uint64:
      return H5T_STD_U64LE;
    case DType::float32:
      return H5T_IEEE_F32LE;
    case DType::float64:
      return H5T_IEEE_F64LE;
  }
  throw InternalError("HDF5: invalid DType");
}

hid_t native_type(DType dtype) {
  switch (dtype) {
    case DType::boolean:
    case DType::int8:
      return H5T_NATIVE_INT8;
    case DType::int16:
      return H5T_NATIVE_INT16;
    case DType::int32:
      return H5T_NATIVE_INT32;
    case DType::int64:
      return H5T_NATIVE_INT64;
    case DType::uint8:
      return H5T_NATIVE_UINT8;
    case DType::uint16:
      return H5T_NATIVE_UINT16;
    case DType::uint32:
      return H5T_NATIVE_UINT32;
    case DType::uint64:
      return H5T_NATIVE_UINT64;
    case DType::float32:
      return H5T_NATIVE_FLOAT;
    case DType::float64:
      return H5T_NATIVE_DOUBLE;
  }
  throw InternalError("HDF5: invalid DType");
}

DType integer_dtype(std::size_t size, bool is_signed, const std::string& where) {
  if (size <= 1) return is_signed ? DType::int8 : DType::uint8;
  if (size <= 2) return is_signed ? DType::int16 : DType::uint16;
  if (size <= 4) return is_signed ? DType::int32 : DType::uint32;
  if (size <= 8) return is_signed ? DType::int64 : DType::uint64;
  throw FormatError(where + ": " + std::to_string(size * 8) +
                    "-bit integers are not supported (at most 64 bits)");
}

// h5py's bool: an enum of exactly FALSE = 0 and TRUE = 1 (h5py checks the names too).
bool is_bool_enum(hid_t type) {
  if (H5Tget_nmembers(type) != 2) return false;
  const TypeId base(H5Tget_super(type));
  if (!base.valid()) return false;
  bool ok = true;
  for (unsigned i = 0; i < 2 && ok; ++i) {
    char* name = H5Tget_member_name(type, i);
    if (name == nullptr) return false;
    const std::string member(name);
    H5free_memory(name);
    std::int64_t value = 0;
    // The member value in the base type's representation, converted to int64 for comparison.
    std::vector<unsigned char> raw(std::max<std::size_t>(H5Tget_size(type), sizeof(value)));
    if (H5Tget_member_value(type, i, raw.data()) < 0) return false;
    if (H5Tconvert(base.id(), H5T_NATIVE_INT64, 1, raw.data(), nullptr, H5P_DEFAULT) < 0)
      return false;
    std::memcpy(&value, raw.data(), sizeof(value));
    ok = (member == "FALSE" && value == 0) || (member == "TRUE" && value == 1);
  }
  clear_errors();
  return ok;
}

}  // namespace

TypeId file_type(DType dtype) {
  if (dtype == DType::boolean) return bool_enum(H5T_STD_I8LE);
  return copy_type(standard_type(dtype));
}

TypeId memory_type(DType dtype) {
  if (dtype == DType::boolean) return bool_enum(H5T_NATIVE_INT8);
  return copy_type(native_type(dtype));
}

TypeId utf8_string_type() {
  TypeId t = copy_type(H5T_C_S1);
  check(H5Tset_size(t.id(), H5T_VARIABLE), Fail::io, "HDF5", "H5Tset_size");
  check(H5Tset_cset(t.id(), H5T_CSET_UTF8), Fail::io, "HDF5", "H5Tset_cset");
  return t;
}

ElementType classify(hid_t type, const std::string& where) {
  ElementType out;
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_NO_CLASS || size == 0) fail(Fail::format, where, "reading the element type");
  switch (cls) {
    case H5T_STRING: {
      out.is_string = true;
      out.variable_length = check_tri(H5Tis_variable_str(type), Fail::format, where,
                                      "reading the string type (H5Tis_variable_str)");
      return out;
    }
    case H5T_INTEGER: {
      const H5T_sign_t sign = H5Tget_sign(type);
      if (sign == H5T_SGN_ERROR) fail(Fail::format, where, "reading the integer type");
      out.dtype = out.buffer_dtype = integer_dtype(size, sign == H5T_SGN_2, where);
      out.memory = copy_type(native_type(out.dtype));
      return out;
    }
    case H5T_FLOAT: {
      // float16 widens to float32, long double narrows to float64 (HDF5 converts).
      out.dtype = out.buffer_dtype = size <= 4 ? DType::float32 : DType::float64;
      out.memory = copy_type(native_type(out.dtype));
      return out;
    }
    case H5T_BITFIELD: {
      if (size != 1) break;
      // PyTables-style bools: read the byte, anything non-zero is true.
      out.dtype = DType::boolean;
      out.buffer_dtype = DType::uint8;
      out.to_bool = true;
      out.memory = copy_type(H5T_NATIVE_B8);
      return out;
    }
    case H5T_ENUM: {
      const TypeId base(check_id(H5Tget_super(type), Fail::format, where, "reading the enum type"));
      const H5T_sign_t sign = H5Tget_sign(base.id());
      if (sign == H5T_SGN_ERROR) fail(Fail::format, where, "reading the enum's base type");
      // Enums convert only to enums: read the stored enum natively and use its integer values.
      out.buffer_dtype = integer_dtype(size, sign == H5T_SGN_2, where);
      out.memory = TypeId(check_id(H5Tget_native_type(type, H5T_DIR_ASCEND), Fail::format, where,
                                   "reading the enum type (H5Tget_native_type)"));
      if (H5Tget_size(out.memory.id()) != itemsize(out.buffer_dtype))
        throw FormatError(where + ": an enum of " + std::to_string(size) +
                          "-byte integers is not supported");
      out.to_bool = is_bool_enum(type);
      out.dtype = out.to_bool ? DType::boolean : out.buffer_dtype;
      return out;
    }
    default:
      break;
  }
  static constexpr const char* kNames[] = {"integer",  "float",           "time",     "string",
                                           "bitfield", "opaque",          "compound", "reference",
                                           "enum",     "variable-length", "array"};
  const int index = static_cast<int>(cls);
  const std::string name = index >= 0 && index < 11 ? kNames[index] : "unknown";
  throw FormatError(where + ": HDF5 " + name + " elements (" + std::to_string(size) +
                    " bytes) are not supported; expected numbers, booleans or strings");
}

std::vector<hsize_t> dims_of(hid_t space, const std::string& where) {
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_SCALAR) return {};
  if (cls == H5S_NULL) throw FormatError(where + ": has a null dataspace (h5py.Empty); no values");
  if (cls != H5S_SIMPLE) fail(Fail::format, where, "reading the dataspace");
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) fail(Fail::format, where, "reading the dataspace rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0)
    fail(Fail::format, where, "reading the dataspace dimensions");
  // Extents must fit index_t, and so must their product (a damaged file can claim anything).
  constexpr hsize_t kLimit = hsize_t{1} << 62;
  hsize_t elements = 1;
  for (hsize_t d : dims) {
    if (d > kLimit || (d != 0 && elements > kLimit / d))
      throw FormatError(where + ": dataspace extent " + std::to_string(d) + " is implausible");
    elements *= d;
  }
  return dims;
}

SpaceId simple_space(const std::vector<hsize_t>& dims, const std::string& where) {
  if (dims.empty())
    return SpaceId(check_id(H5Screate(H5S_SCALAR), Fail::io, where, "H5Screate(SCALAR)"));
  return SpaceId(check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                          Fail::io, where, "H5Screate_simple"));
}

namespace {

herr_t read_holder(Holder holder, hid_t object, hid_t memory, void* buffer) {
  return holder == Holder::attribute
             ? H5Aread(object, memory, buffer)
             : H5Dread(object, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
}

}  // namespace

std::vector<std::string> read_string_values(Holder holder, hid_t object, hid_t stored_type,
                                            hid_t space, const std::string& where) {
  const hssize_t points = H5Sget_simple_extent_npoints(space);
  if (points < 0) fail(Fail::format, where, "reading the number of strings");
  const auto count = static_cast<std::size_t>(points);
  std::vector<std::string> out;
  out.reserve(count);
  if (count == 0) return out;
  const bool variable =
      check_tri(H5Tis_variable_str(stored_type), Fail::format, where, "reading the string type");
  H5T_cset_t cset = H5Tget_cset(stored_type);
  if (cset < 0) cset = H5T_CSET_ASCII;
  if (variable) {
    TypeId memory = copy_type(H5T_C_S1);
    check(H5Tset_size(memory.id(), H5T_VARIABLE), Fail::io, where, "H5Tset_size");
    check(H5Tset_cset(memory.id(), cset), Fail::io, where, "H5Tset_cset");
    std::vector<char*> pointers(count, nullptr);
    check(read_holder(holder, object, memory.id(), pointers.data()), Fail::format, where,
          "reading strings");
    // HDF5 allocated every string: give them back whatever happens while copying.
    struct Reclaim {
      hid_t type, space;
      std::vector<char*>* values;
      ~Reclaim() {
        if (H5Dvlen_reclaim(type, space, H5P_DEFAULT, values->data()) < 0) clear_errors();
      }
    } reclaim{memory.id(), space, &pointers};
    for (char* p : pointers)
      out.emplace_back(p == nullptr ? "" : p);
    return out;
  }
  const std::size_t size = H5Tget_size(stored_type);
  if (size == 0) fail(Fail::format, where, "reading the string length");
  const H5T_str_t pad = H5Tget_strpad(stored_type);
  TypeId memory(check_id(H5Tcopy(stored_type), Fail::format, where, "H5Tcopy"));
  std::vector<char> raw(count * size);
  check(read_holder(holder, object, memory.id(), raw.data()), Fail::format, where,
        "reading strings");
  for (std::size_t i = 0; i < count; ++i) {
    const char* begin = raw.data() + i * size;
    std::size_t length = size;
    if (pad == H5T_STR_SPACEPAD) {
      while (length > 0 && begin[length - 1] == ' ')
        --length;
    } else {
      const void* nul = std::memchr(begin, '\0', size);
      if (nul != nullptr) length = static_cast<std::size_t>(static_cast<const char*>(nul) - begin);
    }
    out.emplace_back(begin, length);
  }
  return out;
}

}  // namespace tessera::io::detail::h5
