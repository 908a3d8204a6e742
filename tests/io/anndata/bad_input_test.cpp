// Bad input for the h5ad/zarr readers and writers: every broken file must give a typed Tessera
// error whose message names the element (or the file), never a crash, a hang or a wrong result.
//
// The broken files come from make_bad_inputs.py (h5py, zarr-python and raw bytes on top of files
// written by the reference anndata 0.8); its manifest says, per case, when the error must come
// (on the lazy read, or only when the chunk is read) and what the message must name. The same
// source is built twice: io_bad_input_test (serial) and io_bad_input_mpi_test (1–4 ranks, where a
// chunk that fails on one rank must fail the collective on all of them). Also here: bad paths,
// and names that try to leave a Zarr store.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "tessera/core/error.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/zarr_store.hpp"

namespace tessera::io {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using test::attempt;
using test::ctx;
using test::describe;
using test::Outcome;

[[maybe_unused]] const bool kMemoryLimited = test::limit_address_space();

fs::path scratch(const std::string& name) {
  return test::scratch("bad_input", name);
}

// An accepted type: one listed ("Error" accepts every typed Tessera error except InternalError,
// which is a bug), or DistributedError when the failure may come from another rank's chunk.
bool accepted(const Outcome& o, const std::vector<std::string>& types, bool remote_ok) {
  if (!o.threw) return false;
  if (remote_ok && o.type == "DistributedError") return true;
  for (const auto& t : types) {
    if (t == o.type) return true;
    if (t == "Error" && o.type != "InternalError" && !o.type.starts_with("untyped") &&
        o.type != "unknown exception") {
      return true;
    }
  }
  return false;
}

// ---- the manifest of make_bad_inputs.py

struct Case {
  std::string name;
  std::string path;
  std::string stage;  // open, compute, any, none
  std::vector<std::string> errors;
  std::vector<std::string> contains;
};

std::vector<Case> load_cases() {
  std::ifstream in(test::fixtures() / "manifest.json");
  if (!in) return {Case{"manifest_missing", "", "manifest", {}, {}}};
  const Json doc = Json::parse(in);
  std::vector<Case> cases;
  for (const Json& c : doc.at("cases")) {
    cases.push_back({c.at("name").get<std::string>(), c.at("path").get<std::string>(),
                     c.at("stage").get<std::string>(),
                     c.at("errors").get<std::vector<std::string>>(),
                     c.at("contains").get<std::vector<std::string>>()});
  }
  return cases;
}

// Lazy chunks: the readers' default (one chunk for these small files) and tiny ones (many chunks,
// spread over the ranks, so a bad chunk is read on a rank other than 0).
struct Variant {
  Case c;
  index_t chunk_bytes;
};

std::vector<Variant> variants() {
  std::vector<Variant> out;
  for (const Case& c : load_cases()) {
    out.push_back({c, kDefaultChunkBytes});
    if (c.stage == "compute" || c.stage == "any" || c.stage == "none") out.push_back({c, 32});
  }
  return out;
}

void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.c.name << " (" << v.c.stage << ", chunk_bytes " << v.chunk_bytes << ")";
}

class BadInput : public ::testing::TestWithParam<Variant> {};

void expect_error(const Outcome& o, const Case& c, bool remote_ok, const char* what) {
  EXPECT_TRUE(o.threw) << c.name << " (" << c.path << "): " << what << " did not fail";
  if (!o.threw) return;
  EXPECT_TRUE(accepted(o, c.errors, remote_ok))
      << c.name << ": " << what << " threw " << describe(o) << "; expected one of "
      << Json(c.errors).dump();
  for (const auto& s : c.contains) {
    EXPECT_NE(o.message.find(s), std::string::npos)
        << c.name << ": " << what << ": the message does not name '" << s << "': " << o.message;
  }
}

