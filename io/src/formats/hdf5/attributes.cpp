#include "formats/hdf5/attributes.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "formats/hdf5/h5_api.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io::detail::h5 {
namespace {

herr_t collect_name(hid_t /*object*/, const char* name, const H5A_info_t* /*info*/, void* client) {
  try {
    static_cast<std::vector<std::string>*>(client)->emplace_back(name);
  } catch (...) {
    return -1;
  }
  return 0;
}

// Integer values of a raw buffer of `dtype` elements (enums read in their base type).
std::vector<std::int64_t> raw_integers(const std::vector<unsigned char>& raw, DType dtype,
                                       std::size_t count) {
  std::vector<std::int64_t> out(count);
  dispatch(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (std::size_t i = 0; i < count; ++i) {
      T value;
      std::memcpy(&value, raw.data() + i * sizeof(T), sizeof(T));
      out[i] = static_cast<std::int64_t>(value);
    }
  });
  return out;
}

template <typename T>
Json to_json(const std::vector<T>& values, bool scalar) {
  if (scalar) return Json(values.at(0));
  Json array = Json::array();
  for (const T& v : values)
    array.push_back(v);
  return array;
}

}  // namespace

std::vector<std::string> attribute_names(hid_t object, const std::string& where) {
  std::vector<std::string> names;
  check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names),
        Fail::format, where, "listing attributes (H5Aiterate2)");
  return names;
}

std::optional<Json> read_attribute(hid_t attribute, const std::string& where) {
  const TypeId type(check_id(H5Aget_type(attribute), Fail::format, where, "reading its type"));
  const SpaceId space(
      check_id(H5Aget_space(attribute), Fail::format, where, "reading its dataspace"));
  if (H5Sget_simple_extent_type(space.id()) == H5S_NULL) return Json(nullptr);
  const bool scalar = dims_of(space.id(), where).empty();
  const hssize_t points = H5Sget_simple_extent_npoints(space.id());
  if (points < 0) fail(Fail::format, where, "reading its size");
  const auto count = static_cast<std::size_t>(points);

  if (H5Tget_class(type.id()) == H5T_REFERENCE) {
    // Object references (anndata 0.7's categories) read as the absolute path of the object each
    // points to; other references have no JSON form.
    if (check_tri(H5Tequal(type.id(), H5T_STD_REF_OBJ), Fail::format, where, "H5Tequal") <= 0)
      return std::nullopt;
    std::vector<hobj_ref_t> refs(count);
    if (count == 0) return Json::array();
    check(H5Aread(attribute, H5T_STD_REF_OBJ, refs.data()), Fail::format, where,
          "reading object references");
    std::vector<std::string> paths;
    for (hobj_ref_t& ref : refs) {
      const ssize_t length = H5Rget_name(attribute, H5R_OBJECT, &ref, nullptr, 0);
      if (length <= 0) {
        clear_errors();
        throw FormatError(where + ": an object reference that points to no object");
      }
      std::string path(static_cast<std::size_t>(length) + 1, '\0');
      if (H5Rget_name(attribute, H5R_OBJECT, &ref, path.data(), path.size()) < 0) {
        clear_errors();
        throw FormatError(where + ": an object reference that points to no object");
      }
      path.resize(static_cast<std::size_t>(length));
      paths.push_back(std::move(path));
    }
    return to_json(paths, scalar);
  }
  ElementType element;
  try {
    element = classify(type.id(), where);
  } catch (const FormatError&) {
    return std::nullopt;  // no JSON form: skipped
  }
  if (element.is_string) {
    const auto values =
        read_string_values(Holder::attribute, attribute, type.id(), space.id(), where);
    return to_json(values, scalar);
  }
  if (count == 0) return Json::array();
  if (is_float(element.dtype)) {
    std::vector<double> values(count);
    check(H5Aread(attribute, H5T_NATIVE_DOUBLE, values.data()), Fail::format, where, "reading");
    return to_json(values, scalar);
  }
  if (element.buffer_dtype == element.dtype && element.dtype != DType::boolean) {
    // Plain integers: HDF5 converts any width and byte order.
    if (is_unsigned_int(element.dtype)) {
      std::vector<std::uint64_t> values(count);
      check(H5Aread(attribute, H5T_NATIVE_UINT64, values.data()), Fail::format, where, "reading");
      return to_json(values, scalar);
    }
    std::vector<std::int64_t> values(count);
    check(H5Aread(attribute, H5T_NATIVE_INT64, values.data()), Fail::format, where, "reading");
    return to_json(values, scalar);
  }
  // Enums and bitfields: read in their own (native) representation.
  std::vector<unsigned char> raw(count * itemsize(element.buffer_dtype));
  check(H5Aread(attribute, element.memory.id(), raw.data()), Fail::format, where, "reading");
  const std::vector<std::int64_t> values = raw_integers(raw, element.buffer_dtype, count);
  if (element.to_bool) {
    std::vector<bool> flags(count);
    for (std::size_t i = 0; i < count; ++i)
      flags[i] = values[i] != 0;
    if (scalar) return Json(static_cast<bool>(flags.at(0)));
    Json array = Json::array();
    for (bool f : flags)
      array.push_back(f);
    return array;
  }
  return to_json(values, scalar);
}

