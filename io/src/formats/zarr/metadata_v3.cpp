// Zarr v3 array metadata (zarr.json) into the array spec the chunk code uses. The v3 codec chain
// maps onto the v2 pipeline: `transpose` [1, 0] is Fortran order, the `bytes` codec's endian is
// the byte order, `vlen-utf8`/`vlen-bytes` the object codec, and the bytes-to-bytes codecs the
// filters (all but the last) and the compressor (the last), each under its numcodecs id.
// `sharding_indexed` makes the inner chunks the chunks and records the shard shape and index
// layout. Everything is untrusted: every field is checked before use.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/detail/zarr_metadata.hpp"

namespace tessera::io::detail {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw FormatError(where + ": " + what);
}

std::vector<index_t> dims(const Json& v, const std::string& what, const std::string& where,
                          index_t minimum) {
  if (!v.is_array()) fail(where, what + " must be a list, got " + v.dump());
  if (v.size() > 2) {
    fail(where, std::to_string(v.size()) + "-dimensional arrays are not supported (" + what + " " +
                    v.dump() + "; Tessera reads 0, 1 or 2 dimensions)");
  }
  std::vector<index_t> out;
  for (const Json& d : v) {
    if (!d.is_number_integer() ||
        (d.is_number_unsigned() &&
         d.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<index_t>::max())))
      fail(where, what + " must hold integers, got " + v.dump());
    if (d.get<std::int64_t>() < minimum)
      fail(where, what + " values must be " + (minimum == 0 ? "non-negative" : "positive") +
                      ", got " + v.dump());
    out.push_back(d.get<std::int64_t>());
  }
  return out;
}

// A codec or data type: a bare name, or {"name": ..., "configuration": {...}}.
struct Named {
  std::string name;
  Json config = Json::object();
};

Named named(const Json& v, const std::string& what, const std::string& where) {
  if (v.is_string()) return {v.get<std::string>(), Json::object()};
  if (!v.is_object() || !v.contains("name") || !v.at("name").is_string())
    fail(where,
         what + " must be a name or {\"name\": ..., \"configuration\": ...}, got " + v.dump());
  Named n{v.at("name").get<std::string>(), Json::object()};
  if (v.contains("configuration")) {
    if (!v.at("configuration").is_object())
      fail(where, what + " '" + n.name + "': configuration must be an object");
    n.config = v.at("configuration");
  }
  for (const auto& [k, value] : v.items()) {
    if (k != "name" && k != "configuration" && k != "must_understand")
      fail(where, what + " '" + n.name + "': unknown key '" + k + "'");
  }
  return n;
}

ZarrDType numeric(DType d) {
  return ZarrDType::little_endian(d);
}

