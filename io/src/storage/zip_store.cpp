// Zip stores through libzip. Every libzip call of Tessera is in this file and its return code is
// checked here; zip_t and zip_file_t live in RAII handles whose destructors never throw.
//
// libzip's own name lookup keeps the FIRST entry of a duplicated name (and ZIP_CHECKCONS refuses
// duplicates outright), while zarr.ZipStore archives rewrite a key by appending an entry: the
// index here is built from the central directory by entry number, so the LAST entry wins.
#include "tessera/io/zip_store.hpp"

#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <system_error>

#include "storage/replace.hpp"
#include "tessera/core/error.hpp"

namespace tessera::io {

namespace detail {
struct ZipArchive {
  explicit ZipArchive(zip_t* z) : handle(z) {}
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;
  // zip_discard frees the handle without writing anything (and cannot fail).
  ~ZipArchive() {
    if (handle != nullptr) zip_discard(handle);
  }
  zip_t* handle;
};
}  // namespace detail

namespace {

// The largest value one entry may declare (a chunk or metadata file); beyond it the archive is
// taken as damaged rather than allocating for it.
constexpr std::uint64_t kMaxEntryBytes = std::uint64_t{1} << 36;
// Deflate cannot expand data more than about 1032:1.
constexpr std::uint64_t kDeflateMaxRatio = 1032;

struct CloseFile {
  void operator()(zip_file_t* f) const noexcept { (void)zip_fclose(f); }
};
using ZipFile = std::unique_ptr<zip_file_t, CloseFile>;

std::string error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

// Codes meaning the operating system failed rather than the archive's bytes being wrong.
bool is_system_error(int code) {
  return code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_SEEK ||
         code == ZIP_ER_MEMORY || code == ZIP_ER_TELL || code == ZIP_ER_NOENT;
}

std::string entry_name(std::string_view name) {
  std::string out = "'";
  out.append(name);
  return out + "'";
}

[[noreturn]] void fail_read(const std::filesystem::path& archive, std::string_view name,
                            zip_error_t* error) {
  const int code = zip_error_code_zip(error);
  const std::string what = archive.string() + ": entry " + entry_name(name) + ": ";
  if (code == ZIP_ER_CRC) throw FormatError(what + "CRC mismatch: the archive is damaged");
  if (code == ZIP_ER_COMPNOTSUPP || code == ZIP_ER_ENCRNOTSUPP || code == ZIP_ER_NOPASSWD) {
    throw FormatError(what + "cannot be decompressed (" + zip_error_strerror(error) + ")");
  }
  if (is_system_error(code)) throw IoError(what + "cannot read: " + zip_error_strerror(error));
  throw FormatError(what + "damaged (" + std::string(zip_error_strerror(error)) + ")");
}

std::string random_token() {
  std::random_device device;
  std::mt19937_64 gen(device() ^ static_cast<std::uint64_t>(
                                     std::chrono::steady_clock::now().time_since_epoch().count()));
  return std::to_string(gen() % 1000000000000ULL);
}

}  // namespace

bool is_zip_store_path(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  while (!p.empty() && p.filename().empty())
    p = p.parent_path();  // trailing slash
  const std::string name = p.filename().string();
  return name.size() > 9 && name.ends_with(".zarr.zip");
}

// ---------------------------------------------------------------------------------------------
// ZipStore

ZipStore::ZipStore(std::filesystem::path archive) : archive_(std::move(archive)) {
  const std::string where = archive_.string();
  std::error_code ec;
  const auto status = std::filesystem::status(archive_, ec);
  if (!std::filesystem::exists(status)) throw IoError(where + ": no such file");
  if (!std::filesystem::is_regular_file(status)) {
    throw IoError(where + ": not a file (a zip store is one .zarr.zip archive)");
  }
  archive_bytes_ = std::filesystem::file_size(archive_, ec);
  if (ec) throw IoError(where + ": cannot read its size: " + ec.message());

  int code = 0;
  zip_t* z = zip_open(archive_.c_str(), ZIP_RDONLY, &code);
  if (z == nullptr) {
    if (is_system_error(code)) throw IoError(where + ": cannot open: " + error_text(code));
    throw FormatError(where + ": not a zip archive, or a damaged or truncated one (" +
                      error_text(code) + ")");
  }
  zip_ = std::make_unique<detail::ZipArchive>(z);

  const zip_int64_t count = zip_get_num_entries(z, 0);
  if (count < 0) throw FormatError(where + ": cannot count the archive's entries");
  std::set<std::string> folders;  // first path segments of the keys
  bool root_key = false;
  for (zip_int64_t i = 0; i < count; ++i) {
    const auto index = static_cast<zip_uint64_t>(i);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, index, 0, &st) != 0) {
      throw FormatError(where + ": entry " + std::to_string(i) + " is damaged (" + zip_strerror(z) +
                        ")");
    }
    constexpr zip_uint64_t kNeeded =
        ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((st.valid & kNeeded) != kNeeded || st.name == nullptr) {
      throw FormatError(where + ": entry " + std::to_string(i) + " lacks a name or sizes");
    }
    std::string name = st.name;
    const std::string what = where + ": entry " + entry_name(name) + ": ";
    // Folder entries ("obs/") hold nothing; their names are checked all the same.
    const bool folder = name.ends_with('/');
    if (folder) name.pop_back();
    try {
      check_store_key(name);
    } catch (const ValueError& e) {
      const std::string why = e.what();
      const auto colon = why.rfind(": ");
      throw FormatError(what + "unsafe name (" +
                        (colon == std::string::npos ? why : why.substr(colon + 2)) +
                        "); refusing the archive");
    }
    if (folder) continue;
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != ZIP_EM_NONE)
      throw FormatError(what + "is encrypted, which zip stores never are");
    const bool stored = st.comp_method == ZIP_CM_STORE;
    if (st.size > kMaxEntryBytes || st.comp_size > archive_bytes_ ||
        (stored && st.size > archive_bytes_)) {
      throw FormatError(what + "declares " + std::to_string(st.size) + " bytes (" +
                        std::to_string(st.comp_size) + " compressed) in a " +
                        std::to_string(archive_bytes_) + "-byte archive: the archive is damaged");
    }
    if (stored && st.size != st.comp_size) {
      throw FormatError(what + "stored uncompressed, but declares " + std::to_string(st.size) +
                        " bytes for " + std::to_string(st.comp_size) +
                        " stored: the archive is damaged");
    }
    if (st.comp_method == ZIP_CM_DEFLATE && st.size > st.comp_size * kDeflateMaxRatio + 1024) {
      throw FormatError(what + "declares " + std::to_string(st.size) + " bytes, more than its " +
                        std::to_string(st.comp_size) +
                        " deflated bytes can hold: the archive is damaged");
    }
    folders.insert(name.substr(0, name.find('/')));
    if (name.find('/') == std::string::npos) root_key = true;
    entries_.insert_or_assign(std::move(name), Entry{index, st.size, stored});  // last one wins
  }
  if (!root_key && folders.size() == 1) {
    const std::string folder = *folders.begin();
    const std::string file = archive_.filename().string();
    throw FormatError(where + ": every key sits inside the folder '" + folder +
                      "/' instead of at the archive's root (the folder was zipped, not its " +
                      "contents); re-zip from inside the store: cd " + folder +
                      " && zip -r -0 ../" + file + " .");
  }
}

