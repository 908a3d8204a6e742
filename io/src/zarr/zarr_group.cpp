// tessera::io::Group on Zarr v2: a key-value store plus the key prefix of one group.
//
// Arrays are handled as 2-D internally (a 0-D array is 1×1 with one chunk "0", a 1-D array of n
// is 1×n), the same mapping the Group interface uses for its Chunks. Chunks are decoded to C order
// and the machine's (little-endian) byte order, and encoded back to the array's own layout, so
// arrays written by zarr-python in Fortran order or big-endian dtypes can be read and updated.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>

#include "json_files.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/detail/zarr_metadata.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io {
namespace {

using detail::ZarrArraySpec;
using detail::ZarrCodec;
using detail::ZarrKind;
using detail::ZarrObjectCodec;

// Elements per string chunk that write_strings aims at (one chunk for all but huge arrays).
constexpr index_t kStringChunkElements = index_t{1} << 20;

// A 2-D extent.
struct Dims {
  index_t rows = 1;
  index_t cols = 1;
};

Dims dims_of(const std::vector<index_t>& v) {
  switch (v.size()) {
    case 0:
      return {1, 1};
    case 1:
      return {1, v[0]};
    default:
      return {v[0], v[1]};
  }
}

index_t ceil_div(index_t a, index_t b) {
  return a == 0 ? 0 : (a - 1) / b + 1;
}

// Where chunk `c` of size `chunk` ends inside an axis of `extent` elements, without computing
// (c + 1) * chunk, which may overflow for the sizes an untrusted .zarray can declare.
index_t chunk_end(index_t c, index_t chunk, index_t extent) {
  const index_t begin = c * chunk;  // below extent, so it fits
  return begin + std::min(chunk, extent - begin);
}

std::string dims_text(const std::vector<index_t>& v) {
  std::string s = "(";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(v[i]);
  }
  if (v.size() == 1) s += ",";
  return s + ")";
}

void byteswap_all(std::span<std::byte> data, std::size_t itemsize) {
  if (itemsize <= 1) return;
  for (std::size_t off = 0; off + itemsize <= data.size(); off += itemsize) {
    std::reverse(data.begin() + static_cast<std::ptrdiff_t>(off),
                 data.begin() + static_cast<std::ptrdiff_t>(off + itemsize));
  }
}

// Column-major (rows × cols) to row-major, or back (`to_fortran`).
void transpose_bytes(std::span<std::byte> data, Dims d, std::size_t itemsize, bool to_fortran) {
  if (d.rows <= 1 || d.cols <= 1) return;
  std::vector<std::byte> copy(data.begin(), data.end());
  const auto is = static_cast<index_t>(itemsize);
  for (index_t r = 0; r < d.rows; ++r) {
    for (index_t c = 0; c < d.cols; ++c) {
      const index_t cpos = r * d.cols + c;
      const index_t fpos = c * d.rows + r;
      const index_t from = to_fortran ? cpos : fpos;
      const index_t to = to_fortran ? fpos : cpos;
      std::memcpy(data.data() + to * is, copy.data() + from * is, itemsize);
    }
  }
}

// Fills `count` items of `itemsize` bytes at `dst` with `pattern`.
void fill_items(std::byte* dst, index_t count, std::span<const std::byte> pattern) {
  const std::size_t is = pattern.size();
  bool zero = true;
  for (std::byte b : pattern)
    zero = zero && b == std::byte{0};
  if (zero) {
    std::memset(dst, 0, static_cast<std::size_t>(count) * is);
    return;
  }
  for (index_t i = 0; i < count; ++i)
    std::memcpy(dst + static_cast<std::size_t>(i) * is, pattern.data(), is);
}

std::shared_ptr<Buffer> allocate_chunk(std::size_t bytes, const std::string& what) {
  if (bytes > detail::kMaxChunkBytes) {
    throw FormatError(what + ": chunks of " + std::to_string(bytes) +
                      " bytes are larger than the " + std::to_string(detail::kMaxChunkBytes) +
                      " bytes Tessera decodes");
  }
  try {
    return Buffer::allocate(bytes);
  } catch (const std::bad_alloc&) {
    throw FormatError(what + ": cannot allocate " + std::to_string(bytes) + " bytes for a chunk");
  }
}

// The codecs of one array, made once per operation.
struct Pipeline {
  std::unique_ptr<ZarrCodec> compressor;            // may be null
  std::unique_ptr<ZarrObjectCodec> object;          // "|O" arrays: filters[0]
  std::vector<std::unique_ptr<ZarrCodec>> filters;  // byte filters, in file order

  explicit Pipeline(const ZarrArraySpec& spec) {
    if (!spec.compressor.is_null()) compressor = detail::make_codec(spec.compressor);
    if (spec.filters.is_array()) {
      std::size_t first = 0;
      if (spec.dtype.kind == ZarrKind::object) {
        object = detail::make_object_codec(spec.filters[0]);
        first = 1;
      }
      for (std::size_t i = first; i < spec.filters.size(); ++i) {
        filters.push_back(detail::make_codec(spec.filters[i]));
      }
    }
  }

  // Encoded bytes → the bytes the object codec or the array's items start from, of exactly
  // `out.size()` bytes (fixed-size items) ...
  void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const {
    if (filters.empty()) {
      if (compressor) {
        compressor->decode_into(encoded, out);
      } else if (encoded.size() != out.size()) {
        throw FormatError("uncompressed chunk of " + std::to_string(encoded.size()) +
                          " bytes, expected " + std::to_string(out.size()));
      } else {
        std::memcpy(out.data(), encoded.data(), out.size());
      }
      return;
    }
    std::vector<std::byte> bytes = compressor
                                       ? compressor->decode(encoded, detail::kMaxUnsizedDecodeBytes)
                                       : std::vector<std::byte>(encoded.begin(), encoded.end());
    for (std::size_t i = filters.size(); i-- > 1;) {
      bytes = filters[i]->decode(bytes, detail::kMaxUnsizedDecodeBytes);
    }
    filters[0]->decode_into(bytes, out);
  }

  // ... or of unknown size (variable-length strings).
  std::vector<std::byte> decode(std::span<const std::byte> encoded) const {
    std::vector<std::byte> bytes = compressor
                                       ? compressor->decode(encoded, detail::kMaxUnsizedDecodeBytes)
                                       : std::vector<std::byte>(encoded.begin(), encoded.end());
    for (std::size_t i = filters.size(); i-- > 0;) {
      bytes = filters[i]->decode(bytes, detail::kMaxUnsizedDecodeBytes);
    }
    return bytes;
  }

  // Encoded bytes of `raw`: in `scratch` (reused, see ZarrCodec::encode_into), or `raw` itself
  // when there is nothing to apply.
  std::span<const std::byte> encode_into(std::span<const std::byte> raw, std::size_t typesize,
                                         std::vector<std::byte>& scratch) const {
    if (filters.empty() && !compressor) return raw;
    if (filters.empty()) {
      const std::size_t n = compressor->encode_into(raw, typesize, scratch);  // may move scratch
      return {scratch.data(), n};
    }
    scratch = encode(raw, typesize);
    return scratch;
  }

  std::vector<std::byte> encode(std::span<const std::byte> raw, std::size_t typesize) const {
    if (filters.empty()) {
      return compressor ? compressor->encode(raw, typesize)
                        : std::vector<std::byte>(raw.begin(), raw.end());
    }
    std::vector<std::byte> bytes = filters[0]->encode(raw, typesize);
    for (std::size_t i = 1; i < filters.size(); ++i)
      bytes = filters[i]->encode(bytes, typesize);
    if (compressor) bytes = compressor->encode(bytes, typesize);
    return bytes;
  }
};