namespace {

enum class ValueKind : std::uint8_t { string, boolean, integer, unsigned_integer, floating };

ValueKind kind_of(const Json& value, const std::string& where, const std::string& key) {
  if (value.is_string()) return ValueKind::string;
  if (value.is_boolean()) return ValueKind::boolean;
  if (value.is_number_float()) return ValueKind::floating;
  if (value.is_number_integer() && !value.is_number_unsigned()) return ValueKind::integer;
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>() >
                   static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? ValueKind::unsigned_integer
               : ValueKind::integer;
  }
  throw ValueError(where + ": attribute '" + key + "' cannot hold " + value.dump() +
                   " (HDF5 attributes are strings, numbers, bools or flat lists of them)");
}

bool is_number(ValueKind k) {
  return k == ValueKind::integer || k == ValueKind::unsigned_integer || k == ValueKind::floating;
}

}  // namespace

void write_attribute(hid_t object, const std::string& key, const Json& value,
                     const std::string& where) {
  if (key.empty()) throw ValueError(where + ": an attribute needs a name");
  // The kind of the whole value: one kind for every element of a list; numbers widen
  // (int64 -> uint64 -> float64).
  ValueKind kind = ValueKind::floating;  // an empty list: anndata's empty float64 array
  std::vector<const Json*> elements;
  const bool scalar = !value.is_array();
  if (scalar) {
    elements.push_back(&value);
  } else {
    for (const Json& element : value)
      elements.push_back(&element);
  }
  for (std::size_t i = 0; i < elements.size(); ++i) {
    const ValueKind k = kind_of(*elements[i], where, key);
    if (i == 0) {
      kind = k;
    } else if (k != kind) {
      if (!is_number(k) || !is_number(kind))
        throw ValueError(where + ": attribute '" + key +
                         "' mixes strings, bools and numbers: " + value.dump());
      if (k == ValueKind::floating || kind == ValueKind::floating) {
        kind = ValueKind::floating;
      } else {
        kind = ValueKind::unsigned_integer;
      }
    }
  }
  if (kind == ValueKind::unsigned_integer) {
    for (const Json* e : elements)
      if (e->is_number_integer() && !e->is_number_unsigned() && e->get<std::int64_t>() < 0)
        throw ValueError(where + ": attribute '" + key +
                         "' mixes negative integers with integers above 2^63");
  }

  const std::size_t count = elements.size();
  std::vector<hsize_t> dims;
  if (!scalar) dims.push_back(count);
  const SpaceId space = simple_space(dims, where);

  TypeId stored;
  TypeId memory;
  std::vector<unsigned char> buffer;
  std::vector<const char*> strings;
  const void* data = nullptr;
  switch (kind) {
    case ValueKind::string: {
      stored = utf8_string_type();
      memory = utf8_string_type();
      for (const Json* e : elements) {
        const auto& s = e->get_ref<const std::string&>();
        if (s.find('\0') != std::string::npos)
          throw ValueError(where + ": attribute '" + key + "' holds a string with a NUL byte");
        strings.push_back(s.c_str());
      }
      data = strings.data();
      break;
    }
    case ValueKind::boolean: {
      stored = file_type(DType::boolean);
      memory = memory_type(DType::boolean);
      for (const Json* e : elements)
        buffer.push_back(e->get<bool>() ? 1 : 0);
      data = buffer.data();
      break;
    }
    case ValueKind::integer:
    case ValueKind::unsigned_integer:
    case ValueKind::floating: {
      const DType dtype = kind == ValueKind::integer            ? DType::int64
                          : kind == ValueKind::unsigned_integer ? DType::uint64
                                                                : DType::float64;
      stored = file_type(dtype);
      memory = memory_type(dtype);
      buffer.resize(count * 8);
      for (std::size_t i = 0; i < count; ++i) {
        unsigned char* slot = buffer.data() + i * 8;
        if (dtype == DType::int64) {
          const auto v = elements[i]->get<std::int64_t>();
          std::memcpy(slot, &v, 8);
        } else if (dtype == DType::uint64) {
          const auto v = elements[i]->get<std::uint64_t>();
          std::memcpy(slot, &v, 8);
        } else {
          const auto v = elements[i]->get<double>();
          std::memcpy(slot, &v, 8);
        }
      }
      data = buffer.data();
      break;
    }
  }

  const std::string what = "attribute '" + key + "'";
  if (check_tri(H5Aexists(object, key.c_str()), Fail::io, where, "looking up " + what))
    check(H5Adelete(object, key.c_str()), Fail::io, where, "replacing " + what);
  const AttributeCreate acpl(where);
  const AttributeId attribute(
      check_id(H5Acreate2(object, key.c_str(), stored.id(), space.id(), acpl.id(), H5P_DEFAULT),
               Fail::io, where, "creating " + what));
  if (count > 0)
    check(H5Awrite(attribute.id(), memory.id(), data), Fail::io, where, "writing " + what);
}

}  // namespace tessera::io::detail::h5
