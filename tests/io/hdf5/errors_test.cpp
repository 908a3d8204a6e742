// Bad input never crashes: missing files, garbage, HDF5 files truncated at any length, and
// compressed chunks with damaged bytes all end in FormatError or IoError naming the path.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "h5_test_util.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/hdf5_file.hpp"

namespace tessera::io {
namespace {

using test::pattern_chunk;
using test::ScratchDir;

std::vector<char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::string& path, const std::vector<char>& bytes, std::size_t length) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(length));
}

bool mentions(const std::exception& e, const std::string& text) {
  return std::string(e.what()).find(text) != std::string::npos;
}

// Reads every element of the file the way a reader would, so that damage anywhere shows.
void read_everything(const Group& group) {
  (void)group.attributes();
  for (const std::string& name : group.children()) {
    if (group.has_group(name)) {
      read_everything(*group.group(name));
    } else if (group.has_array(name)) {
      (void)group.attributes(name);
      const ArrayMeta meta = group.array_meta(name);
      if (meta.is_string()) {
        (void)group.read_strings(name);
      } else {
        (void)group.read_all(name);
      }
    }
  }
}

void write_sample(const std::string& file) {
  auto root = create_h5(file);
  root->set_attribute("encoding-type", "anndata");
  auto obs = root->create_group("obs");
  obs->set_attribute("column-order", Json::array({"a", "b"}));
  obs->write_strings("_index", {"c1", "c2", "c3"}, {3}, Compression{});
  for (const char* codec : {"lz4", "zstd", "zlib"}) {
    root->create_array(codec, ArrayMeta{{64, 8}, DType::float64, {16, 8}},
                       Compression::from_name(codec));
    root->write(codec, Box{{0, 0}, {64, 8}}, pattern_chunk(DType::float64, {64, 8}, 2));
  }
  root->create_array("plain", ArrayMeta{{100}, DType::int32, {}}, Compression{});
  root->write("plain", Box{{0}, {100}}, pattern_chunk(DType::int32, {1, 100}));
}

TEST(Hdf5Errors, MissingFilesAndDirectoriesAreIoErrors) {
  ScratchDir dir("missing");
  try {
    (void)open_h5(dir.file("nope.h5"));
    FAIL();
  } catch (const IoError& e) {
    EXPECT_TRUE(mentions(e, dir.file("nope.h5"))) << e.what();
  }
  EXPECT_THROW((void)open_h5(dir.path().string()), IoError);
  EXPECT_THROW((void)create_h5(dir.file("no/such/dir/x.h5")), IoError);
  EXPECT_FALSE(is_h5_file(dir.file("nope.h5")));
  EXPECT_FALSE(is_h5_file(dir.path().string()));
}

TEST(Hdf5Errors, GarbageIsAFormatError) {
  ScratchDir dir("garbage");
  const std::string file = dir.file("garbage.h5");
  std::vector<char> bytes(4096);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>((i * 131 + 7) % 256);
  spit(file, bytes, bytes.size());
  try {
    (void)open_h5(file);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_TRUE(mentions(e, file)) << e.what();
    EXPECT_TRUE(mentions(e, "not an HDF5 file")) << e.what();
  }
  EXPECT_FALSE(is_h5_file(file));
  spit(file, bytes, 0);  // empty file
  EXPECT_THROW((void)open_h5(file), FormatError);
}

TEST(Hdf5Errors, TruncatedFilesFailCleanlyAtEveryLength) {
  ScratchDir dir("truncated");
  const std::string good = dir.file("good.h5");
  write_sample(good);
  const std::vector<char> bytes = slurp(good);
  ASSERT_GT(bytes.size(), 1000U);
  read_everything(*open_h5(good));
  const std::string cut = dir.file("cut.h5");
  for (std::size_t length = 0; length < bytes.size();
       length += std::max<std::size_t>(1, bytes.size() / 97)) {
    spit(cut, bytes, length);
    SCOPED_TRACE(length);
    try {
      read_everything(*open_h5(cut));
      ADD_FAILURE() << "a file cut to " << length << " of " << bytes.size() << " bytes read fine";
    } catch (const FormatError& e) {
      EXPECT_TRUE(mentions(e, cut)) << e.what();
      if (length >= 8) {
        EXPECT_TRUE(mentions(e, "truncated")) << e.what();
      }
    }
  }
}

