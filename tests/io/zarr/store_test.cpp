// The key-value stores under Zarr: the same behaviour from the directory and the memory store,
// and keys that try to leave the store refused before they reach the file system.
#include <gtest/gtest.h>

#include <fstream>

#include "tessera/io/zarr_store.hpp"
#include "zarr_test_util.hpp"

namespace tessera::io {
namespace {

using test::TempDir;
using test::to_bytes;

std::string text_of(const std::optional<Bytes>& b) {
  return b ? std::string(reinterpret_cast<const char*>(b->data()), b->size()) : "<none>";
}

class StoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      store_ = std::make_shared<DirectoryStore>(dir_.path() / "store");
    } else {
      store_ = std::make_shared<MemoryStore>();
    }
  }
  TempDir dir_;
  std::shared_ptr<KeyValueStore> store_;
};

TEST_P(StoreTest, SetGetEraseList) {
  KeyValueStore& s = *store_;
  EXPECT_FALSE(s.get("a").has_value());
  EXPECT_FALSE(s.contains("a"));
  s.set(".zgroup", to_bytes("{}"));
  s.set("obs/.zgroup", to_bytes("g"));
  s.set("obs/batch/.zarray", to_bytes("arr"));
  s.set("obs/batch/0", to_bytes(""));
  s.set("X/0.1", to_bytes("chunk"));
  EXPECT_EQ(text_of(s.get("X/0.1")), "chunk");
  EXPECT_EQ(text_of(s.get("obs/batch/0")), "");
  EXPECT_TRUE(s.contains("obs/batch/0"));
  // A folder is not a value.
  EXPECT_FALSE(s.get("obs").has_value());
  EXPECT_FALSE(s.contains("obs/batch"));

  EXPECT_EQ(s.list(""), (std::vector<std::string>{".zgroup", "X", "obs"}));
  EXPECT_EQ(s.list("obs"), (std::vector<std::string>{".zgroup", "batch"}));
  EXPECT_EQ(s.list("obs/batch"), (std::vector<std::string>{".zarray", "0"}));
  EXPECT_TRUE(s.list("nothing").empty());

  s.set("X/0.1", to_bytes("replaced"));
  EXPECT_EQ(text_of(s.get("X/0.1")), "replaced");
  EXPECT_TRUE(s.erase("X/0.1"));
  EXPECT_FALSE(s.erase("X/0.1"));
  EXPECT_FALSE(s.get("X/0.1").has_value());

  s.erase_prefix("obs");
  EXPECT_FALSE(s.contains("obs/.zgroup"));
  EXPECT_FALSE(s.contains("obs/batch/.zarray"));
  EXPECT_TRUE(s.contains(".zgroup"));
  s.erase_prefix("");
  EXPECT_FALSE(s.contains(".zgroup"));
}

TEST_P(StoreTest, BinaryValuesSurvive) {
  Bytes value(1000);
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<std::byte>(i * 31);
  store_->set("bin", value);
  EXPECT_EQ(store_->get("bin"), value);
}

TEST_P(StoreTest, EscapingKeysAreRefused) {
  for (const std::string& key :
       std::vector<std::string>{"..", "../x", "a/../../x", "/etc/passwd", "a//b", "a/", "a\\b",
                                "..\\x", ".", "./a", "a/.", std::string("a\0b", 3), ""}) {
    EXPECT_THROW(store_->set(key, to_bytes("x")), ValueError) << key;
    EXPECT_THROW((void)store_->get(key), ValueError) << key;
    EXPECT_THROW((void)store_->contains(key), ValueError) << key;
    EXPECT_THROW((void)store_->erase(key), ValueError) << key;
  }
  EXPECT_THROW(store_->erase_prefix(".."), ValueError);
  EXPECT_THROW((void)store_->list("../"), ValueError);
  // Nothing was written next to the store.
  std::vector<std::string> siblings;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    siblings.push_back(e.path().filename().string());
  }
  EXPECT_TRUE(siblings.empty() || siblings == std::vector<std::string>{"store"});
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "x"));
}

TEST_P(StoreTest, DotsInsideSegmentsAreFine) {
  // Chunk keys ("0.1") and names with dots are ordinary keys.
  store_->set("a..b/0.1", to_bytes("ok"));
  store_->set(".zattrs", to_bytes("ok"));
  EXPECT_EQ(text_of(store_->get("a..b/0.1")), "ok");
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "directory" : "memory"; });

TEST(DirectoryStore, KeysAreFilesBelowTheRoot) {
  TempDir dir;
  DirectoryStore s(dir.path());
  s.set("obs/batch/0", to_bytes("abc"));
  std::ifstream in(dir.path() / "obs" / "batch" / "0", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "abc");
  EXPECT_EQ(s.describe("obs/batch/0"), (dir.path() / "obs/batch/0").string());
}

TEST(DirectoryStore, EmptyingTheRootKeepsTheFolder) {
  TempDir dir;
  DirectoryStore s(dir.path() / "z");
  s.set("a/b", to_bytes("1"));
  s.set("c", to_bytes("1"));
  s.erase_prefix("");
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "z"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "z"));
}

TEST(MemoryStore, KeysAreSorted) {
  MemoryStore s;
  s.set("b", to_bytes("1"));
  s.set("a/c", to_bytes("1"));
  EXPECT_EQ(s.keys(), (std::vector<std::string>{"a/c", "b"}));
  EXPECT_EQ(s.describe("a/c"), "<memory>/a/c");
}

}  // namespace
}  // namespace tessera::io
