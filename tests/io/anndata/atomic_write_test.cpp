// Atomic writes of h5ad and zarr (design card §4): a writer builds the result under a temporary
// sibling and renames it into place only after every rank succeeded. The library's test hook
// TESSERA_TEST_FAIL_WRITE=<slot> makes the last rank throw while writing that array; then every
// rank must get a typed error naming the slot, nothing may be left at the target (nor a
// ".<name>.tessera-*" sibling), and a file already at the target must be untouched. Registered
// at 1–4 ranks and without mpirun; a write that leaves a rank behind in a collective shows up as
// this test's TIMEOUT.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "tessera/io/anndata_io.hpp"

namespace tessera::io {
namespace {

namespace fs = std::filesystem;
using test::attempt;
using test::ctx;
using test::describe;
using test::Outcome;

[[maybe_unused]] const bool kMemoryLimited = test::limit_address_space();

class FailWriteHook {
 public:
  explicit FailWriteHook(const std::string& slot) {
    ::setenv("TESSERA_TEST_FAIL_WRITE", slot.c_str(), 1);
  }
  ~FailWriteHook() { ::unsetenv("TESSERA_TEST_FAIL_WRITE"); }
  FailWriteHook(const FailWriteHook&) = delete;
  FailWriteHook& operator=(const FailWriteHook&) = delete;
};

// Every file below `path` (or the file itself) with its bytes.
std::map<std::string, std::string> contents(const fs::path& path) {
  std::map<std::string, std::string> out;
  const auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  if (fs::is_regular_file(path)) {
    out[""] = slurp(path);
  } else if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) out[fs::relative(e.path(), path).string()] = slurp(e.path());
    }
  }
  return out;
}

std::vector<std::string> temporaries(const fs::path& dir, const std::string& name) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with("." + name + ".tessera-")) found.push_back(n);
  }
  return found;
}

// The base object of the bad-input fixtures: CSR X, a dense layer, obsm, raw with more vars.
AnnData source() {
  return read(test::fixtures() / "base.h5ad", ctx(), ReadOptions{});
}

struct Slot {
  std::string format;
  std::string slot;
  int zarr_format = 2;  // 3: Zarr v3 with X, raw/X and layers sharded (whole shards per rank)
};

void PrintTo(const Slot& s, std::ostream* os) {
  *os << s.format << " v" << s.zarr_format << " " << s.slot;
}

WriteOptions options_for(const Slot& s) {
  WriteOptions o;
  o.zarr_format = s.zarr_format;
  if (s.zarr_format == 3) {
    o.chunks = ChunkSpec(8, -1);
    o.shards = ChunkSpec(16, -1);
  }
  return o;
}

class AtomicWrite : public ::testing::TestWithParam<Slot> {
 protected:
  fs::path dir(const std::string& what) const {
    std::string id = what + "_" + GetParam().format + "_v" +
                     std::to_string(GetParam().zarr_format) + "_" + GetParam().slot;
    for (char& c : id) {
      if (c == '/') c = '_';
    }
    return test::scratch("atomic_write", id);
  }
  std::string name() const { return "out." + GetParam().format; }
};

TEST_P(AtomicWrite, AFailedWriteLeavesNothingAtTheTarget) {
  const fs::path d = dir("fresh");
  const fs::path target = d / name();
  const AnnData a = source();
  Outcome o;
  {
    const FailWriteHook hook(GetParam().slot);
    o = attempt([&] { write(a, target, ctx(), options_for(GetParam())); });
  }
  EXPECT_TRUE(o.type == "IoError" || o.type == "DistributedError") << describe(o);
  EXPECT_NE(o.message.find(GetParam().slot), std::string::npos) << o.message;
  ctx().comm().barrier("failed write");
  if (ctx().rank() == 0) {
    EXPECT_FALSE(fs::exists(target)) << "a failed write left " << target;
    EXPECT_EQ(temporaries(d, name()), std::vector<std::string>{})
        << "temporary siblings remain in " << d;
  }
  ctx().comm().barrier("checked");
}

TEST_P(AtomicWrite, AFailedWriteLeavesAnExistingTargetUntouched) {
  const fs::path d = dir("existing");
  const fs::path target = d / name();
  AnnData a = source();
  write(a, target, ctx(), options_for(GetParam()));
  ctx().comm().barrier("first write");
  const auto before = contents(target);
  a.uns().set("changed", UnsValue("yes"));
  Outcome o;
  {
    const FailWriteHook hook(GetParam().slot);
    o = attempt([&] { write(a, target, ctx(), options_for(GetParam())); });
  }
  EXPECT_TRUE(o.threw) << GetParam().slot;
  ctx().comm().barrier("failed write");
  if (ctx().rank() == 0) {
    EXPECT_TRUE(contents(target) == before) << "the failed write changed the existing " << target;
    EXPECT_EQ(temporaries(d, name()), std::vector<std::string>{})
        << "temporary siblings remain in " << d;
  }
  ctx().comm().barrier("compared");
  const Outcome reread = attempt([&] {
    const AnnData back = read(target, ctx(), test::lazy_reading(false));
    if (back.uns().contains("changed")) throw Error("the target holds the failed write's content");
  });
  EXPECT_FALSE(reread.threw) << describe(reread);
}

TEST_P(AtomicWrite, WithoutTheHookTheWriteSucceedsAndLeavesNoTemporaries) {
  const fs::path d = dir("control");
  const fs::path target = d / name();
  const Outcome o = attempt([&] { write(source(), target, ctx(), options_for(GetParam())); });
  EXPECT_FALSE(o.threw) << describe(o);
  ctx().comm().barrier("written");
  if (ctx().rank() == 0) {
    EXPECT_TRUE(fs::exists(target));
    EXPECT_EQ(temporaries(d, name()), std::vector<std::string>{});
  }
  ctx().comm().barrier("checked");
}

INSTANTIATE_TEST_SUITE_P(
    Slots, AtomicWrite,
    ::testing::Values(Slot{"zarr", "X"}, Slot{"zarr", "layers/dense"}, Slot{"zarr", "raw/X"},
                      Slot{"h5ad", "X"}, Slot{"h5ad", "layers/dense"}, Slot{"h5ad", "obsm/pca"},
                      Slot{"h5ad", "raw/X"}, Slot{"zarr", "X", 3}, Slot{"zarr", "layers/dense", 3},
                      Slot{"zarr.zip", "layers/dense", 3}, Slot{"zarr.zip", "raw/X", 2}),
    [](const ::testing::TestParamInfo<Slot>& info) {
      std::string n =
          info.param.format + "_v" + std::to_string(info.param.zarr_format) + "_" + info.param.slot;
      for (char& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return n;
    });

}  // namespace
}  // namespace tessera::io
