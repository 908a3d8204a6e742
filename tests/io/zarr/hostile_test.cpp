// Untrusted stores: malformed .zarray/.zattrs/.zgroup documents and corrupt chunk bytes give a
// FormatError naming the file or the array and chunk, never a crash or a huge allocation.
#include <gtest/gtest.h>

#include <random>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/zarr_store.hpp"
#include "zarr_test_util.hpp"

namespace tessera::io {
namespace {

using test::pattern_chunk;
using test::throws_with;
using test::to_bytes;
using test::whole_box;

struct BadMeta {
  std::string label;
  std::string zarray;  // the document, or a fragment replacing the default's fields
  std::string expect;  // a part of the message
};

std::string meta_with(const std::string& shape, const std::string& chunks, const std::string& dtype,
                      const std::string& compressor = "null", const std::string& filters = "null",
                      const std::string& fill = "0", const std::string& order = "\"C\"") {
  return R"({"zarr_format": 2, "shape": )" + shape + R"(, "chunks": )" + chunks + R"(, "dtype": )" +
         dtype + R"(, "compressor": )" + compressor + R"(, "filters": )" + filters +
         R"(, "fill_value": )" + fill + R"(, "order": )" + order + "}";
}

class HostileMeta : public ::testing::TestWithParam<BadMeta> {};

TEST_P(HostileMeta, IsAFormatErrorNamingTheFile) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  store->set("bad/.zarray", to_bytes(GetParam().zarray));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)root->array_meta("bad"); },
                                       {"<memory>/bad/.zarray", GetParam().expect}));
  EXPECT_THROW((void)root->read_all("bad"), FormatError);
  EXPECT_THROW((void)root->read_strings("bad"), FormatError);
  // The group itself still lists it (it has a .zarray) and other arrays still work.
  root->create_array("good", ArrayMeta{{2}, DType::int8, {}}, Compression{});
  EXPECT_EQ(root->read_all("good").shape(), (Shape{1, 2}));
}

const std::string F8 = "\"<f8\"";

