// ZarrGroup: round trips of every dtype at 0, 1 and 2 dimensions with every compressor, boxes that
// do and do not line up with chunks, strings, fill values, attributes, groups and names.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <random>
#include <thread>
#include <tuple>

#include "tessera/core/error.hpp"
#include "tessera/io/detail/zarr_codec.hpp"
#include "tessera/io/zarr_store.hpp"
#include "zarr_test_util.hpp"

namespace tessera::io {
namespace {

using test::all_dtypes;
using test::pattern_chunk;
using test::same_bytes;
using test::shape2;
using test::TempDir;
using test::to_bytes;
using test::whole_box;

Json json_at(const MemoryStore& store, const std::string& key) {
  const auto bytes = store.get(key);
  EXPECT_TRUE(bytes.has_value()) << key;
  if (!bytes) return nullptr;
  return Json::parse(std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
}

void put_json(KeyValueStore& store, const std::string& key, const std::string& text) {
  store.set(key, to_bytes(text));
}

Compression compression_named(const std::string& spec) {
  // "lz4", "lz4/s0" (shuffle 0), "zlib", "zstd-plain" (numcodecs Zstd), "none", …
  const auto slash = spec.find('/');
  const std::string base = spec.substr(0, slash);
  Compression c;
  if (base == "zstd-plain") {
    c.codec = Codec::zstd;
    c.level = 3;
  } else {
    c = Compression::from_name(base);
  }
  if (slash != std::string::npos) c.shuffle = std::stoi(spec.substr(slash + 2));
  return c;
}

const std::vector<std::string>& compressions() {
  static const std::vector<std::string> all = {"none",          "lz4",   "lz4/s0",    "lz4/s2",
                                               "lz4/s-1",       "lz4hc", "blosclz",   "zstd",
                                               "blosc-zlib/s2", "zlib",  "zstd-plain"};
  return all;
}

// ---------------------------------------------------------------------------------------------
// Round trips

struct RoundTripCase {
  DType dtype;
  int rank;
  std::string compression;
};

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, WholeArrayAndSubBoxes) {
  const auto& p = GetParam();
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  std::vector<index_t> shape;
  std::vector<index_t> chunks;
  if (p.rank == 1) {
    shape = {23};
    chunks = {5};
  } else if (p.rank == 2) {
    shape = {13, 7};
    chunks = {4, 3};
  }
  ArrayMeta meta{shape, p.dtype, chunks};
  root->create_array("a", meta, compression_named(p.compression));
  const Chunk data = pattern_chunk(p.dtype, shape2(shape));
  root->write("a", whole_box(shape), data);

  const ArrayMeta back = root->array_meta("a");
  EXPECT_EQ(back.shape, shape);
  EXPECT_EQ(back.chunks, chunks);
  ASSERT_TRUE(back.dtype.has_value());
  EXPECT_EQ(*back.dtype, p.dtype);
  EXPECT_TRUE(same_bytes(root->read_all("a"), data));

  // Every edge chunk is stored at full size: count the chunk keys.
  const index_t expected_chunks = p.rank == 0 ? 1 : (p.rank == 1 ? 5 : 4 * 3);
  EXPECT_EQ(static_cast<index_t>(store->list("a").size()), expected_chunks + 1);  // + .zarray

  if (p.rank == 2) {
    // Inside one chunk (a view of the decoded chunk), across chunks, and at the edge.
    for (const auto& [start, count] :
         std::vector<std::pair<std::vector<index_t>, std::vector<index_t>>>{{{1, 1}, {2, 2}},
                                                                            {{0, 0}, {4, 3}},
                                                                            {{3, 2}, {7, 4}},
                                                                            {{12, 6}, {1, 1}},
                                                                            {{5, 0}, {0, 7}},
                                                                            {{0, 6}, {13, 1}}}) {
      const Chunk got = root->read("a", Box{start, count});
      EXPECT_TRUE(same_bytes(
          got, data.block(start[0], start[0] + count[0], start[1], start[1] + count[1])));
    }
  } else if (p.rank == 1) {
    for (const auto& [s, n] :
         std::vector<std::pair<index_t, index_t>>{{0, 5}, {1, 3}, {4, 12}, {22, 1}, {7, 0}}) {
      EXPECT_TRUE(same_bytes(root->read("a", Box{{s}, {n}}), data.block(0, 1, s, s + n)));
    }
  }
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (DType d : all_dtypes()) {
    for (int rank : {0, 1, 2}) {
      for (const std::string& c : compressions())
        cases.push_back({d, rank, c});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, RoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         [](const auto& info) {
                           std::string s = std::string(name(info.param.dtype)) + "_" +
                                           std::to_string(info.param.rank) + "d_" +
                                           info.param.compression;
                           for (char& c : s) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return s;
                         });

TEST(ZarrGroup, ZarrayIsWhatZarrPythonWrites) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  const std::vector<std::pair<DType, std::string>> names = {
      {DType::boolean, "|b1"}, {DType::int8, "|i1"},   {DType::int16, "<i2"},
      {DType::int32, "<i4"},   {DType::int64, "<i8"},  {DType::uint8, "|u1"},
      {DType::uint16, "<u2"},  {DType::uint32, "<u4"}, {DType::uint64, "<u8"},
      {DType::float32, "<f4"}, {DType::float64, "<f8"}};
  for (const auto& [dtype, str] : names) {
    root->create_array(std::string(name(dtype)), ArrayMeta{{4, 6}, dtype, {2, 3}},
                       Compression::from_name("lz4"));
    const Json doc = json_at(*store, std::string(name(dtype)) + "/.zarray");
    EXPECT_EQ(doc["dtype"], str);
    EXPECT_EQ(doc["fill_value"], dtype == DType::boolean ? Json(false) : Json(0));
  }
  const Json doc = json_at(*store, "float64/.zarray");
  EXPECT_EQ(doc, Json::parse(R"({"chunks": [2, 3], "compressor": {"blocksize": 0, "clevel": 5,
      "cname": "lz4", "id": "blosc", "shuffle": 1}, "dtype": "<f8", "fill_value": 0.0,
      "filters": null, "order": "C", "shape": [4, 6], "zarr_format": 2,
      "dimension_separator": "."})"));
  EXPECT_EQ(json_at(*store, ".zgroup"), (Json{{"zarr_format", 2}}));
}

TEST(ZarrGroup, ZeroSizedArrays) {
  auto root = memory_zarr();
  root->create_array("e", ArrayMeta{{0, 5}, DType::float32, {}}, Compression::from_name("lz4"));
  EXPECT_EQ(root->array_meta("e").chunks, (std::vector<index_t>{1, 5}));
  const Chunk all = root->read_all("e");
  EXPECT_EQ(all.shape(), (Shape{0, 5}));
  root->write("e", Box{{0, 0}, {0, 5}}, Chunk::dense(DType::float32, Shape{0, 5}));
  root->write_strings("s", {}, {0}, Compression::from_name("zstd"));
  EXPECT_TRUE(root->read_strings("s").empty());
}

// ---------------------------------------------------------------------------------------------
// Boxes that do not line up with chunks

class Boxes : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Group> make_root() {
    if (GetParam()) return create_zarr(dir_.path() / "x.zarr");
    return memory_zarr();
  }
  TempDir dir_;
};

TEST_P(Boxes, IrregularTilesAndReads) {
  auto root = make_root();
  const std::vector<index_t> shape = {23, 17};
  root->create_array("m", ArrayMeta{shape, DType::float64, {5, 4}}, Compression::from_name("zstd"));
  const Chunk data = pattern_chunk(DType::float64, {23, 17}, 100);
  const std::vector<index_t> row_cuts = {0, 7, 8, 19, 23};
  const std::vector<index_t> col_cuts = {0, 3, 11, 17};
  for (std::size_t i = 0; i + 1 < row_cuts.size(); ++i) {
    for (std::size_t j = 0; j + 1 < col_cuts.size(); ++j) {
      const Box box{{row_cuts[i], col_cuts[j]},
                    {row_cuts[i + 1] - row_cuts[i], col_cuts[j + 1] - col_cuts[j]}};
      root->write("m", box, data.block(row_cuts[i], row_cuts[i + 1], col_cuts[j], col_cuts[j + 1]));
    }
  }
  EXPECT_TRUE(same_bytes(root->read_all("m"), data));
  std::mt19937 rng(5);
  for (int t = 0; t < 200; ++t) {
    const index_t r0 = rng() % 24;
    const index_t c0 = rng() % 18;
    const index_t r1 = r0 + rng() % (24 - r0);
    const index_t c1 = c0 + rng() % (18 - c0);
    EXPECT_TRUE(
        same_bytes(root->read("m", Box{{r0, c0}, {r1 - r0, c1 - c0}}), data.block(r0, r1, c0, c1)))
        << r0 << " " << r1 << " " << c0 << " " << c1;
  }
}

TEST_P(Boxes, OverlappingWritesKeepTheLast) {
  auto root = make_root();
  root->create_array("v", ArrayMeta{{30}, DType::int32, {7}}, Compression::from_name("lz4"));
  std::vector<std::int32_t> expect(30, 0);
  std::mt19937 rng(9);
  for (int t = 0; t < 50; ++t) {
    const index_t s = rng() % 30;
    const index_t n = 1 + rng() % (30 - s);
    std::vector<std::int32_t> v(static_cast<std::size_t>(n));
    for (auto& x : v)
      x = static_cast<std::int32_t>(rng() % 1000);
    std::copy(v.begin(), v.end(), expect.begin() + s);
    root->write("v", Box{{s}, {n}}, Chunk::from_values(Shape{1, n}, v));
  }
  EXPECT_TRUE(same_bytes(root->read_all("v"), Chunk::from_values(Shape{1, 30}, expect)));
}

INSTANTIATE_TEST_SUITE_P(Stores, Boxes, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "directory" : "memory"; });

