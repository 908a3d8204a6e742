// The codec registry: every codec round-trips, refuses corrupt input with FormatError (never a
// crash), and validates its JSON config.
#include <gtest/gtest.h>

#include <zstd.h>

#include <cctype>
#include <cstring>
#include <random>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "zarr_test_util.hpp"

namespace tessera::io::detail {
namespace {

std::vector<std::byte> sample_bytes(std::size_t n, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  // Compressible: runs of small values with some noise.
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>((i / 64) % 7 + ((rng() % 5 == 0) ? rng() % 256 : 0));
  }
  return out;
}

std::vector<Json> all_configs() {
  std::vector<Json> configs;
  for (const char* cname : {"lz4", "lz4hc", "blosclz", "zstd", "zlib"}) {
    for (int shuffle : {-1, 0, 1, 2}) {
      configs.push_back(Json{{"id", "blosc"},
                             {"cname", cname},
                             {"clevel", 5},
                             {"shuffle", shuffle},
                             {"blocksize", 0}});
    }
  }
  configs.push_back(
      Json{{"id", "blosc"}, {"cname", "lz4"}, {"clevel", 9}, {"shuffle", 1}, {"blocksize", 256}});
  configs.push_back(Json{{"id", "zlib"}, {"level", 1}});
  configs.push_back(Json{{"id", "zlib"}, {"level", 9}});
  configs.push_back(Json{{"id", "gzip"}, {"level", 5}});
  configs.push_back(Json{{"id", "zstd"}, {"level", 1}});
  configs.push_back(Json{{"id", "zstd"}, {"level", 19}, {"checksum", true}});
  return configs;
}

class CodecRoundTrip : public ::testing::TestWithParam<Json> {};

TEST_P(CodecRoundTrip, EncodeDecode) {
  const auto codec = make_codec(GetParam());
  EXPECT_EQ(codec->config(), GetParam());
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{300001}}) {
    for (std::size_t typesize : {std::size_t{1}, std::size_t{4}, std::size_t{8}}) {
      const auto raw = sample_bytes(n, static_cast<unsigned>(n + typesize));
      const auto enc = codec->encode(raw, typesize);
      std::vector<std::byte> out(n);
      codec->decode_into(enc, out);
      EXPECT_EQ(out, raw) << GetParam().dump() << " n=" << n;
      EXPECT_EQ(codec->decode(enc, kMaxUnsizedDecodeBytes), raw);
      // A wrong expected size is refused, both smaller and larger.
      std::vector<std::byte> bigger(n + 1);
      EXPECT_THROW(codec->decode_into(enc, bigger), FormatError);
      if (n > 0) {
        std::vector<std::byte> smaller(n - 1);
        EXPECT_THROW(codec->decode_into(enc, smaller), FormatError);
      }
    }
  }
}

TEST_P(CodecRoundTrip, CorruptInputNeverCrashes) {
  const auto codec = make_codec(GetParam());
  const auto raw = sample_bytes(20000, 7);
  const auto enc = codec->encode(raw, 4);
  std::vector<std::byte> out(raw.size());
  // Truncations.
  for (std::size_t keep : {std::size_t{0}, std::size_t{3}, std::size_t{15}, std::size_t{16},
                           enc.size() / 2, enc.size() - 1}) {
    if (keep >= enc.size()) continue;
    std::vector<std::byte> cut(enc.begin(), enc.begin() + static_cast<std::ptrdiff_t>(keep));
    EXPECT_THROW(codec->decode_into(cut, out), FormatError)
        << GetParam().dump() << " keep " << keep;
    EXPECT_THROW((void)codec->decode(cut, kMaxUnsizedDecodeBytes), FormatError);
  }
  // Random corruption: FormatError or some bytes, but no crash and no read outside the data.
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::byte> bad = enc;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      bad[rng() % bad.size()] = static_cast<std::byte>(rng() % 256);
    }
    try {
      codec->decode_into(bad, out);
    } catch (const FormatError&) {
    }
    try {
      (void)codec->decode(bad, 1 << 20);
    } catch (const FormatError&) {
    }
  }
  // Garbage.
  for (std::size_t n : {std::size_t{1}, std::size_t{16}, std::size_t{100}, std::size_t{5000}}) {
    std::vector<std::byte> junk(n);
    for (auto& b : junk)
      b = static_cast<std::byte>(rng() % 256);
    try {
      codec->decode_into(junk, out);
    } catch (const FormatError&) {
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, CodecRoundTrip, ::testing::ValuesIn(all_configs()),
                         [](const auto& info) {
                           std::string s = info.param["id"].template get<std::string>();
                           for (const auto& [k, v] : info.param.items()) {
                             if (k == "id") continue;
                             s += "_" + k + "_" +
                                  (v.is_string() ? v.template get<std::string>() : v.dump());
                           }
                           for (char& c : s) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return s + "_" + std::to_string(info.index);
                         });

TEST(Blosc, HeaderSizeIsCheckedBeforeDecompressing) {
  const auto codec = make_codec(Json{{"id", "blosc"}, {"cname", "lz4"}});
  const auto raw = sample_bytes(1000);
  auto enc = codec->encode(raw, 8);
  std::vector<std::byte> out(999);
  try {
    codec->decode_into(enc, out);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("header says 1000"), std::string::npos) << e.what();
  }
  // A header claiming more compressed bytes than stored (would make Blosc read past the data).
  enc[12] = std::byte{0xFF};
  enc[13] = std::byte{0xFF};
  std::vector<std::byte> ok(1000);
  EXPECT_THROW(codec->decode_into(enc, ok), FormatError);
}

