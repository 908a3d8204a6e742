// .zarray parsing and writing. Everything read from a file is untrusted: each field is checked for
// type and range before any size is computed from it, and sizes are checked for overflow.
#include <cmath>
#include <cstring>
#include <limits>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/detail/zarr_metadata.hpp"

namespace tessera::io::detail {
namespace {

constexpr index_t kIndexMax = std::numeric_limits<index_t>::max();

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw FormatError(where + ": " + what);
}

char kind_char(DType d) {
  if (d == DType::boolean) return 'b';
  if (is_float(d)) return 'f';
  if (is_signed_int(d)) return 'i';
  return 'u';
}

std::vector<index_t> parse_dims(const Json& doc, const char* field, const std::string& where,
                                index_t minimum) {
  const auto it = doc.find(field);
  if (it == doc.end()) fail(where, std::string("missing \"") + field + "\"");
  if (!it->is_array())
    fail(where, std::string("\"") + field + "\" must be a list, got " + it->dump());
  if (it->size() > 2) {
    fail(where, std::to_string(it->size()) + "-dimensional arrays are not supported (\"" + field +
                    "\" " + it->dump() + "; Tessera reads 0, 1 or 2 dimensions)");
  }
  std::vector<index_t> dims;
  for (const Json& v : *it) {
    if (!v.is_number_integer()) {
      fail(where, std::string("\"") + field + "\" must hold integers, got " + it->dump());
    }
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(kIndexMax)) {
      fail(where, std::string("\"") + field + "\" value too large: " + v.dump());
    }
    const auto d = v.get<std::int64_t>();
    if (d < minimum) {
      fail(where, std::string("\"") + field + "\" values must be " +
                      (minimum == 0 ? "non-negative" : "positive") + ", got " + it->dump());
    }
    dims.push_back(d);
  }
  return dims;
}

// Product of `dims` times `factor`, or -1 on overflow of index_t.
index_t checked_product(const std::vector<index_t>& dims, index_t factor) {
  index_t n = factor;
  for (index_t d : dims) {
    if (d != 0 && n > kIndexMax / d) return -1;
    n *= d;
  }
  return n;
}

template <typename T>
void store_value(T value, std::byte* out) {
  std::memcpy(out, &value, sizeof(T));
}

std::string base64_decode(const std::string& text, bool* ok) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  *ok = true;
  for (char c : text) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) {
      *ok = false;
      return {};
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFU));
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ZarrDType