ZarrDType data_type(const Json& v, const std::string& where) {
  const Named t = named(v, "data_type", where);
  static const std::pair<const char*, DType> kNumeric[] = {
      {"bool", DType::boolean},    {"int8", DType::int8},      {"int16", DType::int16},
      {"int32", DType::int32},     {"int64", DType::int64},    {"uint8", DType::uint8},
      {"uint16", DType::uint16},   {"uint32", DType::uint32},  {"uint64", DType::uint64},
      {"float32", DType::float32}, {"float64", DType::float64}};
  for (const auto& [name, d] : kNumeric) {
    if (t.name == name) return numeric(d);
  }
  ZarrDType out;
  if (t.name == "string") {
    out.kind = ZarrKind::object;
    return out;
  }
  if (t.name == "bytes") {
    out.kind = ZarrKind::object;
    out.itemsize = 1;  // marks vlen-bytes (object arrays have no item size otherwise)
    return out;
  }
  if (t.name == "fixed_length_utf32") {
    const Json length = t.config.value("length_bytes", Json());
    if (!length.is_number_integer() || length.get<std::int64_t>() < 4 ||
        length.get<std::int64_t>() % 4 != 0 || length.get<std::int64_t>() > (std::int64_t{1} << 30))
      fail(where,
           "data_type fixed_length_utf32 needs length_bytes, a positive multiple of 4, got " +
               length.dump());
    out.kind = ZarrKind::fixed_unicode;
    out.itemsize = static_cast<std::size_t>(length.get<std::int64_t>());
    return out;
  }
  if (t.name == "struct" || t.name == "structured") {
    const Json fields = t.config.value("fields", Json());
    if (!fields.is_array() || fields.empty())
      fail(where, "data_type " + t.name + " needs a list of fields");
    out.kind = ZarrKind::structured;
    std::set<std::string> seen;
    for (const Json& f : fields) {
      std::string name;
      Json type;
      if (f.is_array() && f.size() == 2 && f[0].is_string()) {
        name = f[0].get<std::string>();
        type = f[1];
      } else if (f.is_object() && f.contains("name") && f.at("name").is_string()) {
        name = f.at("name").get<std::string>();
        type = f.value("data_type", Json());
      } else {
        fail(where, "data_type " + t.name + ": a field must be [name, data_type], got " + f.dump());
      }
      if (!seen.insert(name).second)
        fail(where, "data_type " + t.name + ": field '" + name + "' twice");
      const ZarrDType inner = data_type(type, where);
      if (inner.kind == ZarrKind::object || inner.kind == ZarrKind::structured)
        fail(where, "data_type " + t.name + ": field '" + name +
                        "' must be a number or a fixed-width string");
      ZarrField field;
      field.name = name;
      field.kind = inner.kind;
      field.dtype = inner.dtype;
      field.itemsize = inner.itemsize;
      field.offset = out.itemsize;
      out.itemsize += field.itemsize;
      out.fields.push_back(std::move(field));
    }
    return out;
  }
  if (t.name == "float16" || t.name.starts_with("complex"))
    fail(where, "data_type '" + t.name +
                    "' is not supported (Tessera holds bool, integers, "
                    "float32/64, strings and structs)");
  fail(where, "unknown data_type '" + t.name + "'");
}

// The fill value in the JSON form fill_bytes / fill_string take (numbers, "NaN", "Infinity",
// "-Infinity", bools, strings): hex bit patterns become the value they spell.
Json v3_fill_value(const Json& v, const ZarrDType& t, const std::string& where) {
  if (t.kind == ZarrKind::numeric && v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "NaN" || s == "Infinity" || s == "-Infinity") return v;
    if (s.size() > 2 && s.starts_with("0x") && is_float(t.dtype) &&
        s.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos) {
      const std::uint64_t bits = std::stoull(s.substr(2), nullptr, 16);
      double x = 0;
      if (t.dtype == DType::float32 && s.size() == 10) {
        float f = 0;
        const auto b32 = static_cast<std::uint32_t>(bits);
        std::memcpy(&f, &b32, sizeof f);
        x = f;
      } else if (t.dtype == DType::float64 && s.size() == 18) {
        std::memcpy(&x, &bits, sizeof x);
      } else {
        fail(where, "fill_value " + v.dump() + " does not fit data_type");
      }
      if (std::isnan(x)) return "NaN";
      if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
      return x;
    }
    fail(where, "fill_value " + v.dump() + " is not a number");
  }
  if (t.kind == ZarrKind::structured) return nullptr;  // zeros
  return v;
}

Json positive_int(const Json& config, const char* key, const std::string& what,
                  const std::string& where, std::int64_t fallback) {
  if (!config.contains(key)) return fallback;
  const Json& v = config.at(key);
  if (!v.is_number_integer())
    fail(where, what + ": '" + key + "' must be an integer, got " + v.dump());
  return v;
}

