#include "tessera/io/hdf5_file.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "formats/hdf5/h5_api.hpp"
#include "formats/hdf5/hdf5_group.hpp"
#include "tessera/core/error.hpp"
#include "tessera/distributed/comm.hpp"

namespace tessera::io {
namespace {

using detail::h5::check_id;
using detail::h5::Fail;
using detail::h5::FileAccess;
using detail::h5::FileId;
using detail::h5::FileState;
using detail::h5::Hdf5Group;

// HDF5's format signature, which HDF5 looks for at offset 0, 512, 1024, 2048, …
bool has_signature(const std::string& path) {
  static constexpr char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  for (std::uint64_t offset = 0; offset + sizeof(kSignature) <= size;
       offset = offset == 0 ? 512 : offset * 2) {
    char head[sizeof(kSignature)] = {};
    in.seekg(static_cast<std::streamoff>(offset));
    if (!in.read(head, sizeof(head))) return false;
    if (std::memcmp(head, kSignature, sizeof(kSignature)) == 0) return true;
  }
  return false;
}

std::unique_ptr<Group> root_of(std::shared_ptr<FileState> state) {
  return std::make_unique<Hdf5Group>(std::move(state), "/");
}

std::unique_ptr<Group> create_file(const std::string& path, std::optional<Comm> comm) {
  detail::h5::initialize();
  const auto guard = detail::h5::lock();
  auto state = std::make_shared<FileState>();
  state->filename = path;
  state->writable = true;
  state->comm = std::move(comm);
  FileAccess fapl;
  fapl.format_v18(path);
  if (state->parallel()) fapl.mpio(state->comm->native(), path);
  state->file = FileId(check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id()),
                                Fail::io, path, "creating the HDF5 file (H5Fcreate)"));
  return root_of(std::move(state));
}

std::unique_ptr<Group> open_file(const std::string& path, bool writable, std::optional<Comm> comm) {
  detail::h5::initialize();
  const auto guard = detail::h5::lock();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw IoError(path + ": no such file");
  if (std::filesystem::is_directory(status))
    throw IoError(path + ": is a directory, not an HDF5 file");
  if (::access(path.c_str(), writable ? (R_OK | W_OK) : R_OK) != 0)
    throw IoError(path + ": permission denied (opening " +
                  (writable ? "for writing" : "for reading") + ")");
  auto state = std::make_shared<FileState>();
  state->filename = path;
  state->writable = writable;
  state->comm = std::move(comm);
  FileAccess fapl;
  if (state->parallel()) fapl.mpio(state->comm->native(), path);
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.id());
  if (id < 0) {
    const std::string stack = detail::h5::error_stack_message();
    if (!has_signature(path)) throw FormatError(path + ": not an HDF5 file (no HDF5 signature)");
    // The operating system refused (errno, locks), or this process holds the file open in
    // another mode; else the content is broken (truncated, corrupt superblock).
    const bool refused = stack.find("errno =") != std::string::npos ||
                         stack.find("already open") != std::string::npos;
    if (refused) throw IoError(path + ": cannot open the HDF5 file: " + stack);
    throw FormatError(path + ": corrupt or truncated HDF5 file: " + stack);
  }
  state->file = FileId(id);
  return root_of(std::move(state));
}

Hdf5Group& as_hdf5(Group& group) {
  auto* h5 = dynamic_cast<Hdf5Group*>(&group);
  if (h5 == nullptr) throw ValueError(group.path() + ": is not a group of an HDF5 file");
  return *h5;
}

}  // namespace

std::unique_ptr<Group> create_h5(const std::string& path) {
  return create_file(path, std::nullopt);
}

std::unique_ptr<Group> open_h5(const std::string& path, bool writable) {
  return open_file(path, writable, std::nullopt);
}

std::unique_ptr<Group> create_h5_parallel(const std::string& path, MPI_Comm comm) {
  return create_file(path, Comm::borrow(comm).duplicate("create_h5_parallel"));
}

std::unique_ptr<Group> open_h5_parallel(const std::string& path, MPI_Comm comm, bool writable) {
  return open_file(path, writable, Comm::borrow(comm).duplicate("open_h5_parallel"));
}

std::unique_ptr<Group> create_h5(const std::string& path, const Comm& comm) {
  if (comm.is_serial()) return create_h5(path);
  return create_h5_parallel(path, comm.native());
}

std::unique_ptr<Group> open_h5(const std::string& path, const Comm& comm, bool writable) {
  if (comm.is_serial()) return open_h5(path, writable);
  return open_h5_parallel(path, comm.native(), writable);
}

bool is_h5_file(const std::string& path) noexcept {
  try {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && has_signature(path);
  } catch (...) {
    return false;
  }
}

bool is_parallel_h5(const Group& group) {
  const auto* h5 = dynamic_cast<const Hdf5Group*>(&group);
  return h5 != nullptr && h5->file()->parallel();
}

void close_h5(Group& group) {
  Hdf5Group& h5 = as_hdf5(group);
  const auto guard = detail::h5::lock();
  FileState& state = *h5.file();
  if (!state.file.valid()) return;
  if (state.file.close() < 0)
    detail::h5::fail(Fail::io, state.filename, "closing the HDF5 file (H5Fclose)");
}

}  // namespace tessera::io
