// numcodecs' codecs, byte-compatible with numcodecs 0.11 (Debian's python3-numcodecs), and the
// registry that finds them by "id". This file is the one wrapper layer over libblosc, zlib and
// libzstd: their return codes are checked here and nowhere else.
//
// Adding a codec: write its class and one `const Registration` line below, in this file.
#include <blosc.h>
#include <sched.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"

namespace tessera::io::detail {
namespace {

// ---------------------------------------------------------------------------------------------
// Registry

struct Registry {
  std::mutex mutex;
  std::map<std::string, CodecFactory, std::less<>> codecs;
  std::map<std::string, ObjectCodecFactory, std::less<>> object_codecs;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::string codec_id(const Json& config) {
  if (!config.is_object()) {
    throw FormatError("codec config must be a JSON object, got " + config.dump());
  }
  const auto it = config.find("id");
  if (it == config.end() || !it->is_string()) {
    throw FormatError("codec config " + config.dump() + " has no string \"id\"");
  }
  return it->get<std::string>();
}

// Field readers: absent fields take numcodecs' defaults; present ones must have the right type.
std::int64_t int_field(const Json& config, const char* field, std::int64_t fallback) {
  const auto it = config.find(field);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    throw FormatError("codec '" + codec_id(config) + "': field \"" + field +
                      "\" must be an integer, got " + it->dump());
  }
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
      throw FormatError("codec '" + codec_id(config) + "': field \"" + field +
                        "\" out of range: " + it->dump());
    }
    return static_cast<std::int64_t>(u);
  }
  const auto v = it->get<std::int64_t>();
  if (v < std::numeric_limits<std::int32_t>::min() ||
      v > std::numeric_limits<std::int32_t>::max()) {
    throw FormatError("codec '" + codec_id(config) + "': field \"" + field +
                      "\" out of range: " + it->dump());
  }
  return v;
}

std::string string_field(const Json& config, const char* field, const std::string& fallback) {
  const auto it = config.find(field);
  if (it == config.end() || it->is_null()) return fallback;
  if (!it->is_string()) {
    throw FormatError("codec '" + codec_id(config) + "': field \"" + field +
                      "\" must be a string, got " + it->dump());
  }
  return it->get<std::string>();
}

// A growable output buffer for decoding data of unknown size.
class Growable {
 public:
  Growable(std::size_t initial, std::size_t limit, const char* codec)
      : limit_(limit), codec_(codec) {
    data_.resize(std::min(std::max<std::size_t>(initial, 4096), limit_));
  }
  // More room after `used` bytes; FormatError past the limit.
  std::span<std::byte> room(std::size_t used) {
    if (used == data_.size()) {
      if (data_.size() >= limit_) {
        throw FormatError(std::string(codec_) + ": data decodes to more than " +
                          std::to_string(limit_) + " bytes");
      }
      data_.resize(std::min(data_.size() * 2, limit_));
    }
    return std::span<std::byte>(data_).subspan(used);
  }
  std::vector<std::byte> finish(std::size_t used) {
    data_.resize(used);
    return std::move(data_);
  }

 private:
  std::vector<std::byte> data_;
  std::size_t limit_;
  const char* codec_;
};

// ---------------------------------------------------------------------------------------------
// Blosc, through the context API (thread-safe, no global state).