// A bytes-to-bytes codec of v3 as the numcodecs config the v2 codec registry makes.
Json bytes_codec(const Named& c, const ZarrDType& type, const std::string& where) {
  if (c.name == "zstd") {
    return Json{{"id", "zstd"}, {"level", positive_int(c.config, "level", "zstd", where, 0)}};
  }
  if (c.name == "gzip") {
    return Json{{"id", "gzip"}, {"level", positive_int(c.config, "level", "gzip", where, 5)}};
  }
  if (c.name == "crc32c") return Json{{"id", "crc32c"}};
  if (c.name == "blosc") {
    Json out{{"id", "blosc"}};
    out["cname"] = c.config.value("cname", Json("lz4"));
    out["clevel"] = positive_int(c.config, "clevel", "blosc", where, 5);
    out["blocksize"] = positive_int(c.config, "blocksize", "blosc", where, 0);
    const Json shuffle = c.config.value("shuffle", Json("noshuffle"));
    if (shuffle == "noshuffle") {
      out["shuffle"] = 0;
    } else if (shuffle == "shuffle") {
      out["shuffle"] = 1;
    } else if (shuffle == "bitshuffle") {
      out["shuffle"] = 2;
    } else {
      fail(where, "blosc: shuffle must be noshuffle, shuffle or bitshuffle, got " + shuffle.dump());
    }
    (void)type;
    return out;
  }
  if (c.name.starts_with("numcodecs.")) {
    // zarr-python's namespace for numcodecs' own codecs: the same config under the bare id.
    Json out = c.config;
    out["id"] = c.name.substr(10);
    try {
      (void)make_codec(out);
    } catch (const FormatError&) {
      fail(where, "codec '" + c.name + "' is not available in Tessera");
    }
    return out;
  }
  fail(where, "unknown codec '" + c.name + "'");
}

bool is_array_to_bytes(const std::string& name) {
  return name == "bytes" || name == "vlen-utf8" || name == "vlen-bytes" ||
         name == "sharding_indexed";
}