TEST(ZarrGroup, AlignedWritesDoNotReadChunks) {
  auto counting = std::make_shared<test::CountingStore>(std::make_shared<MemoryStore>());
  auto root = create_zarr(counting, "count");
  root->create_array("m", ArrayMeta{{10, 10}, DType::float32, {4, 4}},
                     Compression::from_name("lz4"));
  const Chunk data = pattern_chunk(DType::float32, {10, 10});
  // Chunk-aligned boxes, including the edge chunks that end at the array's end.
  root->write("m", Box{{0, 0}, {8, 4}}, data.block(0, 8, 0, 4));
  root->write("m", Box{{8, 4}, {2, 6}}, data.block(8, 10, 4, 10));
  root->write_blocks("m", {{Box{{0, 4}, {8, 6}}, data.block(0, 8, 4, 10)},
                           {Box{{8, 0}, {2, 4}}, data.block(8, 10, 0, 4)}});
  EXPECT_EQ(counting->chunk_gets.load(), 0);
  EXPECT_TRUE(same_bytes(root->read_all("m"), data));
  // An unaligned box reads the chunks it only partly covers.
  const int before = counting->chunk_gets.load();
  root->write("m", Box{{1, 1}, {2, 2}}, data.block(1, 3, 1, 3));
  EXPECT_EQ(counting->chunk_gets.load() - before, 1);
}