INSTANTIATE_TEST_SUITE_P(
    Documents, HostileMeta,
    ::testing::Values(
        BadMeta{"malformed", "{\"zarr_format\": 2, \"shape\": [", "malformed JSON"},
        BadMeta{"empty", "", "malformed JSON"},
        BadMeta{"binary", std::string("\x00\xff\x13", 3), "malformed JSON"},
        BadMeta{"not_object", "[1, 2]", "JSON object"},
        BadMeta{"format3", R"({"zarr_format": 3})", "zarr_format"},
        BadMeta{"format_missing", R"({"shape": [1]})", "zarr_format"},
        BadMeta{"negative_shape", meta_with("[-5]", "[2]", F8), "non-negative"},
        BadMeta{"huge_shape", meta_with("[4611686018427387904, 4611686018427387904]", "[1, 1]", F8),
                "overflow"},
        BadMeta{"shape_past_int64", meta_with("[18446744073709551615]", "[1]", F8), "too large"},
        BadMeta{"shape_float", meta_with("[2.5]", "[1]", F8), "integers"},
        BadMeta{"shape_string", meta_with("\"10\"", "[1]", F8), "list"},
        BadMeta{"shape_3d", meta_with("[2, 2, 2]", "[1, 1, 1]", F8), "3-dimensional"},
        BadMeta{"chunks_zero", meta_with("[4]", "[0]", F8), "positive"},
        BadMeta{"chunks_negative", meta_with("[4]", "[-1]", F8), "positive"},
        BadMeta{"chunks_rank", meta_with("[4, 4]", "[2]", F8), "rank"},
        BadMeta{"chunks_missing", R"({"zarr_format": 2, "shape": [4], "dtype": "<f8"})", "chunks"},
        BadMeta{"chunk_bytes_overflow", meta_with("[2, 2]", "[4611686018427387904, 4]", F8),
                "overflow"},
        BadMeta{"dtype_f2", meta_with("[4]", "[2]", "\"<f2\""), "unsupported dtype '<f2'"},
        BadMeta{"dtype_complex", meta_with("[4]", "[2]", "\"<c16\""), "unsupported dtype '<c16'"},
        BadMeta{"dtype_void", meta_with("[4]", "[2]", "\"|V8\""), "unsupported dtype '|V8'"},
        BadMeta{"dtype_garbage", meta_with("[4]", "[2]", "\"foo\""), "unsupported dtype 'foo'"},
        BadMeta{"dtype_datetime", meta_with("[4]", "[2]", "\"<M8[ns]\""), "unsupported dtype"},
        BadMeta{"dtype_number", meta_with("[4]", "[2]", "5"), "unsupported dtype 5"},
        // Structured dtypes hold flat fields of numbers or fixed-width strings (rec-arrays).
        BadMeta{"dtype_structured_nested", meta_with("[4]", "[2]", R"([["a", [["b", "<f8"]]]])"),
                "fields must be numbers or fixed-width strings"},
        BadMeta{"dtype_structured_object", meta_with("[4]", "[2]", R"([["a", "|O"]])"),
                "fields must be numbers or fixed-width strings"},
        BadMeta{"dtype_structured_repeated",
                meta_with("[4]", "[2]", R"([["a", "<f8"], ["a", "<i4"]])"), "appears twice"},
        BadMeta{"dtype_structured_shape", meta_with("[4]", "[2]", R"([["a", "<f8", [2, 3]]])"),
                "sub-array shape"},
        BadMeta{"dtype_structured_empty", meta_with("[4]", "[2]", "[]"), "without fields"},
        BadMeta{"dtype_huge_string", meta_with("[4]", "[2]", "\"<U99999999999\""),
                "unsupported dtype"},
        BadMeta{"unknown_codec", meta_with("[4]", "[2]", F8, R"({"id": "lzma"})"),
                "unknown codec 'lzma'"},
        BadMeta{"codec_not_object", meta_with("[4]", "[2]", F8, "\"blosc\""), "compressor"},
        BadMeta{"codec_no_id", meta_with("[4]", "[2]", F8, R"({"cname": "lz4"})"), "\"id\""},
        BadMeta{"codec_field_type",
                meta_with("[4]", "[2]", F8, R"({"id": "blosc", "clevel": "high"})"), "clevel"},
        BadMeta{"codec_level_type", meta_with("[4]", "[2]", F8, R"({"id": "zlib", "level": [1]})"),
                "level"},
        BadMeta{"unknown_filter",
                meta_with("[4]", "[2]", F8, "null", R"([{"id": "delta", "dtype": "<f8"}])"),
                "unknown codec 'delta'"},
        BadMeta{"filters_not_list", meta_with("[4]", "[2]", F8, "null", "{}"), "filters"},
        BadMeta{"object_without_codec", meta_with("[4]", "[2]", "\"|O\""), "object codec"},
        BadMeta{"object_bad_codec",
                meta_with("[4]", "[2]", "\"|O\"", "null", R"([{"id": "json2"}])"), "json2"},
        BadMeta{"object_byte_codec_first",
                meta_with("[4]", "[2]", "\"|O\"", "null", R"([{"id": "zlib"}])"), "object codec"},
        BadMeta{"string_codec_as_compressor", meta_with("[4]", "[2]", F8, R"({"id": "vlen-utf8"})"),
                "vlen-utf8"},
        BadMeta{"bad_order", meta_with("[4]", "[2]", F8, "null", "null", "0", "\"X\""), "order"},
        BadMeta{"bad_fill_int", meta_with("[4]", "[2]", "\"<i4\"", "null", "null", "\"abc\""),
                "fill_value"},
        BadMeta{"fill_out_of_range", meta_with("[4]", "[2]", "\"|u1\"", "null", "null", "256"),
                "fill_value"},
        BadMeta{"fill_negative_unsigned", meta_with("[4]", "[2]", "\"<u4\"", "null", "null", "-1"),
                "fill_value"},
        BadMeta{"fill_fraction_int", meta_with("[4]", "[2]", "\"<i4\"", "null", "null", "1.5"),
                "fill_value"},
        BadMeta{"fill_bool_string", meta_with("[4]", "[2]", "\"|b1\"", "null", "null", "\"yes\""),
                "fill_value"},
        BadMeta{
            "bad_separator",
            R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<f8", "compressor": null,
                    "filters": null, "fill_value": 0, "order": "C", "dimension_separator": "-"})",
            "dimension_separator"}),
    [](const auto& info) { return info.param.label; });

