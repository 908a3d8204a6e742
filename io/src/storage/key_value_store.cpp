// Directory and memory key-value stores. The directory store is the only place a Zarr key becomes
// a file-system path, so the key check here is what keeps every key inside the store's folder.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <system_error>

#include "tessera/core/error.hpp"
#include "tessera/io/key_value_store.hpp"

namespace tessera::io {
namespace {

std::string quoted(std::string_view key) {
  std::string out = "'";
  for (char c : key) {
    if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  // Closes now, reporting the error close() gives (writes may only fail here on some systems).
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

}  // namespace

void check_store_key(std::string_view key, bool allow_empty) {
  auto fail = [&](const char* why) {
    throw ValueError("zarr store: invalid key " + quoted(key) + ": " + why);
  };
  if (key.empty()) {
    if (allow_empty) return;
    fail("empty");
  }
  if (key.find('\0') != std::string_view::npos) fail("contains NUL");
  if (key.find('\\') != std::string_view::npos) fail("contains a backslash");
  if (key.front() == '/') fail("absolute path");
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = std::min(key.find('/', begin), key.size());
    const std::string_view segment = key.substr(begin, end - begin);
    if (segment.empty()) fail("empty path segment");
    if (segment == "." || segment == "..") fail("'.' or '..' path segment");
    if (end == key.size()) break;
    begin = end + 1;
  }
}

// ---------------------------------------------------------------------------------------------
// DirectoryStore

DirectoryStore::DirectoryStore(std::filesystem::path root) : root_(std::move(root)) {}

std::filesystem::path DirectoryStore::file_of(std::string_view key) const {
  check_store_key(key, /*allow_empty=*/true);
  return key.empty() ? root_ : root_ / std::filesystem::path(std::string(key));
}

std::string DirectoryStore::describe(std::string_view key) const {
  return key.empty() ? root_.string() : (root_ / std::string(key)).string();
}

std::optional<std::uint64_t> KeyValueStore::size_of(std::string_view key) const {
  const std::optional<Bytes> value = get(key);
  if (!value) return std::nullopt;
  return value->size();
}

std::optional<Bytes> KeyValueStore::get_range(std::string_view key, std::uint64_t offset,
                                              std::uint64_t length) const {
  std::optional<Bytes> value = get(key);
  if (!value) return std::nullopt;
  if (offset > value->size() || length > value->size() - offset) {
    throw FormatError("zarr store: " + describe(key) + ": bytes " + std::to_string(offset) + "+" +
                      std::to_string(length) + " lie outside its " + std::to_string(value->size()) +
                      " bytes");
  }
  return Bytes(value->begin() + static_cast<std::ptrdiff_t>(offset),
               value->begin() + static_cast<std::ptrdiff_t>(offset + length));
}

std::optional<std::uint64_t> DirectoryStore::size_of(std::string_view key) const {
  check_store_key(key);
  struct stat st {};
  if (::stat(file_of(key).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_size);
}

std::optional<Bytes> DirectoryStore::get_range(std::string_view key, std::uint64_t offset,
                                               std::uint64_t length) const {
  check_store_key(key);
  const std::filesystem::path file = file_of(key);
  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw IoError("zarr store: cannot open " + file.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw IoError("zarr store: cannot stat " + file.string() + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (offset > size || length > size - offset) {
    throw FormatError("zarr store: " + file.string() + ": bytes " + std::to_string(offset) + "+" +
                      std::to_string(length) + " lie outside its " + std::to_string(size) +
                      " bytes");
  }
  Bytes out(static_cast<std::size_t>(length));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError("zarr store: cannot read " + file.string() + ": " + errno_text(errno));
    }
    if (n == 0) throw FormatError("zarr store: " + file.string() + " shrank while being read");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

std::optional<Bytes> DirectoryStore::get(std::string_view key) const {
  check_store_key(key);
  const std::filesystem::path file = file_of(key);
  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw IoError("zarr store: cannot open " + file.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw IoError("zarr store: cannot stat " + file.string() + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;  // a folder is not a value
  Bytes out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError("zarr store: cannot read " + file.string() + ": " + errno_text(errno));
    }
    if (n == 0) {
      out.resize(done);  // the file shrank while we read it
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return out;
}

bool DirectoryStore::contains(std::string_view key) const {
  check_store_key(key);
  struct stat st {};
  const std::filesystem::path file = file_of(key);
  if (::stat(file.c_str(), &st) != 0) return false;
  return S_ISREG(st.st_mode);
}

void DirectoryStore::set(std::string_view key, std::span<const std::byte> value) {
  check_store_key(key);
  const std::filesystem::path file = file_of(key);
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) {
    throw IoError("zarr store: cannot create folder " + file.parent_path().string() + ": " +
                  ec.message());
  }
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    throw IoError("zarr store: cannot create " + file.string() + ": " + errno_text(errno));
  }
  std::size_t done = 0;
  while (done < value.size()) {
    const ssize_t n = ::write(fd.get(), value.data() + done, value.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError("zarr store: cannot write " + file.string() + ": " + errno_text(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  if (fd.close() != 0) {
    throw IoError("zarr store: cannot write " + file.string() + ": " + errno_text(errno));
  }
}

bool DirectoryStore::erase(std::string_view key) {
  check_store_key(key);
  const std::filesystem::path file = file_of(key);
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return false;
  if (::unlink(file.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw IoError("zarr store: cannot remove " + file.string() + ": " + errno_text(errno));
  }
  return true;
}

void DirectoryStore::erase_prefix(std::string_view prefix) {
  const std::filesystem::path folder = file_of(prefix);
  std::error_code ec;
  if (prefix.empty()) {
    // Empty the root but keep it (it may be a mount point or a folder the caller made).
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
      std::filesystem::remove_all(entry.path(), ec);
      if (ec) break;
    }
  } else {
    std::filesystem::remove_all(folder, ec);
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw IoError("zarr store: cannot remove " + folder.string() + ": " + ec.message());
  }
}

std::vector<std::string> DirectoryStore::list(std::string_view prefix) const {
  const std::filesystem::path folder = file_of(prefix);
  std::vector<std::string> names;
  std::error_code ec;
  std::filesystem::directory_iterator it(folder, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
      return names;
    throw IoError("zarr store: cannot list " + folder.string() + ": " + ec.message());
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) throw IoError("zarr store: cannot list " + folder.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------------------------
// MemoryStore

std::optional<Bytes> MemoryStore::get(std::string_view key) const {
  check_store_key(key);
  const std::shared_lock lock(mutex_);
  const auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

bool MemoryStore::contains(std::string_view key) const {
  check_store_key(key);
  const std::shared_lock lock(mutex_);
  return values_.find(key) != values_.end();
}

void MemoryStore::set(std::string_view key, std::span<const std::byte> value) {
  check_store_key(key);
  Bytes copy(value.begin(), value.end());
  const std::unique_lock lock(mutex_);
  values_.insert_or_assign(std::string(key), std::move(copy));
}

bool MemoryStore::erase(std::string_view key) {
  check_store_key(key);
  const std::unique_lock lock(mutex_);
  const auto it = values_.find(key);
  if (it == values_.end()) return false;
  values_.erase(it);
  return true;
}

void MemoryStore::erase_prefix(std::string_view prefix) {
  check_store_key(prefix, /*allow_empty=*/true);
  const std::unique_lock lock(mutex_);
  if (prefix.empty()) {
    values_.clear();
    return;
  }
  values_.erase(std::string(prefix));
  const std::string folder = std::string(prefix) + "/";
  auto it = values_.lower_bound(folder);
  while (it != values_.end() && it->first.starts_with(folder))
    it = values_.erase(it);
}

std::vector<std::string> MemoryStore::list(std::string_view prefix) const {
  check_store_key(prefix, /*allow_empty=*/true);
  const std::string folder = prefix.empty() ? std::string() : std::string(prefix) + "/";
  std::set<std::string> names;
  const std::shared_lock lock(mutex_);
  for (auto it = values_.lower_bound(folder); it != values_.end() && it->first.starts_with(folder);
       ++it) {
    const std::string_view rest = std::string_view(it->first).substr(folder.size());
    names.emplace(rest.substr(0, rest.find('/')));
  }
  return {names.begin(), names.end()};
}

std::string MemoryStore::describe(std::string_view key) const {
  return "<memory>/" + std::string(key);
}

std::vector<std::string> MemoryStore::keys() const {
  const std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  out.reserve(values_.size());
  for (const auto& [key, value] : values_)
    out.push_back(key);
  return out;
}

}  // namespace tessera::io