ZarrDType ZarrDType::parse(const Json& text) {
  if (text.is_array()) {
    // numpy's structured dtype: [[name, type], [name, type, [shape]], ...]. Fields are flat:
    // numbers or fixed-width strings, at most 1-D sub-arrays.
    ZarrDType t;
    t.kind = ZarrKind::structured;
    if (text.empty()) throw FormatError("unsupported dtype []: a structured dtype without fields");
    if (text.size() > 4096) throw FormatError("unsupported dtype: more than 4096 fields");
    for (const Json& f : text) {
      if (!f.is_array() || f.size() < 2 || f.size() > 3 || !f[0].is_string()) {
        throw FormatError("unsupported dtype " + text.dump() +
                          ": each field must be [name, type] or [name, type, shape]");
      }
      ZarrField field;
      field.name = f[0].get<std::string>();
      for (const ZarrField& other : t.fields) {
        if (other.name == field.name)
          throw FormatError("unsupported dtype: field '" + field.name + "' appears twice");
      }
      const ZarrDType inner = ZarrDType::parse(f[1]);
      if (inner.kind == ZarrKind::object || inner.kind == ZarrKind::structured) {
        throw FormatError("unsupported dtype: field '" + field.name + "' of type " + f[1].dump() +
                          " (fields must be numbers or fixed-width strings)");
      }
      field.kind = inner.kind;
      field.dtype = inner.dtype;
      field.big_endian = inner.big_endian;
      field.itemsize = inner.itemsize;
      if (f.size() == 3) {
        const Json& shape = f[2];
        if (!shape.is_array() || shape.size() > 1 ||
            (shape.size() == 1 &&
             (!shape[0].is_number_integer() || shape[0].get<std::int64_t>() < 1 ||
              shape[0].get<std::int64_t>() > (std::int64_t{1} << 20)))) {
          throw FormatError("unsupported dtype: field '" + field.name + "' has sub-array shape " +
                            shape.dump() + " (at most one dimension, 1 to 2^20)");
        }
        if (shape.size() == 1) field.count = shape[0].get<std::int64_t>();
      }
      field.offset = t.itemsize;
      t.itemsize += field.itemsize * static_cast<std::size_t>(field.count);
      if (t.itemsize > (std::size_t{1} << 30))
        throw FormatError("unsupported dtype: records too large");
      t.fields.push_back(std::move(field));
    }
    return t;
  }
  if (!text.is_string()) {
    throw FormatError("unsupported dtype " + text.dump() +
                      " (expected a string such as \"<f8\" or a list of fields)");
  }
  const std::string s = text.get<std::string>();
  auto unsupported = [&](const std::string& why) -> FormatError {
    return FormatError("unsupported dtype '" + s + "'" + (why.empty() ? "" : " (" + why + ")"));
  };
  if (s.size() < 2) throw unsupported("");
  const char order = s[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') throw unsupported("");
  const char kind = s[1];
  const std::string rest = s.substr(2);
  ZarrDType t;
  t.big_endian = order == '>';
  if (kind == 'O') {
    if (!rest.empty() && rest != "8") throw unsupported("");
    t.kind = ZarrKind::object;
    t.big_endian = false;
    return t;
  }
  if (rest.empty() || rest.size() > 12 ||
      rest.find_first_not_of("0123456789") != std::string::npos) {
    throw unsupported("");
  }
  const std::uint64_t size = std::stoull(rest);
  if (kind == 'U' || kind == 'S') {
    if (size == 0) throw unsupported("zero-length strings");
    t.kind = kind == 'U' ? ZarrKind::fixed_unicode : ZarrKind::fixed_bytes;
    if (kind == 'S') t.big_endian = false;
    if (size > (std::uint64_t{1} << 30)) throw unsupported("string length too large");
    t.itemsize = static_cast<std::size_t>(size) * (kind == 'U' ? 4 : 1);
    return t;
  }
  for (int i = 0; i < kDTypeCount; ++i) {
    const auto d = static_cast<DType>(i);
    if (kind_char(d) == kind && tessera::itemsize(d) == size) {
      t.kind = ZarrKind::numeric;
      t.dtype = d;
      t.itemsize = tessera::itemsize(d);
      if (t.itemsize == 1) t.big_endian = false;
      return t;
    }
  }
  if (kind == 'f' && size == 2) throw unsupported("float16 is not supported");
  if (kind == 'c') throw unsupported("complex numbers are not supported");
  if (kind == 'M' || kind == 'm') throw unsupported("dates and times are not supported");
  throw unsupported("");
}

ZarrDType ZarrDType::little_endian(DType dtype) {
  ZarrDType t;
  t.kind = ZarrKind::numeric;
  t.dtype = dtype;
  t.itemsize = tessera::itemsize(dtype);
  return t;
}

Json ZarrDType::json() const {
  if (kind != ZarrKind::structured) return str();
  Json list = Json::array();
  for (const ZarrField& f : fields) {
    ZarrDType one;
    one.kind = f.kind;
    one.dtype = f.dtype;
    one.big_endian = f.big_endian;
    one.itemsize = f.itemsize;
    Json entry = Json::array({f.name, one.str()});
    if (f.count != 1) entry.push_back(Json::array({f.count}));
    list.push_back(std::move(entry));
  }
  return list;
}

std::string ZarrDType::str() const {
  switch (kind) {
    case ZarrKind::structured:
      return "|V" + std::to_string(itemsize);
    case ZarrKind::object:
      return "|O";
    case ZarrKind::fixed_unicode:
      return std::string(big_endian ? ">" : "<") + "U" + std::to_string(itemsize / 4);
    case ZarrKind::fixed_bytes:
      return "|S" + std::to_string(itemsize);
    case ZarrKind::numeric:
      break;
  }
  const char order = itemsize == 1 ? '|' : (big_endian ? '>' : '<');
  return std::string(1, order) + kind_char(dtype) + std::to_string(itemsize);
}

// ---------------------------------------------------------------------------------------------
// ZarrArraySpec

ZarrArraySpec ZarrArraySpec::parse(const Json& doc, const std::string& where) {
  if (!doc.is_object()) fail(where, ".zarray must be a JSON object");
  ZarrArraySpec spec;

  const auto format = doc.find("zarr_format");
  if (format == doc.end() || !format->is_number_integer() || format->get<std::int64_t>() != 2) {
    fail(where, "unsupported zarr_format " + (format == doc.end() ? "(missing)" : format->dump()) +
                    " (expected 2)");
  }

  spec.shape = parse_dims(doc, "shape", where, 0);
  spec.chunks = parse_dims(doc, "chunks", where, 1);
  if (spec.chunks.size() != spec.shape.size()) {
    fail(where, "\"chunks\" " + doc["chunks"].dump() + " and \"shape\" " + doc["shape"].dump() +
                    " differ in rank");
  }

  const auto dtype = doc.find("dtype");
  if (dtype == doc.end()) fail(where, "missing \"dtype\"");
  try {
    spec.dtype = ZarrDType::parse(*dtype);
  } catch (const FormatError& e) {
    fail(where, e.what());
  }

  if (checked_product(spec.shape, 1) < 0)
    fail(where, "\"shape\" " + doc["shape"].dump() + " overflows");
  const index_t item = spec.dtype.kind == ZarrKind::object
                           ? 4  // the vlen length word: the least an item can take
                           : static_cast<index_t>(spec.dtype.itemsize);
  if (checked_product(spec.chunks, item) < 0) {
    fail(where, "chunks of \"chunks\" " + doc["chunks"].dump() + " overflow");
  }

  const auto order = doc.find("order");
  if (order == doc.end() || !order->is_string() ||
      (order->get<std::string>() != "C" && order->get<std::string>() != "F")) {
    fail(where, "\"order\" must be \"C\" or \"F\", got " +
                    (order == doc.end() ? std::string("nothing") : order->dump()));
  }
  spec.fortran_order = order->get<std::string>() == "F";

  const auto sep = doc.find("dimension_separator");
  if (sep != doc.end() && !sep->is_null()) {
    if (!sep->is_string() || (sep->get<std::string>() != "." && sep->get<std::string>() != "/")) {
      fail(where, "\"dimension_separator\" must be \".\" or \"/\", got " + sep->dump());
    }
    spec.separator = sep->get<std::string>()[0];
  }

  const auto compressor = doc.find("compressor");
  if (compressor == doc.end()) fail(where, "missing \"compressor\"");
  spec.compressor = *compressor;
  try {
    if (!spec.compressor.is_null()) (void)make_codec(spec.compressor);
  } catch (const FormatError& e) {
    fail(where, std::string("compressor: ") + e.what());
  }

  const auto filters = doc.find("filters");
  spec.filters = filters == doc.end() ? Json(nullptr) : *filters;
  if (!spec.filters.is_null() && !spec.filters.is_array()) {
    fail(where, "\"filters\" must be null or a list, got " + spec.filters.dump());
  }
  if (spec.filters.is_array() && spec.filters.empty()) spec.filters = nullptr;
  try {
    if (spec.dtype.kind == ZarrKind::object) {
      if (spec.filters.is_null()) fail(where, "dtype \"|O\" needs an object codec in \"filters\"");
      if (!is_object_codec(spec.filters[0])) {
        fail(where, "dtype \"|O\" needs an object codec (vlen-utf8) as its first filter, got " +
                        spec.filters[0].dump());
      }
      (void)make_object_codec(spec.filters[0]);
    } else if (spec.filters.is_array()) {
      (void)make_codec(spec.filters[0]);
    }
    if (spec.filters.is_array()) {
      for (std::size_t i = 1; i < spec.filters.size(); ++i)
        (void)make_codec(spec.filters[i]);
    }
  } catch (const FormatError& e) {
    const std::string what = e.what();
    if (what.starts_with(where)) throw;
    fail(where, "filters: " + what);
  }

  const auto fill = doc.find("fill_value");
  spec.fill_value = fill == doc.end() ? Json(nullptr) : *fill;
  if (spec.dtype.kind == ZarrKind::numeric) (void)spec.fill_bytes(where);
  return spec;
}

Json ZarrArraySpec::to_json() const {
  Json doc;
  doc["zarr_format"] = 2;
  doc["shape"] = shape;
  doc["chunks"] = chunks;
  doc["dtype"] = dtype.json();
  doc["compressor"] = compressor;
  doc["filters"] = filters;
  doc["fill_value"] = fill_value;
  doc["order"] = fortran_order ? "F" : "C";
  doc["dimension_separator"] = std::string(1, separator);
  return doc;
}

index_t ZarrArraySpec::chunk_elements() const {
  index_t n = 1;
  for (index_t c : chunks)
    n *= c;
  return n;
}

std::vector<std::byte> ZarrArraySpec::fill_bytes(const std::string& where) const {
  std::vector<std::byte> out(dtype.itemsize);
  if (dtype.kind != ZarrKind::numeric || fill_value.is_null()) return out;
  const Json& v = fill_value;
  const DType d = dtype.dtype;
  auto bad = [&]() -> FormatError {
    return FormatError(where + ": fill_value " + v.dump() + " does not fit dtype '" + dtype.str() +
                       "'");
  };
  if (d == DType::boolean) {
    bool b = false;
    if (v.is_boolean()) {
      b = v.get<bool>();
    } else if (v.is_number() && (v.get<double>() == 0.0 || v.get<double>() == 1.0)) {
      b = v.get<double>() == 1.0;
    } else {
      throw bad();
    }
    out[0] = static_cast<std::byte>(b ? 1 : 0);
    return out;
  }
  if (is_float(d)) {
    double x = 0;
    if (v.is_number()) {
      x = v.get<double>();
    } else if (v.is_string() && v.get<std::string>() == "NaN") {
      x = std::numeric_limits<double>::quiet_NaN();
    } else if (v.is_string() && v.get<std::string>() == "Infinity") {
      x = std::numeric_limits<double>::infinity();
    } else if (v.is_string() && v.get<std::string>() == "-Infinity") {
      x = -std::numeric_limits<double>::infinity();
    } else {
      throw bad();
    }
    if (d == DType::float32) {
      store_value(static_cast<float>(x), out.data());
    } else {
      store_value(x, out.data());
    }
    return out;
  }
  // Integers: exact JSON integers in range (or integral floats such as 0.0).
  dispatch(d, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      T value{};
      if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) throw bad();
        value = static_cast<T>(u);
      } else if (v.is_number_integer()) {
        const auto s = v.get<std::int64_t>();
        if constexpr (std::is_signed_v<T>) {
          if (s < std::numeric_limits<T>::min() || s > std::numeric_limits<T>::max()) throw bad();
        } else {
          if (s < 0 || static_cast<std::uint64_t>(s) > std::numeric_limits<T>::max()) throw bad();
        }
        value = static_cast<T>(s);
      } else if (v.is_number_float()) {
        const double x = v.get<double>();
        if (!std::isfinite(x) || x != std::floor(x) ||
            x < static_cast<double>(std::numeric_limits<T>::min()) ||
            x >= std::ldexp(1.0, std::numeric_limits<T>::digits)) {
          throw bad();
        }
        value = static_cast<T>(x);
      } else {
        throw bad();
      }
      store_value(value, out.data());
    }
  });
  return out;
}

std::string ZarrArraySpec::fill_string() const {
  if (!fill_value.is_string()) return {};
  if (dtype.kind == ZarrKind::fixed_bytes) {
    bool ok = false;
    std::string bytes = base64_decode(fill_value.get<std::string>(), &ok);
    if (!ok) return {};
    while (!bytes.empty() && bytes.back() == '\0')
      bytes.pop_back();
    return bytes;
  }
  std::string s = fill_value.get<std::string>();
  return is_valid_utf8(s) ? s : std::string();
}

std::string ZarrArraySpec::chunk_key(index_t chunk_row, index_t chunk_col) const {
  const std::string prefix = default_keys ? std::string("c") : std::string();
  const std::string sep = default_keys ? std::string(1, separator) : std::string();
  switch (shape.size()) {
    case 0:
      return default_keys ? "c" : "0";
    case 1:
      return prefix + sep + std::to_string(chunk_col);
    default:
      return prefix + sep + std::to_string(chunk_row) + separator + std::to_string(chunk_col);
  }
}

Json default_fill_value(DType dtype) {
  if (dtype == DType::boolean) return false;
  if (is_float(dtype)) return 0.0;
  return 0;
}

}  // namespace tessera::io::detail