// Threads Blosc uses for one chunk: TESSERA_THREADS, else the CPUs this process may run on (under
// mpirun, the cores its rank is bound to). A rank encodes or decodes its chunks one at a time and
// chunks are big (the seed's are 128 MiB), so the rank's threads share each chunk's Blosc blocks,
// as numcodecs does with its global thread pool. Blosc splits a buffer into blocks of tens to
// hundreds of KiB and leaves threads idle when there are fewer blocks than threads.
int blosc_threads() {
  static const int threads = [] {
    constexpr int kMax = 64;
    if (const char* env = std::getenv("TESSERA_THREADS"); env != nullptr && *env != '\0') {
      const long n = std::strtol(env, nullptr, 10);
      if (n >= 1) return static_cast<int>(std::min<long>(n, kMax));
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    return std::clamp(CPU_COUNT(&set), 1, kMax);
  }();
  return threads;
}

class BloscCodec final : public ZarrCodec {
 public:
  explicit BloscCodec(const Json& config)
      : cname_(string_field(config, "cname", "lz4")),
        clevel_(static_cast<int>(int_field(config, "clevel", 5))),
        shuffle_(static_cast<int>(int_field(config, "shuffle", 1))),
        blocksize_(int_field(config, "blocksize", 0)) {
    // Values only matter for encoding (the Blosc header describes how a chunk was compressed),
    // so a file whose config names an odd value still reads; encode() checks them.
  }

  Json config() const override {
    return Json{{"id", "blosc"},
                {"cname", cname_},
                {"clevel", clevel_},
                {"shuffle", shuffle_},
                {"blocksize", blocksize_}};
  }

  std::vector<std::byte> encode(std::span<const std::byte> raw,
                                std::size_t typesize) const override {
    std::vector<std::byte> out;
    out.resize(encode_into(raw, typesize, out));
    return out;
  }

  std::size_t encode_into(std::span<const std::byte> raw, std::size_t typesize,
                          std::vector<std::byte>& out) const override {
    if (blosc_compname_to_compcode(cname_.c_str()) < 0) {
      throw ValueError("blosc: compressor '" + cname_ + "' is not available in this libblosc");
    }
    if (clevel_ < 0 || clevel_ > 9) {
      throw ValueError("blosc: clevel " + std::to_string(clevel_) + " outside 0..9");
    }
    if (shuffle_ < -1 || shuffle_ > 2) {
      throw ValueError("blosc: shuffle " + std::to_string(shuffle_) + " outside -1..2");
    }
    if (blocksize_ < 0) throw ValueError("blosc: negative blocksize");
    if (raw.size() > static_cast<std::size_t>(BLOSC_MAX_BUFFERSIZE)) {
      throw ValueError("blosc: a chunk of " + std::to_string(raw.size()) +
                       " bytes exceeds Blosc's limit of " + std::to_string(BLOSC_MAX_BUFFERSIZE) +
                       " bytes; use smaller chunks");
    }
    // numcodecs' AUTOSHUFFLE: bit shuffle for 1-byte items, byte shuffle otherwise.
    int shuffle = shuffle_;
    if (shuffle == -1) shuffle = typesize == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
    const std::size_t bound = raw.size() + BLOSC_MAX_OVERHEAD;
    if (out.size() < bound) out.resize(bound);
    // One thread: Blosc's threads append the compressed blocks in the order they finish, so a
    // chunk compressed by several would differ from run to run (and from rank count to rank
    // count). Decompression places blocks by their offsets and keeps the threads.
    const int n = blosc_compress_ctx(clevel_, shuffle, std::max<std::size_t>(typesize, 1),
                                     raw.size(), raw.data(), out.data(), bound, cname_.c_str(),
                                     static_cast<std::size_t>(blocksize_), 1);
    if (n <= 0) {
      throw ValueError("blosc: compression failed (code " + std::to_string(n) + ")");
    }
    return static_cast<std::size_t>(n);
  }

  void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const override {
    const std::size_t nbytes = checked_size(encoded);
    if (nbytes != out.size()) {
      throw FormatError("blosc: header says " + std::to_string(nbytes) +
                        " decoded bytes, expected " + std::to_string(out.size()));
    }
    run(encoded, out);
  }

  std::vector<std::byte> decode(std::span<const std::byte> encoded,
                                std::size_t limit) const override {
    const std::size_t nbytes = checked_size(encoded);
    if (nbytes > limit) {
      throw FormatError("blosc: header says " + std::to_string(nbytes) +
                        " decoded bytes, more than the limit of " + std::to_string(limit));
    }
    std::vector<std::byte> out(nbytes);
    run(encoded, out);
    return out;
  }

 private:
  // The decoded size from a header that agrees with the stored size, so decompression stays
  // inside both buffers (blosc_decompress_ctx takes no source length).
  static std::size_t checked_size(std::span<const std::byte> encoded) {
    if (encoded.size() < BLOSC_MIN_HEADER_LENGTH) {
      throw FormatError("blosc: " + std::to_string(encoded.size()) +
                        " bytes, shorter than the 16-byte Blosc header");
    }
    std::size_t nbytes = 0;
    std::size_t cbytes = 0;
    std::size_t blocksize = 0;
    blosc_cbuffer_sizes(encoded.data(), &nbytes, &cbytes, &blocksize);
    if (cbytes != encoded.size()) {
      throw FormatError("blosc: header says " + std::to_string(cbytes) + " compressed bytes, " +
                        std::to_string(encoded.size()) + " stored");
    }
    std::size_t validated = 0;
    if (blosc_cbuffer_validate(encoded.data(), encoded.size(), &validated) != 0 ||
        validated != nbytes) {
      throw FormatError("blosc: invalid header");
    }
    return nbytes;
  }

  static void run(std::span<const std::byte> encoded, std::span<std::byte> out) {
    if (out.empty()) return;
    const int n = blosc_decompress_ctx(encoded.data(), out.data(), out.size(), blosc_threads());
    if (n < 0 || static_cast<std::size_t>(n) != out.size()) {
      throw FormatError("blosc: corrupt data (decompression returned " + std::to_string(n) + ")");
    }
  }

  std::string cname_;
  int clevel_;
  int shuffle_;
  std::int64_t blocksize_;
};

// ---------------------------------------------------------------------------------------------
// zlib ("zlib": a zlib stream, as Python's zlib.compress) and gzip ("gzip": gzip members).

class DeflateCodec final : public ZarrCodec {
 public:
  DeflateCodec(const Json& config, bool gzip)
      : gzip_(gzip), level_(static_cast<int>(int_field(config, "level", 1))) {}

  Json config() const override { return Json{{"id", gzip_ ? "gzip" : "zlib"}, {"level", level_}}; }

  std::vector<std::byte> encode(std::span<const std::byte> raw, std::size_t) const override {
    if (level_ < -1 || level_ > 9) {
      throw ValueError(std::string(name()) + ": level " + std::to_string(level_) +
                       " outside -1..9");
    }
    z_stream zs{};
    if (deflateInit2(&zs, level_, Z_DEFLATED, gzip_ ? 16 + MAX_WBITS : MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      throw ValueError(std::string(name()) + ": deflateInit failed");
    }
    std::vector<std::byte> out(deflateBound(&zs, raw.size()) + 64);
    std::size_t in_done = 0;
    std::size_t out_done = 0;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      const std::size_t in_step = std::min<std::size_t>(raw.size() - in_done, UINT_MAX);
      const std::size_t out_step = std::min<std::size_t>(out.size() - out_done, UINT_MAX);
      // zlib's API is not const-correct: next_in is only read.
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(raw.data() + in_done));
      zs.avail_in = static_cast<uInt>(in_step);
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_done);
      zs.avail_out = static_cast<uInt>(out_step);
      const bool last = in_done + in_step == raw.size();
      rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
      in_done += in_step - zs.avail_in;
      out_done += out_step - zs.avail_out;
      if (rc == Z_STREAM_ERROR || (rc == Z_BUF_ERROR && out_done == out.size())) {
        deflateEnd(&zs);
        throw ValueError(std::string(name()) + ": compression failed");
      }
    }
    deflateEnd(&zs);
    out.resize(out_done);
    return out;
  }

  void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const override {
    const std::size_t n = inflate_all(encoded, out, nullptr);
    if (n != out.size()) {
      throw FormatError(std::string(name()) + ": data decodes to " + std::to_string(n) +
                        " bytes, expected " + std::to_string(out.size()));
    }
  }

  std::vector<std::byte> decode(std::span<const std::byte> encoded,
                                std::size_t limit) const override {
    Growable grow(encoded.size() * 4, limit, name());
    const std::size_t n = inflate_all(encoded, {}, &grow);
    return grow.finish(n);
  }

 private:
  const char* name() const { return gzip_ ? "gzip" : "zlib"; }

  // Inflates every gzip member (gzip) or the one zlib stream (zlib; trailing bytes are ignored,
  // as Python's zlib.decompress does) into `fixed`, or into `grow` when given. With a fixed
  // output, decoding more than fits is reported as one byte more than its size.
  std::size_t inflate_all(std::span<const std::byte> in, std::span<std::byte> fixed,
                          Growable* grow) const {
    z_stream zs{};
    if (inflateInit2(&zs, gzip_ ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
      throw FormatError(std::string(name()) + ": inflateInit failed");
    }
    struct End {
      z_stream* zs;
      ~End() { inflateEnd(zs); }
    } end{&zs};
    std::size_t in_done = 0;
    std::size_t out_done = 0;
    std::byte overflow[1];
    while (true) {
      std::span<std::byte> room;
      if (grow != nullptr) {
        room = grow->room(out_done);
      } else if (out_done < fixed.size()) {
        room = fixed.subspan(out_done);
      } else {
        room = std::span<std::byte>(overflow, 1);
      }
      const std::size_t in_step = std::min<std::size_t>(in.size() - in_done, UINT_MAX);
      const std::size_t out_step = std::min<std::size_t>(room.size(), UINT_MAX);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data() + in_done));
      zs.avail_in = static_cast<uInt>(in_step);
      zs.next_out = reinterpret_cast<Bytef*>(room.data());
      zs.avail_out = static_cast<uInt>(out_step);
      const int rc = inflate(&zs, Z_NO_FLUSH);
      in_done += in_step - zs.avail_in;
      const std::size_t produced = out_step - zs.avail_out;
      if (grow == nullptr && out_done >= fixed.size() && produced > 0) {
        return fixed.size() + 1;  // more data than expected
      }
      out_done += produced;
      if (rc == Z_STREAM_END) {
        // gzip: further members may follow, and zero padding (ignored, as Python's gzip does).
        if (gzip_) {
          while (in_done < in.size() && in[in_done] == std::byte{0})
            ++in_done;
        }
        if (!gzip_ || in_done == in.size()) return out_done;
        if (inflateReset(&zs) != Z_OK) {
          throw FormatError(std::string(name()) + ": inflateReset failed");
        }
        continue;
      }
      if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR) {
        throw FormatError(std::string(name()) + ": corrupt data" +
                          (zs.msg != nullptr ? std::string(" (") + zs.msg + ")" : std::string()));
      }
      if ((rc == Z_BUF_ERROR || produced == 0) && in_done == in.size()) {
        throw FormatError(std::string(name()) + ": truncated data");
      }
    }
  }

  bool gzip_;
  int level_;
};

