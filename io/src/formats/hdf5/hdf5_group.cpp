#include "formats/hdf5/hdf5_group.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "formats/hdf5/attributes.hpp"
#include "formats/hdf5/filters.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail::h5 {

hid_t FileState::id() const {
  if (!file.valid()) throw IoError(filename + ": the HDF5 file was closed");
  return file.id();
}

namespace {

// Chunks of arrays compressed without an explicit chunk shape hold about this many bytes.
constexpr std::uint64_t kDefaultChunkBytes = std::uint64_t{1} << 20;
// HDF5's limit on one chunk.
constexpr std::uint64_t kMaxChunkBytes = 0xFFFFFFFFULL;
// Elements of a variable-length string in storage (a global heap id), for chunk sizing.
constexpr std::size_t kStringStorageBytes = 16;

std::string shape_text(const std::vector<index_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i)
    s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + (dims.size() == 1 ? ",)" : ")");
}

std::vector<index_t> to_index(const std::vector<hsize_t>& dims) {
  return {dims.begin(), dims.end()};
}

std::vector<hsize_t> to_hsize(const std::vector<index_t>& dims) {
  return {dims.begin(), dims.end()};
}

// The 2-D shape a box crosses the storage interface as: (1, 1), (1, n) or itself.
Shape chunk_shape(const std::vector<index_t>& count) {
  if (count.empty()) return {1, 1};
  if (count.size() == 1) return {1, count[0]};
  return {count[0], count[1]};
}

void check_rank(std::size_t rank, const std::string& where) {
  if (rank > 2)
    throw FormatError(where + ": has " + std::to_string(rank) +
                      " dimensions; Tessera reads arrays of at most 2");
}

// Empty when the box fits the array, else why not.
std::string box_problem(const Box& box, const std::vector<index_t>& dims) {
  if (box.start.size() != dims.size() || box.count.size() != dims.size())
    return "a box of rank " + std::to_string(box.start.size()) + "/" +
           std::to_string(box.count.size()) + " for an array of rank " +
           std::to_string(dims.size());
  for (std::size_t d = 0; d < dims.size(); ++d) {
    if (box.start[d] < 0 || box.count[d] < 0 || box.start[d] > dims[d] ||
        box.count[d] > dims[d] - box.start[d])
      return "box start " + shape_text(box.start) + " count " + shape_text(box.count) +
             " is outside the array's shape " + shape_text(dims);
  }
  return {};
}

void select_box(hid_t space, const Box& box, H5S_seloper_t op, const std::string& where) {
  if (box.start.empty()) return;  // scalar: the whole (single-element) space
  const std::vector<hsize_t> start = to_hsize(box.start);
  const std::vector<hsize_t> count = to_hsize(box.count);
  check(H5Sselect_hyperslab(space, op, start.data(), nullptr, count.data(), nullptr), Fail::io,
        where, "selecting a box (H5Sselect_hyperslab)");
}

// A memory space for the dense chunk `data` written to a box of an array of rank `rank`: for 2-D
// arrays the same 2-D shape as the box (rows ld elements apart, cols used each), so that HDF5
// sees selections of the same shape and copies whole rows; for 0-D and 1-D arrays the values.
SpaceId chunk_memory_space(const Chunk& data, std::size_t rank, const std::string& where) {
  const auto rows = static_cast<hsize_t>(data.rows());
  const auto cols = static_cast<hsize_t>(data.cols());
  if (rank == 0) return simple_space({}, where);
  if (rank == 1) return simple_space({rows * cols}, where);  // a 1-D box crosses as (1, n)
  if (data.is_contiguous()) return simple_space({rows, cols}, where);
  SpaceId space = simple_space({rows, static_cast<hsize_t>(data.ld())}, where);
  const hsize_t start[2] = {0, 0};
  const hsize_t count[2] = {rows, cols};
  check(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, start, nullptr, count, nullptr), Fail::io,
        where, "selecting the chunk in memory");
  return space;
}

// Chunk shape for an array: the requested one clamped to the array (HDF5 refuses chunks larger
// than a fixed dimension), or about kDefaultChunkBytes when compression needs chunks and none
// were asked for. Empty: contiguous storage.
std::vector<hsize_t> chunk_dims(const std::vector<index_t>& shape,
                                const std::vector<index_t>& requested, std::size_t item_bytes,
                                bool compressed, const std::string& where) {
  if (shape.empty()) return {};  // scalars cannot be chunked
  if (std::any_of(shape.begin(), shape.end(), [](index_t s) { return s == 0; })) return {};
  std::vector<hsize_t> chunks;
  if (!requested.empty()) {
    for (std::size_t d = 0; d < shape.size(); ++d)
      chunks.push_back(static_cast<hsize_t>(std::min(requested[d], shape[d])));
  } else if (compressed) {
    const std::uint64_t per_chunk = std::max<std::uint64_t>(1, kDefaultChunkBytes / item_bytes);
    if (shape.size() == 1) {
      chunks.push_back(std::min<std::uint64_t>(static_cast<std::uint64_t>(shape[0]), per_chunk));
    } else {
      const auto cols = std::min<std::uint64_t>(static_cast<std::uint64_t>(shape[1]), per_chunk);
      const auto rows = std::min<std::uint64_t>(static_cast<std::uint64_t>(shape[0]),
                                                std::max<std::uint64_t>(1, per_chunk / cols));
      chunks = {rows, cols};
    }
  } else {
    return {};
  }
  std::uint64_t bytes = item_bytes;
  for (hsize_t c : chunks) {
    if (c > kMaxChunkBytes / bytes)
      throw ValueError(where + ": chunk shape " + shape_text(to_index(chunks)) +
                       " makes chunks larger than HDF5's 4 GiB limit");
    bytes *= c;
  }
  return chunks;
}