// Damages the bytes of one stored chunk of `dataset` (found through HDF5's chunk index).
void damage_chunk(const std::string& file, const std::string& dataset, bool zero) {
  haddr_t address = 0;
  hsize_t size = 0;
  {
    const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
    const hsize_t offset[2] = {16, 0};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(d, offset, &mask, &address, &size), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  std::vector<char> bytes = slurp(file);
  ASSERT_LE(address + size, bytes.size());
  // Past the first bytes, so that headers stay plausible and the decoder itself must notice.
  for (hsize_t i = size / 4; i < size; ++i)
    bytes[address + i] = zero ? 0 : static_cast<char>(bytes[address + i] ^ 0x5A);
  spit(file, bytes, bytes.size());
}

TEST(Hdf5Errors, DamagedCompressedChunksAreFormatErrors) {
  ScratchDir dir("damaged");
  for (const char* codec : {"lz4", "zstd", "zlib"}) {
    for (bool zero : {false, true}) {
      SCOPED_TRACE(std::string(codec) + (zero ? " zeroed" : " flipped"));
      const std::string file = dir.file(std::string(codec) + (zero ? "_z" : "_f") + ".h5");
      write_sample(file);
      damage_chunk(file, codec, zero);
      auto root = open_h5(file);
      // Undamaged chunks still read.
      EXPECT_TRUE(array_equal(root->read(codec, Box{{0, 0}, {16, 8}}),
                              pattern_chunk(DType::float64, {64, 8}, 2).block(0, 16, 0, 8)));
      try {
        const Chunk got = root->read(codec, Box{{16, 0}, {16, 8}});
        // A codec without a checksum may decode garbage; it must not be the original.
        EXPECT_FALSE(
            array_equal(got, pattern_chunk(DType::float64, {64, 8}, 2).block(16, 32, 0, 8)));
      } catch (const FormatError& e) {
        EXPECT_TRUE(mentions(e, file + ":/" + codec)) << e.what();
      }
    }
  }
}

TEST(Hdf5Errors, DamagedBloscHeadersAreFormatErrors) {
  ScratchDir dir("blosc_header");
  const std::string file = dir.file("h.h5");
  write_sample(file);
  haddr_t address = 0;
  hsize_t size = 0;
  {
    const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "lz4", H5P_DEFAULT);
    const hsize_t offset[2] = {0, 0};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(d, offset, &mask, &address, &size), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  std::vector<char> bytes = slurp(file);
  // Blosc header: bytes 4-7 the decoded size, 12-15 the compressed size. Claim 1 GiB decoded.
  bytes[address + 7] = 0x40;
  spit(file, bytes, bytes.size());
  auto root = open_h5(file);
  try {
    (void)root->read("lz4", Box{{0, 0}, {16, 8}});
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_TRUE(mentions(e, "Blosc")) << e.what();
  }
}

TEST(Hdf5Errors, BoxesOutsideTheArray) {
  ScratchDir dir("boxes");
  auto root = create_h5(dir.file("b.h5"));
  root->create_array("x", ArrayMeta{{4, 3}, DType::int8, {}}, Compression{});
  EXPECT_THROW((void)root->read("x", Box{{0, 0}, {5, 3}}), FormatError);
  EXPECT_THROW((void)root->read("x", Box{{-1, 0}, {1, 3}}), FormatError);
  EXPECT_THROW((void)root->read("x", Box{{0}, {4}}), FormatError);
  EXPECT_THROW(root->write("x", Box{{3, 0}, {2, 3}}, pattern_chunk(DType::int8, {2, 3})),
               IndexError);
  EXPECT_THROW(root->write("x", Box{{0, 0}, {2, 3}}, pattern_chunk(DType::int8, {3, 2})),
               ShapeError);
  const Chunk sparse = Chunk::from_csr<std::int8_t>({1, 3}, {0, 1}, {2}, {5});
  EXPECT_THROW(root->write("x", Box{{0, 0}, {1, 3}}, sparse), ValueError);
  EXPECT_THROW((void)root->read("missing", Box{{0}, {1}}), FormatError);
}

}  // namespace
}  // namespace tessera::io