// Fills `spec`'s pipeline (order, byte order, object codec, filters, compressor, sharding) from a
// v3 codec list.
void codecs(const Json& list, ZarrArraySpec& spec, const std::string& where, bool inner) {
  if (!list.is_array() || list.empty()) fail(where, "\"codecs\" must be a non-empty list");
  std::size_t i = 0;
  std::vector<Named> chain;
  for (const Json& c : list)
    chain.push_back(named(c, "codec", where));
  // array -> array
  for (; i < chain.size() && !is_array_to_bytes(chain[i].name); ++i) {
    if (chain[i].name != "transpose") {
      if (i + 1 == chain.size() || chain[i].name == "zstd" || chain[i].name == "gzip" ||
          chain[i].name == "blosc" || chain[i].name == "crc32c")
        fail(where,
             "the codec list has no array-to-bytes codec (bytes, vlen-utf8, sharding_indexed) "
             "before '" +
                 chain[i].name + "'");
      fail(where, "unknown codec '" + chain[i].name + "'");
    }
    const Json order = chain[i].config.value("order", Json());
    std::vector<std::int64_t> o;
    if (order.is_array()) {
      for (const Json& x : order)
        o.push_back(x.is_number_integer() ? x.get<std::int64_t>() : -1);
    }
    const std::size_t rank = spec.shape.size();
    if (rank == 2 && o == std::vector<std::int64_t>{1, 0}) {
      spec.fortran_order = !spec.fortran_order;
    } else if (!(rank == 2 && o == std::vector<std::int64_t>{0, 1}) &&
               !(rank == 1 && o == std::vector<std::int64_t>{0}) && !(rank == 0 && o.empty())) {
      fail(where, "transpose order " + order.dump() + " does not fit a " + std::to_string(rank) +
                      "-dimensional array");
    }
  }
  if (i == chain.size()) fail(where, "the codec list has no array-to-bytes codec");
  const Named& ab = chain[i++];
  if (ab.name == "bytes") {
    if (spec.dtype.kind == ZarrKind::object)
      fail(where, "codec 'bytes' cannot encode variable-length strings (use vlen-utf8)");
    const Json endian = ab.config.value("endian", Json());
    const std::size_t item = spec.dtype.kind == ZarrKind::fixed_unicode ? 4 : spec.dtype.itemsize;
    if (endian.is_null()) {
      if (item > 1 && spec.dtype.kind != ZarrKind::structured)
        fail(where,
             "codec 'bytes' needs \"endian\" for items of " + std::to_string(item) + " bytes");
    } else if (endian == "big") {
      if (spec.dtype.kind == ZarrKind::structured)
        fail(where, "big-endian structs are not supported");
      spec.dtype.big_endian = item > 1;
    } else if (endian != "little") {
      fail(where, "codec 'bytes': endian must be little or big, got " + endian.dump());
    }
  } else if (ab.name == "vlen-utf8" || ab.name == "vlen-bytes") {
    if (spec.dtype.kind != ZarrKind::object)
      fail(where, "codec '" + ab.name + "' encodes strings, not data_type " + spec.dtype.str());
    const bool bytes = spec.dtype.itemsize == 1;
    if (bytes != (ab.name == "vlen-bytes"))
      fail(where, "codec '" + ab.name + "' does not fit the data_type");
    spec.dtype.itemsize = 0;
    spec.filters = Json::array({Json{{"id", ab.name}}});
  } else {  // sharding_indexed
    if (inner) fail(where, "sharding_indexed inside sharding_indexed is not supported");
    const Json chunk = ab.config.value("chunk_shape", Json());
    std::vector<index_t> inner_chunks = dims(chunk, "sharding_indexed chunk_shape", where, 1);
    if (inner_chunks.size() != spec.chunks.size())
      fail(where,
           "sharding_indexed chunk_shape " + chunk.dump() + " does not match the shard's rank");
    for (std::size_t d = 0; d < inner_chunks.size(); ++d) {
      if (spec.chunks[d] % inner_chunks[d] != 0)
        fail(where,
             "sharding_indexed chunk_shape " + chunk.dump() + " does not divide the shard shape");
    }
    spec.shard = spec.chunks;
    spec.chunks = inner_chunks;
    const Json location = ab.config.value("index_location", Json("end"));
    if (location != "end" && location != "start")
      fail(where, "sharding_indexed index_location must be start or end, got " + location.dump());
    spec.index_at_end = location == "end";
    const Json index = ab.config.value(
        "index_codecs",
        Json::array({Json{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}},
                     Json{{"name", "crc32c"}}}));
    std::vector<Named> ic;
    if (!index.is_array()) fail(where, "sharding_indexed index_codecs must be a list");
    for (const Json& c : index)
      ic.push_back(named(c, "index codec", where));
    if (ic.empty() || ic[0].name != "bytes" ||
        ic[0].config.value("endian", Json("little")) != "little" || ic.size() > 2 ||
        (ic.size() == 2 && ic[1].name != "crc32c"))
      fail(where,
           "sharding_indexed index_codecs " + index.dump() +
               " are not supported (Tessera reads bytes little-endian, optionally + crc32c)");
    spec.index_checksum = ic.size() == 2;
    const Json inner_codecs = ab.config.value("codecs", Json());
    codecs(inner_codecs, spec, where, true);
    if (i != chain.size())
      fail(where, "codecs after sharding_indexed ('" + chain[i].name + "') are not supported");
    return;
  }
  // bytes -> bytes: filters then the compressor, as the v2 pipeline applies them.
  std::vector<Json> configs;
  for (; i < chain.size(); ++i) {
    if (is_array_to_bytes(chain[i].name) || chain[i].name == "transpose")
      fail(where, "codec '" + chain[i].name + "' after the array-to-bytes codec");
    configs.push_back(bytes_codec(chain[i], spec.dtype, where));
  }
  if (!configs.empty()) {
    spec.compressor = configs.back();
    configs.pop_back();
  }
  if (!configs.empty()) {
    if (!spec.filters.is_array()) spec.filters = Json::array();
    for (Json& c : configs)
      spec.filters.push_back(std::move(c));
  }
  try {
    if (!spec.compressor.is_null()) (void)make_codec(spec.compressor);
    if (spec.filters.is_array()) {
      for (std::size_t k = spec.dtype.kind == ZarrKind::object ? 1 : 0; k < spec.filters.size();
           ++k)
        (void)make_codec(spec.filters[k]);
    }
  } catch (const FormatError& e) {
    fail(where, e.what());
  }
}

std::string v3_type_name(DType d) {
  switch (d) {
    case DType::boolean:
      return "bool";
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    default:
      return std::string(tessera::name(d));  // int8 ... uint64: numpy's names are v3's
  }
}