void add_compression(DatasetCreate& dcpl, const Compression& compression,
                     const std::string& where) {
  switch (compression.codec) {
    case Codec::none:
      return;
    case Codec::zlib:
      if (compression.level < 0 || compression.level > 9)
        throw ValueError(where + ": gzip level " + std::to_string(compression.level) +
                         " is outside 0-9");
      dcpl.deflate(static_cast<unsigned>(compression.level), where);
      return;
    case Codec::blosc:
      try {
        dcpl.filter(kBloscFilter,
                    blosc_cd_values(compression.cname, compression.level, compression.shuffle),
                    where);
      } catch (const ValueError& e) {
        throw ValueError(where + ": " + e.what());
      }
      return;
    case Codec::zstd:
      if (compression.level < 1 || compression.level > 22)
        throw ValueError(where + ": zstd level " + std::to_string(compression.level) +
                         " is outside 1-22");
      dcpl.filter(kZstdFilter, {static_cast<unsigned>(compression.level)}, where);
      return;
  }
}

void validate_shape(const std::vector<index_t>& shape, const std::string& where) {
  if (shape.size() > 2)
    throw ShapeError(where + ": arrays have at most 2 dimensions, not " +
                     std::to_string(shape.size()));
  for (index_t s : shape)
    if (s < 0) throw ShapeError(where + ": negative extent in shape " + shape_text(shape));
}

herr_t collect_link(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* client) {
  try {
    static_cast<std::vector<std::string>*>(client)->emplace_back(name);
  } catch (...) {
    return -1;
  }
  return 0;
}

// The dense chunk `data` as `dtype` for writing (HDF5 cannot turn bools into integers itself).
Chunk as_stored(const Chunk& data, DType dtype, const Box& box, const std::string& where) {
  if (data.is_sparse()) throw ValueError(where + ": writes take dense chunks; this one is CSR");
  const Shape expected = chunk_shape(box.count);
  if (data.shape() != expected)
    throw ShapeError(where + ": a chunk of shape " + to_string(data.shape()) +
                     " does not fit a box of count " + shape_text(box.count) + " (expected " +
                     to_string(expected) + ")");
  return data.dtype() == dtype ? data : data.astype(dtype);
}

// One member of a compound type: its element type and how many values (array members).
struct Member {
  TypeId type;  // the element type (the base of an array member)
  index_t count = 1;
};

Member member_of(hid_t compound, unsigned i, const std::string& at) {
  Member m;
  m.type = TypeId(check_id(H5Tget_member_type(compound, i), Fail::format, at,
                           "reading a compound member's type"));
  if (H5Tget_class(m.type.id()) == H5T_ARRAY) {
    const int rank = H5Tget_array_ndims(m.type.id());
    if (rank < 1 || rank > 1) fail(Fail::format, at, "reading an array member (one dimension)");
    hsize_t dims[1] = {0};
    if (H5Tget_array_dims2(m.type.id(), dims) < 0) fail(Fail::format, at, "H5Tget_array_dims2");
    if (dims[0] < 1 || dims[0] > (hsize_t{1} << 20))
      throw FormatError(at + ": an array member of " + std::to_string(dims[0]) + " values");
    m.count = static_cast<index_t>(dims[0]);
    m.type = TypeId(check_id(H5Tget_super(m.type.id()), Fail::format, at, "H5Tget_super"));
  }
  return m;
}

std::string member_name(hid_t compound, unsigned i, const std::string& at) {
  char* raw = H5Tget_member_name(compound, i);
  if (raw == nullptr) fail(Fail::format, at, "reading a compound member's name");
  std::string name(raw);
  H5free_memory(raw);
  return name;
}

std::vector<Field> compound_fields(hid_t type, const std::string& at) {
  const int n = H5Tget_nmembers(type);
  if (n <= 0) throw FormatError(at + ": a compound type without members");
  std::vector<Field> fields;
  for (unsigned i = 0; i < static_cast<unsigned>(n); ++i) {
    Field f;
    f.name = member_name(type, i, at);
    const Member m = member_of(type, i, at);
    const std::string what = at + " field '" + f.name + "'";
    const ElementType element = classify(m.type.id(), what);  // nested compounds: FormatError
    if (!element.is_string) f.dtype = element.dtype;
    f.count = m.count;
    if (element.is_string && m.count != 1)
      throw FormatError(what + ": arrays of strings in a compound field are not supported");
    fields.push_back(std::move(f));
  }
  return fields;
}

}  // namespace