TEST(ZarrGroup, RanksWritingDisjointAlignedBlocksShareADirectory) {
  // What parallel writers do: rank 0 creates the array, each rank opens the store and writes its
  // own chunk-aligned blocks; no chunk file is written by two ranks.
  TempDir dir;
  const auto path = dir.path() / "p.zarr";
  create_zarr(path)->create_array("X", ArrayMeta{{9, 5}, DType::int64, {3, 5}},
                                  Compression::from_name("lz4"));
  const Chunk data = pattern_chunk(DType::int64, {9, 5});
  std::vector<std::thread> ranks;
  for (index_t r = 0; r < 3; ++r) {
    ranks.emplace_back([&, r] {
      auto g = open_zarr(path, true);
      g->write_blocks("X", {{Box{{3 * r, 0}, {3, 5}}, data.block(3 * r, 3 * r + 3, 0, 5)}});
    });
  }
  for (auto& t : ranks)
    t.join();
  EXPECT_TRUE(same_bytes(open_zarr(path, false)->read_all("X"), data));
}

TEST(ZarrGroup, WriteConvertsDTypeAndLayout) {
  auto root = memory_zarr();
  root->create_array("i", ArrayMeta{{2, 3}, DType::int32, {2, 2}}, Compression::from_name("none"));
  root->write("i", whole_box({2, 3}),
              Chunk::from_values(Shape{2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(
      same_bytes(root->read_all("i"),
                 Chunk::from_values(Shape{2, 3}, std::vector<std::int32_t>{1, 2, 3, 4, 5, 6})));
  // CSR input is written densely.
  const Chunk csr = Chunk::from_csr<std::int32_t>(Shape{2, 3}, {0, 1, 2}, {2, 0}, {7, 8});
  root->write("i", whole_box({2, 3}), csr);
  EXPECT_TRUE(
      same_bytes(root->read_all("i"),
                 Chunk::from_values(Shape{2, 3}, std::vector<std::int32_t>{0, 0, 7, 8, 0, 0})));
  // A 1-D box takes a column too.
  root->create_array("v", ArrayMeta{{3}, DType::int32, {2}}, Compression::from_name("none"));
  root->write("v", whole_box({3}),
              Chunk::from_values(Shape{3, 1}, std::vector<std::int32_t>{4, 5, 6}));
  EXPECT_TRUE(same_bytes(root->read_all("v"),
                         Chunk::from_values(Shape{1, 3}, std::vector<std::int32_t>{4, 5, 6})));
}

TEST(ZarrGroup, BoxAndShapeErrors) {
  auto root = memory_zarr();
  root->create_array("m", ArrayMeta{{4, 4}, DType::float64, {2, 2}}, Compression::from_name("lz4"));
  EXPECT_TRUE(test::throws_with<FormatError>(
      [&] {
        (void)root->read("m", Box{{3, 0}, {2, 1}});
      },
      {"<memory>:/m", "outside"}));
  EXPECT_THROW((void)root->read("m", Box{{0}, {1}}), FormatError);
  EXPECT_THROW((void)root->read("m", Box{{-1, 0}, {1, 1}}), FormatError);
  EXPECT_THROW(root->write("m", Box{{3, 3}, {2, 2}}, pattern_chunk(DType::float64, {2, 2})),
               IndexError);
  EXPECT_THROW(root->write("m", Box{{0, 0}, {2, 2}}, pattern_chunk(DType::float64, {2, 3})),
               ShapeError);
  EXPECT_THROW(root->write_strings("s", {"a", "b"}, {3}, Compression::from_name("lz4")),
               ShapeError);
  EXPECT_THROW(root->create_array("t", ArrayMeta{{2, 2, 2}, DType::int8, {}}, Compression{}),
               ValueError);
  EXPECT_THROW(root->create_array("t", ArrayMeta{{-2}, DType::int8, {}}, Compression{}),
               ValueError);
  EXPECT_THROW(root->create_array("t", ArrayMeta{{4}, DType::int8, {0}}, Compression{}),
               ValueError);
  EXPECT_THROW(root->create_array("t", ArrayMeta{{4}, DType::int8, {2, 2}}, Compression{}),
               ValueError);
  // Strings and numbers are read through their own calls.
  root->write_strings("s", {"a"}, {1}, Compression{});
  EXPECT_TRUE(test::throws_with<FormatError>([&] { (void)root->read_all("s"); }, {"read_strings"}));
  EXPECT_THROW((void)root->read_strings("m"), FormatError);
  EXPECT_THROW(root->write("s", whole_box({1}), pattern_chunk(DType::float64, {1, 1})), ValueError);
}

TEST(ZarrGroup, RecreatingAnArrayDropsItsOldChunks) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  root->create_array("a", ArrayMeta{{10}, DType::int16, {2}}, Compression::from_name("lz4"));
  root->write("a", whole_box({10}), pattern_chunk(DType::int16, {1, 10}));
  root->create_array("a", ArrayMeta{{10}, DType::int16, {5}}, Compression::from_name("lz4"));
  EXPECT_EQ(store->list("a"), std::vector<std::string>{".zarray"});
  EXPECT_TRUE(same_bytes(root->read_all("a"), Chunk::dense_filled(DType::int16, {1, 10}, 0)));
}

TEST(ZarrGroup, ConcurrentReads) {
  auto root = memory_zarr();
  root->create_array("m", ArrayMeta{{64, 64}, DType::float64, {8, 8}},
                     Compression::from_name("lz4"));
  const Chunk data = pattern_chunk(DType::float64, {64, 64});
  root->write("m", whole_box({64, 64}), data);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const index_t r = (t * 13 + i * 7) % 56;
        if (!same_bytes(root->read("m", Box{{r, r / 2}, {8, 9}}),
                        data.block(r, r + 8, r / 2, r / 2 + 9))) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Fill values

TEST(FillValues, UnwrittenChunksReadAsFill) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  root->create_array("a", ArrayMeta{{6, 6}, DType::int32, {3, 3}}, Compression::from_name("lz4"));
  root->write("a", Box{{0, 0}, {3, 3}}, Chunk::dense_filled(DType::int32, {3, 3}, 5));
  Chunk all = root->read_all("a");
  EXPECT_EQ(all.value_at(1, 1), 5);
  EXPECT_EQ(all.value_at(4, 4), 0);
  EXPECT_EQ(store->list("a").size(), 2U);

  // Fill values from files: NaN for floats, numbers, booleans.
  const std::vector<std::tuple<std::string, std::string, double>> cases = {
      {"<f8", "\"NaN\"", std::nan("")},
      {"<f4", "\"Infinity\"", INFINITY},
      {"<f8", "\"-Infinity\"", -INFINITY},
      {"<f8", "2.5", 2.5},
      {"<i4", "-7", -7},
      {"|u1", "255", 255},
      {"|b1", "true", 1},
      {"<i8", "null", 0},
      {"<u8", "0.0", 0},
      {">i2", "300", 300}};
  int k = 0;
  for (const auto& [dtype, fill, expect] : cases) {
    // (Appending, not "f" + to_string: GCC 12 warns falsely about the latter, bug 105329.)
    std::string name = "f";
    name += std::to_string(k++);
    put_json(*store, name + "/.zarray",
             R"({"zarr_format": 2, "shape": [5], "chunks": [2], "dtype": ")" + dtype +
                 R"(", "compressor": null, "fill_value": )" + fill +
                 R"(, "filters": null, "order": "C"})");
    const Chunk got = root->read_all(name);
    for (index_t i = 0; i < 5; ++i) {
      if (std::isnan(expect)) {
        EXPECT_TRUE(std::isnan(got.value_at(0, i))) << dtype;
      } else {
        EXPECT_EQ(got.value_at(0, i), expect) << dtype << " " << fill;
      }
    }
    // A partial write keeps the fill around the written part.
    root->write(name, Box{{1}, {2}}, Chunk::dense_filled(got.dtype(), {1, 2}, 1));
    const Chunk after = root->read_all(name);
    EXPECT_EQ(after.value_at(0, 1), 1);
    EXPECT_EQ(after.value_at(0, 2), 1);
    if (!std::isnan(expect)) {
      EXPECT_EQ(after.value_at(0, 0), expect);
      EXPECT_EQ(after.value_at(0, 3), expect);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Strings

class Strings : public ::testing::TestWithParam<std::string> {};

TEST_P(Strings, RoundTrip) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  const Compression c = compression_named(GetParam());
  std::vector<std::string> values;
  for (int i = 0; i < 35; ++i) {
    values.push_back(i % 5 == 0 ? std::string()
                                : "cell_" + std::to_string(i * 31) +
                                      (i % 3 == 0 ? "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" : ""));
  }
  root->write_strings("v", values, {35}, c);
  EXPECT_EQ(root->read_strings("v"), values);
  const ArrayMeta meta = root->array_meta("v");
  EXPECT_TRUE(meta.is_string());
  EXPECT_EQ(meta.shape, std::vector<index_t>{35});
  const Json doc = json_at(*store, "v/.zarray");
  EXPECT_EQ(doc["dtype"], "|O");
  EXPECT_EQ(doc["filters"], Json::parse(R"([{"id": "vlen-utf8"}])"));

  root->write_strings("m", values, {5, 7}, c);
  EXPECT_EQ(root->read_strings("m"), values);
  EXPECT_EQ(root->array_meta("m").shape, (std::vector<index_t>{5, 7}));
  root->write_strings("scalar", {"just one"}, {}, c);
  EXPECT_EQ(root->read_strings("scalar"), std::vector<std::string>{"just one"});
  EXPECT_TRUE(root->array_meta("scalar").shape.empty());
}

INSTANTIATE_TEST_SUITE_P(Compressions, Strings, ::testing::ValuesIn(compressions()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return s;
                         });

TEST(StringsOnDisk, InvalidUtf8IsRefusedOnWrite) {
  auto root = memory_zarr();
  EXPECT_THROW(root->write_strings("s", {"ok", "\xff"}, {2}, Compression{}), ValueError);
}

TEST(StringsOnDisk, ChunkedVlenArraysWithEdgePaddingAndMissingChunks) {
  // A "|O" array in several chunks, as zarr-python writes it: the edge chunk padded (with "").
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  put_json(*store, "s/.zarray",
           R"({"zarr_format": 2, "shape": [5], "chunks": [2], "dtype": "|O", "compressor": null,
               "fill_value": 0, "filters": [{"id": "vlen-utf8"}], "order": "C"})");
  auto chunk = [](std::initializer_list<std::string> items) {
    std::string out;
    auto u32 = [&](std::uint32_t v) {
      for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    };
    u32(static_cast<std::uint32_t>(items.size()));
    for (const auto& s : items) {
      u32(static_cast<std::uint32_t>(s.size()));
      out += s;
    }
    return to_bytes(out);
  };
  store->set("s/0", chunk({"a", "bb"}));
  store->set("s/2", chunk({"e", ""}));
  EXPECT_EQ(root->read_strings("s"), (std::vector<std::string>{"a", "bb", "", "", "e"}));
  // A chunk holding the wrong number of items.
  store->set("s/1", chunk({"c"}));
  EXPECT_TRUE(test::throws_with<FormatError>([&] { (void)root->read_strings("s"); },
                                             {"<memory>:/s", "chunk '1'", "1 items, expected 2"}));
}

TEST(StringsOnDisk, FixedWidthUnicodeAndBytes) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  // Items NUL-padded to `width` code units, little- or big-endian.
  auto utf32 = [](std::vector<std::u32string> items, std::size_t width, bool big) {
    std::string out;
    for (std::u32string& s : items) {
      s.resize(width, U'\0');
      for (char32_t c : s) {
        const auto v = static_cast<std::uint32_t>(c);
        for (int i = 0; i < 4; ++i) {
          const int shift = big ? 8 * (3 - i) : 8 * i;
          out.push_back(static_cast<char>((v >> shift) & 0xFF));
        }
      }
    }
    return out;
  };
  // "<U3", chunks of 2, the edge chunk padded; one chunk missing (fill "zz").
  put_json(*store, "u/.zarray",
           R"({"zarr_format": 2, "shape": [5], "chunks": [2], "dtype": "<U3", "compressor": null,
               "fill_value": "zz", "filters": null, "order": "C"})");
  store->set("u/0", to_bytes(utf32({U"ab", U"\u00e9\u20ac\U0001F600"}, 3, false)));
  store->set("u/2", to_bytes(utf32({U"x", U""}, 3, false)));
  EXPECT_EQ(
      root->read_strings("u"),
      (std::vector<std::string>{"ab", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "zz", "zz", "x"}));
  EXPECT_TRUE(root->array_meta("u").is_string());
  // Big-endian, compressed, 0-D (the older anndata's scalar strings).
  put_json(*store, "scalar/.zarray",
           R"({"zarr_format": 2, "shape": [], "chunks": [], "dtype": ">U5", "fill_value": "",
               "compressor": {"id": "zlib", "level": 1}, "filters": null, "order": "C"})");
  store->set("scalar/0", test::to_bytes([&] {
               const Bytes raw = to_bytes(utf32({U"hi"}, 5, true));
               const auto enc = detail::make_codec(Json{{"id", "zlib"}})->encode(raw, 4);
               return std::string(reinterpret_cast<const char*>(enc.data()), enc.size());
             }()));
  EXPECT_EQ(root->read_strings("scalar"), std::vector<std::string>{"hi"});
  // "|S4" bytes.
  put_json(*store, "b/.zarray",
           R"({"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "|S4", "compressor": null,
               "fill_value": "", "filters": null, "order": "C"})");
  store->set("b/0", to_bytes(std::string("abcdxy\0\0", 8)));
  EXPECT_EQ(root->read_strings("b"), (std::vector<std::string>{"abcd", "xy"}));
  // A code point that is not a character.
  store->set("u/0", to_bytes(utf32({U"ab"}, 3, false) + std::string("\x00\xD8\x00\x00", 4) +
                             std::string(8, '\0')));
  EXPECT_TRUE(test::throws_with<FormatError>([&] { (void)root->read_strings("u"); },
                                             {"<memory>:/u", "chunk '0'", "code point"}));
}