// ---------------------------------------------------------------------------------------------
// Zstandard.

class ZstdCodec final : public ZarrCodec {
 public:
  explicit ZstdCodec(const Json& config) : level_(static_cast<int>(int_field(config, "level", 1))) {
    // numcodecs >= 0.12 adds "checksum"; frames carry their own checksum flag, so it only
    // matters when encoding and is accepted when present.
    const auto it = config.find("checksum");
    if (it != config.end() && !it->is_boolean() && !it->is_null()) {
      throw FormatError("codec 'zstd': field \"checksum\" must be a boolean, got " + it->dump());
    }
    checksum_ = it != config.end() && it->is_boolean() && it->get<bool>();
  }

  Json config() const override {
    Json c{{"id", "zstd"}, {"level", level_}};
    if (checksum_) c["checksum"] = true;
    return c;
  }

  std::vector<std::byte> encode(std::span<const std::byte> raw, std::size_t) const override {
    if (level_ < ZSTD_minCLevel() || level_ > ZSTD_maxCLevel()) {
      throw ValueError("zstd: level " + std::to_string(level_) + " outside " +
                       std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()));
    }
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    if (cctx == nullptr) throw std::bad_alloc();
    struct Free {
      ZSTD_CCtx* c;
      ~Free() { ZSTD_freeCCtx(c); }
    } free_ctx{cctx};
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level_);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, checksum_ ? 1 : 0);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);  // numcodecs needs the size
    std::vector<std::byte> out(ZSTD_compressBound(raw.size()));
    const std::size_t n = ZSTD_compress2(cctx, out.data(), out.size(), raw.data(), raw.size());
    if (ZSTD_isError(n) != 0U) {
      throw ValueError(std::string("zstd: compression failed: ") + ZSTD_getErrorName(n));
    }
    out.resize(n);
    return out;
  }

  void decode_into(std::span<const std::byte> encoded, std::span<std::byte> out) const override {
    const unsigned long long declared = ZSTD_getFrameContentSize(encoded.data(), encoded.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR) throw FormatError("zstd: not a Zstandard frame");
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > out.size()) {
      throw FormatError("zstd: frame says " + std::to_string(declared) +
                        " decoded bytes, expected " + std::to_string(out.size()));
    }
    const std::size_t n = ZSTD_decompress(out.data(), out.size(), encoded.data(), encoded.size());
    if (ZSTD_isError(n) != 0U) {
      throw FormatError(std::string("zstd: corrupt data: ") + ZSTD_getErrorName(n) + " (expected " +
                        std::to_string(out.size()) + " decoded bytes)");
    }
    if (n != out.size()) {
      throw FormatError("zstd: data decodes to " + std::to_string(n) + " bytes, expected " +
                        std::to_string(out.size()));
    }
  }

  std::vector<std::byte> decode(std::span<const std::byte> encoded,
                                std::size_t limit) const override {
    const unsigned long long declared = ZSTD_getFrameContentSize(encoded.data(), encoded.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR) throw FormatError("zstd: not a Zstandard frame");
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > limit) {
      throw FormatError("zstd: frame says " + std::to_string(declared) +
                        " decoded bytes, more than the limit of " + std::to_string(limit));
    }
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (dctx == nullptr) throw std::bad_alloc();
    struct Free {
      ZSTD_DCtx* d;
      ~Free() { ZSTD_freeDCtx(d); }
    } free_ctx{dctx};
    Growable grow(declared != ZSTD_CONTENTSIZE_UNKNOWN ? static_cast<std::size_t>(declared) + 1
                                                       : encoded.size() * 4,
                  limit, "zstd");
    ZSTD_inBuffer in{encoded.data(), encoded.size(), 0};
    std::size_t used = 0;
    std::size_t rc = 1;
    while (true) {
      const std::span<std::byte> room = grow.room(used);
      ZSTD_outBuffer out{room.data(), room.size(), 0};
      rc = ZSTD_decompressStream(dctx, &out, &in);
      if (ZSTD_isError(rc) != 0U) {
        throw FormatError(std::string("zstd: corrupt data: ") + ZSTD_getErrorName(rc));
      }
      used += out.pos;
      if (in.pos == in.size && out.pos < out.size) break;  // all input consumed, output flushed
    }
    if (rc != 0) throw FormatError("zstd: truncated data");
    return grow.finish(used);
  }

 private:
  int level_;
  bool checksum_ = false;
};