ZipStore::~ZipStore() = default;

std::string ZipStore::describe(std::string_view key) const {
  return key.empty() ? archive_.string() : archive_.string() + "/" + std::string(key);
}

const ZipStore::Entry* ZipStore::find(std::string_view key) const {
  check_store_key(key);
  const auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

bool ZipStore::contains(std::string_view key) const {
  return find(key) != nullptr;
}

std::optional<std::uint64_t> ZipStore::size_of(std::string_view key) const {
  const Entry* e = find(key);
  if (e == nullptr) return std::nullopt;
  return e->size;
}

Bytes ZipStore::read(std::string_view key, const Entry& entry, std::uint64_t offset,
                     std::uint64_t length) const {
  const bool whole = offset == 0 && length == entry.size;
  Bytes out(static_cast<std::size_t>(length));
  const std::string what = archive_.string() + ": entry " + entry_name(key) + ": ";
  const std::lock_guard lock(mutex_);
  zip_t* z = zip_->handle;
  const ZipFile file(zip_fopen_index(z, entry.index, 0));
  if (!file) fail_read(archive_, key, zip_get_error(z));
  if (offset > 0 && zip_fseek(file.get(), static_cast<zip_int64_t>(offset), SEEK_SET) != 0)
    fail_read(archive_, key, zip_file_get_error(file.get()));
  std::uint64_t done = 0;
  while (done < length) {
    const zip_uint64_t want = std::min<std::uint64_t>(length - done, std::uint64_t{1} << 30);
    const zip_int64_t n = zip_fread(file.get(), out.data() + done, want);
    if (n < 0) fail_read(archive_, key, zip_file_get_error(file.get()));
    if (n == 0) {
      throw FormatError(what + "holds " + std::to_string(offset + done) +
                        " bytes, fewer than the declared " + std::to_string(entry.size) +
                        ": the archive is damaged");
    }
    done += static_cast<std::uint64_t>(n);
  }
  if (whole) {
    // Reading on to the end is what makes libzip compare the CRC; a byte more than declared
    // means the declared size is wrong.
    std::byte extra[1];
    const zip_int64_t n = zip_fread(file.get(), extra, 1);
    if (n < 0) fail_read(archive_, key, zip_file_get_error(file.get()));
    if (n > 0) {
      throw FormatError(what + "holds more than the declared " + std::to_string(entry.size) +
                        " bytes: the archive is damaged");
    }
  }
  return out;
}

std::optional<Bytes> ZipStore::get(std::string_view key) const {
  const Entry* e = find(key);
  if (e == nullptr) return std::nullopt;
  return read(key, *e, 0, e->size);
}

std::optional<Bytes> ZipStore::get_range(std::string_view key, std::uint64_t offset,
                                         std::uint64_t length) const {
  const Entry* e = find(key);
  if (e == nullptr) return std::nullopt;
  if (offset > e->size || length > e->size - offset) {
    throw FormatError("zarr store: " + describe(key) + ": bytes " + std::to_string(offset) + "+" +
                      std::to_string(length) + " lie outside its " + std::to_string(e->size) +
                      " bytes");
  }
  // Stored entries are read from the range alone (libzip seeks; the CRC, a whole-entry check, is
  // not compared); compressed ones are decompressed from their start.
  if (e->stored || offset == 0) return read(key, *e, offset, length);
  Bytes whole = read(key, *e, 0, e->size);
  return Bytes(whole.begin() + static_cast<std::ptrdiff_t>(offset),
               whole.begin() + static_cast<std::ptrdiff_t>(offset + length));
}

void ZipStore::set(std::string_view key, std::span<const std::byte> /*value*/) {
  throw IoError("zarr store: cannot write " + describe(key) +
                ": zip stores are read-only (write a .zarr.zip as a whole instead)");
}

bool ZipStore::erase(std::string_view key) {
  throw IoError("zarr store: cannot remove " + describe(key) + ": zip stores are read-only");
}

void ZipStore::erase_prefix(std::string_view prefix) {
  throw IoError("zarr store: cannot remove " + describe(prefix) + ": zip stores are read-only");
}

std::vector<std::string> ZipStore::list(std::string_view prefix) const {
  check_store_key(prefix, /*allow_empty=*/true);
  const std::string folder = prefix.empty() ? std::string() : std::string(prefix) + "/";
  std::set<std::string> names;
  for (auto it = entries_.lower_bound(folder);
       it != entries_.end() && it->first.starts_with(folder); ++it) {
    const std::string_view rest = std::string_view(it->first).substr(folder.size());
    names.emplace(rest.substr(0, rest.find('/')));
  }
  return {names.begin(), names.end()};
}

// ---------------------------------------------------------------------------------------------
// Writing

void pack_zip_store(const std::filesystem::path& dir, const std::filesystem::path& archive) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw IoError("zip store: cannot pack " + dir.string() + ": not a directory");
  }
  // Every file, by its key; sorted so that the archive does not depend on the directory order.
  std::vector<std::pair<std::string, std::filesystem::path>> files;
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto status = it->symlink_status(ec);
    if (ec) break;
    if (std::filesystem::is_directory(status)) continue;
    if (!std::filesystem::is_regular_file(status)) {
      throw IoError("zip store: cannot pack " + it->path().string() + ": not a regular file");
    }
    files.emplace_back(std::filesystem::relative(it->path(), dir).generic_string(), it->path());
  }
  if (ec) throw IoError("zip store: cannot list " + dir.string() + ": " + ec.message());
  if (files.empty()) throw IoError("zip store: " + dir.string() + " holds no files to pack");
  std::sort(files.begin(), files.end());

  const std::filesystem::path parent =
      archive.has_parent_path() ? archive.parent_path() : std::filesystem::path(".");
  std::string name = ".";  // built by appending: GCC 12 warns (wrongly) on "." + string
  name.append(archive.filename().string())
      .append(".tessera-")
      .append(random_token())
      .append(".part");
  const std::filesystem::path temp = parent / name;
  const auto fail = [&](const std::string& message) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw IoError("zip store: writing " + archive.string() + ": " + message);
  };

  int code = 0;
  detail::ZipArchive out(zip_open(temp.c_str(), ZIP_CREATE | ZIP_EXCL, &code));
  if (out.handle == nullptr) fail("cannot create " + temp.string() + ": " + error_text(code));
  for (const auto& [key, file] : files) {
    check_store_key(key);
    // The file is opened when zip_close writes the entry; its length is taken now.
    zip_source_t* source = zip_source_file(out.handle, file.c_str(), 0, -1);
    if (source == nullptr) fail("cannot read " + file.string() + ": " + zip_strerror(out.handle));
    const zip_int64_t index = zip_file_add(out.handle, key.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);  // not taken over by the archive on failure
      fail("cannot add " + key + ": " + zip_strerror(out.handle));
    }
    if (zip_set_file_compression(out.handle, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) !=
        0) {
      fail("cannot store " + key + " uncompressed: " + zip_strerror(out.handle));
    }
  }
  // zip_close writes every entry (ZIP64 extensions where a size or the count needs them) into a
  // file of its own beside `temp` and renames it to `temp`; on failure the handle stays open.
  if (zip_close(out.handle) != 0)
    fail(std::string("cannot write the archive: ") + zip_strerror(out.handle));
  out.handle = nullptr;

  try {
    detail::replace_path(temp, archive);
  } catch (const std::filesystem::filesystem_error& e) {
    fail("cannot move " + temp.string() + " into place: " + e.code().message());
  }
}

}  // namespace tessera::io