TEST(Blosc, DefaultsFillMissingFields) {
  const auto codec = make_codec(Json{{"id", "blosc"}});
  EXPECT_EQ(
      codec->config(),
      (Json{{"id", "blosc"}, {"cname", "lz4"}, {"clevel", 5}, {"shuffle", 1}, {"blocksize", 0}}));
}

TEST(Zstd, FrameWithoutContentSizeDecodes) {
  // Python's zstandard or streaming writers may leave the size out of the frame header.
  const auto codec = make_codec(Json{{"id", "zstd"}, {"level", 3}});
  const auto raw = sample_bytes(5000);
  // Build a frame without the content size through the streaming API.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  std::vector<std::byte> enc(ZSTD_compressBound(raw.size()));
  ZSTD_outBuffer o{enc.data(), enc.size(), 0};
  ZSTD_inBuffer i{raw.data(), raw.size(), 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &o, &i, ZSTD_e_end), 0U);
  ZSTD_freeCCtx(cctx);
  enc.resize(o.pos);
  EXPECT_EQ(ZSTD_getFrameContentSize(enc.data(), enc.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  std::vector<std::byte> out(raw.size());
  codec->decode_into(enc, out);
  EXPECT_EQ(out, raw);
  EXPECT_EQ(codec->decode(enc, kMaxUnsizedDecodeBytes), raw);
  EXPECT_THROW((void)codec->decode(enc, 100), FormatError);  // past the limit
}

TEST(Gzip, SeveralMembersAndZeroPadding) {
  const auto codec = make_codec(Json{{"id", "gzip"}, {"level", 5}});
  const auto a = sample_bytes(300, 1);
  const auto b = sample_bytes(500, 2);
  auto enc = codec->encode(a, 1);
  const auto enc_b = codec->encode(b, 1);
  enc.insert(enc.end(), enc_b.begin(), enc_b.end());
  enc.insert(enc.end(), 8, std::byte{0});
  std::vector<std::byte> joined = a;
  joined.insert(joined.end(), b.begin(), b.end());
  EXPECT_EQ(codec->decode(enc, kMaxUnsizedDecodeBytes), joined);
}

TEST(Zlib, DecompressionBombStopsAtTheLimit) {
  const auto codec = make_codec(Json{{"id", "zlib"}, {"level", 9}});
  const std::vector<std::byte> zeros(10 << 20);
  const auto enc = codec->encode(zeros, 1);
  EXPECT_LT(enc.size(), 20000U);
  EXPECT_THROW((void)codec->decode(enc, 1 << 20), FormatError);
}

TEST(VLenUtf8, ByteLayoutOfNumcodecs) {
  // numcodecs.VLenUTF8().encode(['a', 'bc', None, 'é']) (None is written as "").
  const auto codec = make_object_codec(Json{{"id", "vlen-utf8"}});
  const std::vector<std::string> values = {"a", "bc", "", "\xc3\xa9"};
  const auto enc = codec->encode(values);
  const std::string expected("\x04\0\0\0\x01\0\0\0a\x02\0\0\0bc\0\0\0\0\x02\0\0\0\xc3\xa9", 25);
  ASSERT_EQ(enc.size(), expected.size());
  EXPECT_EQ(std::memcmp(enc.data(), expected.data(), expected.size()), 0);
  EXPECT_EQ(codec->decode(enc, 4), values);
}

TEST(VLenUtf8, CorruptDataIsRefused) {
  const auto codec = make_object_codec(Json{{"id", "vlen-utf8"}});
  const auto enc = codec->encode(std::vector<std::string>{"hello", "world"});
  EXPECT_THROW((void)codec->decode(enc, 3), FormatError);  // wrong count
  for (std::size_t keep = 0; keep < enc.size(); ++keep) {
    std::vector<std::byte> cut(enc.begin(), enc.begin() + static_cast<std::ptrdiff_t>(keep));
    EXPECT_THROW((void)codec->decode(cut, 2), FormatError) << keep;
  }
  // A huge count in a tiny buffer is refused before allocating.
  std::vector<std::byte> huge = {std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0x7F},
                                 std::byte{0}};
  EXPECT_THROW((void)codec->decode(huge, 0x7FFFFFFF), FormatError);
  // A length running past the end.
  std::vector<std::byte> long_item = enc;
  long_item[4] = std::byte{0xFF};
  EXPECT_THROW((void)codec->decode(long_item, 2), FormatError);
  // Invalid UTF-8 is refused by vlen-utf8 but fine for vlen-bytes.
  const auto bytes_codec = make_object_codec(Json{{"id", "vlen-bytes"}});
  const auto enc_bad = bytes_codec->encode(std::vector<std::string>{"\xff\xfe"});
  EXPECT_THROW((void)codec->decode(enc_bad, 1), FormatError);
  EXPECT_EQ(bytes_codec->decode(enc_bad, 1), std::vector<std::string>{"\xff\xfe"});
  EXPECT_THROW((void)codec->encode(std::vector<std::string>{"\xc0\x80"}), ValueError);
}