Hdf5Group::Hdf5Group(std::shared_ptr<FileState> file, std::string name)
    : file_(std::move(file)), name_(std::move(name)) {}

std::string Hdf5Group::where(const std::string& h5path) const {
  return file_->filename + ":" + h5path;
}

std::string Hdf5Group::path() const {
  return where(name_);
}

std::string Hdf5Group::child(const std::string& name) const {
  bool ok = !name.empty() && name.front() != '/' && name.back() != '/' &&
            name.find("//") == std::string::npos && name.find('\0') == std::string::npos;
  if (ok) {
    std::size_t begin = 0;
    while (begin <= name.size()) {
      const std::size_t end = std::min(name.find('/', begin), name.size());
      if (name.compare(begin, end - begin, ".") == 0 && end - begin == 1) ok = false;
      begin = end + 1;
    }
  }
  if (!ok) throw ValueError(path() + ": '" + name + "' is not a valid name of a child");
  return name_ == "/" ? "/" + name : name_ + "/" + name;
}

Hdf5Group::Kind Hdf5Group::kind_of(const std::string& h5path) const {
  const hid_t file = file_->id();
  // H5Lexists fails (rather than saying no) when a group on the way is missing: walk down.
  for (std::size_t slash = h5path.find('/', 1);; slash = h5path.find('/', slash + 1)) {
    const std::string prefix = slash == std::string::npos ? h5path : h5path.substr(0, slash);
    const htri_t exists = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
    if (exists <= 0) {
      clear_errors();
      return Kind::missing;
    }
    if (slash == std::string::npos) break;
  }
  const ObjectId object(H5Oopen(file, h5path.c_str(), H5P_DEFAULT));
  if (!object.valid()) {  // a dangling soft or external link
    clear_errors();
    return Kind::other;
  }
  switch (H5Iget_type(object.id())) {
    case H5I_GROUP:
      return Kind::group;
    case H5I_DATASET:
      return Kind::dataset;
    default:
      return Kind::other;
  }
}

DatasetId Hdf5Group::open_dataset(const std::string& h5path) const {
  const Kind kind = kind_of(h5path);
  if (kind == Kind::missing) throw FormatError(where(h5path) + ": no such array");
  if (kind != Kind::dataset) throw FormatError(where(h5path) + ": is not an array (dataset)");
  return DatasetId(check_id(H5Dopen2(file_->id(), h5path.c_str(), H5P_DEFAULT), Fail::format,
                            where(h5path), "opening the array (H5Dopen2)"));
}

void Hdf5Group::require_writable(const std::string& h5path) const {
  if (!file_->writable) throw IoError(where(h5path) + ": the file is open read-only");
}

void Hdf5Group::require_absent(const std::string& h5path) const {
  if (kind_of(h5path) != Kind::missing) throw IoError(where(h5path) + ": already exists");
}

// ---- structure --------------------------------------------------------------------------------