TEST_P(BadInput, FailsWithATypedErrorNamingTheElement) {
  const Case& c = GetParam().c;
  ASSERT_NE(c.stage, "manifest") << "no manifest in " << test::fixtures()
                                 << " (run make_bad_inputs.py first)";
  ReadOptions lazy;
  lazy.lazy = true;
  lazy.chunk_bytes = GetParam().chunk_bytes;
  ReadOptions eager = lazy;
  eager.lazy = false;
  const bool several = ctx().size() > 1;

  std::optional<AnnData> opened;
  const Outcome open = attempt([&] { opened.emplace(read(c.path, ctx(), lazy)); });
  // Every rank reads the same metadata: the lazy read must fail everywhere or nowhere (a rank
  // going on alone into the collective below would hang).
  const bool open_failed = open.threw;
  const bool agree = test::everywhere(open_failed) == test::anywhere(open_failed);
  EXPECT_TRUE(agree) << c.name << ": the lazy read failed on some ranks only: " << describe(open);
  if (!agree) return;

  if (c.stage == "none") {
    EXPECT_FALSE(open.threw) << c.name << ": " << describe(open);
    if (!open.threw) {
      const Outcome computed = attempt([&] { (void)opened->to_memory(ctx()); });
      EXPECT_FALSE(computed.threw) << c.name << ": to_memory: " << describe(computed);
    }
  } else if (c.stage == "open") {
    expect_error(open, c, false, "the lazy read");
  } else {
    if (c.stage == "compute") {
      EXPECT_FALSE(open.threw) << c.name << ": the lazy read must not read chunks, but threw "
                               << describe(open);
    }
    if (!open.threw) {
      const Outcome computed = attempt([&] { (void)opened->to_memory(ctx()); });
      expect_error(computed, c, several, "materializing the lazy read");
    } else {
      expect_error(open, c, false, "the lazy read");
    }
  }

  const Outcome whole = attempt([&] { (void)read(c.path, ctx(), eager); });
  if (c.stage == "none") {
    EXPECT_FALSE(whole.threw) << c.name << ": eager read: " << describe(whole);
  } else {
    expect_error(whole, c, several && c.stage != "open", "the eager read");
  }
}

std::string case_name(const ::testing::TestParamInfo<Variant>& info) {
  std::string n =
      info.param.c.name + (info.param.chunk_bytes == kDefaultChunkBytes ? "" : "_small_chunks");
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Manifest, BadInput, ::testing::ValuesIn(variants()), case_name);

// Element paths in messages read as "file.h5ad:/X" and "file.zarr:/obs/cat": one slash after the
// file, as for nested elements.
TEST(BadInputMessages, RootElementsAreNamedWithOneSlash) {
  for (const char* name : {"csr_without_shape_h5ad.h5ad", "csr_without_shape_zarr.zarr"}) {
    const Outcome o = attempt([&] { (void)read(test::fixtures() / name, ctx(), ReadOptions{}); });
    EXPECT_NE(o.message.find(std::string(name) + ":/X"), std::string::npos) << o.message;
    EXPECT_EQ(o.message.find("://"), std::string::npos) << o.message;
  }
}

AnnData base_object() {
  return read(test::fixtures() / "base.h5ad", ctx(), ReadOptions{});
}

// ---- paths

TEST(BadPaths, AMissingFileIsAnIoErrorNamingIt) {
  for (const char* name : {"no_such_file.h5ad", "no_such_store.zarr"}) {
    const fs::path path = test::fixtures() / name;
    const Outcome o = attempt([&] { (void)read(path, ctx(), ReadOptions{}); });
    EXPECT_EQ(o.type, "IoError") << describe(o);
    EXPECT_NE(o.message.find(name), std::string::npos) << o.message;
  }
}

TEST(BadPaths, AnUnknownSuffixIsAValueErrorNamingThePath) {
  for (const char* name : {"data.csv", "data", "data.h5ad.bak"}) {
    const Outcome o = attempt([&] { (void)read(test::fixtures() / name, ctx(), ReadOptions{}); });
    EXPECT_EQ(o.type, "ValueError") << describe(o);
    EXPECT_NE(o.message.find(name), std::string::npos) << o.message;
  }
}

TEST(BadPaths, WritingBelowARegularFileIsAnIoErrorNamingThePath) {
  const fs::path dir = scratch("below_file");
  if (ctx().rank() == 0) std::ofstream(dir / "a_regular_file") << "not a directory";
  ctx().comm().barrier("regular file");
  const AnnData a = base_object();
  for (const char* name : {"x.h5ad", "x.zarr"}) {
    const fs::path path = dir / "a_regular_file" / name;
    const Outcome o = attempt([&] { write(a, path, ctx()); });
    EXPECT_TRUE(o.type == "IoError" || o.type == "DistributedError") << describe(o);
    EXPECT_NE(o.message.find("a_regular_file"), std::string::npos) << o.message;
  }
  ctx().comm().barrier("checked");
  if (ctx().rank() == 0) {
    EXPECT_TRUE(fs::is_regular_file(dir / "a_regular_file"));
  }
}

TEST(BadPaths, AnUnknownCompressorIsAValueError) {
  const Outcome o = attempt([] { (void)Compression::from_name("lzma2000"); });
  EXPECT_EQ(o.type, "ValueError") << describe(o);
  EXPECT_NE(o.message.find("lzma2000"), std::string::npos) << o.message;
}