// ---------------------------------------------------------------------------------------------
// Byte order, Fortran order, '/' separator (files from other writers)

TEST(OtherLayouts, BigEndianFortranAndSlashSeparator) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  // ">i4", shape (2, 3) in one chunk of (2, 3), Fortran order: stored column by column.
  put_json(*store, "be/.zarray",
           R"({"zarr_format": 2, "shape": [2, 3], "chunks": [2, 3], "dtype": ">i4",
               "compressor": null, "fill_value": 0, "filters": null, "order": "F",
               "dimension_separator": "/"})");
  // Values row-major: [[1, 2, 3], [4, 5, 6]] → column-major 1 4 2 5 3 6, big-endian.
  std::string raw;
  for (int v : {1, 4, 2, 5, 3, 6})
    raw += std::string("\0\0\0", 3) + static_cast<char>(v);
  store->set("be/0/0", to_bytes(raw));
  const Chunk expected =
      Chunk::from_values(Shape{2, 3}, std::vector<std::int32_t>{1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(same_bytes(root->read_all("be"), expected));
  // Writing back keeps the file's layout.
  root->write("be", Box{{1, 2}, {1, 1}},
              Chunk::from_values(Shape{1, 1}, std::vector<std::int32_t>{0x01020304}));
  const auto stored = store->get("be/0/0");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(stored->data()) + 20, 4), "\x01\x02\x03\x04");
  EXPECT_EQ(root->read_all("be").value_at(1, 2), 0x01020304);

  // Bools other than 0/1 bytes read as true.
  put_json(*store, "b/.zarray",
           R"({"zarr_format": 2, "shape": [3], "chunks": [3], "dtype": "|b1",
               "compressor": null, "fill_value": false, "filters": null, "order": "C"})");
  store->set("b/0", to_bytes(std::string("\x00\x02\xff", 3)));
  const Chunk b = root->read_all("b");
  EXPECT_EQ(b.row<std::uint8_t>(0)[0], 0);
  EXPECT_EQ(b.row<std::uint8_t>(0)[1], 1);
  EXPECT_EQ(b.row<std::uint8_t>(0)[2], 1);
}