std::vector<std::string> Hdf5Group::children() const {
  const auto guard = lock();
  const GroupId group(check_id(H5Gopen2(file_->id(), name_.c_str(), H5P_DEFAULT), Fail::format,
                               path(), "opening the group (H5Gopen2)"));
  unsigned order_flags = 0;
  {
    const PropListId gcpl(
        check_id(H5Gget_create_plist(group.id()), Fail::format, path(), "H5Gget_create_plist"));
    check(H5Pget_link_creation_order(gcpl.id(), &order_flags), Fail::format, path(),
          "H5Pget_link_creation_order");
  }
  std::vector<std::string> names;
  if ((order_flags & H5P_CRT_ORDER_TRACKED) != 0) {
    if (H5Literate(group.id(), H5_INDEX_CRT_ORDER, H5_ITER_INC, nullptr, collect_link, &names) >= 0)
      return names;
    // Tracked but not indexed, in dense storage: HDF5 cannot list by creation order.
    clear_errors();
    names.clear();
  }
  check(H5Literate(group.id(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link, &names),
        Fail::format, path(), "listing the group (H5Literate)");
  return names;
}

bool Hdf5Group::has_group(const std::string& name) const {
  const auto guard = lock();
  return kind_of(child(name)) == Kind::group;
}

bool Hdf5Group::has_array(const std::string& name) const {
  const auto guard = lock();
  return kind_of(child(name)) == Kind::dataset;
}

std::unique_ptr<Group> Hdf5Group::group(const std::string& name) const {
  const auto guard = lock();
  const std::string h5path = child(name);
  const Kind kind = kind_of(h5path);
  if (kind == Kind::missing) throw FormatError(where(h5path) + ": no such group");
  if (kind != Kind::group) throw FormatError(where(h5path) + ": is not a group");
  return std::make_unique<Hdf5Group>(file_, h5path);
}

std::unique_ptr<Group> Hdf5Group::create_group(const std::string& name) {
  const auto guard = lock();
  const std::string h5path = child(name);
  require_writable(h5path);
  require_absent(h5path);
  const LinkCreate lcpl(where(h5path));
  const GroupId group(
      check_id(H5Gcreate2(file_->id(), h5path.c_str(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT),
               Fail::io, where(h5path), "creating the group (H5Gcreate2)"));
  return std::make_unique<Hdf5Group>(file_, h5path);
}

// ---- attributes -------------------------------------------------------------------------------

Json Hdf5Group::attributes(const std::string& array) const {
  const auto guard = lock();
  const std::string h5path = array.empty() ? name_ : child(array);
  if (!array.empty() && kind_of(h5path) == Kind::missing)
    throw FormatError(where(h5path) + ": no such array");
  const ObjectId object(check_id(H5Oopen(file_->id(), h5path.c_str(), H5P_DEFAULT), Fail::format,
                                 where(h5path), "opening (H5Oopen)"));
  Json out = Json::object();
  for (const std::string& key : attribute_names(object.id(), where(h5path))) {
    const std::string what = where(h5path) + " attribute '" + key + "'";
    const AttributeId attribute(check_id(H5Aopen(object.id(), key.c_str(), H5P_DEFAULT),
                                         Fail::format, what, "opening (H5Aopen)"));
    if (auto value = read_attribute(attribute.id(), what)) out[key] = std::move(*value);
  }
  return out;
}

void Hdf5Group::set_attribute(const std::string& key, const Json& value, const std::string& array) {
  const auto guard = lock();
  const std::string h5path = array.empty() ? name_ : child(array);
  require_writable(h5path);
  if (!array.empty() && kind_of(h5path) == Kind::missing)
    throw FormatError(where(h5path) + ": no such array");
  const ObjectId object(check_id(H5Oopen(file_->id(), h5path.c_str(), H5P_DEFAULT), Fail::format,
                                 where(h5path), "opening (H5Oopen)"));
  write_attribute(object.id(), key, value, where(h5path));
}

// ---- reading ----------------------------------------------------------------------------------

ArrayMeta Hdf5Group::array_meta(const std::string& name) const {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  const DatasetId dataset = open_dataset(h5path);
  ArrayMeta meta;
  {
    const SpaceId space(check_id(H5Dget_space(dataset.id()), Fail::format, at, "H5Dget_space"));
    meta.shape = to_index(dims_of(space.id(), at));
  }
  check_rank(meta.shape.size(), at);
  {
    const TypeId type(check_id(H5Dget_type(dataset.id()), Fail::format, at, "H5Dget_type"));
    if (H5Tget_class(type.id()) == H5T_COMPOUND) {
      meta.fields = compound_fields(type.id(), at);
      if (meta.shape.size() != 1)
        throw FormatError(at + ": a compound array must be one-dimensional");
    } else {
      const ElementType element = classify(type.id(), at);
      if (!element.is_string) meta.dtype = element.dtype;
      meta.fixed_bytes =
          element.is_string && !element.variable_length && H5Tget_cset(type.id()) == H5T_CSET_ASCII;
    }
  }
  const PropListId dcpl(
      check_id(H5Dget_create_plist(dataset.id()), Fail::format, at, "H5Dget_create_plist"));
  if (H5Pget_layout(dcpl.id()) == H5D_CHUNKED && !meta.shape.empty()) {
    std::vector<hsize_t> chunks(meta.shape.size());
    const int rank = H5Pget_chunk(dcpl.id(), static_cast<int>(chunks.size()), chunks.data());
    if (rank != static_cast<int>(chunks.size())) fail(Fail::format, at, "reading the chunk shape");
    meta.chunks = to_index(chunks);
  }
  clear_errors();
  return meta;
}

Chunk Hdf5Group::read(const std::string& name, const Box& box) const {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  const DatasetId dataset = open_dataset(h5path);
  const TypeId type(check_id(H5Dget_type(dataset.id()), Fail::format, at, "H5Dget_type"));
  const ElementType element = classify(type.id(), at);
  if (element.is_string)
    throw FormatError(at + ": is an array of strings; read it with read_strings");
  const SpaceId file_space(check_id(H5Dget_space(dataset.id()), Fail::format, at, "H5Dget_space"));
  const std::vector<index_t> dims = to_index(dims_of(file_space.id(), at));
  check_rank(dims.size(), at);
  if (const std::string problem = box_problem(box, dims); !problem.empty())
    throw FormatError(at + ": reading: " + problem);

  const Shape shape = chunk_shape(box.count);
  if (shape.size() == 0) return Chunk::dense(element.dtype, shape);
  Chunk buffer = Chunk::dense(element.buffer_dtype, shape);
  select_box(file_space.id(), box, H5S_SELECT_SET, at);
  const SpaceId memory_space =
      simple_space(box.count.empty() ? std::vector<hsize_t>{} : to_hsize(box.count), at);
  check(H5Dread(dataset.id(), element.memory.id(), memory_space.id(), file_space.id(), H5P_DEFAULT,
                const_cast<std::byte*>(buffer.raw_row(0))),
        Fail::format, at, "reading (H5Dread)");
  if (!element.to_bool)
    return buffer.dtype() == element.dtype ? buffer : buffer.astype(element.dtype);
  // Bool enums and bitfields: any non-zero value is true (HDF5 leaves unknown enum values as is).
  Chunk out = Chunk::dense(DType::boolean, shape);
  const index_t n = shape.size();
  dispatch(element.buffer_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T>) {
      const T* src = buffer.row<T>(0);
      bool* dst = out.mutable_row<bool>(0);
      for (index_t i = 0; i < n; ++i)
        dst[i] = src[i] != 0;
    }
  });
  return out;
}