TEST(HostileFiles, MalformedAttributesAndGroups) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  store->set(".zattrs", to_bytes("{\"a\": "));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)root->attributes(); },
                                       {"malformed JSON", "<memory>/.zattrs"}));
  store->set(".zattrs", to_bytes("[1]"));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)root->attributes(); }, {"<memory>/.zattrs"}));
  EXPECT_THROW(root->set_attribute("x", 1), FormatError);  // never overwrites what it cannot read
  // A .zgroup that is not JSON still marks a group (zarr-python checks only that it exists).
  store->set("g/.zgroup", to_bytes("garbage"));
  EXPECT_TRUE(root->has_group("g"));
}

// ---------------------------------------------------------------------------------------------
// Corrupt chunks

class CorruptChunks : public ::testing::TestWithParam<std::string> {};

TEST_P(CorruptChunks, AreFormatErrorsNamingArrayAndChunk) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  Compression c;
  if (GetParam() == "zstd-plain") {
    c.codec = Codec::zstd;
  } else {
    c = Compression::from_name(GetParam());
  }
  root->create_array("X", ArrayMeta{{6, 8}, DType::float64, {3, 4}}, c);
  const Chunk data = pattern_chunk(DType::float64, {6, 8});
  root->write("X", whole_box({6, 8}), data);
  const Bytes good = *store->get("X/1.1");

  auto expect_error = [&](const Bytes& bad, const std::string& what) {
    store->set("X/1.1", bad);
    EXPECT_TRUE(throws_with<FormatError>([&] { (void)root->read_all("X"); },
                                         {"<memory>:/X", "chunk '1.1'"}))
        << what;
    // The chunk alone (the one-chunk view path).
    EXPECT_THROW((void)root->read("X", Box{{3, 4}, {2, 2}}), FormatError) << what;
    // A partial write must read it first, and fails the same way.
    EXPECT_THROW(root->write("X", Box{{3, 4}, {1, 1}}, pattern_chunk(DType::float64, {1, 1})),
                 FormatError)
        << what;
  };
  expect_error({}, "empty");
  expect_error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2)),
               "truncated");
  expect_error(Bytes(good.begin(), good.end() - 1), "one byte short");
  Bytes longer = good;
  if (c.codec == Codec::none) {
    longer.push_back(std::byte{0});
    expect_error(longer, "one byte long");
  }
  // Valid data of the wrong size: the chunk of a smaller array.
  root->create_array("small", ArrayMeta{{3, 3}, DType::float64, {3, 3}}, c);
  root->write("small", whole_box({3, 3}), pattern_chunk(DType::float64, {3, 3}));
  expect_error(*store->get("small/0.0"), "wrong size");
  // Garbage of every size up to a few headers.
  std::mt19937 rng(11);
  for (std::size_t n = 1; n < 64; n += 5) {
    Bytes junk(n);
    for (auto& b : junk)
      b = static_cast<std::byte>(rng() % 256);
    expect_error(junk, "junk " + std::to_string(n));
  }
  // Random byte flips: an error or some values, never a crash.
  for (int t = 0; t < 200; ++t) {
    Bytes bad = good;
    bad[rng() % bad.size()] = static_cast<std::byte>(rng() % 256);
    store->set("X/1.1", bad);
    try {
      (void)root->read_all("X");
    } catch (const FormatError&) {
    }
  }
  // Restored, everything reads again; unrelated chunks were never affected.
  store->set("X/1.1", good);
  EXPECT_TRUE(test::same_bytes(root->read_all("X"), data));
}

INSTANTIATE_TEST_SUITE_P(Compressions, CorruptChunks,
                         ::testing::Values("none", "lz4", "zstd", "blosc-zlib", "zlib",
                                           "zstd-plain"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return s;
                         });