TEST(OtherLayouts, ByteFiltersBeforeTheCompressor) {
  // filters may hold byte codecs too: [zlib] then compressor blosc.
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  put_json(*store, "f/.zarray",
           R"({"zarr_format": 2, "shape": [4], "chunks": [4], "dtype": "<f8",
               "compressor": {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2},
               "fill_value": 0.0, "filters": [{"id": "zlib", "level": 1}], "order": "C"})");
  const Chunk data = pattern_chunk(DType::float64, {1, 4});
  root->write("f", whole_box({4}), data);
  EXPECT_TRUE(same_bytes(root->read_all("f"), data));
}

// ---------------------------------------------------------------------------------------------
// Attributes

TEST(Attributes, MergeAndTypes) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  EXPECT_EQ(root->attributes(), Json::object());
  root->set_attribute("encoding-type", "anndata");
  root->set_attribute("encoding-version", "0.1.0");
  root->set_attribute("shape", Json::array({3, 4}));
  root->set_attribute("flag", true);
  root->set_attribute("names", Json::array({"a", "b"}));
  root->set_attribute("flag", false);  // replaces
  const Json attrs = root->attributes();
  EXPECT_EQ(attrs, (Json{{"encoding-type", "anndata"},
                         {"encoding-version", "0.1.0"},
                         {"shape", {3, 4}},
                         {"flag", false},
                         {"names", {"a", "b"}}}));
  root->create_array("x", ArrayMeta{{2}, DType::int8, {}}, Compression{});
  root->set_attribute("encoding-type", "array", "x");
  EXPECT_EQ(root->attributes("x"), (Json{{"encoding-type", "array"}}));
  EXPECT_EQ(json_at(*store, "x/.zattrs"), (Json{{"encoding-type", "array"}}));
  EXPECT_THROW(root->set_attribute("a", 1, "missing"), ValueError);
  EXPECT_THROW(root->set_attribute("bad", "\xff\xfe"), ValueError);  // not UTF-8
  EXPECT_EQ(root->attributes().count("bad"), 0U);
  EXPECT_THROW((void)root->attributes("missing"), FormatError);
  auto sub = root->create_group("sub");
  sub->set_attribute("k", 1.5);
  EXPECT_EQ(root->group("sub")->attributes(), (Json{{"k", 1.5}}));
  EXPECT_EQ(root->attributes("sub"), (Json{{"k", 1.5}}));
}