std::vector<std::string> Hdf5Group::read_strings(const std::string& name) const {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  const DatasetId dataset = open_dataset(h5path);
  const TypeId type(check_id(H5Dget_type(dataset.id()), Fail::format, at, "H5Dget_type"));
  if (H5Tget_class(type.id()) != H5T_STRING)
    throw FormatError(at + ": is a numeric array, not an array of strings");
  const SpaceId space(check_id(H5Dget_space(dataset.id()), Fail::format, at, "H5Dget_space"));
  check_rank(dims_of(space.id(), at).size(), at);
  return read_string_values(Holder::dataset, dataset.id(), type.id(), space.id(), at);
}

FieldValues Hdf5Group::read_field(const std::string& name, const std::string& field) const {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  const DatasetId dataset = open_dataset(h5path);
  const TypeId type(check_id(H5Dget_type(dataset.id()), Fail::format, at, "H5Dget_type"));
  if (H5Tget_class(type.id()) != H5T_COMPOUND)
    throw FormatError(at + ": is not a compound array; no field '" + field + "'");
  const SpaceId space(check_id(H5Dget_space(dataset.id()), Fail::format, at, "H5Dget_space"));
  const std::vector<hsize_t> dims = dims_of(space.id(), at);
  if (dims.size() != 1) throw FormatError(at + ": a compound array must be one-dimensional");
  const auto n = static_cast<index_t>(dims[0]);
  const int index = H5Tget_member_index(type.id(), field.c_str());
  if (index < 0) {
    clear_errors();
    throw FormatError(at + ": no field '" + field + "'");
  }
  const std::string what = at + " field '" + field + "'";
  const Member m = member_of(type.id(), static_cast<unsigned>(index), at);
  const ElementType element = classify(m.type.id(), what);
  FieldValues out;
  out.name = field;
  // A memory compound of the one member, by name: HDF5 converts and picks it out of each record.
  const auto read_member = [&](hid_t member_memory, std::size_t bytes, void* buffer) {
    const TypeId memory(check_id(H5Tcreate(H5T_COMPOUND, bytes), Fail::io, what, "H5Tcreate"));
    check(H5Tinsert(memory.id(), field.c_str(), 0, member_memory), Fail::io, what, "H5Tinsert");
    check(H5Dread(dataset.id(), memory.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer), Fail::format,
          what, "reading (H5Dread)");
  };
  if (n == 0) {
    if (!element.is_string) out.values = Chunk::dense(element.dtype, Shape{0, m.count});
    return out;
  }
  if (element.is_string) {
    if (element.variable_length) {
      TypeId memory = utf8_string_type();
      std::vector<char*> pointers(static_cast<std::size_t>(n), nullptr);
      read_member(memory.id(), sizeof(char*), pointers.data());
      for (char*& p : pointers) {
        out.strings.emplace_back(p == nullptr ? "" : p);
        H5free_memory(p);
        p = nullptr;
      }
      return out;
    }
    const std::size_t size = H5Tget_size(m.type.id());
    const TypeId memory(check_id(H5Tcopy(m.type.id()), Fail::format, what, "H5Tcopy"));
    std::vector<char> raw(static_cast<std::size_t>(n) * size);
    read_member(memory.id(), size, raw.data());
    for (index_t i = 0; i < n; ++i) {
      const char* begin = raw.data() + static_cast<std::size_t>(i) * size;
      const void* nul = std::memchr(begin, '\0', size);
      std::size_t length =
          nul != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nul) - begin) : size;
      if (H5Tget_strpad(m.type.id()) == H5T_STR_SPACEPAD) {
        while (length > 0 && begin[length - 1] == ' ')
          --length;
      }
      out.strings.emplace_back(begin, length);
    }
    return out;
  }
  const std::size_t item = itemsize(element.buffer_dtype);
  Chunk buffer = Chunk::dense(element.buffer_dtype, Shape{n, m.count});
  if (m.count == 1) {
    read_member(element.memory.id(), item, const_cast<std::byte*>(buffer.raw_row(0)));
  } else {
    const hsize_t count[1] = {static_cast<hsize_t>(m.count)};
    const TypeId array(check_id(H5Tarray_create2(element.memory.id(), 1, count), Fail::io, what,
                                "H5Tarray_create2"));
    read_member(array.id(), item * static_cast<std::size_t>(m.count),
                const_cast<std::byte*>(buffer.raw_row(0)));
  }
  if (!element.to_bool) {
    out.values = buffer.dtype() == element.dtype ? buffer : buffer.astype(element.dtype);
    return out;
  }
  Chunk flags = Chunk::dense(DType::boolean, Shape{n, m.count});
  dispatch(element.buffer_dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T>) {
      const T* src = buffer.row<T>(0);
      bool* dst = flags.mutable_row<bool>(0);
      for (index_t i = 0; i < n * m.count; ++i)
        dst[i] = src[i] != 0;
    }
  });
  out.values = std::move(flags);
  return out;
}