TEST(CorruptStrings, AreFormatErrorsNamingArrayAndChunk) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  root->write_strings("s", {"alpha", "beta", "gamma"}, {3}, Compression::from_name("lz4"));
  const Bytes good = *store->get("s/0");
  std::mt19937 rng(2);
  for (std::size_t keep = 0; keep < good.size(); keep += 3) {
    store->set("s/0", Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep)));
    EXPECT_TRUE(throws_with<FormatError>([&] { (void)root->read_strings("s"); },
                                         {"<memory>:/s", "chunk '0'"}));
  }
  for (int t = 0; t < 300; ++t) {
    Bytes bad = good;
    bad[rng() % bad.size()] = static_cast<std::byte>(rng() % 256);
    store->set("s/0", bad);
    try {
      (void)root->read_strings("s");
    } catch (const FormatError&) {
    }
  }
  // An uncompressed vlen chunk claiming 2^31 items in a few bytes.
  store->set("s/.zarray",
             to_bytes(R"({"zarr_format": 2, "shape": [2147483648], "chunks": [2147483648],
                          "dtype": "|O", "compressor": null, "fill_value": 0,
                          "filters": [{"id": "vlen-utf8"}], "order": "C"})"));
  store->set("s/0", to_bytes(std::string("\x00\x00\x00\x80\x01\x00\x00\x00", 8)));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)root->read_strings("s"); },
                                       {"<memory>:/s", "chunk '0'", "cannot fit"}));
}

TEST(HostileChunkSizes, AHugeDeclaredChunkIsNotDecodedBlindly) {
  // A 1 TiB chunk declared in .zarray with a tiny chunk file: the read fails with FormatError
  // (the zstd frame is far too small), without touching a terabyte of memory.
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  store->set("h/.zarray",
             to_bytes(R"({"zarr_format": 2, "shape": [137438953472], "chunks": [137438953472],
                          "dtype": "<f8", "compressor": {"id": "zstd", "level": 1},
                          "fill_value": 0, "filters": null, "order": "C"})"));
  const auto enc = detail::make_codec(Json{{"id", "zstd"}})->encode(Bytes(64), 8);
  store->set("h/0", enc);
  EXPECT_THROW((void)root->read("h", Box{{0}, {4}}), FormatError);
  // Missing chunks of a huge array read as fill without allocating the chunk.
  store->erase("h/0");
  const Chunk part = root->read("h", Box{{137438953000}, {5}});
  EXPECT_EQ(part.value_at(0, 4), 0.0);
}

TEST(HostileChunkSizes, ChunkGridNearTheIndexLimit) {
  // Chunk ends computed as (c + 1) * chunk would overflow here (UBSan checks the arithmetic).
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  store->set("n/.zarray", to_bytes(R"({"zarr_format": 2, "shape": [9223372036854775807],
                          "chunks": [6917529027641081856], "dtype": "|u1", "compressor": null,
                          "fill_value": 3, "filters": null, "order": "C"})"));
  const Chunk tail = root->read("n", Box{{9223372036854775800}, {7}});
  EXPECT_EQ(tail.value_at(0, 6), 3.0);
  const Chunk across = root->read("n", Box{{6917529027641081850}, {10}});
  EXPECT_EQ(across.value_at(0, 9), 3.0);
  // Writing would need the whole 6 EiB chunk in memory: refused, not crashed.
  EXPECT_THROW(root->write("n", Box{{0}, {1}}, Chunk::dense_filled(DType::uint8, {1, 1}, 1)),
               FormatError);
}

TEST(HostileFiles, RootGroupDocuments) {
  auto open = [](const std::string& zgroup) {
    auto store = std::make_shared<MemoryStore>();
    store->set(".zgroup", to_bytes(zgroup));
    return open_zarr(store, "s.zarr", false);
  };
  EXPECT_NO_THROW(open(R"({"zarr_format": 2})"));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)open(R"({"zarr_format": 3})"); },
                                       {"<memory>/.zgroup", "zarr_format 3"}));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)open("{"); }, {"malformed JSON", ".zgroup"}));
  EXPECT_THROW((void)open("[]"), FormatError);
  // A Zarr v3 store opens; its root document is checked the same way.
  auto v3 = std::make_shared<MemoryStore>();
  v3->set("zarr.json", to_bytes(R"({"zarr_format": 3, "node_type": "group"})"));
  EXPECT_NO_THROW((void)open_zarr(v3, "v3.zarr", false));
  EXPECT_NO_THROW((void)open_zarr(v3, "v3.zarr", true));
  v3->set("zarr.json", to_bytes(R"({"zarr_format": 3, "node_type": "array"})"));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)open_zarr(v3, "v3.zarr", false); },
                                       {"v3.zarr:/", "is an array"}));
  v3->set("zarr.json", to_bytes(R"({"zarr_format": 4, "node_type": "group"})"));
  EXPECT_TRUE(throws_with<FormatError>([&] { (void)open_zarr(v3, "v3.zarr", false); },
                                       {"<memory>/zarr.json", "zarr_format"}));
  v3->set("zarr.json", to_bytes(R"({"zarr_format": 3, "node_type": "group",
      "consolidated_metadata": {"kind": "inline", "metadata": {"../x": {}}}})"));
  EXPECT_THROW((void)open_zarr(v3, "v3.zarr", false), Error);
}