// UTF-32 code units (NUL-padded) to UTF-8; FormatError for code points that are not characters.
std::string utf32_to_utf8(const std::byte* p, std::size_t units, bool big_endian) {
  std::vector<std::uint32_t> cps;
  cps.reserve(units);
  for (std::size_t i = 0; i < units; ++i) {
    const auto* b = reinterpret_cast<const unsigned char*>(p + 4 * i);
    const std::uint32_t cp = big_endian
                                 ? (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                       (std::uint32_t{b[2]} << 8) | b[3]
                                 : (std::uint32_t{b[3]} << 24) | (std::uint32_t{b[2]} << 16) |
                                       (std::uint32_t{b[1]} << 8) | b[0];
    cps.push_back(cp);
  }
  while (!cps.empty() && cps.back() == 0)
    cps.pop_back();  // numpy strips trailing NULs
  std::string out;
  for (std::uint32_t cp : cps) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      throw FormatError("invalid code point " + std::to_string(cp) + " in a fixed-width string");
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// UTF-8 text as code points (numpy's U strings); ValueError naming `where` if not UTF-8.
std::u32string utf8_to_utf32(const std::string& text, const std::string& where) {
  if (!detail::is_valid_utf8(text))
    throw ValueError("zarr: " + where + ": a string is not valid UTF-8");
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    std::uint32_t cp = extra == 0 ? c : extra == 1 ? c & 0x1FU : extra == 2 ? c & 0x0FU : c & 0x07U;
    for (int k = 1; k <= extra; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]) & 0x3FU);
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

// Buffers that encoded chunks are built in, reused from chunk to chunk by every group opened from
// the same factory call, and freed with the last of them. On machines where the first touch of
// fresh memory is slow (this project's VM: page faults and zeroing), Blosc lz4 compresses a
// 128 MiB chunk at 2.5 GB/s into a buffer it used before and at about 1 GB/s into a new one.
class BufferPool {
 public:
  // A buffer from the pool (an empty one when there is none), handed back when `Held` ends.
  class Held {
   public:
    explicit Held(BufferPool& pool) : pool_(pool), bytes_(pool.take()) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() { pool_.give(std::move(bytes_)); }
    std::vector<std::byte>& bytes() { return bytes_; }

   private:
    BufferPool& pool_;
    std::vector<std::byte> bytes_;
  };

 private:
  // Buffers kept while not in use: one per thread writing at once, in practice one.
  static constexpr std::size_t kKept = 2;

  std::vector<std::byte> take() {
    const std::lock_guard lock(mutex_);
    if (free_.empty()) return {};
    std::vector<std::byte> b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::vector<std::byte> bytes) noexcept {
    try {
      const std::lock_guard lock(mutex_);
      if (free_.size() < kKept && !bytes.empty()) free_.push_back(std::move(bytes));
    } catch (...) {  // a buffer not kept is only freed
    }
  }

  std::mutex mutex_;
  std::vector<std::vector<std::byte>> free_;
};

// Zarr v3 node documents (zarr.json) of one store, by key, read once: from the root's
// consolidated metadata when it has some, else from each node's own file. An array's own file,
// when there is one, wins over its consolidated copy (consolidated metadata may be stale).
class NodeCache {
 public:
  struct Entry {
    std::optional<Json> doc;
    bool own = false;  // read from the node's own file (not consolidated)
  };
  std::optional<Entry> find(const std::string& key) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = nodes_.find(key);
    if (it == nodes_.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& key, Entry entry) {
    const std::lock_guard<std::mutex> lock(mutex_);
    nodes_[key] = std::move(entry);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Entry> nodes_;
};

class ZarrGroup final : public Group {
 public:
  ZarrGroup(std::shared_ptr<KeyValueStore> store, std::string label, std::string prefix,
            bool writable, std::shared_ptr<BufferPool> buffers = std::make_shared<BufferPool>(),
            std::shared_ptr<NodeCache> v3 = nullptr, std::shared_ptr<NodeCache> v2 = nullptr)
      : store_(std::move(store)),
        label_(std::move(label)),
        prefix_(std::move(prefix)),
        writable_(writable),
        buffers_(std::move(buffers)),
        v3_(std::move(v3)),
        v2_(std::move(v2)) {}

  std::string path() const override { return label_ + ":/" + prefix_; }
  std::string location() const override {
    std::string at = "/" + prefix_;
    while (at.size() > 1 && at.back() == '/')
      at.pop_back();
    return at;
  }

  std::vector<std::string> children() const override {
    std::vector<std::string> out;
    for (const std::string& name : store_->list(prefix_)) {
      if (!valid_name(name)) continue;
      if (v3_ ? node(name).has_value()
              : v2_has(key(name, ".zgroup")) || v2_has(key(name, ".zarray"))) {
        out.push_back(name);
      }
    }
    return out;
  }

  bool has_group(const std::string& name) const override {
    check_name(name, false);
    if (v3_) return node_type(name) == "group";
    return v2_has(key(name, ".zgroup"));
  }

  bool has_array(const std::string& name) const override {
    check_name(name, false);
    if (v3_) return node_type(name) == "array";
    return v2_has(key(name, ".zarray"));
  }

  std::unique_ptr<Group> group(const std::string& name) const override {
    if (!has_group(name)) {
      throw FormatError("zarr: no group '" + name + "' in " + path() +
                        (has_array(name) ? " (it is an array)" : ""));
    }
    return std::make_unique<ZarrGroup>(store_, label_, child_prefix(name), writable_, buffers_, v3_,
                                       v2_);
  }

  std::unique_ptr<Group> create_group(const std::string& name) override {
    check_name(name, true);
    require_writable("create group '" + name + "'");
    if (has_array(name)) {
      throw ValueError("zarr: cannot create group '" + name + "' in " + path() +
                       ": an array of that name exists");
    }
    if (v3_) {
      if (!has_group(name)) write_node(key(name, "zarr.json"), group_node());
    } else if (!store_->contains(key(name, ".zgroup"))) {
      write_json(key(name, ".zgroup"), Json{{"zarr_format", 2}});
    }
    return std::make_unique<ZarrGroup>(store_, label_, child_prefix(name), writable_, buffers_, v3_,
                                       v2_);
  }

  Json attributes(const std::string& array) const override {
    if (!array.empty()) {
      check_name(array, false);
      if (!has_array(array) && !has_group(array)) {
        throw FormatError("zarr: no array '" + array + "' in " + path());
      }
    }
    if (v3_) {
      const std::optional<Json> doc = array.empty() ? own_node() : node(array);
      if (!doc || !doc->contains("attributes")) return Json::object();
      const Json& attrs = doc->at("attributes");
      if (!attrs.is_object()) {
        throw FormatError(
            "zarr: " +
            store_->describe(array.empty() ? key("zarr.json") : key(array, "zarr.json")) +
            ": \"attributes\" must be a JSON object");
      }
      return attrs;
    }
    const std::string k = array.empty() ? key(".zattrs") : key(array, ".zattrs");
    std::optional<Json> doc = v2_json(k);
    if (!doc) return Json::object();
    if (!doc->is_object()) {
      throw FormatError("zarr: " + store_->describe(k) + ": attributes must be a JSON object");
    }
    return *doc;
  }

  void set_attribute(const std::string& name, const Json& value,
                     const std::string& array) override {
    require_writable("set attribute '" + name + "'");
    if (!array.empty()) {
      check_name(array, true);
      if (!has_array(array) && !has_group(array)) {
        throw ValueError("zarr: cannot set attribute '" + name + "' of '" + array + "' in " +
                         path() + ": no such array");
      }
    }
    if (v3_) {
      const std::string k = array.empty() ? key("zarr.json") : key(array, "zarr.json");
      Json doc = node_at(k, true).value_or(group_node());
      doc["attributes"][name] = value;
      write_node(k, doc);
      return;
    }
    Json attrs = attributes(array);
    attrs[name] = value;
    write_json(array.empty() ? key(".zattrs") : key(array, ".zattrs"), attrs);
  }

  ArrayMeta array_meta(const std::string& name) const override {
    const ZarrArraySpec spec = load_spec(name);
    ArrayMeta meta;
    meta.shape = spec.shape;
    meta.chunks = spec.chunks;
    if (spec.dtype.kind == ZarrKind::numeric) meta.dtype = spec.dtype.dtype;
    for (const detail::ZarrField& f : spec.dtype.fields) {
      meta.fields.push_back(
          Field{f.name, f.kind == ZarrKind::numeric ? std::optional<DType>(f.dtype) : std::nullopt,
                f.count});
    }
    return meta;
  }

  FieldValues read_field(const std::string& name, const std::string& field) const override {
    const ZarrArraySpec spec = load_spec(name);
    const std::string where = element_path(name);
    if (spec.dtype.kind != ZarrKind::structured || spec.shape.size() != 1) {
      throw FormatError("zarr: " + where + " is not a one-dimensional structured array (dtype " +
                        spec.dtype.json().dump() + ")");
    }
    const detail::ZarrField* f = nullptr;
    for (const detail::ZarrField& candidate : spec.dtype.fields) {
      if (candidate.name == field) f = &candidate;
    }
    if (f == nullptr) throw FormatError("zarr: " + where + ": no field '" + field + "'");
    const index_t n = spec.shape[0];
    const index_t per_chunk = spec.chunks[0];
    const std::size_t record = spec.dtype.itemsize;
    const Pipeline pipeline = make_pipeline(spec, where);
    FieldValues out;
    out.name = field;
    const bool numeric = f->kind == ZarrKind::numeric;
    if (numeric) out.values = Chunk::dense(f->dtype, Shape{n, f->count});
    std::vector<std::byte> raw;
    for (index_t c = 0; c * per_chunk < n; ++c) {
      const std::string ckey = spec.chunk_key(0, c);
      raw.assign(static_cast<std::size_t>(per_chunk) * record, std::byte{0});
      if (auto data = fetch(spec, name, 0, c))
        decode_chunk(spec, pipeline, *data, raw, where, ckey);
      const index_t end = std::min(n, (c + 1) * per_chunk);
      for (index_t r = c * per_chunk; r < end; ++r) {
        const std::byte* p =
            raw.data() + static_cast<std::size_t>(r - c * per_chunk) * record + f->offset;
        if (numeric) {
          auto* dst = const_cast<std::byte*>(out.values->raw_row(r));
          const std::size_t bytes = f->itemsize * static_cast<std::size_t>(f->count);
          std::memcpy(dst, p, bytes);
          if (f->big_endian) byteswap_all(std::span<std::byte>(dst, bytes), f->itemsize);
          if (f->dtype == DType::boolean) {
            for (std::size_t b = 0; b < bytes; ++b)
              dst[b] = dst[b] == std::byte{0} ? std::byte{0} : std::byte{1};
          }
        } else if (f->kind == ZarrKind::fixed_unicode) {
          try {
            out.strings.push_back(utf32_to_utf8(p, f->itemsize / 4, f->big_endian));
          } catch (const FormatError& e) {
            throw FormatError("zarr: " + where + ": field '" + field + "', record " +
                              std::to_string(r) + ": " + e.what());
          }
        } else {
          std::string text(reinterpret_cast<const char*>(p), f->itemsize);
          while (!text.empty() && text.back() == '\0')
            text.pop_back();
          out.strings.push_back(std::move(text));
        }
      }
    }
    return out;
  }

  void write_compound(const std::string& name, const std::vector<FieldValues>& fields,
                      index_t n) override {
    check_name(name, true);
    require_writable("write compound array '" + name + "'");
    const std::string where = element_path(name);
    ZarrArraySpec spec;
    spec.shape = {n};
    spec.chunks = {std::max<index_t>(n, 1)};
    spec.dtype.kind = ZarrKind::structured;
    std::vector<std::vector<std::u32string>> texts(fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const FieldValues& v = fields[i];
      detail::ZarrField f;
      f.name = v.name;
      if (v.values) {
        if (v.values->rows() != n || v.values->is_sparse())
          throw ShapeError("zarr: " + where + ": field '" + v.name + "' has " +
                           std::to_string(v.values->rows()) + " rows for " + std::to_string(n) +
                           " records");
        f.dtype = v.values->dtype();
        f.itemsize = itemsize(f.dtype);
        f.count = v.values->cols();
      } else {
        if (static_cast<index_t>(v.strings.size()) != n)
          throw ShapeError("zarr: " + where + ": field '" + v.name + "' has " +
                           std::to_string(v.strings.size()) + " strings for " + std::to_string(n) +
                           " records");
        f.kind = ZarrKind::fixed_unicode;
        std::size_t longest = 1;
        for (const std::string& text : v.strings) {
          texts[i].push_back(utf8_to_utf32(text, where));
          longest = std::max(longest, texts[i].back().size());
        }
        f.itemsize = 4 * longest;
      }
      f.offset = spec.dtype.itemsize;
      spec.dtype.itemsize += f.itemsize * static_cast<std::size_t>(f.count);
      spec.dtype.fields.push_back(std::move(f));
    }
    spec.fill_value = nullptr;
    spec.compressor = nullptr;
    replace_array(name, spec);
    if (n == 0) return;
    std::vector<std::byte> raw(static_cast<std::size_t>(n) * spec.dtype.itemsize, std::byte{0});
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const detail::ZarrField& f = spec.dtype.fields[i];
      for (index_t r = 0; r < n; ++r) {
        std::byte* dst = raw.data() + static_cast<std::size_t>(r) * spec.dtype.itemsize + f.offset;
        if (fields[i].values) {
          const Chunk& values = *fields[i].values;
          for (index_t c = 0; c < f.count; ++c)
            std::memcpy(dst + static_cast<std::size_t>(c) * f.itemsize,
                        values.raw_row(r) + static_cast<std::size_t>(c) * f.itemsize, f.itemsize);
        } else {
          const std::u32string& text = texts[i][static_cast<std::size_t>(r)];
          for (std::size_t k = 0; k < text.size(); ++k) {
            const auto cp = static_cast<std::uint32_t>(text[k]);
            const unsigned char le[4] = {static_cast<unsigned char>(cp & 0xFFU),
                                         static_cast<unsigned char>((cp >> 8) & 0xFFU),
                                         static_cast<unsigned char>((cp >> 16) & 0xFFU),
                                         static_cast<unsigned char>(cp >> 24)};
            std::memcpy(dst + 4 * k, le, 4);
          }
        }
      }
    }
    store_->set(key(name, spec.chunk_key(0, 0)), raw);
  }

  void create_null(const std::string& name) override {
    // anndata 0.12: a 0-d bool array and no chunk.
    check_name(name, true);
    require_writable("create null '" + name + "'");
    ZarrArraySpec spec;
    spec.dtype = detail::ZarrDType::little_endian(DType::boolean);
    spec.fill_value = false;
    spec.compressor = nullptr;
    replace_array(name, spec);
  }

  Chunk read(const std::string& name, const Box& box) const override {
    const ZarrArraySpec spec = load_spec(name);
    const std::string where = element_path(name);
    if (spec.dtype.kind == ZarrKind::structured) {
      throw FormatError("zarr: " + where + " is a structured array (dtype " +
                        spec.dtype.json().dump() + "); read it field by field");
    }
    if (spec.dtype.kind != ZarrKind::numeric) {
      throw FormatError("zarr: " + where + " is a string array (dtype '" + spec.dtype.str() +
                        "'); read it with read_strings");
    }
    check_box(spec, box, where, /*writing=*/false);
    const Dims shape = dims_of(spec.shape);
    const Dims chunk = dims_of(spec.chunks);
    const Dims start = box_start(box, spec.shape.size());
    const Dims count = dims_of(box.count);
    const DType dtype = spec.dtype.dtype;
    const auto is = static_cast<index_t>(spec.dtype.itemsize);
    const auto chunk_bytes = static_cast<std::size_t>(chunk.rows * chunk.cols * is);

    if (count.rows == 0 || count.cols == 0)
      return Chunk::dense(dtype, Shape{count.rows, count.cols});
    const Pipeline pipeline = make_pipeline(spec, where);
    const std::vector<std::byte> fill = spec.fill_bytes(where);

    const index_t cr0 = start.rows / chunk.rows;
    const index_t cr1 = (start.rows + count.rows - 1) / chunk.rows;
    const index_t cc0 = start.cols / chunk.cols;
    const index_t cc1 = (start.cols + count.cols - 1) / chunk.cols;

    // A box inside one stored chunk is a view of the decoded chunk: no copy.
    if (cr0 == cr1 && cc0 == cc1) {
      const std::string ckey = spec.chunk_key(cr0, cc0);
      if (auto data = fetch(spec, name, cr0, cc0)) {
        auto buffer = allocate_chunk(chunk_bytes, where);
        decode_chunk(spec, pipeline, *data, {buffer->data(), chunk_bytes}, where, ckey);
        const index_t offset =
            (start.rows - cr0 * chunk.rows) * chunk.cols + (start.cols - cc0 * chunk.cols);
        Chunk view = Chunk::dense_view(dtype, Shape{count.rows, count.cols}, std::move(buffer),
                                       offset, chunk.cols);
        // A small part of a big chunk is copied out, so that it does not keep the chunk alive.
        return count.rows * count.cols * 2 >= chunk.rows * chunk.cols ? view : view.deep_copy();
      }
    }

    Chunk out = Chunk::dense(dtype, Shape{count.rows, count.cols});
    std::shared_ptr<Buffer> scratch;
    for (index_t cr = cr0; cr <= cr1; ++cr) {
      for (index_t cc = cc0; cc <= cc1; ++cc) {
        // Overlap of the box and this chunk, in array coordinates.
        const index_t r0 = std::max(start.rows, cr * chunk.rows);
        const index_t r1 = std::min(start.rows + count.rows, chunk_end(cr, chunk.rows, shape.rows));
        const index_t c0 = std::max(start.cols, cc * chunk.cols);
        const index_t c1 = std::min(start.cols + count.cols, chunk_end(cc, chunk.cols, shape.cols));
        const std::string ckey = spec.chunk_key(cr, cc);
        const std::optional<Bytes> data = fetch(spec, name, cr, cc);
        if (!data) {
          for (index_t r = r0; r < r1; ++r) {
            auto* dst =
                const_cast<std::byte*>(out.raw_row(r - start.rows)) + (c0 - start.cols) * is;
            fill_items(dst, c1 - c0, fill);
          }
          continue;
        }
        if (!scratch) scratch = allocate_chunk(chunk_bytes, where);
        decode_chunk(spec, pipeline, *data, {scratch->data(), chunk_bytes}, where, ckey);
        for (index_t r = r0; r < r1; ++r) {
          const std::byte* src =
              scratch->data() + ((r - cr * chunk.rows) * chunk.cols + (c0 - cc * chunk.cols)) * is;
          auto* dst = const_cast<std::byte*>(out.raw_row(r - start.rows)) + (c0 - start.cols) * is;
          std::memcpy(dst, src, static_cast<std::size_t>((c1 - c0) * is));
        }
      }
    }
    return out;
  }

  std::vector<std::string> read_strings(const std::string& name) const override {
    const ZarrArraySpec spec = load_spec(name);
    const std::string where = element_path(name);
    if (!spec.dtype.is_string()) {
      throw FormatError("zarr: " + where + " is not an array of strings (dtype " +
                        spec.dtype.json().dump() + ")");
    }
    const Dims shape = dims_of(spec.shape);
    const Dims chunk = dims_of(spec.chunks);
    std::vector<std::string> out;
    if (shape.rows * shape.cols == 0) return out;
    const Pipeline pipeline = make_pipeline(spec, where);
    const std::string fill = spec.fill_string();
    const index_t n = chunk.rows * chunk.cols;
    try {
      // The result grows one row of chunks at a time, after those chunks decoded: a file that
      // declares a huge array but holds a few corrupt bytes fails before the memory is taken.
      for (index_t cr = 0; cr < ceil_div(shape.rows, chunk.rows); ++cr) {
        const index_t r0 = cr * chunk.rows;
        const index_t r1 = chunk_end(cr, chunk.rows, shape.rows);
        std::vector<std::optional<std::vector<std::string>>> row_chunks;
        for (index_t cc = 0; cc < ceil_div(shape.cols, chunk.cols); ++cc) {
          const std::string ckey = spec.chunk_key(cr, cc);
          const std::optional<Bytes> data = fetch(spec, name, cr, cc);
          if (data) {
            row_chunks.emplace_back(decode_string_chunk(spec, pipeline, *data, n, where, ckey));
          } else {
            row_chunks.emplace_back(std::nullopt);
          }
        }
        out.resize(static_cast<std::size_t>(r1 * shape.cols));
        for (index_t cc = 0; cc < static_cast<index_t>(row_chunks.size()); ++cc) {
          const index_t c0 = cc * chunk.cols;
          const index_t c1 = chunk_end(cc, chunk.cols, shape.cols);
          auto& items = row_chunks[static_cast<std::size_t>(cc)];
          for (index_t r = r0; r < r1; ++r) {
            for (index_t c = c0; c < c1; ++c) {
              std::string& dst = out[static_cast<std::size_t>(r * shape.cols + c)];
              if (!items) {
                dst = fill;
                continue;
              }
              const index_t lr = r - r0;
              const index_t lc = c - c0;
              const index_t pos = spec.fortran_order ? lc * chunk.rows + lr : lr * chunk.cols + lc;
              dst = std::move((*items)[static_cast<std::size_t>(pos)]);
            }
          }
        }
      }
    } catch (const std::bad_alloc&) {
      throw FormatError("zarr: " + where + ": array of shape " + dims_text(spec.shape) +
                        " is too large to read into memory");
    }
    return out;
  }

  void create_array(const std::string& name, const ArrayMeta& meta,
                    const Compression& compression) override {
    check_name(name, true);
    require_writable("create array '" + name + "'");
    ZarrArraySpec spec;
    spec.shape = meta.shape;
    spec.chunks = meta.chunks;
    check_new_shape(spec, name);
    if (meta.dtype) {
      spec.dtype = detail::ZarrDType::little_endian(*meta.dtype);
      spec.fill_value = detail::default_fill_value(*meta.dtype);
    } else {
      set_string_dtype(spec);
    }
    spec.compressor = detail::compressor_config(compression);
    if (!meta.shards.empty()) {
      if (!v3_) throw ValueError("zarr: " + element_path(name) + ": shards need Zarr v3");
      if (meta.shards.size() != spec.chunks.size())
        throw ValueError("zarr: " + element_path(name) + ": shards and chunks differ in rank");
      for (std::size_t d = 0; d < spec.chunks.size(); ++d) {
        if (meta.shards[d] < 1 || meta.shards[d] % spec.chunks[d] != 0)
          throw ValueError("zarr: " + element_path(name) + ": shards " + dims_text(meta.shards) +
                           " are not a multiple of the chunks " + dims_text(spec.chunks));
      }
      spec.shard = meta.shards;
    }
    replace_array(name, spec);
  }

  void write(const std::string& name, const Box& box, const Chunk& data_in) override {
    require_writable("write '" + name + "'");
    const ZarrArraySpec spec = load_spec(name);
    const std::string where = element_path(name);
    if (spec.dtype.kind != ZarrKind::numeric) {
      throw ValueError("zarr: " + where + " is a string array; write it with write_strings");
    }
    check_box(spec, box, where, /*writing=*/true);
    const Dims start = box_start(box, spec.shape.size());
    const Dims count = dims_of(box.count);
    const Chunk data = prepare_data(data_in, spec, count, where);
    if (count.rows == 0 || count.cols == 0) return;
    if (!spec.shard.empty()) {
      write_shards(name, spec, box, data, where);
      return;
    }

    const Dims shape = dims_of(spec.shape);
    const Dims chunk = dims_of(spec.chunks);
    const auto is = static_cast<index_t>(spec.dtype.itemsize);
    const auto chunk_bytes = static_cast<std::size_t>(chunk.rows * chunk.cols * is);
    const Pipeline pipeline = make_pipeline(spec, where);
    const std::vector<std::byte> fill = spec.fill_bytes(where);
    std::shared_ptr<Buffer> buffer;  // allocated when a chunk must be assembled
    BufferPool::Held encoded(*buffers_);

    for (index_t cr = start.rows / chunk.rows; cr <= (start.rows + count.rows - 1) / chunk.rows;
         ++cr) {
      for (index_t cc = start.cols / chunk.cols; cc <= (start.cols + count.cols - 1) / chunk.cols;
           ++cc) {
        // The chunk's part inside the array, and the box's part of that.
        const index_t ar0 = cr * chunk.rows;
        const index_t ar1 = chunk_end(cr, chunk.rows, shape.rows);
        const index_t ac0 = cc * chunk.cols;
        const index_t ac1 = chunk_end(cc, chunk.cols, shape.cols);
        const index_t r0 = std::max(start.rows, ar0);
        const index_t r1 = std::min(start.rows + count.rows, ar1);
        const index_t c0 = std::max(start.cols, ac0);
        const index_t c1 = std::min(start.cols + count.cols, ac1);
        const std::string ckey = spec.chunk_key(cr, cc);
        const bool whole = r0 == ar0 && r1 == ar1 && c0 == ac0 && c1 == ac1;
        const bool full_size = ar1 - ar0 == chunk.rows && ac1 - ac0 == chunk.cols;
        // A whole, full-size chunk whose rows lie end to end in the caller's data (the block is
        // the chunk's width and dense) is encoded where it is: no copy.
        if (whole && full_size && c1 - c0 == data.cols() && data.is_contiguous()) {
          const std::span<const std::byte> in(data.raw_row(r0 - start.rows), chunk_bytes);
          store_->set(key(name, ckey),
                      encode_chunk(spec, pipeline, in, chunk, where, ckey, encoded.bytes()));
          continue;
        }
        if (!buffer) buffer = allocate_chunk(chunk_bytes, where);
        const std::span<std::byte> raw(buffer->data(), chunk_bytes);
        if (whole) {
          // Edge chunks are stored full size, padded with the fill value (as zarr-python does).
          if (!full_size) fill_items(raw.data(), chunk.rows * chunk.cols, fill);
        } else if (auto existing = store_->get(key(name, ckey))) {
          decode_chunk(spec, pipeline, *existing, raw, where, ckey);
        } else {
          fill_items(raw.data(), chunk.rows * chunk.cols, fill);
        }
        for (index_t r = r0; r < r1; ++r) {
          const std::byte* src = data.raw_row(r - start.rows) + (c0 - start.cols) * is;
          std::byte* dst = raw.data() + ((r - ar0) * chunk.cols + (c0 - ac0)) * is;
          std::memcpy(dst, src, static_cast<std::size_t>((c1 - c0) * is));
        }
        store_->set(key(name, ckey),
                    encode_chunk(spec, pipeline, raw, chunk, where, ckey, encoded.bytes()));
      }
    }
  }

  void write_strings(const std::string& name, const std::vector<std::string>& values,
                     const std::vector<index_t>& shape_in,
                     const Compression& compression) override {
    check_name(name, true);
    require_writable("write strings '" + name + "'");
    ZarrArraySpec spec;
    spec.shape = shape_in;
    check_new_shape(spec, name);
    const Dims shape = dims_of(spec.shape);
    if (shape.rows * shape.cols != static_cast<index_t>(values.size())) {
      throw ShapeError("zarr: " + element_path(name) + ": " + std::to_string(values.size()) +
                       " strings for shape " + dims_text(spec.shape));
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!detail::is_valid_utf8(values[i])) {
        throw ValueError("zarr: " + element_path(name) + ": string " + std::to_string(i) +
                         " is not valid UTF-8");
      }
    }
    // One chunk, unless the array is huge.
    spec.chunks = spec.shape;
    for (index_t& c : spec.chunks)
      c = std::max<index_t>(c, 1);
    if (spec.shape.size() == 1) {
      spec.chunks[0] = std::min(spec.chunks[0], kStringChunkElements);
    } else if (spec.shape.size() == 2) {
      spec.chunks[0] =
          std::min(spec.chunks[0], std::max<index_t>(1, kStringChunkElements / spec.chunks[1]));
    }
    set_string_dtype(spec);
    spec.compressor = detail::compressor_config(compression);
    replace_array(name, spec);

    const std::string where = element_path(name);
    const Pipeline pipeline = make_pipeline(spec, where);
    const Dims chunk = dims_of(spec.chunks);
    std::vector<std::string> items(static_cast<std::size_t>(chunk.rows * chunk.cols));
    for (index_t cr = 0; cr < ceil_div(shape.rows, chunk.rows); ++cr) {
      for (index_t cc = 0; cc < ceil_div(shape.cols, chunk.cols); ++cc) {
        for (index_t lr = 0; lr < chunk.rows; ++lr) {
          for (index_t lc = 0; lc < chunk.cols; ++lc) {
            const index_t r = cr * chunk.rows + lr;
            const index_t c = cc * chunk.cols + lc;
            std::string& item = items[static_cast<std::size_t>(lr * chunk.cols + lc)];
            if (r < shape.rows && c < shape.cols) {
              item = values[static_cast<std::size_t>(r * shape.cols + c)];
            } else {
              item.clear();  // padding of an edge chunk, as numcodecs writes None
            }
          }
        }
        const std::vector<std::byte> raw = pipeline.object->encode(items);
        store_->set(key(name, spec.chunk_key(cr, cc)), pipeline.encode(raw, 1));
      }
    }
  }

 private:
  // ---- names and keys

  static bool valid_name(const std::string& name) {
    if (name.empty() || name == "." || name == ".." || name == ".zarray" || name == ".zgroup" ||
        name == ".zattrs" || name == ".zmetadata" || name == "zarr.json") {
      return false;
    }
    return name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
  }

  void check_name(const std::string& name, bool writing) const {
    if (valid_name(name)) return;
    std::string shown;
    for (char c : name)
      shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    const std::string msg = "zarr: invalid name '" + shown + "' in " + path() +
                            " (names are one non-empty path segment without '/', '\\', NUL, and "
                            "not '.', '..' or a .z* metadata key)";
    if (writing) throw ValueError(msg);
    throw FormatError(msg);
  }

  std::string key(const std::string& file) const {
    return prefix_.empty() ? file : prefix_ + "/" + file;
  }
  std::string key(const std::string& name, const std::string& file) const {
    return key(name + "/" + file);
  }
  std::string child_prefix(const std::string& name) const { return key(name); }
  std::string element_path(const std::string& name) const {
    return prefix_.empty() ? path() + name : path() + "/" + name;
  }

  void require_writable(const std::string& what) const {
    if (!writable_) throw IoError("zarr: cannot " + what + " in " + path() + ": opened read-only");
  }

  // ---- Zarr v3 nodes

  // The zarr.json of child `name` (nullopt: no such node). `own`: the node's own file, when it
  // has one, rather than a consolidated copy.
  std::optional<Json> node(const std::string& name, bool own = false) const {
    return node_at(key(name, "zarr.json"), own);
  }
  std::optional<Json> own_node() const { return node_at(key("zarr.json"), false); }

  std::optional<Json> node_at(const std::string& k, bool own) const {
    if (auto hit = v3_->find(k); hit && (!own || hit->own || !hit->doc)) return hit->doc;
    if (auto hit = v3_->find(k); hit && own) {
      std::optional<Json> mine = read_json(k);
      if (mine) check_node(*mine, k);
      NodeCache::Entry entry{mine ? mine : hit->doc, mine.has_value()};
      v3_->put(k, entry);
      return entry.doc;
    }
    std::optional<Json> doc = read_json(k);
    if (doc) check_node(*doc, k);
    v3_->put(k, NodeCache::Entry{doc, true});
    return doc;
  }

  void check_node(const Json& doc, const std::string& k) const {
    if (!doc.is_object() || doc.value("zarr_format", Json()) != 3 ||
        (doc.value("node_type", Json()) != "group" && doc.value("node_type", Json()) != "array")) {
      throw FormatError("zarr: " + store_->describe(k) +
                        ": not a Zarr v3 node (needs zarr_format 3 and node_type group or array)");
    }
  }

  std::string node_type(const std::string& name) const {
    const std::optional<Json> doc = node(name);
    return doc ? doc->at("node_type").get<std::string>() : std::string();
  }

  // The stored bytes of chunk (cr, cc), nullopt when it is missing (it reads as the fill value).
  // Sharded arrays: the shard's index, then only this inner chunk, by byte range.
  std::optional<Bytes> fetch(const ZarrArraySpec& spec, const std::string& name, index_t cr,
                             index_t cc) const {
    if (spec.shard.empty()) return store_->get(key(name, spec.chunk_key(cr, cc)));
    const Dims inner = dims_of(spec.chunks);
    const Dims outer = dims_of(spec.shard);
    const index_t per_rows = outer.rows / inner.rows, per_cols = outer.cols / inner.cols;
    const std::string skey = key(name, spec.chunk_key(cr / per_rows, cc / per_cols));
    const std::optional<std::uint64_t> size = store_->size_of(skey);
    if (!size) return std::nullopt;  // a missing shard: every inner chunk is fill
    const auto entries = static_cast<std::uint64_t>(per_rows * per_cols);
    const std::uint64_t index_bytes = 16 * entries + (spec.index_checksum ? 4 : 0);
    const std::string where = store_->describe(skey);
    if (*size < index_bytes) {
      throw FormatError("zarr: " + where + ": a shard of " + std::to_string(*size) +
                        " bytes cannot hold its index of " + std::to_string(index_bytes));
    }
    const std::uint64_t index_at = spec.index_at_end ? *size - index_bytes : 0;
    const Bytes index = *store_->get_range(skey, index_at, index_bytes);
    if (spec.index_checksum) {
      const auto body = std::span<const std::byte>(index).first(index_bytes - 4);
      std::uint32_t stored = 0;
      for (int k = 0; k < 4; ++k)
        stored |=
            std::to_integer<std::uint32_t>(index[index_bytes - 4 + static_cast<std::size_t>(k)])
            << (8 * k);
      if (stored != detail::crc32c(body))
        throw FormatError("zarr: " + where + ": the shard index fails its crc32c check");
    }
    const auto entry = static_cast<std::size_t>((cr % per_rows) * per_cols + cc % per_cols);
    const auto u64 = [&](std::size_t at) {
      std::uint64_t v = 0;
      for (int k = 0; k < 8; ++k)
        v |= std::to_integer<std::uint64_t>(index[at + static_cast<std::size_t>(k)]) << (8 * k);
      return v;
    };
    const std::uint64_t offset = u64(16 * entry), nbytes = u64(16 * entry + 8);
    constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
    if (offset == kEmpty && nbytes == kEmpty) return std::nullopt;
    const std::uint64_t data_begin = spec.index_at_end ? 0 : index_bytes;
    const std::uint64_t data_end = spec.index_at_end ? index_at : *size;
    if (offset < data_begin || offset > data_end || nbytes > data_end - offset) {
      throw FormatError("zarr: " + where + ": the shard index points inner chunk " +
                        std::to_string(entry) + " at bytes " + std::to_string(offset) + "+" +
                        std::to_string(nbytes) + ", outside the shard's data");
    }
    return store_->get_range(skey, offset, nbytes);
  }

  // ---- Zarr v2 consolidated metadata (.zmetadata), when the store was opened read-only with one

  bool v2_has(const std::string& k) const {
    if (v2_) {
      if (auto hit = v2_->find(k); hit && hit->doc) return true;
    }
    return store_->contains(k);
  }
  std::optional<Json> v2_json(const std::string& k) const {
    if (v2_) {
      if (auto hit = v2_->find(k); hit && hit->doc) return hit->doc;
    }
    return read_json(k);
  }

  // ---- JSON

  std::optional<Json> read_json(const std::string& k) const {
    const std::optional<Bytes> bytes = store_->get(k);
    if (!bytes) return std::nullopt;
    return detail::parse_json_file(*bytes, store_->describe(k));
  }

  void write_json(const std::string& k, const Json& doc) {
    std::string text;
    try {
      text = detail::dump_json(doc);
    } catch (const Json::exception& e) {  // strings that are not UTF-8
      throw ValueError("zarr: cannot write " + store_->describe(k) + ": " + e.what());
    }
    store_->set(k, std::as_bytes(std::span(text.data(), text.size())));
  }

  // ---- arrays

  ZarrArraySpec load_spec(const std::string& name) const {
    check_name(name, false);
    if (v3_) {
      const std::string k = key(name, "zarr.json");
      std::optional<Json> doc = node(name, /*own=*/true);
      if (!doc || doc->value("node_type", Json()) != "array") {
        throw FormatError("zarr: no array '" + name + "' in " + path() +
                          (doc ? " (it is a group)" : ""));
      }
      return ZarrArraySpec::parse_v3(*doc, "zarr: " + store_->describe(k));
    }
    const std::string k = key(name, ".zarray");
    std::optional<Json> doc = read_json(k);  // the array's own metadata wins
    if (!doc) doc = v2_json(k);
    if (!doc) {
      throw FormatError("zarr: no array '" + name + "' in " + path() +
                        (store_->contains(key(name, ".zgroup")) ? " (it is a group)" : ""));
    }
    return ZarrArraySpec::parse(*doc, "zarr: " + store_->describe(k));
  }

  static Pipeline make_pipeline(const ZarrArraySpec& spec, const std::string& where) {
    try {
      return Pipeline(spec);
    } catch (const FormatError& e) {
      throw FormatError("zarr: " + where + ": " + e.what());
    }
  }

  static void set_string_dtype(ZarrArraySpec& spec) {
    spec.dtype.kind = ZarrKind::object;
    spec.dtype.itemsize = 0;
    spec.filters = Json::array({Json{{"id", "vlen-utf8"}}});
    spec.fill_value = 0;  // what zarr-python writes for object arrays
  }

  void check_new_shape(ZarrArraySpec& spec, const std::string& name) const {
    const std::string where = element_path(name);
    if (spec.shape.size() > 2) {
      throw ValueError("zarr: " + where + ": " + std::to_string(spec.shape.size()) +
                       "-dimensional arrays are not supported (0, 1 or 2)");
    }
    index_t total = 1;
    for (index_t s : spec.shape) {
      if (s < 0) throw ValueError("zarr: " + where + ": negative shape " + dims_text(spec.shape));
      if (s != 0 && total > std::numeric_limits<index_t>::max() / s) {
        throw ValueError("zarr: " + where + ": shape " + dims_text(spec.shape) + " overflows");
      }
      total *= s;
    }
    if (spec.chunks.empty()) {
      spec.chunks = spec.shape;
      for (index_t& c : spec.chunks)
        c = std::max<index_t>(c, 1);
    }
    if (spec.chunks.size() != spec.shape.size()) {
      throw ValueError("zarr: " + where + ": chunks " + dims_text(spec.chunks) +
                       " do not match shape " + dims_text(spec.shape));
    }
    index_t per_chunk = 8;
    for (index_t c : spec.chunks) {
      if (c < 1)
        throw ValueError("zarr: " + where + ": chunk sizes must be positive, got " +
                         dims_text(spec.chunks));
      if (per_chunk > std::numeric_limits<index_t>::max() / c) {
        throw ValueError("zarr: " + where + ": chunks " + dims_text(spec.chunks) + " too large");
      }
      per_chunk *= c;
    }
  }

  // Writes the .zarray (v3: zarr.json) of a new array, removing whatever array had the name
  // before. For v3 `spec` gains the v3 chunk keys that its chunks are then written under.
  void replace_array(const std::string& name, ZarrArraySpec& spec) {
    if (has_group(name)) {
      throw ValueError("zarr: cannot create array '" + name + "' in " + path() +
                       ": a group of that name exists");
    }
    if (v3_) {
      spec.zarr_format = 3;
      spec.default_keys = true;
      spec.separator = '/';
      if (has_array(name)) store_->erase_prefix(child_prefix(name));
      write_node(key(name, "zarr.json"), spec.to_json_v3());
      return;
    }
    if (store_->contains(key(name, ".zarray"))) store_->erase_prefix(child_prefix(name));
    write_json(key(name, ".zarray"), spec.to_json());
  }

  static Json group_node() {
    return Json{{"zarr_format", 3}, {"node_type", "group"}, {"attributes", Json::object()}};
  }

  void write_node(const std::string& k, const Json& doc) {
    write_json(k, doc);
    v3_->put(k, NodeCache::Entry{doc, true});
  }

  // A sharded array's write: every shard the box covers, whole (the box starts on a shard
  // boundary and ends on one or at the array's edge), its inner chunks encoded one by one, laid
  // end to end, then the index (offset, nbytes per inner chunk, C order; all ones for an inner
  // chunk outside the array) and its crc32c.
  void write_shards(const std::string& name, const ZarrArraySpec& spec, const Box& box,
                    const Chunk& data, const std::string& where) {
    const Dims shape = dims_of(spec.shape);
    const Dims shard = dims_of(spec.shard);
    const Dims inner = dims_of(spec.chunks);
    const Dims start = box_start(box, spec.shape.size());
    const Dims count = dims_of(box.count);
    const auto aligned = [](index_t begin, index_t n, index_t step, index_t extent) {
      return begin % step == 0 && ((begin + n) % step == 0 || begin + n == extent);
    };
    if (!aligned(start.rows, count.rows, shard.rows, shape.rows) ||
        !aligned(start.cols, count.cols, shard.cols, shape.cols)) {
      throw ValueError("zarr: " + where + ": writes to a sharded array cover whole shards " +
                       dims_text(spec.shard) + "; box start " + dims_text(box.start) + " count " +
                       dims_text(box.count) + " does not");
    }
    const index_t per_rows = shard.rows / inner.rows, per_cols = shard.cols / inner.cols;
    const auto is = static_cast<index_t>(spec.dtype.itemsize);
    const auto chunk_bytes = static_cast<std::size_t>(inner.rows * inner.cols * is);
    const Pipeline pipeline = make_pipeline(spec, where);
    const std::vector<std::byte> fill = spec.fill_bytes(where);
    const std::shared_ptr<Buffer> buffer = allocate_chunk(chunk_bytes, where);
    const std::span<std::byte> raw(buffer->data(), chunk_bytes);
    BufferPool::Held encoded(*buffers_);
    // The shard is assembled in a pooled buffer reserved for a whole uncompressed shard: a fresh
    // vector grown inner chunk by inner chunk was reallocated and page-faulted about twice per
    // shard (about 0.25 s per 144 MiB of shards on this project's VM; docs/benchmarks.md, "Zarr
    // v3 sharded vs v2").
    BufferPool::Held assembled(*buffers_);
    std::vector<std::byte>& object = assembled.bytes();
    object.reserve(static_cast<std::size_t>(shard.rows * shard.cols * is) +
                   static_cast<std::size_t>(16 * per_rows * per_cols + 4));
    for (index_t sr = start.rows / shard.rows; sr * shard.rows < start.rows + count.rows; ++sr) {
      for (index_t sc = start.cols / shard.cols; sc * shard.cols < start.cols + count.cols; ++sc) {
        object.clear();
        std::vector<std::uint64_t> index;
        for (index_t ir = 0; ir < per_rows; ++ir) {
          for (index_t ic = 0; ic < per_cols; ++ic) {
            const index_t r0 = (sr * per_rows + ir) * inner.rows;
            const index_t c0 = (sc * per_cols + ic) * inner.cols;
            if (r0 >= shape.rows || c0 >= shape.cols) {
              index.push_back(~std::uint64_t{0});
              index.push_back(~std::uint64_t{0});
              continue;
            }
            const index_t r1 = std::min(r0 + inner.rows, shape.rows);
            const index_t c1 = std::min(c0 + inner.cols, shape.cols);
            if (r1 - r0 != inner.rows || c1 - c0 != inner.cols)
              fill_items(raw.data(), inner.rows * inner.cols, fill);
            for (index_t r = r0; r < r1; ++r) {
              std::memcpy(raw.data() + (r - r0) * inner.cols * is,
                          data.raw_row(r - start.rows) + (c0 - start.cols) * is,
                          static_cast<std::size_t>((c1 - c0) * is));
            }
            const std::string ckey = spec.chunk_key(sr, sc);
            const std::span<const std::byte> bytes =
                encode_chunk(spec, pipeline, raw, inner, where, ckey, encoded.bytes());
            index.push_back(object.size());
            index.push_back(bytes.size());
            object.insert(object.end(), bytes.begin(), bytes.end());
          }
        }
        std::vector<std::byte> tail(index.size() * 8);
        for (std::size_t k = 0; k < index.size(); ++k) {
          for (int b = 0; b < 8; ++b)
            tail[8 * k + static_cast<std::size_t>(b)] =
                static_cast<std::byte>((index[k] >> (8 * b)) & 0xFFU);
        }
        const std::uint32_t crc = detail::crc32c(tail);
        for (int b = 0; b < 4; ++b)
          tail.push_back(static_cast<std::byte>((crc >> (8 * b)) & 0xFFU));
        object.insert(object.end(), tail.begin(), tail.end());
        store_->set(key(name, spec.chunk_key(sr, sc)), object);
      }
    }
  }

  static Dims box_start(const Box& box, std::size_t rank) {
    if (rank == 0) return {0, 0};
    if (rank == 1) return {0, box.start.at(0)};  // a 1-D array is one row: it starts at row 0
    return dims_of(box.start);
  }

  void check_box(const ZarrArraySpec& spec, const Box& box, const std::string& where,
                 bool writing) const {
    auto fail = [&](const std::string& why) {
      const std::string msg = "zarr: " + where + ": box start " + dims_text(box.start) + " count " +
                              dims_text(box.count) + " " + why + " of shape " +
                              dims_text(spec.shape);
      if (writing) throw IndexError(msg);
      throw FormatError(msg);
    };
    if (box.start.size() != spec.shape.size() || box.count.size() != spec.shape.size()) {
      fail("does not match the rank");
    }
    for (std::size_t i = 0; i < spec.shape.size(); ++i) {
      if (box.start[i] < 0 || box.count[i] < 0 || box.start[i] > spec.shape[i] ||
          box.count[i] > spec.shape[i] - box.start[i]) {
        fail("lies outside the array");
      }
    }
  }

  // The caller's data as a dense chunk of the array's dtype, shaped (rows, cols) of the box; a
  // 1-D box also takes an (n, 1) column.
  static Chunk prepare_data(const Chunk& in, const ZarrArraySpec& spec, Dims count,
                            const std::string& where) {
    Chunk data = in.is_sparse() ? in.to_dense() : in;
    if (data.dtype() != spec.dtype.dtype) data = data.astype(spec.dtype.dtype);
    if (data.rows() == count.rows && data.cols() == count.cols) return data;
    if (spec.shape.size() == 1 && data.rows() == count.cols && data.cols() == 1) {
      Chunk row = Chunk::dense(data.dtype(), Shape{1, count.cols});
      const std::size_t is = itemsize(data.dtype());
      for (index_t i = 0; i < count.cols; ++i) {
        std::memcpy(const_cast<std::byte*>(row.raw_row(0)) + static_cast<std::size_t>(i) * is,
                    data.raw_row(i), is);
      }
      return row;
    }
    throw ShapeError("zarr: " + where + ": data of shape " + to_string(data.shape()) +
                     " for a box of shape " + to_string(Shape{count.rows, count.cols}));
  }

  // Stored chunk → `out` (C order, native byte order, bools 0/1).
  static void decode_chunk(const ZarrArraySpec& spec, const Pipeline& pipeline,
                           std::span<const std::byte> data, std::span<std::byte> out,
                           const std::string& where, const std::string& ckey) {
    try {
      pipeline.decode_into(data, out);
    } catch (const FormatError& e) {
      throw FormatError("zarr: " + where + ": cannot decode chunk '" + ckey + "': " + e.what());
    }
    if (spec.fortran_order) transpose_bytes(out, dims_of(spec.chunks), spec.dtype.itemsize, false);
    if (spec.dtype.big_endian) byteswap_all(out, spec.dtype.itemsize);
    if (spec.dtype.dtype == DType::boolean) {
      // Any non-zero byte is True to numpy; a C++ bool must hold exactly 0 or 1.
      for (std::byte& b : out)
        b = b == std::byte{0} ? std::byte{0} : std::byte{1};
    }
  }

  // The stored bytes of chunk `raw`: in `scratch` (reused), or `raw` itself when uncompressed.
  static std::span<const std::byte> encode_chunk(const ZarrArraySpec& spec,
                                                 const Pipeline& pipeline,
                                                 std::span<const std::byte> raw, Dims chunk,
                                                 const std::string& where, const std::string& ckey,
                                                 std::vector<std::byte>& scratch) {
    try {
      if (!spec.fortran_order && !spec.dtype.big_endian) {
        return pipeline.encode_into(raw, spec.dtype.itemsize, scratch);
      }
      std::vector<std::byte> copy(raw.begin(), raw.end());
      if (spec.dtype.big_endian) byteswap_all(copy, spec.dtype.itemsize);
      if (spec.fortran_order) transpose_bytes(copy, chunk, spec.dtype.itemsize, true);
      scratch = pipeline.encode(copy, spec.dtype.itemsize);
      return scratch;
    } catch (const Error& e) {
      throw ValueError("zarr: " + where + ": cannot encode chunk '" + ckey + "': " + e.what());
    }
  }

  static std::vector<std::string> decode_string_chunk(const ZarrArraySpec& spec,
                                                      const Pipeline& pipeline,
                                                      std::span<const std::byte> data, index_t n,
                                                      const std::string& where,
                                                      const std::string& ckey) {
    try {
      if (spec.dtype.kind == ZarrKind::object) {
        return pipeline.object->decode(pipeline.decode(data), n);
      }
      const std::size_t is = spec.dtype.itemsize;
      const std::size_t bytes = static_cast<std::size_t>(n) * is;
      const auto buffer = allocate_chunk(bytes, "fixed-width strings");
      const std::span<std::byte> raw(buffer->data(), bytes);
      pipeline.decode_into(data, raw);
      std::vector<std::string> out;
      out.reserve(static_cast<std::size_t>(n));
      for (index_t i = 0; i < n; ++i) {
        const std::byte* p = raw.data() + static_cast<std::size_t>(i) * is;
        if (spec.dtype.kind == ZarrKind::fixed_unicode) {
          out.push_back(utf32_to_utf8(p, is / 4, spec.dtype.big_endian));
        } else {
          std::string s(reinterpret_cast<const char*>(p), is);
          while (!s.empty() && s.back() == '\0')
            s.pop_back();
          out.push_back(std::move(s));
        }
      }
      return out;
    } catch (const FormatError& e) {
      throw FormatError("zarr: " + where + ": cannot decode chunk '" + ckey + "': " + e.what());
    } catch (const std::bad_alloc&) {
      throw FormatError("zarr: " + where + ": cannot decode chunk '" + ckey + "': too large");
    }
  }

  std::shared_ptr<KeyValueStore> store_;
  std::string label_;
  std::string prefix_;
  bool writable_;
  std::shared_ptr<BufferPool> buffers_;
  std::shared_ptr<NodeCache> v3_;  // set for Zarr v3 stores
  std::shared_ptr<NodeCache> v2_;  // Zarr v2 opened read-only: the root's .zmetadata, by key
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Factories

namespace {

Json parse_document(const Bytes& bytes, const std::string& where) {
  return detail::parse_json_file(bytes, where);
}

// A Zarr v3 group at `prefix`: its zarr.json (node_type group), or, as old stores have it, no
// root zarr.json but children that have one. The root's inline consolidated metadata, when
// present, fills the node cache (opening costs one read); nullopt when this is not v3 at all.
std::unique_ptr<Group> open_v3(const std::shared_ptr<KeyValueStore>& store,
                               const std::string& label, bool writable, const std::string& prefix) {
  const auto at = [&](const std::string& file) {
    return prefix.empty() ? file : prefix + "/" + file;
  };
  auto cache = std::make_shared<NodeCache>();
  const std::optional<Bytes> root = store->get(at("zarr.json"));
  if (root) {
    const std::string where = store->describe(at("zarr.json"));
    const Json doc = parse_document(*root, where);
    if (!doc.is_object() || doc.value("zarr_format", Json()) != 3)
      throw FormatError("zarr: " + where + ": unsupported zarr_format (expected 3)");
    if (doc.value("node_type", Json()) != "group")
      throw FormatError("zarr: " + label + ":/" + prefix + " is an array, not a group");
    cache->put(at("zarr.json"), NodeCache::Entry{doc, true});
    const Json consolidated = doc.value("consolidated_metadata", Json());
    if (consolidated.is_object()) {
      if (consolidated.value("kind", Json("inline")) != "inline")
        throw FormatError("zarr: " + where + ": consolidated_metadata of kind " +
                          consolidated.value("kind", Json()).dump() + " is not supported (inline)");
      const Json metadata = consolidated.value("metadata", Json::object());
      if (!metadata.is_object())
        throw FormatError("zarr: " + where + ": consolidated_metadata.metadata must be an object");
      for (const auto& [path, node] : metadata.items()) {
        check_store_key(path);  // never a key outside the store
        if (!node.is_object() || node.value("zarr_format", Json()) != 3) {
          throw FormatError("zarr: " + where + ": consolidated metadata of '" + path +
                            "' is not a Zarr v3 node");
        }
        cache->put(at(path + "/zarr.json"), NodeCache::Entry{node, false});
      }
    }
  } else {
    bool children = false;
    for (const std::string& name : store->list(prefix)) {
      if (name.find_first_of(std::string("\\\0", 2)) == std::string::npos && name != "." &&
          name != ".." && store->contains(at(name + "/zarr.json")))
        children = true;
    }
    if (!children) return nullptr;
  }
  return std::make_unique<ZarrGroup>(store, label, prefix, writable, std::make_shared<BufferPool>(),
                                     std::move(cache));
}

}  // namespace

std::unique_ptr<Group> open_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                 bool writable, const std::string& prefix) {
  check_store_key(prefix, /*allow_empty=*/true);
  auto at = [&](const char* file) {
    return prefix.empty() ? std::string(file) : prefix + "/" + file;
  };
  const std::string where = label + ":/" + prefix;
  const std::optional<Bytes> zgroup = store->get(at(".zgroup"));
  if (!zgroup) {
    if (auto v3 = open_v3(store, label, writable, prefix)) return v3;
    std::string why;
    if (store->contains(at(".zarray"))) why = "; it is an array";
    throw FormatError("zarr: " + where + " is not a Zarr group (no " +
                      store->describe(at(".zgroup")) + " nor zarr.json)" + why);
  }
  const Json doc =
      Json::parse(std::string_view(reinterpret_cast<const char*>(zgroup->data()), zgroup->size()),
                  nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw FormatError("zarr: malformed JSON in " + store->describe(at(".zgroup")));
  }
  const auto format = doc.find("zarr_format");
  if (format == doc.end() || !format->is_number_integer() || format->get<std::int64_t>() != 2) {
    throw FormatError("zarr: " + store->describe(at(".zgroup")) + ": unsupported zarr_format " +
                      (format == doc.end() ? std::string("(missing)") : format->dump()) +
                      " (expected 2)");
  }
  std::shared_ptr<NodeCache> consolidated;
  if (!writable) {  // a store being written would make its .zmetadata stale
    if (const std::optional<Bytes> bytes = store->get(at(".zmetadata"))) {
      consolidated = std::make_shared<NodeCache>();
      const std::string meta_where = store->describe(at(".zmetadata"));
      const Json meta = parse_document(*bytes, meta_where);
      if (!meta.is_object() || !meta.contains("metadata") || !meta.at("metadata").is_object()) {
        throw FormatError("zarr: " + meta_where +
                          ": consolidated metadata needs a \"metadata\" object");
      }
      if (meta.value("zarr_consolidated_format", Json()) != 1) {
        throw FormatError("zarr: " + meta_where + ": zarr_consolidated_format " +
                          meta.value("zarr_consolidated_format", Json()).dump() +
                          " is not supported (1)");
      }
      for (const auto& [k, v] : meta.at("metadata").items()) {
        check_store_key(k);  // never a key outside the store
        const std::string file = k.substr(k.rfind('/') + 1);
        if (file != ".zgroup" && file != ".zarray" && file != ".zattrs") continue;
        consolidated->put(at(k.c_str()), NodeCache::Entry{v, false});
      }
    }
  }
  return std::make_unique<ZarrGroup>(std::move(store), label, prefix, writable,
                                     std::make_shared<BufferPool>(), nullptr,
                                     std::move(consolidated));
}

