// Writing AnnData as a .zarr.zip: the zarr writer (every rank its own chunks, into a folder) and
// then one rank packing that folder, because a zip archive has one central directory that a
// single writer must own. The folder is a hidden sibling of the target, so it lies on the same
// file system as the archive and all ranks see it.
#include <chrono>
#include <random>
#include <string>

#include "tessera/core/error.hpp"
#include "tessera/distributed/collective.hpp"
#include "tessera/io/anndata_io.hpp"
#include "tessera/io/zip_store.hpp"

namespace tessera::io {
namespace {

std::string random_token() {
  std::random_device device;
  std::mt19937_64 gen(device() ^ static_cast<std::uint64_t>(
                                     std::chrono::steady_clock::now().time_since_epoch().count()));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 12; ++i)
    s += kDigits[gen() % 16];
  return s;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
}

// The same error, naming the archive the user asked for instead of the scratch folder.
[[noreturn]] void rethrow_naming(const std::exception_ptr& error,
                                 const std::filesystem::path& folder,
                                 const std::filesystem::path& target) {
  const auto fix = [&](std::string message) {
    replace_all(message, folder.string(), target.string());
    replace_all(message, folder.filename().string(), target.filename().string());
    return message;
  };
  try {
    std::rethrow_exception(error);
  } catch (const FormatError& e) {
    throw FormatError(fix(e.what()));
  } catch (const IoError& e) {
    throw IoError(fix(e.what()));
  } catch (const ShapeError& e) {
    throw ShapeError(fix(e.what()));
  } catch (const IndexError& e) {
    throw IndexError(fix(e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fix(e.what()));
  } catch (const DistributedError& e) {
    throw DistributedError(fix(e.what()));
  } catch (const InternalError& e) {
    throw InternalError(fix(e.what()));
  } catch (const Error& e) {
    throw Error(fix(e.what()));
  }
  // bad_alloc and foreign exceptions go on unchanged.
}

}  // namespace

void write_zarr_zip(const AnnData& adata, const std::filesystem::path& path, Context& ctx,
                    const WriteOptions& options) {
  std::string token = ctx.rank() == 0 ? random_token() : std::string();
  ctx.comm().broadcast(token, 0, "naming the temporary zarr folder");
  const std::filesystem::path dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string name = ".";  // built by appending: GCC 12 warns (wrongly) on "." + string
  name.append(path.filename().string()).append(".tessera-").append(token).append(".zarr");
  const std::filesystem::path folder = dir / name;
  try {
    // Collective; when it returns every rank has written its chunks and the folder is complete
    // (a failure leaves no folder behind).
    write_zarr(adata, folder, ctx, options);
    on_root(ctx.comm(), 0, "packing the zip store", [&] {
      std::error_code ignored;
      try {
        pack_zip_store(folder, path);
      } catch (...) {
        std::filesystem::remove_all(folder, ignored);
        throw;
      }
      std::filesystem::remove_all(folder, ignored);
    });
  } catch (...) {
    rethrow_naming(std::current_exception(), folder, path);
  }
}

}  // namespace tessera::io