TEST(Registry, UnknownIdsAndBadFieldsAreFormatErrors) {
  EXPECT_TRUE(test::throws_with<FormatError>(
      [] {
        (void)make_codec(Json{{"id", "lzma"}});
      },
      {"unknown codec 'lzma'"}));
  EXPECT_TRUE(test::throws_with<FormatError>(
      [] {
        (void)make_object_codec(Json{{"id", "json2"}});
      },
      {"json2"}));
  EXPECT_THROW((void)make_codec(Json{{"id", "vlen-utf8"}}), FormatError);
  EXPECT_THROW((void)make_codec(Json("blosc")), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"cname", "lz4"}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", 5}}), FormatError);
  EXPECT_TRUE(test::throws_with<FormatError>(
      [] {
        (void)make_codec(Json{{"id", "blosc"}, {"clevel", "5"}});
      },
      {"clevel"}));
  EXPECT_THROW((void)make_codec(Json{{"id", "blosc"}, {"cname", 4}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "blosc"}, {"shuffle", 1.5}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "blosc"}, {"blocksize", true}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "blosc"}, {"clevel", 1e30}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "blosc"}, {"clevel", 99999999999}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "zlib"}, {"level", Json::array()}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "zstd"}, {"level", "x"}}), FormatError);
  EXPECT_THROW((void)make_codec(Json{{"id", "zstd"}, {"checksum", 1}}), FormatError);
  // Odd values read fine (the data says how it was compressed) but cannot encode.
  const auto odd = make_codec(Json{{"id", "blosc"}, {"cname", "nosuch"}});
  EXPECT_THROW((void)odd->encode(sample_bytes(10), 1), ValueError);
}

TEST(Registry, CompressionConfigs) {
  EXPECT_TRUE(compressor_config(Compression::from_name("none")).is_null());
  EXPECT_EQ(
      compressor_config(Compression::from_name("zstd")),
      (Json{{"id", "blosc"}, {"cname", "zstd"}, {"clevel", 5}, {"shuffle", 1}, {"blocksize", 0}}));
  EXPECT_EQ(compressor_config(Compression::from_name("zlib")),
            (Json{{"id", "zlib"}, {"level", 4}}));
  Compression z;
  z.codec = Codec::zstd;
  z.level = 3;
  EXPECT_EQ(compressor_config(z), (Json{{"id", "zstd"}, {"level", 3}}));
  Compression bad = Compression::from_name("lz4");
  bad.cname = "nosuch";
  EXPECT_THROW((void)compressor_config(bad), ValueError);
  bad = Compression::from_name("lz4");
  bad.level = 10;
  EXPECT_THROW((void)compressor_config(bad), ValueError);
  bad = Compression::from_name("lz4");
  bad.shuffle = 3;
  EXPECT_THROW((void)compressor_config(bad), ValueError);
}

class CustomCodec final : public ZarrCodec {
 public:
  Json config() const override { return Json{{"id", "test-xor"}}; }
  std::vector<std::byte> encode(std::span<const std::byte> raw, std::size_t) const override {
    std::vector<std::byte> out(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i)
      out[i] = raw[i] ^ std::byte{0x5A};
    return out;
  }
  void decode_into(std::span<const std::byte> enc, std::span<std::byte> out) const override {
    if (enc.size() != out.size()) throw FormatError("test-xor: size");
    for (std::size_t i = 0; i < enc.size(); ++i)
      out[i] = enc[i] ^ std::byte{0x5A};
  }
  std::vector<std::byte> decode(std::span<const std::byte> enc, std::size_t) const override {
    return encode(enc, 1);
  }
};

TEST(Registry, RegisteringACodecMakesItAvailable) {
  register_codec("test-xor", [](const Json&) { return std::make_unique<CustomCodec>(); });
  const auto codec = make_codec(Json{{"id", "test-xor"}});
  const auto raw = sample_bytes(10);
  std::vector<std::byte> out(10);
  codec->decode_into(codec->encode(raw, 1), out);
  EXPECT_EQ(out, raw);
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

}  // namespace
}  // namespace tessera::io::detail