TEST(Attributes, NonFiniteFloatsAsPythonWritesThem) {
  std::shared_ptr<MemoryStore> store;
  auto root = memory_zarr(&store);
  put_json(
      *store, ".zattrs",
      R"({"a": NaN, "b": [Infinity, -Infinity, 1.0], "s": "NaN stays a string", "t": "x\"NaN"})");
  const Json attrs = root->attributes();
  EXPECT_TRUE(std::isnan(attrs["a"].get<double>()));
  EXPECT_EQ(attrs["b"][0].get<double>(), INFINITY);
  EXPECT_EQ(attrs["b"][1].get<double>(), -INFINITY);
  EXPECT_EQ(attrs["s"], "NaN stays a string");
  EXPECT_EQ(attrs["t"], "x\"NaN");
  root->set_attribute("c", std::nan(""));
  const auto text = store->get(".zattrs");
  const std::string s(reinterpret_cast<const char*>(text->data()), text->size());
  EXPECT_NE(s.find("\"c\": NaN"), std::string::npos) << s;
  EXPECT_NE(s.find("Infinity"), std::string::npos) << s;
  EXPECT_TRUE(std::isnan(root->attributes()["c"].get<double>()));
}

// ---------------------------------------------------------------------------------------------
// Groups, names, read-only, factories