// ---------------------------------------------------------------------------------------------
// vlen-utf8 / vlen-bytes: a little-endian uint32 item count, then per item a uint32 byte length
// and the bytes (numcodecs.vlen). None items of a padded edge chunk are written as "".

std::uint32_t load_u32(const std::byte* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

void store_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFFU);
}

class VLenCodec final : public ZarrObjectCodec {
 public:
  explicit VLenCodec(bool utf8) : utf8_(utf8) {}

  Json config() const override { return Json{{"id", utf8_ ? "vlen-utf8" : "vlen-bytes"}}; }

  std::vector<std::byte> encode(std::span<const std::string> values) const override {
    if (values.size() > std::numeric_limits<std::uint32_t>::max()) {
      throw ValueError(std::string(name()) + ": more than 2^32-1 items in one chunk");
    }
    std::size_t total = 4;
    for (const std::string& s : values) {
      if (s.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw ValueError(std::string(name()) + ": a string of 4 GiB or more");
      }
      if (utf8_ && !is_valid_utf8(s)) {
        throw ValueError(std::string(name()) + ": string is not valid UTF-8");
      }
      total += 4 + s.size();
    }
    std::vector<std::byte> out(total);
    std::byte* p = out.data();
    store_u32(p, static_cast<std::uint32_t>(values.size()));
    p += 4;
    for (const std::string& s : values) {
      store_u32(p, static_cast<std::uint32_t>(s.size()));
      p += 4;
      if (!s.empty()) std::memcpy(p, s.data(), s.size());
      p += s.size();
    }
    return out;
  }