// ---- writing ----------------------------------------------------------------------------------

void Hdf5Group::write_compound(const std::string& name, const std::vector<FieldValues>& fields,
                               index_t n) {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  require_writable(h5path);
  if (file_->parallel()) throw IoError(at + ": compound arrays are written into serial files");
  if (fields.empty()) throw ValueError(at + ": a compound array needs at least one field");
  // The file type, packed: numbers in little-endian standard types (bools as h5py's enum),
  // strings variable-length UTF-8, as anndata 0.8 writes rec-arrays (_to_hdf5_vlen_strings).
  std::vector<TypeId> types;
  std::vector<std::size_t> offsets;
  std::size_t record = 0;
  for (const FieldValues& f : fields) {
    if (f.values) {
      if (f.values->rows() != n || f.values->is_sparse())
        throw ShapeError(at + ": field '" + f.name + "' does not hold " + std::to_string(n) +
                         " records");
      TypeId base = file_type(f.values->dtype());
      if (f.values->cols() != 1) {
        const hsize_t count[1] = {static_cast<hsize_t>(f.values->cols())};
        base = TypeId(
            check_id(H5Tarray_create2(base.id(), 1, count), Fail::io, at, "H5Tarray_create2"));
      }
      types.push_back(std::move(base));
    } else {
      if (static_cast<index_t>(f.strings.size()) != n)
        throw ShapeError(at + ": field '" + f.name + "' does not hold " + std::to_string(n) +
                         " strings");
      for (const std::string& text : f.strings) {
        if (text.find('\0') != std::string::npos)
          throw ValueError(at + ": field '" + f.name + "' holds a NUL byte");
      }
      types.push_back(utf8_string_type());
    }
    offsets.push_back(record);
    record += H5Tget_size(types.back().id());
  }
  const TypeId compound(check_id(H5Tcreate(H5T_COMPOUND, record), Fail::io, at, "H5Tcreate"));
  for (std::size_t i = 0; i < fields.size(); ++i) {
    check(H5Tinsert(compound.id(), fields[i].name.c_str(), offsets[i], types[i].id()), Fail::io, at,
          "H5Tinsert");
  }
  std::vector<std::byte> raw(static_cast<std::size_t>(n) * record, std::byte{0});
  for (std::size_t i = 0; i < fields.size(); ++i) {
    for (index_t r = 0; r < n; ++r) {
      std::byte* dst = raw.data() + static_cast<std::size_t>(r) * record + offsets[i];
      if (fields[i].values) {
        // Little-endian x86: the native bytes are the standard type's (bools are 0/1 bytes).
        const Chunk& v = *fields[i].values;
        const std::size_t item = itemsize(v.dtype());
        for (index_t c = 0; c < v.cols(); ++c)
          std::memcpy(dst + static_cast<std::size_t>(c) * item,
                      v.raw_row(r) + static_cast<std::size_t>(c) * item, item);
      } else {
        const char* text = fields[i].strings[static_cast<std::size_t>(r)].c_str();
        std::memcpy(dst, static_cast<const void*>(&text), sizeof text);
      }
    }
  }
  require_absent(h5path);
  const SpaceId space = simple_space({static_cast<hsize_t>(n)}, at);
  const LinkCreate lcpl(at);
  const DatasetId dataset(check_id(H5Dcreate2(file_->id(), h5path.c_str(), compound.id(),
                                              space.id(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT),
                                   Fail::io, at, "creating the array (H5Dcreate2)"));
  if (n == 0) return;
  check(H5Dwrite(dataset.id(), compound.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), Fail::io,
        at, "writing records (H5Dwrite)");
}

void Hdf5Group::create_null(const std::string& name) {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  require_writable(h5path);
  require_absent(h5path);
  // h5py.Empty("f"): a float32 dataset with a null dataspace, as anndata 0.12 writes None.
  const SpaceId space(check_id(H5Screate(H5S_NULL), Fail::io, at, "H5Screate(NULL)"));
  const TypeId type = file_type(DType::float32);
  const LinkCreate lcpl(at);
  const DatasetId dataset(check_id(H5Dcreate2(file_->id(), h5path.c_str(), type.id(), space.id(),
                                              lcpl.id(), H5P_DEFAULT, H5P_DEFAULT),
                                   Fail::io, at, "creating the null array (H5Dcreate2)"));
}

void Hdf5Group::create_array(const std::string& name, const ArrayMeta& meta,
                             const Compression& compression) {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  require_writable(h5path);
  if (meta.is_string()) throw ValueError(at + ": arrays of strings are created by write_strings");
  validate_shape(meta.shape, at);
  if (!meta.chunks.empty()) {
    if (meta.chunks.size() != meta.shape.size())
      throw ShapeError(at + ": chunk shape " + shape_text(meta.chunks) +
                       " does not match the rank of shape " + shape_text(meta.shape));
    for (index_t c : meta.chunks)
      if (c <= 0)
        throw ShapeError(at + ": chunk shape " + shape_text(meta.chunks) +
                         " has an extent below 1");
  }
  require_absent(h5path);
  const DType dtype = *meta.dtype;
  DatasetCreate dcpl;
  dcpl.never_fill(at);
  const std::vector<hsize_t> chunks =
      chunk_dims(meta.shape, meta.chunks, itemsize(dtype), compression.codec != Codec::none, at);
  if (!chunks.empty()) {
    dcpl.chunked(chunks, at);
    add_compression(dcpl, compression, at);
  }
  const TypeId type = file_type(dtype);
  const SpaceId space = simple_space(to_hsize(meta.shape), at);
  const LinkCreate lcpl(at);
  const DatasetId dataset(check_id(H5Dcreate2(file_->id(), h5path.c_str(), type.id(), space.id(),
                                              lcpl.id(), dcpl.id(), H5P_DEFAULT),
                                   Fail::io, at, "creating the array (H5Dcreate2)"));
}

void Hdf5Group::write(const std::string& name, const Box& box, const Chunk& data) {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  require_writable(h5path);
  const DatasetId dataset = open_dataset(h5path);
  const TypeId type(check_id(H5Dget_type(dataset.id()), Fail::format, at, "H5Dget_type"));
  const ElementType element = classify(type.id(), at);
  if (element.is_string) throw FormatError(at + ": is an array of strings; use write_strings");
  const SpaceId file_space(check_id(H5Dget_space(dataset.id()), Fail::format, at, "H5Dget_space"));
  const std::vector<index_t> dims = to_index(dims_of(file_space.id(), at));
  if (const std::string problem = box_problem(box, dims); !problem.empty())
    throw IndexError(at + ": writing: " + problem);
  const Chunk stored = as_stored(data, element.dtype, box, at);
  if (stored.shape().size() == 0) return;
  select_box(file_space.id(), box, H5S_SELECT_SET, at);
  const SpaceId memory_space = chunk_memory_space(stored, dims.size(), at);
  const TypeId memory = memory_type(element.dtype);
  check(H5Dwrite(dataset.id(), memory.id(), memory_space.id(), file_space.id(), H5P_DEFAULT,
                 stored.raw_row(0)),
        Fail::io, at, "writing (H5Dwrite)");
}

void Hdf5Group::write_blocks(const std::string& name,
                             const std::vector<std::pair<Box, Chunk>>& blocks) {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);

  // Validate everything first; for parallel files the ranks agree on the outcome before anyone
  // enters the collective write, so a bad block fails every rank instead of hanging the others.
  DatasetId dataset;
  DType dtype = DType::float64;
  std::vector<index_t> dims;
  std::vector<std::pair<const Box*, Chunk>> stored;  // non-empty blocks as the dataset's dtype
  std::exception_ptr error;
  try {
    require_writable(h5path);
    dataset = open_dataset(h5path);
    const TypeId type(check_id(H5Dget_type(dataset.id()), Fail::format, at, "H5Dget_type"));
    const ElementType element = classify(type.id(), at);
    if (element.is_string) throw FormatError(at + ": is an array of strings; use write_strings");
    dtype = element.dtype;
    const SpaceId space(check_id(H5Dget_space(dataset.id()), Fail::format, at, "H5Dget_space"));
    dims = to_index(dims_of(space.id(), at));
    for (const auto& [box, data] : blocks) {
      if (const std::string problem = box_problem(box, dims); !problem.empty())
        throw IndexError(at + ": write_blocks: " + problem);
      Chunk chunk = as_stored(data, dtype, box, at);
      if (chunk.shape().size() > 0) stored.emplace_back(&box, std::move(chunk));
    }
    // The union of a rank's boxes must count each element once, or the packing below is wrong.
    for (std::size_t i = 0; i < stored.size(); ++i) {
      for (std::size_t j = i + 1; j < stored.size(); ++j) {
        const Box& a = *stored[i].first;
        const Box& b = *stored[j].first;
        bool overlap = true;
        for (std::size_t d = 0; d < dims.size(); ++d)
          overlap = overlap && a.start[d] < b.start[d] + b.count[d] &&
                    b.start[d] < a.start[d] + a.count[d];
        if (overlap)
          throw IndexError(at + ": write_blocks: boxes starting at " + shape_text(a.start) +
                           " and " + shape_text(b.start) + " overlap");
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  if (file_->parallel()) {
    const std::uint64_t failed =
        file_->comm->all_reduce_max(std::uint64_t{error ? 1U : 0U}, "HDF5 write_blocks");
    if (failed != 0 && !error)
      throw IoError(at + ": write_blocks: another rank's blocks were invalid; nothing written");
  }
  if (error) std::rethrow_exception(error);

  // One H5Dwrite per box, each a single regular hyperslab with a memory space of the same shape:
  // HDF5 then maps whole chunks at once and writes straight from the chunk's buffer. (One
  // write of the union of the boxes from a packed buffer cost a copy of everything, and HDF5
  // maps an irregular union to chunks element by element: 4 s of CPU per GiB.) Collective
  // writes need the same number of calls on every rank: ranks with fewer boxes select nothing.
  std::uint64_t rounds = stored.size();
  if (file_->parallel())
    rounds = file_->comm->all_reduce_max(rounds, "HDF5 write_blocks: boxes per rank");
  DataTransfer transfer;
  if (file_->parallel()) {
    transfer.collective(at);
    // Unfiltered boxes are whole HDF5 chunks (or runs of contiguous storage) of one rank: each
    // rank writes its own straight from its buffers. MPI-IO's two-phase collective buffering
    // would copy them through aggregator ranks first (measured: 6 s for 2 GiB at 2 ranks, most
    // of it in MPI progress and copies). Filtered data must stay collective in parallel HDF5.
    const PropListId create(
        check_id(H5Dget_create_plist(dataset.id()), Fail::io, at, "H5Dget_create_plist"));
    if (H5Pget_nfilters(create.id()) == 0) transfer.individual_io(at);
  }
  const TypeId memory = memory_type(dtype);
  const std::byte nothing[16] = {};  // HDF5 wants a buffer even when nothing is selected
  for (std::uint64_t k = 0; k < rounds; ++k) {
    const SpaceId file_space(check_id(H5Dget_space(dataset.id()), Fail::io, at, "H5Dget_space"));
    SpaceId memory_space;
    const void* buffer = nothing;
    if (k < stored.size()) {
      const auto& [box, chunk] = stored[k];
      select_box(file_space.id(), *box, H5S_SELECT_SET, at);
      memory_space = chunk_memory_space(chunk, dims.size(), at);
      buffer = chunk.raw_row(0);
    } else {
      check(H5Sselect_none(file_space.id()), Fail::io, at, "H5Sselect_none");
      memory_space = simple_space({1}, at);
      check(H5Sselect_none(memory_space.id()), Fail::io, at, "H5Sselect_none");
    }
    check(H5Dwrite(dataset.id(), memory.id(), memory_space.id(), file_space.id(), transfer.id(),
                   buffer),
          Fail::io, at, "writing blocks (H5Dwrite)");
  }
}

void Hdf5Group::write_strings(const std::string& name, const std::vector<std::string>& values,
                              const std::vector<index_t>& shape, const Compression& compression) {
  const auto guard = lock();
  const std::string h5path = child(name);
  const std::string at = where(h5path);
  require_writable(h5path);
  if (file_->parallel())
    throw IoError(at +
                  ": HDF5 cannot write variable-length strings through MPI-IO; write "
                  "strings into a serial file before opening it in parallel");
  validate_shape(shape, at);
  index_t count = 1;
  for (index_t s : shape)
    count *= s;
  if (count != static_cast<index_t>(values.size()))
    throw ShapeError(at + ": " + std::to_string(values.size()) + " strings do not fill shape " +
                     shape_text(shape));
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const std::string& s : values) {
    if (s.find('\0') != std::string::npos)
      throw ValueError(at + ": string " + std::to_string(pointers.size()) +
                       " holds a NUL byte, which HDF5 strings cannot");
    pointers.push_back(s.c_str());
  }
  require_absent(h5path);
  DatasetCreate dcpl;
  const std::vector<hsize_t> chunks =
      chunk_dims(shape, {}, kStringStorageBytes, compression.codec != Codec::none, at);
  if (!chunks.empty()) {
    dcpl.chunked(chunks, at);
    add_compression(dcpl, compression, at);
  }
  const TypeId type = utf8_string_type();
  const SpaceId space = simple_space(to_hsize(shape), at);
  const LinkCreate lcpl(at);
  const DatasetId dataset(check_id(H5Dcreate2(file_->id(), h5path.c_str(), type.id(), space.id(),
                                              lcpl.id(), dcpl.id(), H5P_DEFAULT),
                                   Fail::io, at, "creating the array (H5Dcreate2)"));
  if (values.empty()) return;
  check(H5Dwrite(dataset.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), Fail::io,
        at, "writing strings (H5Dwrite)");
}

void Hdf5Group::flush() {
  const auto guard = lock();
  if (!file_->writable) return;
  check(H5Fflush(file_->id(), H5F_SCOPE_GLOBAL), Fail::io, file_->filename, "flushing (H5Fflush)");
}

}  // namespace tessera::io::detail::h5