TEST(Groups, ChildrenAndNavigation) {
  auto root = memory_zarr();
  EXPECT_EQ(root->path(), "<memory>:/");
  auto obs = root->create_group("obs");
  EXPECT_EQ(obs->path(), "<memory>:/obs");
  obs->create_group("nested")->create_array("deep", ArrayMeta{{1}, DType::int8, {}}, Compression{});
  root->create_array("X", ArrayMeta{{2, 2}, DType::float32, {}}, Compression{});
  root->write_strings("names", {"a"}, {1}, Compression{});
  root->create_group("var");
  EXPECT_EQ(root->children(), (std::vector<std::string>{"X", "names", "obs", "var"}));
  EXPECT_TRUE(root->has_group("obs"));
  EXPECT_FALSE(root->has_array("obs"));
  EXPECT_TRUE(root->has_array("X"));
  EXPECT_FALSE(root->has_group("X"));
  EXPECT_FALSE(root->has_group("nothing"));
  EXPECT_EQ(root->group("obs")->group("nested")->path(), "<memory>:/obs/nested");
  EXPECT_EQ(root->group("obs")->group("nested")->children(), std::vector<std::string>{"deep"});
  EXPECT_TRUE(test::throws_with<FormatError>([&] { (void)root->group("X"); },
                                             {"no group 'X'", "<memory>:/", "array"}));
  EXPECT_TRUE(test::throws_with<FormatError>([&] { (void)obs->array_meta("zz"); },
                                             {"no array 'zz'", "<memory>:/obs"}));
  // create_group opens an existing group; it refuses an array's name, and arrays refuse groups'.
  EXPECT_EQ(root->create_group("obs")->children(), std::vector<std::string>{"nested"});
  EXPECT_THROW(root->create_group("X"), ValueError);
  EXPECT_THROW(root->create_array("obs", ArrayMeta{{1}, DType::int8, {}}, Compression{}),
               ValueError);
}