std::unique_ptr<Group> create_zarr(std::shared_ptr<KeyValueStore> store, const std::string& label,
                                   int zarr_format) {
  if (zarr_format != 2 && zarr_format != 3)
    throw ValueError("zarr: format " + std::to_string(zarr_format) + " (Tessera writes 2 or 3)");
  if (zarr_format == 3) {
    const Json root{{"zarr_format", 3}, {"node_type", "group"}, {"attributes", Json::object()}};
    const std::string text = detail::dump_json(root);
    store->set("zarr.json", std::as_bytes(std::span(text.data(), text.size())));
    auto cache = std::make_shared<NodeCache>();
    cache->put("zarr.json", NodeCache::Entry{root, true});
    return std::make_unique<ZarrGroup>(std::move(store), label, "", true,
                                       std::make_shared<BufferPool>(), std::move(cache));
  }
  const std::string text = detail::dump_json(Json{{"zarr_format", 2}});
  store->set(".zgroup", std::as_bytes(std::span(text.data(), text.size())));
  return std::make_unique<ZarrGroup>(std::move(store), label, "", true);
}

std::unique_ptr<Group> open_zarr(const std::filesystem::path& dir, bool writable) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw IoError("zarr: cannot open " + dir.string() + ": not a directory");
  }
  return open_zarr(std::make_shared<DirectoryStore>(dir), dir.string(), writable);
}

