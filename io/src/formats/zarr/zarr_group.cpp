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

#include "formats/zarr/caches.hpp"
#include "formats/zarr/chunk_layout.hpp"
#include "formats/zarr/json_files.hpp"
#include "formats/zarr/pipeline.hpp"
#include "formats/zarr/sharding.hpp"
#include "formats/zarr/zarr_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/detail/zarr_metadata.hpp"
#include "tessera/io/zarr_store.hpp"
#include "tessera/io/zip_store.hpp"

namespace tessera::io {
namespace {

using detail::allocate_chunk;
using detail::byteswap_all;
using detail::ceil_div;
using detail::chunk_end;
using detail::ChunkBufferPool;
using detail::Dims;
using detail::dims_of;
using detail::dims_text;
using detail::fill_items;
using detail::NodeCache;
using detail::Pipeline;
using detail::transpose_bytes;
using detail::utf32_to_utf8;
using detail::utf8_to_utf32;
using detail::ZarrArraySpec;
using detail::ZarrCodec;
using detail::ZarrKind;
using detail::ZarrObjectCodec;

// Elements per string chunk that write_strings aims at (one chunk for all but huge arrays).
constexpr index_t kStringChunkElements = index_t{1} << 20;

// ---------------------------------------------------------------------------------------------

class ZarrGroup final : public Group {
 public:
  ZarrGroup(std::shared_ptr<KeyValueStore> store, std::string label, std::string prefix,
            bool writable,
            std::shared_ptr<ChunkBufferPool> buffers = std::make_shared<ChunkBufferPool>(),
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
      // The node's own zarr.json wins over a consolidated copy (which may be stale).
      const std::optional<Json> doc = array.empty() ? own_node() : node(array, /*own=*/true);
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
    std::optional<Json> doc = read_json(k);  // the node's own attributes win over .zmetadata
    if (!doc) doc = v2_json(k);
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
      const std::string ckey = chunk_label(spec, 0, c);
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
      const std::string ckey = chunk_label(spec, cr0, cc0);
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
        const std::string ckey = chunk_label(spec, cr, cc);
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
          const std::string ckey = chunk_label(spec, cr, cc);
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
    ChunkBufferPool::Held encoded(*buffers_);

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
          decode_chunk(spec, pipeline, *existing, raw, where, "chunk '" + ckey + "'");
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
  std::optional<Json> own_node() const { return node_at(key("zarr.json"), true); }

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

  // Chunk (cr, cc) as error messages name it: its key, or for a sharded array the shard's key
  // and the inner chunk's place in it (the object a user can find on disk).
  static std::string chunk_label(const ZarrArraySpec& spec, index_t cr, index_t cc) {
    if (spec.shard.empty()) return "chunk '" + spec.chunk_key(cr, cc) + "'";
    const Dims inner = dims_of(spec.chunks);
    const Dims outer = dims_of(spec.shard);
    const index_t per_rows = outer.rows / inner.rows, per_cols = outer.cols / inner.cols;
    // Built by appending: GCC 12 warns (wrongly, -Wrestrict) on "(" + std::string.
    std::string label = "inner chunk (";
    if (spec.shape.size() == 2) label.append(std::to_string(cr % per_rows)).append(", ");
    label.append(std::to_string(cc % per_cols)).append(spec.shape.size() == 2 ? ")" : ",)");
    label.append(" of shard '").append(spec.chunk_key(cr / per_rows, cc / per_cols)).append("'");
    return label;
  }

  // The stored bytes of chunk (cr, cc), nullopt when it is missing (it reads as the fill value).
  // Sharded arrays: the shard's index, then only this inner chunk, by byte range.
  std::optional<Bytes> fetch(const ZarrArraySpec& spec, const std::string& name, index_t cr,
                             index_t cc) const {
    if (spec.shard.empty()) return store_->get(key(name, spec.chunk_key(cr, cc)));
    const auto [per_rows, per_cols] = detail::inner_per_shard(spec);
    const std::string skey = key(name, spec.chunk_key(cr / per_rows, cc / per_cols));
    const std::shared_ptr<const detail::ShardIndex> index = shard_index(skey, spec);
    if (!index) return std::nullopt;  // a missing shard: every inner chunk is fill
    const auto entry = static_cast<std::size_t>((cr % per_rows) * per_cols + cc % per_cols);
    const auto range = index->range(entry);
    if (!range) return std::nullopt;
    return store_->get_range(skey, range->first, range->second);
  }

  // The index of the shard at `skey`, read once per group while it is used (a box of many inner
  // chunks reads it once, not once per inner chunk); nullptr for a missing shard.
  std::shared_ptr<const detail::ShardIndex> shard_index(const std::string& skey,
                                                        const ZarrArraySpec& spec) const {
    {
      const std::lock_guard lock(shard_mutex_);
      if (auto it = shard_indexes_.find(skey); it != shard_indexes_.end()) return it->second;
    }
    std::optional<detail::ShardIndex> read = detail::ShardIndex::read(*store_, skey, spec);
    auto index = read ? std::make_shared<const detail::ShardIndex>(std::move(*read)) : nullptr;
    const std::lock_guard lock(shard_mutex_);
    if (shard_indexes_.size() >= kShardIndexesKept) shard_indexes_.clear();
    shard_indexes_[skey] = index;
    return index;
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
    ChunkBufferPool::Held encoded(*buffers_);
    ChunkBufferPool::Held assembled(*buffers_);  // the shard being built, reused shard by shard
    for (index_t sr = start.rows / shard.rows; sr * shard.rows < start.rows + count.rows; ++sr) {
      for (index_t sc = start.cols / shard.cols; sc * shard.cols < start.cols + count.cols; ++sc) {
        detail::ShardBuilder shard_object(
            assembled.bytes(), static_cast<std::size_t>(per_rows * per_cols) * (chunk_bytes + 16) + 4);
        for (index_t ir = 0; ir < per_rows; ++ir) {
          for (index_t ic = 0; ic < per_cols; ++ic) {
            const index_t r0 = (sr * per_rows + ir) * inner.rows;
            const index_t c0 = (sc * per_cols + ic) * inner.cols;
            if (r0 >= shape.rows || c0 >= shape.cols) {
              shard_object.skip();
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
            shard_object.add(
                encode_chunk(spec, pipeline, raw, inner, where, ckey, encoded.bytes()));
          }
        }
        const std::string skey = key(name, spec.chunk_key(sr, sc));
        store_->set(skey, shard_object.finish());
        const std::lock_guard lock(shard_mutex_);
        shard_indexes_.erase(skey);
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
      throw FormatError("zarr: " + where + ": cannot decode " + ckey + ": " + e.what());
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
      throw FormatError("zarr: " + where + ": cannot decode " + ckey + ": " + e.what());
    } catch (const std::bad_alloc&) {
      throw FormatError("zarr: " + where + ": cannot decode " + ckey + ": too large");
    }
  }

  std::shared_ptr<KeyValueStore> store_;
  std::string label_;
  std::string prefix_;
  bool writable_;
  std::shared_ptr<ChunkBufferPool> buffers_;
  std::shared_ptr<NodeCache> v3_;  // set for Zarr v3 stores
  std::shared_ptr<NodeCache> v2_;  // Zarr v2 opened read-only: the root's .zmetadata, by key
  // Shard indexes read lately, by shard key (cleared when full; a shard written drops its own).
  static constexpr std::size_t kShardIndexesKept = 1024;
  mutable std::mutex shard_mutex_;
  mutable std::map<std::string, std::shared_ptr<const detail::ShardIndex>> shard_indexes_;
};

}  // namespace

namespace detail {

std::unique_ptr<Group> make_zarr_group(std::shared_ptr<KeyValueStore> store, std::string label,
                                       std::string prefix, bool writable,
                                       std::shared_ptr<ChunkBufferPool> buffers,
                                       std::shared_ptr<NodeCache> v3,
                                       std::shared_ptr<NodeCache> v2) {
  return std::make_unique<ZarrGroup>(std::move(store), std::move(label), std::move(prefix),
                                     writable, std::move(buffers), std::move(v3), std::move(v2));
}

}  // namespace detail
}  // namespace tessera::io