Json v3_data_type(const ZarrDType& t) {
  switch (t.kind) {
    case ZarrKind::numeric:
      return v3_type_name(t.dtype);
    case ZarrKind::object:
      return "string";
    case ZarrKind::fixed_unicode:
      return Json{{"name", "fixed_length_utf32"},
                  {"configuration", {{"length_bytes", t.itemsize}}}};
    case ZarrKind::fixed_bytes:
      throw ValueError("zarr v3: fixed-width byte strings have no v3 data type");
    case ZarrKind::structured: {
      Json fields = Json::array();
      for (const ZarrField& f : t.fields) {
        ZarrDType one;
        one.kind = f.kind;
        one.dtype = f.dtype;
        one.itemsize = f.itemsize;
        if (f.count != 1)
          throw ValueError("zarr v3: struct field '" + f.name + "' holds a sub-array");
        fields.push_back(Json{{"name", f.name}, {"data_type", v3_data_type(one)}});
      }
      return Json{{"name", "struct"}, {"configuration", {{"fields", fields}}}};
    }
  }
  return nullptr;
}

// A numcodecs config as the v3 codec of the same bytes.
Json v3_codec(const Json& config, std::size_t typesize) {
  const std::string id = config.at("id").get<std::string>();
  if (id == "zstd") {
    return Json{{"name", "zstd"},
                {"configuration", {{"level", config.value("level", 0)}, {"checksum", false}}}};
  }
  if (id == "gzip")
    return Json{{"name", "gzip"}, {"configuration", {{"level", config.value("level", 5)}}}};
  if (id == "crc32c") return Json{{"name", "crc32c"}};
  if (id == "blosc") {
    static const char* kShuffle[] = {"noshuffle", "shuffle", "bitshuffle"};
    const int shuffle = config.value("shuffle", 1);
    return Json{{"name", "blosc"},
                {"configuration",
                 {{"cname", config.value("cname", Json("lz4"))},
                  {"clevel", config.value("clevel", 5)},
                  {"shuffle", kShuffle[std::clamp(shuffle, 0, 2)]},
                  {"typesize", typesize},
                  {"blocksize", config.value("blocksize", 0)}}}};
  }
  Json out{{"name", "numcodecs." + id}, {"configuration", config}};
  out["configuration"].erase("id");
  return out;
}

Json v3_fill(const ZarrArraySpec& spec) {
  if (spec.dtype.kind == ZarrKind::object || spec.dtype.kind == ZarrKind::fixed_unicode) return "";
  if (spec.dtype.kind == ZarrKind::structured) {
    // The struct extension: an object giving every field its fill value.
    Json fill = Json::object();
    for (const ZarrField& f : spec.dtype.fields)
      fill[f.name] = f.kind == ZarrKind::numeric ? (f.dtype == DType::boolean ? Json(false)
                                                    : is_float(f.dtype)       ? Json(0.0)
                                                                              : Json(0))
                                                 : Json("");
    return fill;
  }
  const Json& v = spec.fill_value;
  if (v.is_null()) return spec.dtype.dtype == DType::boolean ? Json(false) : Json(0);
  return v;
}

}  // namespace

Json ZarrArraySpec::to_json_v3() const {
  const std::size_t typesize = dtype.kind == ZarrKind::object          ? 1
                               : dtype.kind == ZarrKind::fixed_unicode ? 4
                                                                       : dtype.itemsize;
  Json chain = Json::array();
  if (fortran_order && shape.size() == 2)
    chain.push_back(Json{{"name", "transpose"}, {"configuration", {{"order", {1, 0}}}}});
  std::size_t first_filter = 0;
  if (dtype.kind == ZarrKind::object) {
    chain.push_back(Json{{"name", "vlen-utf8"}, {"configuration", Json::object()}});
    first_filter = 1;
  } else {
    chain.push_back(Json{{"name", "bytes"},
                         {"configuration", {{"endian", dtype.big_endian ? "big" : "little"}}}});
  }
  if (filters.is_array()) {
    for (std::size_t i = first_filter; i < filters.size(); ++i)
      chain.push_back(v3_codec(filters[i], typesize));
  }
  if (!compressor.is_null()) chain.push_back(v3_codec(compressor, typesize));
  Json codecs_json = chain;
  std::vector<index_t> grid = chunks;
  if (!shard.empty()) {
    grid = shard;
    codecs_json = Json::array(
        {Json{{"name", "sharding_indexed"},
              {"configuration",
               {{"chunk_shape", chunks},
                {"codecs", chain},
                {"index_codecs",
                 Json::array({Json{{"name", "bytes"}, {"configuration", {{"endian", "little"}}}},
                              Json{{"name", "crc32c"}}})},
                {"index_location", index_at_end ? "end" : "start"}}}}});
  }
  Json doc;
  doc["zarr_format"] = 3;
  doc["node_type"] = "array";
  doc["shape"] = shape;
  doc["data_type"] = v3_data_type(dtype);
  doc["chunk_grid"] = Json{{"name", "regular"}, {"configuration", {{"chunk_shape", grid}}}};
  doc["chunk_key_encoding"] =
      default_keys
          ? Json{{"name", "default"}, {"configuration", {{"separator", std::string(1, separator)}}}}
          : Json{{"name", "v2"}, {"configuration", {{"separator", std::string(1, separator)}}}};
  doc["fill_value"] = v3_fill(*this);
  doc["codecs"] = codecs_json;
  doc["attributes"] = Json::object();
  return doc;
}