std::unique_ptr<Group> create_zarr(const std::filesystem::path& dir, bool overwrite,
                                   int zarr_format) {
  std::error_code ec;
  const auto status = std::filesystem::status(dir, ec);
  if (std::filesystem::exists(status)) {
    if (!std::filesystem::is_directory(status)) {
      throw IoError("zarr: cannot create " + dir.string() + ": a file of that name exists");
    }
    const bool empty = std::filesystem::is_empty(dir, ec);
    if (!empty) {
      const bool is_zarr = std::filesystem::exists(dir / ".zgroup", ec) ||
                           std::filesystem::exists(dir / ".zarray", ec) ||
                           std::filesystem::exists(dir / "zarr.json", ec);
      if (!is_zarr) {
        throw IoError("zarr: cannot create " + dir.string() +
                      ": a non-empty folder that is not a Zarr store exists there");
      }
      if (!overwrite) {
        throw IoError("zarr: cannot create " + dir.string() + ": a Zarr store exists there");
      }
      DirectoryStore(dir).erase_prefix("");
    }
  } else {
    std::filesystem::create_directories(dir, ec);
    if (ec) throw IoError("zarr: cannot create folder " + dir.string() + ": " + ec.message());
  }
  return create_zarr(std::make_shared<DirectoryStore>(dir), dir.string(), zarr_format);
}

std::unique_ptr<Group> memory_zarr(std::shared_ptr<MemoryStore>* store) {
  auto memory = std::make_shared<MemoryStore>();
  if (store != nullptr) *store = memory;
  return create_zarr(memory, "<memory>");
}

}  // namespace tessera::io
