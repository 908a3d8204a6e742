// Compressed HDF5 arrays: gzip, Blosc with each compressor and shuffle, Zstandard; chunk shapes as
// asked (clamped to the array) or chosen; the filter parameters stored as hdf5plugin stores them.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <array>
#include <string>
#include <vector>

#include "h5_test_util.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/hdf5_file.hpp"

namespace tessera::io {
namespace {

using test::pattern_chunk;
using test::ScratchDir;
using V = std::vector<index_t>;

struct Case {
  std::string label;
  Compression compression;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"gzip", Compression::from_name("zlib")});
  for (const char* cname : {"lz4", "lz4hc", "zstd", "blosclz", "zlib"}) {
    for (int shuffle : {0, 1, 2}) {
      Compression c;
      c.codec = Codec::blosc;
      c.cname = cname;
      c.shuffle = shuffle;
      c.level = shuffle == 2 ? 9 : 5;
      out.push_back({std::string("blosc_") + cname + "_" + std::to_string(shuffle), c});
    }
  }
  Compression zstd;
  zstd.codec = Codec::zstd;
  zstd.level = 3;
  out.push_back({"zstd", zstd});
  return out;
}

TEST(Hdf5Compression, EveryCodecRoundTripsEveryDType) {
  ScratchDir dir("compression");
  const std::string file = dir.file("c.h5");
  const std::vector<DType> dtypes = {DType::boolean, DType::int8,   DType::uint16,  DType::int32,
                                     DType::int64,   DType::uint64, DType::float32, DType::float64};
  {
    auto root = create_h5(file);
    for (const Case& c : cases()) {
      for (DType dtype : dtypes) {
        const std::string name = c.label + "_" + std::string(tessera::name(dtype));
        root->create_array(name, ArrayMeta{{50, 9}, dtype, {16, 4}}, c.compression);
        root->write(name, Box{{0, 0}, {50, 9}}, pattern_chunk(dtype, {50, 9}, 7));
      }
      // Without a chunk shape, compression picks one.
      root->create_array(c.label + "_1d", ArrayMeta{{1000}, DType::float64, {}}, c.compression);
      root->write(c.label + "_1d", Box{{0}, {1000}}, pattern_chunk(DType::float64, {1, 1000}));
    }
  }
  auto root = open_h5(file);
  for (const Case& c : cases()) {
    for (DType dtype : dtypes) {
      const std::string name = c.label + "_" + std::string(tessera::name(dtype));
      SCOPED_TRACE(name);
      const ArrayMeta meta = root->array_meta(name);
      EXPECT_EQ(meta.chunks, (V{16, 4}));
      EXPECT_EQ(meta.dtype, dtype);
      EXPECT_TRUE(identical(root->read_all(name), pattern_chunk(dtype, {50, 9}, 7)));
      EXPECT_TRUE(array_equal(root->read(name, Box{{13, 2}, {20, 5}}),
                              pattern_chunk(dtype, {50, 9}, 7).block(13, 33, 2, 7)));
    }
    EXPECT_EQ(root->array_meta(c.label + "_1d").chunks, V{1000});
    EXPECT_TRUE(
        identical(root->read_all(c.label + "_1d"), pattern_chunk(DType::float64, {1, 1000})));
  }
}

TEST(Hdf5Compression, ChunksAreClampedAndEmptyArraysStayContiguous) {
  ScratchDir dir("clamp");
  auto root = create_h5(dir.file("k.h5"));
  root->create_array("big_chunks", ArrayMeta{{3, 5}, DType::int32, {100, 100}},
                     Compression::from_name("lz4"));
  EXPECT_EQ(root->array_meta("big_chunks").chunks, (V{3, 5}));
  root->create_array("empty", ArrayMeta{{0, 5}, DType::int32, {10, 10}},
                     Compression::from_name("lz4"));
  EXPECT_TRUE(root->array_meta("empty").chunks.empty());
  EXPECT_EQ(root->read_all("empty").shape(), (Shape{0, 5}));
  root->create_array("scalar", ArrayMeta{{}, DType::float64, {}}, Compression::from_name("zlib"));
  EXPECT_TRUE(root->array_meta("scalar").chunks.empty());
  EXPECT_THROW(root->create_array("bad_rank", ArrayMeta{{3, 5}, DType::int8, {2}}, Compression{}),
               ShapeError);
  EXPECT_THROW(root->create_array("bad_chunk", ArrayMeta{{3}, DType::int8, {0}}, Compression{}),
               ShapeError);
  EXPECT_THROW(root->create_array("three_d", ArrayMeta{{1, 2, 3}, DType::int8, {}}, Compression{}),
               ShapeError);
  Compression unknown;
  unknown.codec = Codec::blosc;
  unknown.cname = "snappy-not";
  EXPECT_THROW(root->create_array("bad_codec", ArrayMeta{{3}, DType::int8, {3}}, unknown),
               ValueError);
  Compression bad_level = Compression::from_name("zlib");
  bad_level.level = 12;
  EXPECT_THROW(root->create_array("bad_level", ArrayMeta{{3}, DType::int8, {3}}, bad_level),
               ValueError);
}

// The filter parameters in the file, as h5py's dataset.compression_opts would show them.
std::vector<unsigned> stored_filter(const std::string& file, const std::string& dataset,
                                    H5Z_filter_t* id) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  const hid_t dcpl = H5Dget_create_plist(d);
  std::array<unsigned, 16> values{};
  std::size_t n = values.size();
  unsigned flags = 0;
  *id = H5Pget_filter2(dcpl, 0, &flags, &n, values.data(), 0, nullptr, nullptr);
  H5Pclose(dcpl);
  H5Dclose(d);
  H5Fclose(f);
  return {values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n)};
}

TEST(Hdf5Compression, BloscParametersFollowHdf5Plugin) {
  ScratchDir dir("params");
  const std::string file = dir.file("p.h5");
  {
    auto root = create_h5(file);
    Compression c;
    c.codec = Codec::blosc;
    c.cname = "zstd";
    c.level = 7;
    c.shuffle = 2;
    root->create_array("x", ArrayMeta{{100, 10}, DType::float32, {20, 10}}, c);
    root->create_array("z", ArrayMeta{{100}, DType::int64, {25}},
                       Compression{Codec::zstd, "", 4, 0});
    root->create_array("g", ArrayMeta{{100}, DType::int64, {25}}, Compression::from_name("zlib"));
  }
  H5Z_filter_t id = 0;
  // {filter revision 2, Blosc format 2, type size, chunk bytes, level, shuffle, compressor code}.
  EXPECT_EQ(stored_filter(file, "x", &id), (std::vector<unsigned>{2, 2, 4, 800, 7, 2, 5}));
  EXPECT_EQ(id, 32001);
  EXPECT_EQ(stored_filter(file, "z", &id), std::vector<unsigned>{4});
  EXPECT_EQ(id, 32015);
  EXPECT_EQ(stored_filter(file, "g", &id), std::vector<unsigned>{4});
  EXPECT_EQ(id, H5Z_FILTER_DEFLATE);
}

}  // namespace
}  // namespace tessera::io