ZarrArraySpec ZarrArraySpec::parse_v3(const Json& doc, const std::string& where) {
  if (!doc.is_object()) fail(where, "zarr.json must be a JSON object");
  static const std::set<std::string> kKnown = {
      "zarr_format",         "node_type",  "shape",  "data_type",  "chunk_grid",
      "chunk_key_encoding",  "fill_value", "codecs", "attributes", "dimension_names",
      "storage_transformers"};
  for (const auto& [k, v] : doc.items()) {
    if (kKnown.contains(k)) continue;
    if (v.is_object() && v.contains("must_understand") && v.at("must_understand") == false)
      continue;
    fail(where, "unknown key '" + k + "' (not marked \"must_understand\": false)");
  }
  if (doc.value("zarr_format", Json()) != 3) fail(where, "zarr_format must be 3");
  if (doc.value("node_type", Json()) != "array") fail(where, "node_type is not \"array\"");
  ZarrArraySpec spec;
  spec.zarr_format = 3;
  spec.shape = dims(doc.value("shape", Json()), "\"shape\"", where, 0);
  const Named grid = named(doc.value("chunk_grid", Json()), "chunk_grid", where);
  if (grid.name != "regular")
    fail(where, "chunk_grid '" + grid.name + "' is not supported (regular)");
  spec.chunks = dims(grid.config.value("chunk_shape", Json()), "chunk_shape", where, 1);
  if (spec.chunks.size() != spec.shape.size()) fail(where, "chunk_shape and shape differ in rank");
  const Named keys =
      named(doc.value("chunk_key_encoding", Json("default")), "chunk_key_encoding", where);
  if (keys.name == "default") {
    spec.default_keys = true;
    spec.separator = '/';
  } else if (keys.name == "v2") {
    spec.separator = '.';
  } else {
    fail(where, "chunk_key_encoding '" + keys.name + "' is not supported (default, v2)");
  }
  if (keys.config.contains("separator")) {
    const Json sep = keys.config.at("separator");
    if (sep != "/" && sep != ".")
      fail(where, "chunk key separator must be \"/\" or \".\", got " + sep.dump());
    spec.separator = sep.get<std::string>()[0];
  }
  const Json transformers = doc.value("storage_transformers", Json::array());
  if (!transformers.is_array() || !transformers.empty())
    fail(where, "storage_transformers " + transformers.dump() + " are not supported");
  spec.dtype = data_type(doc.value("data_type", Json()), where);
  if (!doc.contains("fill_value")) fail(where, "\"fill_value\" is missing (required)");
  spec.fill_value = v3_fill_value(doc.at("fill_value"), spec.dtype, where);
  spec.compressor = nullptr;
  spec.filters = nullptr;
  codecs(doc.value("codecs", Json()), spec, where, false);
  // Sizes the chunk code computes from must fit.
  index_t n = spec.dtype.kind == ZarrKind::object ? 4 : static_cast<index_t>(spec.dtype.itemsize);
  for (index_t c : spec.chunks) {
    if (n > std::numeric_limits<index_t>::max() / c) fail(where, "chunks overflow");
    n *= c;
  }
  if (spec.dtype.kind == ZarrKind::numeric) (void)spec.fill_bytes(where);
  return spec;
}

}  // namespace tessera::io::detail