  std::vector<std::string> decode(std::span<const std::byte> encoded,
                                  index_t count) const override {
    if (encoded.size() < 4) {
      throw FormatError(std::string(name()) + ": " + std::to_string(encoded.size()) +
                        " bytes, missing or truncated header");
    }
    const std::uint32_t n = load_u32(encoded.data());
    if (static_cast<index_t>(n) != count) {
      throw FormatError(std::string(name()) + ": " + std::to_string(n) + " items, expected " +
                        std::to_string(count));
    }
    // Each item takes at least its 4-byte length: a count the data cannot hold is refused before
    // anything is allocated for it.
    if (static_cast<std::size_t>(n) > (encoded.size() - 4) / 4) {
      throw FormatError(std::string(name()) + ": " + std::to_string(n) + " items cannot fit in " +
                        std::to_string(encoded.size()) + " bytes");
    }
    std::vector<std::string> out;
    out.reserve(n);
    std::size_t pos = 4;
    for (std::uint32_t i = 0; i < n; ++i) {
      if (encoded.size() - pos < 4) {
        throw FormatError(std::string(name()) + ": data truncated at item " + std::to_string(i));
      }
      const std::uint32_t len = load_u32(encoded.data() + pos);
      pos += 4;
      if (encoded.size() - pos < len) {
        throw FormatError(std::string(name()) + ": item " + std::to_string(i) + " of " +
                          std::to_string(len) + " bytes runs past the data");
      }
      out.emplace_back(reinterpret_cast<const char*>(encoded.data() + pos), len);
      pos += len;
      if (utf8_ && !is_valid_utf8(out.back())) {
        throw FormatError(std::string(name()) + ": item " + std::to_string(i) +
                          " is not valid UTF-8");
      }
    }
    return out;
  }