TEST(HostileFiles, RandomDocumentsOnlyRaiseTesseraErrors) {
  // Field values drawn from a pool of valid and hostile ones, chunks of random bytes: every
  // failure must be a tessera::Error (never a JSON library exception, a crash or a hang).
  const std::vector<std::string> ints = {"0",
                                         "1",
                                         "2",
                                         "-1",
                                         "3",
                                         "7",
                                         "1.5",
                                         "\"4\"",
                                         "null",
                                         "true",
                                         "9223372036854775807",
                                         "18446744073709551615",
                                         "4611686018427387904",
                                         "[]",
                                         "{}"};
  const std::vector<std::string> dtypes = {"\"<f8\"", "\"|b1\"", "\"<i4\"", "\">u2\"",
                                           "\"|O\"",  "\"<U3\"", "\">U2\"", "\"|S2\"",
                                           "\"<U0\"", "\"|O8\"", "\"<f\"",  "\"\"",
                                           "\"<U\"",  "7",       "null",    "[[\"a\", \"<f8\"]]"};
  const std::vector<std::string> codecs = {"null",
                                           R"({"id": "blosc"})",
                                           R"({"id": "zlib", "level": 1})",
                                           R"({"id": "gzip"})",
                                           R"({"id": "zstd", "level": 1})",
                                           R"({"id": "vlen-utf8"})",
                                           R"({"id": 1})",
                                           R"("zlib")",
                                           R"({"id": "blosc", "cname": 3})",
                                           "[]"};
  const std::vector<std::string> filters = {"null",
                                            "[]",
                                            R"([{"id": "vlen-utf8"}])",
                                            R"([{"id": "vlen-bytes"}, {"id": "zlib"}])",
                                            R"([{"id": "zlib"}])",
                                            R"([null])",
                                            R"([1])",
                                            R"({"id": "vlen-utf8"})",
                                            R"("x")"};
  const std::vector<std::string> fills = {"0",     "null", "\"NaN\"", "\"abc\"", "true",
                                          "1e400", "-1",   "[1]",     "{}",      "\"AAAA\""};
  const std::vector<std::string> orders = {"\"C\"", "\"F\"", "\"c\"", "1", "null"};
  std::mt19937 rng(77);
  auto pick = [&](const std::vector<std::string>& pool) { return pool[rng() % pool.size()]; };
  auto dims = [&]() {
    const int rank = static_cast<int>(rng() % 4);
    std::string out = "[";
    for (int i = 0; i < rank; ++i)
      out += (i > 0 ? ", " : "") + pick(ints);
    return out + "]";
  };
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  int errors = 0;
  int reads = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string doc = "{\"zarr_format\": " + std::string(rng() % 10 == 0 ? "\"2\"" : "2") +
                      ", \"shape\": " + dims() + ", \"chunks\": " + dims() +
                      ", \"dtype\": " + pick(dtypes) + ", \"compressor\": " + pick(codecs) +
                      ", \"filters\": " + pick(filters) + ", \"fill_value\": " + pick(fills) +
                      ", \"order\": " + pick(orders) + "}";
    store->erase_prefix("r");
    store->set("r/.zarray", to_bytes(doc));
    for (const std::string key : {"r/0", "r/1", "r/0.0", "r/0.1", "r/1.0"}) {
      if (rng() % 2 == 0) continue;
      Bytes junk(rng() % 64);
      for (auto& b : junk)
        b = static_cast<std::byte>(rng() % 8 == 0 ? rng() % 256 : rng() % 4);
      store->set(key, junk);
    }
    try {
      const ArrayMeta meta = root->array_meta("r");
      if (meta.size() > 100000) continue;  // a valid but big array: reading it is not the point
      ++reads;
      if (meta.is_string()) {
        (void)root->read_strings("r");
      } else {
        (void)root->read_all("r");
      }
    } catch (const Error&) {
      ++errors;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "non-tessera exception " << e.what() << " for " << doc;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace tessera::io