// ---- Zarr keys and element names that try to leave the store

TEST(ZarrNames, StoreKeysThatLeaveTheStoreAreRefused) {
  for (const char* key : {"..", "../x", "a/../b", "a/..", "/abs", "a//b", "a\\b", ".", "./a", ""}) {
    const Outcome o = attempt([&] { check_store_key(key); });
    EXPECT_EQ(o.type, "ValueError") << "key '" << key << "': " << describe(o);
  }
  const Outcome nul = attempt([] { check_store_key(std::string_view("a\0b", 3)); });
  EXPECT_EQ(nul.type, "ValueError") << describe(nul);
}

TEST(ZarrNames, ADirectoryStoreNeverReadsOrWritesOutsideItsRoot) {
  const fs::path dir = scratch("directory_store");
  if (ctx().rank() == 0) {
    fs::create_directories(dir / "store");
    std::ofstream(dir / "secret") << "outside the store";
    const auto store = std::make_shared<DirectoryStore>(dir / "store");
    EXPECT_EQ(attempt([&] { (void)store->get("../secret"); }).type, "ValueError");
    EXPECT_EQ(attempt([&] { (void)store->contains("../secret"); }).type, "ValueError");
    const std::byte b{42};
    EXPECT_EQ(attempt([&] { store->set("../written", std::span(&b, 1)); }).type, "ValueError");
    EXPECT_EQ(attempt([&] { (void)store->erase("../secret"); }).type, "ValueError");
    EXPECT_EQ(attempt([&] { store->erase_prefix(".."); }).type, "ValueError");
    EXPECT_EQ(attempt([&] { (void)store->list("../"); }).type, "ValueError");
    EXPECT_TRUE(fs::exists(dir / "secret"));
    EXPECT_FALSE(fs::exists(dir / "written"));
    EXPECT_EQ(attempt([&] { (void)open_zarr(store, "s.zarr", false, ".."); }).type, "ValueError");
  }
  ctx().comm().barrier("directory store");
}

// Writers refuse names that would leave their group; nothing is written outside the target.
TEST(ZarrNames, WritingElementNamesWithDotDotOrSlashFailsWithoutEscaping) {
  const fs::path dir = scratch("write_names");
  struct Bad {
    const char* what;
    std::function<void(AnnData&)> apply;
  };
  const std::vector<Bad> bad = {
      {"obs column '../../evil'",
       [](AnnData& a) {
         a.obs().set("../../evil", Column::from(std::vector<double>(a.n_obs(), 1.0)));
       }},
      {"obs column 'a/b'",
       [](AnnData& a) { a.obs().set("a/b", Column::from(std::vector<double>(a.n_obs(), 1.0))); }},
      {"obsm key '../../evil'",
       [](AnnData& a) {
         a.obsm().set("../../evil", Chunk::dense_filled(DType::float64, {a.n_obs(), 2}, 1.0));
       }},
      {"layers key 'x/y'",
       [](AnnData& a) {
         a.layers().set("x/y", Chunk::dense_filled(DType::float32, {a.n_obs(), a.n_vars()}, 1.0));
       }},
      {"uns key '..'", [](AnnData& a) { a.uns().set("..", UnsValue("text")); }},
      {"uns key '../../evil'",
       [](AnnData& a) { a.uns().set("../../evil", UnsValue(NdArray::scalar<double>(1.0))); }},
  };
  for (const Bad& b : bad) {
    AnnData a = base_object();
    b.apply(a);
    const fs::path target = dir / "inner" / "out.zarr";
    if (ctx().rank() == 0) fs::create_directories(target.parent_path());
    ctx().comm().barrier("write names");
    const Outcome o = attempt([&] { write(a, target, ctx()); });
    EXPECT_TRUE(o.type == "ValueError" || o.type == "FormatError" || o.type == "DistributedError" ||
                o.type == "IoError")
        << b.what << ": " << describe(o);
    ctx().comm().barrier("write names checked");
    if (ctx().rank() == 0) {
      EXPECT_FALSE(fs::exists(dir / "evil")) << b.what << " escaped the store";
      EXPECT_FALSE(fs::exists(dir / "inner" / "evil")) << b.what << " escaped the store";
      EXPECT_FALSE(fs::exists(target)) << b.what << ": a failed write left " << target;
      fs::remove_all(dir / "inner");
      fs::remove_all(dir / "evil");
    }
    ctx().comm().barrier("write names cleaned");
  }
}

}  // namespace
}  // namespace tessera::io
