// Shared by the h5ad/zarr bad-input and atomic-write tests: the run's Context (serial, or the MPI
// test main's), the fixture directory made by make_bad_inputs.py, a scratch directory per run,
// and Outcome: which typed error an action threw, so that tests can agree across ranks before
// asserting (a rank that leaves early would hang the others in the next collective).
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <typeinfo>

#include "tessera/core/error.hpp"
#include "tessera/distributed/context.hpp"
#include "tessera/io/anndata_io.hpp"

#ifdef TESSERA_IO_TEST_MPI
#include "mpi_test.hpp"
#endif

namespace tessera::io::test {

#ifdef TESSERA_IO_TEST_MPI
inline Context& ctx() {
  return tessera::testing::context();
}
inline constexpr const char* kBinaryKind = "mpi";
#else
inline Context& ctx() {
  static Context context;
  return context;
}
inline constexpr const char* kBinaryKind = "serial";
#endif

// Hostile files declare enormous arrays; a reader that believes them must fail with bad_alloc in
// this process rather than take the shared machine's memory. Called once, before anything runs.
inline bool limit_address_space(std::uint64_t bytes = std::uint64_t{2} << 30) {
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0) return false;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur <= bytes) return true;
  limit.rlim_cur = bytes;
  return setrlimit(RLIMIT_AS, &limit) == 0;
}

// Made by make_bad_inputs.py (the io_bad_inputs ctest fixture).
// Reading options with `lazy` set and everything else at its default.
inline ReadOptions lazy_reading(bool lazy) {
  ReadOptions options;
  options.lazy = lazy;
  return options;
}

inline std::filesystem::path fixtures() {
  return TESSERA_BAD_INPUT_DIR;
}

// True on every rank when `ok` holds on every rank / on some rank (serial: `ok`).
inline bool everywhere(bool ok) {
  return ctx().comm().all_reduce_min(std::uint64_t{ok ? 1U : 0U}, "test: everywhere") == 1;
}
inline bool anywhere(bool ok) {
  return ctx().comm().all_reduce_max(std::uint64_t{ok ? 1U : 0U}, "test: anywhere") == 1;
}

// An empty directory for `test`, the same on every rank and distinct per binary and rank count
// (ctest runs the serial, np1 … np4 variants side by side).
inline std::filesystem::path scratch(const std::string& binary, const std::string& test) {
  const std::string run =
      ctx().comm().is_serial() ? std::string("serial") : "np" + std::to_string(ctx().size());
  const std::filesystem::path dir =
      fixtures() / "scratch" / (binary + "-" + kBinaryKind + "-" + run) / test;
  if (ctx().rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ctx().comm().barrier("test: scratch directory");
  return dir;
}

struct Outcome {
  bool threw = false;
  std::string type;  // "FormatError", "IoError", …, or "untyped <name>" for a non-Tessera exception
  std::string message;
};

template <typename F>
Outcome attempt(F&& action) {
  try {
    action();
    return {};
  } catch (const FormatError& e) {
    return {true, "FormatError", e.what()};
  } catch (const IoError& e) {
    return {true, "IoError", e.what()};
  } catch (const ValueError& e) {
    return {true, "ValueError", e.what()};
  } catch (const ShapeError& e) {
    return {true, "ShapeError", e.what()};
  } catch (const IndexError& e) {
    return {true, "IndexError", e.what()};
  } catch (const DistributedError& e) {
    return {true, "DistributedError", e.what()};
  } catch (const InternalError& e) {
    return {true, "InternalError", e.what()};
  } catch (const Error& e) {
    return {true, "Error", e.what()};
  } catch (const std::exception& e) {
    return {true, std::string("untyped ") + typeid(e).name(), e.what()};
  } catch (...) {
    return {true, "unknown exception", ""};
  }
}

inline std::string describe(const Outcome& o) {
  return o.threw ? o.type + ": " + o.message : "no error";
}

}  // namespace tessera::io::test