 private:
  const char* name() const { return utf8_ ? "vlen-utf8" : "vlen-bytes"; }
  bool utf8_;
};

// ---------------------------------------------------------------------------------------------
// The built-in registrations.

struct Registration {
  Registration(const char* id, CodecFactory factory) { register_codec(id, std::move(factory)); }
  Registration(const char* id, ObjectCodecFactory factory) {
    register_object_codec(id, std::move(factory));
  }
};

const Registration blosc_registration("blosc", CodecFactory([](const Json& c) {
                                        return std::make_unique<BloscCodec>(c);
                                      }));
const Registration zlib_registration("zlib", CodecFactory([](const Json& c) {
                                       return std::make_unique<DeflateCodec>(c, false);
                                     }));
const Registration gzip_registration("gzip", CodecFactory([](const Json& c) {
                                       return std::make_unique<DeflateCodec>(c, true);
                                     }));
const Registration zstd_registration("zstd", CodecFactory([](const Json& c) {
                                       return std::make_unique<ZstdCodec>(c);
                                     }));
const Registration vlen_utf8_registration("vlen-utf8", ObjectCodecFactory([](const Json&) {
                                            return std::make_unique<VLenCodec>(true);
                                          }));
const Registration vlen_bytes_registration("vlen-bytes", ObjectCodecFactory([](const Json&) {
                                             return std::make_unique<VLenCodec>(false);
                                           }));

}  // namespace