TEST(Groups, EscapingNamesAreRefused) {
  TempDir dir;
  auto root = create_zarr(dir.path() / "s.zarr");
  for (const std::string& bad :
       std::vector<std::string>{"..", ".", "../x", "a/b", "/abs", "", "a\\b",
                                std::string("a\0b", 3), ".zarray", ".zgroup", ".zattrs"}) {
    EXPECT_THROW(root->create_group(bad), ValueError) << bad;
    EXPECT_THROW(root->create_array(bad, ArrayMeta{{1}, DType::int8, {}}, Compression{}),
                 ValueError)
        << bad;
    EXPECT_THROW(root->write_strings(bad, {"x"}, {1}, Compression{}), ValueError) << bad;
    if (!bad.empty()) {
      EXPECT_THROW(root->set_attribute("k", 1, bad), ValueError) << bad;
    }
    EXPECT_THROW((void)root->group(bad), FormatError) << bad;
    EXPECT_THROW((void)root->has_array(bad), FormatError) << bad;
    EXPECT_THROW((void)root->read_strings(bad), FormatError) << bad;
  }
  // Nothing appeared outside the store, and the store holds only its .zgroup.
  std::vector<std::string> outside;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    outside.push_back(e.path().filename().string());
  }
  EXPECT_EQ(outside, std::vector<std::string>{"s.zarr"});
  std::vector<std::string> inside;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "s.zarr")) {
    inside.push_back(e.path().filename().string());
  }
  EXPECT_EQ(inside, std::vector<std::string>{".zgroup"});
  // Dots inside a name are fine.
  root->create_group("a..b");
  EXPECT_TRUE(root->has_group("a..b"));
}

TEST(Groups, ReadOnlyRefusesWrites) {
  TempDir dir;
  {
    auto root = create_zarr(dir.path() / "r.zarr");
    root->create_array("x", ArrayMeta{{2}, DType::int8, {}}, Compression{});
  }
  auto ro = open_zarr(dir.path() / "r.zarr", false);
  EXPECT_TRUE(test::throws_with<IoError>([&] { (void)ro->create_group("g"); }, {"read-only"}));
  EXPECT_THROW(ro->set_attribute("a", 1), IoError);
  EXPECT_THROW(ro->create_array("y", ArrayMeta{{2}, DType::int8, {}}, Compression{}), IoError);
  EXPECT_THROW(ro->write("x", whole_box({2}), pattern_chunk(DType::int8, {1, 2})), IoError);
  EXPECT_THROW(ro->write_strings("s", {"a"}, {1}, Compression{}), IoError);
  EXPECT_EQ(ro->read_all("x").shape(), (Shape{1, 2}));
  EXPECT_EQ(ro->path(), (dir.path() / "r.zarr").string() + ":/");
}

TEST(Factories, CreateAndOpenDirectories) {
  TempDir dir;
  const auto path = dir.path() / "nested" / "new.zarr";
  create_zarr(path)->create_group("g");
  EXPECT_TRUE(std::filesystem::exists(path / ".zgroup"));
  EXPECT_TRUE(open_zarr(path, false)->has_group("g"));
  // An existing store is replaced only when asked.
  EXPECT_THROW(create_zarr(path), IoError);
  auto again = create_zarr(path, /*overwrite=*/true);
  EXPECT_TRUE(again->children().empty());
  // A folder with other files is never emptied; a file is not a folder.
  std::filesystem::create_directories(dir.path() / "other");
  std::ofstream(dir.path() / "other" / "keep.txt") << "precious";
  EXPECT_THROW(create_zarr(dir.path() / "other", true), IoError);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "other" / "keep.txt"));
  EXPECT_THROW(create_zarr(dir.path() / "other" / "keep.txt", true), IoError);
  EXPECT_THROW(open_zarr(dir.path() / "missing", false), IoError);
  EXPECT_TRUE(test::throws_with<FormatError>([&] { (void)open_zarr(dir.path() / "other", false); },
                                             {"not a Zarr group", ".zgroup", "zarr.json"}));
  // An empty folder is used as it is.
  std::filesystem::create_directories(dir.path() / "empty");
  create_zarr(dir.path() / "empty");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "empty" / ".zgroup"));
  // Opening a sub-group of a store directly.
  auto store = std::make_shared<DirectoryStore>(path);
  again->create_group("sub")->create_group("inner");
  EXPECT_EQ(open_zarr(store, "lbl", false, "sub")->children(), std::vector<std::string>{"inner"});
  EXPECT_THROW(open_zarr(store, "lbl", false, "../x"), ValueError);
}

}  // namespace
}  // namespace tessera::io
