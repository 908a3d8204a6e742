// ZipStore on archives that pack_zip_store made from a directory store: the same values, listings
// and sizes as the directory, byte ranges, read-only refusals, and many threads reading at once
// (libzip handles are not thread-safe: the store must serialize them).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <thread>

#include "tessera/core/error.hpp"
#include "tessera/io/zarr_store.hpp"
#include "tessera/io/zip_store.hpp"

namespace tessera::io {
namespace {

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("tessera-zip-test-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

Bytes bytes_of(const std::string& text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

Bytes pattern(std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::byte>((i * 131 + i / 251) & 0xFF);
  return out;
}

class ZipStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DirectoryStore dir(tmp_.path() / "store");
    values_ = {{".zgroup", bytes_of(R"({"zarr_format": 2})")},
               {"obs/.zattrs", bytes_of(R"({"column-order": []})")},
               {"obs/.zgroup", bytes_of(R"({"zarr_format": 2})")},
               {"obs/batch/0", bytes_of("abc")},
               {"empty", Bytes{}},
               {"X/0.0", pattern(3 << 20)}};
    for (const auto& [k, v] : values_)
      dir.set(k, v);
    archive_ = tmp_.path() / "out.zarr.zip";
    pack_zip_store(tmp_.path() / "store", archive_);
  }
  TempDir tmp_;
  std::map<std::string, Bytes> values_;
  std::filesystem::path archive_;
};

TEST_F(ZipStoreTest, ReadsWhatWasPacked) {
  const ZipStore z(archive_);
  for (const auto& [k, v] : values_) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(z.contains(k));
    EXPECT_EQ(z.get(k).value(), v);
    EXPECT_EQ(z.size_of(k).value(), v.size());
  }
  EXPECT_FALSE(z.get("missing").has_value());
  EXPECT_FALSE(z.contains("obs"));  // a folder is not a value
  EXPECT_FALSE(z.size_of("obs/batch").has_value());
  EXPECT_EQ(z.list(""), (std::vector<std::string>{".zgroup", "X", "empty", "obs"}));
  EXPECT_EQ(z.list("obs"), (std::vector<std::string>{".zattrs", ".zgroup", "batch"}));
  EXPECT_TRUE(z.list("nothing").empty());
  EXPECT_EQ(z.describe("obs/.zattrs"), archive_.string() + "/obs/.zattrs");
  EXPECT_THROW((void)z.get("../x"), ValueError);
  // Only the archive and the packed folder: no scratch files beside them.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(tmp_.path()))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"out.zarr.zip", "store"}));
}

TEST_F(ZipStoreTest, ByteRanges) {
  const ZipStore z(archive_);
  const Bytes& x = values_["X/0.0"];
  for (const auto& [offset, length] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 10}, {1000, 5000}, {x.size() - 7, 7}, {x.size(), 0}, {12345, 0}}) {
    const Bytes got = z.get_range("X/0.0", offset, length).value();
    EXPECT_EQ(got, Bytes(x.begin() + static_cast<std::ptrdiff_t>(offset),
                         x.begin() + static_cast<std::ptrdiff_t>(offset + length)))
        << offset << "+" << length;
  }
  EXPECT_THROW((void)z.get_range("X/0.0", x.size() - 3, 4), FormatError);
  EXPECT_FALSE(z.get_range("missing", 0, 1).has_value());
}

TEST_F(ZipStoreTest, ReadOnly) {
  ZipStore z(archive_);
  EXPECT_THROW(z.set("a", bytes_of("x")), IoError);
  EXPECT_THROW((void)z.erase(".zgroup"), IoError);
  EXPECT_THROW(z.erase_prefix("obs"), IoError);
  EXPECT_EQ(z.get(".zgroup").value(), values_[".zgroup"]);
}

TEST_F(ZipStoreTest, ManyThreadsAtOnce) {
  const ZipStore z(archive_);
  const Bytes& x = values_["X/0.0"];
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 gen(static_cast<unsigned>(t));
      for (int i = 0; i < 40; ++i) {
        if (i % 8 == 0) {
          if (z.get("X/0.0").value() != x) ++wrong;
          continue;
        }
        const std::size_t offset = gen() % x.size();
        const std::size_t length = gen() % (x.size() - offset + 1);
        const Bytes got = z.get_range("X/0.0", offset, length).value();
        if (!std::equal(got.begin(), got.end(), x.begin() + static_cast<std::ptrdiff_t>(offset)))
          ++wrong;
        if (z.get("obs/batch/0").value() != values_["obs/batch/0"]) ++wrong;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ZipStoreTest, PackingReplacesAndRefuses) {
  // An existing file at the target is replaced; the source must be a folder.
  { std::ofstream(tmp_.path() / "other.zarr.zip") << "not a zip"; }
  pack_zip_store(tmp_.path() / "store", tmp_.path() / "other.zarr.zip");
  EXPECT_EQ(ZipStore(tmp_.path() / "other.zarr.zip").get("obs/batch/0").value(),
            values_["obs/batch/0"]);
  EXPECT_THROW(pack_zip_store(tmp_.path() / "nothing", tmp_.path() / "x.zarr.zip"), IoError);
  EXPECT_FALSE(std::filesystem::exists(tmp_.path() / "x.zarr.zip"));
}

TEST_F(ZipStoreTest, OpeningErrors) {
  EXPECT_THROW(ZipStore(tmp_.path() / "missing.zarr.zip"), IoError);
  EXPECT_THROW(ZipStore(tmp_.path() / "store"), IoError);  // a folder
  { std::ofstream(tmp_.path() / "text.zarr.zip") << "hello, not a zip archive at all"; }
  try {
    const ZipStore z(tmp_.path() / "text.zarr.zip");
    ADD_FAILURE() << "opened a text file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("text.zarr.zip"), std::string::npos) << e.what();
  }
}

TEST_F(ZipStoreTest, OpenZarrZipIsReadOnly) {
  const std::unique_ptr<Group> root = open_zarr_zip(archive_);
  EXPECT_EQ(root->path().rfind(archive_.string(), 0), 0U) << root->path();
  EXPECT_TRUE(root->has_group("obs"));
  EXPECT_THROW(root->create_group("new"), IoError);
  EXPECT_THROW(root->set_attribute("k", Json(1)), IoError);
}

TEST(ZipStorePath, Suffix) {
  EXPECT_TRUE(is_zip_store_path("a/pbmc.zarr.zip"));
  EXPECT_TRUE(is_zip_store_path("pbmc.zarr.zip/"));
  EXPECT_FALSE(is_zip_store_path("pbmc.zip"));
  EXPECT_FALSE(is_zip_store_path("pbmc.zarr"));
  EXPECT_FALSE(is_zip_store_path(".zarr.zip"));
}

}  // namespace
}  // namespace tessera::io