void register_codec(std::string id, CodecFactory factory) {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.codecs.insert_or_assign(std::move(id), std::move(factory));
}

void register_object_codec(std::string id, ObjectCodecFactory factory) {
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  r.object_codecs.insert_or_assign(std::move(id), std::move(factory));
}

bool is_object_codec(const Json& config) {
  const std::string id = codec_id(config);
  Registry& r = registry();
  const std::lock_guard lock(r.mutex);
  return r.object_codecs.contains(id);
}

std::unique_ptr<ZarrCodec> make_codec(const Json& config) {
  const std::string id = codec_id(config);
  CodecFactory factory;
  {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    const auto it = r.codecs.find(id);
    if (it == r.codecs.end()) {
      if (r.object_codecs.contains(id)) {
        throw FormatError("codec '" + id +
                          "' encodes strings and can only be the first filter of "
                          "a \"|O\" array");
      }
      throw FormatError("unknown codec '" + id + "' (supported: blosc, zlib, gzip, zstd)");
    }
    factory = it->second;
  }
  return factory(config);
}

std::unique_ptr<ZarrObjectCodec> make_object_codec(const Json& config) {
  const std::string id = codec_id(config);
  ObjectCodecFactory factory;
  {
    Registry& r = registry();
    const std::lock_guard lock(r.mutex);
    const auto it = r.object_codecs.find(id);
    if (it == r.object_codecs.end()) {
      throw FormatError("unknown object codec '" + id + "' (supported: vlen-utf8, vlen-bytes)");
    }
    factory = it->second;
  }
  return factory(config);
}

Json compressor_config(const Compression& compression) {
  switch (compression.codec) {
    case Codec::none:
      return nullptr;
    case Codec::blosc: {
      if (blosc_compname_to_compcode(compression.cname.c_str()) < 0) {
        throw ValueError("blosc compressor '" + compression.cname +
                         "' is not available (libblosc has: " + blosc_list_compressors() + ")");
      }
      if (compression.level < 0 || compression.level > 9) {
        throw ValueError("blosc level " + std::to_string(compression.level) + " outside 0..9");
      }
      if (compression.shuffle < -1 || compression.shuffle > 2) {
        throw ValueError("blosc shuffle " + std::to_string(compression.shuffle) +
                         " outside -1..2 (auto, none, byte, bit)");
      }
      return Json{{"id", "blosc"},
                  {"cname", compression.cname},
                  {"clevel", compression.level},
                  {"shuffle", compression.shuffle},
                  {"blocksize", 0}};
    }
    case Codec::zlib:
      if (compression.level < -1 || compression.level > 9) {
        throw ValueError("zlib level " + std::to_string(compression.level) + " outside -1..9");
      }
      return Json{{"id", "zlib"}, {"level", compression.level}};
    case Codec::zstd:
      if (compression.level < ZSTD_minCLevel() || compression.level > ZSTD_maxCLevel()) {
        throw ValueError("zstd level " + std::to_string(compression.level) + " outside " +
                         std::to_string(ZSTD_minCLevel()) + ".." +
                         std::to_string(ZSTD_maxCLevel()));
      }
      return Json{{"id", "zstd"}, {"level", compression.level}};
  }
  throw ValueError("unknown compression codec " +
                   std::to_string(static_cast<int>(compression.codec)));
}

bool is_valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0U) == 0xC0U) {
      len = 2;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      len = 3;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      len = 4;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0U) != 0x80U) return false;
      cp = (cp << 6) | (s[i + k] & 0x3FU);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) {
      return false;  // overlong
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace tessera::io::detail
